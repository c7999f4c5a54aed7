package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/order"
)

// placeOrderRequest is the body of POST /v1/orders. It has no price, unit
// price or total on purpose: prices come from the server, and a client
// that sends one gets 400 on the unknown field. A null pin_id is the same
// as an absent one.
type placeOrderRequest struct {
	StreamID string             `json:"stream_id"`
	PinID    string             `json:"pin_id"`
	Items    []orderItemRequest `json:"items"`
	Shipping shippingBody       `json:"shipping"`
}

// orderItemRequest is one line of a placeOrderRequest.
type orderItemRequest struct {
	VariantID string `json:"variant_id"`
	Quantity  int64  `json:"quantity"`
}

// shippingBody is where the goods go, in requests and replies.
type shippingBody struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

func (r placeOrderRequest) toDomain(key string) order.NewOrder {
	in := order.NewOrder{
		StreamID: r.StreamID,
		PinID:    r.PinID,
		Shipping: order.Shipping{
			Name: r.Shipping.Name, Line1: r.Shipping.Line1, City: r.Shipping.City,
			PostalCode: r.Shipping.PostalCode, Country: r.Shipping.Country,
		},
		IdempotencyKey: key,
	}
	if r.Items != nil {
		in.Items = make([]order.NewItem, len(r.Items))
		for i, it := range r.Items {
			in.Items[i] = order.NewItem{VariantID: it.VariantID, Quantity: it.Quantity}
		}
	}
	return in
}

// orderItemBody is one line of an order as the api shows it.
type orderItemBody struct {
	VariantID string    `json:"variant_id"`
	ProductID string    `json:"product_id"`
	BrandID   string    `json:"brand_id"`
	Quantity  int64     `json:"quantity"`
	UnitPrice moneyBody `json:"unit_price"`
	Subtotal  moneyBody `json:"subtotal"`
	Flash     bool      `json:"flash"`
}

// paymentBody is an order's payment intent. client_secret is shown to the
// order's shopper only (null for anyone else); failure is the last declined
// attempt, null when none.
type paymentBody struct {
	Provider     string              `json:"provider"`
	IntentID     string              `json:"intent_id"`
	ClientSecret *string             `json:"client_secret"`
	Failure      *paymentFailureBody `json:"failure"`
}

// paymentFailureBody is why the last attempt to pay was declined.
type paymentFailureBody struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// refundBody is one refund of an order.
type refundBody struct {
	ID        string    `json:"id"`
	Amount    moneyBody `json:"amount"`
	Status    string    `json:"status"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
}

// orderBody is an order as the api shows it to its shopper, a brand with
// items in it (its own items, its share of the amounts) or an admin; see
// order.Order.ViewFor.
type orderBody struct {
	ID          string          `json:"id"`
	ShopperID   string          `json:"shopper_id"`
	StreamID    string          `json:"stream_id"`
	PinID       *string         `json:"pin_id"`
	CreatorID   string          `json:"creator_id"`
	Status      string          `json:"status"`
	Items       []orderItemBody `json:"items"`
	Total       moneyBody       `json:"total"`
	Paid        moneyBody       `json:"paid"`
	Refunded    moneyBody       `json:"refunded"`
	Refunds     []refundBody    `json:"refunds"`
	Shipping    shippingBody    `json:"shipping"`
	Payment     paymentBody     `json:"payment"`
	CloseReason *string         `json:"close_reason"`
	ExpiresAt   time.Time       `json:"expires_at"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	PaidAt      *time.Time      `json:"paid_at"`
	ClosedAt    *time.Time      `json:"closed_at"`
}

// moneyOr returns m, or zero of currency when m has none (an amount never set).
func moneyOr(m money.Money, currency string) moneyBody {
	if m.Currency == "" {
		return moneyBody{Currency: currency}
	}
	return moneyFrom(m)
}

func orderFrom(o order.Order) orderBody {
	cur := o.Total.Currency
	b := orderBody{
		ID:          o.ID,
		ShopperID:   o.ShopperID,
		StreamID:    o.StreamID,
		PinID:       optional(o.PinID),
		CreatorID:   o.CreatorID,
		Status:      string(o.Status),
		Items:       make([]orderItemBody, len(o.Items)),
		Total:       moneyFrom(o.Total),
		Paid:        moneyOr(o.Paid, cur),
		Refunded:    moneyOr(o.Refunded, cur),
		Refunds:     make([]refundBody, len(o.Refunds)),
		Shipping:    shippingBody{Name: o.Shipping.Name, Line1: o.Shipping.Line1, City: o.Shipping.City, PostalCode: o.Shipping.PostalCode, Country: o.Shipping.Country},
		Payment:     paymentBody{Provider: o.Payment.Provider, IntentID: o.Payment.IntentID, ClientSecret: optional(o.Payment.ClientSecret)},
		CloseReason: optional(o.CloseReason),
		ExpiresAt:   o.ExpiresAt,
		CreatedAt:   o.CreatedAt,
		UpdatedAt:   o.UpdatedAt,
		PaidAt:      o.PaidAt,
		ClosedAt:    o.ClosedAt,
	}
	if o.Payment.FailureCode != "" || o.Payment.FailureReason != "" {
		b.Payment.Failure = &paymentFailureBody{Code: o.Payment.FailureCode, Reason: o.Payment.FailureReason}
	}
	for i, it := range o.Items {
		b.Items[i] = orderItemBody{
			VariantID: it.VariantID, ProductID: it.ProductID, BrandID: it.BrandID, Quantity: it.Quantity,
			UnitPrice: moneyFrom(it.UnitPrice), Subtotal: moneyFrom(it.Subtotal()), Flash: it.Flash,
		}
	}
	for i, r := range o.Refunds {
		b.Refunds[i] = refundBody{ID: r.ID, Amount: moneyFrom(r.Amount), Status: string(r.Status), Reason: r.Reason, CreatedAt: r.CreatedAt}
	}
	return b
}

