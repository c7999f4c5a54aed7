package storage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/storage"
)

// TestRetentionPurge fills each table the retention covers with rows just
// past and just within their keep, and rows that are never purged whatever
// their age, then checks exactly the expired ones went.
func TestRetentionPurge(t *testing.T) {
	w := newOrderWorld(t, 1)
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		if err := w.db.Exec(q, args...).Error; err != nil {
			t.Fatal(err)
		}
	}
	day := 24 * time.Hour
	policy := storage.RetentionPolicy{ProcessedEvents: 30 * day, PaymentEvents: 90 * day, LocalPaymentEvents: 7 * day, Reservations: 30 * day,
		FlashBuyerUnits: 7 * day, StreamViewers: 30 * day}
	ago := func(d time.Duration) time.Time { return time.Now().Add(-d) }
	variant := w.prodB.Variants[0].ID

	// Each row's id says whether it must go.
	for i := range 3 { // three expired rows per table, to cross batches of 2
		exec(`INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ('settlement', ?, ?)`, fmt.Sprintf("gone-%d", i), ago(31*day))
		exec(`INSERT INTO order_payment_events (provider, event_id, received_at) VALUES ('stripe', ?, ?)`, fmt.Sprintf("gone-%d", i), ago(91*day))
		exec(`INSERT INTO payments_local_events (id, type, payload, created_at, next_attempt_at, delivered_at) VALUES (?, 'payment_intent.succeeded', 'x', ?, ?, ?)`,
			fmt.Sprintf("gone-%d", i), ago(9*day), ago(9*day), ago(8*day))
	}
	exec(`INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ('settlement', 'kept', ?)`, ago(29*day))
	exec(`INSERT INTO order_payment_events (provider, event_id, received_at) VALUES ('stripe', 'kept', ?)`, ago(89*day))
	exec(`INSERT INTO payments_local_events (id, type, payload, created_at, next_attempt_at, delivered_at) VALUES ('kept', 'payment_intent.succeeded', 'x', ?, ?, ?)`,
		ago(8*day), ago(8*day), ago(6*day))
	// Never delivered: kept however old, the simulator still owes it.
	exec(`INSERT INTO payments_local_events (id, type, payload, created_at, next_attempt_at) VALUES ('kept-undelivered', 'payment_intent.succeeded', 'x', ?, ?)`,
		ago(60*day), ago(60*day))
	for _, r := range []struct {
		id, status string
		age        time.Duration
	}{
		{"gone-committed", "committed", 31 * day},
		{"gone-released", "released", 31 * day},
		{"kept-committed", "committed", 29 * day},
		{"kept-held", "held", 60 * day},       // an orphan the sweep gives back, not the retention
		{"kept-ordered", "ordered", 60 * day}, // its order's stock is still held
	} {
		exec(`INSERT INTO stock_reservations (id, order_id, shopper_id, variant_id, quantity, status, expires_at, created_at)
			VALUES (?, 'ord_x', ?, ?, 1, ?, ?, ?)`, r.id, w.shoppers[0].PartyID, variant, r.status, ago(r.age).Add(10*time.Minute), ago(r.age))
	}

	// Per-buyer counts of flash sales: of a pin off screen for 8 days
	// (gone), 6 days (kept), and the world's pin still on screen (kept).
	pin := func(id string, off time.Duration) {
		exec(`INSERT INTO pins (id, stream_id, product_id, brand_id, flash_price_amount, flash_price_currency, flash_quantity,
				flash_remaining, flash_per_buyer_limit, flash_ends_at, pinned_at, offset_ms, unpinned_at)
			SELECT ?, stream_id, product_id, brand_id, 999, 'EUR', 10, 10, 2, ?, ?, 0, ? FROM pins WHERE id = ?`,
			id, ago(off), ago(off+time.Hour), ago(off), w.flash.ID)
	}
	pin("pin_gone", 8*day)
	pin("pin_kept", 6*day)
	for i, p := range []string{"pin_gone", "pin_gone", "pin_gone", "pin_kept", w.flash.ID} {
		sh := fmt.Sprintf("shp_%d", i)
		exec(`INSERT INTO shoppers (id, display_name, created_at) VALUES (?, 'Buyer', now())`, sh)
		exec(`INSERT INTO flash_buyer_units (pin_id, shopper_id, units) VALUES (?, ?, 1)`, p, sh)
	}

	// Distinct viewers: of a stream ended 31 days ago (gone, its count
	// kept), one ended 29 days ago and the world's live stream (kept).
	endedAgo := func(d time.Duration) string {
		st, err := w.live.CreateStream(ctx, w.creator, live.NewStream{Title: "Old show", Currency: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.live.StartStream(ctx, w.creator, st.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := w.live.EndStream(ctx, w.creator, st.ID); err != nil {
			t.Fatal(err)
		}
		exec(`UPDATE streams SET started_at = ?, ended_at = ? WHERE id = ?`, ago(d+time.Hour), ago(d), st.ID)
		return st.ID
	}
	old, recent := endedAgo(31*day), endedAgo(29*day)
	for _, v := range []struct{ stream, key string }{{old, "gone-1"}, {old, "gone-2"}, {old, "gone-3"}, {recent, "kept-1"}, {w.stream.ID, "kept-live"}} {
		exec(`INSERT INTO stream_viewers (stream_id, viewer_key, first_seen) VALUES (?, ?, now())`, v.stream, v.key)
	}

	got, err := storage.NewRetention(w.db, policy).Purge(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		table, id string
		deleted   int64
	}{
		{"processed_events", "event_id", 3},
		{"order_payment_events", "event_id", 3},
		{"payments_local_events", "id", 3},
		{"stock_reservations", "id", 2},
		{"flash_buyer_units", "CASE pin_id WHEN 'pin_gone' THEN 'gone' ELSE 'kept' END", 3},
		{"stream_viewers", "viewer_key", 3},
	} {
		if got[tt.table] != tt.deleted {
			t.Errorf("%s: %d deleted, want %d", tt.table, got[tt.table], tt.deleted)
		}
		var left []string
		if err := w.db.Raw(`SELECT ` + tt.id + ` FROM ` + tt.table + ` ORDER BY 1`).Scan(&left).Error; err != nil {
			t.Fatal(err)
		}
		for _, id := range left {
			if len(id) < 4 || id[:4] != "kept" {
				t.Errorf("%s: %s left", tt.table, id)
			}
		}
		if len(left) == 0 {
			t.Errorf("%s: every row deleted", tt.table)
		}
	}

	// A viewer of the purged stream's replay starts no list again.
	if err := storage.NewRoomStore(w.db).AddViewers(ctx, []live.Seen{{StreamID: old, Key: "kept-never", At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	var relisted int64
	if err := w.db.Raw(`SELECT count(*) FROM stream_viewers WHERE stream_id = ?`, old).Scan(&relisted).Error; err != nil || relisted != 0 {
		t.Errorf("the purged stream lists %d viewers again (%v)", relisted, err)
	}
	for id, want := range map[string]int64{old: 3, recent: 1, w.stream.ID: 1} {
		if _, unique, err := storage.NewRoomStore(w.db).Audience(ctx, id); err != nil || unique != want {
			t.Errorf("stream %s: unique viewers %d (%v) after the purge, want %d", id, unique, err, want)
		}
	}

	// A negative keep keeps the table for good.
	exec(`UPDATE processed_events SET processed_at = ?`, ago(365*day))
	keep := policy
	keep.ProcessedEvents = -1
	if got, err := storage.NewRetention(w.db, keep).Purge(ctx, 100); err != nil || got["processed_events"] != 0 {
		t.Fatalf("purge with a negative keep = %v, %v; want nothing deleted", got, err)
	}
}
