// Package order is "buy now": a shopper's order from a live stream, priced by
// the server (the catalog, or the active flash pin), holding stock through a
// reservation that never oversells, paid through the payment gateway and
// settled by its webhooks, cancelled, expired or refunded.
//
// The life of an order:
//
//	pending_payment ──paid──▶ paid ──refund──▶ partially_refunded ──▶ refunded
//	       │
//	       ├──shopper cancels / intent cancelled──▶ cancelled
//	       └──reservation TTL passes──────────────▶ expired
//
// A payment that succeeds after the order was cancelled or expired is not
// lost: it is recorded and refunded in full, and the order ends refunded.
package order

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/party"
)

// The id prefixes of orders and their refunds.
const (
	PrefixOrder  = "ord"
	PrefixRefund = "rfd"
)

// Limits of an order.
const (
	MaxItems          = 20  // lines of one order
	MaxQuantity       = 100 // units of one line
	MaxNameLen        = 100 // characters of the shipping name
	MaxLine1Len       = 200 // characters of the street line
	MaxCityLen        = 100 // characters of the city
	MaxPostalCodeLen  = 20  // characters of the postal code
	MaxIdempotencyKey = 255 // bytes of an idempotency key
)

// CodePaymentUnavailable is the stable error code of an order that could
// not be placed because the payment provider did not answer; nothing was
// kept and the shopper may retry. The api answers it with 503.
const CodePaymentUnavailable errs.Code = "payment_unavailable"

// Errors of ordering. The api maps them by code.
var (
	// ErrSoldOut answers an order the stock (or the flash allocation) cannot serve (409).
	ErrSoldOut = errs.New(errs.CodeSoldOut, "sold out: not enough stock left for this order")
	// ErrLimitExceeded answers a flash order beyond the per-buyer limit (409).
	ErrLimitExceeded = errs.New(errs.CodeLimitExceeded, "this flash sale's limit per buyer would be exceeded")
	// ErrStreamNotLive refuses orders from a stream that is not on air (409).
	ErrStreamNotLive = errs.New(errs.CodeInvalidState, "the stream is not live")
	// ErrFlashEnded refuses an order naming a flash pin whose sale is over
	// (its time is up or it left the screen) (409).
	ErrFlashEnded = errs.New(errs.CodeInvalidState, "the flash sale has ended")
	// ErrCurrencyMismatch refuses a line priced in another currency than the stream's (409).
	ErrCurrencyMismatch = errs.New(errs.CodeCurrencyMismatch, "an order is paid in its stream's currency and this product is priced in another")
	// ErrRefundCurrency refuses a refund amount in another currency than
	// the order's.
	ErrRefundCurrency = errs.New(errs.CodeCurrencyMismatch, "a refund is made in the order's currency and this amount is in another")
	// ErrNotPending refuses cancelling an order that is no longer waiting for payment (409).
	ErrNotPending = errs.New(errs.CodeInvalidState, "only an order waiting for payment can be cancelled")
	// ErrNothingToRefund refuses a refund of an order with nothing left to refund (409).
	ErrNothingToRefund = errs.New(errs.CodeInvalidState, "nothing left to refund on this order")
	// ErrRefundFailed says the provider refused the refund of this idempotency key (409).
	ErrRefundFailed = errs.New(errs.CodeInvalidState, "the payment provider refused this refund")
	// ErrIdempotencyConflict refuses a refund key reused with another amount (409).
	ErrIdempotencyConflict = errs.New(errs.CodeIdempotencyConflict, "idempotency key already used with a different amount")
	// ErrPaymentUnavailable says the payment provider could not be reached;
	// nothing was kept, so a retry is safe (503).
	ErrPaymentUnavailable = errs.New(CodePaymentUnavailable, "the payment provider is unavailable; try again shortly")
	// ErrBusy refuses a reservation when the queue of one product is full (429).
	ErrBusy = errs.New(errs.CodeRateLimited, "too many orders for this product at once; try again shortly")
	// ErrReservationLost says the stock held for an order was given back
	// before the order was recorded (it outlived its TTL); retry (409).
	ErrReservationLost = errs.New(errs.CodeConflict, "the stock held for this order expired before it was recorded; try again")
	// ErrUnknownIntent answers a webhook about an intent no order has. The
	// api logs it and acknowledges the webhook (200) so the provider stops.
	ErrUnknownIntent = errs.New(errs.CodeNotFound, "no order has this payment intent")
)

// Status is where an order is in its life.
type Status string

// The states of an order.
const (
	StatusPendingPayment    Status = "pending_payment"
	StatusPaid              Status = "paid"
	StatusPartiallyRefunded Status = "partially_refunded"
	StatusRefunded          Status = "refunded"
	StatusCancelled         Status = "cancelled"
	StatusExpired           Status = "expired"
)

