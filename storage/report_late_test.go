package storage_test

import (
	"context"
	"sync"
	"testing"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/payment"
	"github.com/daihuo/daihuo/domain/report"
	"github.com/daihuo/daihuo/payments/local"
	"github.com/daihuo/daihuo/storage"
)

// refuseFirstRefund is the simulator refusing the first refund it is asked
// for (an expired card, say).
type refuseFirstRefund struct {
	*local.Simulator
	mu      sync.Mutex
	refused bool
}

func (g *refuseFirstRefund) Refund(ctx context.Context, req payment.RefundRequest) (payment.Refund, error) {
	g.mu.Lock()
	first := !g.refused
	g.refused = true
	g.mu.Unlock()
	if first {
		return payment.Refund{Provider: payment.ProviderLocal, ID: "re_refused", IntentID: req.IntentID,
			Status: payment.RefundFailed, Amount: req.Amount, FailureReason: "expired_or_canceled_card"}, nil
	}
	return g.Simulator.Refund(ctx, req)
}

// statsOf feeds every event w's orders wrote to the stream stats, as the
// consumer group would, and returns the consumer.
func statsOf(t *testing.T, w *orderWorld) *statsConsumer {
	t.Helper()
	store := storage.NewReportStore(w.db)
	c := &statsConsumer{t: t, inbox: storage.NewInbox(w.db), store: store,
		svc: report.NewService(store, storage.NewLiveStore(w.db), storage.NewRoomStore(w.db), nil, nil)}
	var evs []event.Event
	if _, err := w.out.ProcessBatch(context.Background(), 10_000, func(_ context.Context, b []event.Event) error {
		evs = append(evs, b...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c.apply(evs...)
	return c
}

// A late payment (the order closed before its payment came) was never a
// sale: no refund of it counts against the stream's or the brand's sales,
// whoever returns the money — the platform, an admin once the platform's
// refund was refused, or someone in the provider's dashboard once the
// platform's refund failed after all.
func TestStreamStatsIgnoreEveryRefundOfALatePayment(t *testing.T) {
	for _, tc := range []struct {
		name   string
		refund func(t *testing.T, w *orderWorld, svc *order.Service, o order.Order)
	}{
		{"by the platform", func(t *testing.T, w *orderWorld, svc *order.Service, o order.Order) {}},
		{"by an admin", func(t *testing.T, w *orderWorld, svc *order.Service, o order.Order) {
			if _, err := svc.Refund(context.Background(), w.admin, o.ID, nil, "admin-late"); err != nil {
				t.Fatal(err)
			}
		}},
		{"in the dashboard", func(t *testing.T, w *orderWorld, svc *order.Service, o order.Order) {
			ctx := context.Background()
			r := w.get(o.ID).Refunds[0]
			for _, ev := range []payment.WebhookEvent{
				{Provider: payment.ProviderLocal, ID: "evt_late_failed", Type: payment.EventRefundFailed, IntentID: o.Payment.IntentID,
					RefundID: r.ProviderRefundID, Amount: r.Amount},
				{Provider: payment.ProviderLocal, ID: "evt_dashboard", Type: payment.EventRefundSucceeded, IntentID: o.Payment.IntentID,
					RefundID: "re_dashboard", Amount: money.Money{Amount: 1999, Currency: "EUR"}},
			} {
				if err := svc.ApplyPaymentEvent(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newOrderWorld(t, 1)
			ctx := context.Background()
			svc := w.svc
			if tc.name == "by an admin" {
				r := storage.NewReserver(w.db, w.out, storage.ReserverConfig{Now: w.clock.Now})
				t.Cleanup(r.Close)
				svc = order.NewService(w.store, r, &refuseFirstRefund{Simulator: w.sim}, w.out, w.tx, w.clock.Now, order.Config{ReservationTTL: testTTL})
			}
			o := w.mustPlace(w.shoppers[0], "", item(w.prodA.Variants[0], 1)) // 1999 EUR, brand A
			w.capture.Store(true)                                             // its success webhook is late
			if err := w.pay(o, local.CardSucceeds); err != nil {
				t.Fatal(err)
			}
			w.capture.Store(false)
			if _, err := svc.Cancel(ctx, w.shoppers[0], o.ID); err != nil { // finds the intent paid: a late payment
				t.Fatal(err)
			}
			tc.refund(t, w, svc, o)
			if got := w.get(o.ID); got.Refunded.Amount != 1999 {
				t.Fatalf("order %s refunded %v, want the late payment returned", got.Status, got.Refunded)
			}
			c := statsOf(t, w)
			for _, brand := range []string{"", w.brandA.PartyID} {
				if got := c.totals(w.stream.ID, brand); got.Orders != 0 || got.GMV != 0 || got.Refunds != 0 {
					t.Errorf("scope %q: orders %d, gmv %d, refunds %d; want no sale and no refund", brand, got.Orders, got.GMV, got.Refunds)
				}
			}
		})
	}
}
