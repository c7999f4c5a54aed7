package api

import (
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/daihuo/daihuo/api/apitest"
	"github.com/daihuo/daihuo/domain/party"
)

// Replies as clients decode them, rejecting unknown fields.
type (
	brandReply struct {
		ID        string    `json:"id"`
		Name      string    `json:"name"`
		CreatedAt time.Time `json:"created_at"`
	}
	creatorReply struct {
		ID          string    `json:"id"`
		Handle      string    `json:"handle"`
		DisplayName string    `json:"display_name"`
		AgencyID    *string   `json:"agency_id"`
		CreatedAt   time.Time `json:"created_at"`
	}
	shopperReply struct {
		ID          string    `json:"id"`
		DisplayName string    `json:"display_name"`
		Email       *string   `json:"email"`
		CreatedAt   time.Time `json:"created_at"`
		Token       string    `json:"token"`
	}
	tokenReply struct {
		ID        string     `json:"id"`
		Token     string     `json:"token"`
		Role      string     `json:"role"`
		PartyID   *string    `json:"party_id"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	meReply struct {
		Role    string        `json:"role"`
		PartyID *string       `json:"party_id"`
		Brand   *brandReply   `json:"brand"`
		Agency  *brandReply   `json:"agency"`
		Creator *creatorReply `json:"creator"`
		Shopper *shopperReply `json:"shopper"`
	}
)

// wantLocation fails unless res has the Location of the object at path.
func wantLocation(t *testing.T, res *apitest.Response, path string) {
	t.Helper()
	if got := res.Header.Get("Location"); got != path {
		t.Errorf("Location %q, want %q", got, path)
	}
}

// me returns who token acts as.
func me(t *testing.T, c *apitest.Client, token string) meReply {
	t.Helper()
	var m meReply
	c.Call(http.MethodGet, "/v1/me", token, nil).Want(200).JSON(&m)
	return m
}

func TestCreateBrandAndAgency(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)

	var b brandReply
	res := c.Call(http.MethodPost, "/v1/brands", w.admin, map[string]any{"name": "  Kumo Kitchen "}).Want(201)
	res.JSON(&b)
	if !strings.HasPrefix(b.ID, "brd_") || b.Name != "Kumo Kitchen" || b.CreatedAt.IsZero() || b.CreatedAt.Location() != time.UTC {
		t.Errorf("brand %+v", b)
	}
	wantLocation(t, res, "/v1/brands/"+b.ID)
	var got brandReply
	c.Call(http.MethodGet, "/v1/brands/"+b.ID, w.admin, nil).Want(200).JSON(&got)
	if got != b {
		t.Errorf("read back %+v, created %+v", got, b)
	}

	// A token for the new brand reads it, and /v1/me says who it is.
	var tok tokenReply
	c.Call(http.MethodPost, "/v1/tokens", w.admin, map[string]any{"role": "brand", "party_id": b.ID}).Want(201).JSON(&tok)
	if tok.Role != "brand" || tok.PartyID == nil || *tok.PartyID != b.ID || tok.ExpiresAt != nil || !strings.HasPrefix(tok.Token, "dh_") {
		t.Errorf("token %+v", tok)
	}
	c.Call(http.MethodGet, "/v1/brands/"+b.ID, tok.Token, nil).Want(200)
	if m := me(t, c, tok.Token); m.Role != "brand" || m.Brand == nil || *m.Brand != b {
		t.Errorf("me %+v", m)
	}

	var a brandReply
	res = c.Call(http.MethodPost, "/v1/agencies", w.admin, map[string]any{"name": "Star Talent"}).Want(201)
	res.JSON(&a)
	if !strings.HasPrefix(a.ID, "agy_") || a.Name != "Star Talent" {
		t.Errorf("agency %+v", a)
	}
	wantLocation(t, res, "/v1/agencies/"+a.ID)
	c.Call(http.MethodGet, "/v1/agencies/"+a.ID, w.admin, nil).Want(200).JSON(&got)
	if got != a {
		t.Errorf("read back %+v, created %+v", got, a)
	}
}

func TestCreateCreator(t *testing.T) {
	w := newWorld(t)
	agencyA, agencyB := w.token(party.RoleAgency, 0), w.token(party.RoleAgency, 1)
	idA := w.a().agency.ID
	tests := []struct {
		name     string
		token    string
		body     map[string]any
		status   int
		agencyID *string // of the created creator
	}{
		{"admin, with an agency", w.admin, map[string]any{"handle": "mia.live", "display_name": "Mia", "agency_id": idA}, 201, &idA},
		{"admin, independent", w.admin, map[string]any{"handle": "solo", "display_name": "Solo"}, 201, nil},
		{"admin, null agency is none", w.admin, map[string]any{"handle": "solo2", "display_name": "Solo", "agency_id": nil}, 201, nil},
		{"agency, its own by default", agencyA, map[string]any{"handle": "kenji_cooks", "display_name": "Kenji"}, 201, &idA},
		{"agency, its own by name", agencyA, map[string]any{"handle": "Aiko", "display_name": "Aiko", "agency_id": idA}, 201, &idA},
		{"agency, another agency's", agencyB, map[string]any{"handle": "stolen", "display_name": "X", "agency_id": idA}, 404, nil},
		{"admin, unknown agency", w.admin, map[string]any{"handle": "lost", "display_name": "X", "agency_id": "agy_00000000000000000000000000"}, 404, nil},
		{"handle taken", w.admin, map[string]any{"handle": "MIA.LIVE", "display_name": "Mia again"}, 409, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := w.client(t)
			res := c.Call(http.MethodPost, "/v1/creators", tt.token, tt.body).Want(tt.status)
			if tt.status != 201 {
				want := map[int]string{404: "not_found", 409: "conflict"}[tt.status]
				if p := res.Problem(); p.Code != want {
					t.Errorf("code %s, want %s", p.Code, want)
				}
				return
			}
			var cr creatorReply
			res.JSON(&cr)
			wantLocation(t, res, "/v1/creators/"+cr.ID)
			if cr.Handle != strings.ToLower(tt.body["handle"].(string)) || (cr.AgencyID == nil) != (tt.agencyID == nil) ||
				(cr.AgencyID != nil && *cr.AgencyID != *tt.agencyID) {
				t.Errorf("creator %+v", cr)
			}
			if !strings.Contains(string(res.Body), `"agency_id":`) {
				t.Errorf("agency_id missing from %s", res.Body)
			}
			// Its agency reads it; the other agency does not see it.
			if cr.AgencyID != nil {
				c.Call(http.MethodGet, "/v1/creators/"+cr.ID, agencyA, nil).Want(200)
				c.Call(http.MethodGet, "/v1/creators/"+cr.ID, agencyB, nil).Want(404)
			}
		})
	}
}

func TestCreateToken(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	agencyA := w.token(party.RoleAgency, 0)

	// An agency mints working tokens for its own creators only.
	var tok tokenReply
	c.Call(http.MethodPost, "/v1/tokens", agencyA, map[string]any{"role": "creator", "party_id": w.a().creator.ID}).Want(201).JSON(&tok)
	if m := me(t, c, tok.Token); m.Role != "creator" || m.Creator == nil || m.Creator.ID != w.a().creator.ID {
		t.Errorf("me %+v", m)
	}
	p := c.Call(http.MethodPost, "/v1/tokens", agencyA, map[string]any{"role": "creator", "party_id": w.b().creator.ID}).Want(404).Problem()
	if p.Code != "not_found" {
		t.Errorf("another agency's creator: %s", p.Code)
	}
	p = c.Call(http.MethodPost, "/v1/tokens", agencyA, map[string]any{"role": "agency", "party_id": w.a().agency.ID}).Want(403).Problem()
	if p.Code != "forbidden" {
		t.Errorf("agency minting an agency token: %s", p.Code)
	}

	// Admin tokens act for no party.
	for _, body := range []map[string]any{{"role": "admin"}, {"role": "admin", "party_id": nil}} {
		c.Call(http.MethodPost, "/v1/tokens", w.admin, body).Want(201).JSON(&tok)
		if tok.PartyID != nil {
			t.Errorf("admin token with party %v", *tok.PartyID)
		}
		if m := me(t, c, tok.Token); m.Role != "admin" || m.PartyID != nil || m.Brand != nil || m.Shopper != nil {
			t.Errorf("me %+v", m)
		}
	}

	// An expiring token says when, and works until then.
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	c.Call(http.MethodPost, "/v1/tokens", w.admin, map[string]any{
		"role": "shopper", "party_id": w.b().shopper.ID, "expires_at": until.Format(time.RFC3339),
	}).Want(201).JSON(&tok)
	if tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(until) {
		t.Errorf("expires_at %v, want %v", tok.ExpiresAt, until)
	}
	if m := me(t, c, tok.Token); m.Shopper == nil || m.Shopper.ID != w.b().shopper.ID {
		t.Errorf("me %+v", m)
	}
}

// TestRevokeToken: a token ends at once, by its holder (sign out) or by
// who may issue it (an admin, an agency for its creators and itself), and
// ending it again changes nothing.
func TestRevokeToken(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	mint := func(issuer string, body map[string]any) tokenReply {
		t.Helper()
		var tok tokenReply
		c.Call(http.MethodPost, "/v1/tokens", issuer, body).Want(201).JSON(&tok)
		c.Call(http.MethodGet, "/v1/me", tok.Token, nil).Want(200)
		return tok
	}
	wantEnded := func(what, token string) {
		t.Helper()
		if p := c.Call(http.MethodGet, "/v1/me", token, nil).Want(401).Problem(); p.Code != "unauthenticated" {
			t.Errorf("%s: code %s after revoking", what, p.Code)
		}
	}

	// A shopper signs out.
	var sh shopperReply
	c.Call(http.MethodPost, "/v1/shoppers", "", map[string]any{"display_name": "Ana"}).Want(201).JSON(&sh)
	c.Call(http.MethodDelete, "/v1/tokens/current", sh.Token, nil).Want(204)
	wantEnded("signed out", sh.Token)
	c.Call(http.MethodDelete, "/v1/tokens/current", sh.Token, nil).Want(401)

	// An admin ends a brand's token, and an expiring one, by id.
	brandTok := mint(w.admin, map[string]any{"role": "brand", "party_id": w.a().brand.ID})
	later := mint(w.admin, map[string]any{"role": "shopper", "party_id": w.a().shopper.ID,
		"expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	for _, tok := range []tokenReply{brandTok, later} {
		c.Call(http.MethodDelete, "/v1/tokens/"+tok.ID, w.admin, nil).Want(204)
		wantEnded(tok.Role+" token revoked by an admin", tok.Token)
		c.Call(http.MethodDelete, "/v1/tokens/"+tok.ID, w.admin, nil).Want(204)
	}

	// An agency ends its creators' tokens and its own, nobody else's.
	agencyA := w.token(party.RoleAgency, 0)
	creatorTok := mint(agencyA, map[string]any{"role": "creator", "party_id": w.a().creator.ID})
	otherBrand := mint(w.admin, map[string]any{"role": "brand", "party_id": w.a().brand.ID})
	otherAgency := mint(w.admin, map[string]any{"role": "agency", "party_id": w.b().agency.ID})
	ownTok := mint(w.admin, map[string]any{"role": "agency", "party_id": w.a().agency.ID})
	before := w.snapshot(t)
	for _, tok := range []tokenReply{otherBrand, otherAgency} {
		if p := c.Call(http.MethodDelete, "/v1/tokens/"+tok.ID, agencyA, nil).Want(404).Problem(); p.Code != "not_found" {
			t.Errorf("agency revoking a %s token: %s", tok.Role, p.Code)
		}
		c.Call(http.MethodGet, "/v1/me", tok.Token, nil).Want(200)
	}
	if after := w.snapshot(t); !maps.Equal(before, after) {
		t.Errorf("refused revocations changed the database")
	}
	c.Call(http.MethodDelete, "/v1/tokens/"+creatorTok.ID, agencyA, nil).Want(204)
	wantEnded("creator token revoked by its agency", creatorTok.Token)
	c.Call(http.MethodDelete, "/v1/tokens/"+ownTok.ID, agencyA, nil).Want(204)
	wantEnded("agency token revoked by its agency", ownTok.Token)
	c.Call(http.MethodGet, "/v1/me", agencyA, nil).Want(200)
}

func TestShopperSignup(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	var sh shopperReply
	res := c.Call(http.MethodPost, "/v1/shoppers", "", map[string]any{"display_name": " Ana ", "email": "ana@example.com"}).Want(201)
	res.JSON(&sh)
	wantLocation(t, res, "/v1/shoppers/"+sh.ID)
	if !strings.HasPrefix(sh.ID, "shp_") || sh.DisplayName != "Ana" || sh.Email == nil || *sh.Email != "ana@example.com" || sh.Token == "" {
		t.Errorf("shopper %+v", sh)
	}
	// The token works at once and reads the shopper, but no one else's.
	m := me(t, c, sh.Token)
	if m.Role != "shopper" || m.Shopper == nil || m.Shopper.ID != sh.ID || m.Shopper.Token != "" {
		t.Errorf("me %+v", m)
	}
	c.Call(http.MethodGet, "/v1/shoppers/"+sh.ID, sh.Token, nil).Want(200)
	c.Call(http.MethodGet, "/v1/shoppers/"+w.a().shopper.ID, sh.Token, nil).Want(404)
	c.Call(http.MethodGet, "/v1/shoppers/"+sh.ID, w.admin, nil).Want(200)

	// Without an email; signed in as someone else is fine too.
	c.Call(http.MethodPost, "/v1/shoppers", w.token(party.RoleBrand, 0), map[string]any{"display_name": "Ben"}).Want(201).JSON(&sh)
	if sh.Email != nil {
		t.Errorf("email %v", *sh.Email)
	}
	// A token that is sent is still checked.
	c.Call(http.MethodPost, "/v1/shoppers", "dh_nobody", map[string]any{"display_name": "Eve"}).Want(401)
}

func TestMe(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	for i, tn := range w.tenants {
		if m := me(t, c, w.token(party.RoleBrand, i)); m.Brand == nil || m.Brand.ID != tn.brand.ID || *m.PartyID != tn.brand.ID {
			t.Errorf("brand me %+v", m)
		}
		if m := me(t, c, w.token(party.RoleAgency, i)); m.Agency == nil || m.Agency.ID != tn.agency.ID {
			t.Errorf("agency me %+v", m)
		}
		if m := me(t, c, w.token(party.RoleCreator, i)); m.Creator == nil || m.Creator.ID != tn.creator.ID ||
			m.Creator.AgencyID == nil || *m.Creator.AgencyID != tn.agency.ID {
			t.Errorf("creator me %+v", m)
		}
		if m := me(t, c, w.token(party.RoleShopper, i)); m.Shopper == nil || m.Shopper.ID != tn.shopper.ID {
			t.Errorf("shopper me %+v", m)
		}
	}
	// A token whose party does not exist answers 404, like the party.
	ghost := w.storeToken(t, party.RoleBrand, "brd_00000000000000000000000000", time.Time{})
	c.Call(http.MethodGet, "/v1/me", ghost, nil).Want(404)
}
