package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/domain/report"
	"github.com/daihuo/daihuo/streaming/hub"
)

// Checker is one dependency /readyz probes, such as the database or the broker.
type Checker interface {
	// Name is the short label /readyz reports the result under.
	Name() string
	// Check returns nil when the dependency answers within ctx's deadline.
	Check(ctx context.Context) error
}

// Authenticator resolves a bearer token to the principal it acts as. It
// returns an error with code errs.CodeUnauthenticated (or errs.CodeNotFound)
// for a token that is unknown, revoked or expired; any other error is a
// server fault and answers 500.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (party.Principal, error)
}

// Fanout serves a stream's live events to one viewer over Server-Sent
// Events: the node's hub (hub.Hub, or hub.Naive for the benchmark baseline).
// Serve writes the snapshot (or, on a resume, the missed events) first and
// returns when the viewer leaves; an error before anything was written is
// answered as a problem.
type Fanout interface {
	Serve(w http.ResponseWriter, r *http.Request, streamID string, snapshot hub.Snapshot) error
}

// Deps is everything the HTTP api needs from the rest of the program; main
// fills it by hand. Later features add their services here.
type Deps struct {
	// Logger receives access logs, panics and unexpected errors; nil discards them.
	Logger *slog.Logger
	// Registry receives the HTTP metrics and is what /metrics serves; nil gets a
	// fresh registry. NewRegistry adds the Go and process collectors.
	Registry *prometheus.Registry
	// Ready lists what /readyz checks.
	Ready []Checker
	// Auth resolves bearer tokens; nil rejects every token with 401.
	Auth Authenticator
	// Clock is the wall clock (request ids); nil means time.Now.
	Clock func() time.Time
	// TrustedProxies are the addresses and CIDR ranges of proxies whose
	// X-Forwarded-For header names the client (for access logs and
	// anonymous viewers); none, or a list with an entry that does not
	// parse, means the peer address is the client.
	TrustedProxies []string
	// ReadyTimeout bounds each readiness check; zero means 2 s.
	ReadyTimeout time.Duration
	// Parties creates and reads brands, agencies, creators, shoppers and tokens.
	Parties *party.Service
	// Catalog keeps the brands' products, variants and stock.
	Catalog *catalog.Service
	// Live runs streams, their line-ups, pins and timelines.
	Live *live.Service
	// Room runs chat, moderation and likes of live streams.
	Room *live.Room
	// Presence counts each stream's viewers across nodes.
	Presence *live.Presence
	// Hub fans a stream's events out to this node's viewers.
	Hub Fanout
	// LiveFeedReady is closed once this node's live feed reads every
	// partition of the live topic. Until then the event streams answer 503
	// with Retry-After: a viewer let in earlier would miss, for good, the
	// events published before the feed started reading. nil: always ready.
	LiveFeedReady <-chan struct{}
	// Orders places, reads, cancels and refunds orders.
	Orders *order.Service
	// Webhooks verifies and applies the payment provider's webhooks posted
	// to /v1/webhooks/stripe (the order.Receiver on the process's gateway).
	Webhooks WebhookReceiver
	// LocalPayments confirms intents of the local payment simulator; nil,
	// or a nil *local.Simulator, when the process uses Stripe, and the
	// confirm route then answers 404.
	LocalPayments LocalPayments
	// Idempotency records the answers of requests made with an
	// Idempotency-Key.
	Idempotency IdempotencyStore
	// Stats answers a stream's stats from the projection its consumer
	// group keeps (GET /v1/streams/{id}/stats).
	Stats *report.Service
}

// server holds the dependencies every handler and middleware shares.
type server struct {
	log            *slog.Logger
	registry       *prometheus.Registry
	metrics        *httpMetrics
	metricsHTTP    http.Handler
	ready          []Checker
	auth           Authenticator
	now            func() time.Time
	readyTimeout   time.Duration
	trustedProxies []string
	parties        *party.Service
	catalog        *catalog.Service
	live           *live.Service
	room           *live.Room
	presence       *live.Presence
	hub            Fanout
	liveReady      <-chan struct{} // nil: always ready
	orders         *order.Service
	webhooks       WebhookReceiver
	localPayments  LocalPayments
	idempotency    IdempotencyStore
	stats          *report.Service
}

// New returns the HTTP handler of daihuo: the route table of routes.go behind
// request ids, access logs, metrics, panic recovery and the body limit.
func New(d Deps) http.Handler {
	s := newServer(d)
	return s.engine(s.routes())
}

