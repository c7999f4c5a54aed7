package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/report"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
)

// statsT0 is the time of the first test event.
var statsT0 = time.Date(2030, 3, 1, 20, 0, 0, 0, time.UTC)

// statsEvents builds order events of one test stream as main's order
// service would write them.
type statsEvents struct {
	t        *testing.T
	streamID string
	currency string
	n        int
}

func (e *statsEvents) next() time.Time {
	e.n++
	return statsT0.Add(time.Duration(e.n) * time.Second)
}

// item is qty units of brand's product at unit minor units, with commission bps.
func (e *statsEvents) item(brand string, qty, unit int64, bps int) order.ItemPayload {
	return order.ItemPayload{VariantID: "var_" + brand, ProductID: "prd_" + brand, BrandID: brand, Quantity: qty,
		UnitPrice: money.Money{Amount: unit, Currency: e.currency}, CommissionBPS: bps}
}

// paid is the paid event of order orderID by shopper.
func (e *statsEvents) paid(orderID, shopper string, late bool, items ...order.ItemPayload) event.Event {
	e.t.Helper()
	var total int64
	for _, it := range items {
		total += it.UnitPrice.Amount * it.Quantity
	}
	at := e.next()
	p := order.OrderPayload{ID: orderID, ShopperID: shopper, StreamID: e.streamID, CreatorID: "crt_1", Status: order.StatusPaid,
		Items: items, Total: money.Money{Amount: total, Currency: e.currency}, Paid: &money.Money{Amount: total, Currency: e.currency},
		Provider: "local", IntentID: "pi_" + orderID, CreatedAt: at.Add(-time.Second), PaidAt: &at, Late: late}
	if late {
		p.Status = order.StatusExpired
	}
	ev, err := event.New(event.TopicOrders, order.EventPaid, orderID, p, at)
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// refund is a refunded (or, failed, refund_failed) event of orderID with
// per-brand lines (brand, amount, brand, amount, …).
func (e *statsEvents) refund(orderID, refundID, reason string, failed bool, lines ...any) event.Event {
	e.t.Helper()
	at := e.next()
	p := order.RefundPayload{OrderID: orderID, RefundID: refundID, StreamID: e.streamID, CreatorID: "crt_1", Reason: reason, At: at}
	for i := 0; i+1 < len(lines); i += 2 {
		amt := money.Money{Amount: lines[i+1].(int64), Currency: e.currency}
		p.Lines = append(p.Lines, order.RefundLinePayload{BrandID: lines[i].(string), Amount: amt})
		p.Amount.Amount += amt.Amount
	}
	p.Amount.Currency = e.currency
	typ := order.EventRefunded
	if failed {
		typ = order.EventRefundFailed
	}
	ev, err := event.New(event.TopicOrders, typ, orderID, p, at)
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// statsConsumer applies events as the consumer group does: each through
// the inbox, in its transaction.
type statsConsumer struct {
	t     *testing.T
	inbox *storage.Inbox
	svc   *report.Service
	store *storage.ReportStore
}

func newStatsConsumer(t *testing.T) *statsConsumer {
	db := storagetest.NewDB(t)
	store := storage.NewReportStore(db)
	return &statsConsumer{t: t, inbox: storage.NewInbox(db), store: store,
		svc: report.NewService(store, storage.NewLiveStore(db), storage.NewRoomStore(db), nil, nil)}
}

// apply delivers evs in order and returns how many were applied (not
// skipped as already seen).
func (c *statsConsumer) apply(evs ...event.Event) int {
	c.t.Helper()
	n := 0
	for _, ev := range evs {
		applied, err := c.inbox.Once(context.Background(), report.ConsumerGroup, ev.ID, func(ctx context.Context) error {
			return c.svc.Apply(ctx, ev)
		})
		if err != nil {
			c.t.Fatalf("apply %s %s: %v", ev.Type, ev.ID, err)
		}
		if applied {
			n++
		}
	}
	return n
}

// totals reads a scope's totals, with UpdatedAt cleared.
func (c *statsConsumer) totals(streamID, brandID string) report.Totals {
	c.t.Helper()
	tot, _, err := c.store.Totals(context.Background(), streamID, brandID)
	if err != nil {
		c.t.Fatal(err)
	}
	tot.UpdatedAt = time.Time{}
	return tot
}

func TestStreamStatsCountEachEventOnce(t *testing.T) {
	c := newStatsConsumer(t)
	e := &statsEvents{t: t, streamID: "str_1", currency: "EUR"}
	paid := e.paid("ord_1", "shp_1", false, e.item("brd_a", 2, 4900, 1000), e.item("brd_b", 1, 999, 1250))
	if n := c.apply(paid, paid); n != 1 {
		t.Fatalf("applied %d of the event delivered twice, want 1", n)
	}
	// The same order told again under another event id is still one sale.
	again := paid
	again.ID = "evt_other"
	if n := c.apply(again); n != 1 {
		t.Fatalf("applied %d, want 1", n)
	}
	want := report.Totals{Currency: "EUR", Orders: 1, GMV: 9800 + 999, Units: 3, Buyers: 1, Commission: 980 + 124}
	if got := c.totals("str_1", ""); got != want {
		t.Errorf("stream totals %+v, want %+v", got, want)
	}
	if got, want := c.totals("str_1", "brd_a"), (report.Totals{Currency: "EUR", Orders: 1, GMV: 9800, Units: 2, Buyers: 1, Commission: 980}); got != want {
		t.Errorf("brand a %+v, want %+v", got, want)
	}
	if got, want := c.totals("str_1", "brd_b"), (report.Totals{Currency: "EUR", Orders: 1, GMV: 999, Units: 1, Buyers: 1, Commission: 124}); got != want {
		t.Errorf("brand b %+v, want %+v", got, want)
	}
}

func TestStreamStatsScenarios(t *testing.T) {
	type scope struct {
		brand string
		want  report.Totals
	}
	tests := []struct {
		name   string
		events func(e *statsEvents) []event.Event
		want   []scope
	}{
		{
			name: "paid then refunded in part",
			events: func(e *statsEvents) []event.Event {
				return []event.Event{
					e.paid("ord_1", "shp_1", false, e.item("brd_a", 1, 5000, 2000), e.item("brd_b", 1, 3000, 0)),
					e.refund("ord_1", "rfd_1", order.RefundRequested, false, "brd_a", int64(1500)),
				}
			},
			want: []scope{
				{"", report.Totals{Currency: "EUR", Orders: 1, GMV: 8000, Units: 2, Buyers: 1, Refunds: 1500, Commission: 1000}},
				{"brd_a", report.Totals{Currency: "EUR", Orders: 1, GMV: 5000, Units: 1, Buyers: 1, Refunds: 1500, Commission: 1000}},
				{"brd_b", report.Totals{Currency: "EUR", Orders: 1, GMV: 3000, Units: 1, Buyers: 1}},
			},
		},
		{
			name: "refund told before the sale ends the same",
			events: func(e *statsEvents) []event.Event {
				p := e.paid("ord_1", "shp_1", false, e.item("brd_a", 1, 5000, 2000))
				return []event.Event{e.refund("ord_1", "rfd_1", order.RefundRequested, false, "brd_a", int64(5000)), p}
			},
			want: []scope{
				{"", report.Totals{Currency: "EUR", Orders: 1, GMV: 5000, Units: 1, Buyers: 1, Refunds: 5000, Commission: 1000}},
				{"brd_a", report.Totals{Currency: "EUR", Orders: 1, GMV: 5000, Units: 1, Buyers: 1, Refunds: 5000, Commission: 1000}},
			},
		},
		{
			name: "two orders of one shopper are one buyer",
			events: func(e *statsEvents) []event.Event {
				return []event.Event{
					e.paid("ord_1", "shp_1", false, e.item("brd_a", 1, 1000, 500)),
					e.paid("ord_2", "shp_1", false, e.item("brd_a", 2, 1000, 500), e.item("brd_b", 1, 700, 0)),
					e.paid("ord_3", "shp_2", false, e.item("brd_b", 1, 700, 0)),
				}
			},
			want: []scope{
				{"", report.Totals{Currency: "EUR", Orders: 3, GMV: 1000 + 2700 + 700, Units: 5, Buyers: 2, Commission: 150}},
				{"brd_a", report.Totals{Currency: "EUR", Orders: 2, GMV: 3000, Units: 3, Buyers: 1, Commission: 150}},
				{"brd_b", report.Totals{Currency: "EUR", Orders: 2, GMV: 1400, Units: 2, Buyers: 2}},
			},
		},
		{
			name: "a late payment and its refund net out to nothing",
			events: func(e *statsEvents) []event.Event {
				return []event.Event{
					e.paid("ord_1", "shp_1", false, e.item("brd_a", 1, 1000, 500)),
					e.paid("ord_2", "shp_2", true, e.item("brd_a", 3, 1000, 500)),
					e.refund("ord_2", "rfd_late", order.RefundLatePayment, false, "brd_a", int64(3000)),
				}
			},
			want: []scope{
				{"", report.Totals{Currency: "EUR", Orders: 1, GMV: 1000, Units: 1, Buyers: 1, Commission: 50}},
				{"brd_a", report.Totals{Currency: "EUR", Orders: 1, GMV: 1000, Units: 1, Buyers: 1, Commission: 50}},
			},
		},
		{
			name: "a refund that failed after succeeding is taken back",
			events: func(e *statsEvents) []event.Event {
				return []event.Event{
					e.paid("ord_1", "shp_1", false, e.item("brd_a", 1, 1000, 0), e.item("brd_b", 1, 1000, 0)),
					e.refund("ord_1", "rfd_1", order.RefundRequested, false, "brd_a", int64(600), "brd_b", int64(400)),
					e.refund("ord_1", "rfd_2", order.RefundRequested, false, "brd_b", int64(100)),
					e.refund("ord_1", "rfd_1", order.RefundRequested, true, "brd_a", int64(600), "brd_b", int64(400)),
				}
			},
			want: []scope{
				{"", report.Totals{Currency: "EUR", Orders: 1, GMV: 2000, Units: 2, Buyers: 1, Refunds: 100}},
				{"brd_a", report.Totals{Currency: "EUR", Orders: 1, GMV: 1000, Units: 1, Buyers: 1}},
				{"brd_b", report.Totals{Currency: "EUR", Orders: 1, GMV: 1000, Units: 1, Buyers: 1, Refunds: 100}},
			},
		},
		{
			name: "an event in another currency than the stream's is skipped",
			events: func(e *statsEvents) []event.Event {
				first := e.paid("ord_1", "shp_1", false, e.item("brd_a", 1, 1000, 1000))
				e.currency = "USD"
				return []event.Event{first,
					e.paid("ord_2", "shp_2", false, e.item("brd_a", 1, 1000, 1000)),
					e.refund("ord_1", "rfd_1", order.RefundRequested, false, "brd_a", int64(1000)),
				}
			},
			want: []scope{
				{"", report.Totals{Currency: "EUR", Orders: 1, GMV: 1000, Units: 1, Buyers: 1, Commission: 100}},
				{"brd_a", report.Totals{Currency: "EUR", Orders: 1, GMV: 1000, Units: 1, Buyers: 1, Commission: 100}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newStatsConsumer(t)
			e := &statsEvents{t: t, streamID: "str_1", currency: "EUR"}
			evs := tt.events(e)
			if n := c.apply(evs...); n != len(evs) {
				t.Fatalf("applied %d of %d", n, len(evs))
			}
			if n := c.apply(evs...); n != 0 {
				t.Fatalf("redelivery applied %d events", n)
			}
			for _, sc := range tt.want {
				if got := c.totals("str_1", sc.brand); got != sc.want {
					t.Errorf("scope %q: %+v, want %+v", sc.brand, got, sc.want)
				}
			}
		})
	}
}

func TestStreamStatsOtherStreamsAndEventsUntouched(t *testing.T) {
	c := newStatsConsumer(t)
	e1 := &statsEvents{t: t, streamID: "str_1", currency: "EUR"}
	e2 := &statsEvents{t: t, streamID: "str_2", currency: "JPY"}
	other, err := event.New(event.TopicOrders, order.EventCreated, "ord_9", map[string]any{"id": "ord_9"}, statsT0)
	if err != nil {
		t.Fatal(err)
	}
	garbage := other
	garbage.ID, garbage.Type, garbage.Data = "evt_garbage", order.EventPaid, []byte(`{"items":"nope"}`)
	c.apply(e1.paid("ord_1", "shp_1", false, e1.item("brd_a", 1, 1000, 0)),
		e2.paid("ord_2", "shp_1", false, e2.item("brd_a", 2, 1500, 1000)), other, garbage)
	if got, want := c.totals("str_1", ""), (report.Totals{Currency: "EUR", Orders: 1, GMV: 1000, Units: 1, Buyers: 1}); got != want {
		t.Errorf("str_1 %+v, want %+v", got, want)
	}
	if got, want := c.totals("str_2", ""), (report.Totals{Currency: "JPY", Orders: 1, GMV: 3000, Units: 2, Buyers: 1, Commission: 300}); got != want {
		t.Errorf("str_2 %+v, want %+v", got, want)
	}
	tot, found, err := c.store.Totals(context.Background(), "str_3", "")
	if err != nil || found || tot != (report.Totals{}) {
		t.Errorf("a stream without sales: %+v, %v, %v", tot, found, err)
	}
	tot, found, err = c.store.Totals(context.Background(), "str_1", "")
	if err != nil || !found || !tot.UpdatedAt.Equal(statsT0.Add(time.Second)) {
		t.Errorf("updated_at %v (found %v, %v), want the paid event's time %v", tot.UpdatedAt, found, err, statsT0.Add(time.Second))
	}
}
