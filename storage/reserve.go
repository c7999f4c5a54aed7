package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/order"
)

// PrefixReservation is the id prefix of stock reservations.
const PrefixReservation = "rsv"

// ReserverConfig tunes a Reserver; zero values take the defaults named
// beside them.
type ReserverConfig struct {
	// MaxQueue bounds the requests waiting for one hot row; beyond it
	// Reserve answers order.ErrBusy at once (10 000).
	MaxQueue int
	// MaxBatch bounds the requests one transaction serves (1 000).
	MaxBatch int
	// IdleTimeout is how long a row's goroutine waits for work before it
	// exits (30 s).
	IdleTimeout time.Duration
	// FlashStockInterval is the coalescing window of flash.stock events
	// (250 ms); see Reserver.
	FlashStockInterval time.Duration
	// BatchTimeout bounds one batch transaction (10 s).
	BatchTimeout time.Duration
	// Now is the clock that judges whether a flash sale has ended
	// (time.Now).
	Now func() time.Time
	// Logger reports failed batches and clean-ups; nil discards.
	Logger *slog.Logger
}

// Reserver takes stock for orders through per-row batches: requests for the
// same hot row (one variant, or one flash pin) queue up and one goroutine
// per row applies them in a single transaction per batch. A batch starts as
// soon as the queue is non-empty and the previous batch committed, so under
// load batches grow by themselves and the row lock is taken once per batch
// instead of once per order.
//
// A batch locks its rows with SELECT … FOR NO KEY UPDATE in one fixed order
// (the pin first, then the variants' products by id, then variants by id,
// as every other writer of these rows does; the product lock orders the
// flash.stock events of all its variants' writers, see
// announceStockMoves). NO KEY UPDATE, not UPDATE: it still excludes every
// other writer, but not the key-share locks that inserting an order or a
// reservation takes on the pin and variants it references, so a batch and
// the commit of the previous batch's orders do not wait on each other.
// serves requests in arrival order while stock, flash allocation and
// per-buyer limit last, inserts the winners' reservation rows in one
// multi-row INSERT, updates each row once, commits, then answers every
// waiter: winners with nil, the rest with order.ErrSoldOut,
// order.ErrLimitExceeded or order.ErrFlashEnded. The row lock also
// serialises batches of other processes, so any number of processes may run
// a Reserver against one database; CHECK constraints keep stock from going
// below zero whatever happens.
//
// flash.stock events (order.EventFlashStock, on the live topic keyed by the
// stream) carry what the pin shows (live.OnSale: its remaining, capped by the
// product's stock) and are coalesced per pin and per process: a batch that
// changed a pin's remaining writes the event through the outbox in its own
// transaction when this process wrote none for the pin in the last
// FlashStockInterval, or when what it shows reached zero; otherwise the
// pin is marked and its goroutine writes a trailing event with a fresh
// read once the interval has passed since the last one. Players thus
// get at most one event per pin per interval per process, the sold-out
// moment at once, and always the last value. Stock given back (cancel,
// expiry) writes its event at once, and so does a batch of a variant's
// queue that changes what a flash pin of its product shows.
//
// A waiter whose context ends before its answer returns ctx.Err(); if its
// batch then commits a reservation for it, the Reserver releases it. A
// request still queued when its waiter left is skipped.
type Reserver struct {
	db   *gorm.DB
	out  *Outbox
	cfg  ReserverConfig
	log  *slog.Logger
	stop chan struct{}

	mu     sync.Mutex
	keys   map[string]*hotRow
	closed bool
	wg     sync.WaitGroup
}

var _ order.Reserver = (*Reserver)(nil)

// errReserverClosed answers requests that arrive at or wait in a closed Reserver.
var errReserverClosed = errors.New("reserver closed")

