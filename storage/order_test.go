package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/domain/payment"
	"github.com/daihuo/daihuo/payments/local"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
)

// testClock is a settable clock safe for concurrent readers.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// webhook is a signed webhook the simulator delivered while captured.
type webhook struct {
	payload []byte
	header  string
}

// orderWorld is the order service on a fresh database: two brands with
// products in a live stream's line-up (and a third brand without), a flash
// pin, shoppers, and the local payment simulator delivering its webhooks to
// the service — or, while capture is on, into captured, to be replayed in
// any order.
type orderWorld struct {
	t                      *testing.T
	db                     *gorm.DB
	clock                  *testClock
	live                   *live.Service
	store                  *storage.OrderStore
	out                    *storage.Outbox
	tx                     *storage.Transactor
	sim                    *local.Simulator
	svc                    *order.Service
	admin                  party.Principal
	brandA, brandB, brandC party.Principal
	creator                party.Principal
	stream                 live.Stream
	prodA, prodB           catalog.Product // in the line-up: A (1999 and 2999 EUR), B (500 EUR)
	prodC                  catalog.Product // brand A's, not in the line-up
	prodF                  catalog.Product // the flash product, 1000 in stock
	flash                  live.Pin        // 100 units at 999 EUR, 2 per buyer
	shoppers               []party.Principal

	capture  atomic.Bool
	mu       sync.Mutex
	captured []webhook
}

const testTTL = 10 * time.Minute

func newOrderWorld(t *testing.T, shoppers int) *orderWorld {
	t.Helper()
	ctx := context.Background()
	db := storagetest.NewDB(t)
	w := &orderWorld{t: t, db: db, clock: &testClock{now: time.Now().UTC().Truncate(time.Second)}, admin: party.Principal{Role: party.RoleAdmin}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	w.tx = storage.NewTransactor(db)
	parties := storage.NewPartyStore(db)
	ps := party.NewService(parties, storage.NewTokenStore(db), w.tx, w.clock.Now)
	w.out = storage.NewOutbox(db, "")
	cat := catalog.NewService(storage.NewCatalogStore(db, w.out), w.clock.Now)
	brand := func(name string) party.Principal {
		b, err := ps.CreateBrand(ctx, w.admin, name)
		must(err)
		return party.Principal{Role: party.RoleBrand, PartyID: b.ID}
	}
	w.brandA, w.brandB, w.brandC = brand("Brand A"), brand("Brand B"), brand("Brand C")
	ag, err := ps.CreateAgency(ctx, w.admin, "Agency")
	must(err)
	cr, err := ps.CreateCreator(ctx, w.admin, party.NewCreator{Handle: "host", DisplayName: "Host", AgencyID: ag.ID})
	must(err)
	w.creator = party.Principal{Role: party.RoleCreator, PartyID: cr.ID}
	product := func(p party.Principal, title string, vs ...catalog.NewVariant) catalog.Product {
		prod, err := cat.CreateProduct(ctx, p, catalog.NewProduct{Title: title, Variants: vs})
		must(err)
		return prod
	}
	eur := func(a int64) money.Money { return money.Money{Amount: a, Currency: "EUR"} }
	w.prodA = product(w.brandA, "Jacket", catalog.NewVariant{SKU: "A-S", Title: "S", Price: eur(1999), Stock: 50},
		catalog.NewVariant{SKU: "A-M", Title: "M", Price: eur(2999), Stock: 5})
	w.prodB = product(w.brandB, "Mug", catalog.NewVariant{SKU: "B-1", Title: "One", Price: eur(500), Stock: 1000})
	w.prodC = product(w.brandA, "Hidden", catalog.NewVariant{SKU: "C-1", Title: "One", Price: eur(100), Stock: 10})
	w.prodF = product(w.brandA, "Flash lipstick", catalog.NewVariant{SKU: "F-1", Title: "Red", Price: eur(2500), Stock: 1000},
		catalog.NewVariant{SKU: "F-2", Title: "Pink", Price: eur(2500), Stock: 1000})

	w.live = live.NewService(storage.NewLiveStore(db), parties, storage.NewCatalogStore(db, w.out), w.out, w.tx, w.clock.Now)
	w.stream, err = w.live.CreateStream(ctx, w.creator, live.NewStream{Title: "Friday drop", Currency: "EUR"})
	must(err)
	for _, it := range []struct {
		p    party.Principal
		prod catalog.Product
		bps  int
	}{{w.brandA, w.prodA, 1500}, {w.brandB, w.prodB, 1000}, {w.brandA, w.prodF, 2000}} {
		_, err := w.live.AddToLineup(ctx, it.p, w.stream.ID, it.prod.ID, it.bps)
		must(err)
	}
	_, err = w.live.StartStream(ctx, w.creator, w.stream.ID)
	must(err)
	w.flash, err = w.live.PinProduct(ctx, w.brandA, w.stream.ID, live.NewPin{ProductID: w.prodF.ID, Flash: &live.NewFlash{
		Price: eur(999), Quantity: 100, PerBuyerLimit: 2, EndsAt: w.clock.Now().Add(time.Hour)}})
	must(err)

	// Shoppers in bulk: one statement.
	for i := 0; i < shoppers; i++ {
		w.shoppers = append(w.shoppers, party.Principal{Role: party.RoleShopper, PartyID: id.New(party.PrefixShopper, w.clock.Now())})
	}
	for _, s := range w.shoppers {
		must(db.Exec(`INSERT INTO shoppers (id, display_name, created_at) VALUES (?, 'Viewer', now())`, s.PartyID).Error)
	}

	w.store = storage.NewOrderStore(db, w.out)
	w.sim, err = local.New(storage.NewPaymentsLocalStore(db), local.Config{
		WebhookSecret: "whsec_test", RetryBase: time.Millisecond, RetryMax: time.Millisecond, Deliver: w.deliver,
	})
	must(err)
	w.svc = w.newService()
	return w
}

// newService returns an order service on the world's database with a
// Reserver of its own, as another process would have.
func (w *orderWorld) newService() *order.Service {
	r := storage.NewReserver(w.db, w.out, storage.ReserverConfig{Now: w.clock.Now})
	w.t.Cleanup(r.Close)
	return order.NewService(w.store, r, w.sim, w.out, w.tx, w.clock.Now, order.Config{ReservationTTL: testTTL})
}

func (w *orderWorld) deliver(ctx context.Context, payload []byte, header string) error {
	if w.capture.Load() {
		w.mu.Lock()
		w.captured = append(w.captured, webhook{payload: payload, header: header})
		w.mu.Unlock()
		return nil
	}
	return w.apply(ctx, webhook{payload, header})
}

// apply hands a webhook to the service as the api's webhook route does.
func (w *orderWorld) apply(ctx context.Context, h webhook) error {
	ev, err := w.sim.ParseWebhook(h.payload, h.header)
	if err != nil {
		return err
	}
	if err := w.svc.ApplyPaymentEvent(ctx, ev); err != nil && !errors.Is(err, order.ErrUnknownIntent) {
		return err
	}
	return nil
}

// takeCaptured returns the captured webhooks and forgets them.
func (w *orderWorld) takeCaptured() []webhook {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.captured
	w.captured = nil
	return out
}

func (w *orderWorld) shipping() order.Shipping {
	return order.Shipping{Name: "Mia Chen", Line1: "Torstraße 1", City: "Berlin", PostalCode: "10119", Country: "DE"}
}

func (w *orderWorld) place(p party.Principal, pinID string, items ...order.NewItem) (order.Order, error) {
	return w.svc.PlaceOrder(context.Background(), p, order.NewOrder{StreamID: w.stream.ID, PinID: pinID, Items: items, Shipping: w.shipping()})
}

func (w *orderWorld) mustPlace(p party.Principal, pinID string, items ...order.NewItem) order.Order {
	w.t.Helper()
	o, err := w.place(p, pinID, items...)
	if err != nil {
		w.t.Fatalf("place order: %v", err)
	}
	return o
}

func (w *orderWorld) pay(o order.Order, card string) error {
	_, err := w.sim.Confirm(context.Background(), o.Payment.IntentID, o.Payment.ClientSecret, card)
	return err
}

func (w *orderWorld) get(orderID string) order.Order {
	w.t.Helper()
	o, err := w.store.GetOrder(context.Background(), orderID)
	if err != nil {
		w.t.Fatal(err)
	}
	return o
}

func (w *orderWorld) stock(variantID string) int64 {
	w.t.Helper()
	var n int64
	if err := w.db.Raw("SELECT stock_available FROM variants WHERE id = ?", variantID).Scan(&n).Error; err != nil {
		w.t.Fatal(err)
	}
	return n
}

func (w *orderWorld) flashRemaining() int64 {
	w.t.Helper()
	var n int64
	if err := w.db.Raw("SELECT flash_remaining FROM pins WHERE id = ?", w.flash.ID).Scan(&n).Error; err != nil {
		w.t.Fatal(err)
	}
	return n
}

// events returns the outbox events of type typ in order.
func (w *orderWorld) events(typ string) []json.RawMessage {
	w.t.Helper()
	var data []string
	if err := w.db.Raw("SELECT data FROM outbox WHERE event_type = ? ORDER BY id", typ).Scan(&data).Error; err != nil {
		w.t.Fatal(err)
	}
	out := make([]json.RawMessage, len(data))
	for i, d := range data {
		out[i] = json.RawMessage(d)
	}
	return out
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var ve *errs.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a validation error on %s", err, field)
	}
	for _, f := range ve.Fields {
		if f.Field == field {
			return
		}
	}
	t.Fatalf("err = %v, want a validation error on %s", err, field)
}

