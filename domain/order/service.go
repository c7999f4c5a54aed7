package order

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/group"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/page"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/domain/payment"
)

// Config tunes the order service; zero values take the defaults named
// beside them.
type Config struct {
	// ReservationTTL is how long an unpaid order holds its stock before it
	// expires (10 min).
	ReservationTTL time.Duration
	// SweepInterval is how often RunExpiry looks for due work (1 s).
	SweepInterval time.Duration
	// SweepBatch is how many orders, reservations or refunds one
	// transaction of the sweep handles (100).
	SweepBatch int
	// OrphanGrace is how long after its expiry a reservation that never got
	// an order is given back (1 min): a margin over the time between a
	// reservation and its order's insert.
	OrphanGrace time.Duration
	// RefundRetryAfter is how long after its last attempt a refund the
	// provider never acknowledged (it was down, or its answer was lost) is
	// sent again (30 s). A refund the provider acknowledged as pending is
	// never sent again: its webhook settles it.
	RefundRetryAfter time.Duration
	// RefundCheckAfter is how long a refund the provider acknowledged as
	// pending waits for its webhook before the sweep asks the provider how
	// it ended, and waits again after each such check (1 h): a lost webhook
	// must not leave it pending for good.
	RefundCheckAfter time.Duration
	// RefundRetryWindow is how long after its creation such a refund is
	// sent again (23 h). Providers keep idempotency keys for about a day;
	// past that a resend could refund twice, so a refund still
	// unacknowledged is left pending for a person to check.
	RefundRetryWindow time.Duration
	// CleanupTimeout bounds the clean-up (releasing stock, cancelling an
	// intent) after a caller gave up (10 s).
	CleanupTimeout time.Duration
	// SoldOutTTL is how long this process answers sold_out at once for a
	// flash pin it saw with no unit left, before it asks the database again
	// (1 s; negative turns the shortcut off). Stock that comes back (a
	// cancel, an expiry) is on sale again at most this long after.
	SoldOutTTL time.Duration
	// Logger reports best-effort failures; nil discards.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ReservationTTL, 10*time.Minute)
	def(&c.SweepInterval, time.Second)
	def(&c.OrphanGrace, time.Minute)
	def(&c.RefundRetryAfter, 30*time.Second)
	def(&c.RefundRetryWindow, 23*time.Hour)
	def(&c.RefundCheckAfter, time.Hour)
	def(&c.CleanupTimeout, 10*time.Second)
	if c.SoldOutTTL == 0 {
		c.SoldOutTTL = time.Second
	}
	if c.SweepBatch <= 0 {
		c.SweepBatch = 100
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Service places, pays, cancels, expires and refunds orders. Who may act is
// checked here: objects the caller may not see answer errs.ErrNotFound.
type Service struct {
	store    Store
	reserver Reserver
	gateway  PaymentGateway
	pub      Publisher
	tx       Transactor
	now      func() time.Time
	cfg      Config
	log      *slog.Logger
	soldOut  soldOutPins
	rec      *group.Group[Order, error]
}

// NewService returns an order Service; now is the clock.
func NewService(store Store, reserver Reserver, gateway PaymentGateway, pub Publisher, tx Transactor, now func() time.Time, cfg Config) *Service {
	cfg = cfg.withDefaults()
	s := &Service{store: store, reserver: reserver, gateway: gateway, pub: pub, tx: tx, now: now, cfg: cfg, log: cfg.Logger}
	s.rec = s.newRecorder()
	return s
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// ReservationTTL returns how long an unpaid order holds its stock.
func (s *Service) ReservationTTL() time.Duration { return s.cfg.ReservationTTL }

// cleanupCtx returns a context for clean-up that outlives a caller who gave up.
func (s *Service) cleanupCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.cfg.CleanupTimeout)
}

// PlaceOrder prices a shopper's order on the server, reserves its stock,
// opens its payment intent and records it, answering the pending order with
// the intent's client secret. Flash lines are reserved first (they are the
// likeliest to be sold out); when any line cannot be served, every line
// already reserved is given back. When the provider cannot be reached the
// answer is ErrPaymentUnavailable and nothing is kept.
func (s *Service) PlaceOrder(ctx context.Context, p party.Principal, in NewOrder) (Order, error) {
	if p.Role != party.RoleShopper || p.PartyID == "" {
		return Order{}, errs.ErrForbidden
	}
	in, err := in.Validate()
	if err != nil {
		return Order{}, err
	}
	// The shopper's order under this key, if a first attempt placed one, is
	// looked up only when this attempt cannot be placed (rejectedBefore) or
	// its insert finds the key taken: the api's idempotency record answers
	// retries before they get here, so the lookup would almost always be
	// wasted work on the hot path.
	now := s.clock()
	if s.soldOut.known(in.PinID, in.StreamID, now) {
		return s.rejectedBefore(ctx, p.PartyID, in, ErrSoldOut)
	}
	o, reqs, err := s.price(ctx, p.PartyID, in, now)
	if err != nil {
		if errors.Is(err, ErrSoldOut) || errors.Is(err, ErrLimitExceeded) || errors.Is(err, ErrFlashEnded) || errors.Is(err, ErrStreamNotLive) {
			return s.rejectedBefore(ctx, p.PartyID, in, err)
		}
		return Order{}, err
	}
	for i, req := range reqs {
		if err := s.reserver.Reserve(ctx, req); err != nil {
			s.noteSoldOut(err)
			if i > 0 || !cleanRejection(err) { // something may have been taken
				s.releaseAfterFailure(ctx, o.ID, o.PinID)
			}
			if cleanRejection(err) {
				return s.rejectedBefore(ctx, p.PartyID, in, fmt.Errorf("reserve stock: %w", err))
			}
			return Order{}, fmt.Errorf("reserve stock: %w", err)
		}
	}
	intent, err := s.gateway.CreateIntent(ctx, payment.IntentRequest{
		Amount:         o.Total,
		IdempotencyKey: "daihuo-order-" + o.ID,
		Description:    "daihuo order " + o.ID,
		Metadata:       map[string]string{"kind": "order", "order_id": o.ID},
	})
	if err != nil {
		s.releaseAfterFailure(ctx, o.ID, o.PinID)
		var ve *errs.ValidationError
		switch {
		case ctx.Err() != nil:
			return Order{}, fmt.Errorf("create payment intent: %w", ctx.Err())
		case errors.As(err, &ve):
			return Order{}, errs.Invalid("items", "the order total cannot be paid through the payment provider (%v)", err)
		}
		return Order{}, fmt.Errorf("%w (create payment intent: %v)", ErrPaymentUnavailable, err)
	}
	provider := intent.Provider
	if provider == "" {
		provider = s.gateway.Name()
	}
	o.Payment = Payment{Provider: provider, IntentID: intent.ID, ClientSecret: intent.ClientSecret}
	switch err = s.record(ctx, o); {
	case err == nil:
		return o, nil
	case errors.Is(err, ErrDuplicateOrder):
		s.releaseAfterFailure(ctx, o.ID, o.PinID)
		s.cancelIntent(ctx, o)
		return s.store.FindByIdempotencyKey(ctx, p.PartyID, in.IdempotencyKey)
	}
	// The commit may have happened with its answer lost (a connection
	// dropped during COMMIT), or a batch may have committed before falling
	// back to one order at a time: an order that exists is placed.
	exists, known := s.recorded(ctx, o.ID)
	if exists {
		return o, nil
	}
	s.releaseAfterFailure(ctx, o.ID, o.PinID)
	if known {
		s.cancelIntent(ctx, o)
	} // else the order may exist, and its retry must be able to pay: the intent stays, its secret told to no one
	return Order{}, fmt.Errorf("record order: %w", err)
}

// price builds the pending order from the server's prices and the
// reservations it needs: one for the flash lines of the pin, one per other line.
func (s *Service) price(ctx context.Context, shopperID string, in NewOrder, now time.Time) (Order, []ReserveRequest, error) {
	ids := make([]string, len(in.Items))
	for i, it := range in.Items {
		ids[i] = it.VariantID
	}
	co, err := s.store.LoadCheckout(ctx, in.StreamID, in.PinID, ids)
	if errors.Is(err, errs.ErrNotFound) {
		return Order{}, nil, errs.Invalid("stream_id", "no such stream")
	}
	if err != nil {
		return Order{}, nil, fmt.Errorf("load checkout: %w", err)
	}
	if co.Stream.Status != live.StatusLive {
		return Order{}, nil, ErrStreamNotLive
	}
	var flash *live.Flash
	if in.PinID != "" {
		if co.Pin == nil {
			return Order{}, nil, errs.Invalid("pin_id", "no such pin in this stream")
		}
		if f := co.Pin.Flash; f != nil {
			if !co.Pin.Active() || !now.Before(f.EndsAt) {
				return Order{}, nil, ErrFlashEnded
			}
			if f.Remaining <= 0 {
				s.soldOut.mark(co.Pin.ID, co.Stream.ID, f.EndsAt, s.cfg.SoldOutTTL)
				return Order{}, nil, ErrSoldOut
			}
			flash = f
		}
	}
	o := Order{
		ID: id.New(PrefixOrder, now), ShopperID: shopperID, StreamID: co.Stream.ID, PinID: in.PinID,
		CreatorID: co.Stream.CreatorID, AgencyID: co.Stream.AgencyID, Status: StatusPendingPayment,
		Items: make([]Item, len(in.Items)), Shipping: in.Shipping, IdempotencyKey: in.IdempotencyKey,
		ExpiresAt: now.Add(s.cfg.ReservationTTL), CreatedAt: now, UpdatedAt: now,
	}
	flashReq := ReserveRequest{OrderID: o.ID, ShopperID: shopperID, PinID: in.PinID, ExpiresAt: o.ExpiresAt}
	var reqs []ReserveRequest
	var v errs.Validator
	for i, ni := range in.Items {
		field := fmt.Sprintf("items[%d].variant_id", i)
		vr, ok := co.Variants[ni.VariantID]
		if !v.Check(ok, field, "no such variant") {
			continue
		}
		li, ok := co.Lineup[vr.ProductID]
		if !v.Check(ok, field, "is not in the stream's line-up") {
			continue
		}
		it := Item{VariantID: vr.ID, ProductID: vr.ProductID, BrandID: vr.BrandID, Quantity: ni.Quantity,
			UnitPrice: vr.Price, CommissionBPS: li.CommissionBPS}
		line := ReserveLine{VariantID: vr.ID, Quantity: ni.Quantity}
		if flash != nil && vr.ProductID == co.Pin.ProductID {
			it.UnitPrice, it.Flash = flash.Price, true
			flashReq.Lines = append(flashReq.Lines, line)
		} else {
			reqs = append(reqs, ReserveRequest{OrderID: o.ID, ShopperID: shopperID, Lines: []ReserveLine{line}, ExpiresAt: o.ExpiresAt})
		}
		o.Items[i] = it
	}
	if err := v.Err(); err != nil {
		return Order{}, nil, err
	}
	cur := co.Stream.Currency
	o.Total = money.Zero(cur)
	var flashUnits int64
	for _, it := range o.Items {
		if it.UnitPrice.Currency != cur {
			return Order{}, nil, ErrCurrencyMismatch
		}
		sub, err := it.UnitPrice.Mul(it.Quantity)
		if err == nil {
			o.Total, err = o.Total.Add(sub)
		}
		if err != nil {
			return Order{}, nil, errs.Invalid("items", "the order total must be at most %s", money.Money{Amount: money.MaxAmount, Currency: cur})
		}
		if it.Flash {
			flashUnits += it.Quantity
		}
	}
	if flash != nil && flash.PerBuyerLimit > 0 && flashUnits > flash.PerBuyerLimit {
		return Order{}, nil, ErrLimitExceeded
	}
	o.Paid, o.Refunded = money.Zero(cur), money.Zero(cur)
	if len(flashReq.Lines) > 0 {
		reqs = append([]ReserveRequest{flashReq}, reqs...)
	}
	return o, reqs, nil
}

// recorded reports whether the order exists, even when the caller has
// gone, and whether that could be told.
func (s *Service) recorded(ctx context.Context, orderID string) (exists, known bool) {
	ctx, cancel := s.cleanupCtx(ctx)
	defer cancel()
	_, err := s.store.GetOrder(ctx, orderID)
	switch {
	case err == nil:
		return true, true
	case errors.Is(err, errs.ErrNotFound):
		return false, true
	}
	return false, false
}

// releaseAfterFailure gives back the stock the order took and has not
// attached to a recorded order, even when the caller has gone. Attached
// reservations stay: an order whose recording seemed to fail may exist
// (its commit's answer lost), and only its cancel or expiry gives them back.
func (s *Service) releaseAfterFailure(ctx context.Context, orderID, pinID string) {
	s.soldOut.forget(pinID)
	ctx, cancel := s.cleanupCtx(ctx)
	defer cancel()
	if err := s.store.ReleaseHeldReservations(ctx, orderID); err != nil {
		// The orphan sweep gives it back after the TTL.
		s.log.Warn("release reservations of a failed order", "order_id", orderID, "error", err)
	}
}

// cancelIntent cancels the order's intent, best effort. When the provider
// says it cannot, because the intent already succeeded, the payment is
// recorded now as the success webhook would record it (a late payment,
// refunded): the order does not depend on that webhook arriving. The
// webhook, when it comes, then changes nothing.
func (s *Service) cancelIntent(ctx context.Context, o Order) {
	if o.Payment.IntentID == "" {
		return
	}
	ctx, cancel := s.cleanupCtx(ctx)
	defer cancel()
	_, err := s.gateway.CancelIntent(ctx, o.Payment.IntentID)
	var e *errs.Error
	switch {
	case err == nil:
		return
	case !errors.As(err, &e) || e.Code != errs.CodeInvalidState:
		s.log.Warn("cancel payment intent", "order_id", o.ID, "intent_id", o.Payment.IntentID, "error", err)
		return
	}
	it, err := s.gateway.GetIntent(ctx, o.Payment.IntentID)
	if err != nil {
		s.log.Warn("read a payment intent that could not be cancelled", "order_id", o.ID, "intent_id", o.Payment.IntentID, "error", err)
		return
	}
	if it.Status != payment.IntentSucceeded {
		return
	}
	err = s.ApplyPaymentEvent(ctx, payment.WebhookEvent{
		Provider: o.Payment.Provider, ID: "daihuo-read-" + it.ID + "-succeeded", Type: payment.EventIntentSucceeded,
		IntentID: it.ID, Amount: it.Amount, Status: string(it.Status), Metadata: it.Metadata,
	})
	if err != nil {
		s.log.Warn("record a payment found succeeded on cancel", "order_id", o.ID, "intent_id", it.ID, "error", err)
	}
}

// closeUnpaid closes pending orders as cancelled or expired, gives their
// stock back (in one call, so rows are locked in one global order) and
// records the events, in the caller's transaction.
func (s *Service) closeUnpaid(ctx context.Context, orders []Order, status Status, reason string, now time.Time) error {
	ids := make([]string, len(orders))
	evs := make([]event.Event, len(orders))
	for i := range orders {
		o := &orders[i]
		o.Status, o.CloseReason, o.ClosedAt, o.UpdatedAt = status, reason, &now, now
		if err := s.store.UpdateOrder(ctx, *o); err != nil {
			return err
		}
		ev, err := cancelledEvent(*o)
		if err != nil {
			return err
		}
		ids[i], evs[i] = o.ID, ev
		s.soldOut.forget(o.PinID)
	}
	if err := s.store.ReleaseReservations(ctx, ids...); err != nil {
		return err
	}
	return s.pub.Publish(ctx, evs...)
}

// Cancel cancels a pending order of the calling shopper: its stock goes back
// at once and its payment intent is cancelled. Another shopper's order
// answers errs.ErrNotFound; an order no longer pending ErrNotPending.
func (s *Service) Cancel(ctx context.Context, p party.Principal, orderID string) (Order, error) {
	if p.Role != party.RoleShopper {
		return Order{}, errs.ErrForbidden
	}
	if !id.Valid(PrefixOrder, orderID) {
		return Order{}, errs.ErrNotFound
	}
	var o Order
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if o, err = s.store.LockOrder(ctx, orderID); err != nil {
			return err
		}
		if !p.IsShopper(o.ShopperID) {
			return errs.ErrNotFound
		}
		if !o.Pending() {
			return ErrNotPending
		}
		closed := []Order{o}
		if err := s.closeUnpaid(ctx, closed, StatusCancelled, ReasonCancelled, s.clock()); err != nil {
			return err
		}
		o = closed[0]
		return nil
	})
	if err != nil {
		return Order{}, err
	}
	s.cancelIntent(ctx, o)
	return o, nil
}

