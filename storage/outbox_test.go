package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
)

func outboxEvent(subject string, seq int) event.Event {
	ev, err := event.New("daihuo.test", "daihuo.test.happened.v1", subject, map[string]int{"seq": seq}, time.Now())
	if err != nil {
		panic(err) // marshalling a map of ints cannot fail
	}
	return ev
}

// newOutbox returns an outbox on a fresh database, a transactor on it and a
// function that runs a counting query.
func newOutbox(t *testing.T) (*storage.Outbox, *storage.Transactor, func(query string, args ...any) int64) {
	t.Helper()
	dsn := storagetest.NewDSN(t)
	db, err := storage.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { storage.Close(db) })
	count := func(query string, args ...any) int64 {
		t.Helper()
		var n int64
		if err := db.Raw(query, args...).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	return storage.NewOutbox(db, dsn), storage.NewTransactor(db), count
}

func TestOutboxPublishRejectsIncompleteEvents(t *testing.T) {
	ob, _, count := newOutbox(t)
	for name, mutate := range map[string]func(*event.Event){
		"no id":         func(e *event.Event) { e.ID = "" },
		"no type":       func(e *event.Event) { e.Type = "" },
		"no source":     func(e *event.Event) { e.Source = "" },
		"no topic":      func(e *event.Event) { e.Topic = "" },
		"no subject":    func(e *event.Event) { e.Subject = "" },
		"no time":       func(e *event.Event) { e.Time = time.Time{} },
		"data not json": func(e *event.Event) { e.Data = json.RawMessage("{oops") },
	} {
		t.Run(name, func(t *testing.T) {
			ev := outboxEvent("agg_1", 0)
			mutate(&ev)
			if err := ob.Publish(context.Background(), outboxEvent("agg_1", 1), ev); err == nil {
				t.Fatal("Publish succeeded")
			}
		})
	}
	if n := count("SELECT count(*) FROM outbox"); n != 0 {
		t.Fatalf("%d rows written by failed publishes", n)
	}
}

