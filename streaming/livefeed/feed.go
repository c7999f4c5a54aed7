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
// published afterwards reach the hub.
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

// Run reads until ctx ends.
func (f *Feed) Run(ctx context.Context) error {
	parts, err := partitions(ctx, f.brokers, event.TopicLive)
	if err != nil {
		return err
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
		}
	}
	close(f.ready)
	wg.Wait()
	return nil
}

func (f *Feed) readPartition(ctx context.Context, p kafka.Partition, positioned chan<- struct{}) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   f.brokers,
		Topic:     p.Topic,
		Partition: p.ID,
		MinBytes:  1,
		MaxBytes:  4 << 20,
		MaxWait:   250 * time.Millisecond,
	})
	defer r.Close()
	// Start at the end: a node shows what happens from now on; a viewer's
	// first event is a snapshot of the current state anyway.
	last, err := lastOffset(ctx, f.brokers, p)
	if err == nil {
		err = r.SetOffset(last)
	}
	positioned <- struct{}{}
	if err != nil && ctx.Err() == nil {
		f.log.Error("position live reader", "partition", p.ID, "err", err)
	}
	for {
		msg, err := r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return
			}
			f.log.Warn("read live topic", "partition", p.ID, "err", err)
			time.Sleep(time.Second)
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
		run = append(run, hub.Event{Seq: msg.Offset + 1, Type: SSEName(ev.Type), Data: json.RawMessage(ev.Data)})
	}
	flush()
}

func partitions(ctx context.Context, brokers []string, topic string) ([]kafka.Partition, error) {
	var lastErr error
	for _, b := range brokers {
		conn, err := (&kafka.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", b)
		if err != nil {
			lastErr = err
			continue
		}
		parts, err := conn.ReadPartitions(topic)
		conn.Close()
		if err == nil && len(parts) > 0 {
			return parts, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("partitions of %s: %w", topic, lastErr)
}

func lastOffset(ctx context.Context, brokers []string, p kafka.Partition) (int64, error) {
	conn, err := (&kafka.Dialer{Timeout: 5 * time.Second}).DialLeader(ctx, "tcp", brokers[0], p.Topic, p.ID)
	if err != nil {
		return 0, fmt.Errorf("dial partition leader: %w", err)
	}
	defer conn.Close()
	return conn.ReadLastOffset()
}
