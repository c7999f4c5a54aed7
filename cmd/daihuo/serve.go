package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/daihuo/daihuo/api"
	demodata "github.com/daihuo/daihuo/domain/demo"
	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/report"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/streaming"
	"github.com/daihuo/daihuo/streaming/hub"
	"github.com/daihuo/daihuo/streaming/livefeed"
	"github.com/daihuo/daihuo/web"
)

// broker is the Kafka cluster the process talks to and how to release it.
type broker struct {
	addrs []string
	close func()
}

// openBroker uses KAFKA_BROKERS or, when unset, starts the embedded broker
// under the data dir; then it makes sure the topics exist.
func openBroker(ctx context.Context, c config, log *slog.Logger) (*broker, error) {
	b := &broker{addrs: c.KafkaBrokers, close: func() {}}
	if len(b.addrs) == 0 {
		dir := filepath.Join(c.DataDir, "kafka")
		emb, err := streaming.StartEmbeddedBroker(dir)
		if err != nil {
			return nil, fmt.Errorf("embedded broker: %w", err)
		}
		b.addrs, b.close = emb.Addrs(), emb.Close
		log.Info("embedded kafka broker started", "dir", dir, "addrs", b.addrs)
	}
	if err := streaming.EnsureTopics(ctx, b.addrs, event.Topics(), 6); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// defaultGCPercent is serve's garbage-collection target when GOGC is unset.
const defaultGCPercent = 400

// serve runs the roles of c until ctx is cancelled, then shuts down in order:
// stop accepting requests and drain them, stop the workers and wait for them,
// close the reserver, flush the Kafka writer, close the broker and the
// database. It keeps that order when it fails half-way too.
func serve(ctx context.Context, c config, getenv func(string) string, stdout io.Writer) error {
	log := newLogger(c.LogLevel)
	log.Info("starting daihuo", "config", c)
	if getenv("GOGC") == "" {
		// A server of short-lived request garbage spends a third of its CPU
		// in the collector at Go's default of 100 in a flash sale; 400 costs
		// some memory (tens of MB here) for most of that time back. GOGC
		// and GOMEMLIMIT in the environment still rule.
		debug.SetGCPercent(defaultGCPercent)
	}

	if c.DatabaseURL == "" || len(c.KafkaBrokers) == 0 { // the private Postgres or the embedded broker
		release, err := lockDataDir(c.DataDir)
		if err != nil {
			return err
		}
		defer release()
	}
	db, err := openDatabase(ctx, c, log, dbUse{migrate: true, owner: true})
	if err != nil {
		return err
	}
	defer db.close(context.WithoutCancel(ctx))
	kafka, err := openBroker(ctx, c, log)
	if err != nil {
		return err
	}
	defer kafka.close()

	reg := api.NewRegistry()
	metrics := streaming.NewMetrics(reg)
	producer := streaming.NewProducer(kafka.addrs, log)
	defer func() {
		if err := producer.Close(); err != nil {
			log.Error("flush kafka writer", "err", err)
		}
	}()
	svc := newServices(db)
	outbox := svc.outbox // one outbox, so one coalesced wake-up for the relays
	if c.AdminToken != "" {
		retired, err := svc.parties.EnsureAdminToken(ctx, string(c.AdminToken))
		if err != nil {
			return fmt.Errorf("bootstrap DAIHUO_ADMIN_TOKEN: %w", err)
		}
		if retired > 0 {
			log.Warn("retired the earlier DAIHUO_ADMIN_TOKEN values", "count", retired)
		}
	}
	var seeded *demodata.Result
	if c.Demo {
		res, err := seedDemo(ctx, svc)
		if err != nil {
			return err
		}
		seeded = &res
	}

	// The reserver batches the orders' stock reservations for the api's
	// checkout and the workers (expiry, payment webhooks): made before them,
	// it closes after they stop.
	reserver := storage.NewReserver(db.db, outbox, storage.ReserverConfig{Logger: log})
	defer reserver.Close()
	var reserve order.Reserver = reserver
	if getenv("DAIHUO_RESERVE") == "naive" { // the benchmark's baseline only
		reserve = storage.NewNaiveReserver(reserver)
	}

	workers, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var (
		wg  sync.WaitGroup
		srv *http.Server // nil until the api listens
	)
	// stop drains the HTTP requests, then stops the workers and waits for
	// them. Deferred here, it also runs when serve fails half-way (no payment
	// gateway, a taken address, the demo not printed) after workers or the
	// server started, so the deferred calls above (the reserver, the Kafka
	// writer, the broker, the database) never close under a running worker
	// or request.
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.ShutdownTimeout)
		defer cancel()
		if srv != nil {
			if err := srv.Shutdown(shutdown); err != nil {
				log.Error("drain http requests", "err", err)
				_ = srv.Close() // ends the connections of the requests still running (their handlers may still finish)
			}
		}
		stopWorkers()
		wg.Wait()
	}
	defer stop()
	startWorker := func(name string, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(workers); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("worker stopped", "worker", name, "err", err)
			}
		}()
	}
	if c.Roles["relay"] {
		relay := streaming.NewRelay(outbox, producer, log, metrics)
		startWorker("relay", relay.Run)
	}

	// Checkout: the payment gateway (Stripe or the local simulator), orders
	// on the hot-row reservation batcher, and the one webhook path both
	// Stripe's posts and the simulator's deliveries take.
	var receiver *order.Receiver
	gw, err := newGateway(c, db, func(ctx context.Context, payload []byte, sig string) error {
		return receiver.Receive(ctx, payload, sig)
	}, log)
	if err != nil {
		return err
	}
	log.Info("payments", "provider", gw.Name())
	orders := order.NewService(storage.NewOrderStore(db.db, outbox), reserve, gw, outbox, svc.tx,
		func() time.Time { return time.Now().UTC() }, order.Config{ReservationTTL: c.ReservationTTL, OrphanGrace: c.OrphanGrace, Logger: log})
	receiver = order.NewReceiver(gw, orders, log)
	idempotency := storage.NewIdempotencyStore(db.db, storage.IdempotencyConfig{})
	if c.Roles["api"] || c.Roles["settle"] {
		startWorker("local-payments", gw.run)
	}
	if c.Roles["api"] { // the nodes that serve /metrics
		registerRefundGauges(reg, orders, log)
	}
	if c.Roles["settle"] {
		startWorker("order-expiry", orders.RunExpiry)
		retention := storage.NewRetention(db.db, storage.RetentionPolicy{})
		startWorker("retention", func(ctx context.Context) error {
			return purgeExpired(ctx, idempotency, retention, log)
		})
		startWorker("flash-end", func(ctx context.Context) error {
			return endFlashSales(ctx, svc.live, log)
		})
	}

	// The live hub fans events out to this node's viewers; the feed fills it
	// from daihuo.live and presence counts viewers across nodes. The api
	// serves the event streams, so it always plays live too (parseRoles).
	fanout := newFanout(getenv("DAIHUO_FANOUT"))
	node := nodeID()
	presence := live.NewPresence(storage.NewRoomStore(db.db), node, fanout.Streams, func(streamID string, n int) {
		_ = fanout.Publish(streamID, hub.Event{Type: "viewers", Data: map[string]int{"count": n}})
	}, func() time.Time { return time.Now().UTC() }, 2*time.Second)
	var liveReady <-chan struct{} // closed once the feed reads every partition
	if c.Roles["live"] {
		feed := livefeed.New(kafka.addrs, fanout, log)
		liveReady = feed.Ready()
		startWorker("livefeed", feed.Run)
		startWorker("hub-prune", func(ctx context.Context) error {
			return every(ctx, time.Minute, func(context.Context) { fanout.Prune(10 * time.Minute) })
		})
		startWorker("presence", func(ctx context.Context) error {
			return presence.Run(ctx, func(err error) { log.Warn("presence beat", "err", err) })
		})
	}
	if c.Roles["live"] && !c.Roles["api"] {
		log.Warn("live without the api role: this node serves no event streams, so its live hub has no viewers")
	}
	if c.Roles["api"] {
		startWorker("likes", func(ctx context.Context) error {
			return svc.room.RunLikes(ctx, func(err error) { log.Warn("flush likes", "err", err) })
		})
	}

	// Stream stats: the settle role's consumer group keeps the projection
	// from daihuo.orders; the api reads it.
	stats := report.NewService(storage.NewReportStore(db.db), storage.NewLiveStore(db.db), storage.NewRoomStore(db.db), presence, log)
	if c.Roles["settle"] {
		startWorker(report.ConsumerGroup, streaming.NewConsumer(streaming.ConsumerConfig{
			Brokers: kafka.addrs, GroupID: report.ConsumerGroup, Topics: report.Topics(), Types: report.EventTypes(), Handler: stats.Apply,
			Dedup: storage.NewInbox(db.db), Tx: storage.NewTransactor(db.db), Logger: log, Metrics: metrics,
		}).Run)
	}

	ops := api.Deps{
		Logger:         log,
		Registry:       reg,
		TrustedProxies: c.TrustedProxies,
		Ready: []api.Checker{
			checker{"postgres", func(ctx context.Context) error { return storage.SQL(db.db).PingContext(ctx) }},
			checker{"kafka", func(ctx context.Context) error { return streaming.Ping(ctx, kafka.addrs) }},
		},
	}
	if liveReady != nil {
		// Viewers let in before the feed reads would miss the events
		// published meanwhile; the event streams answer 503 until then too.
		ops.Ready = append(ops.Ready, checker{"livefeed", func(context.Context) error {
			select {
			case <-liveReady:
				return nil
			default:
				return errors.New("the live feed is not reading the live topic yet")
			}
		}})
	}
	// Relay and settle nodes serve only their health, readiness and metrics
	// (the outbox backlog, consumer lag); api nodes the API and the player.
	var handler http.Handler
	if !c.Roles["api"] {
		handler = api.NewOps(ops)
	} else {
		apiHandler := api.New(api.Deps{
			Logger:         ops.Logger,
			Registry:       ops.Registry,
			TrustedProxies: ops.TrustedProxies,
			Ready:          ops.Ready,
			Auth:           svc.parties,
			Clock:          func() time.Time { return time.Now().UTC() },
			Parties:        svc.parties,
			Catalog:        svc.catalog,
			Live:           svc.live,
			Room:           svc.room,
			Presence:       presence,
			Hub:            fanout,
			LiveFeedReady:  liveReady,
			Orders:         orders,
			Webhooks:       receiver,
			// nil with Stripe: the local confirm route then answers 404.
			LocalPayments: gw.sim,
			Idempotency:   idempotency,
			Stats:         stats,
		})
		pages := web.Handler()
		// The player and its assets, and the API for everything else.
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if web.Owns(r.URL.Path) {
				pages.ServeHTTP(w, r)
				return
			}
			apiHandler.ServeHTTP(w, r)
		})
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second, // event streams lift it per connection
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Event streams never end on their own: end them when shutting down,
	// or Shutdown would wait for them until its timeout.
	srv.RegisterOnShutdown(fanout.CloseAll)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	// Announced once viewers can watch: the feed reads within moments of
	// a reachable broker. A node that cannot reach it serves meanwhile (its
	// health, and 503 on readiness and event streams) and says so.
	if liveReady != nil {
		select {
		case <-liveReady:
		case <-time.After(liveFeedWait):
			log.Warn("the live feed is not reading yet: readiness and event streams answer 503 until it does", "waited", liveFeedWait)
		case <-ctx.Done():
		}
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "daihuo serving on %s\n", base)
	if seeded != nil {
		if err := seeded.Print(stdout, base); err != nil {
			return err
		}
	}
	if c.PprofAddr != "" {
		go servePprof(c.PprofAddr, log)
	}
	log.Info("daihuo ready", "roles", c.Roles.String())

	<-ctx.Done()
	log.Info("shutting down; a second interrupt stops at once")
	stop()
	log.Info("stopped")
	return nil
}