func item(v catalog.Variant, q int64) order.NewItem {
	return order.NewItem{VariantID: v.ID, Quantity: q}
}

func TestPlaceOrderRefusals(t *testing.T) {
	w := newOrderWorld(t, 2)
	ctx := context.Background()
	shopper := w.shoppers[0]
	a, am := w.prodA.Variants[0], w.prodA.Variants[1]

	// A product whose price is no longer in the stream's currency.
	if err := w.db.Exec("UPDATE variants SET price_currency = 'USD' WHERE id = ?", w.prodB.Variants[0].ID).Error; err != nil {
		t.Fatal(err)
	}
	// A scheduled stream, and a flash pin that ends in a minute.
	scheduled, err := w.live.CreateStream(ctx, w.creator, live.NewStream{Title: "Later", Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Add(time.Second)
	shortFlash, err := w.live.PinProduct(ctx, w.brandA, w.stream.ID, live.NewPin{ProductID: w.prodA.ID, Flash: &live.NewFlash{
		Price: money.Money{Amount: 100, Currency: "EUR"}, Quantity: 10, EndsAt: w.clock.Now().Add(time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Add(2 * time.Minute)

	many := make([]order.NewItem, order.MaxItems+1)
	for i := range many {
		many[i] = order.NewItem{VariantID: id.New("var", w.clock.Now()), Quantity: 1}
	}
	good := w.shipping()
	tests := []struct {
		name  string
		p     party.Principal
		in    order.NewOrder
		code  errs.Code
		field string
	}{
		{"brand cannot order", w.brandA, order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{item(a, 1)}, Shipping: good}, errs.CodeForbidden, ""},
		{"no items", shopper, order.NewOrder{StreamID: w.stream.ID, Shipping: good}, errs.CodeValidation, "items"},
		{"too many items", shopper, order.NewOrder{StreamID: w.stream.ID, Items: many, Shipping: good}, errs.CodeValidation, "items"},
		{"zero quantity", shopper, order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{item(a, 0)}, Shipping: good}, errs.CodeValidation, "items[0].quantity"},
		{"negative quantity", shopper, order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{item(a, -3)}, Shipping: good}, errs.CodeValidation, "items[0].quantity"},
		{"huge quantity", shopper, order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{item(a, 1<<40)}, Shipping: good}, errs.CodeValidation, "items[0].quantity"},
		{"garbage variant", shopper, order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{{VariantID: "'; drop", Quantity: 1}}, Shipping: good}, errs.CodeValidation, "items[0].variant_id"},
		{"unknown variant", shopper, order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{{VariantID: id.New("var", w.clock.Now()), Quantity: 1}}, Shipping: good}, errs.CodeValidation, "items[0].variant_id"},
		{"not in the line-up", shopper, order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{item(a, 1), item(w.prodC.Variants[0], 1)}, Shipping: good}, errs.CodeValidation, "items[1].variant_id"},
		{"repeated variant", shopper, order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{item(a, 1), item(a, 2)}, Shipping: good}, errs.CodeValidation, "items[1].variant_id"},
		{"bad country", shopper, order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{item(a, 1)}, Shipping: order.Shipping{Name: "M", Line1: "L", City: "C", PostalCode: "1", Country: "XX"}}, errs.CodeValidation, "shipping.country"},
		{"no name", shopper, order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{item(a, 1)}, Shipping: order.Shipping{Line1: "L", City: "C", PostalCode: "1", Country: "DE"}}, errs.CodeValidation, "shipping.name"},
		{"unknown stream", shopper, order.NewOrder{StreamID: id.New("str", w.clock.Now()), Items: []order.NewItem{item(a, 1)}, Shipping: good}, errs.CodeValidation, "stream_id"},
		{"stream not live", shopper, order.NewOrder{StreamID: scheduled.ID, Items: []order.NewItem{item(a, 1)}, Shipping: good}, errs.CodeInvalidState, ""},
		{"unknown pin", shopper, order.NewOrder{StreamID: w.stream.ID, PinID: id.New("pin", w.clock.Now()), Items: []order.NewItem{item(a, 1)}, Shipping: good}, errs.CodeValidation, "pin_id"},
		{"expired flash pin", shopper, order.NewOrder{StreamID: w.stream.ID, PinID: shortFlash.ID, Items: []order.NewItem{item(a, 1)}, Shipping: good}, errs.CodeInvalidState, ""},
		{"another currency", shopper, order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{item(a, 1), item(w.prodB.Variants[0], 1)}, Shipping: good}, errs.CodeCurrencyMismatch, ""},
		{"over the per-buyer limit", shopper, order.NewOrder{StreamID: w.stream.ID, PinID: w.flash.ID, Items: []order.NewItem{item(w.prodF.Variants[0], 3)}, Shipping: good}, errs.CodeLimitExceeded, ""},
		{"more than in stock", shopper, order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{item(a, 2), item(am, 6)}, Shipping: good}, errs.CodeSoldOut, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.svc.PlaceOrder(ctx, tt.p, tt.in)
			wantCode(t, err, tt.code)
			if tt.field != "" {
				wantField(t, err, tt.field)
			}
		})
	}
	// Nothing was kept by any refusal: the first line of the sold-out order
	// went back when the second failed.
	if got := w.stock(a.ID); got != 50 {
		t.Fatalf("stock of %s = %d after refusals, want 50", a.SKU, got)
	}
	var held int64
	if err := w.db.Raw("SELECT count(*) FROM stock_reservations WHERE status <> 'released'").Scan(&held).Error; err != nil {
		t.Fatal(err)
	}
	if held != 0 {
		t.Fatalf("%d reservations still hold stock after refusals", held)
	}
}

