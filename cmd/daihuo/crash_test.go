package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/daihuo/daihuo/storage"
)

// serveChildEnv makes the test binary run `daihuo serve` instead of tests,
// so a test can SIGKILL a real server process.
const serveChildEnv = "DAIHUO_TEST_SERVE_ARGS"

// runChildIfAsked runs serve with the JSON-encoded arguments of
// serveChildEnv and exits; it returns when the variable is unset.
func runChildIfAsked() {
	raw := os.Getenv(serveChildEnv)
	if raw == "" {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		fmt.Fprintln(os.Stderr, "bad", serveChildEnv, err)
		os.Exit(2)
	}
	ctx, stop := signalContext() // signals act as on the real binary
	defer stop()
	if err := run(ctx, args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "daihuo:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// childServer is a serve process the test can kill.
type childServer struct {
	url string
	cmd *exec.Cmd
}

// startChild starts a serve process on a port of its own choosing (no other
// process can take it between a pick and the bind), with the test's
// environment but none of the settings of the shell that ran the tests.
func startChild(t *testing.T, env []string, args ...string) *childServer {
	t.Helper()
	return startChildCmd(t, exec.Command(os.Args[0], "-test.run=^$"), env, args...)
}

// startChildCmd is startChild running the test binary through cmd (a
// shell that changes how it starts, say).
func startChildCmd(t *testing.T, cmd *exec.Cmd, env []string, args ...string) *childServer {
	t.Helper()
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "error"}, args...)
	raw, _ := json.Marshal(args)
	cmd.Env = append(append(ownEnv(os.Environ()), serveChildEnv+"="+string(raw)), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var url string
	select {
	case u, ok := <-awaitServing(out):
		if !ok {
			t.Fatal("server child exited before serving")
		}
		url = u
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("server child not serving within a minute")
	}
	s := &childServer{url: url, cmd: cmd}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return s
}

// ownEnv drops from env the settings that would make a child server other
// than the test means it to be: the service's own variables and the
// real-infrastructure ones.
func ownEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return strings.HasPrefix(name, "DAIHUO_") || strings.HasPrefix(name, "STRIPE_") ||
			name == "DATABASE_URL" || name == "KAFKA_BROKERS" || name == "GOGC"
	})
}

