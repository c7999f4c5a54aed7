package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/payment"
	"github.com/daihuo/daihuo/payments/local"
	"github.com/daihuo/daihuo/storage"
)

// flakyService returns an order service whose gateway is w's simulator
// behind flakyRefunds.
func flakyService(w *orderWorld) (*order.Service, *flakyRefunds) {
	gw := &flakyRefunds{Simulator: w.sim, asked: map[string]int{}}
	r := storage.NewReserver(w.db, w.out, storage.ReserverConfig{Now: w.clock.Now})
	w.t.Cleanup(r.Close)
	return order.NewService(w.store, r, gw, w.out, w.tx, w.clock.Now, order.Config{ReservationTTL: testTTL}), gw
}

// A client retrying its refund request under the same key sends the refund
// to the provider again only while that is safe: never once the provider
// acknowledged it, and never past the provider's idempotency window (a day:
// the api forgets the key's answer by then, and a resend would refund twice).
func TestRefundRetryResendsOnlyWhileSafe(t *testing.T) {
	w := newOrderWorld(t, 2)
	ctx := context.Background()
	svc, gw := flakyService(w)
	eur := &money.Money{Amount: 500, Currency: "EUR"}
	paid := func(sh int) order.Order {
		o := w.mustPlace(w.shoppers[sh], "", item(w.prodA.Variants[0], 2), item(w.prodB.Variants[0], 1))
		if err := w.pay(o, local.CardSucceeds); err != nil {
			t.Fatal(err)
		}
		return o
	}
	refundOf := func(o order.Order) order.Refund {
		t.Helper()
		got := w.get(o.ID)
		if len(got.Refunds) != 1 {
			t.Fatalf("%d refunds", len(got.Refunds))
		}
		return got.Refunds[0]
	}

	// Acknowledged as pending: a retry, a day later, asks nothing more.
	acked := paid(0)
	gw.set(false, true)
	if _, err := svc.Refund(ctx, w.brandB, acked.ID, eur, "b-1"); err != nil {
		t.Fatal(err)
	}
	w.clock.Add(time.Hour)
	if _, err := svc.Refund(ctx, w.brandB, acked.ID, eur, "b-1"); err != nil {
		t.Fatal(err)
	}
	if n := gw.times(refundOf(acked).ID); n != 1 {
		t.Errorf("acknowledged refund asked %d times, want 1", n)
	}

	// Never acknowledged (the provider was down): a retry within the window
	// sends it again under the same key; past it, not any more.
	unsent := paid(1)
	gw.set(true, false)
	if _, err := svc.Refund(ctx, w.brandB, unsent.ID, eur, "b-2"); !errors.Is(err, order.ErrPaymentUnavailable) {
		t.Fatalf("refund with the provider down = %v", err)
	}
	r := refundOf(unsent)
	if _, err := svc.Refund(ctx, w.brandB, unsent.ID, eur, "b-2"); !errors.Is(err, order.ErrPaymentUnavailable) {
		t.Fatalf("retry with the provider down = %v", err)
	}
	if n := gw.times(r.ID); n != 2 {
		t.Errorf("unacknowledged refund asked %d times within the window, want 2", n)
	}
	w.clock.Add(24 * time.Hour)
	gw.set(false, false)
	got, err := svc.Refund(ctx, w.brandB, unsent.ID, eur, "b-2")
	if err != nil {
		t.Fatal(err)
	}
	if n := gw.times(r.ID); n != 2 || got.Refunds[0].Status != order.RefundPending {
		t.Errorf("past the window: asked %d times, refund %s; want 2 and pending, for a person to check", n, got.Refunds[0].Status)
	}
}

