package storage_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
)

// pcClock is a clock the party and catalog tests move by hand.
type pcClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *pcClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *pcClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// pcEnv is the parties and catalog services on a fresh database.
type pcEnv struct {
	db      *gorm.DB
	clock   *pcClock
	tx      *storage.Transactor
	parties *party.Service
	catalog *catalog.Service
	admin   party.Principal
}

func newPCEnv(t *testing.T) *pcEnv {
	t.Helper()
	db := storagetest.NewDB(t)
	clock := &pcClock{now: time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)}
	tx := storage.NewTransactor(db)
	return &pcEnv{
		db:      db,
		clock:   clock,
		tx:      tx,
		parties: party.NewService(storage.NewPartyStore(db), storage.NewTokenStore(db), tx, clock.Now),
		catalog: catalog.NewService(storage.NewCatalogStore(db, storage.NewOutbox(db, "")), clock.Now),
		admin:   party.Principal{Role: party.RoleAdmin},
	}
}

func (e *pcEnv) brand(t *testing.T, name string) party.Principal {
	t.Helper()
	b, err := e.parties.CreateBrand(context.Background(), e.admin, name)
	if err != nil {
		t.Fatal(err)
	}
	return party.Principal{Role: party.RoleBrand, PartyID: b.ID}
}

func (e *pcEnv) agency(t *testing.T, name string) party.Principal {
	t.Helper()
	a, err := e.parties.CreateAgency(context.Background(), e.admin, name)
	if err != nil {
		t.Fatal(err)
	}
	return party.Principal{Role: party.RoleAgency, PartyID: a.ID}
}

