package storage_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/page"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/migrations"
	"github.com/daihuo/daihuo/storage"
)

func scarf(skuPrefix string) catalog.NewProduct {
	return catalog.NewProduct{
		Title:       "Silk Scarf",
		Description: "Hand-rolled edges.",
		ImageURL:    "https://img.example.com/scarf.jpg",
		Variants: []catalog.NewVariant{
			{SKU: skuPrefix + "-IVORY", Title: "Ivory", Price: money.Money{Amount: 8900, Currency: "EUR"}, Stock: 40},
			{SKU: skuPrefix + "-NAVY", Title: "Navy", Price: money.Money{Amount: 9900, Currency: "EUR"}, Stock: 0},
		},
	}
}

func (e *pcEnv) product(t *testing.T, brand party.Principal, in catalog.NewProduct) catalog.Product {
	t.Helper()
	p, err := e.catalog.CreateProduct(context.Background(), brand, in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCatalogCreateAndGet(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	brand := e.brand(t, "Maison")
	p := e.product(t, brand, scarf("SCARF"))
	if p.BrandID != brand.PartyID || len(p.Variants) != 2 || p.Variants[0].ProductID != p.ID || p.Variants[1].BrandID != brand.PartyID {
		t.Fatalf("product = %+v", p)
	}
	// Anyone may read a product, signed in or not; it reads back identical.
	for _, who := range []party.Principal{{}, {Role: party.RoleShopper, PartyID: "shp_x"}, brand} {
		got, err := e.catalog.GetProduct(ctx, who, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("GetProduct = %+v\nwant %+v", got, p)
		}
	}
	v, err := e.catalog.GetVariant(ctx, party.Principal{}, p.Variants[1].ID)
	if err != nil || !reflect.DeepEqual(v, p.Variants[1]) {
		t.Fatalf("GetVariant = %+v, %v; want %+v", v, err, p.Variants[1])
	}
	for _, id := range []string{"prd_01JH0000000000000000000009", "garbage", p.Variants[0].ID} {
		if _, err := e.catalog.GetProduct(ctx, party.Principal{}, id); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("GetProduct(%q): err = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := e.catalog.GetVariant(ctx, party.Principal{}, p.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("GetVariant(product id): err = %v, want ErrNotFound", err)
	}
}

func TestCatalogCreateRules(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	b1, b2 := e.brand(t, "B1"), e.brand(t, "B2")
	ag := e.agency(t, "A")
	e.product(t, b1, scarf("SCARF"))

	jpyMixed := scarf("MIX")
	jpyMixed.Variants[1].Price = money.Money{Amount: 1000, Currency: "JPY"}
	reused := scarf("NEW")
	reused.Variants[1].SKU = "SCARF-NAVY"

	for _, tt := range []struct {
		name string
		p    party.Principal
		in   catalog.NewProduct
		want any
	}{
		{"brand", b1, scarf("OTHER"), nil},
		{"same sku, other brand", b2, scarf("SCARF"), nil},
		{"sku the brand already uses", b1, reused, catalog.ErrSKUTaken},
		{"mixed currencies", b1, jpyMixed, errs.CodeValidation},
		{"duplicate sku in request", b1, catalog.NewProduct{Title: "T", Variants: []catalog.NewVariant{scarf("D").Variants[0], scarf("D").Variants[0]}}, errs.CodeValidation},
		{"admin", e.admin, scarf("ADM"), errs.ErrForbidden},
		{"agency", ag, scarf("AGY"), errs.ErrForbidden},
		{"anonymous", party.Principal{}, scarf("ANON"), errs.ErrForbidden},
		{"deleted brand", party.Principal{Role: party.RoleBrand, PartyID: "brd_01JH0000000000000000000009"}, scarf("GHOST"), errs.ErrNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.catalog.CreateProduct(ctx, tt.p, tt.in)
			wantErr(t, err, tt.want)
		})
	}
	wantErr(t, catalog.ErrSKUTaken, errs.CodeConflict)
	// The failed creations left nothing behind.
	if n := e.count(t, "products"); n != 3 {
		t.Fatalf("%d products, want 3", n)
	}
	if n := e.count(t, "variants"); n != 6 {
		t.Fatalf("%d variants, want 6", n)
	}

	// A SKU conflict inside a caller's transaction rolls back only itself.
	err := e.tx.InTx(ctx, func(ctx context.Context) error {
		if _, err := e.catalog.CreateProduct(ctx, b1, reused); !errors.Is(err, catalog.ErrSKUTaken) {
			return fmt.Errorf("want ErrSKUTaken, got %w", err)
		}
		_, err := e.catalog.CreateProduct(ctx, b1, scarf("AFTER"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, "products"); n != 4 {
		t.Fatalf("%d products, want 4", n)
	}
}

func TestCatalogUpdateProduct(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	b1, b2 := e.brand(t, "B1"), e.brand(t, "B2")
	p := e.product(t, b1, scarf("SCARF"))
	s := func(v string) *string { return &v }

	e.clock.Add(time.Minute)
	got, err := e.catalog.UpdateProduct(ctx, b1, p.ID, catalog.ProductPatch{Title: s("  Silk Scarf, limited  "), ImageURL: s("")})
	if err != nil {
		t.Fatal(err)
	}
	want := p
	want.Title, want.ImageURL, want.UpdatedAt = "Silk Scarf, limited", "", e.clock.Now()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UpdateProduct = %+v\nwant %+v", got, want)
	}
	if again, _ := e.catalog.GetProduct(ctx, party.Principal{}, p.ID); !reflect.DeepEqual(again, want) {
		t.Fatalf("after update GetProduct = %+v", again)
	}
	if same, err := e.catalog.UpdateProduct(ctx, b1, p.ID, catalog.ProductPatch{}); err != nil || !reflect.DeepEqual(same, want) {
		t.Fatalf("empty patch = %+v, %v", same, err)
	}

	for _, tt := range []struct {
		name  string
		p     party.Principal
		id    string
		patch catalog.ProductPatch
		want  any
	}{
		{"other brand", b2, p.ID, catalog.ProductPatch{Title: s("Mine now")}, errs.ErrNotFound},
		{"other brand, empty patch", b2, p.ID, catalog.ProductPatch{}, errs.ErrNotFound},
		{"missing", b1, "prd_01JH0000000000000000000009", catalog.ProductPatch{Title: s("X")}, errs.ErrNotFound},
		{"garbage id", b1, "nope", catalog.ProductPatch{Title: s("X")}, errs.ErrNotFound},
		{"invalid patch", b1, p.ID, catalog.ProductPatch{Title: s("")}, errs.CodeValidation},
		{"admin", e.admin, p.ID, catalog.ProductPatch{Title: s("X")}, errs.ErrForbidden},
		{"shopper", party.Principal{Role: party.RoleShopper, PartyID: "shp_x"}, p.ID, catalog.ProductPatch{Title: s("X")}, errs.ErrForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.catalog.UpdateProduct(ctx, tt.p, tt.id, tt.patch)
			wantErr(t, err, tt.want)
		})
	}
	if again, _ := e.catalog.GetProduct(ctx, party.Principal{}, p.ID); !reflect.DeepEqual(again, want) {
		t.Fatalf("refused updates changed the product: %+v", again)
	}
}

func TestCatalogChangeStock(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	b1, b2 := e.brand(t, "B1"), e.brand(t, "B2")
	p := e.product(t, b1, scarf("SCARF"))
	vid := p.Variants[0].ID // stock 40
	n := func(v int64) *int64 { return &v }

	for _, tt := range []struct {
		name   string
		p      party.Principal
		id     string
		change catalog.StockChange
		want   any
		stock  int64 // the variant's stock afterwards
	}{
		{"delta down", b1, vid, catalog.StockChange{Delta: n(-15)}, nil, 25},
		{"delta up", b1, vid, catalog.StockChange{Delta: n(5)}, nil, 30},
		{"delta zero", b1, vid, catalog.StockChange{Delta: n(0)}, nil, 30},
		{"below zero", b1, vid, catalog.StockChange{Delta: n(-31)}, catalog.ErrStockNegative, 30},
		{"to zero", b1, vid, catalog.StockChange{Delta: n(-30)}, nil, 0},
		{"set", b1, vid, catalog.StockChange{Set: n(7)}, nil, 7},
		{"set max", b1, vid, catalog.StockChange{Set: n(catalog.MaxStock)}, nil, catalog.MaxStock},
		{"above max", b1, vid, catalog.StockChange{Delta: n(1)}, catalog.ErrStockTooHigh, catalog.MaxStock},
		{"set negative", b1, vid, catalog.StockChange{Set: n(-1)}, errs.CodeValidation, catalog.MaxStock},
		{"both", b1, vid, catalog.StockChange{Set: n(1), Delta: n(1)}, errs.CodeValidation, catalog.MaxStock},
		{"neither", b1, vid, catalog.StockChange{}, errs.CodeValidation, catalog.MaxStock},
		{"set again", b1, vid, catalog.StockChange{Set: n(3)}, nil, 3},
		{"other brand set", b2, vid, catalog.StockChange{Set: n(100)}, errs.ErrNotFound, 3},
		{"other brand delta", b2, vid, catalog.StockChange{Delta: n(-1)}, errs.ErrNotFound, 3},
		{"missing variant", b1, "var_01JH0000000000000000000009", catalog.StockChange{Delta: n(-1)}, errs.ErrNotFound, 3},
		{"product id", b1, p.ID, catalog.StockChange{Set: n(1)}, errs.ErrNotFound, 3},
		{"admin", e.admin, vid, catalog.StockChange{Set: n(1)}, errs.ErrForbidden, 3},
		{"anonymous", party.Principal{}, vid, catalog.StockChange{Set: n(1)}, errs.ErrForbidden, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lvl, err := e.catalog.ChangeStock(ctx, tt.p, tt.id, tt.change)
			wantErr(t, err, tt.want)
			if err == nil && lvl != (catalog.StockLevel{VariantID: vid, StockAvailable: tt.stock}) {
				t.Fatalf("ChangeStock = %+v, want stock %d", lvl, tt.stock)
			}
			v, err := e.catalog.GetVariant(ctx, party.Principal{}, vid)
			if err != nil || v.StockAvailable != tt.stock {
				t.Fatalf("stock afterwards = %d, %v; want %d", v.StockAvailable, err, tt.stock)
			}
		})
	}
	// Units given back by cancelled orders may take stock above MaxStock;
	// from there a cut is allowed and a rise is not.
	if err := e.db.Exec(`UPDATE variants SET stock_available = ? WHERE id = ?`, catalog.MaxStock+3, vid).Error; err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		delta int64
		want  error
		stock int64
	}{
		{-1, nil, catalog.MaxStock + 2},
		{1, catalog.ErrStockTooHigh, catalog.MaxStock + 2},
		{-catalog.MaxStock, nil, 2},
		{-3, catalog.ErrStockNegative, 2},
		{1, nil, 3},
	} {
		lvl, err := e.catalog.ChangeStock(ctx, b1, vid, catalog.StockChange{Delta: n(tt.delta)})
		if !errors.Is(err, tt.want) || (err == nil && lvl.StockAvailable != tt.stock) {
			t.Fatalf("delta %d from above the maximum = %+v, %v; want %d, %v", tt.delta, lvl, err, tt.stock, tt.want)
		}
	}
	var ce *errs.Error
	_, err := e.catalog.ChangeStock(ctx, b1, vid, catalog.StockChange{Delta: n(-4)})
	if !errors.As(err, &ce) || ce.Code != errs.CodeConflict {
		t.Fatalf("err = %#v, want code conflict", err)
	}
	// The other variant never moved.
	if v, _ := e.catalog.GetVariant(ctx, party.Principal{}, p.Variants[1].ID); v.StockAvailable != 0 {
		t.Fatalf("other variant stock = %d", v.StockAvailable)
	}
}

func TestCatalogConcurrentStockDeltas(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	brand := e.brand(t, "B")
	in := scarf("HOT")
	in.Variants[0].Stock = 20
	vid := e.product(t, brand, in).Variants[0].ID

	const workers = 50
	minus := int64(-1)
	var wg sync.WaitGroup
	results := make(chan error, workers)
	start := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-start
			lvl, err := e.catalog.ChangeStock(ctx, brand, vid, catalog.StockChange{Delta: &minus})
			if err == nil && (lvl.StockAvailable < 0 || lvl.StockAvailable >= 20) {
				err = fmt.Errorf("stock after a successful -1 is %d", lvl.StockAvailable)
			}
			results <- err
		})
	}
	close(start)
	wg.Wait()
	close(results)
	var ok, soldOut int
	for err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, catalog.ErrStockNegative):
			soldOut++
		default:
			t.Fatal(err)
		}
	}
	if ok != 20 || soldOut != workers-20 {
		t.Fatalf("%d succeeded and %d refused, want 20 and %d", ok, soldOut, workers-20)
	}
	v, err := e.catalog.GetVariant(ctx, party.Principal{}, vid)
	if err != nil || v.StockAvailable != 0 {
		t.Fatalf("final stock = %d, %v; want 0", v.StockAvailable, err)
	}
}

