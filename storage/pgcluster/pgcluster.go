// Package pgcluster runs a private PostgreSQL 15 cluster from the server
// binaries installed on the machine: the default database of `make run` and of
// the test harness. It listens on 127.0.0.1 only and, when the process runs as
// root, runs the server as the postgres user (PostgreSQL refuses root).
package pgcluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultBinDir is where Debian's postgresql-15 package puts the server
// binaries; FindBinDir falls back to a newer major version when it is absent.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// minMajor is the oldest PostgreSQL major version daihuo runs on.
const minMajor = 15

// FindBinDir returns the server binaries Start uses when Options.BinDir is
// empty: PostgreSQL 15's, else the newest major version of at least 15
// installed the Debian way under root (normally /usr/lib/postgresql), or ""
// when there is none.
func FindBinDir(root string) string {
	if hasPgCtl(filepath.Join(root, strconv.Itoa(minMajor), "bin")) {
		return filepath.Join(root, strconv.Itoa(minMajor), "bin")
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return ""
	}
	best := 0
	for _, e := range entries {
		if v, err := strconv.Atoi(e.Name()); err == nil && v > best && v >= minMajor && hasPgCtl(filepath.Join(root, e.Name(), "bin")) {
			best = v
		}
	}
	if best == 0 {
		return ""
	}
	return filepath.Join(root, strconv.Itoa(best), "bin")
}

func hasPgCtl(binDir string) bool {
	_, err := os.Stat(filepath.Join(binDir, "pg_ctl"))
	return err == nil
}

// Options configure a cluster.
type Options struct {
	Dir    string // holds data/, postgres.log and the password file; created if missing
	BinDir string // PostgreSQL server binaries; FindBinDir's choice when empty
	Port   int    // 0 picks a free loopback port
	// Ephemeral trades durability for speed (no fsync, no full-page writes):
	// for test clusters that are thrown away.
	Ephemeral bool
}

// Cluster is a running private PostgreSQL server.
type Cluster struct {
	dir, bin, data string
	port           int
	password       string
	cred           *syscall.Credential
	adopted        bool
}

// Start initialises the cluster on first use and starts it, or adopts a server
// already running on the same data directory (left by a killed process).
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.BinDir == "" {
		o.BinDir = FindBinDir("/usr/lib/postgresql")
	}
	if o.BinDir == "" {
		o.BinDir = DefaultBinDir // named in the error below
	}
	if _, err := os.Stat(filepath.Join(o.BinDir, "pg_ctl")); err != nil {
		return nil, fmt.Errorf("postgres server binaries not found in %s (run scripts/deps.sh run, install postgresql-15, name them with DAIHUO_PG_BIN, or set DATABASE_URL): %w", o.BinDir, err)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("postgres dir: %w", err)
	}
	c := &Cluster{dir: dir, bin: o.BinDir, data: filepath.Join(dir, "data")}
	// Parents stay traversable so the server's user can reach its folder.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("create postgres dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create postgres dir: %w", err)
	}
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err != nil {
			return nil, err
		}
		if err := reachable(filepath.Dir(dir)); err != nil {
			return nil, err
		}
		c.cred = cred
		if err := chownTree(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	if err := c.loadOrCreatePassword(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(c.data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(ctx, o.Ephemeral); err != nil {
			return nil, err
		}
	}
	if port, ok := c.runningPort(ctx); ok {
		c.port, c.adopted = port, true
		return c, c.waitReady(ctx)
	}
	// A free port found by listening and closing can be taken by another
	// process (another test binary starting its cluster) before the server
	// binds it: then pick another, a few times.
	for attempt := 1; ; attempt++ {
		c.port = o.Port
		if c.port == 0 {
			if c.port, err = freePort(); err != nil {
				return nil, err
			}
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories='' -c max_connections=300", c.port)
		if o.Ephemeral {
			opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
		}
		out, err := c.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.data, "-l", filepath.Join(dir, "postgres.log"), "-o", opts)
		if err == nil {
			break
		}
		logTail := c.logTail()
		if o.Port != 0 || attempt == 5 || !strings.Contains(logTail, "could not bind") {
			return nil, fmt.Errorf("pg_ctl start: %w: %s%s", err, out, logTail)
		}
	}
	return c, c.waitReady(ctx)
}

// Adopted reports that the server was already running when Start was
// called (another daihuo process serves from it, or one was killed).
func (c *Cluster) Adopted() bool { return c.adopted }

// Port is the loopback TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// DSN is the connection URL of the named database as the superuser.
func (c *Cluster) DSN(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", c.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates the named database unless it exists, optionally as
// a copy of a template database.
func (c *Cluster) CreateDatabase(ctx context.Context, name, template string) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		stmt += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down, letting open transactions roll back.
func (c *Cluster) Stop(ctx context.Context) error {
	if out, err := c.run(ctx, "pg_ctl", "stop", "-w", "-m", "fast", "-D", c.data); err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, out)
	}
	return nil
}

