package streaming_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
	"github.com/daihuo/daihuo/streaming"
)

const effectsTopic = "daihuo.test.effects"

// recorder is a handler that remembers the ids of the events it saw.
type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) handle(_ context.Context, ev event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, ev.ID)
	return nil
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := r.ids
	r.ids = nil
	return ids
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

// caughtUp reports whether group committed every message of topics.
func caughtUp(brokers []string, group string, topics ...string) func() (bool, error) {
	return func() (bool, error) {
		lag, err := streaming.GroupLag(context.Background(), brokers, group, topics)
		return lag == 0, err
	}
}

func publish(t *testing.T, p *streaming.Producer, evs ...event.Event) []string {
	t.Helper()
	if err := p.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.ID)
	}
	return ids
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestRepublishedEventIsAppliedOnce(t *testing.T) {
	brokers := startBroker(t, testTopic, effectsTopic)
	dsn := storagetest.NewDSN(t)
	db, err := storage.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { storage.Close(db) })
	outbox := storage.NewOutbox(db, dsn)
	producer := streaming.NewProducer(brokers, testLogger(t))
	t.Cleanup(func() { producer.Close() })

	var want []string
	for i := range 5 {
		ev := newEvent(testTopic, "agg_1", i)
		want = append(want, ev.ID)
		if err := outbox.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}

	// The relay dies after the broker acknowledged the batch and before the
	// mark committed.
	ctx, kill := context.WithCancel(context.Background())
	_, err = outbox.ProcessBatch(ctx, 100, func(ctx context.Context, evs []event.Event) error {
		if err := producer.Publish(ctx, evs...); err != nil {
			return err
		}
		kill()
		return nil
	})
	if err == nil {
		t.Fatal("ProcessBatch succeeded although its context ended before the mark")
	}
	if n, _, err := outbox.Backlog(context.Background()); err != nil || n != 5 {
		t.Fatalf("backlog after the crash = %d, %v; want 5 unsent", n, err)
	}

	// The next relay publishes them again.
	stopRelay := runInBackground(t, streaming.NewRelay(outbox, producer, testLogger(t), nil).Run)
	eventually(t, "the outbox to drain", func() (bool, error) {
		n, _, err := outbox.Backlog(context.Background())
		return n == 0, err
	})
	stopRelay()
	if msgs := readTopic(t, brokers, testTopic); len(msgs) != 10 {
		t.Fatalf("topic holds %d messages, want every event twice", len(msgs))
	}

	// The consumer's effect is an outbox event written in its transaction;
	// the first attempt at the first event writes it and then fails.
	var mu sync.Mutex
	failures := 0
	handler := func(ctx context.Context, ev event.Event) error {
		effect := newEvent(effectsTopic, ev.ID, 0)
		if err := outbox.Publish(ctx, effect); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if ev.ID == want[0] && failures < 2 {
			failures++
			return errors.New("transient failure")
		}
		return nil
	}
	reg := prometheus.NewRegistry()
	cfg := testConsumer(brokers, "settle", []string{testTopic}, handler)
	cfg.Dedup = storage.NewInbox(db)
	cfg.Tx = storage.NewTransactor(db) // the batch, then one by one after the failure
	cfg.Metrics = streaming.NewMetrics(reg)
	cfg.Logger = testLogger(t)
	runInBackground(t, streaming.NewConsumer(cfg).Run)
	eventually(t, "the consumer to catch up", caughtUp(brokers, "settle", testTopic))

	var subjects []string
	if err := db.Raw("SELECT subject FROM outbox WHERE topic = ?", effectsTopic).Scan(&subjects).Error; err != nil {
		t.Fatal(err)
	}
	if !sameSet(subjects, want) {
		t.Fatalf("effects for %v, want one for each of %v", subjects, want)
	}
	wantCounters(t, reg, "settle", map[string]float64{
		"daihuo_events_consumed_total":         5,
		"daihuo_events_duplicate_total":        5,
		"daihuo_consumer_handler_errors_total": 2,
		"daihuo_events_poison_total":           0,
	})
}

// wantCounters checks a consumer group's counters.
func wantCounters(t *testing.T, reg *prometheus.Registry, group string, want map[string]float64) {
	t.Helper()
	for name, w := range want {
		if got := metricValue(t, reg, name, "group", group); got != w {
			t.Errorf("%s = %v, want %v", name, got, w)
		}
	}
}

