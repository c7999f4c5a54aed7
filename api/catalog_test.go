package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/daihuo/daihuo/api/apitest"
	"github.com/daihuo/daihuo/domain/party"
)

// Catalog replies as clients decode them, rejecting unknown fields.
type (
	moneyReply struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	}
	variantReply struct {
		ID             string     `json:"id"`
		SKU            string     `json:"sku"`
		Title          string     `json:"title"`
		Price          moneyReply `json:"price"`
		StockAvailable int64      `json:"stock_available"`
	}
	productReply struct {
		ID          string         `json:"id"`
		BrandID     string         `json:"brand_id"`
		Title       string         `json:"title"`
		Description string         `json:"description"`
		ImageURL    string         `json:"image_url"`
		Variants    []variantReply `json:"variants"`
		CreatedAt   time.Time      `json:"created_at"`
		UpdatedAt   time.Time      `json:"updated_at"`
	}
	productList struct {
		Data       []productReply `json:"data"`
		NextCursor *string        `json:"next_cursor"`
	}
	stockReply struct {
		VariantID      string `json:"variant_id"`
		StockAvailable int64  `json:"stock_available"`
	}
)

// product reads a product as anyone may.
func product(t *testing.T, c *apitest.Client, id string) productReply {
	t.Helper()
	var p productReply
	c.Call(http.MethodGet, "/v1/products/"+id, "", nil).Want(200).JSON(&p)
	return p
}

// newProductBody is a valid product request with one variant of sku.
func newProductBody(title, sku string) map[string]any {
	return map[string]any{"title": title, "variants": []any{
		map[string]any{"sku": sku, "title": "One", "price": map[string]any{"amount": 1999, "currency": "EUR"}, "stock": 1},
	}}
}

func TestCreateProduct(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	brand := w.token(party.RoleBrand, 0)
	res := c.Call(http.MethodPost, "/v1/products", brand, map[string]any{
		"title":       "  Matcha set ",
		"description": "Stone-ground.\nFrom Uji.",
		"image_url":   "https://cdn.example.com/matcha.jpg",
		"variants": []any{
			map[string]any{"sku": "MATCHA-30", "title": "30 g", "price": map[string]any{"amount": 1500, "currency": "JPY"}, "stock": 40},
			map[string]any{"sku": "MATCHA-100", "title": "100 g", "price": map[string]any{"amount": 4200, "currency": "JPY"}, "stock": 0},
		},
	}).Want(201)
	var p productReply
	res.JSON(&p)
	wantLocation(t, res, "/v1/products/"+p.ID)
	if !strings.HasPrefix(p.ID, "prd_") || p.BrandID != w.a().brand.ID || p.Title != "Matcha set" ||
		p.Description != "Stone-ground.\nFrom Uji." || p.ImageURL != "https://cdn.example.com/matcha.jpg" ||
		p.CreatedAt.IsZero() || !p.UpdatedAt.Equal(p.CreatedAt) {
		t.Errorf("product %+v", p)
	}
	want := []variantReply{
		{SKU: "MATCHA-30", Title: "30 g", Price: moneyReply{1500, "JPY"}, StockAvailable: 40},
		{SKU: "MATCHA-100", Title: "100 g", Price: moneyReply{4200, "JPY"}, StockAvailable: 0},
	}
	for i := range p.Variants {
		if !strings.HasPrefix(p.Variants[i].ID, "var_") {
			t.Errorf("variant id %q", p.Variants[i].ID)
		}
		p.Variants[i].ID = ""
	}
	if !slices.Equal(p.Variants, want) {
		t.Errorf("variants %+v, want %+v", p.Variants, want)
	}
	// Anyone reads it back the same; a product without description or image
	// shows them empty.
	got := product(t, c, p.ID)
	for i := range got.Variants {
		got.Variants[i].ID = ""
	}
	if got.Title != p.Title || !slices.Equal(got.Variants, p.Variants) || !got.CreatedAt.Equal(p.CreatedAt) {
		t.Errorf("read back %+v, created %+v", got, p)
	}
	c.Call(http.MethodPost, "/v1/products", brand, newProductBody("Plain", "PLAIN-1")).Want(201).JSON(&p)
	if p.Description != "" || p.ImageURL != "" {
		t.Errorf("plain product %+v", p)
	}
	// Another brand may use the same SKU; the same brand may not.
	c.Call(http.MethodPost, "/v1/products", w.token(party.RoleBrand, 1), newProductBody("Plain", "PLAIN-1")).Want(201)
	if p := c.Call(http.MethodPost, "/v1/products", brand, newProductBody("Again", "PLAIN-1")).Want(409).Problem(); p.Code != "conflict" {
		t.Errorf("sku taken: %s", p.Code)
	}
}