// NewReserver returns a Reserver writing to db and its events to out. Close
// it to stop its goroutines.
func NewReserver(db *gorm.DB, out *Outbox, cfg ReserverConfig) *Reserver {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.IdleTimeout, 30*time.Second)
	def(&cfg.FlashStockInterval, 250*time.Millisecond)
	def(&cfg.BatchTimeout, 10*time.Second)
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 10_000
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reserver{db: db, out: out, cfg: cfg, log: log, stop: make(chan struct{}), keys: map[string]*hotRow{}}
}

// hotRow is the queue of one row and the state its goroutine keeps.
type hotRow struct {
	key       string
	pinID     string // a flash pin's queue, or
	variantID string // a variant's queue

	pending []*reserveCall // guarded by Reserver.mu
	wake    chan struct{}  // signals pending work, capacity 1

	// flash.stock coalescing, owned by the goroutine: when this process
	// last wrote the pin's event (wall clock, whatever Config.Now says), and
	// whether a batch changed remaining since without writing one.
	lastEmit time.Time
	dirty    bool
}

// The states of a reserveCall.
const (
	callWaiting int32 = iota
	callAnswered
	callAbandoned
)

type reserveCall struct {
	req   order.ReserveRequest
	done  chan error
	state atomic.Int32
	ids   []string // reservation rows when won
}

// Reserve queues req on its row and waits for the batch that serves it.
func (r *Reserver) Reserve(ctx context.Context, req order.ReserveRequest) error {
	if err := checkReserveRequest(req); err != nil {
		return err
	}
	key, k := "var:"+req.Lines[0].VariantID, hotRow{variantID: req.Lines[0].VariantID}
	if req.PinID != "" {
		key, k = "pin:"+req.PinID, hotRow{pinID: req.PinID}
	}
	c := &reserveCall{req: req, done: make(chan error, 1)}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errReserverClosed
	}
	row := r.keys[key]
	if row == nil {
		row = &k
		row.key, row.wake = key, make(chan struct{}, 1)
		r.keys[key] = row
		r.wg.Add(1)
		go r.run(row)
	}
	if len(row.pending) >= r.cfg.MaxQueue {
		r.mu.Unlock()
		return order.ErrBusy
	}
	row.pending = append(row.pending, c)
	r.mu.Unlock()
	select {
	case row.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		if c.state.CompareAndSwap(callWaiting, callAbandoned) {
			return ctx.Err()
		}
		return <-c.done // answered meanwhile
	}
}

func checkReserveRequest(req order.ReserveRequest) error {
	if req.OrderID == "" || req.ShopperID == "" || len(req.Lines) == 0 || (req.PinID == "" && len(req.Lines) != 1) {
		return errors.New("reserve: a request needs an order, a shopper and one line (or flash lines of a pin)")
	}
	for _, l := range req.Lines {
		if l.VariantID == "" || l.Quantity <= 0 {
			return errors.New("reserve: every line needs a variant and a positive quantity")
		}
	}
	return nil
}

// Close stops taking requests, answers those still queued with an error,
// lets batches in flight finish and waits for every goroutine.
func (r *Reserver) Close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.stop)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// take removes up to MaxBatch queued calls of k, oldest first.
func (r *Reserver) take(k *hotRow) []*reserveCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(len(k.pending), r.cfg.MaxBatch)
	batch := slices.Clone(k.pending[:n])
	if k.pending = k.pending[n:]; len(k.pending) == 0 {
		k.pending = nil // let the backing array go
	}
	return batch
}

