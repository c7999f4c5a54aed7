// Package streaming moves daihuo's events: the outbox relay that publishes
// committed events to Kafka, the producer, the consumer runner that applies
// events exactly once through a database deduplication mark, the CloudEvents
// envelope on Kafka messages, and the embedded broker of the default run.
package streaming

import (
	"context"
	"time"

	"github.com/daihuo/daihuo/domain/event"
)

// OutboxStore is what the relay needs from the outbox table. It is
// implemented by storage.Outbox.
type OutboxStore interface {
	// ProcessBatch takes up to limit of the oldest unsent events exclusively,
	// calls publish with them in order and marks them sent in the same
	// database transaction, returning how many it took. It returns 0 when the
	// outbox is empty or another relay holds it; when publish or the mark
	// fails, nothing is marked and the events are taken again later.
	ProcessBatch(ctx context.Context, limit int, publish func(ctx context.Context, evs []event.Event) error) (int, error)
	// Listen calls wake once it is listening and again on every notification
	// that new events were written; it returns nil when ctx ends and an error
	// when the connection fails.
	Listen(ctx context.Context, wake func()) error
	// Backlog reports how many events are unsent and how old the oldest is.
	Backlog(ctx context.Context) (count int64, oldest time.Duration, err error)
	// PurgeSent deletes up to limit events sent more than olderThan ago.
	PurgeSent(ctx context.Context, olderThan time.Duration, limit int) (int64, error)
}

// Deduper runs a consumer's effects at most once per event. It is
// implemented by storage.Inbox.
type Deduper interface {
	// Once runs fn in a database transaction that also records (consumer,
	// eventID); when the pair was already recorded it skips fn and returns
	// applied=false. fn's context carries the transaction.
	Once(ctx context.Context, consumer, eventID string, fn func(ctx context.Context) error) (applied bool, err error)
}

// Handler applies one event. An error makes the consumer retry the same
// event later; it never skips it.
type Handler func(ctx context.Context, ev event.Event) error

// sleep waits for d or until ctx ends, reporting whether the full wait elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff is a capped exponential delay.
type backoff struct {
	min, max, cur time.Duration
}

// next returns the delay to wait now and doubles the following one.
func (b *backoff) next() time.Duration {
	if b.cur < b.min {
		b.cur = b.min
	}
	d := b.cur
	b.cur = min(b.cur*2, b.max)
	return d
}

// reset starts the delays again from min.
func (b *backoff) reset() { b.cur = 0 }