// fanout is the hub of this node: the real one, or for the benchmark's
// baseline (DAIHUO_FANOUT=naive) the naive one.
type fanout interface {
	Publish(streamID string, ev hub.Event) error
	PublishBatch(streamID string, evs []hub.Event) error
	Serve(w http.ResponseWriter, r *http.Request, streamID string, snapshot hub.Snapshot) error
	Streams() map[string]int
	Prune(idle time.Duration) int
	CloseAll()
}

func newFanout(mode string) fanout {
	if mode == "naive" {
		return hub.NewNaive()
	}
	return hub.New(hub.Options{})
}

// nodeID names this process among the nodes sharing the database.
func nodeID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%x", host, os.Getpid(), b)
}

// idempotencyKeyLife is how long an Idempotency-Key replays its first
// answer: a day, like the payment providers' keys.
const idempotencyKeyLife = 24 * time.Hour

// liveFeedWait bounds how long serve waits, before it announces itself,
// for the live feed to read the live topic.
const liveFeedWait = 15 * time.Second

// endFlashSales takes ended flash sales off the screen every second until
// ctx ends: viewers get pin.removed when a sale's countdown reaches zero.
func endFlashSales(ctx context.Context, lv *live.Service, log *slog.Logger) error {
	return every(ctx, time.Second, func(ctx context.Context) {
		if _, err := lv.EndFlashSales(ctx, 100); err != nil && ctx.Err() == nil {
			log.Warn("end flash sales", "err", err)
		}
	})
}