// run is the goroutine of one row: it serves batches, one after the other,
// while calls are queued, until the row is idle for IdleTimeout with no
// trailing event due, or the Reserver closes.
func (r *Reserver) run(k *hotRow) {
	defer r.wg.Done()
	idle := time.NewTimer(r.cfg.IdleTimeout)
	defer idle.Stop()
	trail := time.NewTimer(time.Hour)
	trail.Stop()
	defer trail.Stop()
	for {
		select {
		case <-k.wake:
			for batch := r.take(k); len(batch) > 0; batch = r.take(k) {
				r.serve(k, batch)
			}
			if k.dirty {
				trail.Reset(max(time.Until(k.lastEmit.Add(r.cfg.FlashStockInterval)), 0))
			}
			idle.Reset(r.cfg.IdleTimeout)
		case <-trail.C:
			if k.dirty {
				r.emitTrailing(k)
			}
		case <-idle.C:
			r.mu.Lock()
			if len(k.pending) == 0 && !k.dirty {
				delete(r.keys, k.key)
				r.mu.Unlock()
				return
			}
			r.mu.Unlock()
			idle.Reset(r.cfg.IdleTimeout)
		case <-r.stop:
			r.mu.Lock()
			left := k.pending
			k.pending = nil
			r.mu.Unlock()
			for _, c := range left {
				answer(c, errReserverClosed)
			}
			return
		}
	}
}

// answer hands err to c's waiter and reports whether the waiter was still
// there to take it.
func answer(c *reserveCall, err error) bool {
	if !c.state.CompareAndSwap(callWaiting, callAnswered) {
		return false
	}
	c.done <- err
	return true
}

// batchOutcome is what one committed batch decided.
type batchOutcome struct {
	results   []error
	taken     bool  // the pin's remaining changed
	remaining int64 // the pin's remaining after the batch
	emitted   bool  // a flash.stock event was written
}

// serve applies one batch, retrying on deadlocks and serialization
// failures, answers the waiters and releases what abandoned waiters won.
func (r *Reserver) serve(k *hotRow, batch []*reserveCall) {
	calls := batch[:0:0]
	for _, c := range batch {
		if c.state.Load() == callWaiting {
			calls = append(calls, c)
		}
	}
	if len(calls) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.BatchTimeout)
	defer cancel()
	var (
		out batchOutcome
		err error
	)
	for attempt := 0; attempt < 3; attempt++ {
		for _, c := range calls {
			c.ids = nil
		}
		if out, err = r.applyBatch(ctx, k, calls); err == nil || !retryable(err) {
			break
		}
	}
	if err != nil {
		r.log.Error("reservation batch failed", "key", k.key, "requests", len(calls), "error", err)
		for _, c := range calls {
			answer(c, fmt.Errorf("reserve stock: %w", err))
		}
		return
	}
	if out.emitted {
		k.lastEmit, k.dirty = time.Now(), false
	} else if out.taken {
		k.dirty = true
	}
	var orphaned []string
	for i, c := range calls {
		if !answer(c, out.results[i]) && out.results[i] == nil {
			orphaned = append(orphaned, c.ids...)
		}
	}
	if len(orphaned) > 0 {
		// A budget of its own: the batch may have spent its own waiting
		// for locks, and the units would then wait for the orphan sweep.
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.BatchTimeout)
		defer cancel()
		err := inTx(ctx, r.db, func(ctx context.Context) error {
			return releaseReservations(ctx, r.db, r.out, "id IN ?", orphaned)
		})
		if err != nil {
			// They expire: the orphan sweep gives them back.
			r.log.Warn("release reservations of abandoned requests", "key", k.key, "error", err)
		}
	}
}

// retryable reports whether a batch failed only because of contention.
func retryable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40001" || pg.Code == "40P01")
}

// lockedPin is a flash pin as a batch reads it under its lock.
type lockedPin struct {
	ID            string     `gorm:"column:id"`
	StreamID      string     `gorm:"column:stream_id"`
	ProductID     string     `gorm:"column:product_id"`
	Remaining     *int64     `gorm:"column:flash_remaining"`
	PerBuyerLimit *int64     `gorm:"column:flash_per_buyer_limit"`
	EndsAt        *time.Time `gorm:"column:flash_ends_at"`
	UnpinnedAt    *time.Time `gorm:"column:unpinned_at"`
	StartedAt     *time.Time `gorm:"column:started_at"`
}

type lockedVariant struct {
	ID             string `gorm:"column:id"`
	ProductID      string `gorm:"column:product_id"`
	StockAvailable int64  `gorm:"column:stock_available"`
}

