package order

import (
	"context"
	"errors"
	"fmt"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/domain/payment"
)

// ErrNotPaid refuses a refund of an order that was never paid (409).
var ErrNotPaid = errs.New(errs.CodeInvalidState, "the order is not paid")

// Refund returns money of a paid order to its shopper. A brand refunds its
// own items: by default, and at most, their total less its earlier refunds.
// An admin refunds anything left (by default all of it), booked to the
// brands in the order their items appear. Never more than was paid. The key
// makes it idempotent per requester: a retry with the same key returns the
// order without refunding twice, the same key with another amount answers
// ErrIdempotencyConflict. It answers the order as p sees it.
//
// The refund is recorded as pending before the provider is asked, under a
// provider idempotency key derived from its id, so a crash or a timeout is
// finished by a retry or by the sweep, never doubled. A provider that refuses
// answers ErrRefundFailed; one that cannot be reached ErrPaymentUnavailable
// (the refund stays pending and the sweep tries again).
func (s *Service) Refund(ctx context.Context, p party.Principal, orderID string, amount *money.Money, idempotencyKey string) (Order, error) {
	var requester string
	switch {
	case p.IsAdmin():
		requester = RequesterAdmin
	case p.Role == party.RoleBrand && p.PartyID != "":
		requester = p.PartyID
	default:
		return Order{}, errs.ErrForbidden
	}
	var v errs.Validator
	v.Check(idempotencyKey != "" && len(idempotencyKey) <= MaxIdempotencyKey, "idempotency_key", "must be 1 to %d bytes", MaxIdempotencyKey)
	if amount != nil {
		if err := amount.Validate(); err != nil {
			v.Add("amount.", err)
		} else {
			v.Check(amount.Amount > 0, "amount.amount", "must be positive")
		}
	}
	if err := v.Err(); err != nil {
		return Order{}, err
	}
	if !id.Valid(PrefixOrder, orderID) {
		return Order{}, errs.ErrNotFound
	}
	var refundID string
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		o, err := s.store.LockOrder(ctx, orderID)
		if err != nil {
			return err
		}
		if requester != RequesterAdmin && !o.HasBrand(requester) {
			return errs.ErrNotFound
		}
		for _, r := range o.Refunds {
			if r.RequestedBy == requester && r.IdempotencyKey == idempotencyKey {
				if amount != nil && *amount != r.Amount {
					return ErrIdempotencyConflict
				}
				if r.Status == RefundFailed {
					return ErrRefundFailed
				}
				refundID = r.ID
				return nil
			}
		}
		if amount != nil && amount.Currency != o.Total.Currency {
			return ErrRefundCurrency
		}
		if o.Paid.Amount <= 0 || (requester != RequesterAdmin && o.Status != StatusPaid && o.Status != StatusPartiallyRefunded) {
			return ErrNotPaid
		}
		left := o.Refundable()
		if requester != RequesterAdmin {
			left = o.BrandRefundable(requester)
		}
		if left <= 0 {
			return ErrNothingToRefund
		}
		amt := left
		if amount != nil {
			if amount.Amount > left {
				return errs.Invalid("amount.amount", "must be at most %s, what is left to refund", money.Money{Amount: left, Currency: o.Total.Currency})
			}
			amt = amount.Amount
		}
		// Checked before anything is recorded: a refund the provider can
		// never take would otherwise be stored, sent and failed.
		if err := s.gateway.CheckAmount(money.Money{Amount: amt, Currency: o.Total.Currency}); err != nil {
			return errs.Invalid("amount.amount", "%s cannot be refunded through the payment provider (%v)",
				money.Money{Amount: amt, Currency: o.Total.Currency}, err)
		}
		lines := []RefundLine{{BrandID: requester, Amount: amt}}
		if requester == RequesterAdmin {
			lines = o.allocate(amt)
		}
		now := s.clock()
		r := Refund{
			ID: id.New(PrefixRefund, now), OrderID: o.ID, RequestedBy: requester, IdempotencyKey: idempotencyKey,
			Amount: money.Money{Amount: amt, Currency: o.Total.Currency}, Lines: lines, Reason: RefundRequested,
			Status: RefundPending, CreatedAt: now, UpdatedAt: now,
		}
		refundID = r.ID
		return s.store.InsertRefund(ctx, r)
	})
	if err != nil {
		return Order{}, err
	}
	if err := s.settleRefund(ctx, orderID, refundID); err != nil {
		return Order{}, err
	}
	return s.GetOrder(ctx, p, orderID)
}

