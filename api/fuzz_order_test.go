package api

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/party"
)

// FuzzPlaceOrder sends arbitrary bytes as the body of POST /v1/orders, with
// an Idempotency-Key fresh for every input (the second fuzzed string, when
// not empty, is part of it), as a real shopper on a real database, and
// checks that the server never answers 5xx; that every 4xx is a well-formed
// problem that changes nothing (orders, variant stock, the flash pin's
// remaining and the shopper's units of it, reservations not released); and
// that a 201 is a valid Order priced by the server in the stream's currency
// that added exactly one order and took exactly its units. The answer must
// also be the one a reference model of the contract predicts from the body
// and the stock (201, or the problem code). A placed order is cancelled at
// once, and its stock must all come back, so stock does not run out across
// inputs.
//
// Ids differ from one process (and one fuzz worker) to the next, so the
// corpus names the world's things by placeholders ({stream}, {var0}, {pin},
// …; see orderFuzzWorld) that each process replaces with its own ids
// before sending the body; {deep} and {many} stand for long texts, so
// inputs stay small and quick to minimise.
func FuzzPlaceOrder(f *testing.F) {
	for _, seed := range orderFuzzSeeds() {
		f.Add([]byte(seed.body), seed.key)
	}
	z := newOrderFuzzWorld(f)
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		z.place(t, body, key)
	})
}

// orderFuzzSeed is one input of FuzzPlaceOrder's seed corpus.
type orderFuzzSeed struct {
	body, key string
}

