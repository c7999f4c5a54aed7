package order

import (
	"time"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/money"
)

// The event types of orders, on event.TopicOrders keyed by order id, each
// written through the outbox in the transaction of the change it tells.
const (
	EventCreated      = "daihuo.order.created.v1"
	EventPaid         = "daihuo.order.paid.v1"
	EventCancelled    = "daihuo.order.cancelled.v1"
	EventRefunded     = "daihuo.order.refunded.v1"
	EventRefundFailed = "daihuo.order.refund_failed.v1" // a refund that had succeeded failed after all
)

// EventFlashStock is the live event telling players how many units of a
// flash pin are left ({pin_id, stream_id, remaining, at, offset_ms}, SSE name
// "flash.stock"), on event.TopicLive keyed by stream id. It belongs with the
// live room's events; it is declared here because the reservation path
// emits it (see storage.Reserver for the coalescing rule).
const EventFlashStock = "daihuo.flash.stock.v1"

// ItemPayload is an order line in events: what settlement needs to split the
// money (brand, commission) and reports to count units.
type ItemPayload struct {
	VariantID     string      `json:"variant_id"`
	ProductID     string      `json:"product_id"`
	BrandID       string      `json:"brand_id"`
	Quantity      int64       `json:"quantity"`
	UnitPrice     money.Money `json:"unit_price"`
	CommissionBPS int         `json:"commission_bps"`
	Flash         bool        `json:"flash"`
}

// OrderPayload is the data of the created and paid events. Paid, PaidAt and
// Late are set in the paid event; Late marks a payment that arrived after the
// order was cancelled or expired and is refunded in full (a refunded event
// follows), so reports can leave it out of sales.
type OrderPayload struct {
	ID        string        `json:"id"`
	ShopperID string        `json:"shopper_id"`
	StreamID  string        `json:"stream_id"`
	PinID     string        `json:"pin_id,omitempty"`
	CreatorID string        `json:"creator_id"`
	AgencyID  string        `json:"agency_id,omitempty"`
	Status    Status        `json:"status"`
	Items     []ItemPayload `json:"items"`
	Total     money.Money   `json:"total"`
	Paid      *money.Money  `json:"paid,omitempty"`
	Provider  string        `json:"provider"`
	IntentID  string        `json:"intent_id"`
	ExpiresAt time.Time     `json:"expires_at"`
	CreatedAt time.Time     `json:"created_at"`
	PaidAt    *time.Time    `json:"paid_at,omitempty"`
	Late      bool          `json:"late,omitempty"`
}

// CancelledPayload says a pending order closed unpaid and why
// (ReasonCancelled, ReasonExpired or ReasonPaymentCanceled).
type CancelledPayload struct {
	OrderID   string    `json:"order_id"`
	ShopperID string    `json:"shopper_id"`
	StreamID  string    `json:"stream_id"`
	Status    Status    `json:"status"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// RefundLinePayload is the part of a refund booked to one brand.
type RefundLinePayload struct {
	BrandID string      `json:"brand_id"`
	Amount  money.Money `json:"amount"`
}

// RefundPayload is the data of the refunded and refund_failed events:
// Amount in total, BrandID when one brand bears all of it (empty when an
// admin's refund spans several), Lines per brand, and the order's refunded
// total and status after the change.
type RefundPayload struct {
	OrderID       string              `json:"order_id"`
	RefundID      string              `json:"refund_id"`
	StreamID      string              `json:"stream_id"`
	CreatorID     string              `json:"creator_id"`
	AgencyID      string              `json:"agency_id,omitempty"`
	Amount        money.Money         `json:"amount"`
	BrandID       string              `json:"brand_id,omitempty"`
	Lines         []RefundLinePayload `json:"lines"`
	Reason        string              `json:"reason"`
	RequestedBy   string              `json:"requested_by"`
	RefundedTotal money.Money         `json:"refunded_total"`
	Status        Status              `json:"status"`
	// Late says the order was paid only after it closed (a late payment):
	// it was never a sale, whatever the refund's reason.
	Late bool      `json:"late,omitempty"`
	At   time.Time `json:"at"`
}

// FlashStockPayload is the data of EventFlashStock. Remaining is what a
// buyer can still get: the pin's allocation, capped by the stock of the
// product's variants.
type FlashStockPayload struct {
	PinID     string    `json:"pin_id"`
	StreamID  string    `json:"stream_id"`
	Remaining int64     `json:"remaining"`
	At        time.Time `json:"at"`
	OffsetMS  int64     `json:"offset_ms"`
}

func orderPayload(o Order) OrderPayload {
	p := OrderPayload{
		ID: o.ID, ShopperID: o.ShopperID, StreamID: o.StreamID, PinID: o.PinID, CreatorID: o.CreatorID,
		AgencyID: o.AgencyID, Status: o.Status, Items: make([]ItemPayload, len(o.Items)), Total: o.Total,
		Provider: o.Payment.Provider, IntentID: o.Payment.IntentID, ExpiresAt: o.ExpiresAt, CreatedAt: o.CreatedAt,
	}
	for i, it := range o.Items {
		p.Items[i] = ItemPayload(it)
	}
	return p
}

func createdEvent(o Order) (event.Event, error) {
	return event.New(event.TopicOrders, EventCreated, o.ID, orderPayload(o), o.CreatedAt)
}

func paidEvent(o Order, late bool) (event.Event, error) {
	p := orderPayload(o)
	paid := o.Paid
	p.Paid, p.PaidAt, p.Late = &paid, o.PaidAt, late
	return event.New(event.TopicOrders, EventPaid, o.ID, p, *o.PaidAt)
}

func cancelledEvent(o Order) (event.Event, error) {
	return event.New(event.TopicOrders, EventCancelled, o.ID, CancelledPayload{
		OrderID: o.ID, ShopperID: o.ShopperID, StreamID: o.StreamID, Status: o.Status, Reason: o.CloseReason, At: *o.ClosedAt,
	}, *o.ClosedAt)
}

func refundEvent(typ string, o Order, r Refund, at time.Time) (event.Event, error) {
	p := RefundPayload{
		OrderID: o.ID, RefundID: r.ID, StreamID: o.StreamID, CreatorID: o.CreatorID, AgencyID: o.AgencyID,
		Amount: r.Amount, Lines: make([]RefundLinePayload, len(r.Lines)), Reason: r.Reason, RequestedBy: r.RequestedBy,
		RefundedTotal: o.Refunded, Status: o.Status, Late: o.CloseReason != "", At: at,
	}
	for i, l := range r.Lines {
		p.Lines[i] = RefundLinePayload{BrandID: l.BrandID, Amount: money.Money{Amount: l.Amount, Currency: r.Amount.Currency}}
	}
	if len(r.Lines) == 1 {
		p.BrandID = r.Lines[0].BrandID
	}
	return event.New(event.TopicOrders, typ, o.ID, p, at)
}