// initdb creates the cluster aside, in data.new, and renames it into place
// once complete: an initdb interrupted (Ctrl-C on a first start) leaves no
// half-made data directory that later starts would take for a cluster.
func (c *Cluster) initdb(ctx context.Context, ephemeral bool) error {
	staging := c.data + ".new"
	if err := os.RemoveAll(staging); err != nil { // left by an interrupted initdb
		return fmt.Errorf("remove an unfinished cluster: %w", err)
	}
	pwfile := filepath.Join(c.dir, "initdb.pw")
	if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("write password file: %w", err)
	}
	defer os.Remove(pwfile)
	if err := c.chown(pwfile); err != nil {
		return err
	}
	args := []string{"-D", staging, "-U", "postgres", "--pwfile", pwfile, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C"}
	if ephemeral {
		args = append(args, "--no-sync")
	}
	if out, err := c.run(ctx, "initdb", args...); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	if fi, err := os.Lstat(c.data); err == nil { // there, without PG_VERSION
		// Only an empty folder is taken over; anything else (files, a link
		// to another disk, a mount) is left for a person to look at.
		if !fi.IsDir() || os.Remove(c.data) != nil {
			return fmt.Errorf("initdb: %s is there but holds no cluster (no PG_VERSION); move it away, or empty it", c.data)
		}
	}
	if err := os.Rename(staging, c.data); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	return nil
}

// runningPort reports the port of a server already running on this data
// directory, read from postmaster.pid.
func (c *Cluster) runningPort(ctx context.Context) (int, bool) {
	if _, err := c.run(ctx, "pg_ctl", "status", "-D", c.data); err != nil {
		return 0, false
	}
	f, err := os.Open(filepath.Join(c.data, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for line := 1; s.Scan(); line++ {
		if line == 4 {
			port, err := strconv.Atoi(strings.TrimSpace(s.Text()))
			return port, err == nil
		}
	}
	return 0, false
}

func (c *Cluster) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("postgres on port %d not ready: %w", c.port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) loadOrCreatePassword() error {
	path := filepath.Join(c.dir, "password")
	if b, err := os.ReadFile(path); err == nil {
		c.password = strings.TrimSpace(string(b))
		return nil
	}
	buf := make([]byte, 18)
	_, _ = rand.Read(buf)
	c.password = hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(c.password), 0o600); err != nil {
		return fmt.Errorf("write password: %w", err)
	}
	return nil
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	// Its own process group keeps a terminal's Ctrl-C from reaching the server
	// before the service has drained its requests and stopped it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// pg_ctl start leaves the postmaster holding the output pipes unless they
	// are files; with a buffer Wait would block until the server exits.
	if name == "pg_ctl" && len(args) > 0 && args[0] == "start" {
		cmd.Stdout, cmd.Stderr = nil, nil
	}
	err := cmd.Run()
	return out.Bytes(), err
}

func (c *Cluster) chown(path string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}

func (c *Cluster) logTail() string {
	b, err := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "\npostgres.log: " + string(b)
}

func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres user to run the server (install postgresql-15): %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func chownTree(root string, uid, gid int) error {
	return filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, uid, gid); err != nil {
			return fmt.Errorf("chown %s: %w", path, err)
		}
		return nil
	})
}

// reachable checks that every folder from / to dir lets other users through,
// since the server runs as the postgres user rather than root.
func reachable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("postgres dir: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("the postgres user cannot reach %s: %s has mode %s; choose another data dir (DAIHUO_DATA_DIR) or run chmod o+x %s", dir, d, fi.Mode().Perm(), d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