// GetOrder returns an order as p may see it (see Order.ViewFor): its
// shopper, a brand with items in it, an admin; anyone else gets
// errs.ErrNotFound.
func (s *Service) GetOrder(ctx context.Context, p party.Principal, orderID string) (Order, error) {
	if !id.Valid(PrefixOrder, orderID) {
		return Order{}, errs.ErrNotFound
	}
	o, err := s.store.GetOrder(ctx, orderID)
	if err != nil {
		return Order{}, err
	}
	v, ok := o.ViewFor(p)
	if !ok {
		return Order{}, errs.ErrNotFound
	}
	return v, nil
}

// Page asks for one page of orders (see page.Request).
type Page = page.Request

// OrderPage is one page of orders and the cursor of the next page, empty on
// the last page.
type OrderPage struct {
	Items      []Order
	NextCursor string
}

// Query narrows a list of orders; zero fields leave it wide.
type Query struct {
	Status   Status
	StreamID string
	// From and To bound when orders were placed: at or after From, before To.
	From, To time.Time
}

// Validate checks q, naming each bad field as the api's query parameter.
func (q Query) Validate() error {
	var v errs.Validator
	v.Check(q.Status == "" || q.Status.Valid(), "status", "must be one of pending_payment, paid, partially_refunded, refunded, cancelled, expired")
	v.Check(q.StreamID == "" || id.Valid(live.PrefixStream, q.StreamID), "stream_id", "must be a stream id")
	// Years 1970 to 9999 fit an id's 48-bit millisecond clock.
	inRange := func(t time.Time) bool { return t.IsZero() || (t.Year() >= 1970 && t.Year() <= 9999) }
	v.Check(inRange(q.From), "from", "must be a time from 1970 to 9999")
	v.Check(inRange(q.To), "to", "must be a time from 1970 to 9999")
	v.Check(q.From.IsZero() || q.To.IsZero() || q.From.Before(q.To), "to", "must be after from")
	return v.Err()
}

// ListOrders returns one page of orders matching q, newest first, each as p
// may see it: a shopper its own, a brand those with its items, an admin
// all; other roles are forbidden.
func (s *Service) ListOrders(ctx context.Context, p party.Principal, pg Page, q Query) (OrderPage, error) {
	if err := q.Validate(); err != nil {
		return OrderPage{}, err
	}
	f := ListFilter{Query: q}
	switch {
	case p.Role == party.RoleShopper && p.PartyID != "":
		f.ShopperID = p.PartyID
	case p.Role == party.RoleBrand && p.PartyID != "":
		f.BrandID = p.PartyID
	case p.IsAdmin():
	default:
		return OrderPage{}, errs.ErrForbidden
	}
	limit, err := pg.Check(PrefixOrder)
	if err != nil {
		return OrderPage{}, err
	}
	items, err := s.store.ListOrders(ctx, f, pg.Cursor, limit+1)
	if err != nil {
		return OrderPage{}, fmt.Errorf("list orders: %w", err)
	}
	items, next := page.Cut(items, limit, func(o Order) string { return o.ID })
	for i := range items {
		items[i], _ = items[i].ViewFor(p)
	}
	return OrderPage{Items: items, NextCursor: next}, nil
}
