package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/daihuo/daihuo/domain/payment"
)

// SweepResult counts what one Sweep did.
type SweepResult struct {
	Expired  int // pending orders expired, their stock given back
	Orphans  int // reservations without an order given back
	Refunds  int // refunds the provider never acknowledged, sent again
	Failures int // refunds that are still pending or failed on retry
	Checked  int // refunds pending at the provider whose outcome was asked for
}

// RunExpiry sweeps every Config.SweepInterval until ctx ends, then returns
// nil. It is safe on every node at once: each transaction takes its rows
// with SKIP LOCKED, so nodes share the work instead of waiting.
func (s *Service) RunExpiry(ctx context.Context) error {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("order sweep", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep does the due work once: it expires pending orders past their
// expiry (stock back, intent cancelled, event cancelled with reason
// expired), gives back reservations that never got an order (a crash
// between reservation and order), and sends again the refunds the provider
// never acknowledged (see Config.RefundRetryAfter), and asks the provider
// how the refunds it acknowledged as pending ended when their webhooks are
// late (Config.RefundCheckAfter). Expiries and orphans run in transactions
// of Config.SweepBatch until none is due; refunds, a batch per sweep.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	for {
		n, err := s.expireBatch(ctx)
		res.Expired += n
		if err != nil {
			return res, err
		}
		if n < s.cfg.SweepBatch {
			break
		}
	}
	for {
		n, err := s.store.ReleaseOrphanReservations(ctx, s.clock().Add(-s.cfg.OrphanGrace), s.cfg.SweepBatch)
		res.Orphans += n
		if err != nil {
			return res, err
		}
		if n < s.cfg.SweepBatch {
			break
		}
	}
	now := s.clock()
	refunds, err := s.store.UnsentRefunds(ctx, now.Add(-s.cfg.RefundRetryAfter), now.Add(-s.cfg.RefundRetryWindow), s.cfg.SweepBatch)
	if err != nil {
		return res, err
	}
	for _, r := range refunds {
		res.Refunds++
		if err := s.settleRefund(ctx, r.OrderID, r.ID); err != nil {
			res.Failures++
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if !errors.Is(err, ErrRefundFailed) {
				s.log.Warn("retry refund", "order_id", r.OrderID, "refund_id", r.ID, "error", err)
			}
		}
	}
	acked, err := s.store.AcknowledgedRefunds(ctx, now.Add(-s.cfg.RefundCheckAfter), s.cfg.SweepBatch)
	if err != nil {
		return res, err
	}
	for _, r := range acked {
		res.Checked++
		if err := s.checkRefund(ctx, r); err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			s.log.Warn("check refund", "order_id", r.OrderID, "refund_id", r.ID, "provider_refund_id", r.ProviderRefundID, "error", err)
		}
	}
	return res, nil
}

// checkRefund asks the provider how a refund it acknowledged as pending
// ended, its webhook being late, and records the answer as the webhook
// would. A refund still pending, or one the provider could not tell about,
// is checked again Config.RefundCheckAfter later.
func (s *Service) checkRefund(ctx context.Context, r Refund) error {
	pr, gerr := s.gateway.GetRefund(ctx, r.ProviderRefundID)
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		o, err := s.store.LockOrder(ctx, r.OrderID)
		if err != nil {
			return err
		}
		i := o.findRefund(r.ProviderRefundID, r.ID)
		if i < 0 || o.Refunds[i].Status != RefundPending {
			return nil // its webhook came meanwhile
		}
		now := s.clock()
		if gerr == nil {
			switch pr.Status {
			case payment.RefundSucceeded:
				return s.moveRefund(ctx, &o, i, RefundSucceeded, "", now)
			case payment.RefundFailed, payment.RefundCanceled:
				return s.moveRefund(ctx, &o, i, RefundFailed, pr.FailureReason, now)
			}
		}
		o.Refunds[i].UpdatedAt = now
		return s.store.UpdateRefund(ctx, o.Refunds[i])
	})
	if err != nil {
		return fmt.Errorf("record refund check: %w", err)
	}
	if gerr != nil {
		return fmt.Errorf("ask the provider: %w", gerr)
	}
	return nil
}

// StaleRefunds counts the refunds the provider never acknowledged within
// Config.RefundRetryWindow: the sweep no longer sends them (a resend could
// refund twice), so a person must check each with the provider.
func (s *Service) StaleRefunds(ctx context.Context) (int, error) {
	return s.store.CountUnsentRefunds(ctx, s.clock().Add(-s.cfg.RefundRetryWindow))
}

// UnrefundedLatePayments counts the cancelled or expired orders that hold
// a shopper's money no refund is returning: a payment that arrived after
// the order closed, whose refund the provider refused. Nothing retries a
// refusal, so a person must return each (an admin refund).
func (s *Service) UnrefundedLatePayments(ctx context.Context) (int, error) {
	return s.store.CountUnrefundedClosed(ctx)
}

// expireBatch expires up to SweepBatch due orders in one transaction, then
// cancels their intents.
func (s *Service) expireBatch(ctx context.Context) (int, error) {
	var due []Order
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		now := s.clock()
		var err error
		if due, err = s.store.LockDueOrders(ctx, now, s.cfg.SweepBatch); err != nil || len(due) == 0 {
			return err
		}
		return s.closeUnpaid(ctx, due, StatusExpired, ReasonExpired, now)
	})
	if err != nil {
		return 0, err
	}
	for _, o := range due {
		s.cancelIntent(ctx, o)
	}
	return len(due), nil
}
