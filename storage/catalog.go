package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/money"
)

// CatalogStore keeps products and variants in Postgres. A stock change is
// one guarded UPDATE, so concurrent changes never take stock below zero or
// past the maximum; it runs under its product's lock with the flash.stock
// events it causes (see announceStockMoves), in one short transaction.
type CatalogStore struct {
	db  *gorm.DB
	out *Outbox
}

var (
	_ catalog.Store = (*CatalogStore)(nil)
	_ live.Products = (*CatalogStore)(nil)
)

// NewCatalogStore returns a CatalogStore on db. A stock change that moves
// what an active flash pin of the product shows writes its flash.stock
// event to out in the same transaction.
func NewCatalogStore(db *gorm.DB, out *Outbox) *CatalogStore { return &CatalogStore{db: db, out: out} }

type productModel struct {
	ID          string    `gorm:"column:id;primaryKey"`
	BrandID     string    `gorm:"column:brand_id"`
	Title       string    `gorm:"column:title"`
	Description string    `gorm:"column:description"`
	ImageURL    string    `gorm:"column:image_url"`
	CreatedAt   time.Time `gorm:"column:created_at"`
	UpdatedAt   time.Time `gorm:"column:updated_at"`
}

func (productModel) TableName() string { return "products" }

type variantModel struct {
	ID             string    `gorm:"column:id;primaryKey"`
	ProductID      string    `gorm:"column:product_id"`
	BrandID        string    `gorm:"column:brand_id"`
	Position       int       `gorm:"column:position"`
	SKU            string    `gorm:"column:sku"`
	Title          string    `gorm:"column:title"`
	PriceAmount    int64     `gorm:"column:price_amount"`
	PriceCurrency  string    `gorm:"column:price_currency"`
	StockAvailable int64     `gorm:"column:stock_available"`
	CreatedAt      time.Time `gorm:"column:created_at"`
}

func (variantModel) TableName() string { return "variants" }

func productFromDomain(p catalog.Product) (productModel, []variantModel) {
	pm := productModel{
		ID:          p.ID,
		BrandID:     p.BrandID,
		Title:       p.Title,
		Description: p.Description,
		ImageURL:    p.ImageURL,
		CreatedAt:   p.CreatedAt.UTC(),
		UpdatedAt:   p.UpdatedAt.UTC(),
	}
	vms := make([]variantModel, len(p.Variants))
	for i, v := range p.Variants {
		vms[i] = variantModel{
			ID:             v.ID,
			ProductID:      p.ID,
			BrandID:        p.BrandID,
			Position:       i,
			SKU:            v.SKU,
			Title:          v.Title,
			PriceAmount:    v.Price.Amount,
			PriceCurrency:  v.Price.Currency,
			StockAvailable: v.StockAvailable,
			CreatedAt:      p.CreatedAt.UTC(),
		}
	}
	return pm, vms
}

func (m productModel) toDomain(vms []variantModel) catalog.Product {
	p := catalog.Product{
		ID:          m.ID,
		BrandID:     m.BrandID,
		Title:       m.Title,
		Description: m.Description,
		ImageURL:    m.ImageURL,
		Variants:    make([]catalog.Variant, len(vms)),
		CreatedAt:   m.CreatedAt.UTC(),
		UpdatedAt:   m.UpdatedAt.UTC(),
	}
	for i, vm := range vms {
		p.Variants[i] = vm.toDomain()
	}
	return p
}

func (m variantModel) toDomain() catalog.Variant {
	return catalog.Variant{
		ID:             m.ID,
		ProductID:      m.ProductID,
		BrandID:        m.BrandID,
		SKU:            m.SKU,
		Title:          m.Title,
		Price:          money.Money{Amount: m.PriceAmount, Currency: m.PriceCurrency},
		StockAvailable: m.StockAvailable,
	}
}