// Valid reports whether s is one of the statuses above.
func (s Status) Valid() bool {
	switch s {
	case StatusPendingPayment, StatusPaid, StatusPartiallyRefunded, StatusRefunded, StatusCancelled, StatusExpired:
		return true
	}
	return false
}

// Why a pending order closed without payment, in Order.CloseReason and the
// cancelled event.
const (
	ReasonCancelled       = "cancelled"        // its shopper cancelled it
	ReasonExpired         = "expired"          // nobody paid within the reservation TTL
	ReasonPaymentCanceled = "payment_canceled" // the provider cancelled the intent
)

// Shipping is where the goods go.
type Shipping struct {
	Name       string
	Line1      string
	City       string
	PostalCode string
	Country    string // ISO 3166-1 alpha-2, upper case
}

// Item is one line of an order, priced by the server when it was placed.
type Item struct {
	VariantID string
	ProductID string
	BrandID   string
	Quantity  int64
	UnitPrice money.Money
	// CommissionBPS is the line-up commission of the product when the order
	// was placed, which settlement pays the creator.
	CommissionBPS int
	// Flash says the unit price is the flash pin's and the units came from
	// its allocation.
	Flash bool
}

// Subtotal returns UnitPrice × Quantity; placement bounds it well inside
// money.MaxAmount.
func (it Item) Subtotal() money.Money {
	return money.Money{Amount: it.UnitPrice.Amount * it.Quantity, Currency: it.UnitPrice.Currency}
}

// Payment is the payment intent of an order.
type Payment struct {
	Provider string
	IntentID string
	// ClientSecret lets the shopper's player confirm the intent; it is only
	// shown to the order's shopper (see ViewFor).
	ClientSecret  string
	FailureCode   string // last declined attempt, empty when none
	FailureReason string
}

// Order is a shopper's purchase from a live stream.
type Order struct {
	ID        string
	ShopperID string
	StreamID  string
	PinID     string // the pin the order came from, empty when none
	CreatorID string // the stream's host, for attribution and commission
	AgencyID  string // the host's agency when the stream was created, empty if none
	Status    Status
	Items     []Item
	Total     money.Money
	// Paid is what the provider received (zero until paid).
	Paid money.Money
	// Refunded is the sum of succeeded refunds.
	Refunded    money.Money
	Refunds     []Refund // oldest first
	Shipping    Shipping
	Payment     Payment
	CloseReason string // why a pending order was cancelled or expired
	// IdempotencyKey is the key the shopper placed the order with, if any:
	// placing again with it returns this order.
	IdempotencyKey string
	ExpiresAt      time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	PaidAt         *time.Time
	ClosedAt       *time.Time
}

// RefundStatus is where a refund is: pending until the provider answers,
// then succeeded or failed. It only moves forward (pending → succeeded →
// failed, as Stripe's refunds do), so webhooks in any order end the same.
type RefundStatus string

// The states of a refund.
const (
	RefundPending   RefundStatus = "pending"
	RefundSucceeded RefundStatus = "succeeded"
	RefundFailed    RefundStatus = "failed"
)

func (s RefundStatus) rank() int {
	switch s {
	case RefundSucceeded:
		return 1
	case RefundFailed:
		return 2
	}
	return 0
}

// Why money went back, in Refund.Reason.
const (
	RefundRequested   = "requested"    // a brand or an admin asked
	RefundLatePayment = "late_payment" // paid after the order was cancelled or expired
	RefundExternal    = "external"     // made at the provider, outside daihuo
)

// Who a refund is booked to when no brand or admin asked, in Refund.RequestedBy.
const (
	RequesterAdmin    = "admin"
	RequesterPlatform = "platform" // the refund of a late payment
	RequesterProvider = "provider" // a refund made at the provider
)

