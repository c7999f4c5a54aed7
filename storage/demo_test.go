package storage_test

import (
	"context"
	"strings"
	"testing"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/demo"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/storage"
)

// demoServices returns a live-room service on e's database and the
// services the demo seed runs on.
func (e *pcEnv) demoServices() (*live.Service, demo.Services) {
	lv := live.NewService(storage.NewLiveStore(e.db), storage.NewPartyStore(e.db), storage.NewCatalogStore(e.db, storage.NewOutbox(e.db, "")), storage.NewOutbox(e.db, ""), e.tx, e.clock.Now)
	return lv, demo.Services{Parties: e.parties, Catalog: e.catalog, Live: lv, Now: e.clock.Now}
}

func TestDemoSeedIsIdempotent(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	_, svc := e.demoServices()
	first, err := demo.Seed(ctx, e.tx, svc)
	if err != nil {
		t.Fatal(err)
	}
	tables := []string{"brands", "agencies", "creators", "shoppers", "products", "variants", "streams", "lineup_items", "pins"}
	counts := map[string]int64{}
	for _, table := range tables {
		counts[table] = e.count(t, table)
	}
	if counts["brands"] != 2 || counts["agencies"] != 1 || counts["creators"] != 2 || counts["shoppers"] != 1 || counts["products"] != 10 ||
		counts["streams"] != 1 || counts["lineup_items"] != 5 || counts["pins"] != 1 {
		t.Fatalf("after one seed: %v", counts)
	}
	currencies := map[string]bool{}
	for _, b := range first.Brands {
		if len(b.Products) < 4 || len(b.Products) > 6 {
			t.Fatalf("brand %s has %d products", b.Brand.Name, len(b.Products))
		}
		for _, p := range b.Products {
			if len(p.Variants) < 2 {
				t.Fatalf("product %s has %d variants", p.Title, len(p.Variants))
			}
			currencies[p.Currency()] = true
		}
	}
	if !currencies["EUR"] || !currencies["JPY"] {
		t.Fatalf("currencies %v, want EUR and JPY", currencies)
	}

	second, err := demo.Seed(ctx, e.tx, svc)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		if n := e.count(t, table); n != counts[table] {
			t.Errorf("%s: %d rows after the second seed, %d after the first", table, n, counts[table])
		}
	}
	if second.Brands[0].Brand != first.Brands[0].Brand || second.Agency != first.Agency || second.Creators[1].Creator != first.Creators[1].Creator || second.Shopper != first.Shopper {
		t.Fatal("the second seed returned other parties")
	}
	if len(second.Brands[1].Products) != len(first.Brands[1].Products) {
		t.Fatal("the second seed returned other products")
	}
	if second.Show.Stream.ID != first.Show.Stream.ID || second.Show.Flash.ID != first.Show.Flash.ID {
		t.Fatalf("the second seed made another show: %s/%s, first %s/%s", second.Show.Stream.ID, second.Show.Flash.ID, first.Show.Stream.ID, first.Show.Flash.ID)
	}

	// Every token of both runs acts for its party.
	for _, r := range []demo.Result{first, second} {
		want := map[string]party.Principal{
			r.AdminToken:   {Role: party.RoleAdmin},
			r.AgencyToken:  {Role: party.RoleAgency, PartyID: r.Agency.ID},
			r.ShopperToken: {Role: party.RoleShopper, PartyID: r.Shopper.ID},
		}
		for _, b := range r.Brands {
			want[b.Token] = party.Principal{Role: party.RoleBrand, PartyID: b.Brand.ID}
		}
		for _, c := range r.Creators {
			want[c.Token] = party.Principal{Role: party.RoleCreator, PartyID: c.Creator.ID}
			if c.Creator.AgencyID != r.Agency.ID {
				t.Fatalf("creator %s is not in the demo agency", c.Creator.Handle)
			}
		}
		if len(want) != 7 {
			t.Fatalf("%d distinct tokens, want 7", len(want))
		}
		for tok, p := range want {
			got, err := e.parties.Authenticate(ctx, tok)
			if err != nil || got != p {
				t.Fatalf("Authenticate = %+v, %v; want %+v", got, err, p)
			}
		}
	}

	var out strings.Builder
	if err := second.Print(&out, "http://127.0.0.1:8080"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{second.AdminToken, "Maison Lumière", "@mia.live", "EUR 89.00", "JPY 18000", "KUMO-HINOKI-L",
		"http://127.0.0.1:8080/watch/" + second.Show.Stream.ID, "EUR 59.00", "50 of 50 left", "4242 4242 4242 4242"} {
		if !strings.Contains(out.String(), s) {
			t.Fatalf("Print output lacks %q:\n%s", s, out.String())
		}
	}
}

