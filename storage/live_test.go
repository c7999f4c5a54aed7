package storage_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
)

// liveWorld is a live service on a fresh database with two brands, an
// agency with a creator, and a stream of that creator.
type liveWorld struct {
	db              *gorm.DB
	svc             *live.Service
	brandA, brandB  party.Principal
	agency, creator party.Principal
	prodA, prodB    catalog.Product
	stream          live.Stream
	now             time.Time
}

func newLiveWorld(t *testing.T) *liveWorld {
	t.Helper()
	ctx := context.Background()
	db := storagetest.NewDB(t)
	w := &liveWorld{db: db, now: time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return w.now }
	tx := storage.NewTransactor(db)
	parties := storage.NewPartyStore(db)
	ps := party.NewService(parties, storage.NewTokenStore(db), tx, clock)
	cat := catalog.NewService(storage.NewCatalogStore(db, storage.NewOutbox(db, "")), clock)
	admin := party.Principal{Role: party.RoleAdmin}
	mustDo := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ba, err := ps.CreateBrand(ctx, admin, "Brand A")
	mustDo(err)
	bb, err := ps.CreateBrand(ctx, admin, "Brand B")
	mustDo(err)
	ag, err := ps.CreateAgency(ctx, admin, "Agency")
	mustDo(err)
	cr, err := ps.CreateCreator(ctx, admin, party.NewCreator{Handle: "host", DisplayName: "Host", AgencyID: ag.ID})
	mustDo(err)
	w.brandA = party.Principal{Role: party.RoleBrand, PartyID: ba.ID}
	w.brandB = party.Principal{Role: party.RoleBrand, PartyID: bb.ID}
	w.agency = party.Principal{Role: party.RoleAgency, PartyID: ag.ID}
	w.creator = party.Principal{Role: party.RoleCreator, PartyID: cr.ID}
	product := func(p party.Principal, sku string) catalog.Product {
		prod, err := cat.CreateProduct(ctx, p, catalog.NewProduct{Title: "Product " + sku, Variants: []catalog.NewVariant{
			{SKU: sku, Title: "One", Price: money.Money{Amount: 1999, Currency: "EUR"}, Stock: 50},
		}})
		mustDo(err)
		return prod
	}
	w.prodA, w.prodB = product(w.brandA, "A-1"), product(w.brandB, "B-1")
	w.svc = live.NewService(storage.NewLiveStore(db), parties, storage.NewCatalogStore(db, storage.NewOutbox(db, "")), storage.NewOutbox(db, ""), tx, clock)
	w.stream, err = w.svc.CreateStream(ctx, w.agency, live.NewStream{CreatorID: cr.ID, Title: "Friday drop", Currency: "EUR"})
	mustDo(err)
	return w
}

// goLive puts brand A's product in the stream's line-up at bps and starts
// the stream as starter.
func (w *liveWorld) goLive(t *testing.T, bps int, starter party.Principal) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.svc.AddToLineup(ctx, w.brandA, w.stream.ID, w.prodA.ID, bps); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.StartStream(ctx, starter, w.stream.ID); err != nil {
		t.Fatal(err)
	}
}

func (w *liveWorld) outboxTypes(t *testing.T) []string {
	t.Helper()
	var types []string
	if err := w.db.Raw("SELECT event_type FROM outbox ORDER BY id").Scan(&types).Error; err != nil {
		t.Fatal(err)
	}
	return types
}

func wantCode(t *testing.T, err error, code errs.Code) {
	t.Helper()
	var e *errs.Error
	var ve *errs.ValidationError
	switch {
	case errors.As(err, &e) && e.Code == code:
	case errors.As(err, &ve) && code == errs.CodeValidation:
	default:
		t.Fatalf("err = %v, want code %s", err, code)
	}
}

