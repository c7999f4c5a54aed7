// Package catalog is what brands sell: products with their variants (a size,
// a colour), each with a SKU, a server-side price and the stock that can
// still be sold.
package catalog

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/text"
)

// The id prefixes of the catalog.
const (
	PrefixProduct = "prd"
	PrefixVariant = "var"
)

// Limits of the catalog.
const (
	MaxTitleLen       = 200           // characters of a product or variant title
	MaxDescriptionLen = 5000          // characters of a description
	MaxImageURLLen    = 2048          // bytes of an image URL
	MaxVariants       = 100           // variants of one product
	MaxStock          = 1_000_000_000 // units of one variant
)

// Errors of the catalog.
var (
	// ErrSKUTaken answers a SKU that another variant of the same brand has.
	ErrSKUTaken = errs.New(errs.CodeConflict, "sku already used by another variant of this brand")
	// ErrStockNegative answers a stock delta that would take stock below zero.
	ErrStockNegative = errs.New(errs.CodeConflict, "not enough stock for this change: stock cannot go below zero")
	// ErrStockTooHigh answers a stock delta that would take stock above MaxStock.
	ErrStockTooHigh = errs.New(errs.CodeConflict, fmt.Sprintf("stock cannot exceed %d", MaxStock))
)

// Product is something a brand sells, in one or more variants. All variants
// of a product are priced in the same currency, so a product has one
// currency (that of its first variant).
type Product struct {
	ID          string
	BrandID     string
	Title       string
	Description string
	ImageURL    string
	Variants    []Variant // in the order they were given
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Currency returns the currency all the product's variants are priced in.
func (p Product) Currency() string {
	if len(p.Variants) == 0 {
		return ""
	}
	return p.Variants[0].Price.Currency
}

// StockAvailable returns the units of all the product's variants on sale.
func (p Product) StockAvailable() int64 {
	var n int64
	for _, v := range p.Variants {
		n += v.StockAvailable
	}
	return n
}

// Variant is one sellable version of a product with its own SKU, price and stock.
type Variant struct {
	ID             string
	ProductID      string
	BrandID        string
	SKU            string
	Title          string
	Price          money.Money
	StockAvailable int64
}

// NewProduct is the input of CreateProduct.
type NewProduct struct {
	Title       string
	Description string
	ImageURL    string
	Variants    []NewVariant
}

// NewVariant is one variant of a NewProduct.
type NewVariant struct {
	SKU   string
	Title string
	Price money.Money
	Stock int64
}

// ProductPatch changes some fields of a product; nil fields stay as they are.
type ProductPatch struct {
	Title       *string
	Description *string
	ImageURL    *string
}

// StockChange sets a variant's stock or moves it by a delta: exactly one of
// Set and Delta is given.
type StockChange struct {
	Set   *int64
	Delta *int64
}

// StockLevel is a variant's stock after a change.
type StockLevel struct {
	VariantID      string
	StockAvailable int64
}

func normalizeTitle(field, s string) (string, error) { return text.Line(field, s, MaxTitleLen) }

func normalizeDescription(s string) (string, error) {
	return text.Block("description", s, MaxDescriptionLen, false)
}

// normalizeImageURL trims an image URL and checks it is empty or an absolute
// http(s) URL with a host, without credentials, of at most MaxImageURLLen bytes.
func normalizeImageURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	const msg = "must be an absolute http or https URL"
	if len(s) > MaxImageURLLen {
		return "", errs.Invalid("image_url", "must be at most %d characters", MaxImageURLLen)
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return "", errs.Invalid("image_url", msg)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", errs.Invalid("image_url", msg)
	}
	if u.User != nil {
		return "", errs.Invalid("image_url", "must not contain credentials")
	}
	return s, nil
}

// normalizeSKU trims a SKU and checks it against ^[A-Za-z0-9._-]{1,64}$.
func normalizeSKU(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !validSKU(s) {
		return "", errs.Invalid("sku", "must be 1–64 characters of A–Z, a–z, 0–9, '.', '_' and '-'")
	}
	return s, nil
}