// orderFuzzSeeds are valid orders (one variant, a flash order, a mixed
// one, another stream's) and the ways a body can be wrong.
func orderFuzzSeeds() []orderFuzzSeed {
	const ship = `"shipping":{"name":"Mia Chen","line1":"12 Rue de Rivoli","city":"Paris","postal_code":"75001","country":"fr"}`
	// one is an order of the given items on {stream}, with extra top-level members.
	one := func(items string, extra ...string) string {
		return `{"stream_id":"{stream}",` + strings.Join(append(extra, ""), ",") + `"items":[` + items + `],` + ship + `}`
	}
	item := func(variant string, qty string) string {
		return `{"variant_id":"` + variant + `","quantity":` + qty + `}`
	}
	valid := one(item("{var0}", "1"))
	bodies := []string{
		valid,
		one(item("{var0}", "2"), `"pin_id":"{pin}"`),                        // flash
		one(item("{var1}", "1")+","+item("{tea}", "2"), `"pin_id":"{pin}"`), // flash and catalog lines
		one(item("{var0}", "1"), `"pin_id":"{teapin}"`),                     // a pin without a flash sale
		one(item("{var0}", "1"), `"pin_id":null`),
		one(item("{var0}", "31"), `"pin_id":"{pin}"`),                        // over the per-buyer limit
		one(item("{var1}", "6"), `"pin_id":"{pin}"`),                         // more than the variant holds
		one(item("{var0}", "1")+","+item("{teaL}", "4"), `"pin_id":"{pin}"`), // flash taken, then sold out
		one(item("{var0}", "100")),
		one(item("{teaL}", "3")),
		// Prices are the server's.
		one(`{"variant_id":"{var0}","quantity":1,"price":{"amount":1,"currency":"EUR"}}`),
		one(`{"variant_id":"{var0}","quantity":1,"unit_price":{"amount":1,"currency":"EUR"}}`),
		one(item("{var0}", "1"), `"total":{"amount":1,"currency":"EUR"}`),
		// Quantities.
		one(item("{var0}", "-1")), one(item("{var0}", "0")), one(item("{var0}", "101")),
		one(item("{var0}", "9223372036854775808")), one(item("{var0}", "1e2")), one(item("{var0}", "1.5")),
		one(item("{var0}", "1.0")), one(item("{var0}", `"2"`)), one(item("{var0}", "null")), one(item("{var0}", "-0")),
		// Variants and streams that do not fit.
		one(item("{offline}", "1")), one(item("{varB}", "1")), one(item("{product}", "1")),
		one(item("{var0}", "1"), `"pin_id":"{pinB}"`),
		strings.Replace(valid, "{stream}", "{streamB}", 1),
		strings.Replace(one(item("{varB}", "1")), "{stream}", "{streamB}", 1),
		strings.Replace(valid, "{stream}", "{idle}", 1),
		// Malformed ids.
		strings.Replace(valid, "{stream}", "str_", 1), strings.Replace(valid, "{stream}", `  {stream}\t`, 1),
		strings.Replace(valid, "{stream}", "STR_{stream}", 1), strings.Replace(valid, "{stream}", "", 1),
		one(item("var_", "1")), one(item("var_00000000000000000000000000", "1")), one(item(" {var0} ", "1")),
		one(item("{var0}", "1"), `"pin_id":"pin_x"`), one(item("{var0}", "1"), `"pin_id":"{stream}"`),
		// Duplicate variants, too many items, no items.
		one(item("{var0}", "1") + "," + item("{var0}", "2")),
		one("{many}"), one("{many}," + item("{var0}", "1")), one(""),
		// Nulls.
		`{"stream_id":null,"items":null,"shipping":null,"pin_id":null}`,
		one("null"), strings.Replace(valid, ship, `"shipping":null`, 1), `null`,
		// NUL characters, non-UTF-8, control characters.
		strings.Replace(valid, "Mia Chen", `Mia\u0000Chen`, 1), strings.Replace(valid, "{stream}", `{stream}\u0000`, 1),
		strings.Replace(valid, "Mia Chen", "Mia \xff\xfe", 1), strings.Replace(valid, "Mia Chen", `Mia\nChen`, 1),
		strings.Replace(valid, "Mia Chen", "\xc0\x80", 1),
		// Halves of UTF-16 pairs alone, and a whole pair.
		strings.Replace(valid, "Mia Chen", `Mia\ud800Chen`, 1), strings.Replace(valid, "Mia Chen", `Mia\udc00\ud800`, 1),
		strings.Replace(valid, "Mia Chen", `Mia \ud83d\ude00`, 1), strings.Replace(valid, "Mia Chen", `Mia\\ud800`, 1),
		// A key twice, with the same or another value.
		strings.Replace(valid, `"shipping":`, `"pin_id":null,"pin_id":null,"shipping":`, 1),
		strings.Replace(valid, `"city":`, `"city":"Lyon","city":`, 1),
		// Not one JSON object.
		``, ` `, `[]`, `[` + valid + `]`, `{}`, `"str"`, `42`, valid + ` x`, valid + `{}`, valid[:len(valid)/2],
		`{deep}`, `{"items":[{"variant_id":{deep}}]}`, `{"stream_id":` + strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat("}", 100) + `}`,
		// Keys as encoding/json would match them, but the contract does not.
		strings.Replace(valid, `"stream_id"`, `"STREAM_ID"`, 1),
		strings.Replace(valid, `"stream_id":"{stream}"`, `"stream_id":5,"stream_id":"{stream}"`, 1),
		strings.Replace(valid, `"stream_id":"{stream}"`, `"stream_id":"x","stream_id":"{stream}"`, 1),
		strings.Replace(valid, `"country":"fr"`, `"country":"fr","Country":"de"`, 1),
		strings.Replace(valid, `"country":"fr"`, `"country":"zz"`, 1),
		strings.Replace(valid, `"postal_code":"75001"`, `"postal_code":"75_001"`, 1),
	}
	seeds := make([]orderFuzzSeed, 0, len(bodies)+6)
	for _, b := range bodies {
		seeds = append(seeds, orderFuzzSeed{body: b})
	}
	for _, key := range []string{"retry-1", "has space", "\x7f", "é", "\r\nX-Evil: 1", strings.Repeat("k", 300)} {
		seeds = append(seeds, orderFuzzSeed{body: valid, key: key})
	}
	return seeds
}

