package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/idempotency"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
)

func TestIdempotencyStore(t *testing.T) {
	db := storagetest.NewDB(t)
	ctx := context.Background()
	s := storage.NewIdempotencyStore(db, storage.IdempotencyConfig{Wait: 50 * time.Millisecond})
	const scope = "shopper:shp_1 POST /v1/orders"
	h1, h2 := []byte("hash-1"), []byte("hash-2")

	// A new key proceeds; the same request while in progress waits, then
	// is told to retry; another request under the key is a conflict.
	k1, rec, err := s.Begin(ctx, scope, "k1", h1)
	if rec != nil || err != nil || k1 == "" {
		t.Fatalf("first Begin = %q, %v, %v; want a lease to proceed", k1, rec, err)
	}
	if _, _, err := s.Begin(ctx, scope, "k1", h1); !errors.Is(err, idempotency.ErrInProgress) {
		t.Fatalf("Begin in progress = %v, want ErrIdempotencyInProgress", err)
	}
	if _, _, err := s.Begin(ctx, scope, "k1", h2); !errors.Is(err, idempotency.ErrConflict) {
		t.Fatalf("Begin with another body = %v, want ErrIdempotencyConflict", err)
	}
	// The same key in another scope is another record.
	if _, rec, err := s.Begin(ctx, "shopper:shp_2 POST /v1/orders", "k1", h2); rec != nil || err != nil {
		t.Fatalf("Begin in another scope = %v, %v; want proceed", rec, err)
	}

	// A retry waiting while the first completes gets its answer.
	got := make(chan *idempotency.Recorded, 1)
	slow := storage.NewIdempotencyStore(db, storage.IdempotencyConfig{Wait: 5 * time.Second})
	go func() {
		_, rec, err := slow.Begin(ctx, scope, "k1", h1)
		if err != nil {
			t.Error(err)
		}
		got <- rec
	}()
	time.Sleep(20 * time.Millisecond)
	if err := s.Complete(ctx, scope, "k1", k1, 201, []byte(`{"id":"ord_1"}`)); err != nil {
		t.Fatal(err)
	}
	if rec := <-got; rec == nil || rec.Status != 201 || string(rec.Body) != `{"id":"ord_1"}` {
		t.Fatalf("waiting retry got %+v, want the recorded 201", rec)
	}
	if _, rec, err := s.Begin(ctx, scope, "k1", h1); err != nil || rec == nil || rec.Status != 201 {
		t.Fatalf("replay = %+v, %v", rec, err)
	}
	if _, _, err := s.Begin(ctx, scope, "k1", h2); !errors.Is(err, idempotency.ErrConflict) {
		t.Fatalf("done key with another body = %v, want ErrIdempotencyConflict", err)
	}
	if err := s.Complete(ctx, scope, "k1", k1, 200, nil); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("second Complete = %v, want ErrNotFound", err)
	}

	// A 4xx is recorded and replayed like any answer.
	k2, _, err := s.Begin(ctx, scope, "k2", h1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, scope, "k2", k2, 409, []byte(`{"code":"sold_out"}`)); err != nil {
		t.Fatal(err)
	}
	if _, rec, err := s.Begin(ctx, scope, "k2", h1); err != nil || rec == nil || rec.Status != 409 {
		t.Fatalf("replayed 4xx = %+v, %v", rec, err)
	}

	// An abandoned request (a 5xx) runs again.
	k3, _, err := s.Begin(ctx, scope, "k3", h1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Abandon(ctx, scope, "k3", k3); err != nil {
		t.Fatal(err)
	}
	slowFirst, rec, err := s.Begin(ctx, scope, "k3", h1)
	if rec != nil || err != nil {
		t.Fatalf("Begin after Abandon = %v, %v; want proceed", rec, err)
	}

	// A request in progress for longer than the lease (its process died, or
	// it is only slow) is taken over by one retry under a new lease.
	stale(t, db, "k3")
	retry, rec, err := s.Begin(ctx, scope, "k3", h1)
	if rec != nil || err != nil || retry == slowFirst {
		t.Fatalf("Begin after the lease = %q, %v, %v; want a new lease to proceed", retry, rec, err)
	}
	if _, _, err := s.Begin(ctx, scope, "k3", h1); !errors.Is(err, idempotency.ErrInProgress) {
		t.Fatalf("second Begin after a takeover = %v, want ErrIdempotencyInProgress", err)
	}
	// The slow first request then fails or answers: it may neither free the
	// key under the retry nor record its answer over the retry's.
	if err := s.Abandon(ctx, scope, "k3", slowFirst); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("Abandon under a lost lease = %v, want ErrLeaseLost", err)
	}
	if err := s.Complete(ctx, scope, "k3", slowFirst, 201, []byte(`{"id":"ord_slow"}`)); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("Complete under a lost lease = %v, want ErrLeaseLost", err)
	}
	if _, _, err := s.Begin(ctx, scope, "k3", h1); !errors.Is(err, idempotency.ErrInProgress) {
		t.Fatalf("Begin after the lost lease's Abandon = %v, want the retry's claim still in progress", err)
	}
	if err := s.Complete(ctx, scope, "k3", retry, 201, []byte(`{"id":"ord_retry"}`)); err != nil {
		t.Fatal(err)
	}
	if _, rec, err := s.Begin(ctx, scope, "k3", h1); err != nil || rec == nil || string(rec.Body) != `{"id":"ord_retry"}` {
		t.Fatalf("replay after the takeover = %+v, %v; want the retry's answer", rec, err)
	}
	if err := s.Complete(ctx, scope, "k3", slowFirst, 201, []byte(`{"id":"ord_slow"}`)); !errors.Is(err, idempotency.ErrLeaseLost) {
		t.Fatalf("Complete under a lost lease after the retry answered = %v, want ErrLeaseLost", err)
	}

	if n, err := s.Purge(ctx, 0, 100); err != nil || n != 4 {
		t.Fatalf("Purge = %d, %v; want 4", n, err)
	}
}