func (e *pcEnv) creator(t *testing.T, by party.Principal, handle string) party.Creator {
	t.Helper()
	c, err := e.parties.CreateCreator(context.Background(), by, party.NewCreator{Handle: handle, DisplayName: "Creator " + handle})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *pcEnv) count(t *testing.T, table string) int64 {
	t.Helper()
	var n int64
	if err := e.db.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// wantErr checks err against want: nil, a sentinel (errors.Is) or an errs
// code given as errs.Code.
func wantErr(t *testing.T, err error, want any) {
	t.Helper()
	switch w := want.(type) {
	case nil:
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
	case errs.Code:
		var e *errs.Error
		var ve *errs.ValidationError
		switch {
		case errors.As(err, &ve):
			if w != errs.CodeValidation {
				t.Fatalf("err = %v (validation), want code %s", err, w)
			}
		case errors.As(err, &e):
			if e.Code != w {
				t.Fatalf("err = %v (code %s), want code %s", err, e.Code, w)
			}
		default:
			t.Fatalf("err = %v, want code %s", err, w)
		}
	case error:
		if !errors.Is(err, w) {
			t.Fatalf("err = %v, want %v", err, w)
		}
	default:
		t.Fatalf("bad want %T", want)
	}
}

func TestPartyStoreRoundTrip(t *testing.T) {
	db := storagetest.NewDB(t)
	s := storage.NewPartyStore(db)
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

	b := party.Brand{ID: "brd_01JH0000000000000000000001", Name: "Maison", CreatedAt: now}
	a := party.Agency{ID: "agy_01JH0000000000000000000001", Name: "Starlight", CreatedAt: now}
	c1 := party.Creator{ID: "crt_01JH0000000000000000000001", Handle: "mia.live", DisplayName: "Mia", AgencyID: a.ID, CreatedAt: now}
	c2 := party.Creator{ID: "crt_01JH0000000000000000000002", Handle: "solo", DisplayName: "Solo", CreatedAt: now}
	s1 := party.Shopper{ID: "shp_01JH0000000000000000000001", DisplayName: "Ana", Email: "Ana@Example.com", CreatedAt: now}
	s2 := party.Shopper{ID: "shp_01JH0000000000000000000002", DisplayName: "Anonymous", CreatedAt: now}
	for _, err := range []error{
		s.CreateBrand(ctx, b), s.CreateAgency(ctx, a), s.CreateCreator(ctx, c1), s.CreateCreator(ctx, c2),
		s.CreateShopper(ctx, s1), s.CreateShopper(ctx, s2),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, got, want any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s = %+v, want %+v", name, got, want)
		}
	}
	gb, err := s.GetBrand(ctx, b.ID)
	check("GetBrand", gb, b, err)
	gb, err = s.FindBrandByName(ctx, "Maison")
	check("FindBrandByName", gb, b, err)
	ga, err := s.GetAgency(ctx, a.ID)
	check("GetAgency", ga, a, err)
	ga, err = s.FindAgencyByName(ctx, "Starlight")
	check("FindAgencyByName", ga, a, err)
	gc, err := s.GetCreator(ctx, c1.ID)
	check("GetCreator with agency", gc, c1, err)
	gc, err = s.GetCreator(ctx, c2.ID)
	check("GetCreator without agency", gc, c2, err)
	gc, err = s.FindCreatorByHandle(ctx, "solo")
	check("FindCreatorByHandle", gc, c2, err)
	gs, err := s.GetShopper(ctx, s1.ID)
	check("GetShopper with email", gs, s1, err)
	gs, err = s.GetShopper(ctx, s2.ID)
	check("GetShopper without email", gs, s2, err)
	gs, err = s.FindShopperByEmail(ctx, "ana@example.COM")
	check("FindShopperByEmail", gs, s1, err)

	notFound := map[string]error{}
	_, notFound["GetBrand"] = s.GetBrand(ctx, "brd_missing")
	_, notFound["FindBrandByName"] = s.FindBrandByName(ctx, "maison")
	_, notFound["GetAgency"] = s.GetAgency(ctx, "agy_missing")
	_, notFound["FindAgencyByName"] = s.FindAgencyByName(ctx, "nope")
	_, notFound["GetCreator"] = s.GetCreator(ctx, "crt_missing")
	_, notFound["FindCreatorByHandle"] = s.FindCreatorByHandle(ctx, "nope")
	_, notFound["GetShopper"] = s.GetShopper(ctx, "shp_missing")
	_, notFound["FindShopperByEmail"] = s.FindShopperByEmail(ctx, "nobody@example.com")
	for name, err := range notFound {
		if !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", name, err)
		}
	}

	dup := c2
	dup.ID = "crt_01JH0000000000000000000003"
	if err := s.CreateCreator(ctx, dup); !errors.Is(err, party.ErrHandleTaken) {
		t.Errorf("duplicate handle: err = %v, want ErrHandleTaken", err)
	}
	orphan := party.Creator{ID: "crt_01JH0000000000000000000004", Handle: "orphan", DisplayName: "O", AgencyID: "agy_missing", CreatedAt: now}
	if err := s.CreateCreator(ctx, orphan); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("unknown agency: err = %v, want ErrNotFound", err)
	}
}

