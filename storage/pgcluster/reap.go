package pgcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// OwnerFile is the file, inside a directory made by MkdirTemp, that names the
// process owning the directory.
const OwnerFile = "owner"

// unownedGrace is how long a directory without a readable owner file is left
// alone: it may be being made right now, or belong to an older daihuo.
const unownedGrace = time.Hour

// owner identifies a process on this machine, robust to pid reuse (start
// time), to reboots (boot id) and to pid namespaces (a pid from another
// namespace cannot be judged).
type owner struct {
	pid   int
	start string // /proc/<pid>/stat field 22, clock ticks since boot
	boot  string // /proc/sys/kernel/random/boot_id
	pidNS string // readlink /proc/self/ns/pid
}

// MkdirTemp makes a new directory like os.MkdirTemp and records the running
// process as its owner, so that ReapOrphans leaves it alone while the process
// lives and reaps it once the process has died.
func MkdirTemp(parent, pattern string) (string, error) {
	me, err := self()
	if err != nil {
		return "", fmt.Errorf("identify this process: %w", err)
	}
	dir, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return "", err
	}
	if err := writeOwner(dir, me); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// ReapOrphans stops the PostgreSQL servers in, and removes, the directories
// matching the glob pattern (such as filepath.Join(os.TempDir(),
// "daihuo-pg-*")) whose owner process has died: the debris of test and bench
// runs killed before their clean-up ran. A directory whose owner lives, whose
// owner cannot be judged, or which has no readable owner file and is younger
// than an hour is left alone. It returns the directories it removed and
// reports every step and failure to log (which may be nil); it never fails.
func ReapOrphans(ctx context.Context, pattern string, log func(string)) []string {
	if log == nil {
		log = func(string) {}
	}
	dirs, err := filepath.Glob(pattern)
	if err != nil {
		log(fmt.Sprintf("reap %s: %v", pattern, err))
		return nil
	}
	if len(dirs) == 0 {
		return nil
	}
	me, err := self()
	if err != nil {
		log(fmt.Sprintf("reap %s: cannot judge owners: %v", pattern, err))
		return nil
	}
	var reaped []string
	for _, dir := range dirs {
		if ctx.Err() != nil {
			break
		}
		why, ok := orphaned(dir, me, log)
		if !ok {
			continue
		}
		if err := stopServers(ctx, dir, log); err != nil {
			log(fmt.Sprintf("reap %s (%s): %v; left in place", dir, why, err))
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			log(fmt.Sprintf("reap %s (%s): %v", dir, why, err))
			continue
		}
		log(fmt.Sprintf("reaped %s (%s)", dir, why))
		reaped = append(reaped, dir)
	}
	return reaped
}

// orphaned says whether dir may be reaped, and why.
func orphaned(dir string, me owner, log func(string)) (string, bool) {
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return "", false
	}
	o, err := readOwner(dir)
	if err != nil {
		if age := time.Since(fi.ModTime()); age >= unownedGrace {
			return fmt.Sprintf("no owner recorded, %s old", age.Round(time.Minute)), true
		}
		return "", false
	}
	switch {
	case o.boot != "" && o.boot != me.boot:
		return fmt.Sprintf("owner pid %d ran before the last boot", o.pid), true
	case o.pidNS != me.pidNS:
		log(fmt.Sprintf("reap %s: owner pid %d is in another pid namespace (%s); left alone", dir, o.pid, o.pidNS))
		return "", false
	}
	alive, err := o.alive()
	if err != nil {
		log(fmt.Sprintf("reap %s: owner pid %d: %v; left alone", dir, o.pid, err))
		return "", false
	}
	if alive {
		return "", false
	}
	return fmt.Sprintf("owner pid %d has exited", o.pid), true
}

// alive reports whether the process still runs: its pid exists, is not a
// zombie and started when the recorded one did.
func (o owner) alive() (bool, error) {
	state, start, err := procStat(o.pid)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return state != "Z" && (o.start == "" || start == o.start), nil
}

// self identifies the running process.
func self() (owner, error) {
	o := owner{pid: os.Getpid()}
	var err error
	if _, o.start, err = procStat(o.pid); err != nil {
		return owner{}, err
	}
	if o.pidNS, err = os.Readlink("/proc/self/ns/pid"); err != nil {
		return owner{}, err
	}
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return owner{}, err
	}
	o.boot = strings.TrimSpace(string(b))
	return o, nil
}