func TestOrderPaidAndRead(t *testing.T) {
	w := newOrderWorld(t, 2)
	ctx := context.Background()
	shopper, other := w.shoppers[0], w.shoppers[1]
	a, b := w.prodA.Variants[0], w.prodB.Variants[0]

	o := w.mustPlace(shopper, w.flash.ID, item(a, 2), item(b, 1), item(w.prodF.Variants[1], 2))
	if o.Status != order.StatusPendingPayment || o.Total != (money.Money{Amount: 2*1999 + 500 + 2*999, Currency: "EUR"}) {
		t.Fatalf("order = %s total %v, want pending total 6496 EUR", o.Status, o.Total)
	}
	if !o.ExpiresAt.Equal(w.clock.Now().Add(testTTL)) || o.Payment.ClientSecret == "" || o.Payment.Provider != "local" {
		t.Fatalf("order expiry %v payment %+v", o.ExpiresAt, o.Payment)
	}
	wantItems := []order.Item{
		{VariantID: a.ID, ProductID: w.prodA.ID, BrandID: w.brandA.PartyID, Quantity: 2, UnitPrice: a.Price, CommissionBPS: 1500},
		{VariantID: b.ID, ProductID: w.prodB.ID, BrandID: w.brandB.PartyID, Quantity: 1, UnitPrice: b.Price, CommissionBPS: 1000},
		{VariantID: w.prodF.Variants[1].ID, ProductID: w.prodF.ID, BrandID: w.brandA.PartyID, Quantity: 2,
			UnitPrice: money.Money{Amount: 999, Currency: "EUR"}, CommissionBPS: 2000, Flash: true},
	}
	got := w.get(o.ID)
	for i := range wantItems {
		if got.Items[i] != wantItems[i] {
			t.Fatalf("item %d = %+v, want %+v", i, got.Items[i], wantItems[i])
		}
	}
	if got.PinID != w.flash.ID || got.CreatorID != w.creator.PartyID || got.Shipping != w.shipping() {
		t.Fatalf("order read back as %+v", got)
	}
	if w.stock(a.ID) != 48 || w.stock(b.ID) != 999 || w.flashRemaining() != 98 || w.stock(w.prodF.Variants[1].ID) != 998 {
		t.Fatal("placing the order did not take its stock")
	}

	// A declined card leaves the order pending with the decline; a good one pays it.
	if err := w.pay(o, local.CardDeclined); err == nil {
		t.Fatal("declined card paid")
	}
	if got := w.get(o.ID); got.Status != order.StatusPendingPayment || got.Payment.FailureCode == "" {
		t.Fatalf("after a decline: %s, failure %q", got.Status, got.Payment.FailureCode)
	}
	if err := w.pay(o, local.CardSucceeds); err != nil {
		t.Fatal(err)
	}
	got = w.get(o.ID)
	if got.Status != order.StatusPaid || got.Paid != o.Total || got.PaidAt == nil || got.Payment.FailureCode != "" {
		t.Fatalf("after payment: %+v", got)
	}
	var statuses []string
	w.db.Raw("SELECT DISTINCT status FROM stock_reservations WHERE order_id = ?", o.ID).Scan(&statuses)
	if len(statuses) != 1 || statuses[0] != "committed" {
		t.Fatalf("reservations of a paid order: %v, want committed", statuses)
	}
	if n := len(w.events(order.EventCreated)); n != 1 {
		t.Fatalf("%d created events", n)
	}
	paid := w.events(order.EventPaid)
	if len(paid) != 1 {
		t.Fatalf("%d paid events", len(paid))
	}
	var pp order.OrderPayload
	if err := json.Unmarshal(paid[0], &pp); err != nil || pp.Paid == nil || *pp.Paid != o.Total || pp.Late || len(pp.Items) != 3 || pp.Items[0].CommissionBPS != 1500 {
		t.Fatalf("paid event %s (%v)", paid[0], err)
	}

	// Reads: the shopper sees all; brand B only its line; an admin all but
	// the client secret; another shopper and an uninvolved brand nothing.
	if v, err := w.svc.GetOrder(ctx, shopper, o.ID); err != nil || v.Payment.ClientSecret == "" || len(v.Items) != 3 {
		t.Fatalf("shopper view: %+v, %v", v, err)
	}
	v, err := w.svc.GetOrder(ctx, w.brandB, o.ID)
	if err != nil || len(v.Items) != 1 || v.Items[0].VariantID != b.ID || v.Total.Amount != 500 || v.Payment.ClientSecret != "" {
		t.Fatalf("brand view: %+v, %v", v, err)
	}
	if v, err := w.svc.GetOrder(ctx, w.admin, o.ID); err != nil || len(v.Items) != 3 || v.Payment.ClientSecret != "" {
		t.Fatalf("admin view: %+v, %v", v, err)
	}
	for _, p := range []party.Principal{other, w.brandC, w.creator, {Role: party.RoleAgency, PartyID: "agy_x"}} {
		_, err := w.svc.GetOrder(ctx, p, o.ID)
		wantCode(t, err, errs.CodeNotFound)
	}

	// Lists, newest first with a cursor.
	w.clock.Add(time.Second)
	o2 := w.mustPlace(shopper, "", item(a, 1))
	page, err := w.svc.ListOrders(ctx, shopper, order.Page{Limit: 1}, order.Query{})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != o2.ID || page.NextCursor == "" {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	page, err = w.svc.ListOrders(ctx, shopper, order.Page{Limit: 1, Cursor: page.NextCursor}, order.Query{})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != o.ID || page.NextCursor != "" {
		t.Fatalf("second page: %+v, %v", page, err)
	}
	if page, err := w.svc.ListOrders(ctx, w.brandB, order.Page{}, order.Query{}); err != nil || len(page.Items) != 1 || len(page.Items[0].Items) != 1 {
		t.Fatalf("brand B list: %+v, %v", page, err)
	}
	if page, err := w.svc.ListOrders(ctx, other, order.Page{}, order.Query{}); err != nil || len(page.Items) != 0 {
		t.Fatalf("other shopper list: %+v, %v", page, err)
	}
	_, err = w.svc.ListOrders(ctx, w.creator, order.Page{}, order.Query{})
	wantCode(t, err, errs.CodeForbidden)
	_, err = w.svc.ListOrders(ctx, shopper, order.Page{Cursor: "nope"}, order.Query{})
	wantCode(t, err, errs.CodeValidation)

	// An idempotency key returns the first order.
	in := order.NewOrder{StreamID: w.stream.ID, Items: []order.NewItem{item(b, 1)}, Shipping: w.shipping(), IdempotencyKey: "k-1"}
	first, err := w.svc.PlaceOrder(ctx, other, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := w.svc.PlaceOrder(ctx, other, in)
	if err != nil || again.ID != first.ID || w.stock(b.ID) != 998 {
		t.Fatalf("retry gave %s (%v), stock %d; want %s, 998", again.ID, err, w.stock(b.ID), first.ID)
	}
}

func TestCancelExpiryAndOrphansGiveStockBack(t *testing.T) {
	w := newOrderWorld(t, 2)
	ctx := context.Background()
	shopper, other := w.shoppers[0], w.shoppers[1]
	a, f := w.prodA.Variants[0], w.prodF.Variants[0]

	o := w.mustPlace(shopper, w.flash.ID, item(a, 3), item(f, 2))
	if w.stock(a.ID) != 47 || w.flashRemaining() != 98 {
		t.Fatal("stock not taken")
	}
	_, err := w.svc.Cancel(ctx, other, o.ID)
	wantCode(t, err, errs.CodeNotFound)
	_, err = w.svc.Cancel(ctx, w.brandA, o.ID)
	wantCode(t, err, errs.CodeForbidden)
	c, err := w.svc.Cancel(ctx, shopper, o.ID)
	if err != nil || c.Status != order.StatusCancelled || c.CloseReason != order.ReasonCancelled {
		t.Fatalf("cancel: %+v, %v", c, err)
	}
	if w.stock(a.ID) != 50 || w.flashRemaining() != 100 || w.stock(f.ID) != 1000 {
		t.Fatal("cancel did not give the stock back")
	}
	if it, err := w.sim.GetIntent(ctx, o.Payment.IntentID); err != nil || it.Status != "canceled" {
		t.Fatalf("intent after cancel: %s, %v", it.Status, err)
	}
	_, err = w.svc.Cancel(ctx, shopper, o.ID)
	wantCode(t, err, errs.CodeInvalidState)
	// The per-buyer count went back too: the shopper may buy 2 again.
	o = w.mustPlace(shopper, w.flash.ID, item(f, 2))

	// Expiry, by a sweep after the TTL.
	if res, err := w.svc.Sweep(ctx); err != nil || res.Expired != 0 {
		t.Fatalf("sweep before the TTL: %+v, %v", res, err)
	}
	w.clock.Add(testTTL)
	res, err := w.svc.Sweep(ctx)
	if err != nil || res.Expired != 1 {
		t.Fatalf("sweep after the TTL: %+v, %v", res, err)
	}
	if got := w.get(o.ID); got.Status != order.StatusExpired || got.CloseReason != order.ReasonExpired || w.flashRemaining() != 100 {
		t.Fatalf("after expiry: %s, remaining %d", got.Status, w.flashRemaining())
	}
	cancelled := w.events(order.EventCancelled)
	var cp order.CancelledPayload
	if len(cancelled) != 2 || json.Unmarshal(cancelled[1], &cp) != nil || cp.Reason != order.ReasonExpired {
		t.Fatalf("cancelled events: %s", cancelled)
	}

	// A reservation whose order never got written (a crash in between)
	// comes back after its expiry and the grace.
	r := storage.NewReserver(w.db, w.out, storage.ReserverConfig{Now: w.clock.Now})
	defer r.Close()
	orphan := order.ReserveRequest{OrderID: id.New("ord", w.clock.Now()), ShopperID: other.PartyID, PinID: w.flash.ID,
		Lines: []order.ReserveLine{{VariantID: f.ID, Quantity: 2}}, ExpiresAt: w.clock.Now().Add(testTTL)}
	if err := r.Reserve(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	if w.flashRemaining() != 98 {
		t.Fatal("orphan reservation took nothing")
	}
	w.clock.Add(testTTL)
	if res, err := w.svc.Sweep(ctx); err != nil || res.Orphans != 0 {
		t.Fatalf("sweep within the grace: %+v, %v", res, err)
	}
	w.clock.Add(2 * time.Minute)
	if res, err := w.svc.Sweep(ctx); err != nil || res.Orphans != 1 {
		t.Fatalf("sweep after the grace: %+v, %v", res, err)
	}
	if w.flashRemaining() != 100 || w.stock(f.ID) != 1000 {
		t.Fatal("orphan reservation not given back")
	}
	var units int64
	w.db.Raw("SELECT coalesce(sum(units), 0) FROM flash_buyer_units WHERE pin_id = ?", w.flash.ID).Scan(&units)
	if units != 0 {
		t.Fatalf("per-buyer units left: %d", units)
	}
}

// TestFlashSaleNeverOversells: 300 buyers race for a flash pin of 100
// units, 2 per buyer, 150 shoppers each sending one order of 1 and one of 2
// units, through one Reserver (one process) or two (two processes).
func TestFlashSaleNeverOversells(t *testing.T) {
	for _, processes := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d processes", processes), func(t *testing.T) {
			w := newOrderWorld(t, 150)
			svcs := []*order.Service{w.svc}
			for len(svcs) < processes {
				svcs = append(svcs, w.newService())
			}
			f := w.prodF.Variants[0]
			type result struct {
				shopper string
				qty     int64
				err     error
			}
			results := make(chan result, 300)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, s := range w.shoppers {
				for _, qty := range []int64{1, 2} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						svc := svcs[(i+int(qty))%len(svcs)]
						_, err := svc.PlaceOrder(context.Background(), s, order.NewOrder{StreamID: w.stream.ID, PinID: w.flash.ID,
							Items: []order.NewItem{item(f, qty)}, Shipping: w.shipping()})
						results <- result{s.PartyID, qty, err}
					}()
				}
			}
			close(start)
			wg.Wait()
			close(results)
			var sold int64
			perShopper := map[string]int64{}
			for r := range results {
				if r.err != nil {
					var e *errs.Error
					if !errors.As(r.err, &e) || (e.Code != errs.CodeSoldOut && e.Code != errs.CodeLimitExceeded) {
						t.Fatalf("an order failed with %v, want sold_out or limit_exceeded", r.err)
					}
					continue
				}
				sold += r.qty
				perShopper[r.shopper] += r.qty
			}
			if sold != 100 {
				t.Fatalf("sold %d units of 100", sold)
			}
			for s, n := range perShopper {
				if n > 2 {
					t.Fatalf("shopper %s got %d units, limit 2", s, n)
				}
			}
			if w.flashRemaining() != 0 || w.stock(f.ID) != 900 {
				t.Fatalf("remaining %d, variant stock %d; want 0 and 900", w.flashRemaining(), w.stock(f.ID))
			}
			var dbUnits, reserved, orders int64
			w.db.Raw("SELECT coalesce(sum(units), 0) FROM flash_buyer_units WHERE pin_id = ?", w.flash.ID).Scan(&dbUnits)
			w.db.Raw("SELECT coalesce(sum(quantity), 0) FROM stock_reservations WHERE status = 'ordered'").Scan(&reserved)
			w.db.Raw("SELECT coalesce(sum(i.quantity), 0) FROM order_items i JOIN orders o ON o.id = i.order_id").Scan(&orders)
			if dbUnits != 100 || reserved != 100 || orders != 100 {
				t.Fatalf("buyer units %d, reserved %d, ordered %d; want 100 each", dbUnits, reserved, orders)
			}
			// The sold-out moment reached players.
			var last order.FlashStockPayload
			evs := w.events(order.EventFlashStock)
			if len(evs) == 0 || json.Unmarshal(evs[len(evs)-1], &last) != nil || last.Remaining != 0 || last.PinID != w.flash.ID {
				t.Fatalf("flash.stock events end with %+v (%d events)", last, len(evs))
			}
		})
	}
}