// stale ages the claim on key past any lease, as an hour in progress would.
func stale(t *testing.T, db *gorm.DB, key string) {
	t.Helper()
	if err := db.Exec(`UPDATE idempotency_keys SET updated_at = updated_at - interval '1 hour' WHERE key = ?`, key).Error; err != nil {
		t.Fatal(err)
	}
}

// A slow request and the retry that took its key over often answer at
// once, in one group: each answer is matched on its lease, so the retry's
// is recorded and the stale one refused.
func TestIdempotencyGroupedAnswersMatchTheirLease(t *testing.T) {
	db := storagetest.NewDB(t)
	ctx := context.Background()
	s := storage.NewIdempotencyStore(db, storage.IdempotencyConfig{Wait: 10 * time.Millisecond})
	const scope = "shopper:shp_1 POST /v1/orders"
	slow, _, err := s.Begin(ctx, scope, "k", []byte("h"))
	if err != nil {
		t.Fatal(err)
	}
	stale(t, db, "k")
	retry, _, err := s.Begin(ctx, scope, "k", []byte("h"))
	if err != nil || retry == slow {
		t.Fatalf("takeover = %q, %v", retry, err)
	}
	for _, order := range [][]idempotency.Lease{{slow, retry}, {retry, slow}} {
		if err := db.Exec(`UPDATE idempotency_keys SET state = 'in_progress', body = NULL WHERE key = 'k'`).Error; err != nil {
			t.Fatal(err)
		}
		bodies := map[idempotency.Lease]string{slow: `{"run":1}`, retry: `{"run":2}`}
		ok, err := storage.CompleteBatchForTest(ctx, s, scope, "k", order, []string{bodies[order[0]], bodies[order[1]]})
		if err != nil || ok[0] != (order[0] == retry) || ok[1] != (order[1] == retry) {
			t.Fatalf("answers under %v = %v, %v; want only the retry's recorded", order, ok, err)
		}
		if _, rec, err := s.Begin(ctx, scope, "k", []byte("h")); err != nil || rec == nil || string(rec.Body) != `{"run":2}` {
			t.Fatalf("replay = %+v, %v; want the retry's answer", rec, err)
		}
	}
}

// TestIdempotencyExistsGrouped asks many Exists at once, so they share
// reads, and checks each gets its own answer.
func TestIdempotencyExistsGrouped(t *testing.T) {
	db := storagetest.NewDB(t)
	ctx := context.Background()
	s := storage.NewIdempotencyStore(db, storage.IdempotencyConfig{})
	const scope = "shopper:shp_1 POST /v1/orders"
	for i := 0; i < 100; i += 2 { // the even keys are used
		if _, _, err := s.Begin(ctx, scope, fmt.Sprintf("k%d", i), []byte("h")); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range 100 {
		for _, sc := range []string{scope, "shopper:shp_2 POST /v1/orders"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := s.Exists(ctx, sc, fmt.Sprintf("k%d", i))
				if want := sc == scope && i%2 == 0; err != nil || got != want {
					t.Errorf("Exists(%q, k%d) = %v, %v; want %v", sc, i, got, err, want)
				}
			}()
		}
	}
	wg.Wait()
}

// TestIdempotencyAbandonsGrouped abandons many claims at once, so they
// share deletes: each deletes its own claim under its own lease only, and
// one under a lease a retry took over keeps the retry's claim.
func TestIdempotencyAbandonsGrouped(t *testing.T) {
	db := storagetest.NewDB(t)
	ctx := context.Background()
	s := storage.NewIdempotencyStore(db, storage.IdempotencyConfig{Wait: 10 * time.Millisecond})
	const scope = "shopper:shp_1 POST /v1/orders"
	leases := make([]idempotency.Lease, 100)
	for i := range leases {
		var err error
		if leases[i], _, err = s.Begin(ctx, scope, fmt.Sprintf("k%d", i), []byte("h")); err != nil {
			t.Fatal(err)
		}
	}
	lost := leases[1]
	stale(t, db, "k1")
	if _, _, err := s.Begin(ctx, scope, "k1", []byte("h")); err != nil { // a retry takes k1 over
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 100; i += 2 { // the even keys, and k1 under its lost lease
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Abandon(ctx, scope, fmt.Sprintf("k%d", i), leases[i]); err != nil {
				t.Errorf("Abandon(k%d) = %v", i, err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Abandon(ctx, scope, "k1", lost); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Errorf("Abandon(k1) under the lost lease = %v, want ErrLeaseLost", err)
		}
	}()
	wg.Wait()
	for i := range leases {
		got, err := s.Exists(ctx, scope, fmt.Sprintf("k%d", i))
		if want := i%2 == 1; err != nil || got != want {
			t.Errorf("k%d exists = %v, %v; want %v", i, got, err, want)
		}
	}
}
