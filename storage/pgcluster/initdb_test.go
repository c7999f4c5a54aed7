package pgcluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A first start interrupted while initdb runs (Ctrl-C on the first make
// run) leaves nothing the next start would take for a cluster: the next
// start creates it afresh and serves.
func TestInterruptedInitdbLeavesNoCluster(t *testing.T) {
	pgdir := clusterDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // cancel as soon as initdb has begun writing a cluster
		for ctx.Err() == nil {
			for _, d := range []string{"data", "data.new"} {
				if _, err := os.Stat(filepath.Join(pgdir, d, "PG_VERSION")); err == nil {
					cancel()
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	if c, err := Start(ctx, Options{Dir: pgdir}); err == nil {
		c.Stop(context.Background())
		t.Fatal("initdb finished before it could be interrupted; nothing was tested")
	}
	c, err := Start(context.Background(), Options{Dir: pgdir})
	if err != nil {
		t.Fatalf("start after an interrupted initdb: %v", err)
	}
	defer c.Stop(context.Background())
	if err := c.CreateDatabase(context.Background(), "after", ""); err != nil {
		t.Fatalf("the cluster does not serve: %v", err)
	}
}

// A data folder without a cluster that holds something (a file, a link to
// another disk) is never deleted to make room: the start says what to do.
func TestInitdbLeavesAForeignDataFolderAlone(t *testing.T) {
	pgdir := clusterDir(t)
	if err := os.MkdirAll(filepath.Join(pgdir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	notes := filepath.Join(pgdir, "data", "notes.txt")
	if err := os.WriteFile(notes, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := Start(context.Background(), Options{Dir: pgdir}); err == nil {
		c.Stop(context.Background())
		t.Fatal("started a cluster over a folder that held a file")
	} else if !strings.Contains(err.Error(), "holds no cluster") {
		t.Fatalf("start = %v, want it to say the folder holds no cluster", err)
	}
	if b, err := os.ReadFile(notes); err != nil || string(b) != "mine" {
		t.Fatalf("the file in the folder: %q, %v", b, err)
	}
}

// clusterDir returns where a test's cluster goes, in a folder the test
// owns and removes.
func clusterDir(t *testing.T) string {
	t.Helper()
	dir, err := MkdirTemp("", "daihuo-pg-initdb-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "pg")
}
