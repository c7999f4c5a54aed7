package order

import (
	"context"
	"errors"
	"sync"

	"github.com/daihuo/daihuo/domain/event"
)

// maxRecordBatch bounds the orders one group commit records.
const maxRecordBatch = 500

// recorder group-commits new orders: the orders placed while a commit is
// in flight are recorded together by the next one, in one transaction
// (reservations attached, orders and items inserted, their created events
// written). Every commit that writes an event wakes the outbox relay, and
// Postgres serialises such commits (the NOTIFY queue lock is held until the
// commit is flushed), so one commit per order would cap how fast a flash
// sale can sell; one per batch does not. There is no goroutine to stop: the
// caller that finds no commit in flight leads the batch, and a leader that
// finds more orders queued after its commit hands on to a new goroutine.
type recorder struct {
	mu    sync.Mutex
	queue []*recordCall
	busy  bool
}

// recordCall is an order waiting to be recorded.
type recordCall struct {
	o    Order
	done chan error
}

// record writes the pending order o (its reservations attached, its items,
// its created event) and returns once it is committed. ErrReservationLost
// says a reservation of o was gone, ErrDuplicateOrder that its key is taken.
func (s *Service) record(ctx context.Context, o Order) error {
	c := &recordCall{o: o, done: make(chan error, 1)}
	r := &s.rec
	r.mu.Lock()
	r.queue = append(r.queue, c)
	lead := !r.busy
	r.busy = true
	r.mu.Unlock()
	if lead {
		s.drainRecords(context.WithoutCancel(ctx))
	}
	return <-c.done
}

// drainRecords commits one batch of queued orders, then hands what queued
// meanwhile to a new goroutine, or stops leading when nothing did.
func (s *Service) drainRecords(ctx context.Context) {
	r := &s.rec
	r.mu.Lock()
	n := min(len(r.queue), maxRecordBatch)
	batch := r.queue[:n:n]
	if r.queue = r.queue[n:]; len(r.queue) == 0 {
		r.queue = nil
	}
	r.mu.Unlock()

	s.recordBatch(ctx, batch)

	r.mu.Lock()
	more := len(r.queue) > 0
	r.busy = more
	r.mu.Unlock()
	if more {
		go s.drainRecords(ctx)
	}
}

// errRecordOneByOne makes a batch fall back to one transaction per order,
// so each order gets its own answer.
var errRecordOneByOne = errors.New("record orders one by one")

// recordBatch records batch in one transaction; when that fails (one order
// lost a reservation, a key is taken, anything else), each order is
// recorded again in a transaction of its own and answered with its result.
func (s *Service) recordBatch(ctx context.Context, batch []*recordCall) {
	ctx, cancel := s.cleanupCtx(ctx)
	defer cancel()
	if len(batch) > 1 {
		err := s.tx.InTx(ctx, func(ctx context.Context) error {
			ids := make([]string, len(batch))
			orders := make([]Order, len(batch))
			for i, c := range batch {
				ids[i], orders[i] = c.o.ID, c.o
			}
			n, err := s.store.AttachReservationsOf(ctx, ids)
			if err != nil {
				return err
			}
			for _, o := range orders {
				if n[o.ID] != len(o.Items) {
					return errRecordOneByOne
				}
			}
			if err := s.store.InsertOrders(ctx, orders); err != nil {
				return err
			}
			evs := make([]event.Event, len(orders))
			for i, o := range orders {
				if evs[i], err = createdEvent(o); err != nil {
					return err
				}
			}
			return s.pub.Publish(ctx, evs...)
		})
		if err == nil {
			for _, c := range batch {
				c.done <- nil
			}
			return
		}
	}
	for _, c := range batch {
		c.done <- s.recordOne(ctx, c.o)
	}
}

// recordOne records o in a transaction of its own.
func (s *Service) recordOne(ctx context.Context, o Order) error {
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		n, err := s.store.AttachReservations(ctx, o.ID)
		if err != nil {
			return err
		}
		if n != len(o.Items) {
			return ErrReservationLost
		}
		if err := s.store.InsertOrder(ctx, o); err != nil {
			return err
		}
		ev, err := createdEvent(o)
		if err != nil {
			return err
		}
		return s.pub.Publish(ctx, ev)
	})
}
