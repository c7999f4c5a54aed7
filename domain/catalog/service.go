package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/page"
	"github.com/daihuo/daihuo/domain/party"
)

// Store keeps products and variants. Get methods answer errs.ErrNotFound when
// nothing matches; methods taking a brandID treat another brand's object as
// missing.
type Store interface {
	// CreateProduct inserts p and its variants atomically; a SKU the brand
	// already uses answers ErrSKUTaken.
	CreateProduct(ctx context.Context, p Product) error
	// GetProduct returns a product with its variants in their order.
	GetProduct(ctx context.Context, id string) (Product, error)
	// ListProducts returns up to limit products with their variants, newest
	// first (by id, descending), only those with an id below before when it
	// is not empty, and only brandID's when it is not empty.
	ListProducts(ctx context.Context, brandID, before string, limit int) ([]Product, error)
	// UpdateProduct applies the non-nil fields of patch to brandID's product
	// id in one statement, sets its UpdatedAt and returns the result.
	UpdateProduct(ctx context.Context, brandID, id string, patch ProductPatch, updatedAt time.Time) (Product, error)
	// GetVariant returns one variant.
	GetVariant(ctx context.Context, id string) (Variant, error)
	// SetStock sets the stock of brandID's variant and returns it.
	SetStock(ctx context.Context, brandID, variantID string, stock int64) (int64, error)
	// AddStock adds delta to the stock of brandID's variant in one guarded
	// statement and returns the new stock; a result below zero answers
	// ErrStockNegative and above MaxStock ErrStockTooHigh, leaving stock as it was.
	AddStock(ctx context.Context, brandID, variantID string, delta int64) (int64, error)
}

// Page asks for one page of products (see page.Request).
type Page = page.Request

// ProductPage is one page of products and the cursor of the next page, empty
// on the last page.
type ProductPage struct {
	Items      []Product
	NextCursor string
}

// Service keeps brands' catalogs: brands create and change their own
// products and stock; anyone may read a product. Another brand's product or
// variant answers errs.ErrNotFound.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns a Service on store; now is the clock (time.Now in
// production).
func NewService(store Store, now func() time.Time) *Service {
	return &Service{store: store, now: now}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// brandOf returns the brand p acts for, or errs.ErrForbidden.
func brandOf(p party.Principal) (string, error) {
	if p.Role != party.RoleBrand || p.PartyID == "" {
		return "", errs.ErrForbidden
	}
	return p.PartyID, nil
}

// CreateProduct creates a product of the calling brand with its variants.
// A SKU the brand already uses answers ErrSKUTaken.
func (s *Service) CreateProduct(ctx context.Context, p party.Principal, in NewProduct) (Product, error) {
	brandID, err := brandOf(p)
	if err != nil {
		return Product{}, err
	}
	in, err = in.Validate()
	if err != nil {
		return Product{}, err
	}
	now := s.clock()
	prod := Product{
		ID:          id.New(PrefixProduct, now),
		BrandID:     brandID,
		Title:       in.Title,
		Description: in.Description,
		ImageURL:    in.ImageURL,
		Variants:    make([]Variant, len(in.Variants)),
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	for i, nv := range in.Variants {
		prod.Variants[i] = Variant{
			ID:             id.New(PrefixVariant, now),
			ProductID:      prod.ID,
			BrandID:        brandID,
			SKU:            nv.SKU,
			Title:          nv.Title,
			Price:          nv.Price,
			StockAvailable: nv.Stock,
		}
	}
	if err := s.store.CreateProduct(ctx, prod); err != nil {
		return Product{}, fmt.Errorf("create product: %w", err)
	}
	return prod, nil
}

// GetProduct returns a product to anyone.
func (s *Service) GetProduct(ctx context.Context, _ party.Principal, productID string) (Product, error) {
	if !id.Valid(PrefixProduct, productID) {
		return Product{}, errs.ErrNotFound
	}
	prod, err := s.store.GetProduct(ctx, productID)
	if err != nil {
		return Product{}, fmt.Errorf("get product: %w", err)
	}
	return prod, nil
}

// GetVariant returns a variant to anyone.
func (s *Service) GetVariant(ctx context.Context, _ party.Principal, variantID string) (Variant, error) {
	if !id.Valid(PrefixVariant, variantID) {
		return Variant{}, errs.ErrNotFound
	}
	v, err := s.store.GetVariant(ctx, variantID)
	if err != nil {
		return Variant{}, fmt.Errorf("get variant: %w", err)
	}
	return v, nil
}

// ListProducts returns one page of products, newest first: a brand sees its
// own, an admin every brand's; other roles are forbidden.
func (s *Service) ListProducts(ctx context.Context, p party.Principal, pg Page) (ProductPage, error) {
	var brandID string
	if !p.IsAdmin() {
		var err error
		if brandID, err = brandOf(p); err != nil {
			return ProductPage{}, err
		}
	}
	limit, err := pg.Check(PrefixProduct)
	if err != nil {
		return ProductPage{}, err
	}
	items, err := s.store.ListProducts(ctx, brandID, pg.Cursor, limit+1)
	if err != nil {
		return ProductPage{}, fmt.Errorf("list products: %w", err)
	}
	items, next := page.Cut(items, limit, func(p Product) string { return p.ID })
	return ProductPage{Items: items, NextCursor: next}, nil
}

// UpdateProduct changes the title, description or image of one of the
// calling brand's products; another brand's product answers errs.ErrNotFound.
func (s *Service) UpdateProduct(ctx context.Context, p party.Principal, productID string, patch ProductPatch) (Product, error) {
	brandID, err := brandOf(p)
	if err != nil {
		return Product{}, err
	}
	patch, err = patch.Validate()
	if err != nil {
		return Product{}, err
	}
	if !id.Valid(PrefixProduct, productID) {
		return Product{}, errs.ErrNotFound
	}
	if patch.Empty() {
		prod, err := s.store.GetProduct(ctx, productID)
		if err != nil {
			return Product{}, fmt.Errorf("update product: %w", err)
		}
		if prod.BrandID != brandID {
			return Product{}, errs.ErrNotFound
		}
		return prod, nil
	}
	prod, err := s.store.UpdateProduct(ctx, brandID, productID, patch, s.clock())
	if err != nil {
		return Product{}, fmt.Errorf("update product: %w", err)
	}
	return prod, nil
}

// ChangeStock sets or moves the stock of one of the calling brand's
// variants. A delta is applied atomically however many changes and orders
// race: it never takes stock below zero (ErrStockNegative) or above MaxStock
// (ErrStockTooHigh). Another brand's variant answers errs.ErrNotFound.
func (s *Service) ChangeStock(ctx context.Context, p party.Principal, variantID string, change StockChange) (StockLevel, error) {
	brandID, err := brandOf(p)
	if err != nil {
		return StockLevel{}, err
	}
	if err := change.Validate(); err != nil {
		return StockLevel{}, err
	}
	if !id.Valid(PrefixVariant, variantID) {
		return StockLevel{}, errs.ErrNotFound
	}
	var stock int64
	if change.Set != nil {
		stock, err = s.store.SetStock(ctx, brandID, variantID, *change.Set)
	} else {
		stock, err = s.store.AddStock(ctx, brandID, variantID, *change.Delta)
	}
	if err != nil {
		return StockLevel{}, fmt.Errorf("change stock: %w", err)
	}
	return StockLevel{VariantID: variantID, StockAvailable: stock}, nil
}