// The demo show is on air with a flash sale that sells; a seed after the
// sale ended pins a new one on the same show, and a seed after the show
// ended starts another.
func TestDemoShowIsLiveWithAFlashSale(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	lv, svc := e.demoServices()
	seed := func() demo.Show {
		t.Helper()
		res, err := demo.Seed(ctx, e.tx, svc)
		if err != nil {
			t.Fatal(err)
		}
		return res.Show
	}

	show := seed()
	st, pins, err := lv.GetStream(ctx, show.Stream.ID)
	if err != nil {
		t.Fatal(err)
	}
	lineup, err := lv.Lineup(ctx, party.Principal{Role: party.RoleAdmin}, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	f := show.Flash.Flash
	switch {
	case st.Status != live.StatusLive || st.Title != demo.ShowTitle || st.Currency != "EUR":
		t.Fatalf("show stream = %+v, want live, titled %q, in EUR", st, demo.ShowTitle)
	case len(lineup) != 5 || lineup[0].CommissionBPS != demo.ShowCommissionBPS:
		t.Fatalf("line-up = %+v, want the 5 Lumière products at %d bps", lineup, demo.ShowCommissionBPS)
	case len(pins) != 1 || pins[0].ID != show.Flash.ID || f == nil:
		t.Fatalf("pins on screen = %+v, want the flash pin %s alone", pins, show.Flash.ID)
	case f.Price.String() != "EUR 59.00" || f.Quantity != demo.FlashQuantity || f.Remaining != demo.FlashQuantity ||
		f.PerBuyerLimit != demo.FlashPerBuyer || !f.EndsAt.Equal(e.clock.Now().Add(demo.FlashLength)):
		t.Fatalf("flash sale = %+v", *f)
	case show.Flash.Product.Title != "Silk Twill Scarf 90 × 90":
		t.Fatalf("flash product = %q", show.Flash.Product.Title)
	}

	e.clock.mu.Lock()
	e.clock.now = f.EndsAt
	e.clock.mu.Unlock()
	again := seed()
	if again.Stream.ID != show.Stream.ID || again.Flash.ID == show.Flash.ID || !again.Flash.Flash.Active(e.clock.Now()) {
		t.Fatalf("after the sale ended: show %s pin %s (active %v), want show %s with a new selling pin",
			again.Stream.ID, again.Flash.ID, again.Flash.Flash.Active(e.clock.Now()), show.Stream.ID)
	}

	// What happened on the show since stays: a commission the brand raised
	// while live, and the shelf a sale emptied. A new sale offers what is
	// left, one unit included, and none once nothing is.
	brand := party.Principal{Role: party.RoleBrand, PartyID: show.Flash.BrandID}
	raised := lineup[1].ProductID
	if _, err := lv.AddToLineup(ctx, brand, show.Stream.ID, raised, 2000); err != nil {
		t.Fatal(err)
	}
	setScarf := func(units []int64) {
		t.Helper()
		for i, v := range show.Flash.Product.Variants {
			if _, err := e.catalog.ChangeStock(ctx, brand, v.ID, catalog.StockChange{Set: &units[i]}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		units       []int64 // of the scarf's three variants
		sale, limit int64   // the new sale's quantity and per-buyer limit; 0: no sale
	}{
		{[]int64{20, 15, 10}, 45, 2},
		{[]int64{0, 1, 0}, 1, 1},
		{[]int64{0, 0, 0}, 0, 0},
	} {
		setScarf(tc.units)
		e.clock.mu.Lock()
		e.clock.now = e.clock.now.Add(demo.FlashLength)
		e.clock.mu.Unlock()
		got := seed()
		switch f := got.Flash.Flash; {
		case tc.sale == 0 && f != nil:
			t.Fatalf("with the scarf gone, a sale of %d was pinned", f.Quantity)
		case tc.sale > 0 && (f == nil || f.Quantity != tc.sale || f.PerBuyerLimit != tc.limit):
			t.Fatalf("with %v units of the scarf: sale %+v, want %d units, %d per buyer", tc.units, f, tc.sale, tc.limit)
		}
		lineup, err := lv.Lineup(ctx, e.admin, show.Stream.ID)
		if err != nil || len(lineup) != 5 || lineup[1].CommissionBPS != 2000 {
			t.Fatalf("line-up after seeding again: %+v, %v; want the raised 20 %%", lineup, err)
		}
	}

	host := party.Principal{Role: party.RoleCreator, PartyID: show.Stream.CreatorID}
	if _, err := lv.EndStream(ctx, host, show.Stream.ID); err != nil {
		t.Fatal(err)
	}
	next := seed()
	if next.Stream.ID == show.Stream.ID || next.Stream.Status != live.StatusLive {
		t.Fatalf("after the show ended: stream %s %s, want a new live one", next.Stream.ID, next.Stream.Status)
	}
	if n := e.count(t, "streams"); n != 2 {
		t.Fatalf("%d streams, want 2", n)
	}
}

// A seed leaves the show's line-up as the host and the brand changed it: a
// product the host took out stays out (and is not pinned again), one the
// brand withdrew after raising its commission stays withdrawn.
func TestDemoSeedKeepsLineupChanges(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	lv, svc := e.demoServices()
	first, err := demo.Seed(ctx, e.tx, svc)
	if err != nil {
		t.Fatal(err)
	}
	st, products := first.Show.Stream.ID, first.Brands[0].Products
	host := party.Principal{Role: party.RoleCreator, PartyID: first.Creators[0].Creator.ID}
	brand := party.Principal{Role: party.RoleBrand, PartyID: first.Brands[0].Brand.ID}
	if err := lv.RemoveFromLineup(ctx, host, st, products[0].ID); err != nil { // the scarf on flash sale
		t.Fatal(err)
	}
	if _, err := lv.AddToLineup(ctx, brand, st, products[1].ID, 3000); err != nil {
		t.Fatal(err)
	}
	if err := lv.RemoveFromLineup(ctx, brand, st, products[1].ID); err != nil {
		t.Fatal(err)
	}

	second, err := demo.Seed(ctx, e.tx, svc)
	if err != nil {
		t.Fatalf("seed after line-up changes: %v", err)
	}
	if second.Show.Stream.ID != st || second.Show.Flash.ID != "" {
		t.Errorf("second seed: show %s, flash pin %q; want show %s without a flash sale", second.Show.Stream.ID, second.Show.Flash.ID, st)
	}
	lineup, err := lv.Lineup(ctx, host, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range lineup {
		if v.ProductID == products[0].ID || v.ProductID == products[1].ID {
			t.Errorf("the seed offered %s again", v.ProductID)
		}
	}
	if len(lineup) != len(products)-2 {
		t.Errorf("%d products offered after the second seed, want %d", len(lineup), len(products)-2)
	}
	if _, pins, err := lv.GetStream(ctx, st); err != nil || len(pins) != 0 {
		t.Errorf("pins on screen after the second seed: %d, %v", len(pins), err)
	}
}