// reservationModel is a row of stock_reservations.
type reservationModel struct {
	ID         string     `gorm:"column:id;primaryKey"`
	OrderID    string     `gorm:"column:order_id"`
	ShopperID  string     `gorm:"column:shopper_id"`
	VariantID  string     `gorm:"column:variant_id"`
	PinID      *string    `gorm:"column:pin_id"`
	Quantity   int64      `gorm:"column:quantity"`
	Status     string     `gorm:"column:status"`
	ExpiresAt  time.Time  `gorm:"column:expires_at"`
	CreatedAt  time.Time  `gorm:"column:created_at"`
	ReleasedAt *time.Time `gorm:"column:released_at"`
}

func (reservationModel) TableName() string { return "stock_reservations" }

type buyerUnits struct {
	ShopperID string `gorm:"column:shopper_id"`
	Units     int64  `gorm:"column:units"`
}

// applyBatch serves calls in one transaction; results[i] answers calls[i].
func (r *Reserver) applyBatch(ctx context.Context, k *hotRow, calls []*reserveCall) (batchOutcome, error) {
	out := batchOutcome{results: make([]error, len(calls))}
	now := r.cfg.Now().UTC().Truncate(time.Microsecond)
	err := inTx(ctx, r.db, func(ctx context.Context) error {
		tx := conn(ctx, r.db)
		var pin *lockedPin
		if k.pinID != "" {
			var pins []lockedPin
			err := tx.Raw(`SELECT p.id, p.stream_id, p.product_id, p.flash_remaining, p.flash_per_buyer_limit,
					p.flash_ends_at, p.unpinned_at, s.started_at
				FROM pins p JOIN streams s ON s.id = p.stream_id WHERE p.id = ? FOR NO KEY UPDATE OF p`, k.pinID).Scan(&pins).Error
			if err != nil {
				return fmt.Errorf("lock pin: %w", err)
			}
			if len(pins) == 0 || pins[0].Remaining == nil || pins[0].UnpinnedAt != nil || !now.Before(*pins[0].EndsAt) {
				for i := range out.results {
					out.results[i] = order.ErrFlashEnded
				}
				return nil
			}
			pin = &pins[0]
		}

		var ids []string
		for _, c := range calls {
			for _, l := range c.req.Lines {
				ids = append(ids, l.VariantID)
			}
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
		if err := lockProducts(tx, ids); err != nil {
			return err
		}
		var vs []lockedVariant
		if err := tx.Raw(`SELECT id, product_id, stock_available FROM variants WHERE id IN ? ORDER BY id FOR NO KEY UPDATE`, ids).
			Scan(&vs).Error; err != nil {
			return fmt.Errorf("lock variants: %w", err)
		}
		stock := make(map[string]*lockedVariant, len(vs))
		for i := range vs {
			stock[vs[i].ID] = &vs[i]
		}

		var limit int64
		units := map[string]int64{}
		if pin != nil && pin.PerBuyerLimit != nil && *pin.PerBuyerLimit > 0 {
			limit = *pin.PerBuyerLimit
			shoppers := make([]string, 0, len(calls))
			for _, c := range calls {
				shoppers = append(shoppers, c.req.ShopperID)
			}
			var rows []buyerUnits
			if err := tx.Raw(`SELECT shopper_id, units FROM flash_buyer_units WHERE pin_id = ? AND shopper_id IN ?`, pin.ID, shoppers).
				Scan(&rows).Error; err != nil {
				return fmt.Errorf("read buyer units: %w", err)
			}
			for _, b := range rows {
				units[b.ShopperID] = b.Units
			}
		}

		// Serve in arrival order while the stock lasts.
		var rows []reservationModel
		taken := map[string]int64{}  // per variant
		bought := map[string]int64{} // per shopper, flash units
		var flashTaken int64
		for i, c := range calls {
			need, total, err := r.needs(c, pin, stock)
			if err == nil && pin != nil {
				switch {
				case *pin.Remaining-flashTaken <= 0:
					// Nothing left at all: the service may answer the next
					// orders for this pin without asking.
					err = &order.PinSoldOutError{PinID: pin.ID, StreamID: pin.StreamID, EndsAt: *pin.EndsAt}
				case *pin.Remaining-flashTaken < total:
					err = order.ErrSoldOut
				case limit > 0 && units[c.req.ShopperID]+total > limit:
					err = order.ErrLimitExceeded
				}
			}
			if err != nil {
				out.results[i] = err
				continue
			}
			for vid, n := range need {
				stock[vid].StockAvailable -= n
				taken[vid] += n
			}
			if pin != nil {
				flashTaken += total
				units[c.req.ShopperID] += total
				bought[c.req.ShopperID] += total
			}
			for _, l := range c.req.Lines {
				m := reservationModel{
					ID: id.New(PrefixReservation, now), OrderID: c.req.OrderID, ShopperID: c.req.ShopperID,
					VariantID: l.VariantID, Quantity: l.Quantity, Status: "held",
					ExpiresAt: c.req.ExpiresAt.UTC(), CreatedAt: now,
				}
				if pin != nil {
					m.PinID = &pin.ID
				}
				rows = append(rows, m)
				c.ids = append(c.ids, m.ID)
			}
		}
		if len(rows) == 0 {
			return nil
		}

		if err := insertReservations(ctx, rawConn(ctx, r.db), rows); err != nil {
			return err
		}
		for _, vid := range ids {
			if n := taken[vid]; n > 0 {
				if err := tx.Exec(`UPDATE variants SET stock_available = stock_available - ? WHERE id = ?`, n, vid).Error; err != nil {
					return fmt.Errorf("take variant stock: %w", err)
				}
			}
		}
		if pin == nil {
			moved := map[string]int64{}
			for vid, n := range taken {
				moved[stock[vid].ProductID] -= n
			}
			_, err := announceStockMoves(ctx, tx, r.out, stockMoves{products: moved})
			return err
		}
		// Other flash pins of the product (in other streams) may show less
		// now; the read gives this pin's product stock too.
		moved := map[string]int64{pin.ProductID: 0}
		for _, n := range taken {
			moved[pin.ProductID] -= n
		}
		stocks, err := announceStockMoves(ctx, tx, r.out, stockMoves{products: moved, skip: pin.ID})
		if err != nil {
			return err
		}
		left, ok := stocks[pin.ProductID]
		if !ok { // the pin is active under its lock, so the read had it
			return fmt.Errorf("flash pin %s missing from its product's stock read", pin.ID)
		}
		out.taken, out.remaining = true, *pin.Remaining-flashTaken
		if err := tx.Exec(`UPDATE pins SET flash_remaining = flash_remaining - ? WHERE id = ?`, flashTaken, pin.ID).Error; err != nil {
			return fmt.Errorf("take flash allocation: %w", err)
		}
		if limit > 0 {
			vals := make([]any, 0, 3*len(bought))
			q := `INSERT INTO flash_buyer_units (pin_id, shopper_id, units) VALUES `
			for _, s := range slices.Sorted(maps.Keys(bought)) {
				if len(vals) > 0 {
					q += ", "
				}
				q += "(?, ?, ?)"
				vals = append(vals, pin.ID, s, bought[s])
			}
			q += ` ON CONFLICT (pin_id, shopper_id) DO UPDATE SET units = flash_buyer_units.units + EXCLUDED.units`
			if err := tx.Exec(q, vals...).Error; err != nil {
				return fmt.Errorf("count buyer units: %w", err)
			}
		}
		if shown := live.OnSale(out.remaining, left); shown == 0 || time.Since(k.lastEmit) >= r.cfg.FlashStockInterval {
			if err := r.out.Publish(ctx, flashStockEvent(pin.ID, pin.StreamID, shown, pin.StartedAt, now)); err != nil {
				return err
			}
			out.emitted = true
		}
		return nil
	})
	return out, err
}

// insertReservations writes reservation rows with one statement of fixed
// shape, whatever their number.
func insertReservations(ctx context.Context, db gorm.ConnPool, rows []reservationModel) error {
	n := len(rows)
	ids, orders, shoppers, variants, statuses := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	pins := make([]*string, n)
	qty := make([]int64, n)
	expires, created := make([]time.Time, n), make([]time.Time, n)
	for i, m := range rows {
		ids[i], orders[i], shoppers[i], variants[i], pins[i] = m.ID, m.OrderID, m.ShopperID, m.VariantID, m.PinID
		qty[i], statuses[i], expires[i], created[i] = m.Quantity, m.Status, m.ExpiresAt, m.CreatedAt
	}
	_, err := db.ExecContext(ctx, `INSERT INTO stock_reservations (id, order_id, shopper_id, variant_id, pin_id, quantity,
			status, expires_at, created_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[],
			$8::timestamptz[], $9::timestamptz[])`, ids, orders, shoppers, variants, pins, qty, statuses, expires, created)
	if err != nil {
		return fmt.Errorf("insert reservations: %w", err)
	}
	return nil
}

// needs checks a call's lines against the locked rows: the units it takes
// of each variant and in total, or why it cannot be served.
func (r *Reserver) needs(c *reserveCall, pin *lockedPin, stock map[string]*lockedVariant) (map[string]int64, int64, error) {
	need := make(map[string]int64, len(c.req.Lines))
	var total int64
	for _, l := range c.req.Lines {
		v, ok := stock[l.VariantID]
		if !ok {
			return nil, 0, errs.Invalid("items", "variant %s does not exist", l.VariantID)
		}
		if pin != nil && v.ProductID != pin.ProductID {
			return nil, 0, errs.Invalid("items", "variant %s is not part of this flash sale", l.VariantID)
		}
		need[l.VariantID] += l.Quantity
		total += l.Quantity
	}
	for vid, n := range need {
		if stock[vid].StockAvailable < n {
			return nil, 0, order.ErrSoldOut
		}
	}
	return need, total, nil
}

// emitTrailing writes the flash.stock event a coalesced batch held back,
// with the pin's remaining as committed now.
func (r *Reserver) emitTrailing(k *hotRow) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.BatchTimeout)
	defer cancel()
	now := r.cfg.Now().UTC().Truncate(time.Microsecond)
	err := inTx(ctx, r.db, func(ctx context.Context) error {
		var pins []lockedPin
		// Locked like a batch or a give-back locks it: a writer of remaining
		// that commits meanwhile either did before this read (which sees its
		// value) or waits and writes its own event after this one, so the
		// last event always carries the last value.
		tx := conn(ctx, r.db)
		if err := tx.Raw(`SELECT p.id, p.stream_id, p.product_id, p.flash_remaining, s.started_at
			FROM pins p JOIN streams s ON s.id = p.stream_id WHERE p.id = ? FOR NO KEY UPDATE OF p`, k.pinID).Scan(&pins).Error; err != nil {
			return fmt.Errorf("read pin: %w", err)
		}
		if len(pins) == 0 || pins[0].Remaining == nil {
			return nil
		}
		p := pins[0]
		if _, err := lockProduct(tx, p.ProductID); err != nil {
			return err
		}
		left, err := productStock(tx, p.ProductID)
		if err != nil {
			return err
		}
		return r.out.Publish(ctx, flashStockEvent(p.ID, p.StreamID, live.OnSale(*p.Remaining, left), p.StartedAt, now))
	})
	if err != nil {
		r.log.Warn("trailing flash.stock event", "pin_id", k.pinID, "error", err)
	}
	// Written or not, the next batch emits afresh.
	k.lastEmit, k.dirty = time.Now(), false
}

