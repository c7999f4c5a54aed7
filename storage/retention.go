package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// RetentionPolicy says how long rows that matter only for a while are
// kept; zero values take the defaults named beside them, and a negative
// one keeps those rows for good.
type RetentionPolicy struct {
	// ProcessedEvents is how long a consumer remembers an event it applied
	// (30 days). An event redelivered later would be applied again, so this
	// must outlast the topics' retention: no offset reset can reach further.
	ProcessedEvents time.Duration
	// PaymentEvents is how long a provider's webhook event id is remembered
	// (90 days). Stripe retries a webhook for 3 days; the orders it touches
	// end in the same state either way, this only skips the work.
	PaymentEvents time.Duration
	// LocalPaymentEvents is how long the payment simulator keeps a webhook
	// it delivered, with its payload (7 days).
	LocalPaymentEvents time.Duration
	// Reservations is how long a stock reservation is kept once settled,
	// committed by a payment or released (30 days). Nothing reads a settled
	// reservation; it is kept for people looking into a sale.
	Reservations time.Duration
	// FlashBuyerUnits is how long after its pin left the screen a flash
	// sale's count of units per buyer is kept (7 days). Only a sale on
	// screen reads it, for its per-buyer limit.
	FlashBuyerUnits time.Duration
	// StreamViewers is how long after a stream ended the list of its
	// distinct viewers is kept (30 days); its count stays on the stream.
	StreamViewers time.Duration
}

func (p RetentionPolicy) withDefaults() RetentionPolicy {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&p.ProcessedEvents, 30*24*time.Hour)
	def(&p.PaymentEvents, 90*24*time.Hour)
	def(&p.LocalPaymentEvents, 7*24*time.Hour)
	def(&p.Reservations, 30*24*time.Hour)
	def(&p.FlashBuyerUnits, 7*24*time.Hour)
	def(&p.StreamViewers, 30*24*time.Hour)
	return p
}

// Retention deletes the rows its policy keeps only for a while, a batch
// at a time, oldest first (each purge walks an index on the row's age).
type Retention struct {
	db     *gorm.DB
	purges []retentionPurge
}

// retentionPurge deletes one table's expired rows.
type retentionPurge struct {
	table string
	keep  time.Duration
	// sql deletes up to $2 rows older than $1 seconds.
	sql string
}

// NewRetention returns a Retention of db under policy.
func NewRetention(db *gorm.DB, policy RetentionPolicy) *Retention {
	p := policy.withDefaults()
	return &Retention{db: db, purges: []retentionPurge{
		{"processed_events", p.ProcessedEvents, `DELETE FROM processed_events WHERE (consumer, event_id) IN (
			SELECT consumer, event_id FROM processed_events
			WHERE processed_at < now() - make_interval(secs => $1) ORDER BY processed_at LIMIT $2)`},
		{"order_payment_events", p.PaymentEvents, `DELETE FROM order_payment_events WHERE (provider, event_id) IN (
			SELECT provider, event_id FROM order_payment_events
			WHERE received_at < now() - make_interval(secs => $1) ORDER BY received_at LIMIT $2)`},
		{"payments_local_events", p.LocalPaymentEvents, `DELETE FROM payments_local_events WHERE id IN (
			SELECT id FROM payments_local_events
			WHERE delivered_at < now() - make_interval(secs => $1) ORDER BY delivered_at LIMIT $2)`},
		{"stock_reservations", p.Reservations, `DELETE FROM stock_reservations WHERE id IN (
			SELECT id FROM stock_reservations
			WHERE status IN ('committed', 'released') AND created_at < now() - make_interval(secs => $1)
			ORDER BY created_at LIMIT $2)`},
		// Walks the flash pins off screen (a few per stream), then each
		// one's rows by the primary key's first column.
		{"flash_buyer_units", p.FlashBuyerUnits, `DELETE FROM flash_buyer_units WHERE (pin_id, shopper_id) IN (
			SELECT pin_id, shopper_id FROM flash_buyer_units
			WHERE pin_id IN (SELECT id FROM pins WHERE flash_quantity IS NOT NULL AND unpinned_at < now() - make_interval(secs => $1))
			LIMIT $2)`},
		// Keeps each ended stream's count before deleting its list: the
		// UPDATE runs whatever the DELETE reads, and both see the list as
		// it was when the statement began.
		{"stream_viewers", p.StreamViewers, `WITH over AS (
				SELECT id FROM streams WHERE status = 'ended' AND ended_at < now() - make_interval(secs => $1)),
			counted AS (
				UPDATE streams s SET unique_viewers = (SELECT count(*) FROM stream_viewers v WHERE v.stream_id = s.id)
				WHERE s.id IN (SELECT id FROM over) AND s.unique_viewers IS NULL RETURNING s.id)
			DELETE FROM stream_viewers WHERE (stream_id, viewer_key) IN (
				SELECT stream_id, viewer_key FROM stream_viewers WHERE stream_id IN (SELECT id FROM over) LIMIT $2)`},
	}}
}

// Purge deletes expired rows, at most limit per statement and until none
// is left, and reports how many it deleted per table. It stops at the first
// error, with the counts so far.
func (r *Retention) Purge(ctx context.Context, limit int) (map[string]int64, error) {
	deleted := map[string]int64{}
	if limit <= 0 {
		return deleted, fmt.Errorf("purge: limit %d must be positive", limit)
	}
	for _, p := range r.purges {
		if p.keep < 0 {
			continue
		}
		for {
			res, err := SQL(r.db).ExecContext(ctx, p.sql, p.keep.Seconds(), limit)
			if err != nil {
				return deleted, fmt.Errorf("purge %s: %w", p.table, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return deleted, fmt.Errorf("purge %s: %w", p.table, err)
			}
			deleted[p.table] += n
			if n < int64(limit) {
				break
			}
		}
	}
	return deleted, nil
}
