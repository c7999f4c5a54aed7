package streaming

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// EmbeddedBroker is a single-node Kafka-protocol broker running inside the
// process on loopback, so `daihuo serve` runs without an external Kafka.
type EmbeddedBroker struct {
	cluster *kfake.Cluster
}

// StartEmbeddedBroker starts a broker listening on a free port of 127.0.0.1.
// With a non-empty dataDir, topics, records and committed group offsets are
// kept there and reloaded on the next start; an empty dataDir keeps
// everything in memory (tests). With a data dir every produced batch is
// fsynced before it is acknowledged: the relay marks outbox rows sent on
// that acknowledgement, so a record must survive a power loss as the
// Postgres commit that marked it does (a single node has no replica to
// fall back on, unlike a Kafka cluster relying on the page cache).
func StartEmbeddedBroker(dataDir string) (*EmbeddedBroker, error) {
	opts := []kfake.Opt{
		kfake.Ports(0),
		kfake.DefaultNumPartitions(6),
		// Lets tests use short session timeouts; clients still choose theirs.
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if dataDir != "" {
		opts = append(opts, kfake.DataDir(dataDir), kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded broker: %w", err)
	}
	return &EmbeddedBroker{cluster: c}, nil
}

// Addrs returns the host:port addresses to give Kafka clients.
func (b *EmbeddedBroker) Addrs() []string { return b.cluster.ListenAddrs() }

// Close stops the broker, writing its state to the data dir when it has one.
func (b *EmbeddedBroker) Close() { b.cluster.Close() }