func TestLiveStreamLifecycleAndPins(t *testing.T) {
	ctx := context.Background()
	w := newLiveWorld(t)
	if _, err := w.svc.AddToLineup(ctx, w.brandA, w.stream.ID, w.prodA.ID, 1500); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.AddToLineup(ctx, w.brandB, w.stream.ID, w.prodB.ID, 1000); err != nil {
		t.Fatal(err)
	}
	// Another brand's product cannot enter the line-up.
	_, err := w.svc.AddToLineup(ctx, w.brandA, w.stream.ID, w.prodB.ID, 1000)
	wantCode(t, err, errs.CodeValidation)

	// Pins only while live.
	_, err = w.svc.PinProduct(ctx, w.brandA, w.stream.ID, live.NewPin{ProductID: w.prodA.ID})
	wantCode(t, err, errs.CodeInvalidState)
	// Brand B cannot start the stream; it is not its stream (404).
	_, err = w.svc.StartStream(ctx, w.brandB, w.stream.ID)
	wantCode(t, err, errs.CodeNotFound)
	if _, err := w.svc.StartStream(ctx, w.creator, w.stream.ID); err != nil {
		t.Fatal(err)
	}

	// Brand A may not pin brand B's product; the host may pin any line-up product.
	w.now = w.now.Add(10 * time.Second)
	_, err = w.svc.PinProduct(ctx, w.brandA, w.stream.ID, live.NewPin{ProductID: w.prodB.ID})
	wantCode(t, err, errs.CodeValidation)
	var pins []live.Pin
	for i := 0; i < 4; i++ {
		w.now = w.now.Add(time.Second)
		by, prod := w.creator, w.prodB
		if i%2 == 0 {
			by, prod = w.brandA, w.prodA
		}
		pin, err := w.svc.PinProduct(ctx, by, w.stream.ID, live.NewPin{ProductID: prod.ID})
		if err != nil {
			t.Fatalf("pin %d: %v", i, err)
		}
		pins = append(pins, pin)
	}
	if pins[0].OffsetMS != 11_000 {
		t.Fatalf("first pin offset = %d ms, want 11000", pins[0].OffsetMS)
	}
	_, active, err := w.svc.GetStream(ctx, w.stream.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != live.MaxActivePins || active[0].ID != pins[1].ID {
		t.Fatalf("active pins = %d starting %s, want %d starting with the second pin", len(active), active[0].ID, live.MaxActivePins)
	}
	if active[0].Product.ID == "" {
		t.Fatal("pins are returned without their product")
	}

	// Brand B cannot unpin brand A's pin; brand A can.
	wantCode(t, w.svc.Unpin(ctx, w.brandB, w.stream.ID, pins[2].ID), errs.CodeNotFound)
	w.now = w.now.Add(time.Second)
	if err := w.svc.Unpin(ctx, w.brandA, w.stream.ID, pins[2].ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, w.svc.Unpin(ctx, w.brandA, w.stream.ID, pins[2].ID), errs.CodeNotFound)

	// Ending removes the remaining pins; an ended stream takes no pins.
	w.now = w.now.Add(time.Second)
	if _, err := w.svc.EndStream(ctx, w.agency, w.stream.ID); err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.PinProduct(ctx, w.creator, w.stream.ID, live.NewPin{ProductID: w.prodA.ID})
	wantCode(t, err, errs.CodeInvalidState)

	tl, err := w.svc.Timeline(ctx, w.stream.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl) != 8 {
		t.Fatalf("timeline has %d entries, want 4 pins and 4 unpins", len(tl))
	}
	for i := 1; i < len(tl); i++ {
		if tl[i].At.Before(tl[i-1].At) || tl[i].OffsetMS < tl[i-1].OffsetMS {
			t.Fatalf("timeline out of order at %d", i)
		}
	}
	want := []string{live.EventStreamStarted, live.EventPinAdded, live.EventPinAdded, live.EventPinAdded,
		live.EventPinRemoved, live.EventPinAdded, live.EventPinRemoved, live.EventPinRemoved, live.EventPinRemoved, live.EventStreamEnded}
	got := w.outboxTypes(t)
	if len(got) != len(want) {
		t.Fatalf("outbox = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("outbox[%d] = %s, want %s (all: %v)", i, got[i], want[i], got)
		}
	}
}

func TestFlashPinAndAccess(t *testing.T) {
	ctx := context.Background()
	w := newLiveWorld(t)
	w.goLive(t, 1500, w.agency)
	// No more units than the product has in stock (50).
	flash := &live.NewFlash{Price: money.Money{Amount: 999, Currency: "EUR"}, Quantity: 51, PerBuyerLimit: 2, EndsAt: w.now.Add(5 * time.Minute)}
	_, err := w.svc.PinProduct(ctx, w.brandA, w.stream.ID, live.NewPin{ProductID: w.prodA.ID, Flash: flash})
	var ve *errs.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != "flash.quantity" {
		t.Fatalf("a flash sale of 51 units with 50 in stock: %v", err)
	}
	flash.Quantity = 40
	pin, err := w.svc.PinProduct(ctx, w.brandA, w.stream.ID, live.NewPin{ProductID: w.prodA.ID, Flash: flash})
	if err != nil {
		t.Fatal(err)
	}
	_, active, err := w.svc.GetStream(ctx, w.stream.ID)
	if err != nil {
		t.Fatal(err)
	}
	f := active[0].Flash
	if active[0].ID != pin.ID || f == nil || f.Remaining != 40 || f.PerBuyerLimit != 2 || f.Price.Amount != 999 {
		t.Fatalf("flash pin read back as %+v", active[0])
	}
	bad := *flash
	bad.Price.Currency = "JPY"
	_, err = w.svc.PinProduct(ctx, w.brandA, w.stream.ID, live.NewPin{ProductID: w.prodA.ID, Flash: &bad})
	wantCode(t, err, errs.CodeValidation)

	tests := []struct {
		name string
		p    party.Principal
		code errs.Code
	}{
		{"shopper", party.Principal{Role: party.RoleShopper, PartyID: "shp_x"}, errs.CodeNotFound},
		{"other creator", party.Principal{Role: party.RoleCreator, PartyID: "crt_x"}, errs.CodeNotFound},
		{"other agency", party.Principal{Role: party.RoleAgency, PartyID: "agy_x"}, errs.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.svc.EndStream(ctx, tt.p, w.stream.ID)
			wantCode(t, err, tt.code)
		})
	}
	// An admin may take any stream down.
	if _, err := w.svc.EndStream(ctx, party.Principal{Role: party.RoleAdmin}, w.stream.ID); err != nil {
		t.Fatal(err)
	}
}

