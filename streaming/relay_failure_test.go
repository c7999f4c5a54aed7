package streaming_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
	"github.com/daihuo/daihuo/streaming"
	"github.com/daihuo/daihuo/streaming/hub"
	"github.com/daihuo/daihuo/streaming/livefeed"
)

// liveRig is a broker, an outbox on a fresh database, and a live feed
// filling a hub with one viewer of stream str_1.
type liveRig struct {
	cluster *kfake.Cluster
	brokers []string
	outbox  *storage.Outbox
	tx      *storage.Transactor
	viewer  *hub.Viewer
}

func newLiveRig(t *testing.T) *liveRig {
	t.Helper()
	c, err := kfake.NewCluster(kfake.Ports(0), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r := &liveRig{cluster: c, brokers: c.ListenAddrs()}
	if err := streaming.EnsureTopics(context.Background(), r.brokers, event.Topics(), 3); err != nil {
		t.Fatal(err)
	}
	r.outbox, r.tx = newOutbox(t)
	h := hub.New(hub.Options{})
	feed := livefeed.New(r.brokers, h, testLogger(t))
	runInBackground(t, feed.Run)
	select {
	case <-feed.Ready():
	case <-time.After(waitTimeout):
		t.Fatal("live feed not ready")
	}
	r.viewer = h.Subscribe("str_1", 0).Viewer
	return r
}

// newOutbox returns an outbox and a transactor on a fresh database.
func newOutbox(t *testing.T) (*storage.Outbox, *storage.Transactor) {
	t.Helper()
	dsn := storagetest.NewDSN(t)
	db, err := storage.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { storage.Close(db) })
	return storage.NewOutbox(db, dsn), storage.NewTransactor(db)
}

// publish writes evs to the outbox in one transaction.
func (r *liveRig) publish(t *testing.T, evs ...event.Event) {
	t.Helper()
	if err := r.tx.InTx(context.Background(), func(ctx context.Context) error { return r.outbox.Publish(ctx, evs...) }); err != nil {
		t.Fatal(err)
	}
}

// seen publishes a sentinel straight to the live topic and returns the
// event names the viewer got before it, in order.
func (r *liveRig) seen(t *testing.T) []string {
	t.Helper()
	p := streaming.NewProducer(r.brokers, testLogger(t))
	defer p.Close()
	if err := p.Publish(context.Background(), liveEvent(t, "daihuo.likes.v1", map[string]int{"total": 1})); err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		select {
		case f := <-r.viewer.C:
			for line := range strings.SplitSeq(string(f), "\n") {
				if name, ok := strings.CutPrefix(line, "event: "); ok {
					if name == "likes" {
						return names
					}
					names = append(names, name)
				}
			}
		case <-time.After(waitTimeout):
			t.Fatalf("no sentinel; the viewer got %v", names)
		}
	}
}