// A server killed with SIGKILL in the middle of a flash sale loses and
// oversells nothing: after a restart every unit of the sale is remaining,
// held by a reservation or sold, every order a buyer was told about exists,
// and the rest of the sale sells exactly what was left.
func TestSIGKILLMidSaleOversellsAndLosesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env := sharedInfra(ctx, t)
	dsn := envFunc(env)("DATABASE_URL")
	dir := dataDir(t)
	// Short holds, so that after the restart what the killed process held
	// comes back within the test.
	holds := []string{"--data-dir", dir, "--reservation-ttl", "4s", "--orphan-grace", "1s"}
	srv := startChild(t, env, holds...)

	w, err := newBenchWorld(ctx, &benchServer{url: srv.url, admin: testAdminToken})
	if err != nil {
		t.Fatal(err)
	}
	streamID, products, err := w.liveStream(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	const units = 150
	var pin struct{ ID string }
	flash := map[string]any{"price": map[string]any{"amount": 999, "currency": "EUR"}, "quantity": units,
		"ends_at": time.Now().Add(30 * time.Minute).UTC().Format(time.RFC3339)}
	if err := w.call(ctx, w.brand, "POST", "/v1/streams/"+streamID+"/pins", map[string]any{"product_id": products[0], "flash": flash}, &pin); err != nil {
		t.Fatal(err)
	}
	var prod struct {
		Variants []struct {
			ID    string `json:"id"`
			Stock int64  `json:"stock_available"`
		} `json:"variants"`
	}
	if err := w.call(ctx, "", "GET", "/v1/products/"+products[0], nil, &prod); err != nil {
		t.Fatal(err)
	}
	variantID, initialStock := prod.Variants[0].ID, prod.Variants[0].Stock

	const buyers = 400
	tokens := make([]string, buyers)
	for i := range tokens {
		var sh struct{ Token string }
		if err := w.call(ctx, "", "POST", "/v1/shoppers", map[string]any{"display_name": fmt.Sprintf("Buyer %d", i)}, &sh); err != nil {
			t.Fatal(err)
		}
		tokens[i] = sh.Token
	}
	body, _ := json.Marshal(map[string]any{
		"stream_id": streamID, "pin_id": pin.ID,
		"items":    []map[string]any{{"variant_id": variantID, "quantity": 1}},
		"shipping": map[string]any{"name": "Buyer", "line1": "1 Main St", "city": "Lyon", "postal_code": "69001", "country": "FR"},
	})
	client := &http.Client{Timeout: 30 * time.Second}
	placeOrder := func(url, token, key string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/orders", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := client.Do(req)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		var o struct{ ID string }
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &o)
		return resp.StatusCode, o.ID
	}

	// The sale, with a SIGKILL once the first orders are through.
	var mu sync.Mutex
	confirmed := map[string]bool{} // orders a buyer got a 201 for
	var created atomic.Int64
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, id := placeOrder(srv.url, tokens[i], "first-"+strconv.Itoa(i))
			if status == http.StatusCreated {
				mu.Lock()
				confirmed[id] = true
				mu.Unlock()
				if created.Add(1) == 40 {
					once.Do(func() {
						_ = srv.cmd.Process.Signal(syscall.SIGKILL)
						close(killed)
					})
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("the server was never killed: only %d orders went through", created.Load())
	}
	_ = srv.cmd.Wait()

	db, err := storage.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer storage.Close(db)
	checkUnits := func(when string) (remaining, holding int64) {
		t.Helper()
		var row struct{ Remaining, Held, Variant int64 }
		err := db.Raw(`SELECT p.flash_remaining AS remaining,
				(SELECT coalesce(sum(quantity), 0) FROM stock_reservations r WHERE r.pin_id = p.id AND r.status <> 'released') AS held,
				(SELECT stock_available FROM variants WHERE id = ?) AS variant
			FROM pins p WHERE p.id = ?`, variantID, pin.ID).Scan(&row).Error
		if err != nil {
			t.Fatal(err)
		}
		if row.Remaining < 0 || row.Remaining+row.Held != units {
			t.Fatalf("%s: %d remaining + %d held or sold != %d units", when, row.Remaining, row.Held, units)
		}
		if row.Variant+row.Held != initialStock {
			t.Fatalf("%s: variant stock %d + %d held or sold != %d", when, row.Variant, row.Held, initialStock)
		}
		return row.Remaining, row.Held
	}
	remaining, held := checkUnits("after SIGKILL")
	var lost int64
	if err := db.Raw(`SELECT count(*) FROM orders WHERE id IN ?`, keys(confirmed)).Scan(&lost).Error; err != nil {
		t.Fatal(err)
	}
	if lost != int64(len(confirmed)) {
		t.Fatalf("%d orders were confirmed to buyers but only %d exist", len(confirmed), lost)
	}
	t.Logf("killed after %d confirmed orders: %d units held or sold, %d remaining", len(confirmed), held, remaining)

	// Restart on the same database. The orders nobody paid for expire and the
	// reservations whose order the crash never wrote are given back, so every
	// unit comes back; then the rest of the sale sells exactly that.
	srv2 := startChild(t, env, holds...)
	deadline := time.Now().Add(30 * time.Second)
	for remaining != units {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d units came back after the holds expired", remaining, units)
		}
		time.Sleep(200 * time.Millisecond)
		remaining, _ = checkUnits("while holds expire")
	}
	var sold atomic.Int64
	for i := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, _ := placeOrder(srv2.url, tokens[i], "second-"+strconv.Itoa(i)); status == http.StatusCreated {
				sold.Add(1)
			}
		}()
	}
	wg.Wait()
	if sold.Load() != remaining {
		t.Fatalf("after the restart %d units sold, want exactly the %d left", sold.Load(), remaining)
	}
	if r, _ := checkUnits("after the restart"); r != 0 {
		t.Fatalf("%d units remain after selling out", r)
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
