package storage_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/payment"
	"github.com/daihuo/daihuo/payments/local"
	"github.com/daihuo/daihuo/storage"
)

// flakyRefunds is the local simulator as a provider that is sometimes
// unreachable and that may acknowledge a refund as pending (as Stripe does
// for some payment methods, for days), counting the refunds asked of it.
type flakyRefunds struct {
	*local.Simulator
	mu      sync.Mutex
	down    bool
	pending bool // acknowledge new refunds as pending instead of settling them
	asked   map[string]int
	// outcome is what GetRefund answers for a refund acknowledged as
	// pending, by provider refund id (pending when unset); checks counts
	// the GetRefund calls.
	outcome map[string]payment.RefundStatus
	checks  int
}

func (g *flakyRefunds) settle(providerID string, status payment.RefundStatus) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.outcome == nil {
		g.outcome = map[string]payment.RefundStatus{}
	}
	g.outcome[providerID] = status
}

func (g *flakyRefunds) GetRefund(ctx context.Context, id string) (payment.Refund, error) {
	g.mu.Lock()
	g.checks++
	down, status := g.down, g.outcome[id]
	g.mu.Unlock()
	switch {
	case down:
		return payment.Refund{}, errors.New("dial tcp 127.0.0.1:443: connect: connection refused")
	case !strings.HasPrefix(id, "re_pending_"):
		return g.Simulator.GetRefund(ctx, id)
	case status == "":
		status = payment.RefundPending
	}
	return payment.Refund{Provider: payment.ProviderLocal, ID: id, Status: status, FailureReason: map[bool]string{true: "expired_or_canceled_card"}[status == payment.RefundFailed]}, nil
}

func (g *flakyRefunds) set(down, pending bool) {
	g.mu.Lock()
	g.down, g.pending = down, pending
	g.mu.Unlock()
}

func (g *flakyRefunds) times(refundID string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.asked[refundID]
}

func (g *flakyRefunds) Refund(ctx context.Context, req payment.RefundRequest) (payment.Refund, error) {
	g.mu.Lock()
	g.asked[req.Metadata["refund_id"]]++
	down, pending := g.down, g.pending
	g.mu.Unlock()
	switch {
	case down:
		return payment.Refund{}, errors.New("dial tcp 127.0.0.1:443: connect: connection refused")
	case pending:
		return payment.Refund{Provider: payment.ProviderLocal, ID: "re_pending_" + req.Metadata["refund_id"], IntentID: req.IntentID,
			Status: payment.RefundPending, Amount: req.Amount}, nil
	}
	return g.Simulator.Refund(ctx, req)
}

// The sweep sends again only refunds the provider never acknowledged, once
// per RefundRetryAfter since the last attempt and only within the provider's
// idempotency window; a refund pending at the provider waits for its webhook.
func TestSweepResendsOnlyUnacknowledgedRefunds(t *testing.T) {
	w := newOrderWorld(t, 3)
	ctx := context.Background()
	a := w.prodA.Variants[0]
	var orders []order.Order
	for _, sh := range w.shoppers {
		o := w.mustPlace(sh, "", item(a, 1))
		if err := w.pay(o, local.CardSucceeds); err != nil {
			t.Fatal(err)
		}
		orders = append(orders, o)
	}
	gw := &flakyRefunds{Simulator: w.sim, asked: map[string]int{}}
	r := storage.NewReserver(w.db, w.out, storage.ReserverConfig{Now: w.clock.Now})
	t.Cleanup(r.Close)
	svc := order.NewService(w.store, r, gw, w.out, w.tx, w.clock.Now, order.Config{ReservationTTL: testTTL, SweepBatch: 1})
	refund := func(o order.Order) (order.Refund, error) {
		_, err := svc.Refund(ctx, w.admin, o.ID, nil, "refund-"+o.ID)
		got := w.get(o.ID)
		if len(got.Refunds) != 1 {
			t.Fatalf("order %s has %d refunds", o.ID, len(got.Refunds))
		}
		return got.Refunds[0], err
	}
	sweep := func() {
		t.Helper()
		if _, err := svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// Acknowledged as pending at the provider.
	gw.set(false, true)
	atProvider, err := refund(orders[0])
	if err != nil || atProvider.Status != order.RefundPending || atProvider.ProviderRefundID == "" {
		t.Fatalf("refund pending at the provider: %+v, %v", atProvider, err)
	}
	// Never acknowledged: the provider is down.
	gw.set(true, false)
	unsent, err := refund(orders[1])
	if !errors.Is(err, order.ErrPaymentUnavailable) || unsent.Status != order.RefundPending || unsent.ProviderRefundID != "" {
		t.Fatalf("refund while the provider is down: %+v, %v", unsent, err)
	}

	steps := []struct {
		name                  string
		advance               time.Duration
		down                  bool
		atProvider, unsentNow int // times each was asked of the provider, after the sweep
	}{
		{"at once: nothing is due", 0, true, 1, 1},
		{"after the retry delay, still down", 31 * time.Second, true, 1, 2},
		{"right after that attempt: not again", 0, true, 1, 2},
		{"ten sweeps within the delay", 0, true, 1, 2},
		{"after the delay, the provider is back", 31 * time.Second, false, 1, 3},
		{"settled: never again", time.Hour, false, 1, 3},
	}
	for _, st := range steps {
		w.clock.Add(st.advance)
		gw.set(st.down, false)
		for range 10 {
			sweep()
		}
		if got := gw.times(atProvider.ID); got != st.atProvider {
			t.Errorf("%s: the refund pending at the provider was asked %d times, want %d", st.name, got, st.atProvider)
		}
		if got := gw.times(unsent.ID); got != st.unsentNow {
			t.Errorf("%s: the unacknowledged refund was asked %d times, want %d", st.name, got, st.unsentNow)
		}
	}
	if got := w.get(orders[1].ID); got.Refunds[0].Status != order.RefundSucceeded || got.Status != order.StatusRefunded {
		t.Fatalf("the resent refund: %s, order %s", got.Refunds[0].Status, got.Status)
	}
	if got := w.get(orders[0].ID); got.Refunds[0].Status != order.RefundPending {
		t.Fatalf("the refund pending at the provider moved to %s without a webhook", got.Refunds[0].Status)
	}

	// Past the provider's idempotency window a resend could refund twice:
	// the refund is left pending for a person.
	gw.set(true, false)
	late, err := refund(orders[2])
	if !errors.Is(err, order.ErrPaymentUnavailable) {
		t.Fatalf("refund while the provider is down: %v", err)
	}
	w.clock.Add(24 * time.Hour)
	gw.set(false, false)
	sweep()
	if got := gw.times(late.ID); got != 1 {
		t.Fatalf("a refund a day old was sent %d times, want only its first attempt", got)
	}
	if got := w.get(orders[2].ID); got.Refunds[0].Status != order.RefundPending {
		t.Fatalf("the day-old refund is %s, want pending", got.Refunds[0].Status)
	}
	// It is counted for a person to check; the one pending at the provider is not.
	if n, err := svc.StaleRefunds(ctx); err != nil || n != 1 {
		t.Fatalf("stale refunds: %d, %v; want 1", n, err)
	}
}
