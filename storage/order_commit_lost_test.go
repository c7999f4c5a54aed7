package storage_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/payments/local"
	"github.com/daihuo/daihuo/storage"
)

// lostCommitTx is a Transactor whose transactions, while lose is set,
// commit and then answer an error, as when the connection drops while
// COMMIT's answer is on its way.
type lostCommitTx struct {
	real *storage.Transactor
	lose atomic.Bool
}

func (t *lostCommitTx) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	err := t.real.InTx(ctx, fn)
	if err == nil && t.lose.Load() {
		return errors.New("read COMMIT answer: connection reset by peer")
	}
	return err
}

// blindStore is an order store that cannot read orders while blind is set.
type blindStore struct {
	*storage.OrderStore
	blind atomic.Bool
}

func (s *blindStore) GetOrder(ctx context.Context, id string) (order.Order, error) {
	if s.blind.Load() {
		return order.Order{}, errors.New("read order: connection refused")
	}
	return s.OrderStore.GetOrder(ctx, id)
}

// An order whose recording committed but answered an error exists: it keeps
// its stock, whether PlaceOrder can tell it was placed (it answers the
// order) or not (it answers the error, and a retry under the key finds the
// order). Giving its stock back would let the units be sold twice.
func TestRecordedOrderKeepsItsStockWhenTheCommitAnswerIsLost(t *testing.T) {
	for _, tc := range []struct {
		name  string
		blind bool // PlaceOrder cannot read the order back
	}{
		{"placed order answered", false},
		{"placed order found by its key", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newOrderWorld(t, 2)
			ctx := context.Background()
			v := w.prodA.Variants[1] // 5 in stock
			tx := &lostCommitTx{real: w.tx}
			store := &blindStore{OrderStore: w.store}
			r := storage.NewReserver(w.db, w.out, storage.ReserverConfig{Now: w.clock.Now})
			t.Cleanup(r.Close)
			svc := order.NewService(store, r, w.sim, w.out, tx, w.clock.Now, order.Config{ReservationTTL: testTTL})
			in := order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{item(v, 5)}, Shipping: w.shipping(), IdempotencyKey: "k1"}

			tx.lose.Store(true)
			store.blind.Store(tc.blind)
			first, err := svc.PlaceOrder(ctx, w.shoppers[0], in)
			tx.lose.Store(false)
			store.blind.Store(false)
			if tc.blind != (err != nil) {
				t.Fatalf("PlaceOrder = %v, want an error only when the order cannot be read back", err)
			}
			if w.stock(v.ID) != 0 {
				t.Fatalf("stock %d after the order took all 5", w.stock(v.ID))
			}
			if _, err := svc.PlaceOrder(ctx, w.shoppers[1], order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{item(v, 1)},
				Shipping: w.shipping(), IdempotencyKey: "other"}); !errors.Is(err, order.ErrSoldOut) {
				t.Fatalf("another shopper's order = %v, want sold out", err)
			}
			again, err := svc.PlaceOrder(ctx, w.shoppers[0], in)
			if err != nil || (!tc.blind && again.ID != first.ID) {
				t.Fatalf("retry under the key = %s, %v; want the first order %s", again.ID, err, first.ID)
			}
			if err := w.pay(again, local.CardSucceeds); err != nil {
				t.Fatal(err)
			}
			got := w.get(again.ID)
			if got.Status != order.StatusPaid || w.stock(v.ID) != 0 {
				t.Fatalf("paid order %s, stock %d; want paid and 0 left", got.Status, w.stock(v.ID))
			}
			var states []string
			w.db.Raw(`SELECT status FROM stock_reservations WHERE order_id = ?`, got.ID).Scan(&states)
			if len(states) != 1 || states[0] != "committed" {
				t.Fatalf("reservations of the paid order: %v, want [committed]", states)
			}
		})
	}
}
