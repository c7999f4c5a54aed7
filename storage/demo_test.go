package storage_test

import (
	"context"
	"strings"
	"testing"

	"github.com/daihuo/daihuo/domain/demo"
	"github.com/daihuo/daihuo/domain/party"
)

func TestDemoSeedIsIdempotent(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	first, err := demo.Seed(ctx, e.tx, e.parties, e.catalog)
	if err != nil {
		t.Fatal(err)
	}
	tables := []string{"brands", "agencies", "creators", "shoppers", "products", "variants"}
	counts := map[string]int64{}
	for _, table := range tables {
		counts[table] = e.count(t, table)
	}
	if counts["brands"] != 2 || counts["agencies"] != 1 || counts["creators"] != 2 || counts["shoppers"] != 1 || counts["products"] != 10 {
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

	second, err := demo.Seed(ctx, e.tx, e.parties, e.catalog)
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
	if err := second.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{second.AdminToken, "Maison Lumière", "@mia.live", "EUR 89.00", "JPY 18000", "KUMO-HINOKI-L"} {
		if !strings.Contains(out.String(), s) {
			t.Fatalf("Print output lacks %q:\n%s", s, out.String())
		}
	}
}