// validSKU reports whether s matches ^[A-Za-z0-9._-]{1,64}$.
func validSKU(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// validateStock checks a stock level is within 0..MaxStock.
func validateStock(field string, n int64) error {
	if n < 0 || n > MaxStock {
		return errs.Invalid(field, "must be between 0 and %d", MaxStock)
	}
	return nil
}

// Validate checks a product request and returns it normalised (trimmed
// strings). Every invalid field is reported at once, named like the JSON of
// the HTTP contract ("variants[1].price.currency"). SKUs must be unique within
// the request; all variants must share the first variant's currency.
func (in NewProduct) Validate() (NewProduct, error) {
	var v errs.Validator
	out := NewProduct{}
	var err error
	out.Title, err = normalizeTitle("title", in.Title)
	v.Add("", err)
	out.Description, err = normalizeDescription(in.Description)
	v.Add("", err)
	out.ImageURL, err = normalizeImageURL(in.ImageURL)
	v.Add("", err)
	if v.Check(len(in.Variants) >= 1 && len(in.Variants) <= MaxVariants, "variants", "must have between 1 and %d variants", MaxVariants) {
		out.Variants = make([]NewVariant, len(in.Variants))
		seen := make(map[string]int, len(in.Variants))
		currency := in.Variants[0].Price.Currency
		for i, nv := range in.Variants {
			prefix := fmt.Sprintf("variants[%d].", i)
			var vv NewVariant
			vv.SKU, err = normalizeSKU(nv.SKU)
			v.Add(prefix, err)
			if err == nil {
				if j, dup := seen[vv.SKU]; dup {
					v.Check(false, prefix+"sku", "duplicates the sku of variants[%d]", j)
				} else {
					seen[vv.SKU] = i
				}
			}
			vv.Title, err = normalizeTitle("title", nv.Title)
			v.Add(prefix, err)
			vv.Price = nv.Price
			if err := nv.Price.Validate(); err != nil {
				v.Add(prefix+"price.", err)
			} else {
				v.Check(nv.Price.Amount > 0, prefix+"price.amount", "must be greater than zero")
				v.Check(nv.Price.Currency == currency, prefix+"price.currency", "must be %s like the first variant: all variants of a product share one currency", currency)
			}
			vv.Stock = nv.Stock
			v.Add(prefix, validateStock("stock", nv.Stock))
			out.Variants[i] = vv
		}
	}
	if err := v.Err(); err != nil {
		return NewProduct{}, err
	}
	return out, nil
}

// Validate checks a patch and returns it normalised; a patch that changes
// nothing is valid.
func (p ProductPatch) Validate() (ProductPatch, error) {
	var v errs.Validator
	var out ProductPatch
	if p.Title != nil {
		s, err := normalizeTitle("title", *p.Title)
		v.Add("", err)
		out.Title = &s
	}
	if p.Description != nil {
		s, err := normalizeDescription(*p.Description)
		v.Add("", err)
		out.Description = &s
	}
	if p.ImageURL != nil {
		s, err := normalizeImageURL(*p.ImageURL)
		v.Add("", err)
		out.ImageURL = &s
	}
	if err := v.Err(); err != nil {
		return ProductPatch{}, err
	}
	return out, nil
}

// Empty reports whether the patch changes nothing.
func (p ProductPatch) Empty() bool {
	return p.Title == nil && p.Description == nil && p.ImageURL == nil
}

// Validate checks that exactly one of Set and Delta is given, that Set is
// within 0..MaxStock and that Delta is within ±MaxStock.
func (c StockChange) Validate() error {
	switch {
	case c.Set == nil && c.Delta == nil:
		return errs.Invalid("set", "give either set or delta")
	case c.Set != nil && c.Delta != nil:
		return errs.Invalid("delta", "give either set or delta, not both")
	case c.Set != nil:
		return validateStock("set", *c.Set)
	}
	if *c.Delta < -MaxStock || *c.Delta > MaxStock {
		return errs.Invalid("delta", "must be between %d and %d", -MaxStock, MaxStock)
	}
	return nil
}
