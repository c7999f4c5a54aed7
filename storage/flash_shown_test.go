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

	here, there := flashTold(t, w, w.flash.ID), flashTold(t, w, pin.ID)
	if len(here) == 0 || here[len(here)-1] != 48 || len(there) == 0 || there[len(there)-1] != 48 {
		t.Fatalf("flash.stock events: this stream's pin %v, the other's %v; want both to end at 48", here, there)
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

// Writers of different variants of one product, whose transactions
// overlap, each sum the product's stock: the viewers' last flash.stock
// event must still be the product's last state, whichever commits first.
func TestFlashStockLastEventAfterOverlappingWriters(t *testing.T) {
	for _, tt := range []struct {
		name   string
		second func(w *orderWorld, cs *storage.CatalogStore, pink catalog.Variant) error
		shown  int64 // red 0, and pink after the second writer
	}{
		{"a cut of another variant", func(w *orderWorld, cs *storage.CatalogStore, pink catalog.Variant) error {
			_, err := cs.SetStock(context.Background(), w.brandA.PartyID, pink.ID, 2)
			return err
		}, 2},
		{"a flash order of another variant", func(w *orderWorld, _ *storage.CatalogStore, pink catalog.Variant) error {
			_, err := w.place(w.shoppers[0], w.flash.ID, order.NewItem{VariantID: pink.ID, Quantity: 1})
			return err
		}, 4},
		{"a sale of another variant outside the flash sale", func(w *orderWorld, _ *storage.CatalogStore, pink catalog.Variant) error {
			_, err := w.place(w.shoppers[0], "", order.NewItem{VariantID: pink.ID, Quantity: 1})
			return err
		}, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newOrderWorld(t, 1)
			cs := storage.NewCatalogStore(w.db, w.out)
			if err := duringCut(t, w, cs, func() error { return tt.second(w, cs, w.prodF.Variants[1]) }); err != nil {
				t.Fatal(err)
			}
			_, pins, err := w.live.GetStream(context.Background(), w.stream.ID)
			if err != nil {
				t.Fatal(err)
			}
			want, told := shownRemaining(pins, w.flash.ID), flashTold(t, w, w.flash.ID)
			if want != tt.shown || len(told) == 0 || told[len(told)-1] != want {
				t.Fatalf("the stream shows %d left (want %d); the flash.stock events said %v", want, tt.shown, told)
			}
		})
	}
}

// A new flash pin of a product whose stock a brand cuts at the same time
// never shows more units than the cut leaves: it waits for the cut and is
// judged against what is left.
func TestNewFlashPinWaitsForStockCut(t *testing.T) {
	w := newOrderWorld(t, 1)
	var pin live.Pin
	err := duringCut(t, w, storage.NewCatalogStore(w.db, w.out), func() (err error) {
		pin, err = w.live.PinProduct(context.Background(), w.brandA, w.stream.ID, live.NewPin{ProductID: w.prodF.ID, Flash: &live.NewFlash{
			Price: money.Money{Amount: 1500, Currency: "EUR"}, Quantity: 8, EndsAt: w.clock.Now().Add(time.Hour)}})
		return err
	})
	if err == nil {
		t.Fatalf("a flash sale of 8 units was pinned with 5 left after the cut (it shows %d)", live.PinPayloadOf(pin).Flash.Remaining)
	}
	wantField(t, err, "flash.quantity")
}

// duringCut sets both variants of the flash product to 5, then runs second
// while another transaction holds the first variant's cut to 0 open, lets
// the cut commit once second waits for a lock (or is done), and returns
// second's error.
func duringCut(t *testing.T, w *orderWorld, cs *storage.CatalogStore, second func() error) error {
	t.Helper()
	ctx := context.Background()
	red, pink := w.prodF.Variants[0], w.prodF.Variants[1]
	for _, v := range []string{red.ID, pink.ID} {
		if _, err := cs.SetStock(ctx, w.brandA.PartyID, v, 5); err != nil {
			t.Fatal(err)
		}
	}
	cut, commit, first := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		first <- w.tx.InTx(ctx, func(ctx context.Context) error {
			if _, err := cs.SetStock(ctx, w.brandA.PartyID, red.ID, 0); err != nil {
				return err
			}
			close(cut)
			<-commit
			return nil
		})
	}()
	<-cut
	done := make(chan error, 1)
	go func() { done <- second() }()
	waitFor(t, "the second writer to wait for a lock or finish", func() bool {
		if len(done) > 0 {
			return true
		}
		var waiting int
		w.db.Raw(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		return waiting > 0
	})
	close(commit)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	return <-done
}

// flashTold returns what the flash.stock events of pinID said was left, in
// the order they were written.
func flashTold(t *testing.T, w *orderWorld, pinID string) []int64 {
	t.Helper()
	var told []int64
	for _, raw := range w.events(order.EventFlashStock) {
		var p order.FlashStockPayload
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if p.PinID == pinID {
			told = append(told, p.Remaining)
		}
	}
	return told
}
