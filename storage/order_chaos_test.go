package storage_test

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/payments/local"
	"github.com/daihuo/daihuo/storage"
)

// Forty shoppers place, cancel, pay and fail to pay orders of flash and
// regular lines at once, through five services (as five processes would
// run them, two with batches so short they time out), hanging up at random
// moments, while sweeps expire orders and release orphans. Whatever the
// interleaving, every unit is accounted for: available plus held equals
// what there was, for every variant and the flash pin; per-buyer counts
// match their reservations and the limit; each reservation agrees with its
// order; and once everything expired, nothing is held.
func TestStockIsConservedUnderChaos(t *testing.T) {
	w := newOrderWorld(t, 40)
	ctx := context.Background()
	f1, f2 := w.prodF.Variants[0], w.prodF.Variants[1]
	am, b := w.prodA.Variants[1], w.prodB.Variants[0]
	if err := w.db.Exec("UPDATE variants SET stock_available = 30 WHERE id = ?", f1.ID).Error; err != nil { // the variant binds too
		t.Fatal(err)
	}
	initial := map[string]int64{}
	for _, v := range []string{f1.ID, f2.ID, am.ID, b.ID, w.prodA.Variants[0].ID} {
		initial[v] = w.stock(v)
	}
	var (
		svcs      []*order.Service
		reservers []*storage.Reserver
	)
	for _, timeout := range []time.Duration{0, 0, 0, 3 * time.Millisecond, 8 * time.Millisecond} {
		cfg := storage.ReserverConfig{Now: w.clock.Now} // the defaults
		if timeout > 0 {                                // batches so short they time out
			cfg.BatchTimeout, cfg.MaxBatch = timeout, 3
		}
		r := storage.NewReserver(w.db, w.out, cfg)
		t.Cleanup(r.Close)
		reservers = append(reservers, r)
		svcs = append(svcs, order.NewService(w.store, r, w.sim, w.out, w.tx, w.clock.Now,
			order.Config{ReservationTTL: testTTL, CleanupTimeout: timeout}))
	}

	stop := make(chan struct{})
	var sweeper sync.WaitGroup
	sweeper.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			w.clock.Add(20 * time.Second)
			for _, s := range svcs {
				_, _ = s.Sweep(ctx) // a sweep losing a race is retried by the next
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	var shoppers sync.WaitGroup
	for g, sh := range w.shoppers {
		shoppers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 25 {
				svc := svcs[rng.IntN(len(svcs))]
				var items []order.NewItem
				if rng.IntN(3) > 0 {
					items = append(items, item(f1, int64(1+rng.IntN(2))))
				}
				if rng.IntN(3) == 0 {
					items = append(items, item(f2, 1))
				}
				if rng.IntN(2) == 0 {
					items = append(items, item(am, int64(1+rng.IntN(2))))
				}
				if len(items) == 0 || rng.IntN(4) == 0 {
					items = append(items, item(b, 1))
				}
				pctx, cancel := context.WithCancel(ctx)
				if rng.IntN(3) == 0 { // the shopper hangs up
					time.AfterFunc(time.Duration(rng.IntN(3000))*time.Microsecond, cancel)
				}
				o, err := svc.PlaceOrder(pctx, sh, order.NewOrder{StreamID: w.stream.ID, PinID: w.flash.ID, Items: items, Shipping: w.shipping()})
				cancel()
				if err != nil {
					continue // sold out, over the limit, hung up, timed out: all allowed
				}
				switch rng.IntN(4) {
				case 0:
					_, _ = svcs[rng.IntN(len(svcs))].Cancel(ctx, sh, o.ID)
				case 1:
					_ = w.pay(o, local.CardSucceeds)
				case 2:
					_ = w.pay(o, local.CardDeclined)
				}
			}
		})
	}
	shoppers.Wait()
	close(stop)
	sweeper.Wait()
	for _, r := range reservers { // batches of shoppers who hung up may still run
		r.Close()
	}
	checkStockConserved(t, w, initial)
	w.clock.Add(time.Hour)
	for _, s := range svcs {
		if _, err := s.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	checkStockConserved(t, w, initial)
	var live int64
	w.db.Raw("SELECT count(*) FROM stock_reservations WHERE status IN ('held', 'ordered')").Scan(&live)
	if live != 0 {
		t.Errorf("%d reservations still held once every order expired", live)
	}
}

// checkStockConserved checks the stock invariants of w's variants (initial
// units by id) and flash pin (100 units, 2 per buyer), on one snapshot.
func checkStockConserved(t *testing.T, w *orderWorld, initial map[string]int64) {
	t.Helper()
	tx := w.db.Begin(&sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if tx.Error != nil {
		t.Fatal(tx.Error)
	}
	defer tx.Rollback()
	scan := func(dst any, q string, args ...any) {
		t.Helper()
		if err := tx.Raw(q, args...).Scan(dst).Error; err != nil {
			t.Fatal(err)
		}
	}
	for v, n := range initial {
		var avail, held int64
		scan(&avail, "SELECT stock_available FROM variants WHERE id = ?", v)
		scan(&held, "SELECT coalesce(sum(quantity), 0) FROM stock_reservations WHERE variant_id = ? AND status <> 'released'", v)
		if avail+held != n || avail < 0 {
			t.Errorf("variant %s: available %d + held %d != %d", v, avail, held, n)
		}
	}
	var remaining, held int64
	scan(&remaining, "SELECT flash_remaining FROM pins WHERE id = ?", w.flash.ID)
	scan(&held, "SELECT coalesce(sum(quantity), 0) FROM stock_reservations WHERE pin_id = ? AND status <> 'released'", w.flash.ID)
	if remaining+held != 100 || remaining < 0 {
		t.Errorf("flash pin: remaining %d + held %d != 100", remaining, held)
	}
	type units struct {
		Shopper string
		Units   int64
	}
	var counted, reserved []units
	scan(&counted, "SELECT shopper_id AS shopper, units FROM flash_buyer_units WHERE pin_id = ? AND units > 0 ORDER BY 1", w.flash.ID)
	scan(&reserved, `SELECT shopper_id AS shopper, sum(quantity) AS units FROM stock_reservations
		WHERE pin_id = ? AND status <> 'released' GROUP BY 1 ORDER BY 1`, w.flash.ID)
	if len(counted) != len(reserved) {
		t.Errorf("per-buyer counts %v, reservations %v", counted, reserved)
	}
	for i := range min(len(counted), len(reserved)) {
		if counted[i] != reserved[i] || counted[i].Units > 2 {
			t.Errorf("per-buyer count %v, reservations %v (limit 2)", counted[i], reserved[i])
		}
	}
	var disagree, unowned int64
	scan(&disagree, `SELECT count(*) FROM stock_reservations r JOIN orders o ON o.id = r.order_id WHERE
		(o.status IN ('cancelled', 'expired') AND r.status <> 'released') OR
		(o.status = 'pending_payment' AND r.status <> 'ordered') OR
		(o.status IN ('paid', 'partially_refunded', 'refunded') AND o.close_reason = '' AND r.status <> 'committed')`)
	scan(&unowned, `SELECT count(*) FROM stock_reservations r
		WHERE r.status IN ('ordered', 'committed') AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = r.order_id)`)
	if disagree != 0 || unowned != 0 {
		t.Errorf("%d reservations disagree with their order, %d attached to no order", disagree, unowned)
	}
}
