package streaming

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/daihuo/daihuo/domain/event"
)

// Relay publishes the events committed to the outbox, oldest first, and marks
// them sent once the broker acknowledged them. Several relays may run at once:
// the store lets one of them work at a time.
type Relay struct {
	store    OutboxStore
	producer *Producer
	logger   *slog.Logger
	metrics  *Metrics

	// BatchSize is the most events published in one batch.
	BatchSize int
	// PollInterval is how long the relay sleeps without a notification
	// before it looks at the outbox again.
	PollInterval time.Duration
	// BatchTimeout bounds publishing and marking one batch.
	BatchTimeout time.Duration
	// Retention is how long sent events stay in the outbox; 0 keeps them.
	Retention time.Duration
	// PurgeInterval is how often sent events older than Retention are deleted.
	PurgeInterval time.Duration
	// BackoffMin and BackoffMax bound the wait after a failed batch.
	BackoffMin, BackoffMax time.Duration
}

// NewRelay returns a relay with production defaults: batches of 500, a 1 s
// fallback poll, 7 days of retention purged every minute. Change the exported
// fields before Run to tune it.
func NewRelay(store OutboxStore, producer *Producer, logger *slog.Logger, metrics *Metrics) *Relay {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	metrics.exportRelay()
	return &Relay{
		store:         store,
		producer:      producer,
		logger:        logger.With("component", "relay"),
		metrics:       metrics,
		BatchSize:     500,
		PollInterval:  time.Second,
		BatchTimeout:  30 * time.Second,
		Retention:     7 * 24 * time.Hour,
		PurgeInterval: time.Minute,
		BackoffMin:    100 * time.Millisecond,
		BackoffMax:    5 * time.Second,
	}
}

// purgeBatch is how many sent events one purge statement deletes, and
// purgeRounds how many statements one purge runs at most.
const (
	purgeBatch  = 1000
	purgeRounds = 20
)

// Run publishes until ctx ends, then returns nil. It drains the outbox
// batch after batch, then waits for a database notification or the poll
// interval. Failed batches are retried after a growing pause.
func (r *Relay) Run(ctx context.Context) error {
	if r.BatchSize <= 0 || r.PollInterval <= 0 || r.BatchTimeout <= 0 || r.PurgeInterval <= 0 {
		return errors.New("relay: batch size, poll interval, batch timeout and purge interval must be positive")
	}
	wake := make(chan struct{}, 1)
	lctx, stopListen := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		r.listen(lctx, func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		})
	})
	defer wg.Wait()
	defer stopListen()

	bo := backoff{min: r.BackoffMin, max: r.BackoffMax}
	nextPurge := time.Now()
	for {
		if err := r.drain(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.metrics.incPublishErrors()
			r.updateBacklog(ctx) // the backlog grows while publishing fails: the gauges must say so
			d := bo.next()
			r.logger.Error("publish outbox batch", "err", err, "retry_in", d)
			if !sleep(ctx, d) {
				return nil
			}
			continue
		}
		bo.reset()
		r.updateBacklog(ctx)
		if r.Retention > 0 && !time.Now().Before(nextPurge) {
			r.purge(ctx)
			nextPurge = time.Now().Add(r.PurgeInterval)
		}
		t := time.NewTimer(r.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// drain publishes full batches until a batch comes back short, counting
// each batch by topic once it is marked sent.
func (r *Relay) drain(ctx context.Context) error {
	for ctx.Err() == nil {
		// Not cancelled with ctx: the batch's transaction (and the lock that
		// keeps other relays out) must outlive a write the producer is still
		// finishing, or another relay could publish newer events of the
		// same key first. BatchTimeout bounds it, above the producer's worst
		// case; a shutdown waits for the batch in flight.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.BatchTimeout)
		counts := map[string]int{}
		n, err := r.store.ProcessBatch(bctx, r.BatchSize, func(ctx context.Context, evs []event.Event) error {
			if err := r.producer.Publish(ctx, evs...); err != nil {
				return err
			}
			for _, ev := range evs {
				counts[ev.Topic]++
			}
			return nil
		})
		cancel()
		if err != nil {
			return err // a batch not marked sent is published again: not counted
		}
		for topic, n := range counts {
			r.metrics.addPublished(topic, n)
		}
		if n < r.BatchSize {
			return nil
		}
	}
	return ctx.Err()
}

// listen keeps a notification listener running until ctx ends,
// reconnecting after failures.
func (r *Relay) listen(ctx context.Context, wake func()) {
	bo := backoff{min: r.BackoffMin, max: r.BackoffMax}
	for {
		start := time.Now()
		err := r.store.Listen(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			bo.reset()
		}
		d := bo.next()
		r.logger.Warn("outbox listener stopped, falling back to polling", "err", err, "retry_in", d)
		if !sleep(ctx, d) {
			return
		}
	}
}

func (r *Relay) updateBacklog(ctx context.Context) {
	if r.metrics == nil {
		return
	}
	n, age, err := r.store.Backlog(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.logger.Warn("outbox backlog", "err", err)
		}
		return
	}
	r.metrics.setBacklog(n, age)
}

// purge deletes sent events older than the retention, a batch at a time.
func (r *Relay) purge(ctx context.Context) {
	var total int64
	for range purgeRounds {
		n, err := r.store.PurgeSent(ctx, r.Retention, purgeBatch)
		if err != nil {
			if ctx.Err() == nil {
				r.logger.Warn("purge outbox", "err", err)
			}
			return
		}
		total += n
		if n < purgeBatch {
			break
		}
	}
	if total > 0 {
		r.logger.Info("purged sent outbox events", "count", total)
	}
}
