package local

import (
	"context"
	"fmt"
	"time"

	"github.com/daihuo/daihuo/payments/internal/wire"
)

// claimBatch is how many due events one DeliverPending call takes.
const claimBatch = 32

// markTimeout bounds recording the outcome of a delivery.
const markTimeout = 5 * time.Second

// Run delivers queued and failed webhooks until ctx ends: at once for events
// this process queued, every PollInterval for the rest (retries, and events
// of other nodes or of a previous run). Run it on every node that creates
// payments, or on at least one: claims keep two nodes from delivering the
// same attempt. It returns nil when ctx ends.
func (s *Simulator) Run(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		n, err := s.DeliverPending(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("local payments: deliver webhooks", "error", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		if n == claimBatch {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-s.wake:
		}
	}
}

// DeliverPending makes one delivery attempt for each of up to claimBatch due
// events and returns how many it attempted. Run calls it; tests and tools
// may too.
func (s *Simulator) DeliverPending(ctx context.Context) (int, error) {
	evs, err := s.store.ClaimEvents(ctx, now(), s.lease, claimBatch)
	if err != nil {
		return 0, fmt.Errorf("claim webhooks: %w", err)
	}
	for _, ev := range evs {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		s.attempt(ctx, ev)
	}
	return len(evs), nil
}

// attempt signs ev afresh, hands it to Deliver and records the outcome; a
// failure schedules the next attempt after the backoff.
func (s *Simulator) attempt(ctx context.Context, ev EventRecord) {
	header := wire.Sign(ev.Payload, s.cfg.WebhookSecret, now())
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DeliveryTimeout)
	err := s.cfg.Deliver(dctx, ev.Payload, header)
	cancel()
	// The outcome is recorded even when ctx ends meanwhile (a shutdown):
	// otherwise a delivered event would be delivered again.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	if err == nil {
		if merr := s.store.MarkDelivered(mctx, ev.ID, now()); merr != nil {
			// The next claim after the lease delivers it again: at least once.
			s.log.Warn("local payments: mark webhook delivered", "event_id", ev.ID, "error", merr)
		}
		return
	}
	attempts := ev.Attempts + 1
	next := now().Add(s.backoff(attempts))
	s.log.Warn("local payments: webhook delivery failed", "event_id", ev.ID, "type", ev.Type,
		"attempt", attempts, "retry_at", next, "error", err)
	if merr := s.store.MarkFailed(mctx, ev.ID, attempts, next, err.Error()); merr != nil {
		s.log.Warn("local payments: mark webhook failed", "event_id", ev.ID, "error", merr)
	}
}

// backoff is the wait after the attempts-th failure: RetryBase doubled at
// every further failure, at most RetryMax.
func (s *Simulator) backoff(attempts int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < attempts && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryMax)
}

// notify wakes Run for events this process just queued.
func (s *Simulator) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