func TestOutboxPublishJoinsTheCallersTransaction(t *testing.T) {
	ob, tx, count := newOutbox(t)
	ctx := context.Background()
	boom := errors.New("boom")
	err := tx.InTx(ctx, func(ctx context.Context) error {
		if err := ob.Publish(ctx, outboxEvent("agg_1", 0), outboxEvent("agg_1", 1)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want boom", err)
	}
	if n := count("SELECT count(*) FROM outbox"); n != 0 {
		t.Fatalf("rolled back transaction left %d rows", n)
	}
	if err := tx.InTx(ctx, func(ctx context.Context) error { return ob.Publish(ctx, outboxEvent("agg_1", 2)) }); err != nil {
		t.Fatal(err)
	}
	if n := count("SELECT count(*) FROM outbox WHERE sent_at IS NULL"); n != 1 {
		t.Fatalf("committed transaction left %d unsent rows, want 1", n)
	}
}

func TestOutboxProcessBatchTakesOldestFirstAndMarksThemSent(t *testing.T) {
	ob, _, count := newOutbox(t)
	ctx := context.Background()
	var want []event.Event
	for i := range 5 {
		ev := outboxEvent("agg_1", i)
		want = append(want, ev)
		if err := ob.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	var got []event.Event
	take := func(_ context.Context, evs []event.Event) error {
		got = append(got, evs...)
		return nil
	}
	for _, tc := range []struct{ limit, want int }{{3, 3}, {3, 2}, {3, 0}} {
		n, err := ob.ProcessBatch(ctx, tc.limit, take)
		if err != nil || n != tc.want {
			t.Fatalf("ProcessBatch(%d) = %d, %v; want %d", tc.limit, n, err, tc.want)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("published %d events, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Type != w.Type || g.Source != w.Source || g.Topic != w.Topic ||
			g.Subject != w.Subject || !g.Time.Equal(w.Time.Truncate(time.Microsecond)) || g.Time.Location() != time.UTC {
			t.Fatalf("event %d:\n got %+v\nwant %+v", i, g, w)
		}
		var gd, wd map[string]int
		if err := json.Unmarshal(g.Data, &gd); err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(w.Data, &wd)
		if gd["seq"] != wd["seq"] {
			t.Fatalf("event %d data %s, want %s", i, g.Data, w.Data)
		}
	}
	if n := count("SELECT count(*) FROM outbox WHERE sent_at IS NULL"); n != 0 {
		t.Fatalf("%d rows left unsent", n)
	}
}

func TestOutboxProcessBatchLeavesEventsUnsentWhenPublishOrMarkFails(t *testing.T) {
	for name, publish := range map[string]func(cancel context.CancelFunc) error{
		"publish fails":                  func(context.CancelFunc) error { return errors.New("broker down") },
		"context ends after the publish": func(cancel context.CancelFunc) error { cancel(); return nil },
	} {
		t.Run(name, func(t *testing.T) {
			ob, _, _ := newOutbox(t)
			ev := outboxEvent("agg_1", 0)
			if err := ob.Publish(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			n, err := ob.ProcessBatch(ctx, 10, func(context.Context, []event.Event) error { return publish(cancel) })
			if err == nil || n != 0 {
				t.Fatalf("ProcessBatch = %d, %v; want an error", n, err)
			}
			// After a cancelled context the server may hold the aborted
			// transaction's lock a moment longer: the outbox looks busy.
			var again []event.Event
			n, err = 0, nil
			for deadline := time.Now().Add(20 * time.Second); n == 0 && err == nil && time.Now().Before(deadline); {
				n, err = ob.ProcessBatch(context.Background(), 10, func(_ context.Context, evs []event.Event) error {
					again = evs
					return nil
				})
				if n == 0 {
					time.Sleep(10 * time.Millisecond)
				}
			}
			if err != nil || n != 1 || again[0].ID != ev.ID {
				t.Fatalf("retry = %d, %v, %v; want the same event again", n, err, again)
			}
		})
	}
}

func TestOutboxProcessBatchLetsOneRelayWorkAtATime(t *testing.T) {
	ob, _, _ := newOutbox(t)
	ctx := context.Background()
	if err := ob.Publish(ctx, outboxEvent("agg_1", 0), outboxEvent("agg_2", 0)); err != nil {
		t.Fatal(err)
	}
	inside, release := make(chan struct{}), make(chan struct{})
	type result struct {
		n   int
		err error
	}
	first := make(chan result, 1)
	go func() {
		n, err := ob.ProcessBatch(ctx, 10, func(context.Context, []event.Event) error {
			close(inside)
			<-release
			return nil
		})
		first <- result{n, err}
	}()
	<-inside
	n, err := ob.ProcessBatch(ctx, 10, func(context.Context, []event.Event) error {
		t.Error("second relay published while the first held the outbox")
		return nil
	})
	if err != nil || n != 0 {
		t.Fatalf("second ProcessBatch = %d, %v; want 0, nil", n, err)
	}
	close(release)
	if r := <-first; r.err != nil || r.n != 2 {
		t.Fatalf("first ProcessBatch = %d, %v; want 2", r.n, r.err)
	}
}

func TestOutboxListenWakesOnInsert(t *testing.T) {
	ob, _, _ := newOutbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	wakes := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() { done <- ob.Listen(ctx, func() { wakes <- struct{}{} }) }()
	wait := func(what string) {
		t.Helper()
		select {
		case <-wakes:
		case err := <-done:
			t.Fatalf("Listen returned %v while waiting for %s", err, what)
		case <-time.After(20 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	wait("the wake-up once listening")
	if err := ob.Publish(context.Background(), outboxEvent("agg_1", 0)); err != nil {
		t.Fatal(err)
	}
	wait("the wake-up after an insert")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Listen after cancel = %v, want nil", err)
	}
}

func TestOutboxBacklogAndPurge(t *testing.T) {
	ob, _, count := newOutbox(t)
	ctx := context.Background()
	n, age, err := ob.Backlog(ctx)
	if err != nil || n != 0 || age != 0 {
		t.Fatalf("empty backlog = %d, %v, %v", n, age, err)
	}
	for i := range 6 {
		if err := ob.Publish(ctx, outboxEvent("agg_1", i)); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(q string) {
		t.Helper()
		if n := count("WITH u AS (" + q + " RETURNING 1) SELECT count(*) FROM u"); n == 0 {
			t.Fatalf("%s changed no row", q)
		}
	}
	// Two rows sent 8 days ago, one sent an hour ago, three unsent, the
	// oldest of which was written two hours ago.
	exec("UPDATE outbox SET sent_at = now() - interval '8 days' WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT 2)")
	exec("UPDATE outbox SET sent_at = now() - interval '1 hour' WHERE id = (SELECT id FROM outbox ORDER BY id OFFSET 2 LIMIT 1)")
	exec("UPDATE outbox SET created_at = now() - interval '2 hours' WHERE id = (SELECT id FROM outbox ORDER BY id OFFSET 3 LIMIT 1)")
	n, age, err = ob.Backlog(ctx)
	if err != nil || n != 3 || age < 2*time.Hour || age > 3*time.Hour {
		t.Fatalf("backlog = %d, %v, %v; want 3 events, the oldest about 2 h old", n, age, err)
	}
	for _, tc := range []struct {
		limit int
		want  int64
	}{{1, 1}, {10, 1}, {10, 0}} {
		got, err := ob.PurgeSent(ctx, 7*24*time.Hour, tc.limit)
		if err != nil || got != tc.want {
			t.Fatalf("PurgeSent(limit %d) = %d, %v; want %d", tc.limit, got, err, tc.want)
		}
	}
	if left := count("SELECT count(*) FROM outbox"); left != 4 {
		t.Fatalf("%d rows left, want 4", left)
	}
}