// A refund made in the provider's dashboard while a daihuo refund waits to
// be sent (the provider was down) is booked; the daihuo refund, sent later,
// finds the money gone and fails.
func TestExternalRefundBookedWhileOwnRefundUnsent(t *testing.T) {
	w := newOrderWorld(t, 1)
	ctx := context.Background()
	svc, gw := flakyService(w)
	o := w.mustPlace(w.shoppers[0], "", item(w.prodA.Variants[0], 1)) // 1999 EUR
	if err := w.pay(o, local.CardSucceeds); err != nil {
		t.Fatal(err)
	}
	gw.set(true, false)
	if _, err := svc.Refund(ctx, w.admin, o.ID, nil, "admin-1"); !errors.Is(err, order.ErrPaymentUnavailable) {
		t.Fatalf("refund with the provider down = %v", err)
	}
	if _, err := w.sim.Refund(ctx, payment.RefundRequest{IntentID: o.Payment.IntentID, IdempotencyKey: "dashboard"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.sim.DeliverPending(ctx); err != nil {
		t.Fatal(err)
	}
	gw.set(false, false)
	w.clock.Add(31 * time.Second)
	if _, err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	got := w.get(o.ID)
	if got.Status != order.StatusRefunded || got.Refunded.Amount != 1999 {
		t.Fatalf("order %s refunded %d; want refunded 1999", got.Status, got.Refunded.Amount)
	}
	want := map[string]order.RefundStatus{order.RequesterAdmin: order.RefundFailed, order.RequesterProvider: order.RefundSucceeded}
	for _, r := range got.Refunds {
		if want[r.RequestedBy] != r.Status {
			t.Errorf("refund by %s: %s %d, want %s", r.RequestedBy, r.Status, r.Amount.Amount, want[r.RequestedBy])
		}
		if r.RequestedBy == order.RequesterProvider && (len(r.Lines) != 1 || r.Lines[0].BrandID != w.brandA.PartyID || r.Lines[0].Amount != 1999) {
			t.Errorf("dashboard refund booked to %+v, want all 1999 to brand A", r.Lines)
		}
	}
}

// The events of a dashboard refund end in the same state in either order:
// a failure arriving before the success keeps the success from booking it.
func TestExternalRefundEventsInAnyOrder(t *testing.T) {
	w := newOrderWorld(t, 2)
	ctx := context.Background()
	var final []order.Order
	for sh, types := range [][]payment.EventType{
		{payment.EventRefundSucceeded, payment.EventRefundFailed},
		{payment.EventRefundFailed, payment.EventRefundSucceeded},
	} {
		o := w.mustPlace(w.shoppers[sh], "", item(w.prodA.Variants[0], 1))
		if err := w.pay(o, local.CardSucceeds); err != nil {
			t.Fatal(err)
		}
		o = w.get(o.ID)
		for i, typ := range types {
			ev := payment.WebhookEvent{Provider: payment.ProviderLocal, ID: o.ID + "-ev" + string(rune('0'+i)), Type: typ,
				IntentID: o.Payment.IntentID, RefundID: "re_dash_" + o.ID, Amount: money.Money{Amount: 500, Currency: "EUR"}}
			if err := w.svc.ApplyPaymentEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		final = append(final, w.get(o.ID))
	}
	for i, got := range final {
		if got.Status != order.StatusPaid || got.Refunded.Amount != 0 || len(got.Refunds) != 1 || got.Refunds[0].Status != order.RefundFailed {
			t.Errorf("order %d: %s refunded %d, refunds %+v; want paid, 0 refunded, one failed refund", i, got.Status, got.Refunded.Amount, got.Refunds)
		}
	}
}

// A refund amount the provider can never take (Stripe takes three-decimal
// currencies in multiples of 10) is refused as bad input, recording
// nothing; an amount it takes goes through.
func TestRefundAmountTheProviderCannotTakeIsRefused(t *testing.T) {
	w := newOrderWorld(t, 1)
	ctx := context.Background()
	for _, q := range []string{
		"UPDATE streams SET currency = 'KWD'",
		"UPDATE variants SET price_currency = 'KWD', price_amount = 1005",
	} {
		if err := w.db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	o := w.mustPlace(w.shoppers[0], "", item(w.prodA.Variants[0], 1), item(w.prodB.Variants[0], 1)) // 2.010 KWD
	if err := w.pay(o, local.CardSucceeds); err != nil {
		t.Fatal(err)
	}
	for _, amount := range []*money.Money{nil, {Amount: 1005, Currency: "KWD"}} { // brand B's whole share, 1.005 KWD
		var ve *errs.ValidationError
		if _, err := w.svc.Refund(ctx, w.brandB, o.ID, amount, "b-all"); !errors.As(err, &ve) || ve.Fields[0].Field != "amount.amount" {
			t.Fatalf("refund of %v = %v, want a validation error on amount.amount", amount, err)
		}
	}
	if got := w.get(o.ID); len(got.Refunds) != 0 || got.Status != order.StatusPaid {
		t.Fatalf("refused refunds recorded: %s, %+v", got.Status, got.Refunds)
	}
	got, err := w.svc.Refund(ctx, w.brandB, o.ID, &money.Money{Amount: 1000, Currency: "KWD"}, "b-1000")
	if err != nil || got.Refunded.Amount != 1000 {
		t.Fatalf("refund of 1.000 KWD = %v, refunded %d", err, got.Refunded.Amount)
	}
}

// The late payments left unrefunded are the closed orders holding more paid
// than refunded with no refund on its way.
func TestCountUnrefundedClosed(t *testing.T) {
	w := newOrderWorld(t, 1)
	ctx := context.Background()
	o := w.mustPlace(w.shoppers[0], "", item(w.prodA.Variants[0], 1))
	exec := func(q string, args ...any) {
		t.Helper()
		if err := w.db.Exec(q, args...).Error; err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		t.Helper()
		n, err := w.store.CountUnrefundedClosed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tt := range []struct {
		name string
		sql  string
		want int
	}{
		{"pending, unpaid", `UPDATE orders SET status = 'pending_payment' WHERE id = ?`, 0},
		{"cancelled, unpaid", `UPDATE orders SET status = 'cancelled', paid_amount = 0 WHERE id = ?`, 0},
		{"cancelled, paid late", `UPDATE orders SET paid_amount = total_amount WHERE id = ?`, 1},
		{"expired, paid late", `UPDATE orders SET status = 'expired' WHERE id = ?`, 1},
		{"a refund on its way", `INSERT INTO order_refunds (id, order_id, requested_by, idempotency_key, amount, currency, reason, status, created_at, updated_at)
			VALUES ('rfd_x', ?, 'admin', 'k', 1999, 'EUR', 'requested', 'pending', now(), now())`, 0},
		{"that refund failed", `UPDATE order_refunds SET status = 'failed' WHERE order_id = ?`, 1},
		{"refunded in full", `UPDATE orders SET refunded_amount = paid_amount WHERE id = ?`, 0},
	} {
		exec(tt.sql, o.ID)
		if got := count(); got != tt.want {
			t.Errorf("%s: counted %d, want %d", tt.name, got, tt.want)
		}
	}
}

// A refund the provider acknowledged as pending whose webhook never comes is
// asked about an hour later, and again every hour while it stays pending or
// the provider cannot answer; its outcome is then recorded as the webhook
// would have.
func TestSweepAsksHowAcknowledgedRefundsEnded(t *testing.T) {
	w := newOrderWorld(t, 2)
	ctx := context.Background()
	svc, gw := flakyService(w)
	eur := &money.Money{Amount: 500, Currency: "EUR"}
	var refunds []order.Refund
	for sh := range 2 {
		o := w.mustPlace(w.shoppers[sh], "", item(w.prodA.Variants[0], 1), item(w.prodB.Variants[0], 1))
		if err := w.pay(o, local.CardSucceeds); err != nil {
			t.Fatal(err)
		}
		gw.set(false, true)
		got, err := svc.Refund(ctx, w.brandB, o.ID, eur, "b-1")
		if err != nil || got.Refunds[0].Status != order.RefundPending || got.Refunds[0].ProviderRefundID == "" {
			t.Fatalf("refund acknowledged as pending: %+v, %v", got.Refunds, err)
		}
		refunds = append(refunds, got.Refunds[0])
	}
	refundedEvents := len(w.events(order.EventRefunded))
	sweep := func(after time.Duration, checked int) {
		t.Helper()
		w.clock.Add(after)
		res, err := svc.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Checked != checked {
			t.Fatalf("sweep %s later checked %d refunds, want %d", after, res.Checked, checked)
		}
	}
	statusOf := func(r order.Refund) order.Order {
		t.Helper()
		return w.get(r.OrderID)
	}

	sweep(30*time.Minute, 0) // within the hour: the webhook may still come
	sweep(31*time.Minute, 2) // still pending at the provider: checked again in an hour
	sweep(30*time.Minute, 0)
	gw.set(true, false) // the provider cannot answer: asked again in an hour, not every sweep
	sweep(31*time.Minute, 2)
	sweep(time.Second, 0)
	gw.set(false, false)
	gw.settle(refunds[0].ProviderRefundID, payment.RefundSucceeded)
	gw.settle(refunds[1].ProviderRefundID, payment.RefundFailed)
	sweep(time.Hour, 2)
	if got := statusOf(refunds[0]); got.Status != order.StatusPartiallyRefunded || got.Refunded.Amount != 500 || got.Refunds[0].Status != order.RefundSucceeded {
		t.Errorf("refund the provider says succeeded: order %s refunded %d, refund %s", got.Status, got.Refunded.Amount, got.Refunds[0].Status)
	}
	if got := statusOf(refunds[1]); got.Status != order.StatusPaid || got.Refunded.Amount != 0 || got.Refunds[0].Status != order.RefundFailed ||
		got.Refunds[0].FailureReason != "expired_or_canceled_card" {
		t.Errorf("refund the provider says failed: order %s refunded %d, refund %+v", got.Status, got.Refunded.Amount, got.Refunds[0])
	}
	if n := len(w.events(order.EventRefunded)); n != refundedEvents+1 {
		t.Errorf("%d refunded events, want %d", n, refundedEvents+1)
	}
	sweep(2*time.Hour, 0) // settled: never asked again
	if gw.checks != 6 {
		t.Errorf("the provider was asked %d times, want 6", gw.checks)
	}
}
