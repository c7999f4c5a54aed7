package streaming_test

import (
	"context"
	"log/slog"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
	"github.com/daihuo/daihuo/streaming"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

// The storage adapters implement the ports the streaming package declares.
var (
	_ streaming.OutboxStore = (*storage.Outbox)(nil)
	_ streaming.Deduper     = (*storage.Inbox)(nil)
)

// waitTimeout bounds every wait of these tests; it is never a timing assertion.
const waitTimeout = 20 * time.Second

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// startBroker starts an in-memory broker with the given topics.
func startBroker(t *testing.T, topics ...string) []string {
	t.Helper()
	b, err := streaming.StartEmbeddedBroker("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := streaming.EnsureTopics(context.Background(), b.Addrs(), topics, 3); err != nil {
		t.Fatal(err)
	}
	return b.Addrs()
}

// testConsumer returns a consumer config with short group timings.
func testConsumer(brokers []string, group string, topics []string, h streaming.Handler) streaming.ConsumerConfig {
	return streaming.ConsumerConfig{
		Brokers:           brokers,
		GroupID:           group,
		Topics:            topics,
		Handler:           h,
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    time.Second,
		RebalanceTimeout:  time.Second,
		JoinGroupBackoff:  100 * time.Millisecond,
		MaxWait:           100 * time.Millisecond,
		RetryBackoffMin:   10 * time.Millisecond,
		RetryBackoffMax:   50 * time.Millisecond,
		LagInterval:       50 * time.Millisecond,
	}
}

// runInBackground runs fn until the returned stop is called (or the test
// ends) and reports fn's error.
func runInBackground(t *testing.T, fn func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls cond until it holds or the wait times out.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readTopic reads every record of topic, partition by partition in offset
// order, without a consumer group.
func readTopic(t *testing.T, brokers []string, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		t.Fatalf("metadata of %s: %+v", topic, md.Topics)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatal(err)
	}
	var all []kafka.Message
	ps := offs.Topics[topic]
	sort.Slice(ps, func(i, j int) bool { return ps[i].Partition < ps[j].Partition })
	for _, p := range ps {
		if p.LastOffset == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.Partition, MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, p.Partition, err)
			}
			all = append(all, m)
			if m.Offset+1 >= p.LastOffset {
				break
			}
		}
		r.Close()
	}
	return all
}

// newEvent returns a test event of aggregate subject carrying seq. Marshalling
// an int cannot fail, so it is safe to call from any goroutine.
func newEvent(topic, subject string, seq int) event.Event {
	ev, err := event.New(topic, "daihuo.test.happened.v1", subject, map[string]any{"seq": seq}, time.Now())
	if err != nil {
		panic(err)
	}
	return ev
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// metricValue returns the value of the counter or gauge name whose labels
// include the given name/value pairs, or 0 when there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	v, _ := findMetric(t, reg, name, labels...)
	return v
}

// findMetric is metricValue that also reports whether the metric exists.
func findMetric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}