// orderFuzzWorld is the world of FuzzPlaceOrder: tenant A's live stream has
// two products in its line-up (the scarf, whose first variant has 100 units
// and second 5, and a tea of 200 and 3), a flash pin of the scarf (60 units
// at €29, 30 per buyer) and a plain pin of the tea; A also has a product in
// no line-up and a stream not started; B's live stream sells B's scarf and
// has a plain pin of it. The shopper is tenant A's. The corpus names them
// {stream}, {idle}, {streamB}; {var0}, {var1} (the scarf's), {tea}, {teaL},
// {offline}, {varB}, {product} (the scarf, not a variant); {pin} (the flash
// sale), {teapin}, {pinB}.
type orderFuzzWorld struct {
	w        *world
	token    string
	shopper  party.Principal
	flashPin string
	ids      *strings.Replacer // placeholders to ids
	streams  map[string]orderFuzzStream
	pins     map[string]orderFuzzPin
	variants map[string]catalog.Variant
}

// orderFuzzDeep is how deep {deep} nests arrays: deeper than encoding/json
// goes (10 000).
const orderFuzzDeep = 10_001

// orderFuzzMany is what {many} stands for: 101 items, more than an order
// may have, of well-formed variant ids of no variant.
func orderFuzzMany() string {
	items := make([]string, 101)
	for i := range items {
		items[i] = fmt.Sprintf(`{"variant_id":"var_%026d","quantity":1}`, i)
	}
	return strings.Join(items, ",")
}

// orderFuzzStream is what the reference model knows of a stream.
type orderFuzzStream struct {
	live      bool
	currency  string
	creatorID string
	lineup    map[string]bool // product ids
}

// orderFuzzPin is what the reference model knows of a pin.
type orderFuzzPin struct {
	streamID, productID string
	flash               *live.Flash
}