// settleRefund asks the provider for a pending refund and records the
// answer: succeeded, failed (ErrRefundFailed) or still pending (the webhook
// finishes it). When the provider cannot be reached the refund stays pending
// and the answer is ErrPaymentUnavailable. A refund no longer pending is
// left as it is, and so is one the provider acknowledged (its webhook
// settles it) or one older than RefundRetryWindow: providers forget
// idempotency keys after about a day, so sending either again, as a
// client's retry of its request would, could refund twice.
func (s *Service) settleRefund(ctx context.Context, orderID, refundID string) error {
	o, err := s.store.GetOrder(ctx, orderID)
	if err != nil {
		return err
	}
	i := o.findRefund("", refundID)
	if i < 0 {
		return fmt.Errorf("settle refund %s: %w", refundID, errs.ErrNotFound)
	}
	if r := o.Refunds[i]; r.Status != RefundPending {
		if r.Status == RefundFailed {
			return ErrRefundFailed
		}
		return nil
	}
	r := o.Refunds[i]
	if r.ProviderRefundID != "" || s.clock().Sub(r.CreatedAt) > s.cfg.RefundRetryWindow {
		return nil
	}
	pr, gerr := s.gateway.Refund(ctx, payment.RefundRequest{
		IntentID:       o.Payment.IntentID,
		Amount:         r.Amount,
		IdempotencyKey: "daihuo-refund-" + r.ID,
		Metadata:       map[string]string{"kind": "order", "order_id": o.ID, "refund_id": r.ID},
	})
	var result error
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		o, err := s.store.LockOrder(ctx, orderID)
		if err != nil {
			return err
		}
		i := o.findRefund("", refundID)
		if i < 0 || o.Refunds[i].Status != RefundPending {
			return nil // a webhook settled it meanwhile
		}
		now := s.clock()
		if gerr != nil {
			if !definitive(gerr) {
				// No answer: the sweep sends it again RefundRetryAfter from now.
				result = fmt.Errorf("%w (refund: %v)", ErrPaymentUnavailable, gerr)
				o.Refunds[i].UpdatedAt = now
				return s.store.UpdateRefund(ctx, o.Refunds[i])
			}
			result = fmt.Errorf("%w: %v", ErrRefundFailed, gerr)
			return s.moveRefund(ctx, &o, i, RefundFailed, gerr.Error(), now)
		}
		o.Refunds[i].ProviderRefundID = pr.ID
		switch pr.Status {
		case payment.RefundSucceeded:
			return s.moveRefund(ctx, &o, i, RefundSucceeded, "", now)
		case payment.RefundFailed, payment.RefundCanceled:
			result = ErrRefundFailed
			return s.moveRefund(ctx, &o, i, RefundFailed, pr.FailureReason, now)
		}
		// Pending at the provider: its webhook settles it, and the sweep asks
		// about it once that is late, counted from now.
		o.Refunds[i].UpdatedAt = now
		return s.store.UpdateRefund(ctx, o.Refunds[i])
	})
	if err != nil {
		return fmt.Errorf("record refund: %w", err)
	}
	return result
}

// definitive reports whether a provider error is an answer (a refusal that
// a retry would get again) rather than a failure to get one.
func definitive(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var e *errs.Error
	var ve *errs.ValidationError
	return errors.As(err, &e) || errors.As(err, &ve)
}
