package api

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/daihuo/daihuo/api/apitest"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/payments/local"
	"github.com/daihuo/daihuo/payments/stripe"
	"github.com/daihuo/daihuo/storage"
)

// Order replies as clients decode them, rejecting unknown fields.
type (
	orderItemReply struct {
		VariantID string     `json:"variant_id"`
		ProductID string     `json:"product_id"`
		BrandID   string     `json:"brand_id"`
		Quantity  int64      `json:"quantity"`
		UnitPrice moneyReply `json:"unit_price"`
		Subtotal  moneyReply `json:"subtotal"`
		Flash     bool       `json:"flash"`
	}
	shippingReply struct {
		Name       string `json:"name"`
		Line1      string `json:"line1"`
		City       string `json:"city"`
		PostalCode string `json:"postal_code"`
		Country    string `json:"country"`
	}
	orderReply struct {
		ID        string           `json:"id"`
		ShopperID string           `json:"shopper_id"`
		StreamID  string           `json:"stream_id"`
		PinID     *string          `json:"pin_id"`
		CreatorID string           `json:"creator_id"`
		Status    string           `json:"status"`
		Items     []orderItemReply `json:"items"`
		Total     moneyReply       `json:"total"`
		Paid      moneyReply       `json:"paid"`
		Refunded  moneyReply       `json:"refunded"`
		Refunds   []struct {
			ID        string     `json:"id"`
			Amount    moneyReply `json:"amount"`
			Status    string     `json:"status"`
			Reason    string     `json:"reason"`
			CreatedAt time.Time  `json:"created_at"`
		} `json:"refunds"`
		Shipping shippingReply `json:"shipping"`
		Payment  struct {
			Provider     string  `json:"provider"`
			IntentID     string  `json:"intent_id"`
			ClientSecret *string `json:"client_secret"`
			Failure      *struct {
				Code   string `json:"code"`
				Reason string `json:"reason"`
			} `json:"failure"`
		} `json:"payment"`
		CloseReason *string    `json:"close_reason"`
		ExpiresAt   time.Time  `json:"expires_at"`
		CreatedAt   time.Time  `json:"created_at"`
		UpdatedAt   time.Time  `json:"updated_at"`
		PaidAt      *time.Time `json:"paid_at"`
		ClosedAt    *time.Time `json:"closed_at"`
	}
	orderList struct {
		Data       []orderReply `json:"data"`
		NextCursor *string      `json:"next_cursor"`
	}
	confirmReply struct {
		IntentID string `json:"intent_id"`
		Status   string `json:"status"`
	}
)

// orderRequest is the body of POST /v1/orders for qty units of one variant,
// from pin when it is not empty.
func orderRequest(streamID, pin, variantID string, qty int64) map[string]any {
	body := map[string]any{
		"stream_id": streamID,
		"items":     []any{map[string]any{"variant_id": variantID, "quantity": qty}},
		"shipping": map[string]any{
			"name": "Mia Chen", "line1": "12 Rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "fr",
		},
	}
	if pin != "" {
		body["pin_id"] = pin
	}
	return body
}

// withKey is a request with an Idempotency-Key.
func withKey(t testing.TB, method, path, token, key string, body any) *http.Request {
	t.Helper()
	req := apitest.NewRequest(t, method, path, token, body)
	req.Header.Set(idempotencyHeader, key)
	return req
}

// getOrder reads an order as token sees it.
func getOrder(t *testing.T, c *apitest.Client, token, orderID string) orderReply {
	t.Helper()
	var o orderReply
	c.Call(http.MethodGet, "/v1/orders/"+orderID, token, nil).Want(200).JSON(&o)
	return o
}

