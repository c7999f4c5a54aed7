// Package report is what brands, agencies, creators and admins read about
// sales: projections kept up to date by consumer groups on the event topics,
// and the rules of who sees which part of them.
//
// The first projection is a stream's sales ("stream stats"): the consumer
// group ConsumerGroup reads daihuo.orders and, in the transaction that
// records each event as applied (so a redelivered event changes nothing),
// adds every paid order to its stream's totals and to the share of each
// brand with items in it, and every refund to their refunds:
//
//   - orders, gmv (the order totals), units: from the paid event, once per
//     order id;
//   - buyers: distinct shoppers with at least one paid order (per brand:
//     with at least one paid order holding its items);
//   - commission: what the brands owe the creator, the sum over items of
//     unit price × quantity × commission_bps / 10 000, each item rounded
//     toward zero (money.Portion), on sales before refunds;
//   - refunds: the refunded events, less the refund_failed ones (a refund
//     that had succeeded and failed after all).
//
// A payment that arrived after its order closed (paid with late=true) is
// refunded in full by the platform at once: it is not a sale, so neither it
// nor its refund (reason late_payment) counts anywhere. The two net out to
// nothing whichever arrives first. Every update is a sum, so paid and
// refunded events of one order may be applied in any order.
package report

import (
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/order"
)

// ConsumerGroup is the Kafka consumer group (and the inbox consumer name)
// that keeps the stream stats projection.
const ConsumerGroup = "daihuo-stream-stats"

// ErrCurrencyMismatch says an event is in another currency than the totals
// its stream keeps (a stream sells in one currency); the event cannot be
// added and is skipped.
var ErrCurrencyMismatch = errs.New(errs.CodeCurrencyMismatch, "the stream's totals are kept in another currency")

// errBadPayload marks an event whose data cannot be applied however often
// it is retried.
var errBadPayload = errors.New("bad event payload")

// Amounts is what one sale adds to a scope (a stream, or a brand's part of it).
type Amounts struct {
	GMV        int64 // minor units
	Units      int64
	Commission int64 // minor units
}

// BrandAmounts is one brand's part of a sale.
type BrandAmounts struct {
	BrandID string
	Amounts
}

// Sale is a paid order as the projection adds it: to its stream's totals
// and to each brand with items in it (sorted by brand id).
type Sale struct {
	OrderID   string
	StreamID  string
	ShopperID string
	Currency  string
	At        time.Time
	Stream    Amounts
	Brands    []BrandAmounts
}

// BrandAmount is one brand's part of a refund.
type BrandAmount struct {
	BrandID string
	Amount  int64 // minor units
}

// RefundChange is a change of a stream's refunds: positive for a refund that
// succeeded, negative for one that failed after it had succeeded. Brands
// are sorted by brand id.
type RefundChange struct {
	RefundID string
	OrderID  string
	StreamID string
	Currency string
	At       time.Time
	Amount   int64
	Brands   []BrandAmount
}

// Totals is the projection of one scope: a stream, or one brand's items in it.
type Totals struct {
	Currency   string
	Orders     int64
	GMV        int64
	Units      int64
	Buyers     int64
	Refunds    int64
	Commission int64
	UpdatedAt  time.Time
}

// SaleOf returns what a paid order adds to the stream stats. It answers
// ok=false for a late payment, which is no sale.
func SaleOf(p order.OrderPayload) (s Sale, ok bool, err error) {
	if p.Late {
		return Sale{}, false, nil
	}
	if p.ID == "" || p.StreamID == "" || p.ShopperID == "" || p.Total.Currency == "" {
		return Sale{}, false, errors.New("paid event without order, stream, shopper or currency")
	}
	at := p.CreatedAt
	if p.PaidAt != nil {
		at = *p.PaidAt
	}
	s = Sale{OrderID: p.ID, StreamID: p.StreamID, ShopperID: p.ShopperID, Currency: p.Total.Currency, At: at.UTC()}
	s.Stream.GMV = p.Total.Amount
	brands := map[string]*Amounts{}
	for _, it := range p.Items {
		if it.UnitPrice.Currency != s.Currency {
			return Sale{}, false, ErrCurrencyMismatch
		}
		sub := money.Money{Amount: it.UnitPrice.Amount * it.Quantity, Currency: s.Currency}
		if it.Quantity < 0 || it.UnitPrice.Amount < 0 || (it.Quantity != 0 && sub.Amount/it.Quantity != it.UnitPrice.Amount) {
			return Sale{}, false, errors.New("paid event with an item out of range")
		}
		com, err := sub.Portion(int64(it.CommissionBPS))
		if err != nil {
			return Sale{}, false, err
		}
		s.Stream.Units += it.Quantity
		s.Stream.Commission += com.Amount
		b := brands[it.BrandID]
		if b == nil {
			b = &Amounts{}
			brands[it.BrandID] = b
		}
		b.GMV += sub.Amount
		b.Units += it.Quantity
		b.Commission += com.Amount
	}
	for id, a := range brands {
		if id != "" {
			s.Brands = append(s.Brands, BrandAmounts{BrandID: id, Amounts: *a})
		}
	}
	slices.SortFunc(s.Brands, func(a, b BrandAmounts) int { return strings.Compare(a.BrandID, b.BrandID) })
	return s, true, nil
}

// RefundOf returns the change a refunded (reversed=false) or refund_failed
// (reversed=true) event makes to the stream stats. It answers ok=false for
// any refund of a late payment (the platform's own, an admin's, one made at
// the provider), which was never counted as a sale.
func RefundOf(p order.RefundPayload, reversed bool) (r RefundChange, ok bool, err error) {
	if p.Late || p.Reason == order.RefundLatePayment {
		return RefundChange{}, false, nil
	}
	if p.StreamID == "" || p.Amount.Currency == "" {
		return RefundChange{}, false, errors.New("refund event without stream or currency")
	}
	sign := int64(1)
	if reversed {
		sign = -1
	}
	r = RefundChange{RefundID: p.RefundID, OrderID: p.OrderID, StreamID: p.StreamID, Currency: p.Amount.Currency,
		At: p.At.UTC(), Amount: sign * p.Amount.Amount}
	brands := map[string]int64{}
	for _, l := range p.Lines {
		if l.Amount.Currency != "" && l.Amount.Currency != r.Currency {
			return RefundChange{}, false, ErrCurrencyMismatch
		}
		if l.BrandID != "" {
			brands[l.BrandID] += sign * l.Amount.Amount
		}
	}
	if len(p.Lines) == 0 && p.BrandID != "" {
		brands[p.BrandID] = r.Amount
	}
	for id, a := range brands {
		r.Brands = append(r.Brands, BrandAmount{BrandID: id, Amount: a})
	}
	slices.SortFunc(r.Brands, func(a, b BrandAmount) int { return strings.Compare(a.BrandID, b.BrandID) })
	return r, true, nil
}

// Conversion is buyers per unique viewer rounded to 4 decimals, 0 when the
// stream had no viewers. Buyers who never opened the player (they bought
// through the API) can make it exceed 1; it is reported as it is.
func Conversion(buyers, uniqueViewers int64) float64 {
	if uniqueViewers <= 0 || buyers <= 0 {
		return 0
	}
	return math.Round(float64(buyers)/float64(uniqueViewers)*10_000) / 10_000
}
