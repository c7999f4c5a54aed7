package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
)

// moneyBody is Money on the wire: integer minor units and an ISO 4217 code.
// Amounts decode into int64, so 1500.5, 1e3 and 1e30 are validation errors
// on their field, never floats.
type moneyBody struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

func moneyFrom(m money.Money) moneyBody { return moneyBody{Amount: m.Amount, Currency: m.Currency} }

func (m moneyBody) toDomain() money.Money { return money.Money{Amount: m.Amount, Currency: m.Currency} }

// createProductRequest is the body of POST /v1/products. A null description
// or image_url is the same as an absent one.
type createProductRequest struct {
	Title       string                 `json:"title"`
	Description string                 `json:"description"`
	ImageURL    string                 `json:"image_url"`
	Variants    []createVariantRequest `json:"variants"`
}

// createVariantRequest is one variant of a createProductRequest; stock is
// required.
type createVariantRequest struct {
	SKU   string    `json:"sku"`
	Title string    `json:"title"`
	Price moneyBody `json:"price"`
	Stock *int64    `json:"stock"`
}

// toDomain converts the request. A missing stock is reported together with
// every field the domain finds invalid, so one answer lists them all.
func (r createProductRequest) toDomain() (catalog.NewProduct, error) {
	in := catalog.NewProduct{Title: r.Title, Description: r.Description, ImageURL: r.ImageURL}
	if r.Variants != nil {
		in.Variants = make([]catalog.NewVariant, len(r.Variants))
	}
	var v errs.Validator
	for i, rv := range r.Variants {
		if v.Check(rv.Stock != nil, "variants["+strconv.Itoa(i)+"].stock", "is required") {
			in.Variants[i].Stock = *rv.Stock
		}
		in.Variants[i].SKU, in.Variants[i].Title, in.Variants[i].Price = rv.SKU, rv.Title, rv.Price.toDomain()
	}
	if missing := v.Err(); missing != nil {
		var all errs.Validator
		_, err := in.Validate()
		all.Add("", err)
		all.Add("", missing)
		return in, all.Err()
	}
	return in, nil
}

// patchProductRequest is the body of PATCH /v1/products/{id}: each field
// is kept raw to tell an absent field (unchanged) from JSON null, which is
// rejected rather than guessed at ("clear" or "unchanged"): send "" to clear
// a description or an image.
type patchProductRequest struct {
	Title       json.RawMessage `json:"title"`
	Description json.RawMessage `json:"description"`
	ImageURL    json.RawMessage `json:"image_url"`
}

// toDomain decodes the fields that are present.
func (r patchProductRequest) toDomain() (catalog.ProductPatch, error) {
	var v errs.Validator
	field := func(name string, raw json.RawMessage) *string {
		if raw == nil {
			return nil
		}
		var s string
		if bytes.Equal(raw, []byte("null")) {
			v.Check(false, name, "must be a string: omit the field to leave it unchanged")
			return nil
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			v.Check(false, name, "must be a string")
			return nil
		}
		return &s
	}
	p := catalog.ProductPatch{
		Title:       field("title", r.Title),
		Description: field("description", r.Description),
		ImageURL:    field("image_url", r.ImageURL),
	}
	return p, v.Err()
}

// stockRequest is the body of POST /v1/variants/{id}/stock: exactly one of
// set and delta (null is the same as absent).
type stockRequest struct {
	Set   *int64 `json:"set"`
	Delta *int64 `json:"delta"`
}

// stockBody is a variant's stock after a change.
type stockBody struct {
	VariantID      string `json:"variant_id"`
	StockAvailable int64  `json:"stock_available"`
}

// variantBody is a variant as the api shows it.
type variantBody struct {
	ID             string    `json:"id"`
	SKU            string    `json:"sku"`
	Title          string    `json:"title"`
	Price          moneyBody `json:"price"`
	StockAvailable int64     `json:"stock_available"`
}

// productBody is a product as the api shows it; description and image_url
// are "" when there are none.
type productBody struct {
	ID          string        `json:"id"`
	BrandID     string        `json:"brand_id"`
	Title       string        `json:"title"`
	Description string        `json:"description"`
	ImageURL    string        `json:"image_url"`
	Variants    []variantBody `json:"variants"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
}

func productFrom(p catalog.Product) productBody {
	b := productBody{
		ID:          p.ID,
		BrandID:     p.BrandID,
		Title:       p.Title,
		Description: p.Description,
		ImageURL:    p.ImageURL,
		Variants:    make([]variantBody, len(p.Variants)),
		CreatedAt:   p.CreatedAt,
		UpdatedAt:   p.UpdatedAt,
	}
	for i, v := range p.Variants {
		b.Variants[i] = variantBody{ID: v.ID, SKU: v.SKU, Title: v.Title, Price: moneyFrom(v.Price), StockAvailable: v.StockAvailable}
	}
	return b
}

// createProduct answers POST /v1/products: a product of the calling brand.
func (s *server) createProduct(c *gin.Context) error {
	var req createProductRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	in, err := req.toDomain()
	if err != nil {
		return err
	}
	p, err := s.catalog.CreateProduct(c.Request.Context(), principal(c), in)
	if err != nil {
		return err
	}
	return created(c, "/v1/products/"+p.ID, productFrom(p))
}

// listProducts answers GET /v1/products: a brand's own products, or every
// product for an admin, newest first.
func (s *server) listProducts(c *gin.Context) error {
	pg, err := pageQuery(c)
	if err != nil {
		return err
	}
	res, err := s.catalog.ListProducts(c.Request.Context(), principal(c), pg)
	if err != nil {
		return err
	}
	items := make([]productBody, len(res.Items))
	for i, p := range res.Items {
		items[i] = productFrom(p)
	}
	return replyList(c, items, res.NextCursor)
}

// getProduct answers GET /v1/products/{id}: to anyone.
func (s *server) getProduct(c *gin.Context) error {
	productID, err := pathID(c, "id", catalog.PrefixProduct)
	if err != nil {
		return err
	}
	p, err := s.catalog.GetProduct(c.Request.Context(), principal(c), productID)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, productFrom(p))
}

// patchProduct answers PATCH /v1/products/{id}: the given fields of one of
// the calling brand's products change, the others stay.
func (s *server) patchProduct(c *gin.Context) error {
	productID, err := pathID(c, "id", catalog.PrefixProduct)
	if err != nil {
		return err
	}
	var req patchProductRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	patch, err := req.toDomain()
	if err != nil {
		return err
	}
	p, err := s.catalog.UpdateProduct(c.Request.Context(), principal(c), productID, patch)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, productFrom(p))
}

// changeStock answers POST /v1/variants/{id}/stock: set the stock of one of
// the calling brand's variants, or move it by a delta that may not take it
// below zero (409 conflict).
func (s *server) changeStock(c *gin.Context) error {
	variantID, err := pathID(c, "id", catalog.PrefixVariant)
	if err != nil {
		return err
	}
	var req stockRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	lvl, err := s.catalog.ChangeStock(c.Request.Context(), principal(c), variantID, catalog.StockChange{Set: req.Set, Delta: req.Delta})
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, stockBody{VariantID: lvl.VariantID, StockAvailable: lvl.StockAvailable})
}