// variantStock reads a variant's stock from the database.
func (w *world) variantStock(t *testing.T, variantID string) int64 {
	t.Helper()
	var n int64
	if err := w.db.Raw(`SELECT stock_available FROM variants WHERE id = ?`, variantID).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// count runs a SELECT count(*) … query.
func (w *world) count(t *testing.T, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := w.db.Raw(query, args...).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// stripeEvent is the JSON of a Stripe event of type typ about object, as
// Stripe posts it to a webhook endpoint.
func stripeEvent(t testing.TB, eventID, typ string, object any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id": eventID, "object": "event", "api_version": stripego.APIVersion, "created": time.Now().Unix(),
		"data": map[string]any{"object": object}, "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil}, "type": typ,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stripeSignature signs payload with secret at the given time, as Stripe does.
func stripeSignature(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}

// signedFor gives a webhook call its JSON content type and a signature of
// its body with secret, made now.
func signedFor(secret string) func(*world, any) map[string]string {
	return func(_ *world, body any) map[string]string {
		payload, _ := body.([]byte)
		return map[string]string{"Content-Type": "application/json", stripeSignatureHeader: stripeSignature(payload, secret, time.Now())}
	}
}

// TestOrderFlow buys, pays (a declined card first), refunds in two steps
// and reads an order over HTTP, with the same key replayed and reused.
func TestOrderFlow(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	a := w.a()
	shopper, brand := w.token(party.RoleShopper, 0), w.token(party.RoleBrand, 0)
	small, large := a.product.Variants[0], a.product.Variants[1]
	body := map[string]any{
		"stream_id": a.stream.ID,
		"items": []any{
			map[string]any{"variant_id": small.ID, "quantity": 2},
			map[string]any{"variant_id": large.ID, "quantity": 1},
		},
		"shipping": map[string]any{"name": " Mia Chen ", "line1": "12 Rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "fr"},
	}

	// Place: priced by the server, stock reserved, the intent open.
	res := c.Do(withKey(t, http.MethodPost, "/v1/orders", shopper, "order-1", body)).Want(201)
	var o orderReply
	res.JSON(&o)
	wantLocation(t, res, "/v1/orders/"+o.ID)
	if res.Header.Get(replayedHeader) != "" {
		t.Errorf("a first answer marked replayed")
	}
	want := []orderItemReply{
		{VariantID: small.ID, ProductID: a.product.ID, BrandID: a.brand.ID, Quantity: 2, UnitPrice: moneyReply{4900, "EUR"}, Subtotal: moneyReply{9800, "EUR"}},
		{VariantID: large.ID, ProductID: a.product.ID, BrandID: a.brand.ID, Quantity: 1, UnitPrice: moneyReply{5900, "EUR"}, Subtotal: moneyReply{5900, "EUR"}},
	}
	if !strings.HasPrefix(o.ID, "ord_") || o.ShopperID != a.shopper.ID || o.StreamID != a.stream.ID || o.PinID != nil ||
		o.CreatorID != a.creator.ID || o.Status != "pending_payment" || !slices.Equal(o.Items, want) ||
		o.Total != (moneyReply{15700, "EUR"}) || o.Paid != (moneyReply{0, "EUR"}) || o.Refunded != (moneyReply{0, "EUR"}) ||
		o.Shipping != (shippingReply{"Mia Chen", "12 Rue de Rivoli", "Paris", "75001", "FR"}) ||
		o.Payment.Provider != "local" || o.Payment.ClientSecret == nil || o.Payment.Failure != nil ||
		o.ExpiresAt.Sub(o.CreatedAt) != 10*time.Minute || o.PaidAt != nil || o.ClosedAt != nil || o.CloseReason != nil {
		t.Errorf("placed %+v", o)
	}
	if s, l := w.variantStock(t, small.ID), w.variantStock(t, large.ID); s != 8 || l != 4 {
		t.Errorf("stock %d/%d after the order, want 8/4", s, l)
	}

	// The same key and body replay the answer: no second order, no stock.
	res = c.Do(withKey(t, http.MethodPost, "/v1/orders", shopper, "order-1", body)).Want(201)
	var again orderReply
	res.JSON(&again)
	wantLocation(t, res, "/v1/orders/"+o.ID)
	if again.ID != o.ID || res.Header.Get(replayedHeader) != "true" || res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("replay: %s %v", again.ID, res.Header)
	}
	if n := w.count(t, `SELECT count(*) FROM orders WHERE shopper_id = ?`, a.shopper.ID); n != 1 {
		t.Errorf("%d orders after the replay", n)
	}
	if s := w.variantStock(t, small.ID); s != 8 {
		t.Errorf("stock %d after the replay", s)
	}
	// The same key with another body is a conflict; another shopper's key is its own.
	other := maps.Clone(body)
	other["items"] = []any{map[string]any{"variant_id": small.ID, "quantity": 1}}
	wantCode(t, c.Do(withKey(t, http.MethodPost, "/v1/orders", shopper, "order-1", other)).Want(409), "idempotency_conflict", "")
	var theirs orderReply
	res = c.Do(withKey(t, http.MethodPost, "/v1/orders", w.token(party.RoleShopper, 1), "order-1", body)).Want(201)
	res.JSON(&theirs)
	if theirs.ID == o.ID || theirs.ShopperID != w.b().shopper.ID || res.Header.Get(replayedHeader) != "" {
		t.Errorf("another shopper's order under the same key: %+v", theirs)
	}

	// Who sees what: the brand and an admin never see the client secret.
	for _, tok := range []string{brand, w.admin} {
		if v := getOrder(t, c, tok, o.ID); v.Payment.ClientSecret != nil || v.Total != o.Total || v.Shipping != o.Shipping {
			t.Errorf("order as %s: %+v", tok, v)
		}
	}
	secret := *o.Payment.ClientSecret
	confirm := "/v1/payments/local/" + o.Payment.IntentID + "/confirm"

	// A declined card: 402 with the reason, the order still payable.
	p := c.Call(http.MethodPost, confirm, "", map[string]any{"client_secret": secret, "card_number": local.CardDeclined}).Want(402).Problem()
	if p.Code != "payment_declined" || !strings.Contains(p.Detail, "declined") {
		t.Errorf("decline %+v", p)
	}
	if v := getOrder(t, c, shopper, o.ID); v.Status != "pending_payment" || v.Payment.Failure == nil || v.Payment.Failure.Code != "generic_decline" {
		t.Errorf("after the decline %+v", v)
	}
	// Another card pays; the order is paid when the answer comes.
	var cr confirmReply
	c.Call(http.MethodPost, confirm, "", map[string]any{"client_secret": secret, "card_number": "4242 4242 4242 4242"}).Want(200).JSON(&cr)
	if cr != (confirmReply{IntentID: o.Payment.IntentID, Status: "succeeded"}) {
		t.Errorf("confirm %+v", cr)
	}
	paid := getOrder(t, c, shopper, o.ID)
	if paid.Status != "paid" || paid.Paid != o.Total || paid.PaidAt == nil || paid.Payment.Failure != nil {
		t.Errorf("paid %+v", paid)
	}
	wantCode(t, c.Call(http.MethodPost, confirm, "", map[string]any{"client_secret": secret, "card_number": local.CardSucceeds}).Want(409), "invalid_state", "")
	wantCode(t, c.Call(http.MethodPost, "/v1/orders/"+o.ID+"/cancel", shopper, nil).Want(409), "invalid_state", "")

	// The brand refunds part, replayed by key; an admin refunds the rest.
	refund := "/v1/orders/" + o.ID + "/refund"
	part := map[string]any{"amount": map[string]any{"amount": 4900, "currency": "EUR"}}
	var r1 orderReply
	c.Do(withKey(t, http.MethodPost, refund, brand, "refund-1", part)).Want(200).JSON(&r1)
	if r1.Status != "partially_refunded" || r1.Refunded != (moneyReply{4900, "EUR"}) || len(r1.Refunds) != 1 ||
		r1.Refunds[0].Status != "succeeded" || r1.Refunds[0].Reason != "requested" || r1.Refunds[0].Amount != (moneyReply{4900, "EUR"}) {
		t.Errorf("partial refund %+v", r1)
	}
	res = c.Do(withKey(t, http.MethodPost, refund, brand, "refund-1", part)).Want(200)
	var r1again orderReply
	res.JSON(&r1again)
	if res.Header.Get(replayedHeader) != "true" || r1again.Refunded != r1.Refunded || len(r1again.Refunds) != 1 {
		t.Errorf("replayed refund %+v", r1again)
	}
	// The same key on another order is another request: 409.
	wantCode(t, c.Do(withKey(t, http.MethodPost, "/v1/orders/"+theirs.ID+"/refund", brand, "refund-1", part)).Want(409), "idempotency_conflict", "")
	var r2 orderReply
	c.Do(withKey(t, http.MethodPost, refund, w.admin, "refund-2", nil)).Want(200).JSON(&r2)
	if r2.Status != "refunded" || r2.Refunded != o.Total || len(r2.Refunds) != 2 || r2.Refunds[1].Amount != (moneyReply{10800, "EUR"}) {
		t.Errorf("full refund %+v", r2)
	}
	wantCode(t, c.Do(withKey(t, http.MethodPost, refund, w.admin, "refund-3", map[string]any{})).Want(409), "invalid_state", "")
	if got := getOrder(t, c, shopper, o.ID); got.Status != "refunded" || got.Refunded != o.Total {
		t.Errorf("read back %+v", got)
	}

	// Every change left through the outbox with the order.
	wantTypes := []string{order.EventCreated, order.EventPaid, order.EventRefunded, order.EventRefunded}
	if got := w.outboxTypes(t, o.ID); !slices.Equal(got, wantTypes) {
		t.Errorf("outbox %v, want %v", got, wantTypes)
	}

	// Lists: the shopper its own, the brand both (its items), newest first.
	var mine orderList
	c.Call(http.MethodGet, "/v1/orders", shopper, nil).Want(200).JSON(&mine)
	if len(mine.Data) != 1 || mine.Data[0].ID != o.ID || mine.Data[0].Payment.ClientSecret == nil || mine.NextCursor != nil {
		t.Errorf("shopper's list %+v", mine)
	}
	var page1, page2 orderList
	c.Call(http.MethodGet, "/v1/orders?limit=1", brand, nil).Want(200).JSON(&page1)
	if len(page1.Data) != 1 || page1.Data[0].ID != theirs.ID || page1.NextCursor == nil {
		t.Fatalf("brand's first page %+v", page1)
	}
	c.Call(http.MethodGet, "/v1/orders?limit=1&cursor="+*page1.NextCursor, brand, nil).Want(200).JSON(&page2)
	if len(page2.Data) != 1 || page2.Data[0].ID != o.ID || page2.Data[0].Payment.ClientSecret != nil {
		t.Errorf("brand's second page %+v", page2)
	}
	// Filters: by status, by stream, by when the order was placed.
	theirs = getOrder(t, c, w.token(party.RoleShopper, 1), theirs.ID)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"status=refunded", []string{o.ID}},
		{"status=" + theirs.Status, []string{theirs.ID}},
		{"status=cancelled", nil},
		{"stream_id=" + o.StreamID, []string{theirs.ID, o.ID}},
		{"stream_id=" + w.b().stream.ID, nil},
		{"from=" + url.QueryEscape(o.CreatedAt.Format(time.RFC3339Nano)) + "&to=" + url.QueryEscape(theirs.CreatedAt.Format(time.RFC3339Nano)), []string{o.ID}},
		{"from=" + url.QueryEscape(theirs.CreatedAt.Format(time.RFC3339Nano)), []string{theirs.ID}},
	} {
		var got orderList
		c.Call(http.MethodGet, "/v1/orders?"+tc.query, brand, nil).Want(200).JSON(&got)
		var ids []string
		for _, d := range got.Data {
			ids = append(ids, d.ID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("brand's orders ?%s = %v, want %v", tc.query, ids, tc.want)
		}
	}
	var none orderList
	c.Call(http.MethodGet, "/v1/orders", w.token(party.RoleBrand, 1), nil).Want(200).JSON(&none)
	if len(none.Data) != 0 {
		t.Errorf("brand B sees %d orders", len(none.Data))
	}
}

// TestOrderBrandView: a brand sees its own items of an order with two
// brands' items, and only its share of the amounts.
func TestOrderBrandView(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	a, b := w.a(), w.b()
	// Brand B's product joins A's stream, so one order holds both brands' items.
	if _, err := w.live.AddToLineup(context.Background(), party.Principal{Role: party.RoleBrand, PartyID: b.brand.ID}, a.stream.ID, b.product.ID, 500); err != nil {
		t.Fatal(err)
	}
	body := orderRequest(a.stream.ID, "", a.product.Variants[0].ID, 1)
	body["items"] = append(body["items"].([]any), map[string]any{"variant_id": b.product.Variants[1].ID, "quantity": 2})
	var o orderReply
	c.Do(withKey(t, http.MethodPost, "/v1/orders", w.token(party.RoleShopper, 0), "two-brands", body)).Want(201).JSON(&o)
	if o.Total != (moneyReply{4900 + 2*5900, "EUR"}) || len(o.Items) != 2 {
		t.Fatalf("order %+v", o)
	}
	for i, tn := range []*tenant{a, b} {
		v := getOrder(t, c, w.token(party.RoleBrand, i), o.ID)
		if len(v.Items) != 1 || v.Items[0].BrandID != tn.brand.ID || v.Total != v.Items[0].Subtotal || v.Shipping.Name != "Mia Chen" {
			t.Errorf("brand %d sees %+v", i, v)
		}
	}
	if v := getOrder(t, c, w.admin, o.ID); len(v.Items) != 2 || v.Total != o.Total {
		t.Errorf("admin sees %+v", v)
	}
}

// TestCancelOrder gives the stock back at once and closes the intent.
func TestCancelOrder(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	a := w.a()
	shopper := w.token(party.RoleShopper, 0)
	v := a.product.Variants[1].ID
	var o orderReply
	c.Do(withKey(t, http.MethodPost, "/v1/orders", shopper, "cancel-me", orderRequest(a.stream.ID, "", v, 3))).Want(201).JSON(&o)
	if s := w.variantStock(t, v); s != 2 {
		t.Fatalf("stock %d after ordering 3 of 5", s)
	}
	var got orderReply
	c.Call(http.MethodPost, "/v1/orders/"+o.ID+"/cancel", shopper, nil).Want(200).JSON(&got)
	if got.Status != "cancelled" || got.CloseReason == nil || *got.CloseReason != "cancelled" || got.ClosedAt == nil {
		t.Errorf("cancelled %+v", got)
	}
	if s := w.variantStock(t, v); s != 5 {
		t.Errorf("stock %d after the cancel, want 5", s)
	}
	wantCode(t, c.Call(http.MethodPost, "/v1/orders/"+o.ID+"/cancel", shopper, nil).Want(409), "invalid_state", "")
	// The intent is closed: paying it now is refused.
	wantCode(t, c.Call(http.MethodPost, "/v1/payments/local/"+o.Payment.IntentID+"/confirm", "",
		map[string]any{"client_secret": *o.Payment.ClientSecret, "card_number": local.CardSucceeds}).Want(409), "invalid_state", "")
	if got := w.outboxTypes(t, o.ID); !slices.Equal(got, []string{order.EventCreated, order.EventCancelled}) {
		t.Errorf("outbox %v", got)
	}
	// Nothing to refund on a cancelled order.
	wantCode(t, c.Do(withKey(t, http.MethodPost, "/v1/orders/"+o.ID+"/refund", w.admin, "r", nil)).Want(409), "invalid_state", "")
}

// TestFlashSaleOverHTTP: a flash pin of 5 units, 2 per buyer, and 12
// concurrent orders from 6 shoppers sell exactly 5 units; the others are
// sold out or over the limit.
func TestFlashSaleOverHTTP(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	a := w.a()
	pin := w.newFlashPin(t, 0, a.stream, 5, 2)
	v := a.product.Variants[0].ID
	stockBefore := w.variantStock(t, v)

	// More than the per-buyer limit in one order: refused before any stock moves.
	_, tok := w.newShopper(t)
	wantCode(t, c.Do(withKey(t, http.MethodPost, "/v1/orders", tok, "greedy", orderRequest(a.stream.ID, pin.ID, v, 3))).Want(409), "limit_exceeded", "")

	type attempt struct {
		shopper string
		qty     int64
		status  int
		code    string
		order   orderReply
	}
	var attempts []*attempt
	shoppers := map[string]string{}
	for i := range 6 {
		sh, tok := w.newShopper(t)
		shoppers[sh.ID] = tok
		second := int64(1)
		if i == 5 {
			second = 2 // one shopper also asks for 2 more: over its limit whatever happens first
		}
		attempts = append(attempts, &attempt{shopper: sh.ID, qty: 1}, &attempt{shopper: sh.ID, qty: second})
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, at := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req := withKey(t, http.MethodPost, "/v1/orders", shoppers[at.shopper], fmt.Sprintf("flash-%d", i), orderRequest(a.stream.ID, pin.ID, v, at.qty))
			res := c.Do(req)
			at.status = res.Status
			if res.Status == http.StatusCreated {
				_ = json.Unmarshal(res.Body, &at.order)
			} else {
				var p apitest.Problem
				_ = json.Unmarshal(res.Body, &p)
				at.code = p.Code
			}
		}()
	}
	close(start)
	wg.Wait()

	sold, wins := int64(0), 0
	perShopper := map[string]int64{}
	for _, at := range attempts {
		switch {
		case at.status == http.StatusCreated:
			o := at.order
			if len(o.Items) != 1 || !o.Items[0].Flash || o.Items[0].UnitPrice != (moneyReply{2900, "EUR"}) || o.PinID == nil || *o.PinID != pin.ID {
				t.Errorf("flash order %+v", o)
			}
			sold += at.qty
			wins++
			perShopper[at.shopper] += at.qty
		case at.status == http.StatusConflict && (at.code == "sold_out" || at.code == "limit_exceeded"):
		default:
			t.Errorf("attempt of %d: %d %s", at.qty, at.status, at.code)
		}
	}
	if sold != 5 {
		t.Errorf("%d units sold, want exactly 5", sold)
	}
	for sh, n := range perShopper {
		if n > 2 {
			t.Errorf("shopper %s bought %d, over the limit of 2", sh, n)
		}
	}
	if n := w.count(t, `SELECT flash_remaining FROM pins WHERE id = ?`, pin.ID); n != 0 {
		t.Errorf("flash remaining %d", n)
	}
	if n := w.count(t, `SELECT coalesce(sum(quantity), 0) FROM stock_reservations WHERE pin_id = ? AND status <> 'released'`, pin.ID); n != 5 {
		t.Errorf("%d units reserved on the pin", n)
	}
	if n := w.count(t, `SELECT count(*) FROM orders WHERE pin_id = ?`, pin.ID); n != int64(wins) {
		t.Errorf("%d orders recorded for %d answered 201", n, wins)
	}
	if s := w.variantStock(t, v); s < 0 || s > stockBefore {
		t.Errorf("variant stock %d (was %d)", s, stockBefore)
	}
	// Sold out now, for anyone.
	wantCode(t, c.Do(withKey(t, http.MethodPost, "/v1/orders", tok, "late", orderRequest(a.stream.ID, pin.ID, v, 1))).Want(409), "sold_out", "")
}

// TestStripeWebhook posts Stripe-signed webhooks to the route of a process
// that uses Stripe: the real Stripe adapter verifies them, the real
// receiver applies them to the orders.
func TestStripeWebhook(t *testing.T) {
	w := newWorld(t)
	const secret = "whsec_stripe_endpoint_test"
	gw, err := stripe.New(stripe.Config{SecretKey: "sk_test_unused", WebhookSecret: secret, APIURL: "http://127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	deps := w.deps
	deps.Webhooks = order.NewReceiver(gw, w.orders, deps.Logger)
	deps.LocalPayments = (*local.Simulator)(nil) // what main passes with Stripe
	c := apitest.New(t, New(deps), w.doc)

	// An order as placed while the process used Stripe: only its provider
	// differs from the simulator's (its intent stands for Stripe's pi_…).
	o := w.newOrder(t, 0, 2)
	if err := w.db.Exec(`UPDATE orders SET payment_provider = 'stripe' WHERE id = ?`, o.ID).Error; err != nil {
		t.Fatal(err)
	}
	intent := func(id string) map[string]any {
		return map[string]any{
			"id": id, "object": "payment_intent", "amount": o.Total.Amount, "amount_received": o.Total.Amount,
			"currency": "eur", "status": "succeeded", "metadata": map[string]string{"kind": "order", "order_id": o.ID},
		}
	}
	succeeded := stripeEvent(t, "evt_test_succeeded_1", "payment_intent.succeeded", intent(o.Payment.IntentID))
	post := func(payload []byte, sig string, status int) *apitest.Response {
		t.Helper()
		req := apitest.NewRequest(t, http.MethodPost, "/v1/webhooks/stripe", "", payload)
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		if sig != "" {
			req.Header.Set(stripeSignatureHeader, sig)
		}
		return c.Do(req).Want(status)
	}
	shopper := party.Principal{Role: party.RoleShopper, PartyID: o.ShopperID}
	status := func() order.Status {
		t.Helper()
		got, err := w.orders.GetOrder(context.Background(), shopper, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Status
	}

	// Forgeries: 400 on the signature, nothing changes.
	tampered := []byte(strings.Replace(string(succeeded), fmt.Sprint(o.Total.Amount), "1", 1))
	before := w.snapshot(t)
	for _, tt := range []struct {
		name    string
		payload []byte
		sig     string
	}{
		{"tampered body", tampered, stripeSignature(succeeded, secret, time.Now())},
		{"stale timestamp", succeeded, stripeSignature(succeeded, secret, time.Now().Add(-10*time.Minute))},
		{"wrong secret", succeeded, stripeSignature(succeeded, "whsec_someone_else", time.Now())},
		{"the simulator's secret", succeeded, stripeSignature(succeeded, worldWebhookSecret, time.Now())},
		{"garbled signature", succeeded, "t=1,v1=deadbeef"},
		{"no signature", succeeded, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, post(tt.payload, tt.sig, 400), "validation_failed", stripeSignatureHeader)
		})
	}
	if after := w.snapshot(t); !maps.Equal(before, after) {
		t.Errorf("a refused webhook changed the database:\nbefore %v\nafter  %v", before, after)
	}
	if s := status(); s != order.StatusPendingPayment {
		t.Fatalf("status %s after forgeries", s)
	}

	// The real thing, once; its redelivery changes nothing.
	var ack struct {
		Received bool `json:"received"`
	}
	post(succeeded, stripeSignature(succeeded, secret, time.Now()), 200).JSON(&ack)
	if !ack.Received || status() != order.StatusPaid {
		t.Fatalf("ack %v, status %s", ack, status())
	}
	before = w.snapshot(t)
	post(succeeded, stripeSignature(succeeded, secret, time.Now()), 200)
	// An event about an intent no order has, and one daihuo does not use:
	// acknowledged, nothing changes.
	unknown := stripeEvent(t, "evt_test_unknown", "payment_intent.succeeded", intent("pi_3NoSuchIntent"))
	post(unknown, stripeSignature(unknown, secret, time.Now()), 200)
	other := stripeEvent(t, "evt_test_customer", "customer.created", map[string]any{"id": "cus_1", "object": "customer"})
	post(other, stripeSignature(other, secret, time.Now()), 200)
	if after := w.snapshot(t); !maps.Equal(before, after) {
		t.Errorf("a duplicate or foreign webhook changed the database:\nbefore %v\nafter  %v", before, after)
	}
	if got := w.outboxTypes(t, o.ID); !slices.Equal(got, []string{order.EventCreated, order.EventPaid}) {
		t.Errorf("outbox %v", got)
	}
	// Over 1 MiB: 413 before anything is read.
	big := append([]byte(`{"id":"evt_big","pad":"`), make([]byte, maxBodyBytes)...)
	wantCode(t, post(big, "t=1,v1=00", 413), "payload_too_large", "")

	// With Stripe, the simulator's confirm route does not exist.
	wantCode(t, c.Call(http.MethodPost, "/v1/payments/local/"+o.Payment.IntentID+"/confirm", "",
		map[string]any{"client_secret": o.Payment.ClientSecret, "card_number": local.CardSucceeds}).Want(404), "not_found", "")
}

// TestOrderPaymentUnavailable: when the payment provider cannot be reached
// (a Stripe gateway whose API does not answer), placing an order answers
// 503 payment_unavailable, keeps nothing and leaves the key free.
func TestOrderPaymentUnavailable(t *testing.T) {
	w := newWorld(t)
	gw, err := stripe.New(stripe.Config{SecretKey: "sk_test_unused", WebhookSecret: "whsec_unused",
		APIURL: "http://127.0.0.1:9", MaxNetworkRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	reserver := storage.NewReserver(w.db, w.outbox, storage.ReserverConfig{})
	t.Cleanup(reserver.Close)
	deps := w.deps
	deps.Orders = order.NewService(storage.NewOrderStore(w.db, w.outbox), reserver, gw, w.outbox, storage.NewTransactor(w.db),
		func() time.Time { return time.Now().UTC() }, order.Config{})
	c := apitest.New(t, New(deps), w.doc)
	v := w.a().product.Variants[0].ID
	stock := w.variantStock(t, v)
	for range 2 { // the retry runs again: a 503 is not kept
		res := c.Do(withKey(t, http.MethodPost, "/v1/orders", w.token(party.RoleShopper, 0), "unpaid", orderRequest(w.a().stream.ID, "", v, 2))).Want(503)
		wantCode(t, res, "payment_unavailable", "")
		if res.Header.Get(replayedHeader) != "" {
			t.Errorf("a 503 replayed")
		}
	}
	if s := w.variantStock(t, v); s != stock {
		t.Errorf("stock %d, was %d", s, stock)
	}
	if n := w.count(t, `SELECT count(*) FROM orders`) + w.count(t, `SELECT count(*) FROM idempotency_keys`) +
		w.count(t, `SELECT count(*) FROM stock_reservations WHERE status <> 'released'`); n != 0 {
		t.Errorf("%d orders, keys or held reservations kept", n)
	}
}