// CreateProduct inserts p and its variants in one transaction (a savepoint
// when ctx already carries one). A SKU the brand already uses answers
// catalog.ErrSKUTaken; an unknown brand errs.ErrNotFound.
func (s *CatalogStore) CreateProduct(ctx context.Context, p catalog.Product) error {
	pm, vms := productFromDomain(p)
	err := conn(ctx, s.db).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&pm).Error; err != nil {
			return err
		}
		if len(vms) == 0 {
			return nil
		}
		return tx.Create(&vms).Error
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return catalog.ErrSKUTaken
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return fmt.Errorf("insert product: brand: %w", errs.ErrNotFound)
	}
	return fmt.Errorf("insert product: %w", err)
}

// GetProduct returns the product with id and its variants, or errs.ErrNotFound.
func (s *CatalogStore) GetProduct(ctx context.Context, id string) (catalog.Product, error) {
	db := conn(ctx, s.db)
	var pm productModel
	if err := db.Where("id = ?", id).Take(&pm).Error; err != nil {
		return catalog.Product{}, notFoundOr("get product", err)
	}
	var vms []variantModel
	if err := db.Where("product_id = ?", id).Order("position").Find(&vms).Error; err != nil {
		return catalog.Product{}, fmt.Errorf("get variants: %w", err)
	}
	return pm.toDomain(vms), nil
}

// ListProducts returns up to limit products newest first, below the id
// before when given, of brandID when given, each with its variants. It
// makes two queries whatever the page size.
func (s *CatalogStore) ListProducts(ctx context.Context, brandID, before string, limit int) ([]catalog.Product, error) {
	db := conn(ctx, s.db)
	q := db.Model(&productModel{})
	if brandID != "" {
		q = q.Where("brand_id = ?", brandID)
	}
	if before != "" {
		q = q.Where("id < ?", before)
	}
	var pms []productModel
	if err := q.Order("id DESC").Limit(limit).Find(&pms).Error; err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	if len(pms) == 0 {
		return []catalog.Product{}, nil
	}
	ids := make([]string, len(pms))
	for i, pm := range pms {
		ids[i] = pm.ID
	}
	var vms []variantModel
	if err := db.Where("product_id IN ?", ids).Order("product_id, position").Find(&vms).Error; err != nil {
		return nil, fmt.Errorf("list variants: %w", err)
	}
	byProduct := make(map[string][]variantModel, len(pms))
	for _, vm := range vms {
		byProduct[vm.ProductID] = append(byProduct[vm.ProductID], vm)
	}
	out := make([]catalog.Product, len(pms))
	for i, pm := range pms {
		out[i] = pm.toDomain(byProduct[pm.ID])
	}
	return out, nil
}

// UpdateProduct applies the non-nil fields of patch to brandID's product id
// and returns it; another brand's or a missing product answers
// errs.ErrNotFound.
func (s *CatalogStore) UpdateProduct(ctx context.Context, brandID, id string, patch catalog.ProductPatch, updatedAt time.Time) (catalog.Product, error) {
	changes := map[string]any{"updated_at": updatedAt.UTC()}
	if patch.Title != nil {
		changes["title"] = *patch.Title
	}
	if patch.Description != nil {
		changes["description"] = *patch.Description
	}
	if patch.ImageURL != nil {
		changes["image_url"] = *patch.ImageURL
	}
	var out catalog.Product
	err := conn(ctx, s.db).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&productModel{}).Where("id = ? AND brand_id = ?", id, brandID).Updates(changes)
		if res.Error != nil {
			return fmt.Errorf("update product: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return errs.ErrNotFound
		}
		var err error
		out, err = s.GetProduct(context.WithValue(ctx, txKey{}, &txState{tx: tx}), id)
		return err
	})
	if err != nil {
		return catalog.Product{}, err
	}
	return out, nil
}

// LockProduct returns the product with id, its row locked until the
// transaction of ctx ends (the lock every writer of its stock takes first).
func (s *CatalogStore) LockProduct(ctx context.Context, id string) (catalog.Product, error) {
	found, err := lockProduct(conn(ctx, s.db), id)
	if err != nil {
		return catalog.Product{}, err
	}
	if !found {
		return catalog.Product{}, errs.ErrNotFound
	}
	return s.GetProduct(ctx, id)
}

