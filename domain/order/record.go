package order

import (
	"context"
	"errors"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/group"
)

// maxRecordBatch bounds the orders one group commit records.
const maxRecordBatch = 500

// newRecorder group-commits new orders: the orders placed while a commit is
// in flight are recorded together by the next one, in one transaction
// (reservations attached, orders and items inserted, their created events
// written), so a flash sale's orders share commits instead of queueing on
// one commit each. Each order is answered with its own error.
func (s *Service) newRecorder() *group.Group[Order, error] {
	return group.New(maxRecordBatch, func(ctx context.Context, orders []Order) ([]error, error) {
		return s.recordBatch(ctx, orders), nil
	})
}

// record writes the pending order o (its reservations attached, its items,
// its created event) and returns once it is committed. ErrReservationLost
// says a reservation of o was gone, ErrDuplicateOrder that its key is taken.
// It waits for the commit even when the caller has gone, since the caller
// must know whether the order exists.
func (s *Service) record(ctx context.Context, o Order) error {
	errOne, err := s.rec.Do(context.WithoutCancel(ctx), o)
	if err != nil {
		return err
	}
	return errOne
}

// errRecordOneByOne makes a batch fall back to one transaction per order,
// so each order gets its own answer.
var errRecordOneByOne = errors.New("record orders one by one")

// recordBatch records orders in one transaction; when that fails (one order
// lost a reservation, a key is taken, anything else), each order is
// recorded again in a transaction of its own and answered with its result.
func (s *Service) recordBatch(ctx context.Context, batch []Order) []error {
	ctx, cancel := s.cleanupCtx(ctx)
	defer cancel()
	if len(batch) > 1 {
		err := s.tx.InTx(ctx, func(ctx context.Context) error {
			ids := make([]string, len(batch))
			orders := batch
			for i, o := range batch {
				ids[i] = o.ID
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
			return make([]error, len(batch))
		}
	}
	out := make([]error, len(batch))
	for i, o := range batch {
		out[i] = s.recordOne(ctx, o)
	}
	return out
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
