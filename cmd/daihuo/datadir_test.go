package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A second serve on a data dir another serve uses refuses to start, and
// leaves the first one's private Postgres and broker running (it used to
// stop that Postgres when it gave up).
func TestSecondServeOnADataDirRefusesAndLeavesTheFirst(t *testing.T) {
	dir := dataDir(t)
	u, stop := startServe(t, dir)
	defer stop()
	err := run(context.Background(), []string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--log-level", "error"},
		func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "another daihuo serve uses the data dir") {
		t.Fatalf("second serve = %v, want a refusal naming the data dir", err)
	}
	if code, body := get(t, u+"/readyz"); code != http.StatusOK {
		t.Fatalf("the first serve after the second's refusal: readyz = %d %s", code, body)
	}
}

// A node without the api role (relay and settle here) still answers its
// health, readiness and metrics, and nothing else.
func TestNodeWithoutTheAPIServesOperations(t *testing.T) {
	u, stop := startServe(t, dataDir(t), "--roles", "relay,settle")
	defer stop()
	for _, tt := range []struct {
		path string
		code int
		body string
	}{
		{"/healthz", http.StatusOK, `"ok"`},
		{"/readyz", http.StatusOK, `"postgres":"ok"`},
		{"/metrics", http.StatusOK, "daihuo_outbox_backlog"},
		{"/v1/products", http.StatusNotFound, "not_found"},
	} {
		if code, body := get(t, u+tt.path); code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s = %d %.200s; want %d with %q", tt.path, code, body, tt.code, tt.body)
		}
	}
}