// placeOrder answers POST /v1/orders (behind idempotent): a pending order
// of the calling shopper, priced by the server, its stock reserved and its
// payment intent open; 409 sold_out or limit_exceeded when the stock or
// the flash sale cannot serve it.
func (s *server) placeOrder(c *gin.Context) error {
	req, ok := c.Value(decodedOrderKey).(placeOrderRequest)
	if !ok {
		if err := bindJSON(c, &req); err != nil {
			return err
		}
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	o, err := s.orders.PlaceOrder(c.Request.Context(), principal(c), req.toDomain(key))
	if err != nil {
		return err
	}
	return created(c, "/v1/orders/"+o.ID, orderFrom(o))
}

// decodedOrderKey is the gin context key of the order body the shortcut
// decoded.
const decodedOrderKey = "daihuo.order-request"

// placeOrderShortcut refuses at once, before its idempotency key is
// claimed, an order the service knows it would refuse without looking
// (order.Service.KnownSoldOut: a flash pin seen sold out moments ago). A
// body that does not parse goes the usual way, which names what is wrong.
func (s *server) placeOrderShortcut(c *gin.Context, body []byte) error {
	if s.orders == nil || requireJSON(c.Request.Header.Get("Content-Type")) != nil {
		return nil
	}
	var req placeOrderRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil
	}
	c.Set(decodedOrderKey, req) // placeOrder need not decode it again
	key, err := idempotencyKey(c)
	if err != nil {
		return nil
	}
	return s.orders.KnownSoldOut(principal(c), req.toDomain(key))
}

// getOrder answers GET /v1/orders/{id}: to its shopper, a brand with items
// in it and admins, each seeing what is theirs to see.
func (s *server) getOrder(c *gin.Context) error {
	orderID, err := pathID(c, "id", order.PrefixOrder)
	if err != nil {
		return err
	}
	o, err := s.orders.GetOrder(c.Request.Context(), principal(c), orderID)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, orderFrom(o))
}

// listOrders answers GET /v1/orders: a shopper's own orders, those with a
// brand's items, or all for an admin, newest first.
func (s *server) listOrders(c *gin.Context) error {
	pg, err := pageQuery(c)
	if err != nil {
		return err
	}
	q, err := orderQuery(c)
	if err != nil {
		return err
	}
	res, err := s.orders.ListOrders(c.Request.Context(), principal(c), pg, q)
	if err != nil {
		return err
	}
	items := make([]orderBody, len(res.Items))
	for i, o := range res.Items {
		items[i] = orderFrom(o)
	}
	return replyList(c, items, res.NextCursor)
}

// orderQuery reads the filters of GET /v1/orders: status, stream_id and the
// RFC 3339 times from (inclusive) and to (exclusive), each at most once.
// What they say is checked by order.Query.Validate.
func orderQuery(c *gin.Context) (order.Query, error) {
	params := c.Request.URL.Query()
	var q order.Query
	var v errs.Validator
	one := func(name string) string {
		s, _ := queryParam(params, &v, name)
		return s
	}
	at := func(name string) time.Time {
		s := one(name)
		if s == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		v.Check(err == nil, name, "must be an RFC 3339 time such as 2026-11-27T18:00:00Z")
		return t.UTC()
	}
	q.Status = order.Status(one("status"))
	q.StreamID = one("stream_id")
	q.From, q.To = at("from"), at("to")
	if err := v.Err(); err != nil {
		return order.Query{}, err
	}
	return q, nil
}

// cancelOrder answers POST /v1/orders/{id}/cancel: the calling shopper's
// order, while it waits for payment; its stock goes back at once.
func (s *server) cancelOrder(c *gin.Context) error {
	orderID, err := pathID(c, "id", order.PrefixOrder)
	if err != nil {
		return err
	}
	o, err := s.orders.Cancel(c.Request.Context(), principal(c), orderID)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, orderFrom(o))
}

// refundRequest is the body of POST /v1/orders/{id}/refund; no body, {} or
// a null amount refund everything the caller may refund.
type refundRequest struct {
	Amount *moneyBody `json:"amount"`
}

// refundOrder answers POST /v1/orders/{id}/refund (behind idempotent): a
// brand refunds its own items of a paid order, an admin anything left;
// never more than was paid. It answers the order as the caller sees it.
func (s *server) refundOrder(c *gin.Context) error {
	orderID, err := pathID(c, "id", order.PrefixOrder)
	if err != nil {
		return err
	}
	var req refundRequest
	if err := bindOptionalJSON(c, &req); err != nil {
		return err
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	var amount *money.Money
	if req.Amount != nil {
		m := req.Amount.toDomain()
		amount = &m
	}
	o, err := s.orders.Refund(c.Request.Context(), principal(c), orderID, amount, key)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, orderFrom(o))
}
