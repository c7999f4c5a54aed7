package order

import (
	"context"
	"errors"
	"time"
)

// SweepResult counts what one Sweep did.
type SweepResult struct {
	Expired  int // pending orders expired, their stock given back
	Orphans  int // reservations without an order given back
	Refunds  int // refunds the provider never acknowledged, sent again
	Failures int // refunds that are still pending or failed on retry
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
// never acknowledged (see Config.RefundRetryAfter). Each kind runs in transactions of Config.SweepBatch until
// none is due.
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
	return res, nil
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
