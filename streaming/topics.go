package streaming

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// pingTimeout bounds a readiness check.
const pingTimeout = 2 * time.Second

// EnsureTopics creates the topics that do not exist yet with the given number
// of partitions (the broker's default when partitions <= 0) and the broker's
// default replication factor. Topics that already exist are left as they are.
func EnsureTopics(ctx context.Context, brokers []string, topics []string, partitions int) error {
	if len(topics) == 0 {
		return nil
	}
	if partitions <= 0 {
		partitions = -1
	}
	tr := &kafka.Transport{DialTimeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: tr}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{
			Topic:             t,
			NumPartitions:     partitions,
			ReplicationFactor: -1,
		})
	}
	res, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for t, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	return nil
}

// Ping checks that a broker answers a metadata request within a short
// timeout; it is the readiness probe of the event pipeline.
func Ping(ctx context.Context, brokers []string) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	tr := &kafka.Transport{DialTimeout: pingTimeout}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: pingTimeout, Transport: tr}
	if _, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}}); err != nil {
		return fmt.Errorf("ping kafka: %w", err)
	}
	return nil
}
