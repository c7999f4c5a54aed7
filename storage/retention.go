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
	// run deletes up to limit rows older than keep, reporting how many it
	// deleted and whether another run may find more.
	run func(ctx context.Context, keep time.Duration, limit int) (deleted int64, more bool, err error)
}

// NewRetention returns a Retention of db under policy.
func NewRetention(db *gorm.DB, policy RetentionPolicy) *Retention {
	p := policy.withDefaults()
	// del runs q, which deletes up to $2 rows older than $1 seconds.
	del := func(q string) func(context.Context, time.Duration, int) (int64, bool, error) {
		return func(ctx context.Context, keep time.Duration, limit int) (int64, bool, error) {
			res, err := SQL(db).ExecContext(ctx, q, keep.Seconds(), limit)
			if err != nil {
				return 0, false, err
			}
			n, err := res.RowsAffected()
			return n, n == int64(limit), err
		}
	}
	return &Retention{db: db, purges: []retentionPurge{
		{"processed_events", p.ProcessedEvents, del(`DELETE FROM processed_events WHERE (consumer, event_id) IN (
			SELECT consumer, event_id FROM processed_events
			WHERE processed_at < now() - make_interval(secs => $1) ORDER BY processed_at LIMIT $2)`)},
		{"order_payment_events", p.PaymentEvents, del(`DELETE FROM order_payment_events WHERE (provider, event_id) IN (
			SELECT provider, event_id FROM order_payment_events
			WHERE received_at < now() - make_interval(secs => $1) ORDER BY received_at LIMIT $2)`)},
		{"payments_local_events", p.LocalPaymentEvents, del(`DELETE FROM payments_local_events WHERE id IN (
			SELECT id FROM payments_local_events
			WHERE delivered_at < now() - make_interval(secs => $1) ORDER BY delivered_at LIMIT $2)`)},
		{"stock_reservations", p.Reservations, del(`DELETE FROM stock_reservations WHERE id IN (
			SELECT id FROM stock_reservations
			WHERE status IN ('committed', 'released') AND created_at < now() - make_interval(secs => $1)
			ORDER BY created_at LIMIT $2)`)},
		// The table holds the sales on screen and those of the last days
		// only: its rows are walked, each pin found by its key.
		{"flash_buyer_units", p.FlashBuyerUnits, del(`DELETE FROM flash_buyer_units WHERE (pin_id, shopper_id) IN (
			SELECT f.pin_id, f.shopper_id FROM flash_buyer_units f JOIN pins p ON p.id = f.pin_id
			WHERE p.unpinned_at < now() - make_interval(secs => $1) LIMIT $2)`)},
		{"stream_viewers", p.StreamViewers, func(ctx context.Context, keep time.Duration, limit int) (int64, bool, error) {
			return purgeStreamViewers(ctx, db, keep, limit)
		}},
	}}
}

// purgeStreamViewers deletes up to limit rows of the viewer list of the
// ended stream due first (ended before keep, its list not yet purged, found
// by the streams_viewers_due index). Its first pass keeps the count on the
// stream (from the list as it was when the statement began); the pass that
// empties the list marks the stream purged, which takes it out of the index.
func purgeStreamViewers(ctx context.Context, db *gorm.DB, keep time.Duration, limit int) (int64, bool, error) {
	var due, gone int64
	err := SQL(db).QueryRowContext(ctx, `WITH due AS (
			SELECT id FROM streams WHERE status = 'ended' AND viewers_purged_at IS NULL AND ended_at < now() - make_interval(secs => $1)
			ORDER BY ended_at LIMIT 1 FOR UPDATE),
		gone AS (
			DELETE FROM stream_viewers WHERE (stream_id, viewer_key) IN (
				SELECT stream_id, viewer_key FROM stream_viewers WHERE stream_id IN (SELECT id FROM due) LIMIT $2)
			RETURNING 1),
		marked AS (
			UPDATE streams s SET
				unique_viewers = coalesce(s.unique_viewers, (SELECT count(*) FROM stream_viewers v WHERE v.stream_id = s.id)),
				viewers_purged_at = CASE WHEN (SELECT count(*) FROM gone) < $2 THEN now() END
			WHERE s.id IN (SELECT id FROM due))
		SELECT (SELECT count(*) FROM due), (SELECT count(*) FROM gone)`, keep.Seconds(), limit).Scan(&due, &gone)
	return gone, due > 0, err
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
		for more := true; more; {
			n, m, err := p.run(ctx, p.keep, limit)
			if err != nil {
				return deleted, fmt.Errorf("purge %s: %w", p.table, err)
			}
			deleted[p.table] += n
			more = m
		}
	}
	return deleted, nil
}
