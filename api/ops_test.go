package api

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// checker is a readiness check that returns err, or waits for its deadline
// when block is set.
type checker struct {
	name  string
	err   error
	block bool
}

func (c checker) Name() string { return c.name }

func (c checker) Check(ctx context.Context) error {
	if c.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return c.err
}

func TestHealthz(t *testing.T) {
	env := newTestEnv(t, nil)
	var body struct{ Status string }
	env.Call(http.MethodGet, "/healthz", "", nil).Want(200).JSON(&body)
	if body.Status != "ok" {
		t.Errorf("status %q", body.Status)
	}
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name   string
		checks []Checker
		status int
		want   map[string]string
	}{
		{"nothing to check", nil, 200, map[string]string{}},
		{"all ok", []Checker{checker{name: "database"}, checker{name: "broker"}}, 200,
			map[string]string{"database": "ok", "broker": "ok"}},
		{"one fails", []Checker{checker{name: "database"}, checker{name: "broker", err: errors.New("dial tcp: refused")}}, 503,
			map[string]string{"database": "ok", "broker": "failed"}},
		{"one hangs past the timeout", []Checker{checker{name: "database", block: true}, checker{name: "broker"}}, 503,
			map[string]string{"database": "failed", "broker": "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, func(d *Deps) { d.Ready, d.ReadyTimeout = tt.checks, 50*time.Millisecond })
			var body struct {
				Status string
				Checks map[string]string
			}
			res := env.Call(http.MethodGet, "/readyz", "", nil).Want(tt.status)
			res.JSON(&body)
			wantStatus := map[int]string{200: "ok", 503: "unavailable"}[tt.status]
			if body.Status != wantStatus || len(body.Checks) != len(tt.want) {
				t.Errorf("body %+v", body)
			}
			for k, v := range tt.want {
				if body.Checks[k] != v {
					t.Errorf("check %s = %q, want %q", k, body.Checks[k], v)
				}
			}
			if bytes.Contains(res.Body, []byte("refused")) {
				t.Errorf("readyz leaks the reason: %s", res.Body)
			}
		})
	}
}

func TestOpenAPIServed(t *testing.T) {
	env := newTestEnv(t, nil)
	res := env.Call(http.MethodGet, "/openapi.yaml", "", nil).Want(200)
	if !bytes.Equal(res.Body, OpenAPI()) || res.Header.Get("Content-Type") != "application/yaml" {
		t.Errorf("served %d bytes as %q", len(res.Body), res.Header.Get("Content-Type"))
	}
}