// Refund is money returned to the shopper, split over the brands whose
// items it refunds.
type Refund struct {
	ID      string
	OrderID string
	// RequestedBy is the brand id that asked, RequesterAdmin,
	// RequesterPlatform or RequesterProvider.
	RequestedBy    string
	IdempotencyKey string
	Amount         money.Money
	Lines          []RefundLine
	Reason         string
	Status         RefundStatus
	// ProviderRefundID is the provider's refund id once it answered.
	ProviderRefundID string
	FailureReason    string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// RefundLine is the part of a refund booked to one brand.
type RefundLine struct {
	BrandID string
	Amount  int64 // minor units of the refund's currency
}

// NewOrder is the input of PlaceOrder. Prices are never part of it.
type NewOrder struct {
	StreamID string
	PinID    string // optional: the pin the shopper bought from
	Items    []NewItem
	Shipping Shipping
	// IdempotencyKey is optional: with it, placing the same order again
	// (a retry after a lost answer) returns the first order.
	IdempotencyKey string
}

// NewItem is one line of a NewOrder.
type NewItem struct {
	VariantID string
	Quantity  int64
}

// Validate checks the request's shape (ids, quantities, shipping) and
// returns it normalised; every invalid field is reported at once, named like
// the JSON of the HTTP contract ("items[1].quantity").
func (in NewOrder) Validate() (NewOrder, error) {
	var v errs.Validator
	out := NewOrder{
		StreamID:       strings.TrimSpace(in.StreamID),
		PinID:          strings.TrimSpace(in.PinID),
		IdempotencyKey: in.IdempotencyKey,
	}
	v.Check(id.Valid("str", out.StreamID), "stream_id", "must be a stream id")
	v.Check(out.PinID == "" || id.Valid("pin", out.PinID), "pin_id", "must be a pin id")
	v.Check(len(in.IdempotencyKey) <= MaxIdempotencyKey, "idempotency_key", "must be at most %d bytes", MaxIdempotencyKey)
	if v.Check(len(in.Items) >= 1 && len(in.Items) <= MaxItems, "items", "must have 1 to %d items", MaxItems) {
		out.Items = make([]NewItem, len(in.Items))
		seen := make(map[string]int, len(in.Items))
		for i, it := range in.Items {
			f := fmt.Sprintf("items[%d].", i)
			it.VariantID = strings.TrimSpace(it.VariantID)
			if v.Check(id.Valid("var", it.VariantID), f+"variant_id", "must be a variant id") {
				if j, dup := seen[it.VariantID]; dup {
					v.Check(false, f+"variant_id", "repeats items[%d]: give one line per variant with its quantity", j)
				}
				seen[it.VariantID] = i
			}
			v.Check(it.Quantity >= 1 && it.Quantity <= MaxQuantity, f+"quantity", "must be 1 to %d", MaxQuantity)
			out.Items[i] = it
		}
	}
	var err error
	out.Shipping, err = in.Shipping.normalize()
	v.Add("shipping.", err)
	if err := v.Err(); err != nil {
		return NewOrder{}, err
	}
	return out, nil
}

// normalize trims the address and checks it: every field present, within its
// length, printable text; the country an ISO 3166-1 alpha-2 code.
func (s Shipping) normalize() (Shipping, error) {
	var v errs.Validator
	text := func(field, val string, max int) string {
		val = strings.TrimSpace(val)
		v.Check(val != "" && utf8.ValidString(val) && utf8.RuneCountInString(val) <= max &&
			strings.IndexFunc(val, unicode.IsControl) < 0, field, "must be 1 to %d characters of text", max)
		return val
	}
	out := Shipping{
		Name:       text("name", s.Name, MaxNameLen),
		Line1:      text("line1", s.Line1, MaxLine1Len),
		City:       text("city", s.City, MaxCityLen),
		PostalCode: text("postal_code", s.PostalCode, MaxPostalCodeLen),
		Country:    strings.ToUpper(strings.TrimSpace(s.Country)),
	}
	v.Check(strings.IndexFunc(out.PostalCode, func(r rune) bool {
		return !(r == ' ' || r == '-' || ('0' <= r && r <= '9') || ('A' <= r && r <= 'Z') || ('a' <= r && r <= 'z'))
	}) < 0, "postal_code", "must be letters, digits, spaces and hyphens")
	v.Check(ValidCountry(out.Country), "country", "must be an ISO 3166-1 alpha-2 country code such as DE or JP")
	return out, v.Err()
}

// countries lists the ISO 3166-1 alpha-2 codes (249 officially assigned).
const countries = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT " +
	"MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ " +
	"UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"

// ValidCountry reports whether c is an assigned ISO 3166-1 alpha-2 code.
func ValidCountry(c string) bool {
	if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
		return false
	}
	return strings.Contains(countries, c)
}

// Pending reports whether the order still waits for payment.
func (o Order) Pending() bool { return o.Status == StatusPendingPayment }

// refundedOrPending returns the refunds of brandID (all brands when empty)
// that succeeded or are still pending, in minor units.
func (o Order) refundedOrPending(brandID string) int64 {
	var n int64
	for _, r := range o.Refunds {
		if r.Status == RefundFailed {
			continue
		}
		for _, l := range r.Lines {
			if brandID == "" || l.BrandID == brandID {
				n += l.Amount
			}
		}
	}
	return n
}

// withoutUnsentRefunds returns o without its pending refunds the provider
// never acknowledged (no provider refund id): as far as the provider knows,
// those may not exist.
func (o Order) withoutUnsentRefunds() Order {
	kept := make([]Refund, 0, len(o.Refunds))
	for _, r := range o.Refunds {
		if r.Status != RefundPending || r.ProviderRefundID != "" {
			kept = append(kept, r)
		}
	}
	o.Refunds = kept
	return o
}