// every runs fn now and then every d until ctx ends, then returns nil.
func every(ctx context.Context, d time.Duration, fn func(context.Context)) error {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// purgeExpired deletes expired idempotency records and the rows the
// retention policy keeps only for a while, every few minutes, a thousand
// per statement, until ctx ends.
func purgeExpired(ctx context.Context, idempotency *storage.IdempotencyStore, retention *storage.Retention, log *slog.Logger) error {
	return every(ctx, 5*time.Minute, func(ctx context.Context) {
		for {
			n, err := idempotency.Purge(ctx, idempotencyKeyLife, 1000)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("purge idempotency keys", "err", err)
				}
				break
			}
			if n < 1000 {
				break
			}
		}
		deleted, err := retention.Purge(ctx, 1000)
		if err != nil && ctx.Err() == nil {
			log.Warn("purge expired rows", "err", err)
		}
		for table, n := range deleted {
			if n > 0 {
				log.Info("purged expired rows", "table", table, "count", n)
			}
		}
	})
}

// servePprof serves the runtime profiles on their own listener, never on
// the public API address.
func servePprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Info("pprof serving", "addr", addr)
	if err := srv.ListenAndServe(); err != nil {
		log.Error("pprof server", "err", err)
	}
}

// checker adapts a function to the api's readiness check.
type checker struct {
	name  string
	check func(context.Context) error
}

func (c checker) Name() string                    { return c.name }
func (c checker) Check(ctx context.Context) error { return c.check(ctx) }

// registerRefundGauges exports daihuo_refunds_unacknowledged and
// daihuo_late_payments_unrefunded, read from the
// database at each scrape, so every api node reports the same figure (take
// max, not sum): refunds the sweep gave up resending, which a person must
// check with the payment provider. Alert on anything above 0.
func registerRefundGauges(reg prometheus.Registerer, orders *order.Service, log *slog.Logger) {
	gauge := func(name, help string, count func(context.Context) (int, error)) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n, err := count(ctx)
			if err != nil {
				log.Warn("read gauge", "gauge", name, "err", err)
				return math.NaN()
			}
			return float64(n)
		}))
	}
	gauge("daihuo_refunds_unacknowledged",
		"Refunds the payment provider never acknowledged within the retry window (23 h); the sweep no longer resends them.",
		orders.StaleRefunds)
	gauge("daihuo_late_payments_unrefunded",
		"Cancelled or expired orders holding a payment no refund is returning (the provider refused the late payment's refund).",
		orders.UnrefundedLatePayments)
}
