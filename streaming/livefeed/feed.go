// Package livefeed carries the events of the daihuo.live topic to this node's
// hub. Every node reads every partition itself (no consumer group: each node
// needs all events for its own viewers), from the newest offset at start.
// The Kafka offset of an event, plus one, is its SSE id: a stream's events
// share one partition, so every node numbers them alike and a viewer may
// resume on any node.
package livefeed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/streaming"
	"github.com/daihuo/daihuo/streaming/hub"
)

// Sink receives the events: this node's hub.
type Sink interface {
	PublishBatch(streamID string, evs []hub.Event) error
}

// gatherWait is how long the feed waits for more events once one arrived,
// to hand over what was published together (an unpin and its replacing pin)
// as one batch: one write per viewer instead of one per event. Events
// published together come in one fetch, back to back, so a short wait
// catches them.
const gatherWait = 500 * time.Microsecond

// maxGather bounds the events handed over at once.
const maxGather = 64

// The wait between two start-up attempts (reading the partitions, a
// partition's last offset) doubles from retryMin up to retryMax: a node
// keeps trying until the brokers answer, without hammering them.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

// ioTimeout bounds each dial and each request of the start-up steps.
const ioTimeout = 5 * time.Second

// Feed reads the live topic into a hub.
type Feed struct {
	brokers []string
	hub     Sink
	log     *slog.Logger
	ready   chan struct{}
}

// New returns a feed from brokers into h.
func New(brokers []string, h Sink, log *slog.Logger) *Feed {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Feed{brokers: brokers, hub: h, log: log.With("component", "livefeed"), ready: make(chan struct{})}
}

// Ready is closed once every partition reader is positioned, so events
// published afterwards reach the hub. It stays open if Run ends before.
func (f *Feed) Ready() <-chan struct{} { return f.ready }

// SSEName turns an event type (daihuo.pin.added.v1) into the name players
// see (pin.added).
func SSEName(typ string) string {
	name := strings.TrimPrefix(typ, event.Source[1:]+".")
	if i := strings.LastIndex(name, ".v"); i > 0 {
		name = name[:i]
	}
	return name
}

// Run reads until ctx ends. Start-up failures (no broker answers, the topic
// is not there yet) are retried with a growing wait instead of ending Run:
// a node without its feed would never show a live event again.
func (f *Feed) Run(ctx context.Context) error {
	var parts []kafka.Partition
	if !f.retry(ctx, "read partitions", func() (err error) {
		parts, err = partitions(ctx, f.brokers, event.TopicLive)
		return err
	}) {
		return nil
	}
	var wg sync.WaitGroup
	positioned := make(chan struct{}, len(parts))
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.readPartition(ctx, p, positioned)
		}()
	}
	for range parts {
		select {
		case <-positioned:
		case <-ctx.Done():
			wg.Wait()
			return nil
		}
	}
	close(f.ready)
	wg.Wait()
	return nil
}

// retry calls fn until it succeeds, waiting longer after each failure, and
// reports false when ctx ended first.
func (f *Feed) retry(ctx context.Context, step string, fn func() error) bool {
	wait := retryMin
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		f.log.Warn("live feed not started yet, retrying", "step", step, "attempt", attempt, "in", wait, "err", err)
		if !sleep(ctx, wait) {
			return false
		}
		wait = min(2*wait, retryMax)
	}
}

// sleep waits for d and reports false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (f *Feed) readPartition(ctx context.Context, p kafka.Partition, positioned chan<- struct{}) {
	// Start at the end: a node shows what happens from now on; a viewer's
	// first event is a snapshot of the current state anyway. Never read
	// without that position: a reader without one starts at the first
	// retained offset and would replay the whole topic to the players.
	var last int64
	if !f.retry(ctx, "position partition "+strconv.Itoa(p.ID), func() (err error) {
		last, err = lastOffset(ctx, f.brokers, p)
		return err
	}) {
		return
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   f.brokers,
		Topic:     p.Topic,
		Partition: p.ID,
		MinBytes:  1,
		MaxBytes:  4 << 20,
		MaxWait:   250 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(last); err != nil {
		// Only a consumer-group reader refuses an offset: a bug, not an outage.
		f.log.Error("position live reader", "partition", p.ID, "err", err)
		return
	}
	positioned <- struct{}{}
	for {
		msg, err := r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return
			}
			f.log.Warn("read live topic", "partition", p.ID, "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		batch := []kafka.Message{msg}
		for len(batch) < maxGather {
			// An expired context makes ReadMessage return without taking a
			// message, so nothing is lost by waiting briefly.
			wctx, cancel := context.WithTimeout(ctx, gatherWait)
			m, err := r.ReadMessage(wctx)
			cancel()
			if err != nil {
				break
			}
			batch = append(batch, m)
		}
		f.fanOut(p, batch)
	}
}

// fanOut hands each run of consecutive events of one stream to the hub.
func (f *Feed) fanOut(p kafka.Partition, msgs []kafka.Message) {
	var stream string
	var run []hub.Event
	flush := func() {
		if len(run) == 0 {
			return
		}
		if err := f.hub.PublishBatch(stream, run); err != nil {
			f.log.Warn("fan out live events", "stream_id", stream, "err", err)
		}
		run = nil
	}
	for _, msg := range msgs {
		ev, err := streaming.Decode(msg)
		if err != nil {
			f.log.Warn("undecodable live event", "partition", p.ID, "offset", msg.Offset, "err", err)
			continue
		}
		if ev.Subject != stream {
			flush()
			stream = ev.Subject
		}
		run = append(run, hub.Event{Seq: msg.Offset + 1, ID: ev.ID, Type: SSEName(ev.Type), Data: json.RawMessage(ev.Data)})
	}
	flush()
}

// partitions reads the topic's partitions from the first broker that
// answers.
func partitions(ctx context.Context, brokers []string, topic string) ([]kafka.Partition, error) {
	parts, err := firstAnswer(ctx, brokers, func(b string) ([]kafka.Partition, error) { return readPartitions(ctx, b, topic) })
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	return parts, nil
}

func readPartitions(ctx context.Context, broker, topic string) ([]kafka.Partition, error) {
	conn, err := (&kafka.Dialer{Timeout: ioTimeout}).DialContext(ctx, "tcp", broker)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(ioTimeout))
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, errors.New("no partitions")
	}
	return parts, nil
}

// lastOffset reads the partition's next offset through the first broker
// that answers.
func lastOffset(ctx context.Context, brokers []string, p kafka.Partition) (int64, error) {
	off, err := firstAnswer(ctx, brokers, func(b string) (int64, error) { return readLastOffset(ctx, b, p) })
	if err != nil {
		return 0, fmt.Errorf("last offset of %s/%d: %w", p.Topic, p.ID, err)
	}
	return off, nil
}

// firstAnswer asks each broker in turn until one answers, and otherwise
// returns every broker's error.
func firstAnswer[T any](ctx context.Context, brokers []string, ask func(broker string) (T, error)) (T, error) {
	errs := []error{}
	if len(brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	for _, b := range brokers {
		v, err := ask(b)
		if err == nil {
			return v, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", b, err))
		if ctx.Err() != nil {
			break
		}
	}
	var zero T
	return zero, errors.Join(errs...)
}

func readLastOffset(ctx context.Context, broker string, p kafka.Partition) (int64, error) {
	conn, err := (&kafka.Dialer{Timeout: ioTimeout}).DialLeader(ctx, "tcp", broker, p.Topic, p.ID)
	if err != nil {
		return 0, fmt.Errorf("dial partition leader: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(ioTimeout))
	return conn.ReadLastOffset()
}
