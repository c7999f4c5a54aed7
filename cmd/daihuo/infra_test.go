package main

import (
	"context"
	"strings"
	"testing"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/storage/storagetest"
	"github.com/daihuo/daihuo/streaming"
)

// testAdminToken is the DAIHUO_ADMIN_TOKEN of the servers tests start.
const testAdminToken = "test-admin-token-0123456789"

// sharedInfra gives the servers of one test a fresh database and a broker
// of their own with the topics made, and returns their environment:
// DATABASE_URL, KAFKA_BROKERS and DAIHUO_ADMIN_TOKEN, as KEY=value entries.
// Several servers started with it are nodes of one deployment.
func sharedInfra(ctx context.Context, t *testing.T) []string {
	t.Helper()
	b, err := streaming.StartEmbeddedBroker("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := streaming.EnsureTopics(ctx, b.Addrs(), event.Topics(), 6); err != nil {
		t.Fatal(err)
	}
	return []string{
		"DATABASE_URL=" + storagetest.NewDSN(t),
		"KAFKA_BROKERS=" + strings.Join(b.Addrs(), ","),
		"DAIHUO_ADMIN_TOKEN=" + testAdminToken,
	}
}

// envFunc turns KEY=value entries into a getenv for run.
func envFunc(env []string) func(string) string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(k string) string { return m[k] }
}