// newOrderFuzzWorld builds the world of FuzzPlaceOrder.
func newOrderFuzzWorld(t testing.TB) *orderFuzzWorld {
	t.Helper()
	ctx := context.Background()
	w := newWorld(t)
	a, b := w.a(), w.b()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("build the order fuzz world: %v", err)
		}
	}
	brandA := party.Principal{Role: party.RoleBrand, PartyID: a.brand.ID}
	hostA := party.Principal{Role: party.RoleCreator, PartyID: a.creator.ID}
	hostB := party.Principal{Role: party.RoleCreator, PartyID: b.creator.ID}
	w.addStock(t, 0, a.product.Variants[0].ID, 90)
	tea, err := w.catalog.CreateProduct(ctx, brandA, catalog.NewProduct{Title: "Tea", Variants: []catalog.NewVariant{
		{SKU: "TEA-S", Title: "Small tin", Price: money.Money{Amount: 1250, Currency: "EUR"}, Stock: 200},
		{SKU: "TEA-L", Title: "Large tin", Price: money.Money{Amount: 2250, Currency: "EUR"}, Stock: 3},
	}})
	must(err)
	_, err = w.live.AddToLineup(ctx, brandA, a.stream.ID, tea.ID, 1500)
	must(err)
	offline, err := w.catalog.CreateProduct(ctx, brandA, catalog.NewProduct{Title: "Cup", Variants: []catalog.NewVariant{
		{SKU: "CUP", Title: "Cup", Price: money.Money{Amount: 900, Currency: "EUR"}, Stock: 10},
	}})
	must(err)
	idle := w.newStream(t, 0, false)
	flash, err := w.live.PinProduct(ctx, brandA, a.stream.ID, live.NewPin{ProductID: a.product.ID, Flash: &live.NewFlash{
		Price: money.Money{Amount: 2900, Currency: "EUR"}, Quantity: 60, PerBuyerLimit: 30,
		EndsAt: time.Now().UTC().Add(live.MaxFlashDuration - time.Hour),
	}})
	must(err)
	teaPin, err := w.live.PinProduct(ctx, hostA, a.stream.ID, live.NewPin{ProductID: tea.ID})
	must(err)
	pinB, err := w.live.PinProduct(ctx, hostB, b.stream.ID, live.NewPin{ProductID: b.product.ID})
	must(err)

	z := &orderFuzzWorld{
		w:        w,
		token:    w.token(party.RoleShopper, 0),
		shopper:  party.Principal{Role: party.RoleShopper, PartyID: a.shopper.ID},
		flashPin: flash.ID,
		ids: strings.NewReplacer(
			"{stream}", a.stream.ID, "{streamB}", b.stream.ID, "{idle}", idle.ID,
			"{var0}", a.product.Variants[0].ID, "{var1}", a.product.Variants[1].ID,
			"{tea}", tea.Variants[0].ID, "{teaL}", tea.Variants[1].ID,
			"{offline}", offline.Variants[0].ID, "{varB}", b.product.Variants[0].ID, "{product}", a.product.ID,
			"{pin}", flash.ID, "{teapin}", teaPin.ID, "{pinB}", pinB.ID,
			"{deep}", strings.Repeat("[", orderFuzzDeep), "{many}", orderFuzzMany(),
		),
		streams: map[string]orderFuzzStream{
			a.stream.ID: {live: true, currency: "EUR", creatorID: a.creator.ID, lineup: map[string]bool{a.product.ID: true, tea.ID: true}},
			idle.ID:     {live: false, currency: "EUR", creatorID: a.creator.ID, lineup: map[string]bool{a.product.ID: true}},
			b.stream.ID: {live: true, currency: "EUR", creatorID: b.creator.ID, lineup: map[string]bool{b.product.ID: true}},
		},
		pins: map[string]orderFuzzPin{
			flash.ID:  {streamID: a.stream.ID, productID: a.product.ID, flash: flash.Flash},
			teaPin.ID: {streamID: a.stream.ID, productID: tea.ID},
			pinB.ID:   {streamID: b.stream.ID, productID: b.product.ID},
		},
		variants: map[string]catalog.Variant{},
	}
	for _, p := range []catalog.Product{a.product, b.product, tea, offline} {
		for _, v := range p.Variants {
			z.variants[v.ID] = v
		}
	}
	return z
}

// orderFuzzState is what a refused order must leave as it was, read from
// the database.
type orderFuzzState struct {
	Orders    int64 // orders
	Stock     int64 // units of all variants
	Remaining int64 // the flash pin's
	Bought    int64 // the shopper's units of the flash pin
	Held      int64 // reservations not released
	variants  map[string]int64
}

// state reads the state from the database.
func (z *orderFuzzWorld) state(t testing.TB) orderFuzzState {
	t.Helper()
	var row struct {
		Orders, Stock, Remaining, Bought, Held int64
		Variants                               string // a JSON object of stock by variant id
	}
	err := z.w.db.Raw(`SELECT
			(SELECT count(*) FROM orders) AS orders,
			(SELECT coalesce(sum(stock_available), 0) FROM variants) AS stock,
			(SELECT flash_remaining FROM pins WHERE id = @pin) AS remaining,
			(SELECT coalesce(sum(units), 0) FROM flash_buyer_units WHERE pin_id = @pin AND shopper_id = @shopper) AS bought,
			(SELECT count(*) FROM stock_reservations WHERE status <> 'released') AS held,
			(SELECT json_object_agg(id, stock_available) FROM variants)::text AS variants`,
		sql.Named("pin", z.flashPin), sql.Named("shopper", z.shopper.PartyID)).Scan(&row).Error
	if err != nil {
		t.Fatalf("read the state: %v", err)
	}
	s := orderFuzzState{Orders: row.Orders, Stock: row.Stock, Remaining: row.Remaining, Bought: row.Bought, Held: row.Held}
	if err := json.Unmarshal([]byte(row.Variants), &s.variants); err != nil {
		t.Fatalf("read the stock: %v", err)
	}
	return s
}

