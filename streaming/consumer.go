package streaming

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/daihuo/daihuo/domain/event"
)

// ConsumerConfig configures a consumer group member. Zero durations take
// the production defaults noted on each field.
type ConsumerConfig struct {
	Brokers []string
	// GroupID names the consumer group; it is also the consumer name under
	// which Dedup records applied events.
	GroupID string
	Topics  []string
	// Types, when set, are the event types the handler acts on: events of
	// other types are passed over, without a transaction, and their offsets
	// committed with the rest.
	Types   []string
	Handler Handler
	// Dedup, when set, applies each event at most once: the handler runs in
	// the transaction that records the event id. Without it the handler sees
	// redelivered events again (at-least-once).
	Dedup Deduper
	// Tx, with Dedup, applies the events fetched together (up to MaxBatch)
	// in one transaction, each still deduplicated on its own; when that
	// transaction fails they are applied one by one. Without it each event
	// has a transaction of its own.
	Tx      Transactor
	Logger  *slog.Logger
	Metrics *Metrics
	// StartAtEnd makes a group that has no committed offset start with the
	// messages written after it joined instead of the oldest ones (for
	// per-node fan-out groups that must not replay history).
	StartAtEnd bool

	// HeartbeatInterval defaults to 3 s.
	HeartbeatInterval time.Duration
	// SessionTimeout defaults to 30 s.
	SessionTimeout time.Duration
	// RebalanceTimeout defaults to 30 s.
	RebalanceTimeout time.Duration
	// JoinGroupBackoff defaults to 5 s.
	JoinGroupBackoff time.Duration
	// MaxWait bounds how long a fetch waits for new messages; default 500 ms.
	MaxWait time.Duration
	// MaxBatch bounds the messages handled, and committed, together;
	// default 500.
	MaxBatch int
	// BatchWait is how long, after a message, the consumer waits for more
	// to handle with it; default 1 ms.
	BatchWait time.Duration
	// RetryBackoffMin and RetryBackoffMax bound the pause before a failed
	// event is retried; defaults 100 ms and 10 s.
	RetryBackoffMin, RetryBackoffMax time.Duration
	// LagInterval is how often the group's lag is measured for the metrics;
	// default 10 s.
	LagInterval time.Duration
}

// Transactor runs a function in a database transaction that the Deduper
// and the handler join through the context (storage.Transactor).
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Consumer runs a handler over the events of some topics as a member of a
// consumer group, committing offsets only after the handler's effects
// committed. The messages waiting when it fetches are handled as a batch
// and their offsets committed together.
type Consumer struct {
	cfg    ConsumerConfig
	logger *slog.Logger
}

// NewConsumer returns a consumer for cfg, filling in the default durations.
func NewConsumer(cfg ConsumerConfig) *Consumer {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.HeartbeatInterval, 3*time.Second)
	def(&cfg.SessionTimeout, 30*time.Second)
	def(&cfg.RebalanceTimeout, 30*time.Second)
	def(&cfg.JoinGroupBackoff, 5*time.Second)
	def(&cfg.MaxWait, 500*time.Millisecond)
	def(&cfg.RetryBackoffMin, 100*time.Millisecond)
	def(&cfg.RetryBackoffMax, 10*time.Second)
	def(&cfg.LagInterval, 10*time.Second)
	def(&cfg.BatchWait, time.Millisecond)
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 500
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Consumer{cfg: cfg, logger: logger.With("component", "consumer", "group", cfg.GroupID)}
}

