package storage_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/storage"
)

// A flash pin shows the units a buyer can still get: when the product's
// stock runs below the pin's allocation (a brand's cut, sales outside the
// flash sale), its viewers are told the lower figure, and the higher one
// again when stock comes back. Changes that leave the figure as it was
// write no event.
func TestFlashPinShowsWhatStockAllows(t *testing.T) {
	w := newOrderWorld(t, 2)
	ctx := context.Background()
	cat := catalog.NewService(storage.NewCatalogStore(w.db, w.out), w.clock.Now)
	red, pink := w.prodF.Variants[0], w.prodF.Variants[1] // 1000 each; the pin has 100
	set := func(v catalog.Variant, n int64) func() {
		return func() {
			if _, err := cat.ChangeStock(ctx, w.brandA, v.ID, catalog.StockChange{Set: &n}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add := func(v catalog.Variant, n int64) func() {
		return func() {
			if _, err := cat.ChangeStock(ctx, w.brandA, v.ID, catalog.StockChange{Delta: &n}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var outside order.Order // an order of the product at its catalog price, outside the flash sale
	steps := []struct {
		name  string
		do    func()
		told  []int64 // the flash.stock events the step writes
		shown int64   // the pin's remaining in the stream
	}{
		{"a cut that leaves more than the allocation", set(pink, 0), nil, 100},
		{"a cut below the allocation", set(red, 30), []int64{30}, 30},
		{"a sale outside the flash sale", func() {
			outside = w.mustPlace(w.shoppers[0], "", order.NewItem{VariantID: red.ID, Quantity: 10})
		}, []int64{20}, 20},
		{"its cancellation", func() {
			if _, err := w.svc.Cancel(ctx, w.shoppers[0], outside.ID); err != nil {
				t.Fatal(err)
			}
		}, []int64{30}, 30},
		{"a flash sale order", func() {
			w.mustPlace(w.shoppers[1], w.flash.ID, order.NewItem{VariantID: red.ID, Quantity: 1})
		}, []int64{29}, 29},
		{"a restock above the allocation", add(pink, 500), []int64{99}, 99},
		{"a restock that changes nothing shown", add(red, 5), nil, 99},
	}
	seen := len(w.events(order.EventFlashStock))
	for _, s := range steps {
		s.do()
		var told []int64
		for _, raw := range w.events(order.EventFlashStock)[seen:] {
			var p order.FlashStockPayload
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			if p.PinID != w.flash.ID {
				t.Fatalf("%s: an event for pin %s", s.name, p.PinID)
			}
			told = append(told, p.Remaining)
			seen++
		}
		if !slices.Equal(told, s.told) {
			t.Errorf("%s: flash.stock events say %v, want %v", s.name, told, s.told)
		}
		_, pins, err := w.live.GetStream(ctx, w.stream.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := shownRemaining(pins, w.flash.ID); got != s.shown {
			t.Errorf("%s: the stream shows %d left, want %d", s.name, got, s.shown)
		}
	}
	if got := w.flashRemaining(); got != 99 {
		t.Errorf("the pin's allocation is %d, want 99: only its own order takes from it", got)
	}
}

// A flash sale order takes stock that another stream's flash pin of the
// same product shows: that pin's viewers are told too.
func TestFlashOrderTellsOtherPinsOfTheProduct(t *testing.T) {
	w := newOrderWorld(t, 1)
	ctx := context.Background()
	red := w.prodF.Variants[0]
	cat := catalog.NewService(storage.NewCatalogStore(w.db, w.out), w.clock.Now)
	for v, n := range map[string]int64{red.ID: 50, w.prodF.Variants[1].ID: 0} {
		if _, err := cat.ChangeStock(ctx, w.brandA, v, catalog.StockChange{Set: &n}); err != nil {
			t.Fatal(err)
		}
	}
	other, err := w.live.CreateStream(ctx, w.creator, live.NewStream{Title: "Late show", Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.live.AddToLineup(ctx, w.brandA, other.ID, w.prodF.ID, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := w.live.StartStream(ctx, w.creator, other.ID); err != nil {
		t.Fatal(err)
	}
	pin, err := w.live.PinProduct(ctx, w.brandA, other.ID, live.NewPin{ProductID: w.prodF.ID, Flash: &live.NewFlash{
		Price: money.Money{Amount: 1500, Currency: "EUR"}, Quantity: 50, EndsAt: w.clock.Now().Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	w.mustPlace(w.shoppers[0], w.flash.ID, order.NewItem{VariantID: red.ID, Quantity: 2})

	last := map[string]int64{}
	for _, raw := range w.events(order.EventFlashStock) {
		var p order.FlashStockPayload
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		last[p.PinID] = p.Remaining
	}
	if last[w.flash.ID] != 48 || last[pin.ID] != 48 {
		t.Fatalf("last flash.stock events: this stream's pin %d, the other's %d; want 48 and 48", last[w.flash.ID], last[pin.ID])
	}
}

// shownRemaining is what the stream's payload says is left of pinID, or -1.
func shownRemaining(pins []live.Pin, pinID string) int64 {
	for _, p := range pins {
		if p.ID == pinID {
			if f := live.PinPayloadOf(p).Flash; f != nil {
				return f.Remaining
			}
		}
	}
	return -1
}