// same describes how s differs from o, or returns "".
func (s orderFuzzState) same(o orderFuzzState) string {
	type counts struct{ Orders, Stock, Remaining, Bought, Held int64 }
	a := counts{s.Orders, s.Stock, s.Remaining, s.Bought, s.Held}
	b := counts{o.Orders, o.Stock, o.Remaining, o.Bought, o.Held}
	if a != b || !maps.Equal(s.variants, o.variants) {
		return fmt.Sprintf("%+v (variants %v), was %+v (variants %v)", a, s.variants, b, o.variants)
	}
	return ""
}

// placeOutcome is what the reference model expects of an order: a problem
// code, or "" for 201 with these lines.
type placeOutcome struct {
	code  errs.Code
	why   string
	in    order.NewOrder // normalised, on 201
	lines []order.Item   // priced, on 201
	flash int64          // flash units, on 201
}

// place sends one input and checks its answer.
func (z *orderFuzzWorld) place(t *testing.T, raw []byte, fuzzKey string) {
	body := []byte(z.ids.Replace(string(raw)))
	key := z.w.unique("fuzz-")
	if fuzzKey != "" {
		key = z.w.unique("") + ":" + fuzzKey // fresh, whatever the fuzzer says
	}
	before := z.state(t)
	want := z.expect(body, key, before)

	req := httptest.NewRequest(http.MethodPost, "/v1/orders", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+z.token)
	req.Header.Set(idempotencyHeader, key)
	rec := httptest.NewRecorder()
	z.w.handler.ServeHTTP(rec, req)

	switch status := rec.Code; {
	case status == http.StatusCreated:
		if want.code != "" {
			t.Fatalf("body %q, key %q: placed an order, want %s (%s)\nreply: %s", body, key, want.code, want.why, rec.Body)
		}
		z.checkPlaced(t, body, rec, want, before)
	case status >= 400 && status < 500:
		p, err := checkProblemReply(z.w.doc, rec)
		if err != nil {
			t.Fatalf("body %q, key %q: %d is not a valid problem: %v\n%s", body, key, status, err, rec.Body)
		}
		if diff := z.state(t).same(before); diff != "" {
			t.Fatalf("body %q, key %q: %d %s changed the state: %s", body, key, status, p.Code, diff)
		}
		switch {
		case want.code == "":
			t.Fatalf("body %q, key %q: refused a valid order with %d %s: %s %+v", body, key, status, p.Code, p.Detail, p.Errors)
		case p.Code != string(want.code):
			t.Fatalf("body %q, key %q: %d %s (%s %+v), want %s (%s)", body, key, status, p.Code, p.Detail, p.Errors, want.code, want.why)
		}
	default:
		t.Fatalf("body %q, key %q: answered %d: %s", body, key, status, rec.Body)
	}
}

