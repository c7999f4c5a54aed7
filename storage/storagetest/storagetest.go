// Package storagetest is the test harness for code that needs a real
// PostgreSQL: one private cluster per test binary, started by Main from
// TestMain, and a fresh migrated database for every test.
package storagetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/pgcluster"
)

const template = "daihuo_template"

// harness is the one cluster of this test binary. A test process is the
// unit that owns it, so it lives for the whole process.
var harness struct {
	cluster *pgcluster.Cluster
	seq     atomic.Int64
	once    sync.Once
	err     error
}

// Main starts the cluster, runs the tests and removes the cluster. Call it as
// `func TestMain(m *testing.M) { storagetest.Main(m) }`.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// Clusters of test binaries killed before their clean-up (go test
	// -timeout, SIGKILL) outlive them: stop and remove those first.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	pgcluster.ReapOrphans(ctx, filepath.Join(os.TempDir(), "daihuo-pg-*"), func(s string) { fmt.Fprintln(os.Stderr, "storagetest:", s) })
	cancel()
	dir, err := pgcluster.MkdirTemp("", "daihuo-pg-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "storagetest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, BinDir: os.Getenv("DAIHUO_PG_BIN"), Ephemeral: true})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "storagetest: start postgres:", err)
		return 1
	}
	harness.cluster = c
	defer c.Stop(context.Background())
	return m.Run()
}

// Cluster returns the running cluster; it fails the test when Main was not used.
func Cluster(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	if harness.cluster == nil {
		t.Fatal("storagetest: no cluster; call storagetest.Main from TestMain")
	}
	return harness.cluster
}

// NewDSN creates a fresh database with every migration applied and returns
// its connection URL.
func NewDSN(t testing.TB) string {
	t.Helper()
	c := Cluster(t)
	ctx := context.Background()
	harness.once.Do(func() { harness.err = migrateTemplate(ctx, c) })
	if harness.err != nil {
		t.Fatalf("storagetest: template database: %v", harness.err)
	}
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), harness.seq.Add(1))
	if err := c.CreateDatabase(ctx, name, template); err != nil {
		t.Fatalf("storagetest: %v", err)
	}
	return c.DSN(name)
}

// NewDB opens a fresh migrated database, closed when the test ends.
func NewDB(t testing.TB) *gorm.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), NewDSN(t))
	if err != nil {
		t.Fatalf("storagetest: %v", err)
	}
	t.Cleanup(func() { storage.Close(db) })
	return db
}

func migrateTemplate(ctx context.Context, c *pgcluster.Cluster) error {
	if err := c.CreateDatabase(ctx, template, ""); err != nil {
		return err
	}
	db, err := storage.Open(ctx, c.DSN(template))
	if err != nil {
		return err
	}
	defer storage.Close(db)
	m, err := storage.NewMigrator(storage.SQL(db))
	if err != nil {
		return err
	}
	_, err = m.Up(ctx)
	return err
}
