package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/payment"
)

// ApplyPaymentEvent applies a verified webhook of the payment provider to
// the order of its intent. Each event id is applied once (a redelivery
// changes nothing), and transitions only move forward, so duplicates and any
// arrival order end in the same state:
//
//   - intent.succeeded: a pending order becomes paid and its reservations
//     final (event paid). A cancelled or expired order records the payment
//     and refunds it in full (events paid with late=true, then refunded).
//   - intent.failed: a pending order records the decline and stays pending,
//     so the shopper can try another card.
//   - intent.canceled: a pending order is cancelled and its stock released.
//   - refund.succeeded / refund.failed: the refund moves forward
//     (pending → succeeded → failed); a refund made at the provider outside
//     daihuo is recorded as an external refund.
//   - charge.refunded: acknowledged; refunds are tracked per refund.
//
// Other event types are not about orders and return nil. An intent no order
// has answers ErrUnknownIntent, which the api logs and acknowledges.
func (s *Service) ApplyPaymentEvent(ctx context.Context, ev payment.WebhookEvent) error {
	switch ev.Type {
	case payment.EventIntentSucceeded, payment.EventIntentFailed, payment.EventIntentCanceled,
		payment.EventRefundSucceeded, payment.EventRefundFailed, payment.EventChargeRefunded:
	default:
		return nil
	}
	if ev.IntentID == "" || ev.ID == "" {
		return ErrUnknownIntent
	}
	var late struct{ orderID, refundID string }
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		fresh, err := s.store.MarkPaymentEvent(ctx, ev.Provider, ev.ID)
		if err != nil || !fresh {
			return err
		}
		o, err := s.store.LockOrderByIntent(ctx, ev.Provider, ev.IntentID)
		if errors.Is(err, errs.ErrNotFound) {
			return ErrUnknownIntent // rolls the mark back: nothing changed
		}
		if err != nil {
			return err
		}
		now := s.clock()
		switch ev.Type {
		case payment.EventIntentSucceeded:
			late.refundID, err = s.applySucceeded(ctx, &o, ev, now)
			late.orderID = o.ID
			return err
		case payment.EventIntentFailed:
			if !o.Pending() {
				return nil
			}
			o.Payment.FailureCode, o.Payment.FailureReason, o.UpdatedAt = ev.FailureCode, ev.FailureReason, now
			return s.store.UpdateOrder(ctx, o)
		case payment.EventIntentCanceled:
			if !o.Pending() {
				return nil
			}
			return s.closeUnpaid(ctx, []Order{o}, StatusCancelled, ReasonPaymentCanceled, now)
		case payment.EventRefundSucceeded, payment.EventRefundFailed:
			return s.applyRefundEvent(ctx, &o, ev, now)
		}
		return nil // charge.refunded
	})
	if err != nil {
		if errors.Is(err, ErrUnknownIntent) {
			return ErrUnknownIntent
		}
		return fmt.Errorf("apply payment event %s: %w", ev.ID, err)
	}
	if late.refundID != "" {
		// The late payment is recorded; its refund goes to the provider now,
		// and the sweep retries it if the provider does not answer.
		if err := s.settleRefund(ctx, late.orderID, late.refundID); err != nil {
			s.log.Warn("refund late payment", "order_id", late.orderID, "refund_id", late.refundID, "error", err)
		}
	}
	return nil
}

// applySucceeded records a successful payment. It returns the id of the
// refund to send when the payment came after the order closed.
func (s *Service) applySucceeded(ctx context.Context, o *Order, ev payment.WebhookEvent, now time.Time) (string, error) {
	paid := ev.Amount
	if paid.Currency != o.Total.Currency || paid.Amount <= 0 {
		paid = o.Total // a provider that did not say: what was asked
	}
	switch o.Status {
	case StatusPendingPayment:
		o.Status, o.Paid, o.PaidAt, o.UpdatedAt = StatusPaid, paid, &now, now
		o.Payment.FailureCode, o.Payment.FailureReason = "", ""
		if err := s.store.UpdateOrder(ctx, *o); err != nil {
			return "", err
		}
		if err := s.store.CommitReservations(ctx, o.ID); err != nil {
			return "", err
		}
		ev, err := paidEvent(*o, false)
		if err != nil {
			return "", err
		}
		return "", s.pub.Publish(ctx, ev)
	case StatusCancelled, StatusExpired:
		if o.Paid.Amount > 0 {
			return "", nil // recorded by an earlier event of the same payment
		}
		o.Paid, o.PaidAt, o.UpdatedAt = paid, &now, now
		if err := s.store.UpdateOrder(ctx, *o); err != nil {
			return "", err
		}
		r := Refund{
			ID: id.New(PrefixRefund, now), OrderID: o.ID, RequestedBy: RequesterPlatform, IdempotencyKey: "late-payment",
			Amount: paid, Lines: o.allocate(paid.Amount), Reason: RefundLatePayment, Status: RefundPending,
			CreatedAt: now, UpdatedAt: now,
		}
		if err := s.store.InsertRefund(ctx, r); err != nil {
			return "", err
		}
		ev, err := paidEvent(*o, true)
		if err != nil {
			return "", err
		}
		return r.ID, s.pub.Publish(ctx, ev)
	}
	return "", nil // paid already, by an earlier event
}