// checkPlaced checks a 201: the reply, the state it left, and that
// cancelling the order gives everything back.
func (z *orderFuzzWorld) checkPlaced(t *testing.T, body []byte, rec *httptest.ResponseRecorder, want placeOutcome, before orderFuzzState) {
	t.Helper()
	var o orderReply
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("body %q: 201 body: %v\n%s", body, err, rec.Body)
	}
	if err := checkAgainstSchema(z.w.doc, "Order", rec.Body.Bytes()); err != nil {
		t.Fatalf("body %q: 201 body breaks the Order schema: %v\n%s", body, err, rec.Body)
	}
	if diff := z.samePlaced(o, rec, want); diff != "" {
		t.Fatalf("body %q placed the wrong order: %s\nreply: %s", body, diff, rec.Body)
	}
	var units int64
	for _, it := range want.lines {
		units += it.Quantity
	}
	after := z.state(t)
	wantAfter := before
	wantAfter.Orders++
	wantAfter.Stock -= units
	wantAfter.Remaining -= want.flash
	wantAfter.Bought += want.flash
	wantAfter.Held += int64(len(want.lines))
	wantAfter.variants = maps.Clone(before.variants)
	for _, it := range want.lines {
		wantAfter.variants[it.VariantID] -= it.Quantity
	}
	if diff := after.same(wantAfter); diff != "" {
		t.Fatalf("body %q: after order %s: %s", body, o.ID, diff)
	}

	cancelled, err := z.w.orders.Cancel(context.Background(), z.shopper, o.ID)
	if err != nil || cancelled.Status != order.StatusCancelled {
		t.Fatalf("cancel order %s: %v, status %s", o.ID, err, cancelled.Status)
	}
	wantAfter = before
	wantAfter.Orders++ // the cancelled order stays
	if diff := z.state(t).same(wantAfter); diff != "" {
		t.Fatalf("body %q: after cancelling order %s: %s", body, o.ID, diff)
	}
}

// samePlaced describes how the placed order o differs from want, or
// returns "".
func (z *orderFuzzWorld) samePlaced(o orderReply, rec *httptest.ResponseRecorder, want placeOutcome) string {
	st := z.streams[want.in.StreamID]
	cur := st.currency
	var pin *string
	if want.in.PinID != "" {
		pin = &want.in.PinID
	}
	switch {
	case rec.Header().Get("Location") != "/v1/orders/"+o.ID:
		return "Location " + rec.Header().Get("Location")
	case rec.Header().Get(replayedHeader) != "":
		return "replayed"
	case o.ShopperID != z.shopper.PartyID || o.StreamID != want.in.StreamID || o.CreatorID != st.creatorID:
		return "shopper, stream or creator"
	case (o.PinID == nil) != (pin == nil) || (pin != nil && *o.PinID != *pin):
		return "pin"
	case o.Status != string(order.StatusPendingPayment) || o.ClosedAt != nil || o.PaidAt != nil || o.CloseReason != nil:
		return "status " + o.Status
	case o.Paid != (moneyReply{0, cur}) || o.Refunded != (moneyReply{0, cur}) || len(o.Refunds) != 0:
		return "paid or refunded"
	case o.Payment.IntentID == "" || o.Payment.ClientSecret == nil || o.Payment.Failure != nil:
		return "payment"
	case len(o.Items) != len(want.lines):
		return fmt.Sprintf("%d items, want %d", len(o.Items), len(want.lines))
	}
	var total int64
	for i, it := range o.Items {
		w := want.lines[i]
		wantItem := orderItemReply{
			VariantID: w.VariantID, ProductID: w.ProductID, BrandID: w.BrandID, Quantity: w.Quantity,
			UnitPrice: moneyReply{w.UnitPrice.Amount, w.UnitPrice.Currency},
			Subtotal:  moneyReply{w.UnitPrice.Amount * w.Quantity, w.UnitPrice.Currency}, Flash: w.Flash,
		}
		if it != wantItem {
			return fmt.Sprintf("item %d is %+v, want %+v", i, it, wantItem)
		}
		if it.UnitPrice.Currency != cur {
			return fmt.Sprintf("item %d in %s, the stream sells in %s", i, it.UnitPrice.Currency, cur)
		}
		total += it.UnitPrice.Amount * it.Quantity
	}
	if o.Total != (moneyReply{total, cur}) {
		return fmt.Sprintf("total %+v, the items make %d %s", o.Total, total, cur)
	}
	return ""
}

