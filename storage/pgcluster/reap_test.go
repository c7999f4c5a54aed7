package pgcluster

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tail := " S 1 2 3 0 -1 4194304 102 0 0 0 0 0 0 0 20 0 1 0 2047283 3133440 416"
	for _, tc := range []struct {
		name, line, state, start string
		ok                       bool
	}{
		{"plain", "31021 (cat)" + tail, "S", "2047283", true},
		{"name with spaces and parens", "31021 (a) b (c))" + tail, "S", "2047283", true},
		{"truncated", "31021 (cat) S 1 2 3", "", "", false},
		{"no name", "31021 cat S", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state, start, err := parseStat(tc.line)
			if (err == nil) != tc.ok || state != tc.state || start != tc.start {
				t.Fatalf("parseStat = %q, %q, %v; want %q, %q, ok %v", state, start, err, tc.state, tc.start, tc.ok)
			}
		})
	}
}

func TestMkdirTempRecordsTheRunningProcess(t *testing.T) {
	dir, err := MkdirTemp(t.TempDir(), "owned-")
	if err != nil {
		t.Fatal(err)
	}
	o, err := readOwner(dir)
	if err != nil {
		t.Fatal(err)
	}
	me, err := self()
	if err != nil {
		t.Fatal(err)
	}
	if o != me {
		t.Fatalf("owner = %+v, want this process %+v", o, me)
	}
	if alive, err := o.alive(); !alive || err != nil {
		t.Fatalf("alive = %v, %v for this process", alive, err)
	}
}

// A mixed /tmp: orphans of dead owners, with and without a running server,
// in storagetest's layout and in a daihuo data dir's, next to directories
// that must survive, among them one whose server serves its living owner.
func TestReapOrphans(t *testing.T) {
	bin := FindBinDir("/usr/lib/postgresql")
	if bin == "" {
		t.Skip("no postgres server binaries")
	}
	// This test's own clusters, should it be killed, are reaped by its next run.
	ReapOrphans(context.Background(), filepath.Join(os.TempDir(), "daihuo-reaptest-*"), func(s string) { t.Log(s) })
	root, err := MkdirTemp("", "daihuo-reaptest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil { // the postgres user must reach the clusters
		t.Fatal(err)
	}
	me, err := self()
	if err != nil {
		t.Fatal(err)
	}
	dead := exitedProcess(t)
	reused := me
	reused.start += "0" // this pid, as if it had since been taken by a newer process
	foreign := dead
	foreign.pidNS = "pid:[1]"
	rebooted := me
	rebooted.boot = "another-boot"
	bystander := exec.Command("sleep", "60") // a live process a stale postmaster.pid names
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bystander.Process.Kill(); _ = bystander.Wait() })

	const garbage, absent = "garbage", "absent"
	cases := []struct {
		name    string
		owner   any    // an owner, garbage or absent
		old     bool   // last modified two hours ago
		cluster string // data dir of a running server, "" for none
		stale   bool   // a data dir whose postmaster.pid names the bystander
		reaped  bool

		dir  string
		c    *Cluster
		pmid int // the server's postmaster
	}{
		{name: "dead owner, server running", owner: dead, cluster: "data", reaped: true},
		{name: "dead owner, daihuo data dir with server", owner: dead, cluster: "postgres/data", reaped: true},
		{name: "dead owner, no server", owner: dead, reaped: true},
		{name: "dead owner, stale postmaster.pid", owner: dead, stale: true, reaped: true},
		{name: "owner pid reused", owner: reused, reaped: true},
		{name: "owner ran before a reboot", owner: rebooted, reaped: true},
		{name: "no owner file, old", owner: absent, old: true, reaped: true},
		{name: "live owner, server running", owner: me, cluster: "data"},
		{name: "live owner, old", owner: me, old: true},
		{name: "owner in another pid namespace", owner: foreign, old: true},
		{name: "no owner file, young", owner: absent},
		{name: "unreadable owner file, young", owner: garbage},
	}
	var wg sync.WaitGroup
	for i := range cases {
		tc := &cases[i]
		tc.dir = filepath.Join(root, strconv.Itoa(i))
		if err := os.Mkdir(tc.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if tc.cluster == "" {
			continue
		}
		wg.Go(func() { // about half a second each: start them together
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := Start(ctx, Options{Dir: filepath.Dir(filepath.Join(tc.dir, tc.cluster)), BinDir: bin, Ephemeral: true})
			if err != nil {
				t.Errorf("%s: start postgres: %v", tc.name, err)
				return
			}
			tc.c = c
			t.Cleanup(func() { _ = c.Stop(context.Background()) })
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i := range cases {
		tc := &cases[i]
		if tc.c != nil {
			if tc.pmid, err = postmasterOf(filepath.Join(tc.dir, tc.cluster)); err != nil || tc.pmid == 0 {
				t.Fatalf("%s: postmaster pid %d, %v", tc.name, tc.pmid, err)
			}
		}
		if tc.stale {
			data := filepath.Join(tc.dir, "data")
			if err := os.Mkdir(data, 0o700); err != nil {
				t.Fatal(err)
			}
			for name, body := range map[string]string{"PG_VERSION": "15\n", "postmaster.pid": strconv.Itoa(bystander.Process.Pid) + "\n" + data + "\n"} {
				if err := os.WriteFile(filepath.Join(data, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		switch o := tc.owner.(type) {
		case owner:
			err = writeOwner(tc.dir, o)
		case string:
			if o == garbage {
				err = os.WriteFile(filepath.Join(tc.dir, OwnerFile), []byte("pid=\n"), 0o644)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if tc.old {
			then := time.Now().Add(-2 * time.Hour)
			if err := os.Chtimes(tc.dir, then, then); err != nil {
				t.Fatal(err)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reaped := ReapOrphans(ctx, filepath.Join(root, "*"), func(s string) { t.Log(s) })

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := os.Stat(tc.dir)
			if exists := err == nil; exists == tc.reaped || slices.Contains(reaped, tc.dir) != tc.reaped {
				t.Fatalf("directory exists %v, reported reaped %v; want reaped %v", exists, slices.Contains(reaped, tc.dir), tc.reaped)
			}
			if tc.pmid != 0 && gone(tc.pmid) != tc.reaped {
				t.Fatalf("postmaster %d gone %v, want %v", tc.pmid, gone(tc.pmid), tc.reaped)
			}
			if tc.c != nil && !tc.reaped {
				if err := tc.c.CreateDatabase(ctx, "still_serving", ""); err != nil {
					t.Fatalf("the live owner's server stopped answering: %v", err)
				}
			}
			if tc.stale && gone(bystander.Process.Pid) {
				t.Fatal("the process a stale postmaster.pid named was signalled")
			}
		})
	}
}

// exitedProcess returns the identity of a process that has exited.
func exitedProcess(t *testing.T) owner {
	t.Helper()
	me, err := self()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Until Wait the child stays readable in /proc, as a zombie at worst.
	_, start, err := procStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return owner{pid: cmd.Process.Pid, start: start, boot: me.boot, pidNS: me.pidNS}
}

// gone reports that the process has exited (or is a zombie nobody reaped).
func gone(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	state, _, err := parseStat(string(b))
	return err == nil && state == "Z"
}