// Refundable returns what may still be refunded: what was paid less the
// refunds that succeeded or are pending.
func (o Order) Refundable() int64 { return max(o.Paid.Amount-o.refundedOrPending(""), 0) }

// brandShare returns the subtotal of brandID's items.
func (o Order) brandShare(brandID string) int64 {
	var n int64
	for _, it := range o.Items {
		if it.BrandID == brandID {
			n += it.Subtotal().Amount
		}
	}
	return n
}

// BrandRefundable returns what brandID may still refund: its items' total
// less its refunds, never more than the order's Refundable.
func (o Order) BrandRefundable(brandID string) int64 {
	return max(min(o.brandShare(brandID)-o.refundedOrPending(brandID), o.Refundable()), 0)
}

// HasBrand reports whether any item of the order is brandID's.
func (o Order) HasBrand(brandID string) bool {
	for _, it := range o.Items {
		if it.BrandID == brandID {
			return true
		}
	}
	return false
}

// allocate splits amount over the brands of the order in the order their
// items appear, each up to what it may still refund; the brands' shares sum
// to the total, so an amount up to Refundable always allocates fully. A
// zero or negative amount gives no lines.
func (o Order) allocate(amount int64) []RefundLine {
	var lines []RefundLine
	seen := map[string]bool{}
	for _, it := range o.Items {
		if amount <= 0 {
			break
		}
		if seen[it.BrandID] {
			continue
		}
		seen[it.BrandID] = true
		if n := min(o.BrandRefundable(it.BrandID), amount); n > 0 {
			lines = append(lines, RefundLine{BrandID: it.BrandID, Amount: n})
			amount -= n
		}
	}
	if amount > 0 && len(o.Items) > 0 {
		// Paid more than the items' total (never with daihuo's own intents):
		// the rest goes to the first brand, the one named account.
		if len(lines) > 0 && lines[0].BrandID == o.Items[0].BrandID {
			lines[0].Amount += amount
		} else {
			lines = append([]RefundLine{{BrandID: o.Items[0].BrandID, Amount: amount}}, lines...)
		}
	}
	return lines
}

// settleStatus sets the status of a paid order from its amounts: refunded
// when everything paid went back, partially_refunded when some did, paid
// otherwise. Orders that were never paid keep their status. An order
// closed unpaid before its payment came (CloseReason set) was never sold:
// its stock went back, so until the late payment is refunded in full it
// stays cancelled or expired, never paid.
func (o *Order) settleStatus() {
	switch {
	case o.Paid.Amount <= 0:
	case o.Refunded.Amount >= o.Paid.Amount:
		o.Status = StatusRefunded
	case o.CloseReason == ReasonExpired:
		o.Status = StatusExpired
	case o.CloseReason != "":
		o.Status = StatusCancelled
	case o.Refunded.Amount > 0:
		o.Status = StatusPartiallyRefunded
	case o.Status == StatusPartiallyRefunded || o.Status == StatusRefunded:
		o.Status = StatusPaid // a refund that succeeded failed after all
	}
}

// ViewFor returns the order as p may see it, and whether p may see it at
// all: its shopper and admins see everything (only the shopper sees the
// client secret); a brand with items in it sees only its own items, Total as
// their sum, Paid and Refunded as its share and only its refund lines —
// another brand's lines and prices are not its business — along with the
// shipping address, which it needs to ship.
func (o Order) ViewFor(p party.Principal) (Order, bool) {
	switch {
	case p.IsShopper(o.ShopperID):
		return o, true
	case p.IsAdmin():
		o.Payment.ClientSecret = ""
		return o, true
	case p.Role == party.RoleBrand && o.HasBrand(p.PartyID):
	default:
		return Order{}, false
	}
	b := p.PartyID
	v := o
	v.Payment.ClientSecret = ""
	v.Items = nil
	for _, it := range o.Items {
		if it.BrandID == b {
			v.Items = append(v.Items, it)
		}
	}
	share := o.brandShare(b)
	v.Total = money.Money{Amount: share, Currency: o.Total.Currency}
	v.Paid = money.Money{Amount: min(share, o.Paid.Amount), Currency: o.Paid.Currency}
	v.Refunds = nil
	var refunded int64
	for _, r := range o.Refunds {
		for _, l := range r.Lines {
			if l.BrandID != b {
				continue
			}
			r.Amount = money.Money{Amount: l.Amount, Currency: r.Amount.Currency}
			r.Lines = []RefundLine{l}
			v.Refunds = append(v.Refunds, r)
			if r.Status == RefundSucceeded {
				refunded += l.Amount
			}
		}
	}
	v.Refunded = money.Money{Amount: refunded, Currency: o.Refunded.Currency}
	return v, true
}