// expect is the reference model of POST /v1/orders, written from the
// contract independently of the handler: what the answer to body under key
// must be, given the state s.
func (z *orderFuzzWorld) expect(body []byte, key string, s orderFuzzState) placeOutcome {
	invalid := func(why string) placeOutcome { return placeOutcome{code: errs.CodeValidation, why: why} }
	keyOK := len(key) >= 1 && len(key) <= 255
	for i := 0; keyOK && i < len(key); i++ {
		keyOK = key[i] > ' ' && key[i] < 0x7f
	}
	switch {
	case !keyOK:
		return invalid("idempotency key")
	case len(body) > maxBodyBytes:
		return placeOutcome{code: errs.CodePayloadTooLarge, why: "body"}
	case !utf8.Valid(body):
		return invalid("not UTF-8")
	}
	var req struct {
		StreamID string `json:"stream_id"`
		PinID    string `json:"pin_id"`
		Items    []struct {
			VariantID string `json:"variant_id"`
			Quantity  int64  `json:"quantity"`
		} `json:"items"`
		Shipping struct {
			Name       string `json:"name"`
			Line1      string `json:"line1"`
			City       string `json:"city"`
			PostalCode string `json:"postal_code"`
			Country    string `json:"country"`
		} `json:"shipping"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return invalid("decode: " + err.Error())
	}
	if len(bytes.TrimSpace(body[dec.InputOffset():])) != 0 {
		return invalid("trailing data")
	}
	if why := exactOrderKeys(body); why != "" {
		return invalid(why)
	}
	in := order.NewOrder{StreamID: req.StreamID, PinID: req.PinID, IdempotencyKey: key, Shipping: order.Shipping{
		Name: req.Shipping.Name, Line1: req.Shipping.Line1, City: req.Shipping.City,
		PostalCode: req.Shipping.PostalCode, Country: req.Shipping.Country,
	}}
	if req.Items != nil {
		in.Items = []order.NewItem{}
	}
	for _, it := range req.Items {
		in.Items = append(in.Items, order.NewItem{VariantID: it.VariantID, Quantity: it.Quantity})
	}
	in, err := in.Validate()
	if err != nil {
		return invalid("validate: " + err.Error())
	}

	st, ok := z.streams[in.StreamID]
	if !ok {
		return invalid("no such stream")
	}
	if !st.live {
		return placeOutcome{code: errs.CodeInvalidState, why: "stream not live"}
	}
	var flash *live.Flash
	var pinProduct string
	if in.PinID != "" {
		pin, ok := z.pins[in.PinID]
		if !ok || pin.streamID != in.StreamID {
			return invalid("no such pin in the stream")
		}
		flash, pinProduct = pin.flash, pin.productID
		if flash != nil && s.Remaining <= 0 {
			return placeOutcome{code: errs.CodeSoldOut, why: "flash sold out"}
		}
	}
	out := placeOutcome{in: in}
	for _, it := range in.Items {
		v, ok := z.variants[it.VariantID]
		if !ok || !st.lineup[v.ProductID] {
			return invalid("variant not in the line-up")
		}
		line := order.Item{VariantID: v.ID, ProductID: v.ProductID, BrandID: v.BrandID, Quantity: it.Quantity, UnitPrice: v.Price}
		if flash != nil && v.ProductID == pinProduct {
			line.UnitPrice, line.Flash = flash.Price, true
			out.flash += it.Quantity
		}
		out.lines = append(out.lines, line)
	}
	var total int64
	for _, l := range out.lines {
		if l.UnitPrice.Currency != st.currency {
			return placeOutcome{code: errs.CodeCurrencyMismatch, why: "currency"}
		}
		if total += l.UnitPrice.Amount * l.Quantity; total > money.MaxAmount {
			return invalid("total too large")
		}
	}
	if flash != nil && flash.PerBuyerLimit > 0 && out.flash > flash.PerBuyerLimit {
		return placeOutcome{code: errs.CodeLimitExceeded, why: "over the limit in one order"}
	}
	// Reservations: the flash lines together first (their variants' stock,
	// the sale's units left, the buyer's limit), then each other line.
	if out.flash > 0 {
		for _, l := range out.lines {
			if l.Flash && l.Quantity > s.variants[l.VariantID] {
				return placeOutcome{code: errs.CodeSoldOut, why: "not enough stock of flash variant " + l.VariantID}
			}
		}
		if out.flash > s.Remaining {
			return placeOutcome{code: errs.CodeSoldOut, why: "not enough left of the flash sale"}
		}
		if flash.PerBuyerLimit > 0 && s.Bought+out.flash > flash.PerBuyerLimit {
			return placeOutcome{code: errs.CodeLimitExceeded, why: "over the limit with earlier orders"}
		}
	}
	for _, l := range out.lines {
		if !l.Flash && l.Quantity > s.variants[l.VariantID] {
			return placeOutcome{code: errs.CodeSoldOut, why: "not enough stock of " + l.VariantID}
		}
	}
	return out
}

// exactOrderKeys walks the tokens of a body that decoded into the order
// request and names a member whose key is not spelled exactly as the
// contract says (encoding/json matches keys case-insensitively), a key
// given twice in one object, a string that carries a NUL character, or one
// whose \u escapes hold half of a UTF-16 pair alone; "" when there is
// none. Every occurrence counts, duplicates included.
func exactOrderKeys(body []byte) string {
	type shape map[string]shape // the members an object may have, and theirs
	shipping := shape{"name": nil, "line1": nil, "city": nil, "postal_code": nil, "country": nil}
	item := shape{"variant_id": nil, "quantity": nil}
	top := shape{"stream_id": nil, "pin_id": nil, "items": {"[]": item}, "shipping": shipping}
	dec := json.NewDecoder(bytes.NewReader(body))
	var walk func(s shape) string
	walk = func(s shape) string {
		from := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return err.Error()
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				from := dec.InputOffset()
				k, err := dec.Token()
				if err != nil {
					return err.Error()
				}
				if lonelyHalf(body[from:dec.InputOffset()]) {
					return "half a surrogate pair in a key"
				}
				key, _ := k.(string)
				sub, known := s[key]
				if !known {
					return "unknown member " + strconv.Quote(key)
				}
				if seen[key] {
					return "member " + strconv.Quote(key) + " twice"
				}
				seen[key] = true
				if why := walk(sub); why != "" {
					return why
				}
			}
		case json.Delim('['):
			for dec.More() {
				if why := walk(s["[]"]); why != "" {
					return why
				}
			}
		default:
			if str, ok := tok.(string); ok && strings.ContainsRune(str, 0) {
				return "NUL in a string"
			}
			if _, ok := tok.(string); ok && lonelyHalf(body[from:dec.InputOffset()]) {
				return "half a surrogate pair in a string"
			}
			return ""
		}
		_, err = dec.Token() // the closing delimiter
		if err != nil {
			return err.Error()
		}
		return ""
	}
	if tok, err := json.NewDecoder(bytes.NewReader(body)).Token(); err != nil || tok != json.Delim('{') {
		return "not an object"
	}
	if why := walk(top); why != "" {
		return why
	}
	return ""
}

// lonelyHalf reports whether the raw JSON text of one string token (with
// what precedes it) has a \u escape of a UTF-16 surrogate that does not
// pair with the escape next to it.
func lonelyHalf(raw []byte) bool {
	var units []uint16 // the escaped code units, 0 between runs
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			continue
		}
		if raw[i+1] != 'u' || i+6 > len(raw) {
			units = append(units, 0)
			i++
			continue
		}
		n, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
		if err != nil {
			return false
		}
		units = append(units, uint16(n))
		i += 5
		if i+1 < len(raw) && raw[i+1] != '\\' {
			units = append(units, 0) // a literal character breaks the pair
		}
	}
	for i := 0; i < len(units); i++ {
		r := rune(units[i])
		if !utf16.IsSurrogate(r) {
			continue
		}
		if i+1 < len(units) && utf16.DecodeRune(r, rune(units[i+1])) != unicode.ReplacementChar {
			i++
			continue
		}
		return true
	}
	return false
}
