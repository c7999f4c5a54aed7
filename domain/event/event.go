// Package event defines the business events daihuo records in its outbox and
// publishes to Kafka as CloudEvents.
package event

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/daihuo/daihuo/domain/id"
)

// Topics carry one kind of aggregate each; the message key is the aggregate id.
const (
	TopicOrders  = "daihuo.orders"
	TopicGifts   = "daihuo.gifts"
	TopicPayouts = "daihuo.payouts"
	TopicLive    = "daihuo.live"
)

// Topics lists every topic the service creates at start.
func Topics() []string { return []string{TopicOrders, TopicGifts, TopicPayouts, TopicLive} }

// Source is the CloudEvents source attribute of every event daihuo emits.
const Source = "/daihuo"

// Event is one fact that happened, addressed to a topic and keyed by the
// aggregate it belongs to so that one aggregate's events stay in order.
type Event struct {
	ID      string          // unique, the CloudEvents id: consumers deduplicate on it
	Type    string          // versioned, e.g. daihuo.order.paid.v1
	Source  string          // CloudEvents source
	Topic   string          // Kafka topic
	Subject string          // aggregate id, used as the Kafka message key
	Time    time.Time       // when it happened, UTC
	Data    json.RawMessage // JSON payload
}

// New builds an event with a fresh id, marshalling data to JSON.
func New(topic, typ, subject string, data any, now time.Time) (Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("marshal %s: %w", typ, err)
	}
	return Event{
		ID:      id.New("evt", now),
		Type:    typ,
		Source:  Source,
		Topic:   topic,
		Subject: subject,
		Time:    now.UTC(),
		Data:    raw,
	}, nil
}