func TestConsumerResumesFromCommittedOffset(t *testing.T) {
	brokers := startBroker(t, testTopic)
	producer := streaming.NewProducer(brokers, testLogger(t))
	t.Cleanup(func() { producer.Close() })
	var first, second []string
	for i := range 10 {
		first = append(first, publish(t, producer, newEvent(testTopic, "agg_"+string(rune('a'+i)), 0))...)
	}

	var rec recorder
	cfg := testConsumer(brokers, "resume", []string{testTopic}, rec.handle)
	cfg.Logger = testLogger(t)
	stop := runInBackground(t, streaming.NewConsumer(cfg).Run)
	eventually(t, "the first consumer to catch up", caughtUp(brokers, "resume", testTopic))
	stop()
	if got := rec.take(); len(got) != len(first) || !sameSet(got, first) {
		t.Fatalf("first run handled %v, want %v", got, first)
	}

	for i := range 5 {
		second = append(second, publish(t, producer, newEvent(testTopic, "agg_"+string(rune('a'+i)), 1))...)
	}
	stop = runInBackground(t, streaming.NewConsumer(cfg).Run)
	eventually(t, "the second consumer to catch up", func() (bool, error) {
		ok, err := caughtUp(brokers, "resume", testTopic)()
		return ok && rec.len() >= len(second), err
	})
	stop()
	if got := rec.take(); len(got) != len(second) || !sameSet(got, second) {
		t.Fatalf("second run handled %v, want only the new %v", got, second)
	}
}

