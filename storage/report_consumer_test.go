package storage_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/report"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
	"github.com/daihuo/daihuo/streaming"
)

// statsWait bounds every wait of these tests; it is never a timing assertion.
const statsWait = 20 * time.Second

// statsEventually is waitFor for a condition that can fail.
func statsEventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	waitFor(t, what, func() bool {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return ok
	})
}

// statsMetric returns the value of the metric name of group and whether it exists.
func statsMetric(t *testing.T, reg *prometheus.Registry, name, group string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "group" && l.GetValue() == group {
					if c := m.GetCounter(); c != nil {
						return c.GetValue(), true
					}
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// TestStreamStatsConsumerGroup runs the real consumer group of the stream
// stats on the embedded broker, fed by the outbox through the relay, with a
// paid event published a second time (a relay that died before marking it
// sent): the projection counts it once.
func TestStreamStatsConsumerGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	broker, err := streaming.StartEmbeddedBroker("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	brokers := broker.Addrs()
	if err := streaming.EnsureTopics(ctx, brokers, event.Topics(), 3); err != nil {
		t.Fatal(err)
	}
	dsn := storagetest.NewDSN(t)
	db, err := storage.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = storage.Close(db) })
	log := slog.New(slog.DiscardHandler)
	outbox := storage.NewOutbox(db, dsn)
	producer := streaming.NewProducer(brokers, log)
	t.Cleanup(func() { _ = producer.Close() })
	reg := prometheus.NewRegistry()
	metrics := streaming.NewMetrics(reg)

	store := storage.NewReportStore(db)
	svc := report.NewService(store, storage.NewLiveStore(db), storage.NewRoomStore(db), nil, log)
	consumer := streaming.NewConsumer(streaming.ConsumerConfig{
		Brokers: brokers, GroupID: report.ConsumerGroup, Topics: report.Topics(), Handler: svc.Apply,
		Dedup: storage.NewInbox(db), Metrics: metrics, Logger: log,
		HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: time.Second, RebalanceTimeout: time.Second,
		JoinGroupBackoff: 100 * time.Millisecond, MaxWait: 100 * time.Millisecond,
		RetryBackoffMin: 10 * time.Millisecond, RetryBackoffMax: 50 * time.Millisecond, LagInterval: 50 * time.Millisecond,
	})
	relay := streaming.NewRelay(outbox, producer, log, metrics)
	done := make(chan struct{}, 2)
	for _, run := range []func(context.Context) error{consumer.Run, relay.Run} {
		go func() {
			defer func() { done <- struct{}{} }()
			if err := run(ctx); err != nil {
				t.Errorf("run: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range 2 {
			select {
			case <-done:
			case <-time.After(statsWait):
				t.Errorf("a worker did not stop")
			}
		}
	})

	e := &statsEvents{t: t, streamID: "str_1", currency: "EUR"}
	paid1 := e.paid("ord_1", "shp_1", false, e.item("brd_a", 2, 2500, 1000))
	paid2 := e.paid("ord_2", "shp_1", false, e.item("brd_a", 1, 2500, 1000), e.item("brd_b", 1, 1000, 500))
	refund := e.refund("ord_2", "rfd_1", order.RefundRequested, false, "brd_b", int64(1000))
	if err := outbox.Publish(ctx, paid1, paid2, refund); err != nil {
		t.Fatal(err)
	}
	if err := producer.Publish(ctx, paid1); err != nil { // the same event once more
		t.Fatal(err)
	}

	want := report.Totals{Currency: "EUR", Orders: 2, GMV: 8500, Units: 4, Buyers: 1, Refunds: 1000, Commission: 800}
	statsEventually(t, "the consumer group to apply every event", func() (bool, error) {
		lag, err := streaming.GroupLag(ctx, brokers, report.ConsumerGroup, report.Topics())
		if err != nil || lag != 0 {
			return false, err
		}
		dup, _ := statsMetric(t, reg, "daihuo_events_duplicate_total", report.ConsumerGroup)
		return dup == 1, nil
	})
	tot, _, err := store.Totals(ctx, "str_1", "")
	if err != nil {
		t.Fatal(err)
	}
	tot.UpdatedAt = time.Time{}
	if tot != want {
		t.Errorf("stream totals %+v, want %+v", tot, want)
	}
	if n, _ := statsMetric(t, reg, "daihuo_events_consumed_total", report.ConsumerGroup); n != 3 {
		t.Errorf("consumed %v events, want 3", n)
	}
	statsEventually(t, "daihuo_consumer_lag of the group to be measured", func() (bool, error) {
		_, ok := statsMetric(t, reg, "daihuo_consumer_lag", report.ConsumerGroup)
		return ok, nil
	})
}
