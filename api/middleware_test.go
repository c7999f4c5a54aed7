package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/daihuo/daihuo/api/apitest"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/party"
)

func TestRequestID(t *testing.T) {
	env := newTestEnv(t, nil)
	tests := []struct {
		name, incoming string
		echoed         bool
	}{
		{"sane is echoed", "abc-123_X.y:z", true},
		{"absent is generated", "", false},
		{"too long is replaced", strings.Repeat("a", 129), false},
		{"unsafe is replaced", "a b\"c", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := apitest.NewRequest(t, http.MethodGet, "/nope", "", nil)
			if tt.incoming != "" {
				req.Header.Set("X-Request-Id", tt.incoming)
			}
			res := env.Do(req).Want(404)
			got := res.Header.Get("X-Request-Id")
			if tt.echoed && got != tt.incoming {
				t.Errorf("X-Request-Id %q, want %q", got, tt.incoming)
			}
			if !tt.echoed && !id.Valid("req", got) {
				t.Errorf("generated X-Request-Id %q is not a req id", got)
			}
			if p := res.Problem(); p.RequestID != got {
				t.Errorf("problem request_id %q, header %q", p.RequestID, got)
			}
		})
	}
}

func TestAccessLog(t *testing.T) {
	env := newTestEnv(t, nil)
	req := apitest.NewRequest(t, http.MethodGet, "/test/brand", brandToken, nil)
	req.Header.Set("X-Request-Id", "log-me")
	env.Do(req).Want(200)
	var line map[string]any
	for _, l := range env.logs.lines(t) {
		if l["msg"] == "http request" {
			line = l
		}
	}
	want := map[string]any{"method": "GET", "route": "/test/brand", "path": "/test/brand", "status": float64(200), "role": "brand", "request_id": "log-me"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access log %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	if _, ok := line["duration_ms"].(float64); !ok {
		t.Errorf("access log without duration_ms: %v", line)
	}
}

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(LogHandler(slog.NewJSONHandler(&buf, nil)))).With("a", 1).WithGroup("g")
	ctx := context.WithValue(context.Background(), requestIDKey{}, "rid-1")
	log.InfoContext(ctx, "with", "b", 2)
	log.InfoContext(context.Background(), "without")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	if strings.Count(lines[0], "rid-1") != 1 || strings.Contains(lines[1], "request_id") {
		t.Errorf("lines %q", lines)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
}

func TestMetrics(t *testing.T) {
	env := newTestEnv(t, nil)
	env.Call(http.MethodGet, "/healthz", "", nil).Want(200)
	env.Call(http.MethodGet, "/nope", "", nil).Want(404)
	env.Call(http.MethodGet, "/test/error/nope", "", nil).Want(500)
	res := env.Call(http.MethodGet, "/metrics", "", nil).Want(200)
	body := string(res.Body)
	for _, want := range []string{
		`http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 1`,
		`http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1`,
		`http_request_duration_seconds_count{method="GET",route="/test/error/:code",status="500"} 1`,
		"# TYPE http_requests_in_flight gauge",
		"http_requests_in_flight 1", // the /metrics request itself
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

func TestMetricsOnSharedRegistry(t *testing.T) {
	reg := NewRegistry()
	_ = New(Deps{Registry: reg}) // a second handler on the same registry reuses the series
	c := apitest.New(t, New(Deps{Registry: reg}), apitest.LoadSpec(t, OpenAPI()))
	body := string(c.Call(http.MethodGet, "/metrics", "", nil).Want(200).Body)
	for _, want := range []string{"go_goroutines", "process_", "http_requests_in_flight"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestClientIPBehindTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		proxies []string
		want    string
	}{
		{"no proxy trusted: the peer", nil, "192.0.2.1"},
		{"the peer is a trusted proxy", []string{"192.0.2.0/24"}, "203.0.113.9"},
		{"another proxy is trusted", []string{"10.0.0.1"}, "192.0.2.1"},
		{"a list that does not parse trusts none", []string{"192.0.2.0/24", "not-an-address"}, "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, func(d *Deps) { d.TrustedProxies = tt.proxies })
			req := apitest.NewRequest(t, http.MethodGet, "/test/whoami", "", nil)
			req.RemoteAddr = "192.0.2.1:1234"
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			env.Do(req).Want(200)
			var got any
			for _, l := range env.logs.lines(t) {
				if l["msg"] == "http request" {
					got = l["client_ip"]
				}
			}
			if got != tt.want {
				t.Errorf("client_ip = %v, want %s", got, tt.want)
			}
		})
	}
}

// Every /v1 answer, problems included, is kept out of caches (it may carry
// a client secret or a token) and not sniffed; the event stream keeps its
// own Cache-Control, and routes outside /v1 are left alone.
func TestNoStore(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	o := w.newOrder(t, 0, 1)
	shopper := w.token(party.RoleShopper, 0)
	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		{"a shopper and its token", http.MethodPost, "/v1/shoppers", "", map[string]any{"display_name": "Cache test"}, 201},
		{"an order and its client secret", http.MethodGet, "/v1/orders/" + o.ID, shopper, nil, 200},
		{"a public stream", http.MethodGet, "/v1/streams/" + w.a().stream.ID, "", nil, 200},
		{"a problem", http.MethodGet, "/v1/me", "", nil, 401},
		{"an unknown route", http.MethodGet, "/v1/nope", "", nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := c.Call(tt.method, tt.path, tt.token, tt.body).Want(tt.status)
			if got := res.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
		})
	}
	if res := c.Call(http.MethodGet, "/healthz", "", nil).Want(200); res.Header.Get("Cache-Control") == "no-store" {
		t.Errorf("/healthz got Cache-Control no-store")
	}

	// The event stream, served over a real connection, says no-cache itself.
	ev := openEvents(t, w, "/v1/streams/"+w.a().stream.ID+"/events", "", "")
	defer ev.close()
	if ev.status != http.StatusOK {
		t.Fatalf("events: status %d: %s", ev.status, ev.body)
	}
	if got := ev.header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("events: Cache-Control %q, want the stream's no-cache", got)
	}
	if got := ev.header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("events: X-Content-Type-Options %q, want nosniff", got)
	}
}
