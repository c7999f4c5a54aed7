package storage_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/payment"
	"github.com/daihuo/daihuo/payments/local"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
)

// TestSoldOutShortcut: once a process saw a flash pin sold out it answers
// sold_out without asking (KnownSoldOut), a retry of an order that took the
// last unit still gets its order, another process decides on its own, and
// stock this process gives back is on sale again at once.
func TestSoldOutShortcut(t *testing.T) {
	w := newOrderWorld(t, 2)
	ctx := context.Background()
	if err := w.db.Exec("UPDATE pins SET flash_remaining = 2, flash_quantity = 2, flash_per_buyer_limit = 0 WHERE id = ?", w.flash.ID).Error; err != nil {
		t.Fatal(err)
	}
	first, second := w.shoppers[0], w.shoppers[1]
	f := w.prodF.Variants[0]
	in := func(key string, qty int64) order.NewOrder {
		return order.NewOrder{StreamID: w.stream.ID, PinID: w.flash.ID, Items: []order.NewItem{item(f, qty)}, Shipping: w.shipping(), IdempotencyKey: key}
	}
	if err := w.svc.KnownSoldOut(second, in("b-1", 1)); err != nil {
		t.Fatalf("known sold out before the sale: %v", err)
	}
	o, err := w.svc.PlaceOrder(ctx, first, in("a-1", 2))
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.PlaceOrder(ctx, second, in("b-1", 1))
	wantCode(t, err, errs.CodeSoldOut)
	wantCode(t, w.svc.KnownSoldOut(second, in("b-1", 1)), errs.CodeSoldOut)
	if err := w.svc.KnownSoldOut(second, order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{item(f, 1)}, Shipping: w.shipping()}); err != nil {
		t.Fatalf("an order without the pin is not known sold out: %v", err)
	}
	// The first buyer lost the answer and asks again with its key.
	again, err := w.svc.PlaceOrder(ctx, first, in("a-1", 2))
	if err != nil || again.ID != o.ID {
		t.Fatalf("retry after the sell-out: %s, %v; want %s", again.ID, err, o.ID)
	}
	// Another process has seen nothing yet, and its database says sold out.
	other := w.newService()
	if err := other.KnownSoldOut(second, in("b-1", 1)); err != nil {
		t.Fatalf("another process knows: %v", err)
	}
	_, err = other.PlaceOrder(ctx, second, in("b-2", 1))
	wantCode(t, err, errs.CodeSoldOut)
	// A cancel in this process puts the units on sale again at once.
	if _, err := w.svc.Cancel(ctx, first, o.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.KnownSoldOut(second, in("b-3", 1)); err != nil {
		t.Fatalf("known sold out after a cancel: %v", err)
	}
	if _, err := w.svc.PlaceOrder(ctx, second, in("b-3", 1)); err != nil {
		t.Fatal(err)
	}
	if w.flashRemaining() != 1 {
		t.Fatalf("remaining %d, want 1", w.flashRemaining())
	}
}

// TestGroupedWritesUnderConcurrency: claims of one key, touches and
// intents under one idempotency key asked for at once each have exactly one
// winner, and every caller gets the winner's answer.
func TestGroupedWritesUnderConcurrency(t *testing.T) {
	db := storagetest.NewDB(t)
	ctx := context.Background()
	idem := storage.NewIdempotencyStore(db, storage.IdempotencyConfig{Wait: 50 * time.Millisecond})
	intents := storage.NewPaymentsLocalStore(db)
	const n = 40
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		claimed = map[string]int{}
		ids     = map[string]map[string]bool{}
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("k-%d", i%4)
			_, rec, err := idem.Begin(ctx, "scope", key, []byte("h"))
			if err == nil && rec == nil {
				mu.Lock()
				claimed[key]++
				mu.Unlock()
			}
			it, created, err := intents.InsertIntent(ctx, localIntent(fmt.Sprintf("pi_local_%d", i), "ik-"+key))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			if ids[key] == nil {
				ids[key] = map[string]bool{}
			}
			ids[key][it.ID] = true
			if created != (it.ID == fmt.Sprintf("pi_local_%d", i)) {
				t.Errorf("intent %s: created %v", it.ID, created)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for i := range 4 {
		key := fmt.Sprintf("k-%d", i)
		if claimed[key] != 1 {
			t.Errorf("key %s claimed %d times, want once", key, claimed[key])
		}
		if len(ids[key]) != 1 {
			t.Errorf("intent key %s answered %d intents, want one", key, len(ids[key]))
		}
	}
}

func localIntent(id, key string) local.IntentRecord {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return local.IntentRecord{ID: id, ClientSecret: id + "_secret", IdempotencyKey: key, Amount: 100, Currency: "EUR",
		Description: "d", Metadata: map[string]string{"k": "v"}, Status: string(payment.IntentRequiresPaymentMethod),
		CreatedAt: now, UpdatedAt: now}
}
