package storage

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/live"
)

// flashPinStock is an active flash pin with its product's stock, as the
// transaction reading it sees them.
type flashPinStock struct {
	ID        string     `gorm:"column:id"`
	StreamID  string     `gorm:"column:stream_id"`
	ProductID string     `gorm:"column:product_id"`
	Remaining int64      `gorm:"column:flash_remaining"`
	Stock     int64      `gorm:"column:stock"`
	StartedAt *time.Time `gorm:"column:started_at"`
}

// stockMoves are the units a transaction moved: per product (all its
// variants together) and per flash pin allocation; positive is given back.
type stockMoves struct {
	products map[string]int64
	pins     map[string]int64
	skip     string // a pin whose own writer tells its viewers (a flash batch)
}

// announceStockMoves writes, in the transaction of ctx and after its
// updates, a flash.stock event for every active flash pin of the moved
// products whose shown units (live.OnSale) the moves changed, and for every pin
// whose own allocation moved. The transaction must hold the moved
// products' locks (lockProducts): every writer of a product's stock, of a
// flash pin's allocation or of a new flash pin takes them, so the sums read
// here include every earlier commit and a later writer's event comes later
// in the outbox. The viewers' last event is thus the product's last state.
// It returns the stock it read of each product with an active flash pin.
func announceStockMoves(ctx context.Context, tx *gorm.DB, out *Outbox, m stockMoves) (map[string]int64, error) {
	if len(m.products) == 0 && len(m.pins) == 0 {
		return nil, nil
	}
	var pins []flashPinStock
	err := tx.Raw(`SELECT p.id, p.stream_id, p.product_id, p.flash_remaining, s.started_at,
			(SELECT coalesce(sum(v.stock_available), 0) FROM variants v WHERE v.product_id = p.product_id) AS stock
		FROM pins p JOIN streams s ON s.id = p.stream_id
		WHERE p.flash_remaining IS NOT NULL AND ((p.product_id IN ? AND p.unpinned_at IS NULL) OR p.id IN ?)
		ORDER BY p.id`, slices.Sorted(maps.Keys(m.products)), slices.Sorted(maps.Keys(m.pins))).Scan(&pins).Error
	if err != nil {
		return nil, fmt.Errorf("read flash pins of moved stock: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	var evs []event.Event
	stock := make(map[string]int64, len(pins))
	for _, p := range pins {
		stock[p.ProductID] = p.Stock
		own := m.pins[p.ID]
		shown := live.OnSale(p.Remaining, p.Stock)
		if p.ID == m.skip || (own == 0 && live.OnSale(p.Remaining, p.Stock-m.products[p.ProductID]) == shown) {
			continue
		}
		evs = append(evs, flashStockEvent(p.ID, p.StreamID, shown, p.StartedAt, now))
	}
	if len(evs) == 0 {
		return stock, nil
	}
	return stock, out.Publish(ctx, evs...)
}

// lockProducts locks the rows of the products of variantIDs, in id order,
// for the rest of the transaction of tx: the lock every writer of those
// products' stock or flash pins takes after any pin lock and before any
// variant lock.
func lockProducts(tx *gorm.DB, variantIDs []string) error {
	var ids []string
	err := tx.Raw(`SELECT id FROM products WHERE id IN (SELECT product_id FROM variants WHERE id IN ?) ORDER BY id FOR NO KEY UPDATE`,
		variantIDs).Scan(&ids).Error
	if err != nil {
		return fmt.Errorf("lock products: %w", err)
	}
	return nil
}

// lockProduct locks the row of productID as lockProducts does and
// reports whether it exists.
func lockProduct(tx *gorm.DB, productID string) (bool, error) {
	var ids []string
	if err := tx.Raw(`SELECT id FROM products WHERE id = ? FOR NO KEY UPDATE`, productID).Scan(&ids).Error; err != nil {
		return false, fmt.Errorf("lock product: %w", err)
	}
	return len(ids) > 0, nil
}

// productStock returns the units of all of productID's variants, as the
// transaction of tx sees them.
func productStock(tx *gorm.DB, productID string) (int64, error) {
	var n int64
	if err := tx.Raw(`SELECT coalesce(sum(stock_available), 0) FROM variants WHERE product_id = ?`, productID).Row().Scan(&n); err != nil {
		return 0, fmt.Errorf("read product stock: %w", err)
	}
	return n, nil
}