// Run consumes until ctx ends, then closes the reader and returns nil. A
// failing handler is retried with a growing pause and its event is never
// skipped; a message that is not a valid CloudEvent is logged, counted and
// skipped.
func (c *Consumer) Run(ctx context.Context) error {
	if c.cfg.GroupID == "" || len(c.cfg.Topics) == 0 || c.cfg.Handler == nil {
		return errors.New("consumer: group id, topics and handler are required")
	}
	tr := &kafka.Transport{DialTimeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	start := kafka.FirstOffset
	if c.cfg.StartAtEnd {
		start = kafka.LastOffset
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           c.cfg.Brokers,
		GroupID:           c.cfg.GroupID,
		GroupTopics:       c.cfg.Topics,
		StartOffset:       start,
		HeartbeatInterval: c.cfg.HeartbeatInterval,
		SessionTimeout:    c.cfg.SessionTimeout,
		RebalanceTimeout:  c.cfg.RebalanceTimeout,
		JoinGroupBackoff:  c.cfg.JoinGroupBackoff,
		MaxWait:           c.cfg.MaxWait,
		ErrorLogger:       errorLogger(c.logger.With("component", "kafka-reader")),
	})
	defer r.Close()

	lctx, stopLag := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		c.watchLag(lctx, &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Timeout: 10 * time.Second, Transport: tr})
	})
	defer wg.Wait()
	defer stopLag()

	fetchBackoff := backoff{min: c.cfg.RetryBackoffMin, max: c.cfg.RetryBackoffMax}
	batch := make([]kafka.Message, 0, c.cfg.MaxBatch)
	for {
		msg, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d := fetchBackoff.next()
			c.logger.Error("fetch message", "err", err, "retry_in", d)
			if !sleep(ctx, d) {
				return nil
			}
			continue
		}
		fetchBackoff.reset()
		batch = append(batch[:0], msg)
		c.gather(ctx, r, &batch)
		if !c.processBatch(ctx, batch) {
			return nil
		}
		c.commit(ctx, r, batch)
	}
}

// gather adds to batch the messages that arrive within BatchWait, up to
// MaxBatch. A fetch cut short by its deadline takes no message.
func (c *Consumer) gather(ctx context.Context, r *kafka.Reader, batch *[]kafka.Message) {
	if c.cfg.MaxBatch <= 1 {
		return
	}
	gctx, cancel := context.WithTimeout(ctx, c.cfg.BatchWait)
	defer cancel()
	for len(*batch) < c.cfg.MaxBatch {
		msg, err := r.FetchMessage(gctx)
		if err != nil {
			return
		}
		*batch = append(*batch, msg)
	}
}

