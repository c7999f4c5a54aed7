// Package stripemocktest runs Stripe's stripe-mock (the `tool` of go.mod,
// v0.180.0, which speaks stripe-go v76's API version) for tests: one server
// per test binary, on loopback ports the system picks, stopped when the
// tests end. It never skips: when stripe-mock cannot be built or started the
// tests fail and say why.
package stripemocktest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvBin names the environment variable that may point at a stripe-mock
// binary, skipping the build.
const EnvBin = "STRIPE_MOCK_BIN"

// startTimeout bounds finding, building and starting stripe-mock.
const startTimeout = 3 * time.Minute

// Server is a running stripe-mock.
type Server struct {
	// URL is the base URL of its HTTP listener, e.g. http://127.0.0.1:41234.
	URL     string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	out     *tail
	cleanup func() // removes a binary built for this server
}

// harness is the server of this test binary, started by Main: a test
// process owns it for its whole life.
var harness struct {
	srv *Server
	err error
}

// Main starts stripe-mock, runs the tests and stops it. Call it as
// `func TestMain(m *testing.M) { stripemocktest.Main(m) }`; tests then get the
// server's URL from URL(t).
func Main(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	harness.srv, harness.err = Start(ctx)
	cancel()
	code := m.Run()
	if harness.srv != nil {
		if err := harness.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stripemocktest: stop:", err)
		}
	}
	os.Exit(code)
}

// URL returns the base URL of the stripe-mock started by Main, failing the
// test with the reason when it did not start.
func URL(t testing.TB) string {
	t.Helper()
	switch {
	case harness.err != nil:
		t.Fatalf("stripemocktest: stripe-mock did not start: %v", harness.err)
	case harness.srv == nil:
		t.Fatal("stripemocktest: no stripe-mock; call stripemocktest.Main from TestMain")
	}
	return harness.srv.URL
}

// Start finds or builds stripe-mock (see Binary), starts it listening on
// 127.0.0.1 only, with ports the system picks and the API version check
// on, and waits until it answers.
func Start(ctx context.Context) (*Server, error) {
	bin, cleanup, err := Binary(ctx)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0", "-strict-version-check")
	cmd.Stdout, cmd.Stderr = pw, pw
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		cleanup()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{cmd: cmd, done: make(chan struct{}), out: &tail{}, cleanup: cleanup}
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(s.done)
	}()
	addr := make(chan string, 1)
	go func() {
		const prefix = "Listening for HTTP at address: "
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			s.out.add(line)
			if a, ok := strings.CutPrefix(line, prefix); ok {
				select {
				case addr <- strings.TrimSpace(a):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case <-s.done:
		return nil, fmt.Errorf("stripe-mock exited before listening: %s", s.out)
	case <-ctx.Done():
		s.Stop()
		return nil, fmt.Errorf("stripe-mock did not listen in time: %w; output: %s", ctx.Err(), s.out)
	}
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls the server until it answers an API request.
func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/balance", nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth("sk_test_stripemocktest", "")
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stripe-mock at %s not ready: %v; output: %s", s.URL, err, s.out)
		case <-s.done:
			return fmt.Errorf("stripe-mock exited: %s", s.out)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() error {
	defer s.cleanup()
	select {
	case <-s.done:
		return nil
	default:
	}
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill stripe-mock: %w", err)
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("stripe-mock did not exit after kill")
	}
}

// Binary returns the path of a stripe-mock executable: $STRIPE_MOCK_BIN when
// set, else the one `go tool -n stripe-mock` builds and caches for the
// module, else a fresh `go build` of github.com/stripe/stripe-mock into a
// temporary folder, which cleanup removes.
func Binary(ctx context.Context) (bin string, cleanup func(), err error) {
	noop := func() {}
	if bin := os.Getenv(EnvBin); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", noop, fmt.Errorf("%s=%s: %w", EnvBin, bin, err)
		}
		return bin, noop, nil
	}
	out, toolErr := exec.CommandContext(ctx, "go", "tool", "-n", "stripe-mock").Output()
	if bin := strings.TrimSpace(string(out)); toolErr == nil && bin != "" {
		if _, err := os.Stat(bin); err == nil {
			return bin, noop, nil
		}
	}
	dir, err := os.MkdirTemp("", "stripe-mock-")
	if err != nil {
		return "", noop, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	bin = filepath.Join(dir, "stripe-mock")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/stripe/stripe-mock")
	if out, err := build.CombinedOutput(); err != nil {
		cleanup()
		return "", noop, fmt.Errorf("build stripe-mock (go tool -n failed too: %v): %w: %s", toolErr, err, out)
	}
	return bin, cleanup, nil
}

// tail keeps the last lines of the server's output for error messages.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 50 {
		t.lines = t.lines[1:]
	}
	t.lines = append(t.lines, line)
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b bytes.Buffer
	for _, l := range t.lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if b.Len() == 0 {
		return "(no output)"
	}
	return b.String()
}