func TestWebhooksInAnyOrder(t *testing.T) {
	w := newOrderWorld(t, 1)
	ctx := context.Background()
	shopper := w.shoppers[0]
	a := w.prodA.Variants[0]

	t.Run("duplicates change nothing", func(t *testing.T) {
		o := w.mustPlace(shopper, "", item(a, 1))
		w.capture.Store(true)
		if err := w.pay(o, local.CardSucceeds); err != nil {
			t.Fatal(err)
		}
		w.capture.Store(false)
		hooks := w.takeCaptured()
		for i := 0; i < 3; i++ {
			if err := w.apply(ctx, hooks[0]); err != nil {
				t.Fatal(err)
			}
		}
		if got := w.get(o.ID); got.Status != order.StatusPaid {
			t.Fatalf("status %s", got.Status)
		}
		if n := len(w.events(order.EventPaid)); n != 1 {
			t.Fatalf("%d paid events, want 1", n)
		}
	})

	lateCases := []struct {
		name   string
		close  func(t *testing.T, o order.Order)
		closed order.Status // once the refund of the late payment failed
	}{
		{"success after cancel is refunded", func(t *testing.T, o order.Order) {
			if _, err := w.svc.Cancel(ctx, shopper, o.ID); err != nil {
				t.Fatal(err)
			}
		}, order.StatusCancelled},
		{"success after expiry is refunded", func(t *testing.T, o order.Order) {
			w.clock.Add(testTTL)
			if res, err := w.svc.Sweep(ctx); err != nil || res.Expired != 1 {
				t.Fatalf("sweep: %+v, %v", res, err)
			}
		}, order.StatusExpired},
	}
	for _, tc := range lateCases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(w.events(order.EventRefunded))
			o := w.mustPlace(shopper, "", item(a, 2))
			w.capture.Store(true)
			if err := w.pay(o, local.CardSucceeds); err != nil {
				t.Fatal(err)
			}
			w.capture.Store(false)
			tc.close(t, o)
			stock := w.stock(a.ID)
			for _, h := range w.takeCaptured() {
				if err := w.apply(ctx, h); err != nil {
					t.Fatal(err)
				}
			}
			got := w.get(o.ID)
			if got.Status != order.StatusRefunded || got.Paid != o.Total || got.Refunded != o.Total || len(got.Refunds) != 1 {
				t.Fatalf("late payment: %s paid %v refunded %v refunds %+v", got.Status, got.Paid, got.Refunded, got.Refunds)
			}
			r := got.Refunds[0]
			if r.Reason != order.RefundLatePayment || r.Status != order.RefundSucceeded || r.ProviderRefundID == "" {
				t.Fatalf("refund %+v", r)
			}
			if w.stock(a.ID) != stock {
				t.Fatal("a late payment took stock again")
			}
			// The provider's refund webhooks, and the success again, change nothing.
			if _, err := w.sim.DeliverPending(ctx); err != nil {
				t.Fatal(err)
			}
			if got := w.get(o.ID); got.Status != order.StatusRefunded || len(got.Refunds) != 1 || got.Refunded != o.Total {
				t.Fatalf("after refund webhooks: %s %+v", got.Status, got.Refunds)
			}
			if n := len(w.events(order.EventRefunded)); n != before+1 {
				t.Fatalf("%d refunded events, want %d", n, before+1)
			}
			var late []order.OrderPayload
			for _, raw := range w.events(order.EventPaid) {
				var p order.OrderPayload
				json.Unmarshal(raw, &p)
				if p.ID == o.ID {
					late = append(late, p)
				}
			}
			if len(late) != 1 || !late[0].Late {
				t.Fatalf("paid events of the late order: %+v", late)
			}

			// The provider then reports that refund failed after all: the
			// money is back with daihuo, but the order was never sold (its
			// stock went back), so it is closed again, not paid, and no brand
			// may refund it as a sale (an admin may). It is counted for a
			// person to return the money.
			unrefunded, err := w.svc.UnrefundedLatePayments(ctx)
			if err != nil {
				t.Fatal(err)
			}
			err = w.svc.ApplyPaymentEvent(ctx, payment.WebhookEvent{
				Provider: payment.ProviderLocal, ID: "evt_late_refund_failed_" + o.ID, Type: payment.EventRefundFailed,
				IntentID: o.Payment.IntentID, RefundID: r.ProviderRefundID, Amount: r.Amount,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := w.get(o.ID); got.Status != tc.closed || got.Refunded.Amount != 0 || got.Paid != o.Total || w.stock(a.ID) != stock {
				t.Fatalf("after the refund failed: %s paid %v refunded %v, stock %d (want %s, stock %d)", got.Status, got.Paid, got.Refunded, w.stock(a.ID), tc.closed, stock)
			}
			if _, err := w.svc.Refund(ctx, w.brandA, o.ID, nil, "brand-late"); !errors.Is(err, order.ErrNotPaid) {
				t.Fatalf("a brand refunded an order never sold: %v", err)
			}
			if n, err := w.svc.UnrefundedLatePayments(ctx); err != nil || n != unrefunded+1 {
				t.Fatalf("unrefunded late payments = %d, %v; want %d", n, err, unrefunded+1)
			}
			// (Here the simulator did refund it, so an admin's refund is
			// refused, and the order stays counted.)
			if _, err := w.svc.Refund(ctx, w.admin, o.ID, nil, "admin-late"); !errors.Is(err, order.ErrRefundFailed) {
				t.Fatalf("admin refund of money the simulator returned already: %v", err)
			}
			if n, err := w.svc.UnrefundedLatePayments(ctx); err != nil || n != unrefunded+1 {
				t.Fatalf("unrefunded late payments after a refused refund = %d, %v; want %d", n, err, unrefunded+1)
			}
		})
	}

	t.Run("a success found on cancel is recorded without its webhook", func(t *testing.T) {
		o := w.mustPlace(shopper, "", item(a, 1))
		w.capture.Store(true) // the success webhook is held back, as if lost
		if err := w.pay(o, local.CardSucceeds); err != nil {
			t.Fatal(err)
		}
		w.capture.Store(false)
		stock := w.stock(a.ID)
		if _, err := w.svc.Cancel(ctx, shopper, o.ID); err != nil {
			t.Fatal(err)
		}
		got := w.get(o.ID)
		if got.Status != order.StatusRefunded || got.Paid != o.Total || got.Refunded != o.Total || len(got.Refunds) != 1 {
			t.Fatalf("after a cancel of a paid intent: %s paid %v refunded %v refunds %d", got.Status, got.Paid, got.Refunded, len(got.Refunds))
		}
		if w.stock(a.ID) != stock+1 {
			t.Fatalf("stock %d after the cancel, want %d", w.stock(a.ID), stock+1)
		}
		// The held-back webhook, when it comes, changes nothing.
		for _, h := range w.takeCaptured() {
			if err := w.apply(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
		if again := w.get(o.ID); again.Status != order.StatusRefunded || len(again.Refunds) != 1 || again.Refunded != o.Total {
			t.Fatalf("after the late webhook: %s, %d refunds, refunded %v", again.Status, len(again.Refunds), again.Refunded)
		}
	})

	t.Run("failure after success keeps it paid", func(t *testing.T) {
		o := w.mustPlace(shopper, "", item(a, 1))
		w.capture.Store(true)
		if err := w.pay(o, local.CardDeclined); err == nil {
			t.Fatal("declined card paid")
		}
		if err := w.pay(o, local.CardSucceeds); err != nil {
			t.Fatal(err)
		}
		w.capture.Store(false)
		hooks := w.takeCaptured()
		for i := len(hooks) - 1; i >= 0; i-- { // success first, then the decline
			if err := w.apply(ctx, hooks[i]); err != nil {
				t.Fatal(err)
			}
		}
		if got := w.get(o.ID); got.Status != order.StatusPaid || got.Payment.FailureCode != "" {
			t.Fatalf("status %s failure %q", got.Status, got.Payment.FailureCode)
		}
	})

	t.Run("provider cancels the intent", func(t *testing.T) {
		o := w.mustPlace(shopper, "", item(a, 4))
		stock := w.stock(a.ID)
		if _, err := w.sim.CancelIntent(ctx, o.Payment.IntentID); err != nil {
			t.Fatal(err)
		}
		if _, err := w.sim.DeliverPending(ctx); err != nil {
			t.Fatal(err)
		}
		got := w.get(o.ID)
		if got.Status != order.StatusCancelled || got.CloseReason != order.ReasonPaymentCanceled || w.stock(a.ID) != stock+4 {
			t.Fatalf("after the provider's cancel: %s (%s), stock %d", got.Status, got.CloseReason, w.stock(a.ID))
		}
	})

	t.Run("unknown intent", func(t *testing.T) {
		o := w.mustPlace(shopper, "", item(a, 1))
		w.capture.Store(true)
		if err := w.pay(o, local.CardSucceeds); err != nil {
			t.Fatal(err)
		}
		w.capture.Store(false)
		h := w.takeCaptured()[0]
		ev, err := w.sim.ParseWebhook(h.payload, h.header)
		if err != nil {
			t.Fatal(err)
		}
		ev.IntentID, ev.ID = "pi_local_unknown", "evt_local_unknown"
		if err := w.svc.ApplyPaymentEvent(ctx, ev); !errors.Is(err, order.ErrUnknownIntent) {
			t.Fatalf("err = %v, want ErrUnknownIntent", err)
		}
		var marks int64
		w.db.Raw("SELECT count(*) FROM order_payment_events WHERE event_id = ?", ev.ID).Scan(&marks)
		if marks != 0 {
			t.Fatal("an unknown intent's event was marked applied")
		}
	})
}

func TestRefundLimits(t *testing.T) {
	w := newOrderWorld(t, 1)
	ctx := context.Background()
	shopper := w.shoppers[0]
	eur := func(a int64) *money.Money { return &money.Money{Amount: a, Currency: "EUR"} }

	pending := w.mustPlace(shopper, "", item(w.prodB.Variants[0], 1))
	_, err := w.svc.Refund(ctx, w.admin, pending.ID, nil, "r-0")
	wantCode(t, err, errs.CodeInvalidState)

	o := w.mustPlace(shopper, "", item(w.prodA.Variants[0], 2), item(w.prodB.Variants[0], 1)) // A 3998, B 500
	if err := w.pay(o, local.CardSucceeds); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		p      party.Principal
		amount *money.Money
		key    string
		code   errs.Code
		status order.Status
		total  int64 // refunded so far, as an admin sees it
	}{
		{"shopper may not refund", shopper, nil, "k", errs.CodeForbidden, "", 0},
		{"brand without items", w.brandC, nil, "k", errs.CodeNotFound, "", 0},
		{"brand above its share", w.brandB, eur(501), "k1", errs.CodeValidation, "", 0},
		{"another currency", w.brandB, &money.Money{Amount: 100, Currency: "USD"}, "k1", errs.CodeCurrencyMismatch, "", 0},
		{"no key", w.brandB, eur(100), "", errs.CodeValidation, "", 0},
		{"brand partial", w.brandB, eur(200), "k1", "", order.StatusPartiallyRefunded, 200},
		{"same key again", w.brandB, eur(200), "k1", "", order.StatusPartiallyRefunded, 200},
		{"same key without amount", w.brandB, nil, "k1", "", order.StatusPartiallyRefunded, 200},
		{"same key, other amount", w.brandB, eur(300), "k1", errs.CodeIdempotencyConflict, "", 0},
		{"brand the rest of its share", w.brandB, nil, "k2", "", order.StatusPartiallyRefunded, 500},
		{"brand with nothing left", w.brandB, nil, "k3", errs.CodeInvalidState, "", 0},
		{"admin above what is left", w.admin, eur(3999), "k1", errs.CodeValidation, "", 0},
		{"admin all that is left", w.admin, nil, "k1", "", order.StatusRefunded, 4498},
		{"admin retry", w.admin, nil, "k1", "", order.StatusRefunded, 4498},
		{"admin with nothing left", w.admin, nil, "k4", errs.CodeInvalidState, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := w.svc.Refund(ctx, tt.p, o.ID, tt.amount, tt.key)
			if tt.code != "" {
				wantCode(t, err, tt.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := w.get(o.ID)
			if got.Status != tt.status || got.Refunded.Amount != tt.total || v.Status != tt.status {
				t.Fatalf("after refund: %s refunded %v (view %s), want %s %d", got.Status, got.Refunded, v.Status, tt.status, tt.total)
			}
		})
	}
	got := w.get(o.ID)
	if len(got.Refunds) != 3 {
		t.Fatalf("%d refunds recorded, want 3: %+v", len(got.Refunds), got.Refunds)
	}
	for _, r := range got.Refunds {
		if r.RequestedBy == order.RequesterAdmin &&
			(len(r.Lines) != 1 || r.Lines[0] != (order.RefundLine{BrandID: w.brandA.PartyID, Amount: 3998})) {
			t.Fatalf("admin refund booked as %+v, want all to brand A", r.Lines)
		}
	}
	v, err := w.svc.GetOrder(ctx, w.brandB, o.ID)
	if err != nil || v.Refunded.Amount != 500 || len(v.Refunds) != 2 {
		t.Fatalf("brand B sees refunded %v and %d refunds, %v", v.Refunded, len(v.Refunds), err)
	}
	evs := w.events(order.EventRefunded)
	var brands []string
	for _, raw := range evs {
		var p order.RefundPayload
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		brands = append(brands, p.BrandID)
	}
	if len(brands) != 3 || brands[0] != w.brandB.PartyID || brands[1] != w.brandB.PartyID || brands[2] != w.brandA.PartyID {
		t.Fatalf("refunded events by brand %v", brands)
	}
	// The provider saw three refunds and nothing more.
	if _, err := w.sim.DeliverPending(ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.get(o.ID); got.Refunded.Amount != 4498 || len(got.Refunds) != 3 {
		t.Fatalf("after refund webhooks: refunded %v, %d refunds", got.Refunded, len(got.Refunds))
	}
}

func TestReserverReleasesWhatAbandonedWaitersWon(t *testing.T) {
	w := newOrderWorld(t, 1)
	a := w.prodA.Variants[0]
	r := storage.NewReserver(w.db, w.out, storage.ReserverConfig{Now: w.clock.Now})
	defer r.Close()

	// Hold the variant's row so the batch waits for it.
	blocker := w.db.Begin()
	if err := blocker.Exec("SELECT 1 FROM variants WHERE id = ? FOR UPDATE", a.ID).Error; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Reserve(ctx, order.ReserveRequest{OrderID: id.New("ord", w.clock.Now()), ShopperID: w.shoppers[0].PartyID,
			Lines: []order.ReserveLine{{VariantID: a.ID, Quantity: 5}}, ExpiresAt: w.clock.Now().Add(testTTL)})
	}()
	waitFor(t, "the batch to wait for the row lock", func() bool {
		var n int64
		w.db.Raw("SELECT count(*) FROM pg_locks WHERE NOT granted").Scan(&n)
		return n > 0
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Reserve = %v, want context.Canceled", err)
	}
	blocker.Rollback()
	waitFor(t, "the abandoned reservation to be released", func() bool {
		var released, held int64
		w.db.Raw("SELECT count(*) FILTER (WHERE status = 'released'), count(*) FILTER (WHERE status = 'held') FROM stock_reservations").
			Row().Scan(&released, &held)
		return released == 1 && held == 0 && w.stock(a.ID) == 50
	})
}

// waitFor polls cond until it holds or statsWait passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(statsWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFlashStockEventsAreCoalesced(t *testing.T) {
	w := newOrderWorld(t, 4)
	ctx := context.Background()
	f := w.prodF.Variants[0]
	reserve := func(r *storage.Reserver, shopper int, qty int64) error {
		return r.Reserve(ctx, order.ReserveRequest{OrderID: id.New("ord", w.clock.Now()), ShopperID: w.shoppers[shopper].PartyID,
			PinID: w.flash.ID, Lines: []order.ReserveLine{{VariantID: f.ID, Quantity: qty}}, ExpiresAt: w.clock.Now().Add(testTTL)})
	}
	remaining := func() []int64 {
		var out []int64
		for _, raw := range w.events(order.EventFlashStock) {
			var p order.FlashStockPayload
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			out = append(out, p.Remaining)
		}
		return out
	}

	// Within one window only the first batch writes an event, until stock
	// runs out, which is told at once.
	if err := w.db.Exec("UPDATE pins SET flash_remaining = 5, flash_quantity = 5, flash_per_buyer_limit = 0 WHERE id = ?", w.flash.ID).Error; err != nil {
		t.Fatal(err)
	}
	slow := storage.NewReserver(w.db, w.out, storage.ReserverConfig{Now: w.clock.Now, FlashStockInterval: time.Hour})
	for i, qty := range []int64{1, 1, 2} {
		if err := reserve(slow, i, qty); err != nil {
			t.Fatal(err)
		}
	}
	if got := remaining(); len(got) != 1 || got[0] != 4 {
		t.Fatalf("flash.stock remaining %v, want [4]", got)
	}
	if err := reserve(slow, 3, 1); err != nil {
		t.Fatal(err)
	}
	if got := remaining(); len(got) != 2 || got[1] != 0 {
		t.Fatalf("flash.stock remaining %v, want [4 0]", got)
	}
	slow.Close()

	// A held-back value is written after the window: the last word is
	// always the current remaining.
	if err := w.db.Exec("UPDATE pins SET flash_remaining = 5 WHERE id = ?", w.flash.ID).Error; err != nil {
		t.Fatal(err)
	}
	fast := storage.NewReserver(w.db, w.out, storage.ReserverConfig{Now: w.clock.Now, FlashStockInterval: 20 * time.Millisecond})
	defer fast.Close()
	for i := range 3 {
		if err := reserve(fast, i, 1); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the trailing flash.stock event", func() bool {
		got := remaining()
		return got[len(got)-1] == 2
	})
}

