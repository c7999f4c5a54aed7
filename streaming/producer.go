package streaming

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/daihuo/daihuo/domain/event"
)

// Producer publishes events to Kafka as CloudEvents and returns only once
// every in-sync replica acknowledged them.
type Producer struct {
	w  *kafka.Writer
	tr *kafka.Transport
}

// NewProducer returns a producer on the given brokers. Messages are keyed by
// the event's subject and hashed to partitions, so one aggregate's events stay
// in order; writes are synchronous with acks from all in-sync replicas and a
// 200 µs batch window (kafka-go's defaults are acks=0 and a 1 s window): the
// relay hands a whole outbox batch to one Publish, so waiting longer to fill
// a batch would only add latency to every pin.
func NewProducer(brokers []string, logger *slog.Logger) *Producer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tr := &kafka.Transport{DialTimeout: 5 * time.Second}
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 200 * time.Microsecond,
		BatchSize:    500,
		Async:        false,
		MaxAttempts:  3,
		WriteTimeout: 5 * time.Second, // with the attempts and kafka-go's backoff, well under the relay's BatchTimeout
		Transport:    tr,
		ErrorLogger:  errorLogger(logger.With("component", "kafka-writer")),
	}
	return &Producer{w: w, tr: tr}
}

// Publish writes evs and returns after the broker acknowledged all of them.
// On error some of them may have been written; publishing again is safe
// because consumers deduplicate on the event id.
//
// It returns only once kafka-go is done with the batch, even when ctx ends
// first: kafka-go goes on writing a batch whose caller gave up, and a relay
// that let go of its lock meanwhile would let another publish newer events
// of the same key before the stale ones land. The writer's attempts and
// timeouts bound the wait (about 17 s), under the relay's BatchTimeout.
func (p *Producer) Publish(ctx context.Context, evs ...event.Event) error {
	if len(evs) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(evs))
	for i, ev := range evs {
		m, err := Encode(ev)
		if err != nil {
			return err
		}
		msgs[i] = m
	}
	if err := p.w.WriteMessages(context.WithoutCancel(ctx), msgs...); err != nil {
		return fmt.Errorf("write %d events: %w", len(msgs), err)
	}
	return nil
}

// Close flushes pending writes and releases the producer's connections.
func (p *Producer) Close() error {
	err := p.w.Close()
	p.tr.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("close producer: %w", err)
	}
	return nil
}

// errorLogger adapts a slog logger to kafka-go's printf-style logger.
func errorLogger(l *slog.Logger) kafka.Logger {
	return kafka.LoggerFunc(func(msg string, args ...any) {
		l.Warn(fmt.Sprintf(msg, args...))
	})
}
