package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/money"
)

// A flash sale is the brand's: the host pins products at their price only;
// a new sale of a product takes its running one off the screen; a sale's
// end takes its pin off the screen, with pin.removed for the players.
func TestFlashSalesAreTheBrands(t *testing.T) {
	ctx := context.Background()
	w := newLiveWorld(t)
	w.goLive(t, 1000, w.creator)
	sale := func(units int64, ends time.Duration) *live.NewFlash {
		return &live.NewFlash{Price: money.Money{Amount: 1, Currency: "EUR"}, Quantity: units, EndsAt: w.now.Add(ends).Add(123456789 * time.Nanosecond)}
	}
	active := func() map[string]live.Pin { // pins on screen by id
		t.Helper()
		_, pins, err := w.svc.GetStream(ctx, w.stream.ID)
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]live.Pin{}
		for _, p := range pins {
			byID[p.ID] = p
		}
		return byID
	}

	if _, err := w.svc.PinProduct(ctx, w.creator, w.stream.ID, live.NewPin{ProductID: w.prodA.ID, Flash: sale(10, time.Hour)}); !errors.Is(err, live.ErrFlashBrandOnly) {
		t.Fatalf("the host's flash sale of a brand's product = %v, want ErrFlashBrandOnly", err)
	}
	plain, err := w.svc.PinProduct(ctx, w.creator, w.stream.ID, live.NewPin{ProductID: w.prodA.ID})
	if err != nil {
		t.Fatalf("the host's pin at the catalog price: %v", err)
	}
	first, err := w.svc.PinProduct(ctx, w.brandA, w.stream.ID, live.NewPin{ProductID: w.prodA.ID, Flash: sale(10, time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got := active()[first.ID].Flash.EndsAt; !got.Equal(first.Flash.EndsAt) {
		t.Fatalf("the stream shows the sale ending %v, the pin's answer said %v", got, first.Flash.EndsAt)
	}
	second, err := w.svc.PinProduct(ctx, w.brandA, w.stream.ID, live.NewPin{ProductID: w.prodA.ID, Flash: sale(5, 2*time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got := active(); len(got) != 2 || got[plain.ID].ID == "" || got[second.ID].ID == "" {
		t.Fatalf("pins on screen after a second sale: %+v, want the plain pin and the second sale", got)
	}

	// At the first hour nothing has ended; past the second sale's end, it
	// comes off the screen, and only once however many nodes sweep.
	w.now = w.now.Add(time.Hour)
	if n, err := w.svc.EndFlashSales(ctx, 10); err != nil || n != 0 {
		t.Fatalf("EndFlashSales before any end = %d, %v", n, err)
	}
	w.now = w.now.Add(time.Hour + time.Second)
	if n, err := w.svc.EndFlashSales(ctx, 10); err != nil || n != 1 {
		t.Fatalf("EndFlashSales after the sale's end = %d, %v; want 1", n, err)
	}
	if n, err := w.svc.EndFlashSales(ctx, 10); err != nil || n != 0 {
		t.Fatalf("EndFlashSales again = %d, %v; want 0", n, err)
	}
	if got := active(); len(got) != 1 || got[plain.ID].ID == "" {
		t.Fatalf("pins on screen after the sale ended: %+v, want the plain pin", got)
	}
	removed := 0
	for _, typ := range w.outboxTypes(t) {
		if typ == live.EventPinRemoved {
			removed++
		}
	}
	if removed != 2 { // the replaced sale and the ended one
		t.Fatalf("%d pin.removed events, want 2", removed)
	}
}