// downGateway is the simulator with its API unreachable for new intents:
// fault injection around the real thing.
type downGateway struct{ *local.Simulator }

func (downGateway) CreateIntent(context.Context, payment.IntentRequest) (payment.Intent, error) {
	return payment.Intent{}, errors.New("dial tcp: connection refused")
}

func TestPaymentProviderDownKeepsNothing(t *testing.T) {
	w := newOrderWorld(t, 1)
	r := storage.NewReserver(w.db, w.out, storage.ReserverConfig{Now: w.clock.Now})
	defer r.Close()
	svc := order.NewService(w.store, r, downGateway{w.sim}, w.out, w.tx, w.clock.Now, order.Config{})
	f := w.prodF.Variants[0]
	_, err := svc.PlaceOrder(context.Background(), w.shoppers[0], order.NewOrder{StreamID: w.stream.ID, PinID: w.flash.ID,
		Items: []order.NewItem{item(f, 2), item(w.prodA.Variants[0], 1)}, Shipping: w.shipping()})
	wantCode(t, err, order.CodePaymentUnavailable)
	if w.flashRemaining() != 100 || w.stock(f.ID) != 1000 || w.stock(w.prodA.Variants[0].ID) != 50 {
		t.Fatal("stock kept after the provider failed")
	}
	var orders int64
	w.db.Raw("SELECT count(*) FROM orders").Scan(&orders)
	if orders != 0 || len(w.events(order.EventCreated)) != 0 {
		t.Fatal("an order was recorded without a payment intent")
	}
}

