package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/daihuo/daihuo/domain/id"
)

// maxBodyBytes is the contract's limit on request bodies: 1 MiB.
const maxBodyBytes = 1 << 20

// requestIDHeader carries the request id in and out.
const requestIDHeader = "X-Request-Id"

// requestIDKey is the context key of the request id.
type requestIDKey struct{}

// RequestID returns the id of the HTTP request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	v, _ := ctx.Value(requestIDKey{}).(string)
	return v
}

// requestID takes a sane incoming X-Request-Id or makes one, echoes it and
// puts it in the request context, where LogHandler finds it.
func (s *server) requestID(c *gin.Context) {
	rid := c.GetHeader(requestIDHeader)
	if !saneRequestID(rid) {
		rid = id.New("req", s.now())
	}
	c.Header(requestIDHeader, rid)
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), requestIDKey{}, rid))
}

// saneRequestID accepts 1 to 128 characters that are safe in logs and headers.
func saneRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case b == '-', b == '_', b == '.', b == ':', b == '/', b == '+', b == '=':
		default:
			return false
		}
	}
	return true
}

// httpMetrics are the HTTP series of one registry.
type httpMetrics struct {
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// newHTTPMetrics registers the HTTP series on reg, reusing them when another
// handler already registered them there.
func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Duration of HTTP requests by method, route template and status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route", "status"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
	}
	m.duration = register(reg, m.duration)
	m.inFlight = register(reg, m.inFlight)
	return m
}

// register registers c on reg, or returns the equal collector already there.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	if err != nil {
		panic(fmt.Sprintf("register metric: %v", err)) // a programming error: clashing metric names.
	}
	return c
}

// metricMethod bounds the method label to the standard methods.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// observe writes the access log line and the metrics of every request.
func (s *server) observe(c *gin.Context) {
	start := time.Now()
	s.metrics.inFlight.Inc()
	defer s.metrics.inFlight.Dec()

	c.Next()

	elapsed := time.Since(start)
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	s.metrics.duration.WithLabelValues(metricMethod(c.Request.Method), route, strconv.Itoa(status)).Observe(elapsed.Seconds())

	attrs := []slog.Attr{
		slog.String("method", c.Request.Method),
		slog.String("route", route),
		slog.String("path", c.Request.URL.Path),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.Int("bytes", c.Writer.Size()),
		slog.String("client_ip", c.ClientIP()),
	}
	if p := principal(c); p.Role != "" {
		attrs = append(attrs, slog.String("role", string(p.Role)))
	}
	s.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "http request", attrs...)
}

// recoverPanic turns a panic into a bare 500 and logs it with its stack.
func (s *server) recoverPanic(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v) // net/http's own way to abort a response silently.
		}
		s.log.ErrorContext(c.Request.Context(), "panic", slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		s.writeProblem(c, internalProblem())
	}()
	c.Next()
}

// limitBody rejects bodies over 1 MiB: at once by Content-Length, and while
// reading through http.MaxBytesReader (writeError maps *http.MaxBytesError).
func (s *server) limitBody(c *gin.Context) {
	if c.Request.ContentLength > maxBodyBytes {
		s.writeError(c, &http.MaxBytesError{Limit: maxBodyBytes})
		return
	}
	if c.Request.Body != nil && c.Request.Body != http.NoBody {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes)
	}
}

// noStore keeps /v1 answers out of every cache and stops browsers sniffing
// their type: they carry client secrets and tokens. The event stream sets
// its own Cache-Control (no-cache) when it starts, which replaces this one.
func noStore(c *gin.Context) {
	if p := c.Request.URL.Path; p == "/v1" || strings.HasPrefix(p, "/v1/") {
		h := c.Writer.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
	}
}
