package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/daihuo/daihuo/domain/event"
)

// OutboxChannel is the Postgres notification channel that wakes relays when
// events have been committed to the outbox.
const OutboxChannel = "daihuo_outbox"

// relayLockKey is the transaction-level advisory lock a relay holds while it
// publishes a batch, so that one relay works at a time.
const relayLockKey int64 = 0x6461_6968_756f // "daihuo"

// Outbox is the transactional outbox: Publish writes events in the caller's
// transaction, and the relay takes them out in order with ProcessBatch.
type Outbox struct {
	db     *gorm.DB
	dsn    string
	notify *notifier
}

// NewOutbox returns the outbox in db; dsn is used for the dedicated
// connection that listens for notifications.
func NewOutbox(db *gorm.DB, dsn string) *Outbox {
	return &Outbox{db: db, dsn: dsn, notify: &notifier{db: db}}
}

// notifier wakes the relays once events have committed. NOTIFY is sent
// after the writing transaction, never inside it: Postgres serialises the
// commits of transactions that notify (they take one database-wide lock
// until their commit is flushed), which would make every write of the
// service queue behind every other. Bursts collapse: while one NOTIFY is on
// its way, further pokes only ask for one more after it. If the process
// dies before notifying, the relays' poll finds the events.
type notifier struct {
	db              *gorm.DB
	mu              sync.Mutex
	inFlight, again bool
}

// poke asks for a NOTIFY soon; it never waits for it.
func (n *notifier) poke() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.inFlight {
		n.again = true
		return
	}
	n.inFlight = true
	go n.send()
}

func (n *notifier) send() {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = n.db.WithContext(ctx).Exec("SELECT pg_notify(?, '')", OutboxChannel).Error // a lost wake-up costs one poll interval
		cancel()
		n.mu.Lock()
		if !n.again {
			n.inFlight = false
			n.mu.Unlock()
			return
		}
		n.again = false
		n.mu.Unlock()
	}
}

// outboxRow is a row of the outbox table.
type outboxRow struct {
	ID         int64 `gorm:"primaryKey"`
	EventID    string
	Topic      string
	EventType  string
	Source     string
	Subject    string
	OccurredAt time.Time
	Data       string    `gorm:"type:jsonb"`
	CreatedAt  time.Time `gorm:"->"`
	SentAt     *time.Time
}

func (outboxRow) TableName() string { return "outbox" }

func outboxFromDomain(ev event.Event) (outboxRow, error) {
	switch {
	case ev.ID == "":
		return outboxRow{}, errors.New("event has no id")
	case ev.Type == "", ev.Source == "", ev.Topic == "", ev.Subject == "":
		return outboxRow{}, fmt.Errorf("event %s: type, source, topic and subject are required", ev.ID)
	case ev.Time.IsZero():
		return outboxRow{}, fmt.Errorf("event %s: no time", ev.ID)
	}
	data := string(ev.Data)
	if len(ev.Data) == 0 {
		data = "null"
	} else if !json.Valid(ev.Data) {
		return outboxRow{}, fmt.Errorf("event %s: data is not JSON", ev.ID)
	}
	return outboxRow{
		EventID:    ev.ID,
		Topic:      ev.Topic,
		EventType:  ev.Type,
		Source:     ev.Source,
		Subject:    ev.Subject,
		OccurredAt: ev.Time.UTC(),
		Data:       data,
	}, nil
}

func (r outboxRow) toDomain() event.Event {
	return event.Event{
		ID:      r.EventID,
		Type:    r.EventType,
		Source:  r.Source,
		Topic:   r.Topic,
		Subject: r.Subject,
		Time:    r.OccurredAt.UTC(),
		Data:    json.RawMessage(r.Data),
	}
}

