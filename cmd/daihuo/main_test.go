package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daihuo/daihuo/storage/pgcluster"
)

// dataDir returns a folder the postgres user can reach, removed at the end.
func dataDir(t *testing.T) string {
	t.Helper()
	// Data dirs of test runs killed before their clean-up keep a server running.
	pgcluster.ReapOrphans(context.Background(), filepath.Join(os.TempDir(), "daihuo-serve-*"), func(s string) { t.Log(s) })
	dir, err := pgcluster.MkdirTemp("", "daihuo-serve-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startServe runs `daihuo serve` in the background and returns its URL and
// a function that stops it with the equivalent of SIGTERM and returns run's error.
func startServe(t *testing.T, dir string, extra ...string) (string, func() error) {
	t.Helper()
	return startServeWith(t, func(string) string { return "" }, dir, extra...)
}

func startServeWith(t *testing.T, getenv func(string) string, dir string, extra ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	args := append([]string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--log-level", "error"}, extra...)
	go func() {
		err := run(ctx, args, getenv, pw)
		pw.Close()
		done <- err
	}()
	select {
	case u, ok := <-awaitServing(pr):
		if !ok {
			cancel()
			t.Fatalf("serve exited before serving: %v", <-done)
		}
		var once sync.Once
		var stopErr error
		return u, func() error {
			once.Do(func() {
				cancel()
				select {
				case stopErr = <-done:
				case <-time.After(60 * time.Second):
					stopErr = errors.New("serve did not stop within 60s")
				}
			})
			return stopErr
		}
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatal("serve printed no URL within 2 minutes")
		return "", nil
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The default run starts its own Postgres and broker, serves, stops cleanly,
// and a second run finds the data of the first.
func TestServeOnEmbeddedDefaultsAndRestart(t *testing.T) {
	dir := dataDir(t)
	url, stop := startServe(t, dir, "--demo")
	if code, body := get(t, url+"/readyz"); code != http.StatusOK || !strings.Contains(body, `"postgres":"ok"`) || !strings.Contains(body, `"kafka":"ok"`) ||
		!strings.Contains(body, `"livefeed":"ok"`) {
		t.Fatalf("readyz = %d %s", code, body)
	}
	if code, body := get(t, url+"/metrics"); code != http.StatusOK || !strings.Contains(body, "http_request_duration_seconds") ||
		!strings.Contains(body, "\ndaihuo_refunds_unacknowledged 0\n") || !strings.Contains(body, "\ndaihuo_late_payments_unrefunded 0\n") {
		t.Fatalf("metrics = %d, lacks the request histogram or the refund gauges at 0:\n%s", code, body)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}

	url, stop = startServe(t, dir)
	defer stop()
	// A one-shot command beside the running server shares its Postgres and
	// leaves it running; its token sees the demo catalog of the first run.
	var tok strings.Builder
	if err := run(context.Background(), []string{"token", "create", "--role", "admin", "--data-dir", dir, "--log-level", "error"}, func(string) string { return "" }, &tok); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, url+"/v1/products?limit=100", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.String()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Data []struct{ Title string } }
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(list.Data) != 10 {
		t.Fatalf("after restart: GET /v1/products = %d with %d products (%v), want the 10 demo products", resp.StatusCode, len(list.Data), err)
	}
	if err := stop(); err != nil {
		t.Fatalf("second serve returned %v", err)
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"migrate", "status", "--data-dir", dir, "--log-level", "error"}, func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "pending") || !strings.Contains(out.String(), "applied") {
		t.Fatalf("migrate status after restart:\n%s", out.String())
	}
}

func TestConfigMasksSecretsAndRejectsBadRoles(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL":          "postgres://daihuo:hunter2@db:5432/daihuo",
		"STRIPE_SECRET_KEY":     "sk_test_123",
		"STRIPE_WEBHOOK_SECRET": "whsec_abc",
		"DAIHUO_ADMIN_TOKEN":    "admin-token-value",
		"KAFKA_BROKERS":         "k1:9092, k2:9092",
	}
	getenv := func(k string) string { return env[k] }
	c, err := loadConfig(newFlagSet(), []string{"--roles", "api,relay"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.KafkaBrokers) != 2 || c.KafkaBrokers[1] != "k2:9092" || c.Roles.String() != "api,relay,live" {
		t.Fatalf("config = %+v", c)
	}
	var logged strings.Builder
	newTestLogger(&logged).Info("config", "config", c)
	for _, s := range []string{"hunter2", "sk_test_123", "whsec_abc", "admin-token-value"} {
		if strings.Contains(logged.String(), s) {
			t.Fatalf("secret %q printed: %s", s, logged.String())
		}
	}
	if !strings.Contains(logged.String(), "postgres://daihuo:****@db:5432/daihuo") {
		t.Fatalf("database url not shown masked: %s", logged.String())
	}
	for _, roles := range []string{"api,web", "", " , "} {
		if _, err := loadConfig(newFlagSet(), []string{"--roles", roles}, getenv); err == nil {
			t.Errorf("roles %q accepted", roles)
		}
	}
}

func TestConfigTrustedProxies(t *testing.T) {
	tests := []struct {
		value   string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"10.0.0.0/8, 192.168.1.7", []string{"10.0.0.0/8", "192.168.1.7"}, false},
		{"::1,fd00::/8", []string{"::1", "fd00::/8"}, false},
		{"10.0.0.0/33", nil, true},
		{"proxy.internal", nil, true},
	}
	for _, tt := range tests {
		getenv := func(k string) string {
			if k == "DAIHUO_TRUSTED_PROXIES" {
				return tt.value
			}
			return ""
		}
		c, err := loadConfig(newFlagSet(), nil, getenv)
		if (err != nil) != tt.wantErr || !slices.Equal(c.TrustedProxies, tt.want) {
			t.Errorf("DAIHUO_TRUSTED_PROXIES=%q: %v, %v; want %v (error: %v)", tt.value, c.TrustedProxies, err, tt.want, tt.wantErr)
		}
	}
}