// A full screen makes room with the oldest pin the pinner may take down: a
// brand only its own (never another brand's running flash sale), the host
// any; a brand facing only others' pins is refused.
func TestPinsMakeRoomOnlyWithTheirOwn(t *testing.T) {
	ctx := context.Background()
	w := newLiveWorld(t)
	for _, it := range []struct {
		p    party.Principal
		prod catalog.Product
	}{{w.brandA, w.prodA}, {w.brandB, w.prodB}} {
		if _, err := w.svc.AddToLineup(ctx, it.p, w.stream.ID, it.prod.ID, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.svc.StartStream(ctx, w.creator, w.stream.ID); err != nil {
		t.Fatal(err)
	}
	pin := func(p party.Principal, prod catalog.Product, flash bool) live.Pin {
		t.Helper()
		w.now = w.now.Add(time.Second)
		in := live.NewPin{ProductID: prod.ID}
		if flash {
			in.Flash = &live.NewFlash{Price: money.Money{Amount: 999, Currency: "EUR"}, Quantity: 10, EndsAt: w.now.Add(time.Hour)}
		}
		got, err := w.svc.PinProduct(ctx, p, w.stream.ID, in)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	screen := func() []string {
		t.Helper()
		_, active, err := w.svc.GetStream(ctx, w.stream.ID)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range active {
			ids = append(ids, p.ID)
		}
		return ids
	}

	sale := pin(w.brandA, w.prodA, true)
	b1, b2 := pin(w.brandB, w.prodB, false), pin(w.brandB, w.prodB, false)
	b3 := pin(w.brandB, w.prodB, false) // takes down b1, not brand A's flash sale
	if got := screen(); !slices.Equal(got, []string{sale.ID, b2.ID, b3.ID}) {
		t.Fatalf("after brand B's fourth pin: %v, want the flash sale %s, then %s and %s (b1 %s gone)", got, sale.ID, b2.ID, b3.ID, b1.ID)
	}

	// Brand A's flash sale leaves; brand B fills the screen; brand A is refused.
	w.now = w.now.Add(time.Second)
	if err := w.svc.Unpin(ctx, w.brandA, w.stream.ID, sale.ID); err != nil {
		t.Fatal(err)
	}
	b4 := pin(w.brandB, w.prodB, false)
	w.now = w.now.Add(time.Second)
	_, err := w.svc.PinProduct(ctx, w.brandA, w.stream.ID, live.NewPin{ProductID: w.prodA.ID})
	if !errors.Is(err, live.ErrScreenFull) {
		t.Fatalf("brand A pinning over three of brand B's: %v, want ErrScreenFull", err)
	}
	if got := screen(); !slices.Equal(got, []string{b2.ID, b3.ID, b4.ID}) {
		t.Fatalf("a refused pin changed the screen: %v", got)
	}
	// The host may take any down.
	host := pin(w.creator, w.prodA, false)
	if got := screen(); !slices.Equal(got, []string{b3.ID, b4.ID, host.ID}) {
		t.Fatalf("after the host's pin: %v", got)
	}
}

// While live, concurrent changes of one commission never end below the
// highest: each is checked and written under the stream's lock.
func TestLiveCommissionNeverCutByARace(t *testing.T) {
	ctx := context.Background()
	w := newLiveWorld(t)
	w.goLive(t, 1000, w.creator)
	for bps := 1000; bps < 4000; bps += 200 {
		var wg sync.WaitGroup
		for _, to := range []int{bps + 200, bps + 100} {
			wg.Go(func() {
				_, err := w.svc.AddToLineup(ctx, w.brandA, w.stream.ID, w.prodA.ID, to)
				if err != nil && !errors.Is(err, live.ErrCommissionCut) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		lineup, err := w.svc.Lineup(ctx, w.brandA, w.stream.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := lineup[0].CommissionBPS; got != bps+200 {
			t.Fatalf("raising %d to %d and %d at once left %d", bps, bps+200, bps+100, got)
		}
	}
}

// TestLineupRemoval: removal keeps the item as a record, unpins the
// product with pin.removed, and says who removed it; only a withdrawal by
// the brand can be undone, as a new offer (added now; during the show, at
// no lower commission).
func TestLineupRemoval(t *testing.T) {
	ctx := context.Background()
	w := newLiveWorld(t)
	store := storage.NewLiveStore(w.db)
	w.goLive(t, 1500, w.creator)
	if _, err := w.svc.PinProduct(ctx, w.brandA, w.stream.ID, live.NewPin{ProductID: w.prodA.ID}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, w.svc.RemoveFromLineup(ctx, w.brandB, w.stream.ID, w.prodA.ID), errs.CodeNotFound)

	w.now = w.now.Add(time.Minute)
	if err := w.svc.RemoveFromLineup(ctx, w.agency, w.stream.ID, w.prodA.ID); err != nil {
		t.Fatal(err)
	}
	types := w.outboxTypes(t)
	if last := types[len(types)-1]; last != live.EventPinRemoved {
		t.Errorf("last event %s, want %s", last, live.EventPinRemoved)
	}
	it, err := store.GetLineupItem(ctx, w.stream.ID, w.prodA.ID)
	if err != nil || it.Offered() || !it.RemovedByHost || !it.RemovedAt.Equal(w.now) {
		t.Fatalf("removed by the host: %+v, %v", it, err)
	}
	if pins, err := store.ActivePins(ctx, w.stream.ID); err != nil || len(pins) != 0 {
		t.Errorf("active pins after the removal: %v, %v", pins, err)
	}
	_, err = w.svc.AddToLineup(ctx, w.brandA, w.stream.ID, w.prodA.ID, 3000)
	wantCode(t, err, errs.CodeForbidden)

	// Brand B withdraws its own product and offers it again: not for less
	// while the show is on.
	if _, err := w.svc.AddToLineup(ctx, w.brandB, w.stream.ID, w.prodB.ID, 2000); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.RemoveFromLineup(ctx, w.brandB, w.stream.ID, w.prodB.ID); err != nil {
		t.Fatal(err)
	}
	if it, err := store.GetLineupItem(ctx, w.stream.ID, w.prodB.ID); err != nil || it.Offered() || it.RemovedByHost {
		t.Fatalf("withdrawn by its brand: %+v, %v", it, err)
	}
	w.now = w.now.Add(time.Minute)
	_, err = w.svc.AddToLineup(ctx, w.brandB, w.stream.ID, w.prodB.ID, 1000)
	wantCode(t, err, errs.CodeInvalidState)
	if _, err := w.svc.AddToLineup(ctx, w.brandB, w.stream.ID, w.prodB.ID, 2000); err != nil {
		t.Fatalf("offer again after withdrawing: %v", err)
	}
	reoffered := w.now
	w.now = w.now.Add(time.Minute)
	if _, err := w.svc.AddToLineup(ctx, w.brandB, w.stream.ID, w.prodB.ID, 2200); err != nil {
		t.Fatal(err)
	}
	it, err = store.GetLineupItem(ctx, w.stream.ID, w.prodB.ID)
	if err != nil || !it.Offered() || it.CommissionBPS != 2200 || !it.AddedAt.Equal(reoffered) {
		t.Errorf("offered again then raised: %+v, %v (want added at %s)", it, err, reoffered)
	}
	if err := store.RemoveLineupItem(ctx, w.stream.ID, w.prodA.ID, w.now, true); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("removing a removed item: %v, want not found", err)
	}
}