// Publish writes evs to the outbox. Called with a context from
// Transactor.InTx it joins that transaction, so the events are published if
// and only if the state change they describe commits.
func (o *Outbox) Publish(ctx context.Context, evs ...event.Event) error {
	if len(evs) == 0 {
		return nil
	}
	n := len(evs)
	ids, topics, types, sources, subjects, data := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	times := make([]time.Time, n)
	for i, ev := range evs {
		r, err := outboxFromDomain(ev)
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		ids[i], topics[i], types[i], sources[i], subjects[i], times[i], data[i] = r.EventID, r.Topic, r.EventType, r.Source, r.Subject, r.OccurredAt, r.Data
	}
	_, err := rawConn(ctx, o.db).ExecContext(ctx, `INSERT INTO outbox (event_id, topic, event_type, source, subject, occurred_at, data)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::jsonb[])`,
		ids, topics, types, sources, subjects, times, data)
	if err != nil {
		return fmt.Errorf("write outbox: %w", err)
	}
	afterCommit(ctx, o.notify.poke)
	return nil
}

// ProcessBatch takes up to limit of the oldest unsent events, calls publish
// with them in id order and marks them sent, all in one transaction that
// first takes an advisory lock: when another relay holds it, ProcessBatch
// returns 0 at once. If publish or the mark fails, or ctx ends before the
// commit, nothing is marked and the events are published again by a later
// batch (at-least-once).
func (o *Outbox) ProcessBatch(ctx context.Context, limit int, publish func(ctx context.Context, evs []event.Event) error) (int, error) {
	var n int
	err := o.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var locked bool
		if err := tx.Raw("SELECT pg_try_advisory_xact_lock(?)", relayLockKey).Scan(&locked).Error; err != nil {
			return fmt.Errorf("lock outbox: %w", err)
		}
		if !locked {
			return nil
		}
		var rows []outboxRow
		err := tx.Raw(`SELECT id, event_id, topic, event_type, source, subject, occurred_at, data, created_at
			FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT ? FOR UPDATE`, limit).Scan(&rows).Error
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		evs := make([]event.Event, len(rows))
		ids := make([]int64, len(rows))
		for i, r := range rows {
			evs[i] = r.toDomain()
			ids[i] = r.ID
		}
		if err := publish(ctx, evs); err != nil {
			return fmt.Errorf("publish outbox batch: %w", err)
		}
		if _, err := tx.Statement.ConnPool.ExecContext(ctx, "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", ids); err != nil {
			return fmt.Errorf("mark outbox sent: %w", err)
		}
		n = len(rows)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Listen opens a dedicated connection, listens on OutboxChannel, calls wake
// once listening and then on every notification. It returns nil when ctx
// ends and an error when the connection fails; the caller reconnects.
func (o *Outbox) Listen(ctx context.Context, wake func()) error {
	c, err := pgx.Connect(ctx, o.dsn)
	if err != nil {
		return fmt.Errorf("outbox listen: connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		c.Close(cctx)
	}()
	if _, err := c.Exec(ctx, "LISTEN "+OutboxChannel); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("outbox listen: %w", err)
	}
	// Events written before LISTEN took effect sent no notification we saw.
	wake()
	for {
		if _, err := c.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("outbox listen: %w", err)
		}
		wake()
	}
}

// Backlog reports how many events are unsent and the age of the oldest one,
// measured on the database clock (0 when there is none).
func (o *Outbox) Backlog(ctx context.Context) (count int64, oldest time.Duration, err error) {
	var r struct {
		N   int64
		Age float64
	}
	err = conn(ctx, o.db).Raw(`SELECT count(*) AS n,
		coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS age
		FROM outbox WHERE sent_at IS NULL`).Scan(&r).Error
	if err != nil {
		return 0, 0, fmt.Errorf("outbox backlog: %w", err)
	}
	return r.N, time.Duration(max(r.Age, 0) * float64(time.Second)), nil
}

// PurgeSent deletes up to limit events that were sent more than olderThan
// ago and reports how many it deleted.
func (o *Outbox) PurgeSent(ctx context.Context, olderThan time.Duration, limit int) (int64, error) {
	res := conn(ctx, o.db).Exec(`DELETE FROM outbox WHERE id IN (
		SELECT id FROM outbox WHERE sent_at < now() - make_interval(secs => ?)
		ORDER BY sent_at LIMIT ?)`, olderThan.Seconds(), limit)
	if res.Error != nil {
		return 0, fmt.Errorf("purge outbox: %w", res.Error)
	}
	return res.RowsAffected, nil
}
