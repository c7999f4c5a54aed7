package streaming_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
	"github.com/daihuo/daihuo/streaming"
)

const testTopic = "daihuo.test"

func TestTwoRelaysPublishEachCommittedEventOnceInOrder(t *testing.T) {
	const (
		aggregates = 20
		perAgg     = 100 // 2,000 events
		perTx      = 5
	)
	brokers := startBroker(t, testTopic)
	dsn := storagetest.NewDSN(t)
	db, err := storage.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { storage.Close(db) })
	outbox := storage.NewOutbox(db, dsn)
	tx := storage.NewTransactor(db)

	reg := prometheus.NewRegistry()
	metrics := streaming.NewMetrics(reg)
	for i := range 2 {
		producer := streaming.NewProducer(brokers, testLogger(t))
		t.Cleanup(func() { producer.Close() })
		relay := streaming.NewRelay(outbox, producer, testLogger(t).With("relay", i), metrics)
		relay.BatchSize = 50
		relay.PollInterval = time.Hour // only notifications wake the relays
		runInBackground(t, relay.Run)
	}

	// Each aggregate's events are written by one writer, in order, in
	// transactions of a few events, while the relays run.
	var wg sync.WaitGroup
	errs := make(chan error, aggregates)
	for a := range aggregates {
		wg.Go(func() {
			subject := fmt.Sprintf("agg_%02d", a)
			for seq := 0; seq < perAgg; seq += perTx {
				err := tx.InTx(context.Background(), func(ctx context.Context) error {
					var evs []event.Event
					for s := seq; s < seq+perTx; s++ {
						evs = append(evs, newEvent(testTopic, subject, s))
					}
					return outbox.Publish(ctx, evs...)
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	eventually(t, "the outbox to drain", func() (bool, error) {
		n, _, err := outbox.Backlog(context.Background())
		return n == 0, err
	})

	msgs := readTopic(t, brokers, testTopic)
	seen := make(map[string]int)
	last := make(map[string]int)
	for _, m := range msgs {
		id := header(m, "ce_id")
		seen[id]++
		var data struct{ Seq int }
		if err := json.Unmarshal(m.Value, &data); err != nil {
			t.Fatal(err)
		}
		subject := string(m.Key)
		if prev, ok := last[subject]; ok && data.Seq != prev+1 {
			t.Fatalf("aggregate %s: seq %d after %d", subject, data.Seq, prev)
		} else if !ok && data.Seq != 0 {
			t.Fatalf("aggregate %s starts at seq %d", subject, data.Seq)
		}
		last[subject] = data.Seq
	}
	if len(msgs) != aggregates*perAgg || len(seen) != aggregates*perAgg {
		t.Fatalf("published %d messages with %d distinct ids, want %d each", len(msgs), len(seen), aggregates*perAgg)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %s published %d times", id, n)
		}
	}
	if got := metricValue(t, reg, "daihuo_events_published_total", "topic", testTopic); got != aggregates*perAgg {
		t.Errorf("published counter = %v, want %d", got, aggregates*perAgg)
	}
}

func TestRolledBackTransactionPublishesNothing(t *testing.T) {
	brokers := startBroker(t, testTopic)
	dsn := storagetest.NewDSN(t)
	db, err := storage.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { storage.Close(db) })
	outbox := storage.NewOutbox(db, dsn)
	tx := storage.NewTransactor(db)
	producer := streaming.NewProducer(brokers, testLogger(t))
	t.Cleanup(func() { producer.Close() })
	relay := streaming.NewRelay(outbox, producer, testLogger(t), nil)
	runInBackground(t, relay.Run)

	ctx := context.Background()
	rolledBack := newEvent(testTopic, "agg_1", 0)
	boom := errors.New("boom")
	if err := tx.InTx(ctx, func(ctx context.Context) error {
		if err := outbox.Publish(ctx, rolledBack); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want boom", err)
	}
	committed := newEvent(testTopic, "agg_1", 1)
	if err := tx.InTx(ctx, func(ctx context.Context) error { return outbox.Publish(ctx, committed) }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the outbox to drain", func() (bool, error) {
		n, _, err := outbox.Backlog(ctx)
		return n == 0, err
	})
	msgs := readTopic(t, brokers, testTopic)
	if len(msgs) != 1 || header(msgs[0], "ce_id") != committed.ID {
		t.Fatalf("topic holds %d messages, want only the committed event", len(msgs))
	}
}
