package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/daihuo/daihuo/domain/report"
)

// ReportStore keeps the stream stats projection (tables stream_stats,
// stream_stats_buyers and stream_stats_orders). Its writes join the
// caller's transaction, which for the consumer is the one that records the
// event as applied.
//
// Every write first takes the row lock of the stream's total (the row with
// an empty brand_id), so the writes of one stream happen one transaction at
// a time whichever partitions their events came from. A consumer's batch
// transaction may touch several streams, so two group members' batches can
// deadlock; Postgres then aborts one, and the consumer applies that batch's
// events one by one (sums, so the order they land in does not matter).
type ReportStore struct{ db *gorm.DB }

var _ report.Store = (*ReportStore)(nil)

// NewReportStore returns a ReportStore on db.
func NewReportStore(db *gorm.DB) *ReportStore { return &ReportStore{db: db} }

// lockStream creates the stream's total row when missing, locks it and
// checks that it is kept in currency.
func (s *ReportStore) lockStream(ctx context.Context, streamID, currency string, at time.Time) error {
	var kept string
	err := conn(ctx, s.db).Raw(`INSERT INTO stream_stats (stream_id, brand_id, currency, updated_at)
		VALUES (?, '', ?, ?)
		ON CONFLICT (stream_id, brand_id) DO UPDATE SET stream_id = EXCLUDED.stream_id
		RETURNING currency`, streamID, currency, at.UTC()).Scan(&kept).Error
	if err != nil {
		return fmt.Errorf("lock stream stats: %w", err)
	}
	if kept != currency {
		return fmt.Errorf("stream %s keeps %s, event in %s: %w", streamID, kept, currency, report.ErrCurrencyMismatch)
	}
	return nil
}

// add adds deltas to the totals of one scope, creating its row when missing.
func (s *ReportStore) add(ctx context.Context, streamID, brandID, currency string, at time.Time, orders, gmv, units, buyers, refunds, commission int64) error {
	err := conn(ctx, s.db).Exec(`INSERT INTO stream_stats
		(stream_id, brand_id, currency, orders, gmv, units, buyers, refunds, commission, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (stream_id, brand_id) DO UPDATE SET
			orders = stream_stats.orders + EXCLUDED.orders,
			gmv = stream_stats.gmv + EXCLUDED.gmv,
			units = stream_stats.units + EXCLUDED.units,
			buyers = stream_stats.buyers + EXCLUDED.buyers,
			refunds = stream_stats.refunds + EXCLUDED.refunds,
			commission = stream_stats.commission + EXCLUDED.commission,
			updated_at = greatest(stream_stats.updated_at, EXCLUDED.updated_at)`,
		streamID, brandID, currency, orders, gmv, units, buyers, refunds, commission, at.UTC()).Error
	if err != nil {
		return fmt.Errorf("add to stream stats: %w", err)
	}
	return nil
}

// newBuyer records shopperID as a buyer of the scope and reports whether
// they were not one before.
func (s *ReportStore) newBuyer(ctx context.Context, streamID, brandID, shopperID string, at time.Time) (int64, error) {
	res := conn(ctx, s.db).Exec(`INSERT INTO stream_stats_buyers (stream_id, brand_id, shopper_id, first_at)
		VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, streamID, brandID, shopperID, at.UTC())
	if res.Error != nil {
		return 0, fmt.Errorf("record buyer: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// AddSale adds a paid order to its stream's totals and each brand's, once
// per order id; see report.Store.
func (s *ReportStore) AddSale(ctx context.Context, sale report.Sale) (bool, error) {
	if err := s.lockStream(ctx, sale.StreamID, sale.Currency, sale.At); err != nil {
		return false, err
	}
	res := conn(ctx, s.db).Exec(`INSERT INTO stream_stats_orders (order_id, stream_id, shopper_id, paid_at)
		VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, sale.OrderID, sale.StreamID, sale.ShopperID, sale.At.UTC())
	if res.Error != nil {
		return false, fmt.Errorf("record counted order: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	scopes := append([]report.BrandAmounts{{Amounts: sale.Stream}}, sale.Brands...)
	for _, sc := range scopes {
		buyer, err := s.newBuyer(ctx, sale.StreamID, sc.BrandID, sale.ShopperID, sale.At)
		if err != nil {
			return false, err
		}
		if err := s.add(ctx, sale.StreamID, sc.BrandID, sale.Currency, sale.At, 1, sc.GMV, sc.Units, buyer, 0, sc.Commission); err != nil {
			return false, err
		}
	}
	return true, nil
}

// AddRefund adds a refund change to its stream's refunds and its brands';
// see report.Store.
func (s *ReportStore) AddRefund(ctx context.Context, r report.RefundChange) error {
	if err := s.lockStream(ctx, r.StreamID, r.Currency, r.At); err != nil {
		return err
	}
	scopes := append([]report.BrandAmount{{Amount: r.Amount}}, r.Brands...)
	for _, sc := range scopes {
		if err := s.add(ctx, r.StreamID, sc.BrandID, r.Currency, r.At, 0, 0, 0, 0, sc.Amount, 0); err != nil {
			return err
		}
	}
	return nil
}

// reportTotalsRow is a row of stream_stats.
type reportTotalsRow struct {
	Currency   string
	Orders     int64
	GMV        int64 `gorm:"column:gmv"`
	Units      int64
	Buyers     int64
	Refunds    int64
	Commission int64
	UpdatedAt  time.Time
}

// Totals returns the totals of a stream (brandID "") or of one brand's
// items in it; see report.Store.
func (s *ReportStore) Totals(ctx context.Context, streamID, brandID string) (report.Totals, bool, error) {
	var row reportTotalsRow
	res := conn(ctx, s.db).Raw(`SELECT currency, orders, gmv, units, buyers, refunds, commission, updated_at
		FROM stream_stats WHERE stream_id = ? AND brand_id = ?`, streamID, brandID).Scan(&row)
	if res.Error != nil {
		return report.Totals{}, false, fmt.Errorf("read stream stats: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return report.Totals{}, false, nil
	}
	return report.Totals{
		Currency: row.Currency, Orders: row.Orders, GMV: row.GMV, Units: row.Units, Buyers: row.Buyers,
		Refunds: row.Refunds, Commission: row.Commission, UpdatedAt: row.UpdatedAt.UTC(),
	}, true, nil
}