func TestPartyServiceCreateRules(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	brand := e.brand(t, "Brand")
	ag := e.agency(t, "Agency")
	other := e.agency(t, "Other Agency")
	cr := e.creator(t, ag, "host")
	creator := party.Principal{Role: party.RoleCreator, PartyID: cr.ID}
	shopper := party.Principal{Role: party.RoleShopper, PartyID: "shp_01JH0000000000000000000001"}
	anon := party.Principal{}

	for _, tt := range []struct {
		name string
		p    party.Principal
		in   string
		want any
	}{
		{"admin", e.admin, "Nova", nil},
		{"admin bad name", e.admin, " ", errs.CodeValidation},
		{"brand", brand, "Nova", errs.ErrForbidden},
		{"agency", ag, "Nova", errs.ErrForbidden},
		{"creator", creator, "Nova", errs.ErrForbidden},
		{"shopper", shopper, "Nova", errs.ErrForbidden},
		{"anonymous", anon, "Nova", errs.ErrForbidden},
	} {
		t.Run("brand/"+tt.name, func(t *testing.T) {
			b, err := e.parties.CreateBrand(ctx, tt.p, tt.in)
			wantErr(t, err, tt.want)
			if err == nil && (b.Name != "Nova" || b.ID[:4] != "brd_" || !b.CreatedAt.Equal(e.clock.Now().Truncate(time.Microsecond))) {
				t.Fatalf("brand = %+v", b)
			}
		})
		t.Run("agency/"+tt.name, func(t *testing.T) {
			a, err := e.parties.CreateAgency(ctx, tt.p, tt.in)
			wantErr(t, err, tt.want)
			if err == nil && a.ID[:4] != "agy_" {
				t.Fatalf("agency = %+v", a)
			}
		})
	}

	for _, tt := range []struct {
		name       string
		p          party.Principal
		in         party.NewCreator
		want       any
		wantAgency string
	}{
		{"admin independent", e.admin, party.NewCreator{Handle: "indie", DisplayName: "Indie"}, nil, ""},
		{"admin for agency", e.admin, party.NewCreator{Handle: "signed", DisplayName: "Signed", AgencyID: ag.PartyID}, nil, ag.PartyID},
		{"admin missing agency", e.admin, party.NewCreator{Handle: "lost", DisplayName: "Lost", AgencyID: "agy_01JH0000000000000000000009"}, errs.ErrNotFound, ""},
		{"admin garbage agency", e.admin, party.NewCreator{Handle: "lost2", DisplayName: "Lost", AgencyID: "nope"}, errs.ErrNotFound, ""},
		{"agency default own", ag, party.NewCreator{Handle: "Mine.One", DisplayName: "Mine"}, nil, ag.PartyID},
		{"agency explicit own", ag, party.NewCreator{Handle: "mine.two", DisplayName: "Mine", AgencyID: ag.PartyID}, nil, ag.PartyID},
		{"agency for other agency", ag, party.NewCreator{Handle: "theirs", DisplayName: "Theirs", AgencyID: other.PartyID}, errs.ErrNotFound, ""},
		{"duplicate handle", ag, party.NewCreator{Handle: "HOST", DisplayName: "Again"}, party.ErrHandleTaken, ""},
		{"bad handle and name", e.admin, party.NewCreator{Handle: "x", DisplayName: ""}, errs.CodeValidation, ""},
		{"brand", brand, party.NewCreator{Handle: "nope", DisplayName: "Nope"}, errs.ErrForbidden, ""},
		{"creator", creator, party.NewCreator{Handle: "nope", DisplayName: "Nope"}, errs.ErrForbidden, ""},
		{"anonymous", anon, party.NewCreator{Handle: "nope", DisplayName: "Nope"}, errs.ErrForbidden, ""},
	} {
		t.Run("creator/"+tt.name, func(t *testing.T) {
			c, err := e.parties.CreateCreator(ctx, tt.p, tt.in)
			wantErr(t, err, tt.want)
			if err != nil {
				return
			}
			if c.AgencyID != tt.wantAgency {
				t.Fatalf("agency = %q, want %q", c.AgencyID, tt.wantAgency)
			}
			got, err := e.parties.GetCreator(ctx, e.admin, c.ID)
			if err != nil || !reflect.DeepEqual(got, c) {
				t.Fatalf("GetCreator = %+v, %v; want %+v", got, err, c)
			}
		})
	}
	var ve *errs.ValidationError
	_, err := e.parties.CreateCreator(ctx, e.admin, party.NewCreator{Handle: "x", DisplayName: ""})
	if !errors.As(err, &ve) || len(ve.Fields) != 2 || ve.Fields[0].Field != "handle" || ve.Fields[1].Field != "display_name" {
		t.Fatalf("err = %v, want errors on handle and display_name", err)
	}
}