// TestLoadCheckoutGrouped asks for several checkouts at once, so they are
// answered by shared reads, and checks each caller gets its own question's
// answer.
func TestLoadCheckoutGrouped(t *testing.T) {
	w := newOrderWorld(t, 0)
	ctx := context.Background()
	missing := id.New(live.PrefixStream, w.clock.Now())
	tests := []struct {
		name       string
		streamID   string
		pinID      string
		variants   []string
		wantPin    bool
		wantLineup int
		wantErr    error
	}{
		{"flash pin and its variant", w.stream.ID, w.flash.ID, []string{w.prodF.Variants[0].ID}, true, 1, nil},
		{"two products, no pin", w.stream.ID, "", []string{w.prodA.Variants[1].ID, w.prodB.Variants[0].ID}, false, 2, nil},
		{"a product not in the line-up", w.stream.ID, "", []string{w.prodC.Variants[0].ID}, false, 0, nil},
		{"no such stream", missing, "", []string{w.prodA.Variants[0].ID}, false, 0, errs.ErrNotFound},
	}
	var wg sync.WaitGroup
	for round := range 25 {
		for _, tt := range tests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				co, err := w.store.LoadCheckout(ctx, tt.streamID, tt.pinID, tt.variants)
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("%s (round %d): err = %v, want %v", tt.name, round, err, tt.wantErr)
					return
				}
				if err != nil {
					return
				}
				if co.Stream.ID != tt.streamID || (co.Pin != nil) != tt.wantPin || len(co.Variants) != len(tt.variants) || len(co.Lineup) != tt.wantLineup {
					t.Errorf("%s (round %d): stream %s, pin %v, %d variants, %d line-up entries", tt.name, round, co.Stream.ID, co.Pin != nil, len(co.Variants), len(co.Lineup))
				}
				for _, v := range tt.variants {
					if _, ok := co.Variants[v]; !ok {
						t.Errorf("%s (round %d): variant %s missing", tt.name, round, v)
					}
				}
			}()
		}
	}
	wg.Wait()
}