func flashStockEvent(pinID, streamID string, remaining int64, startedAt *time.Time, now time.Time) event.Event {
	var offset int64
	if startedAt != nil && now.After(*startedAt) {
		offset = now.Sub(*startedAt).Milliseconds()
	}
	ev, _ := event.New(event.TopicLive, order.EventFlashStock, streamID, order.FlashStockPayload{
		PinID: pinID, StreamID: streamID, Remaining: remaining, At: now, OffsetMS: offset,
	}, now) // a payload of plain fields always marshals
	return ev
}

// releasedRow is a reservation just released.
type releasedRow struct {
	ShopperID string  `gorm:"column:shopper_id"`
	VariantID string  `gorm:"column:variant_id"`
	ProductID string  `gorm:"column:product_id"`
	PinID     *string `gorm:"column:pin_id"`
	Quantity  int64   `gorm:"column:quantity"`
}

// releaseReservations marks the held or attached reservations matching
// cond released and gives their units back: flash allocations (pins in id
// order), the products' locks, per-buyer counts, then variant stock (in id
// order), the lock order every writer of these rows follows, and writes a
// flash.stock event for each pin that got units back or shows more now. It
// must run in a transaction carried by ctx.
func releaseReservations(ctx context.Context, db *gorm.DB, out *Outbox, cond string, args ...any) error {
	tx := conn(ctx, db)
	var rows []releasedRow
	err := tx.Raw(`UPDATE stock_reservations r SET status = 'released', released_at = now()
		WHERE `+cond+` AND r.status IN ('held', 'ordered')
		RETURNING r.shopper_id, r.variant_id, r.pin_id, r.quantity,
			(SELECT v.product_id FROM variants v WHERE v.id = r.variant_id) AS product_id`, args...).Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("release reservations: %w", err)
	}
	return giveBack(ctx, tx, out, rows)
}

