package streaming_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/daihuo/daihuo/streaming"
)

func TestEmbeddedBrokerKeepsRecordsAndOffsetsAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b1, err := streaming.StartEmbeddedBroker(dir)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			b1.Close()
		}
	}()
	if err := streaming.EnsureTopics(ctx, b1.Addrs(), []string{testTopic}, 3); err != nil {
		t.Fatal(err)
	}
	producer := streaming.NewProducer(b1.Addrs(), testLogger(t))
	var ids []string
	for i := range 10 {
		ids = append(ids, publish(t, producer, newEvent(testTopic, "agg_"+string(rune('a'+i)), 0))...)
	}
	if err := producer.Close(); err != nil {
		t.Fatal(err)
	}

	// The group commits 4 of the 10 records.
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: b1.Addrs(), GroupID: "persist", GroupTopics: []string{testTopic},
		StartOffset: kafka.FirstOffset, HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout: time.Second, RebalanceTimeout: time.Second, MaxWait: 100 * time.Millisecond,
	})
	rctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	committed := make(map[string]bool)
	for range 4 {
		m, err := r.FetchMessage(rctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.CommitMessages(rctx, m); err != nil {
			t.Fatal(err)
		}
		committed[header(m, "ce_id")] = true
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	lag, err := streaming.GroupLag(ctx, b1.Addrs(), "persist", []string{testTopic})
	if err != nil || lag != 6 {
		t.Fatalf("lag before restart = %d, %v; want 6", lag, err)
	}
	b1.Close()
	closed = true

	b2, err := streaming.StartEmbeddedBroker(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if err := streaming.EnsureTopics(ctx, b2.Addrs(), []string{testTopic}, 3); err != nil {
		t.Fatalf("EnsureTopics on existing topics: %v", err)
	}
	if err := streaming.Ping(ctx, b2.Addrs()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range readTopic(t, b2.Addrs(), testTopic) {
		got = append(got, header(m, "ce_id"))
	}
	if len(got) != len(ids) || !sameSet(got, ids) {
		t.Fatalf("records after restart %v, want %v", got, ids)
	}
	lag, err = streaming.GroupLag(ctx, b2.Addrs(), "persist", []string{testTopic})
	if err != nil || lag != 6 {
		t.Fatalf("lag after restart = %d, %v; want 6", lag, err)
	}

	// The group resumes with exactly the records it had not committed.
	var rec recorder
	cfg := testConsumer(b2.Addrs(), "persist", []string{testTopic}, rec.handle)
	stop := runInBackground(t, streaming.NewConsumer(cfg).Run)
	eventually(t, "the group to catch up", caughtUp(b2.Addrs(), "persist", testTopic))
	stop()
	var rest []string
	for _, id := range ids {
		if !committed[id] {
			rest = append(rest, id)
		}
	}
	if handled := rec.take(); len(handled) != len(rest) || !sameSet(handled, rest) {
		t.Fatalf("resumed with %v, want %v", handled, rest)
	}
}

func TestPingFailsWithoutBroker(t *testing.T) {
	b, err := streaming.StartEmbeddedBroker("")
	if err != nil {
		t.Fatal(err)
	}
	addrs := b.Addrs()
	if err := streaming.Ping(context.Background(), addrs); err != nil {
		t.Fatalf("Ping on a running broker: %v", err)
	}
	b.Close()
	if err := streaming.Ping(context.Background(), addrs); err == nil {
		t.Fatal("Ping succeeded on a stopped broker")
	}
}

func TestGroupLagOfAnUnknownGroupCountsEverything(t *testing.T) {
	brokers := startBroker(t, testTopic)
	producer := streaming.NewProducer(brokers, testLogger(t))
	t.Cleanup(func() { producer.Close() })
	for i := range 3 {
		publish(t, producer, newEvent(testTopic, "agg_"+string(rune('a'+i)), 0))
	}
	lag, err := streaming.GroupLag(context.Background(), brokers, "nobody", []string{testTopic})
	if err != nil || lag != 3 {
		t.Fatalf("GroupLag = %d, %v; want 3", lag, err)
	}
}