// TestInsertOrdersRoundTrip writes orders with and without their optional
// fields and reads them back, and refuses a second order under a
// shopper's idempotency key.
func TestInsertOrdersRoundTrip(t *testing.T) {
	w := newOrderWorld(t, 1)
	ctx := context.Background()
	placed := w.mustPlace(w.shoppers[0], "", item(w.prodB.Variants[0], 2))
	paidAt := w.clock.Now().Add(time.Minute)

	bare := placed
	bare.ID, bare.PinID, bare.AgencyID, bare.IdempotencyKey = id.New(order.PrefixOrder, w.clock.Now()), "", "", ""
	bare.Payment.IntentID = "pi_bare"
	full := placed
	full.ID, full.PinID, full.IdempotencyKey = id.New(order.PrefixOrder, w.clock.Now()), w.flash.ID, "key-1"
	full.Payment.IntentID, full.Status, full.PaidAt = "pi_full", order.StatusPaid, &paidAt
	full.Paid = full.Total
	if err := w.store.InsertOrders(ctx, []order.Order{bare, full}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []order.Order{bare, full} {
		got, err := w.store.GetOrder(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.PinID != want.PinID || got.AgencyID != want.AgencyID || got.IdempotencyKey != want.IdempotencyKey ||
			got.Status != want.Status || got.Total != want.Total || got.Paid != want.Paid || got.Shipping != want.Shipping ||
			got.Payment.IntentID != want.Payment.IntentID || !got.ExpiresAt.Equal(want.ExpiresAt) ||
			(got.PaidAt == nil) != (want.PaidAt == nil) || len(got.Items) != len(want.Items) || got.Items[0] != want.Items[0] {
			t.Errorf("read back %+v\nwant %+v", got, want)
		}
	}

	again := full
	again.ID, again.Payment.IntentID = id.New(order.PrefixOrder, w.clock.Now()), "pi_again"
	if err := w.store.InsertOrders(ctx, []order.Order{again}); !errors.Is(err, order.ErrDuplicateOrder) {
		t.Fatalf("second order under key-1: err = %v, want ErrDuplicateOrder", err)
	}
	if _, err := w.store.GetOrder(ctx, again.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("the refused order exists: %v", err)
	}
	// Another unique rule broken (an intent paying two orders) is not a
	// duplicate order: the caller must not look for one by key.
	twin := bare
	twin.ID, twin.IdempotencyKey = id.New(order.PrefixOrder, w.clock.Now()), "key-2"
	if err := w.store.InsertOrder(ctx, twin); err == nil || errors.Is(err, order.ErrDuplicateOrder) {
		t.Fatalf("an order with a taken intent: err = %v, want an error other than ErrDuplicateOrder", err)
	}
}

// A trailing flash.stock event written while another process gives units
// back never ends the story with the older count: players keep the last
// value the pin has.
func TestTrailingFlashStockIsNeverStale(t *testing.T) {
	w := newOrderWorld(t, 2)
	ctx := context.Background()
	f := w.prodF.Variants[0]
	r := storage.NewReserver(w.db, w.out, storage.ReserverConfig{Now: w.clock.Now, FlashStockInterval: 300 * time.Millisecond})
	t.Cleanup(r.Close)
	reserve := func(shopper int) string {
		t.Helper()
		orderID := id.New(order.PrefixOrder, w.clock.Now())
		err := r.Reserve(ctx, order.ReserveRequest{OrderID: orderID, ShopperID: w.shoppers[shopper].PartyID, PinID: w.flash.ID,
			Lines: []order.ReserveLine{{VariantID: f.ID, Quantity: 1}}, ExpiresAt: w.clock.Now().Add(testTTL)})
		if err != nil {
			t.Fatal(err)
		}
		return orderID
	}
	events := func() int { return len(w.events(order.EventFlashStock)) }
	given := reserve(0) // its event goes out at once
	reserve(1)          // coalesced: a trailing event is due within 300 ms
	before := events()
	// Another process gives the first unit back in a transaction that stays
	// open while the trailing event is due.
	err := w.tx.InTx(ctx, func(ctx context.Context) error {
		if err := w.store.ReleaseReservations(ctx, given); err != nil {
			return err
		}
		for end := time.Now().Add(time.Second); time.Now().Before(end) && events() == before; {
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the give-back's event and the trailing one", func() bool { return events() >= before+2 })
	evs := w.events(order.EventFlashStock)
	var last order.FlashStockPayload
	if err := json.Unmarshal(evs[len(evs)-1], &last); err != nil {
		t.Fatal(err)
	}
	if got := w.flashRemaining(); last.Remaining != got {
		t.Fatalf("the last flash.stock event says %d left; the pin has %d", last.Remaining, got)
	}
}