func TestConsumerSkipsPoisonMessages(t *testing.T) {
	brokers := startBroker(t, testTopic)
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), RequiredAcks: kafka.RequireAll, Balancer: &kafka.Hash{}}
	defer w.Close()
	// Same key, so the poison message comes first in the partition.
	if err := w.WriteMessages(context.Background(),
		kafka.Message{Topic: testTopic, Key: []byte("agg_1"), Value: []byte(`{"not":"a cloudevent"}`)},
		kafka.Message{Topic: testTopic, Key: []byte("agg_1"), Value: []byte(`{}`),
			Headers: []kafka.Header{{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_type", Value: []byte("x.v1")}}},
	); err != nil {
		t.Fatal(err)
	}
	producer := streaming.NewProducer(brokers, testLogger(t))
	t.Cleanup(func() { producer.Close() })
	good := publish(t, producer, newEvent(testTopic, "agg_1", 0))

	var rec recorder
	reg := prometheus.NewRegistry()
	cfg := testConsumer(brokers, "poison", []string{testTopic}, rec.handle)
	cfg.Metrics = streaming.NewMetrics(reg)
	cfg.Logger = testLogger(t)
	runInBackground(t, streaming.NewConsumer(cfg).Run)
	eventually(t, "the consumer to catch up", caughtUp(brokers, "poison", testTopic))
	if got := rec.take(); !slices.Equal(got, good) {
		t.Fatalf("handled %v, want %v", got, good)
	}
	if got := metricValue(t, reg, "daihuo_events_poison_total", "group", "poison"); got != 2 {
		t.Errorf("poison counter = %v, want 2", got)
	}
	eventually(t, "the lag gauge to reach 0", func() (bool, error) {
		lag, ok := findMetric(t, reg, "daihuo_consumer_lag", "group", "poison")
		return ok && lag == 0 &&
			metricValue(t, reg, "daihuo_events_consumed_total", "group", "poison") == 1, nil
	})
}

func TestConsumerStartingAtEndSkipsHistory(t *testing.T) {
	brokers := startBroker(t, testTopic)
	producer := streaming.NewProducer(brokers, testLogger(t))
	t.Cleanup(func() { producer.Close() })
	var old []string
	for i := range 3 {
		old = append(old, publish(t, producer, newEvent(testTopic, "agg_"+string(rune('a'+i)), 0))...)
	}
	var rec recorder
	cfg := testConsumer(brokers, "hub-node-1", []string{testTopic}, rec.handle)
	cfg.StartAtEnd = true
	runInBackground(t, streaming.NewConsumer(cfg).Run)
	// The group joins at some point; probes written after it are seen.
	seq := 0
	eventually(t, "a probe to arrive", func() (bool, error) {
		seq++
		publish(t, producer, newEvent(testTopic, "probe", seq))
		return rec.len() > 0, nil
	})
	for _, id := range rec.take() {
		if slices.Contains(old, id) {
			t.Fatalf("consumer starting at the end handled old event %s", id)
		}
	}
}

// TestConsumerAppliesWaitingEventsInSharedTransactions publishes events
// (and a poison message among them) before the consumer starts: they are
// applied in far fewer transactions than events, each exactly once, and
// the poison message is counted once.
func TestConsumerAppliesWaitingEventsInSharedTransactions(t *testing.T) {
	brokers := startBroker(t, testTopic, effectsTopic)
	db := storagetest.NewDB(t)
	outbox := storage.NewOutbox(db, "")
	producer := streaming.NewProducer(brokers, testLogger(t))
	t.Cleanup(func() { producer.Close() })
	const n = 60
	var want []string
	first := newEvent(testTopic, "agg_1", 0)
	for i := range n {
		ev := first
		if i > 0 {
			ev = newEvent(testTopic, "agg_1", i)
		}
		want = append(want, publish(t, producer, ev)...)
		if i == n/2 {
			w := &kafka.Writer{Addr: kafka.TCP(brokers...), RequiredAcks: kafka.RequireAll, Balancer: &kafka.Hash{}}
			if err := w.WriteMessages(context.Background(), kafka.Message{Topic: testTopic, Key: []byte("agg_1"), Value: []byte(`not an event`)}); err != nil {
				t.Fatal(err)
			}
			w.Close()
		}
	}
	publish(t, producer, first) // delivered twice

	reg := prometheus.NewRegistry()
	cfg := testConsumer(brokers, "batched", []string{testTopic}, func(ctx context.Context, ev event.Event) error {
		return outbox.Publish(ctx, newEvent(effectsTopic, ev.ID, 0))
	})
	cfg.Dedup, cfg.Tx = storage.NewInbox(db), storage.NewTransactor(db)
	cfg.Metrics, cfg.Logger = streaming.NewMetrics(reg), testLogger(t)
	runInBackground(t, streaming.NewConsumer(cfg).Run)
	eventually(t, "the consumer to catch up", caughtUp(brokers, "batched", testTopic))

	var subjects []string
	if err := db.Raw("SELECT subject FROM outbox WHERE topic = ?", effectsTopic).Scan(&subjects).Error; err != nil {
		t.Fatal(err)
	}
	if !sameSet(subjects, want) {
		t.Fatalf("%d effects, want one for each of the %d events", len(subjects), n)
	}
	// Rows written by one transaction share its xmin.
	var txs int
	if err := db.Raw("SELECT count(DISTINCT xmin::text) FROM outbox WHERE topic = ?", effectsTopic).Scan(&txs).Error; err != nil {
		t.Fatal(err)
	}
	if txs >= n/2 {
		t.Errorf("%d events applied in %d transactions; want them batched", n, txs)
	}
	wantCounters(t, reg, "batched", map[string]float64{
		"daihuo_events_consumed_total":  n,
		"daihuo_events_duplicate_total": 1,
		"daihuo_events_poison_total":    1,
	})
}

// TestConsumerPassesOverOtherTypes: with Types set, the handler sees only
// those types, the others leave no trace in the inbox, and the group still
// commits past them.
func TestConsumerPassesOverOtherTypes(t *testing.T) {
	brokers := startBroker(t, testTopic)
	db := storagetest.NewDB(t)
	producer := streaming.NewProducer(brokers, testLogger(t))
	t.Cleanup(func() { producer.Close() })
	var wanted []string
	for i := range 10 {
		ev := newEvent(testTopic, "agg_1", i)
		if i%3 == 0 {
			ev.Type = "daihuo.test.wanted.v1"
			wanted = append(wanted, ev.ID)
		}
		publish(t, producer, ev)
	}
	var rec recorder
	cfg := testConsumer(brokers, "picky", []string{testTopic}, rec.handle)
	cfg.Types = []string{"daihuo.test.wanted.v1"}
	cfg.Dedup, cfg.Tx, cfg.Logger = storage.NewInbox(db), storage.NewTransactor(db), testLogger(t)
	runInBackground(t, streaming.NewConsumer(cfg).Run)
	eventually(t, "the consumer to catch up", caughtUp(brokers, "picky", testTopic))
	if got := rec.take(); !sameSet(got, wanted) {
		t.Fatalf("handled %v, want only %v", got, wanted)
	}
	var n int
	if err := db.Raw("SELECT count(*) FROM processed_events WHERE consumer = 'picky'").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != len(wanted) {
		t.Fatalf("%d events recorded as processed, want %d", n, len(wanted))
	}
}