// giveBack returns the units of released reservations to their rows.
func giveBack(ctx context.Context, tx *gorm.DB, out *Outbox, rows []releasedRow) error {
	if len(rows) == 0 {
		return nil
	}
	moved := stockMoves{products: map[string]int64{}, pins: map[string]int64{}}
	type buyer struct{ pin, shopper string }
	buyers := map[buyer]int64{}
	variants := map[string]int64{}
	for _, r := range rows {
		variants[r.VariantID] += r.Quantity
		moved.products[r.ProductID] += r.Quantity
		if r.PinID != nil {
			moved.pins[*r.PinID] += r.Quantity
			buyers[buyer{*r.PinID, r.ShopperID}] += r.Quantity
		}
	}
	for _, pid := range slices.Sorted(maps.Keys(moved.pins)) {
		if err := tx.Exec(`UPDATE pins SET flash_remaining = flash_remaining + ? WHERE id = ? AND flash_remaining IS NOT NULL`,
			moved.pins[pid], pid).Error; err != nil {
			return fmt.Errorf("give flash allocation back: %w", err)
		}
	}
	if err := lockProducts(tx, slices.Sorted(maps.Keys(variants))); err != nil {
		return err
	}
	for _, b := range slices.SortedFunc(maps.Keys(buyers), func(a, b buyer) int {
		return cmp.Or(cmp.Compare(a.pin, b.pin), cmp.Compare(a.shopper, b.shopper))
	}) {
		if err := tx.Exec(`UPDATE flash_buyer_units SET units = greatest(units - ?, 0) WHERE pin_id = ? AND shopper_id = ?`,
			buyers[b], b.pin, b.shopper).Error; err != nil {
			return fmt.Errorf("give buyer units back: %w", err)
		}
	}
	for _, vid := range slices.Sorted(maps.Keys(variants)) {
		if err := tx.Exec(`UPDATE variants SET stock_available = stock_available + ? WHERE id = ?`, variants[vid], vid).Error; err != nil {
			return fmt.Errorf("give stock back: %w", err)
		}
	}
	_, err := announceStockMoves(ctx, tx, out, moved)
	return err
}