func TestPartyServiceGetTenancy(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	b1, b2 := e.brand(t, "B1"), e.brand(t, "B2")
	a1, a2 := e.agency(t, "A1"), e.agency(t, "A2")
	c1 := e.creator(t, a1, "c.one")
	c2 := e.creator(t, a2, "c.two")
	indie := e.creator(t, e.admin, "indie")
	sh, _, err := e.parties.CreateShopper(ctx, party.Principal{}, party.NewShopper{DisplayName: "Ana"})
	if err != nil {
		t.Fatal(err)
	}
	asCreator := func(c party.Creator) party.Principal { return party.Principal{Role: party.RoleCreator, PartyID: c.ID} }
	asShopper := party.Principal{Role: party.RoleShopper, PartyID: sh.ID}

	type get func(party.Principal) error
	brand := func(id string) get {
		return func(p party.Principal) error { _, err := e.parties.GetBrand(ctx, p, id); return err }
	}
	agency := func(id string) get {
		return func(p party.Principal) error { _, err := e.parties.GetAgency(ctx, p, id); return err }
	}
	creator := func(id string) get {
		return func(p party.Principal) error { _, err := e.parties.GetCreator(ctx, p, id); return err }
	}
	byHandle := func(h string) get {
		return func(p party.Principal) error { _, err := e.parties.FindCreatorByHandle(ctx, p, h); return err }
	}
	shopper := func(id string) get {
		return func(p party.Principal) error { _, err := e.parties.GetShopper(ctx, p, id); return err }
	}
	for _, tt := range []struct {
		name string
		get  get
		p    party.Principal
		want error
	}{
		{"brand by admin", brand(b1.PartyID), e.admin, nil},
		{"brand by itself", brand(b1.PartyID), b1, nil},
		{"brand by other brand", brand(b1.PartyID), b2, errs.ErrNotFound},
		{"brand by agency", brand(b1.PartyID), a1, errs.ErrNotFound},
		{"missing brand by admin", brand("brd_01JH0000000000000000000009"), e.admin, errs.ErrNotFound},
		{"agency by itself", agency(a1.PartyID), a1, nil},
		{"agency by other", agency(a1.PartyID), a2, errs.ErrNotFound},
		{"agency by its creator", agency(a1.PartyID), asCreator(c1), errs.ErrNotFound},
		{"creator by admin", creator(c1.ID), e.admin, nil},
		{"creator by itself", creator(c1.ID), asCreator(c1), nil},
		{"creator by its agency", creator(c1.ID), a1, nil},
		{"creator by other agency", creator(c1.ID), a2, errs.ErrNotFound},
		{"creator by other creator", creator(c1.ID), asCreator(c2), errs.ErrNotFound},
		{"creator by brand", creator(c1.ID), b1, errs.ErrNotFound},
		{"independent creator by agency", creator(indie.ID), a1, errs.ErrNotFound},
		{"handle by its agency", byHandle("c.one"), a1, nil},
		{"handle by other agency", byHandle("c.one"), a2, errs.ErrNotFound},
		{"handle by shopper", byHandle("c.one"), asShopper, errs.ErrNotFound},
		{"shopper by itself", shopper(sh.ID), asShopper, nil},
		{"shopper by admin", shopper(sh.ID), e.admin, nil},
		{"shopper by brand", shopper(sh.ID), b1, errs.ErrNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.get(tt.p), tt.want) })
	}
	for name, err := range map[string]error{
		"FindBrandByName": func() error { _, err := e.parties.FindBrandByName(ctx, b1, "B1"); return err }(),
		"FindAgencyByName": func() error {
			_, err := e.parties.FindAgencyByName(ctx, a1, "A1")
			return err
		}(),
		"FindShopperByEmail": func() error {
			_, err := e.parties.FindShopperByEmail(ctx, asShopper, "x@example.com")
			return err
		}(),
	} {
		if !errors.Is(err, errs.ErrForbidden) {
			t.Errorf("%s by a non-admin: err = %v, want ErrForbidden", name, err)
		}
	}
}

func TestPartyServiceCreateShopper(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	sh, tok, err := e.parties.CreateShopper(ctx, party.Principal{}, party.NewShopper{DisplayName: " Ana ", Email: " ana@example.com "})
	if err != nil {
		t.Fatal(err)
	}
	if sh.DisplayName != "Ana" || sh.Email != "ana@example.com" || sh.ID[:4] != "shp_" {
		t.Fatalf("shopper = %+v", sh)
	}
	if tok.Role != party.RoleShopper || tok.PartyID != sh.ID {
		t.Fatalf("token = %+v", tok)
	}
	p, err := e.parties.Authenticate(ctx, tok.Token)
	if err != nil || p != (party.Principal{Role: party.RoleShopper, PartyID: sh.ID}) {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}

	for _, in := range []party.NewShopper{{DisplayName: ""}, {DisplayName: "Bo", Email: "not-an-email"}} {
		_, _, err := e.parties.CreateShopper(ctx, party.Principal{}, in)
		wantErr(t, err, errs.CodeValidation)
	}
	if n := e.count(t, "shoppers"); n != 1 {
		t.Fatalf("%d shoppers, want 1", n)
	}
}
