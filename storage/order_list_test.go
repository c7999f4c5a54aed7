package storage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/party"
)

// Lists of orders narrowed by status, stream and time, for each kind of
// caller, across pages.
func TestListOrdersFilters(t *testing.T) {
	w := newOrderWorld(t, 2)
	ctx := context.Background()
	a, b := w.prodA.Variants[0], w.prodB.Variants[0]
	shopper0, shopper1 := w.shoppers[0], w.shoppers[1]

	// A second live stream that offers brand B's mug.
	other, err := w.live.CreateStream(ctx, w.creator, live.NewStream{Title: "Late show", Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.live.AddToLineup(ctx, w.brandB, other.ID, w.prodB.ID, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := w.live.StartStream(ctx, w.creator, other.ID); err != nil {
		t.Fatal(err)
	}

	t0 := w.clock.Now()
	paid := w.mustPlace(shopper0, "", item(a, 1))
	if err := w.pay(paid, "4242424242424242"); err != nil {
		t.Fatal(err)
	}
	w.clock.Add(time.Second)
	pending := w.mustPlace(shopper0, "", item(b, 1))
	w.clock.Add(time.Second)
	cancelled, err := w.svc.PlaceOrder(ctx, shopper1, order.NewOrder{StreamID: other.ID, Items: []order.NewItem{item(b, 2)}, Shipping: w.shipping()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Cancel(ctx, shopper1, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	w.clock.Add(time.Second)
	both := w.mustPlace(shopper0, "", item(a, 1), item(b, 1))

	for _, tc := range []struct {
		name string
		who  party.Principal
		q    order.Query
		want []order.Order
	}{
		{"admin, paid", w.admin, order.Query{Status: order.StatusPaid}, []order.Order{paid}},
		{"admin, pending", w.admin, order.Query{Status: order.StatusPendingPayment}, []order.Order{both, pending}},
		{"admin, the other stream", w.admin, order.Query{StreamID: other.ID}, []order.Order{cancelled}},
		{"admin, from the second order on", w.admin, order.Query{From: t0.Add(time.Second)}, []order.Order{both, cancelled, pending}},
		{"shopper, a window of two seconds", shopper0, order.Query{From: t0.Add(time.Second), To: t0.Add(3 * time.Second)}, []order.Order{pending}},
		{"shopper, cancelled (another's)", shopper0, order.Query{Status: order.StatusCancelled}, nil},
		{"brand B, pending", w.brandB, order.Query{Status: order.StatusPendingPayment}, []order.Order{both, pending}},
		{"brand B, the other stream", w.brandB, order.Query{StreamID: other.ID}, []order.Order{cancelled}},
		{"brand B, from the third second", w.brandB, order.Query{From: t0.Add(2 * time.Second)}, []order.Order{both, cancelled}},
		{"brand A, the other stream", w.brandA, order.Query{StreamID: other.ID}, nil},
		{"brand A, paid before the second order", w.brandA, order.Query{Status: order.StatusPaid, To: t0.Add(time.Second)}, []order.Order{paid}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One order a page, so the cursor carries the filters across pages.
			var got []string
			pg := order.Page{Limit: 1}
			for range 10 {
				res, err := w.svc.ListOrders(ctx, tc.who, pg, tc.q)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range res.Items {
					got = append(got, o.ID)
				}
				if res.NextCursor == "" {
					break
				}
				pg.Cursor = res.NextCursor
			}
			var want []string
			for _, o := range tc.want {
				want = append(want, o.ID)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}

	for _, tc := range []struct {
		q     order.Query
		field string
	}{
		{order.Query{Status: "shipped"}, "status"},
		{order.Query{StreamID: "str_nope"}, "stream_id"},
		{order.Query{StreamID: cancelled.ID}, "stream_id"},
		{order.Query{From: t0, To: t0}, "to"},
		{order.Query{From: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)}, "from"},
		{order.Query{To: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "to"},
	} {
		_, err := w.svc.ListOrders(ctx, w.admin, order.Page{}, tc.q)
		wantCode(t, err, errs.CodeValidation)
		if ve, ok := err.(*errs.ValidationError); !ok || len(ve.Fields) != 1 || ve.Fields[0].Field != tc.field {
			t.Errorf("%+v: %v, want an error on %s alone", tc.q, err, tc.field)
		}
	}
}

// TestFindByIdempotencyKeyGrouped looks up many shoppers' keys at once, so
// they share reads: each finds its own order, or none.
func TestFindByIdempotencyKeyGrouped(t *testing.T) {
	w := newOrderWorld(t, 4)
	placed := map[string]string{} // shopper id + key → order id
	for i, sh := range w.shoppers[:2] {
		o, err := w.svc.PlaceOrder(context.Background(), sh, order.NewOrder{StreamID: w.stream.ID, IdempotencyKey: fmt.Sprintf("key-%d", i),
			Items: []order.NewItem{{VariantID: w.prodB.Variants[0].ID, Quantity: 1}}, Shipping: w.shipping()})
		if err != nil {
			t.Fatal(err)
		}
		placed[sh.PartyID+" "+o.IdempotencyKey] = o.ID
	}
	var wg sync.WaitGroup
	for _, sh := range w.shoppers {
		for key := range placed {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, k, _ := strings.Cut(key, " ")
				o, err := w.store.FindByIdempotencyKey(context.Background(), sh.PartyID, k)
				want := placed[sh.PartyID+" "+k]
				switch {
				case want == "" && !errors.Is(err, errs.ErrNotFound):
					t.Errorf("%s under %s's key: %v, %v; want not found", sh.PartyID, k, o.ID, err)
				case want != "" && (err != nil || o.ID != want || o.ShopperID != sh.PartyID):
					t.Errorf("%s under its key: %v, %v; want %s", sh.PartyID, o.ID, err, want)
				}
			}()
		}
	}
	wg.Wait()
}
