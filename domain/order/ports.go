package order

import (
	"context"
	"time"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/payment"
)

// ErrDuplicateOrder is what Store.InsertOrder answers when the shopper
// already has an order placed with the same idempotency key; PlaceOrder then
// returns that order.
var ErrDuplicateOrder = errs.New(errs.CodeConflict, "an order with this idempotency key exists")

// Checkout is everything pricing an order reads: the stream, the pin the
// order names, the variants it asks for and their line-up entries.
//
// A store may hand the same Checkout to concurrent callers (a flash sale's
// buyers share one read): treat it, its Pin and its maps as read-only.
type Checkout struct {
	Stream live.Stream
	// Pin is the pin the order names when it is a pin of Stream, else nil.
	Pin *live.Pin
	// Variants holds the asked-for variants that exist, by id.
	Variants map[string]catalog.Variant
	// Lineup holds the stream's line-up entries of those variants'
	// products, by product id; a product missing here is not offered.
	Lineup map[string]live.LineupItem
}

// ListFilter narrows a list of orders: to one shopper's, to those with a
// brand's items, or neither (all orders), and further by what Query says.
type ListFilter struct {
	ShopperID string
	BrandID   string
	Query
}

// Store keeps orders, their items and refunds, the stock reservations they
// hold and the webhook events already applied. Methods join the transaction
// a Transactor put in ctx. Orders come back with their items and refunds.
type Store interface {
	// LoadCheckout reads what pricing needs; errs.ErrNotFound when the
	// stream does not exist.
	LoadCheckout(ctx context.Context, streamID, pinID string, variantIDs []string) (Checkout, error)
	// FindByIdempotencyKey returns the shopper's order placed with key, or
	// errs.ErrNotFound.
	FindByIdempotencyKey(ctx context.Context, shopperID, key string) (Order, error)
	// InsertOrder inserts a new order and its items; ErrDuplicateOrder when
	// the shopper's idempotency key is taken.
	InsertOrder(ctx context.Context, o Order) error
	// InsertOrders inserts new orders and their items at once;
	// ErrDuplicateOrder (for them all) when an idempotency key is taken.
	InsertOrders(ctx context.Context, os []Order) error
	// GetOrder returns an order or errs.ErrNotFound.
	GetOrder(ctx context.Context, id string) (Order, error)
	// LockOrder returns an order locked until the transaction ends.
	LockOrder(ctx context.Context, id string) (Order, error)
	// LockOrderByIntent returns the order paid through the provider's
	// intent, locked; errs.ErrNotFound when none is.
	LockOrderByIntent(ctx context.Context, provider, intentID string) (Order, error)
	// LockDueOrders locks up to limit pending orders whose expiry is at or
	// before now, skipping orders other transactions hold.
	LockDueOrders(ctx context.Context, now time.Time, limit int) ([]Order, error)
	// UpdateOrder writes the mutable fields of o: status, amounts, payment
	// failure, close reason and times.
	UpdateOrder(ctx context.Context, o Order) error
	// ListOrders returns up to limit orders matching f, newest first, with
	// ids below before when it is not empty.
	ListOrders(ctx context.Context, f ListFilter, before string, limit int) ([]Order, error)

	// AttachReservations marks the held reservations of an order as
	// belonging to the recorded order, so the orphan sweep leaves them
	// alone, and returns how many it marked.
	AttachReservations(ctx context.Context, orderID string) (int, error)
	// AttachReservationsOf is AttachReservations for many orders at once:
	// how many held reservations of each it marked, by order id.
	AttachReservationsOf(ctx context.Context, orderIDs []string) (map[string]int, error)
	// CommitReservations makes the reservations of a paid order final.
	CommitReservations(ctx context.Context, orderID string) error
	// ReleaseReservations gives the stock of the orders' held or attached
	// reservations back (variants, flash allocations, per-buyer counts);
	// reservations already released or committed are left alone.
	ReleaseReservations(ctx context.Context, orderIDs ...string) error
	// ReleaseHeldReservations gives back the stock of the order's
	// reservations still held, not attached to a recorded order.
	ReleaseHeldReservations(ctx context.Context, orderID string) error
	// ReleaseOrphanReservations gives back up to limit held reservations
	// that expired before expiredBefore and never got an order, and returns
	// how many it released.
	ReleaseOrphanReservations(ctx context.Context, expiredBefore time.Time, limit int) (int, error)

	// MarkPaymentEvent records a provider's webhook event id and reports
	// whether it is new.
	MarkPaymentEvent(ctx context.Context, provider, eventID string) (bool, error)
	// InsertRefund inserts a refund with its lines.
	InsertRefund(ctx context.Context, r Refund) error
	// UpdateRefund writes the status, provider id and failure of r.
	UpdateRefund(ctx context.Context, r Refund) error
	// UnsentRefunds returns up to limit pending refunds the provider has
	// not acknowledged (no ProviderRefundID), last tried (UpdatedAt) before
	// triedBefore and created after createdAfter, least recently tried
	// first.
	UnsentRefunds(ctx context.Context, triedBefore, createdAfter time.Time, limit int) ([]Refund, error)
	// AcknowledgedRefunds returns up to limit pending refunds the provider
	// acknowledged (they have its refund id), last updated before
	// checkedBefore, least recently updated first.
	AcknowledgedRefunds(ctx context.Context, checkedBefore time.Time, limit int) ([]Refund, error)
	// CountUnsentRefunds counts the pending refunds the provider has not
	// acknowledged that were created before createdBefore.
	CountUnsentRefunds(ctx context.Context, createdBefore time.Time) (int, error)
	// CountUnrefundedClosed counts the cancelled or expired orders holding
	// more paid than refunded with no refund pending.
	CountUnrefundedClosed(ctx context.Context) (int, error)
}

// ReserveLine is units of one variant to reserve.
type ReserveLine struct {
	VariantID string
	Quantity  int64
}

// ReserveRequest asks to hold stock for an order until ExpiresAt. With
// PinID the lines are flash units of that pin: its allocation and the
// shopper's per-buyer count are taken along with the variants' stock.
// Without, it has exactly one line.
type ReserveRequest struct {
	OrderID   string
	ShopperID string
	PinID     string
	Lines     []ReserveLine
	ExpiresAt time.Time
}

// Reserver takes stock for orders atomically, never below zero, however
// many shoppers race for it. Reserve returns nil once the reservation is
// recorded, ErrSoldOut, ErrLimitExceeded or ErrFlashEnded when it cannot be
// made, ErrBusy when too many wait. When ctx ends first the reservation may
// still have been made: the caller releases the order's reservations
// (Store.ReleaseHeldReservations), which covers it.
type Reserver interface {
	Reserve(ctx context.Context, req ReserveRequest) error
}

// PaymentGateway is what orders need of a payment provider; payment.Gateway
// adapters satisfy it.
type PaymentGateway interface {
	Name() string
	CreateIntent(ctx context.Context, req payment.IntentRequest) (payment.Intent, error)
	CancelIntent(ctx context.Context, intentID string) (payment.Intent, error)
	GetIntent(ctx context.Context, intentID string) (payment.Intent, error)
	Refund(ctx context.Context, req payment.RefundRequest) (payment.Refund, error)
	GetRefund(ctx context.Context, refundID string) (payment.Refund, error)
	CheckAmount(m money.Money) error
}

// Publisher records events in the caller's transaction (the outbox).
type Publisher interface {
	Publish(ctx context.Context, evs ...event.Event) error
}

// Transactor runs fn in one database transaction.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}