// processBatch applies a batch of messages, in one transaction when it can,
// reporting false when ctx ended first.
func (c *Consumer) processBatch(ctx context.Context, msgs []kafka.Message) bool {
	evs := make([]event.Event, 0, len(msgs))
	kept := make([]kafka.Message, 0, len(msgs))
	for _, msg := range msgs {
		if ev, ok := c.decode(msg); ok && c.wants(ev.Type) {
			evs, kept = append(evs, ev), append(kept, msg)
		}
	}
	if c.cfg.Tx != nil && c.cfg.Dedup != nil && len(evs) > 1 {
		applied := make([]bool, len(evs))
		err := c.cfg.Tx.InTx(ctx, func(ctx context.Context) error {
			for i, ev := range evs {
				var err error
				if applied[i], err = c.apply(ctx, ev); err != nil {
					return fmt.Errorf("event %s: %w", ev.ID, err)
				}
			}
			return nil
		})
		if err == nil {
			for _, a := range applied {
				c.count(a)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		c.cfg.Metrics.incHandlerFailure(c.cfg.GroupID)
		c.logger.Warn("handle batch; applying its events one by one", "err", err, "events", len(evs))
	}
	for i, ev := range evs {
		if !c.process(ctx, kept[i], ev) {
			return false
		}
	}
	return true
}

// wants reports whether the handler acts on events of type typ.
func (c *Consumer) wants(typ string) bool {
	return len(c.cfg.Types) == 0 || slices.Contains(c.cfg.Types, typ)
}

// decode reads msg's event; a message that is not a valid CloudEvent is
// logged, counted and skipped.
func (c *Consumer) decode(msg kafka.Message) (event.Event, bool) {
	ev, err := Decode(msg)
	if err != nil {
		c.cfg.Metrics.incPoison(c.cfg.GroupID)
		c.logger.Error("skip poison message", "err", err,
			"topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset)
		return event.Event{}, false
	}
	return ev, true
}

// count records an event applied, or skipped as a duplicate.
func (c *Consumer) count(applied bool) {
	if applied {
		c.cfg.Metrics.incConsumed(c.cfg.GroupID)
	} else {
		c.cfg.Metrics.incDuplicate(c.cfg.GroupID)
	}
}

// process applies ev, decoded from msg, until it succeeds, reporting false
// when ctx ended first.
func (c *Consumer) process(ctx context.Context, msg kafka.Message, ev event.Event) bool {
	bo := backoff{min: c.cfg.RetryBackoffMin, max: c.cfg.RetryBackoffMax}
	for attempt := 1; ; attempt++ {
		applied, err := c.apply(ctx, ev)
		if err == nil {
			c.count(applied)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		c.cfg.Metrics.incHandlerFailure(c.cfg.GroupID)
		d := bo.next()
		c.logger.Error("handle event", "err", err, "event_id", ev.ID, "event_type", ev.Type,
			"topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset,
			"attempt", attempt, "retry_in", d)
		if !sleep(ctx, d) {
			return false
		}
	}
}

// apply runs the handler, inside the deduplicating transaction when there is one.
func (c *Consumer) apply(ctx context.Context, ev event.Event) (applied bool, err error) {
	if c.cfg.Dedup == nil {
		return true, c.cfg.Handler(ctx, ev)
	}
	return c.cfg.Dedup.Once(ctx, c.cfg.GroupID, ev.ID, func(ctx context.Context) error {
		return c.cfg.Handler(ctx, ev)
	})
}

// commit records the offsets of msgs (the last of each partition counts).
// It still tries when ctx just ended, since the effects are committed
// already; a lost commit only means the events are delivered again and
// skipped as duplicates.
func (c *Consumer) commit(ctx context.Context, r *kafka.Reader, msgs []kafka.Message) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.CommitMessages(cctx, msgs...); err != nil {
		last := msgs[len(msgs)-1]
		c.logger.Warn("commit offsets", "err", err, "messages", len(msgs),
			"topic", last.Topic, "partition", last.Partition, "offset", last.Offset)
	}
}

// watchLag measures the group's lag every LagInterval until ctx ends.
func (c *Consumer) watchLag(ctx context.Context, client *kafka.Client) {
	if c.cfg.Metrics == nil {
		return
	}
	for {
		if !sleep(ctx, c.cfg.LagInterval) {
			return
		}
		lag, err := groupLag(ctx, client, c.cfg.GroupID, c.cfg.Topics, c.cfg.StartAtEnd)
		if err != nil {
			if ctx.Err() == nil {
				c.logger.Warn("measure consumer lag", "err", err)
			}
			continue
		}
		c.cfg.Metrics.setConsumerLag(c.cfg.GroupID, lag)
	}
}

// GroupLag returns how many messages of topics the group has not committed
// yet, summed over all partitions. A partition without a committed offset
// counts from its first offset.
func GroupLag(ctx context.Context, brokers []string, group string, topics []string) (int64, error) {
	tr := &kafka.Transport{DialTimeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	return groupLag(ctx, &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: tr}, group, topics, false)
}

// groupLag is GroupLag on client; with fromEnd, a partition without a
// committed offset has no lag.
func groupLag(ctx context.Context, client *kafka.Client, group string, topics []string, fromEnd bool) (int64, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return 0, fmt.Errorf("group lag: metadata: %w", err)
	}
	parts := make(map[string][]int)
	reqs := make(map[string][]kafka.OffsetRequest)
	for _, t := range md.Topics {
		if t.Error != nil {
			return 0, fmt.Errorf("group lag: topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
			reqs[t.Name] = append(reqs[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: reqs})
	if err != nil {
		return 0, fmt.Errorf("group lag: list offsets: %w", err)
	}
	type tp struct {
		topic     string
		partition int
	}
	done := make(map[tp]int64)
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err == nil {
		err = committed.Error
	} else {
		committed = &kafka.OffsetFetchResponse{}
	}
	// A group that never committed is unknown to some brokers: it has
	// everything still to read.
	if err != nil && !errors.Is(err, kafka.GroupIdNotFound) {
		return 0, fmt.Errorf("group lag: committed offsets: %w", err)
	}
	for t, ps := range committed.Topics {
		for _, p := range ps {
			if errors.Is(p.Error, kafka.GroupIdNotFound) {
				continue
			}
			if p.Error != nil {
				return 0, fmt.Errorf("group lag: committed offset of %s/%d: %w", t, p.Partition, p.Error)
			}
			done[tp{t, p.Partition}] = p.CommittedOffset
		}
	}
	var lag int64
	for t, ps := range offs.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return 0, fmt.Errorf("group lag: offsets of %s/%d: %w", t, p.Partition, p.Error)
			}
			at, ok := done[tp{t, p.Partition}]
			switch {
			case (!ok || at < 0) && fromEnd:
				at = p.LastOffset
			case !ok || at < p.FirstOffset:
				at = p.FirstOffset
			}
			lag += max(0, p.LastOffset-at)
		}
	}
	return lag, nil
}