// NewOps returns the handler of a node that serves no API (its roles lack
// api): /healthz, /readyz and /metrics only, so that relay and settle nodes
// can be probed and scraped too. Deps needs only Logger, Registry, Ready
// and TrustedProxies.
func NewOps(d Deps) http.Handler {
	s := newServer(d)
	var ops []route
	for _, r := range s.routes() {
		if r.path == "/healthz" || r.path == "/readyz" || r.path == "/metrics" {
			ops = append(ops, r)
		}
	}
	return s.engine(ops)
}

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors, ready to pass as Deps.Registry.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return r
}

func newServer(d Deps) *server {
	s := &server{
		log:            d.Logger,
		registry:       d.Registry,
		ready:          d.Ready,
		auth:           d.Auth,
		now:            d.Clock,
		readyTimeout:   d.ReadyTimeout,
		trustedProxies: d.TrustedProxies,
		parties:        d.Parties,
		catalog:        d.Catalog,
		live:           d.Live,
		room:           d.Room,
		presence:       d.Presence,
		hub:            d.Hub,
		liveReady:      d.LiveFeedReady,
		orders:         d.Orders,
		stats:          d.Stats,
	}
	if !isNil(d.Webhooks) {
		s.webhooks = d.Webhooks
	}
	if !isNil(d.LocalPayments) {
		s.localPayments = d.LocalPayments
	}
	if !isNil(d.Idempotency) {
		s.idempotency = d.Idempotency
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.log = slog.New(LogHandler(s.log.Handler()))
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	s.metrics = newHTTPMetrics(s.registry)
	s.metricsHTTP = promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
	if s.now == nil {
		s.now = time.Now
	}
	if s.readyTimeout <= 0 {
		s.readyTimeout = 2 * time.Second
	}
	return s
}

// engine builds the gin engine for the given route table.
func (s *server) engine(routes []route) *gin.Engine {
	// gin keeps its mode in a package variable; release mode only silences its
	// start-up and route debug printing, so setting it every time is harmless.
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.ContextWithFallback = true
	if err := e.SetTrustedProxies(s.trustedProxies); err != nil || len(s.trustedProxies) == 0 {
		_ = e.SetTrustedProxies(nil) // nil never fails: ClientIP is the peer address.
	}

	// Order matters: the request id first so every later log line has it; the
	// access log and metrics outside recovery so a panic is still counted as
	// the 500 it became; the body limit last, right before routing. Cache
	// and sniffing headers go on every /v1 answer, problems included.
	e.Use(dropHeadBody, s.requestID, noStore, s.observe, s.recoverPanic, s.limitBody)
	e.NoRoute(func(c *gin.Context) { s.writeError(c, errNoRoute) })
	e.NoMethod(func(c *gin.Context) { s.writeError(c, errNoMethod) })
	for _, r := range routes {
		e.Handle(r.method, r.path, s.authorize(r.access), s.wrap(r.handle))
		if r.method == http.MethodGet && r.path != eventStreamPath {
			// HEAD is GET without the body (RFC 9110 §9.3.2). Not on the
			// event stream, which would hold the connection open for a body
			// never sent.
			e.Handle(http.MethodHead, r.path, s.authorize(r.access), s.wrap(r.handle))
		}
	}
	return e
}

// dropHeadBody makes the answer to a HEAD request bodiless, whichever
// handler writes it (a route, or a 404 or 405 problem).
func dropHeadBody(c *gin.Context) {
	if c.Request.Method == http.MethodHead {
		c.Writer = bodyless{c.Writer}
	}
}

// bodyless is a ResponseWriter that sends the status and headers but drops
// the body.
type bodyless struct{ gin.ResponseWriter }

func (w bodyless) Write(b []byte) (int, error) {
	w.WriteHeaderNow()
	return len(b), nil
}

func (w bodyless) WriteString(s string) (int, error) {
	w.WriteHeaderNow()
	return len(s), nil
}

// eventStreamPath is the route of the live event stream.
const eventStreamPath = "/v1/streams/:id/events"

// handlerFunc is the shape of every handler: it writes its reply itself and
// returns an error instead of writing one, so errors meet writeError only.
type handlerFunc func(c *gin.Context) error

// wrap turns a handlerFunc into a gin handler that answers its error.
func (s *server) wrap(h handlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			s.writeError(c, err)
		}
	}
}