// applyRefundEvent moves the refund the event is about forward, recording a
// refund made at the provider outside daihuo (in its dashboard, say).
//
// Such a refund is booked up to what the provider could still refund as far
// as daihuo knows, and split over the brands as if daihuo's own refunds
// that never reached the provider did not exist: they may not, and when
// they do reach it after this one, it refuses what is no longer there. Its
// failure, even arriving before its success, is recorded too, so that
// events in any order end in the same state.
func (s *Service) applyRefundEvent(ctx context.Context, o *Order, ev payment.WebhookEvent, now time.Time) error {
	i := o.findRefund(ev.RefundID, ev.Metadata["refund_id"])
	if i < 0 {
		known := o.withoutUnsentRefunds()
		amount := min(ev.Amount.Amount, known.Refundable())
		if amount <= 0 || ev.Amount.Currency != o.Total.Currency {
			return nil // nothing moved that daihuo would book
		}
		r := Refund{
			ID: id.New(PrefixRefund, now), OrderID: o.ID, RequestedBy: RequesterProvider, IdempotencyKey: "provider-" + ev.RefundID,
			Amount: money.Money{Amount: amount, Currency: o.Total.Currency}, Lines: known.allocate(amount), Reason: RefundExternal,
			Status: RefundPending, ProviderRefundID: ev.RefundID, CreatedAt: now, UpdatedAt: now,
		}
		if err := s.store.InsertRefund(ctx, r); err != nil {
			return err
		}
		o.Refunds = append(o.Refunds, r)
		i = len(o.Refunds) - 1
	}
	if o.Refunds[i].ProviderRefundID == "" {
		o.Refunds[i].ProviderRefundID = ev.RefundID
	}
	to := RefundSucceeded
	if ev.Type == payment.EventRefundFailed {
		to = RefundFailed
	}
	return s.moveRefund(ctx, o, i, to, ev.FailureReason, now)
}

// findRefund returns the index of the refund with the provider's id or
// daihuo's id, or -1.
func (o Order) findRefund(providerID, ownID string) int {
	for i, r := range o.Refunds {
		if (providerID != "" && r.ProviderRefundID == providerID) || (ownID != "" && r.ID == ownID) {
			return i
		}
	}
	return -1
}

// moveRefund moves refund i of o forward to status to, adjusting the
// order's refunded amount and status and recording the event, in the
// caller's transaction. A move backwards or sideways only saves what the
// refund learnt (its provider id).
func (s *Service) moveRefund(ctx context.Context, o *Order, i int, to RefundStatus, failure string, now time.Time) error {
	r := &o.Refunds[i]
	from := r.Status
	if to.rank() <= from.rank() {
		return s.store.UpdateRefund(ctx, *r)
	}
	r.Status, r.UpdatedAt = to, now
	if to == RefundFailed {
		r.FailureReason = failure
	}
	if err := s.store.UpdateRefund(ctx, *r); err != nil {
		return err
	}
	var typ string
	switch {
	case to == RefundSucceeded:
		o.Refunded.Amount += r.Amount.Amount
		typ = EventRefunded
	case from == RefundSucceeded: // succeeded, then failed after all
		o.Refunded.Amount -= r.Amount.Amount
		typ = EventRefundFailed
	default:
		return nil // a pending refund failed: no money moved, nothing to tell
	}
	o.settleStatus()
	o.UpdatedAt = now
	if err := s.store.UpdateOrder(ctx, *o); err != nil {
		return err
	}
	ev, err := refundEvent(typ, *o, *r, now)
	if err != nil {
		return err
	}
	return s.pub.Publish(ctx, ev)
}