func TestListProductsPagination(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	brand := w.token(party.RoleBrand, 0)
	ids := map[string]bool{w.a().product.ID: true}
	for i := range 7 {
		var p productReply
		c.Call(http.MethodPost, "/v1/products", brand, newProductBody(fmt.Sprintf("P%d", i), fmt.Sprintf("P-%d", i))).Want(201).JSON(&p)
		ids[p.ID] = true
	}

	// walk reads every page of size limit and returns the ids in order.
	walk := func(token string, limit int) (got []string, pages []int) {
		t.Helper()
		cursor := ""
		for range 100 {
			q := fmt.Sprintf("/v1/products?limit=%d", limit)
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			var l productList
			c.Call(http.MethodGet, q, token, nil).Want(200).JSON(&l)
			pages = append(pages, len(l.Data))
			for _, p := range l.Data {
				got = append(got, p.ID)
				if len(p.Variants) == 0 {
					t.Errorf("product %s listed without variants", p.ID)
				}
			}
			if l.NextCursor == nil {
				return got, pages
			}
			cursor = *l.NextCursor
		}
		t.Fatal("pagination does not end")
		return nil, nil
	}

	got, pages := walk(brand, 3)
	if !slices.Equal(pages, []int{3, 3, 2}) {
		t.Errorf("page sizes %v, want [3 3 2]", pages)
	}
	if len(got) != len(ids) {
		t.Errorf("walked %d products, want %d", len(got), len(ids))
	}
	seen := map[string]bool{}
	for _, id := range got {
		if !ids[id] || seen[id] {
			t.Errorf("product %s: brand's %v, seen before %v", id, ids[id], seen[id])
		}
		seen[id] = true
	}
	if !slices.IsSortedFunc(got, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("not newest first: %v", got)
	}
	// A page size that divides the list exactly ends without an empty page.
	if _, pages := walk(brand, 4); !slices.Equal(pages, []int{4, 4}) {
		t.Errorf("page sizes %v, want [4 4]", pages)
	}
	// The default page holds them all.
	if _, pages := walk(brand, 20); !slices.Equal(pages, []int{8}) {
		t.Errorf("page sizes %v, want [8]", pages)
	}

	// Brand B sees only its own; an admin sees every brand's.
	if got, _ := walk(w.token(party.RoleBrand, 1), 100); !slices.Equal(got, []string{w.b().product.ID}) {
		t.Errorf("brand B lists %v", got)
	}
	if got, _ := walk(w.admin, 2); len(got) != len(ids)+1 || !slices.Contains(got, w.b().product.ID) {
		t.Errorf("admin lists %d products", len(got))
	}
}