// GetVariant returns the variant with id or errs.ErrNotFound.
func (s *CatalogStore) GetVariant(ctx context.Context, id string) (catalog.Variant, error) {
	var vm variantModel
	if err := conn(ctx, s.db).Where("id = ?", id).Take(&vm).Error; err != nil {
		return catalog.Variant{}, notFoundOr("get variant", err)
	}
	return vm.toDomain(), nil
}

// stockRow receives the RETURNING clause of stock updates.
type stockRow struct {
	ProductID      string `gorm:"column:product_id"`
	StockAvailable int64  `gorm:"column:stock_available"`
	Moved          int64  `gorm:"column:moved"`
}

// changeStock runs update, a stock UPDATE of variantID … RETURNING a
// stockRow when it changed the row, in one transaction under the product's
// lock, with the flash.stock events the change causes.
func (s *CatalogStore) changeStock(ctx context.Context, variantID string, update func(tx *gorm.DB) ([]stockRow, error)) ([]stockRow, error) {
	var rows []stockRow
	err := inTx(ctx, s.db, func(ctx context.Context) error {
		tx := conn(ctx, s.db)
		if err := lockProducts(tx, []string{variantID}); err != nil {
			return err
		}
		var err error
		if rows, err = update(tx); err != nil || len(rows) == 0 || rows[0].Moved == 0 {
			return err
		}
		_, err = announceStockMoves(ctx, tx, s.out, stockMoves{products: map[string]int64{rows[0].ProductID: rows[0].Moved}})
		return err
	})
	return rows, err
}

// SetStock sets the stock of brandID's variant and returns it; another
// brand's or a missing variant answers errs.ErrNotFound.
func (s *CatalogStore) SetStock(ctx context.Context, brandID, variantID string, stock int64) (int64, error) {
	rows, err := s.changeStock(ctx, variantID, func(tx *gorm.DB) (rows []stockRow, err error) {
		err = tx.Raw(
			`UPDATE variants v SET stock_available = ? FROM (SELECT id, stock_available FROM variants WHERE id = ? AND brand_id = ? FOR NO KEY UPDATE) old
			 WHERE v.id = old.id
			 RETURNING v.product_id, v.stock_available, v.stock_available - old.stock_available AS moved`,
			stock, variantID, brandID).Scan(&rows).Error
		return rows, err
	})
	if err != nil {
		return 0, fmt.Errorf("set stock: %w", err)
	}
	if len(rows) == 0 {
		return 0, errs.ErrNotFound
	}
	return rows[0].StockAvailable, nil
}

// AddStock adds delta to the stock of brandID's variant in one guarded
// UPDATE … RETURNING: the row changes only when the result stays at or
// above 0 and a rise stays at or below catalog.MaxStock, so concurrent
// deltas can never overshoot. (Units given back by cancelled orders may
// leave stock above MaxStock; a cut from there is allowed.) When the guard
// refuses, the answer is catalog.ErrStockNegative for a negative delta and
// catalog.ErrStockTooHigh for a positive one; another brand's or a missing
// variant answers errs.ErrNotFound.
func (s *CatalogStore) AddStock(ctx context.Context, brandID, variantID string, delta int64) (int64, error) {
	rows, err := s.changeStock(ctx, variantID, func(tx *gorm.DB) (rows []stockRow, err error) {
		err = tx.Raw(
			`UPDATE variants SET stock_available = stock_available + ?
			 WHERE id = ? AND brand_id = ? AND stock_available + ? >= 0 AND (? <= 0 OR stock_available + ? <= ?)
			 RETURNING product_id, stock_available, ?::bigint AS moved`,
			delta, variantID, brandID, delta, delta, delta, int64(catalog.MaxStock), delta).Scan(&rows).Error
		return rows, err
	})
	if err != nil {
		return 0, fmt.Errorf("add stock: %w", err)
	}
	if len(rows) == 1 {
		return rows[0].StockAvailable, nil
	}
	var n int64
	if err := conn(ctx, s.db).Model(&variantModel{}).Where("id = ? AND brand_id = ?", variantID, brandID).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("add stock: %w", err)
	}
	switch {
	case n == 0:
		return 0, errs.ErrNotFound
	case delta < 0:
		return 0, catalog.ErrStockNegative
	}
	return 0, catalog.ErrStockTooHigh
}