func liveEvent(t *testing.T, typ string, data any) event.Event {
	t.Helper()
	ev, err := event.New(event.TopicLive, typ, "str_1", data, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// refuseOnce makes the broker refuse the first write to topic, for good
// (POLICY_VIOLATION, not retried by the writer).
func refuseOnce(c *kfake.Cluster, topic string) {
	var refused atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		touches := false
		for _, tp := range pr.Topics {
			touches = touches || tp.Topic == topic
		}
		if !touches || refused.Swap(true) {
			return nil, nil, false
		}
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		resp.SetVersion(pr.GetVersion())
		for _, tp := range pr.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = tp.Topic
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = 44
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
}

// A batch whose orders write is refused is published again as a whole, so
// its chat message lands on the live topic twice, under one event id: the
// viewer sees it once.
func TestRepublishedLiveEventReachesViewersOnce(t *testing.T) {
	r := newLiveRig(t)
	refuseOnce(r.cluster, event.TopicOrders)
	producer := streaming.NewProducer(r.brokers, testLogger(t))
	t.Cleanup(func() { producer.Close() })
	relay := streaming.NewRelay(r.outbox, producer, testLogger(t), nil)
	relay.BackoffMin, relay.BackoffMax = 10*time.Millisecond, 10*time.Millisecond
	runInBackground(t, relay.Run)
	r.publish(t, liveEvent(t, "daihuo.chat.message.v1", map[string]string{"id": "msg_1", "text": "hi"}), newEvent(event.TopicOrders, "ord_1", 0))
	eventually(t, "the outbox to drain", func() (bool, error) {
		n, _, err := r.outbox.Backlog(context.Background())
		return n == 0, err
	})
	if got := r.seen(t); strings.Join(got, ",") != "chat.message" {
		t.Fatalf("the viewer got %v, want the chat message once", got)
	}
}

// A relay whose batch times out while the broker sits on its write lets
// another relay publish the same event, then a newer one; the held write
// may land last. Viewers still end on the newer event: a removed pin does
// not come back.
func TestTimedOutRelayWriteDoesNotUndoANewerEvent(t *testing.T) {
	r := newLiveRig(t)
	release := make(chan struct{})
	var held atomic.Bool
	r.cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r.cluster.KeepControl()
		if pr := req.(*kmsg.ProduceRequest); len(pr.Topics) > 0 && pr.Topics[0].Topic == event.TopicLive && !held.Swap(true) {
			r.cluster.SleepControl(func() { <-release }) // the broker sits on the first write
		}
		return nil, nil, false
	})
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})
	regA := prometheus.NewRegistry()
	producerA := streaming.NewProducer(r.brokers, testLogger(t))
	t.Cleanup(func() { producerA.Close() })
	relayA := streaming.NewRelay(r.outbox, producerA, testLogger(t).With("relay", "A"), streaming.NewMetrics(regA))
	relayA.BatchTimeout = 300 * time.Millisecond
	relayA.BackoffMin, relayA.BackoffMax = time.Hour, time.Hour // A tries once
	r.publish(t, liveEvent(t, "daihuo.pin.added.v1", map[string]string{"id": "pin_1"}))
	runInBackground(t, relayA.Run)
	eventually(t, "relay A's batch to time out", func() (bool, error) {
		return metricValue(t, regA, "daihuo_publish_errors_total") >= 1, nil
	})

	producerB := streaming.NewProducer(r.brokers, testLogger(t))
	t.Cleanup(func() { producerB.Close() })
	relayB := streaming.NewRelay(r.outbox, producerB, testLogger(t).With("relay", "B"), nil)
	runInBackground(t, relayB.Run)
	r.publish(t, liveEvent(t, "daihuo.pin.removed.v1", map[string]string{"pin_id": "pin_1"}))
	eventually(t, "relay B to drain the outbox", func() (bool, error) {
		n, _, err := r.outbox.Backlog(context.Background())
		return n == 0, err
	})
	close(release)
	released = true
	// The held write lands now: an addition after the removal on the topic.
	eventually(t, "the held write to land after the removal", func() (bool, error) {
		removedAt := -1
		for i, m := range readTopic(t, r.brokers, event.TopicLive) {
			switch typ := header(m, "ce_type"); {
			case typ == "daihuo.pin.removed.v1":
				removedAt = i
			case typ == "daihuo.pin.added.v1" && removedAt >= 0:
				return true, nil
			}
		}
		return false, nil
	})
	if got := r.seen(t); strings.Join(got, ",") != "pin.added,pin.removed" {
		t.Fatalf("the viewer got %v, want the pin added, then removed, and nothing after", got)
	}
}

// While publishing fails, the backlog gauge still tells how many events
// wait: an alert on it must fire during an outage.
func TestBacklogGaugeMovesWhilePublishingFails(t *testing.T) {
	outbox, tx := newOutbox(t)
	if err := tx.InTx(context.Background(), func(ctx context.Context) error {
		return outbox.Publish(ctx, newEvent(testTopic, "a", 0), newEvent(testTopic, "a", 1), newEvent(testTopic, "a", 2))
	}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	producer := streaming.NewProducer([]string{"127.0.0.1:1"}, testLogger(t)) // no broker there
	t.Cleanup(func() { producer.Close() })
	relay := streaming.NewRelay(outbox, producer, testLogger(t), streaming.NewMetrics(reg))
	relay.BackoffMin, relay.BackoffMax = 10*time.Millisecond, 10*time.Millisecond
	runInBackground(t, relay.Run)
	eventually(t, "failed batches and a backlog of 3", func() (bool, error) {
		return metricValue(t, reg, "daihuo_publish_errors_total") >= 1 && metricValue(t, reg, "daihuo_outbox_backlog") == 3, nil
	})
}