// procStat reads a process's state (field 3) and start time (field 22) from
// /proc/<pid>/stat.
func procStat(pid int) (state, start string, err error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", "", err
	}
	return parseStat(string(b))
}

// parseStat picks the state and start time out of a /proc/<pid>/stat line.
// The command name (field 2) is in parentheses and may itself hold spaces
// and parentheses, so fields are counted after its last ')'.
func parseStat(line string) (state, start string, err error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return "", "", fmt.Errorf("malformed /proc stat %q", line)
	}
	f := strings.Fields(line[i+1:]) // f[0] is field 3
	if len(f) < 22-2 {
		return "", "", fmt.Errorf("malformed /proc stat %q", line)
	}
	return f[0], f[22-3], nil
}

func writeOwner(dir string, o owner) error {
	body := fmt.Sprintf("pid=%d\nstart=%s\nboot=%s\npidns=%s\n", o.pid, o.start, o.boot, o.pidNS)
	// Written aside and renamed in, so a reader never sees half a file.
	tmp := filepath.Join(dir, OwnerFile+".tmp")
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		return fmt.Errorf("record owner: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, OwnerFile)); err != nil {
		return fmt.Errorf("record owner: %w", err)
	}
	return nil
}

func readOwner(dir string) (owner, error) {
	f, err := os.Open(filepath.Join(dir, OwnerFile))
	if err != nil {
		return owner{}, err
	}
	defer f.Close()
	var o owner
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, _ := strings.Cut(s.Text(), "=")
		switch k {
		case "pid":
			o.pid, _ = strconv.Atoi(v)
		case "start":
			o.start = v
		case "boot":
			o.boot = v
		case "pidns":
			o.pidNS = v
		}
	}
	if err := s.Err(); err != nil {
		return owner{}, err
	}
	if o.pid <= 0 {
		return owner{}, errors.New("owner file names no pid")
	}
	return o, nil
}

// stopServers stops every PostgreSQL server running on a data directory
// under dir (dir/data for storagetest, dir/postgres/data for a daihuo data
// dir): an immediate shutdown, since nothing in an orphan is worth keeping.
func stopServers(ctx context.Context, dir string, log func(string)) error {
	var datas []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if _, err := os.Stat(filepath.Join(path, "PG_VERSION")); err == nil {
			datas = append(datas, path)
			return filepath.SkipDir
		}
		if rel, _ := filepath.Rel(dir, path); strings.Count(rel, string(filepath.Separator)) >= 2 {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("look for postgres data: %w", err)
	}
	for _, data := range datas {
		pid, err := postmasterOf(data)
		if err != nil {
			return err
		}
		if pid == 0 {
			continue
		}
		if err := shutdown(ctx, pid); err != nil {
			return fmt.Errorf("stop postgres pid %d on %s: %w", pid, data, err)
		}
		log(fmt.Sprintf("stopped postgres pid %d on %s", pid, data))
	}
	return nil
}

// postmasterOf returns the pid of the server running on the data directory,
// or 0 when none is. The pid in postmaster.pid only counts when that process
// works in the data directory: a stale file's pid may name anything by now.
func postmasterOf(data string) (int, error) {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, nil // being written, or a single-user backend: no server to signal
	}
	cwd, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "cwd"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres pid %d: %w", pid, err)
	}
	want, err := filepath.EvalSymlinks(data)
	if err != nil {
		return 0, err
	}
	if cwd != want {
		return 0, nil
	}
	return pid, nil
}

// shutdown asks the postmaster for an immediate shutdown (SIGQUIT, what
// `pg_ctl stop -m immediate` sends) and waits for it to exit, killing it if
// it does not within ten seconds.
func shutdown(ctx context.Context, pid int) error {
	for _, sig := range []syscall.Signal{syscall.SIGQUIT, syscall.SIGKILL} {
		if err := syscall.Kill(pid, sig); errors.Is(err, syscall.ESRCH) {
			return nil
		} else if err != nil {
			return err
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			if state, _, err := procStat(pid); err != nil || state == "Z" {
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return errors.New("still running after SIGKILL")
}