func TestCatalogListProductsPages(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	b1, b2 := e.brand(t, "B1"), e.brand(t, "B2")
	var want []string
	for i := range 23 {
		want = append(want, e.product(t, b1, scarf(fmt.Sprintf("A%d", i))).ID)
		if i%5 == 0 {
			e.product(t, b2, scarf(fmt.Sprintf("B%d", i)))
		}
	}
	// Newest first.
	sort.Sort(sort.Reverse(sort.StringSlice(want)))

	for _, limit := range []int{1, 5, 23, 100} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			var got []string
			req := catalog.Page{Limit: limit}
			for pages := 0; ; pages++ {
				if pages > 30 {
					t.Fatal("pagination does not end")
				}
				pg, err := e.catalog.ListProducts(ctx, b1, req)
				if err != nil {
					t.Fatal(err)
				}
				if len(pg.Items) > limit {
					t.Fatalf("page of %d items, limit %d", len(pg.Items), limit)
				}
				for _, p := range pg.Items {
					if p.BrandID != b1.PartyID || len(p.Variants) != 2 || p.Variants[0].SKU[0] != 'A' {
						t.Fatalf("listed %+v", p)
					}
					got = append(got, p.ID)
				}
				if pg.NextCursor == "" {
					break
				}
				req.Cursor = pg.NextCursor
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("listed %d products %v\nwant %d %v", len(got), got, len(want), want)
			}
		})
	}

	all, err := e.catalog.ListProducts(ctx, e.admin, catalog.Page{Limit: 100})
	if err != nil || len(all.Items) != 28 || all.NextCursor != "" {
		t.Fatalf("admin list: %d items, next %q, %v", len(all.Items), all.NextCursor, err)
	}
	def, err := e.catalog.ListProducts(ctx, b1, catalog.Page{})
	if err != nil || len(def.Items) != page.DefaultLimit || def.NextCursor == "" {
		t.Fatalf("default page: %d items, next %q, %v", len(def.Items), def.NextCursor, err)
	}
	empty, err := e.catalog.ListProducts(ctx, e.brand(t, "B3"), catalog.Page{})
	if err != nil || empty.Items == nil || len(empty.Items) != 0 || empty.NextCursor != "" {
		t.Fatalf("empty list: %+v, %v", empty, err)
	}
	for name, tt := range map[string]struct {
		p    party.Principal
		page catalog.Page
		want any
	}{
		"shopper":        {party.Principal{Role: party.RoleShopper, PartyID: "shp_x"}, catalog.Page{}, errs.ErrForbidden},
		"agency":         {party.Principal{Role: party.RoleAgency, PartyID: "agy_x"}, catalog.Page{}, errs.ErrForbidden},
		"limit too high": {b1, catalog.Page{Limit: 101}, errs.CodeValidation},
		"bad cursor":     {b1, catalog.Page{Cursor: "'; DROP TABLE products"}, errs.CodeValidation},
	} {
		_, err := e.catalog.ListProducts(ctx, tt.p, tt.page)
		t.Run(name, func(t *testing.T) { wantErr(t, err, tt.want) })
	}
}

func TestPartiesCatalogMigrationDownAndUp(t *testing.T) {
	e := newPCEnv(t)
	p, err := goose.NewProvider(goose.DialectPostgres, storage.SQL(e.db), migrations.FS())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.DownTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := e.db.Raw("SELECT count(*) FROM information_schema.tables WHERE table_name IN ('brands','tokens','products','variants')").Scan(&n).Error; err != nil || n != 0 {
		t.Fatalf("%d tables left after down, %v", n, err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	e.product(t, e.brand(t, "B"), scarf("UP"))
}
