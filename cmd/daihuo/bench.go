package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/daihuo/daihuo/storage/pgcluster"
)

// bench runs the benchmark programs: `daihuo bench fanout|flashsale|all`.
// Each prints its figures next to a naive baseline measured in the same run.
func bench(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: daihuo bench fanout|flashsale|all [flags]")
	}
	switch args[0] {
	case "fanout":
		return benchFanout(ctx, args[1:], stdout)
	case "flashsale":
		return benchFlashSale(ctx, args[1:], stdout)
	case "all":
		if err := benchFanout(ctx, nil, stdout); err != nil {
			return err
		}
		return benchFlashSale(ctx, nil, stdout)
	}
	return fmt.Errorf("unknown benchmark %q (want fanout, flashsale or all)", args[0])
}

// benchServer is a `daihuo serve` child process on a private data dir.
type benchServer struct {
	url   string
	admin string
	cmd   *exec.Cmd
	dir   string
}

// startBenchServer starts this binary's serve on a fresh data dir with a
// known admin token and waits until it answers.
func startBenchServer(ctx context.Context, env map[string]string) (*benchServer, error) {
	// Data dirs of benches killed before their clean-up keep a server running.
	pgcluster.ReapOrphans(ctx, filepath.Join(os.TempDir(), "daihuo-bench-*"), func(s string) { fmt.Fprintln(os.Stderr, "bench:", s) })
	dir, err := pgcluster.MkdirTemp("", "daihuo-bench-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	tok := make([]byte, 24)
	_, _ = rand.Read(tok)
	s := &benchServer{admin: "bench_" + hex.EncodeToString(tok), dir: dir}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// Port 0: the server binds a free port itself and prints its URL.
	s.cmd = exec.CommandContext(ctx, self, "serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--log-level", "warn")
	s.cmd.Env = append(os.Environ(), "DAIHUO_ADMIN_TOKEN="+s.admin, "DATABASE_URL=", "KAFKA_BROKERS=")
	for k, v := range env {
		s.cmd.Env = append(s.cmd.Env, k+"="+v)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	select {
	case u, ok := <-awaitServing(stdout):
		if !ok {
			s.stop()
			return nil, errors.New("server exited before serving")
		}
		s.url = u
	case <-time.After(2 * time.Minute):
		s.stop()
		return nil, errors.New("server not serving within 2 minutes")
	}
	return s, nil
}

func (s *benchServer) rss() int64 { return readRSS(s.cmd.Process.Pid) }

func (s *benchServer) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	}
	os.RemoveAll(s.dir)
}

// awaitServing reads the output of `daihuo serve` and delivers the URL it
// prints once it serves; the channel closes without one when the output
// ends first. It keeps reading afterwards so the process never blocks on a
// full pipe.
func awaitServing(out io.Reader) <-chan string {
	urls := make(chan string, 1)
	go func() {
		defer close(urls)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "daihuo serving on "); ok {
				urls <- u
			}
		}
	}()
	return urls
}

// benchWorld holds the parties and tokens a benchmark acts with.
type benchWorld struct {
	srv     *benchServer
	client  *http.Client
	brand   string // token
	creator string // token
}

// newBenchWorld creates a brand and a creator with tokens through the API.
func newBenchWorld(ctx context.Context, srv *benchServer) (*benchWorld, error) {
	w := &benchWorld{srv: srv, client: &http.Client{Timeout: 30 * time.Second}}
	var brand, creator struct{ ID string }
	if err := w.call(ctx, srv.admin, "POST", "/v1/brands", map[string]any{"name": "Bench Brand"}, &brand); err != nil {
		return nil, err
	}
	if err := w.call(ctx, srv.admin, "POST", "/v1/creators", map[string]any{"handle": "bench_host", "display_name": "Bench Host"}, &creator); err != nil {
		return nil, err
	}
	var tok struct{ Token string }
	if err := w.call(ctx, srv.admin, "POST", "/v1/tokens", map[string]any{"role": "brand", "party_id": brand.ID}, &tok); err != nil {
		return nil, err
	}
	w.brand = tok.Token
	if err := w.call(ctx, srv.admin, "POST", "/v1/tokens", map[string]any{"role": "creator", "party_id": creator.ID}, &tok); err != nil {
		return nil, err
	}
	w.creator = tok.Token
	return w, nil
}

// liveStream creates n products, a live stream and its line-up.
func (w *benchWorld) liveStream(ctx context.Context, n int) (streamID string, products []string, err error) {
	var st struct{ ID string }
	if err := w.call(ctx, w.creator, "POST", "/v1/streams", map[string]any{"title": "Bench live", "currency": "EUR"}, &st); err != nil {
		return "", nil, err
	}
	for i := range n {
		var p struct{ ID string }
		body := map[string]any{"title": fmt.Sprintf("Bench product %d", i), "variants": []map[string]any{
			{"sku": fmt.Sprintf("BENCH-%d", i), "title": "One size", "price": map[string]any{"amount": 1999, "currency": "EUR"}, "stock": 1_000_000},
		}}
		if err := w.call(ctx, w.brand, "POST", "/v1/products", body, &p); err != nil {
			return "", nil, err
		}
		if err := w.call(ctx, w.brand, "POST", "/v1/streams/"+st.ID+"/lineup", map[string]any{"product_id": p.ID, "commission_bps": 1000}, nil); err != nil {
			return "", nil, err
		}
		products = append(products, p.ID)
	}
	if err := w.call(ctx, w.creator, "POST", "/v1/streams/"+st.ID+"/start", nil, nil); err != nil {
		return "", nil, err
	}
	return st.ID, products, nil
}

// pin pins a product as the host and returns the pin id.
func (w *benchWorld) pin(ctx context.Context, streamID, productID string) (string, error) {
	var p struct{ ID string }
	err := w.call(ctx, w.creator, "POST", "/v1/streams/"+streamID+"/pins", map[string]any{"product_id": productID}, &p)
	return p.ID, err
}

// call sends a JSON request and decodes a 2xx answer into out.
func (w *benchWorld) call(ctx context.Context, token, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, w.srv.url+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// jsonStringBytes returns the string value that follows key (such as
// `"id":"`) in a line of JSON, or nil: the first one, found without
// decoding, as a load generator's check should be.
func jsonStringBytes(line, key []byte) []byte {
	i := bytes.Index(line, key)
	if i < 0 {
		return nil
	}
	s := line[i+len(key):]
	j := bytes.IndexByte(s, '"')
	if j < 0 {
		return nil
	}
	return s[:j]
}