func TestPatchProduct(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	brand := w.token(party.RoleBrand, 0)
	var orig productReply
	c.Call(http.MethodPost, "/v1/products", brand, map[string]any{
		"title": "Lamp", "description": "Warm light.", "image_url": "https://cdn.example.com/lamp.jpg",
		"variants": []any{map[string]any{"sku": "LAMP", "title": "Brass", "price": map[string]any{"amount": 12900, "currency": "EUR"}, "stock": 2}},
	}).Want(201).JSON(&orig)
	path := "/v1/products/" + orig.ID

	tests := []struct {
		name  string
		body  string
		title string
		desc  string
		image string
	}{
		{"title only", `{"title":" Desk lamp "}`, "Desk lamp", "Warm light.", "https://cdn.example.com/lamp.jpg"},
		{"description only", `{"description":"Dimmable."}`, "Desk lamp", "Dimmable.", "https://cdn.example.com/lamp.jpg"},
		{"clear the image", `{"image_url":""}`, "Desk lamp", "Dimmable.", ""},
		{"nothing", `{}`, "Desk lamp", "Dimmable.", ""},
		{"all three", `{"title":"Lamp","description":"","image_url":"http://img.example.com/l.png"}`, "Lamp", "", "http://img.example.com/l.png"},
	}
	last := orig
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := w.client(t)
			req := apitest.NewRequest(t, http.MethodPatch, path, brand, tt.body)
			req.Header.Set("Content-Type", "application/json")
			var p productReply
			c.Do(req).Want(200).JSON(&p)
			if p.Title != tt.title || p.Description != tt.desc || p.ImageURL != tt.image {
				t.Errorf("after patch: title %q description %q image %q", p.Title, p.Description, p.ImageURL)
			}
			if !slices.Equal(p.Variants, orig.Variants) || !p.CreatedAt.Equal(orig.CreatedAt) || p.BrandID != orig.BrandID {
				t.Errorf("patch changed more than asked: %+v", p)
			}
			if p.UpdatedAt.Before(last.UpdatedAt) || (tt.body == `{}` && !p.UpdatedAt.Equal(last.UpdatedAt)) {
				t.Errorf("updated_at %v after %v", p.UpdatedAt, last.UpdatedAt)
			}
			if got := product(t, c, orig.ID); got.Title != p.Title || got.Description != p.Description || got.ImageURL != p.ImageURL {
				t.Errorf("read back %+v", got)
			}
			last = p
		})
	}
}

func TestChangeStock(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	brand := w.token(party.RoleBrand, 0)
	v := w.a().product.Variants[0] // stock 10
	path := "/v1/variants/" + v.ID + "/stock"
	stock := func(t *testing.T, c *apitest.Client) int64 {
		t.Helper()
		for _, pv := range product(t, c, w.a().product.ID).Variants {
			if pv.ID == v.ID {
				return pv.StockAvailable
			}
		}
		t.Fatalf("variant %s gone", v.ID)
		return 0
	}
	tests := []struct {
		name   string
		body   string
		status int
		code   string
		after  int64
	}{
		{"set", `{"set":25}`, 200, "", 25},
		{"delta down", `{"delta":-5}`, 200, "", 20},
		{"delta up", `{"delta":3}`, 200, "", 23},
		{"delta to exactly zero", `{"delta":-23}`, 200, "", 0},
		{"delta below zero", `{"delta":-1}`, 409, "conflict", 0},
		{"set to zero", `{"set":0}`, 200, "", 0},
		{"set to the maximum", `{"set":1000000000}`, 200, "", 1000000000},
		{"delta above the maximum", `{"delta":1}`, 409, "conflict", 1000000000},
		{"null set is absent", `{"set":null,"delta":-1}`, 200, "", 999999999},
		{"both", `{"set":1,"delta":1}`, 400, "validation_failed", 999999999},
		{"neither", `{}`, 400, "validation_failed", 999999999},
		{"negative set", `{"set":-1}`, 400, "validation_failed", 999999999},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := w.client(t)
			req := apitest.NewRequest(t, http.MethodPost, path, brand, tt.body)
			req.Header.Set("Content-Type", "application/json")
			res := c.Do(req).Want(tt.status)
			if tt.status == 200 {
				var s stockReply
				res.JSON(&s)
				if s.VariantID != v.ID || s.StockAvailable != tt.after {
					t.Errorf("reply %+v, want stock %d", s, tt.after)
				}
			} else if p := res.Problem(); p.Code != tt.code {
				t.Errorf("code %s, want %s", p.Code, tt.code)
			}
			if got := stock(t, c); got != tt.after {
				t.Errorf("stock %d, want %d", got, tt.after)
			}
		})
	}
	// The other variant never moved.
	if got := product(t, c, w.a().product.ID).Variants[1].StockAvailable; got != 5 {
		t.Errorf("other variant's stock %d, want 5", got)
	}
}
