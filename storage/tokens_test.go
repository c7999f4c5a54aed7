package storage_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
)

func TestCreateTokenRules(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	brand := e.brand(t, "Brand")
	ag := e.agency(t, "Agency")
	other := e.agency(t, "Other")
	mine := e.creator(t, ag, "mine")
	theirs := e.creator(t, other, "theirs")
	indie := e.creator(t, e.admin, "indie")
	sh, _, err := e.parties.CreateShopper(ctx, party.Principal{}, party.NewShopper{DisplayName: "Ana"})
	if err != nil {
		t.Fatal(err)
	}
	creator := party.Principal{Role: party.RoleCreator, PartyID: mine.ID}
	shopper := party.Principal{Role: party.RoleShopper, PartyID: sh.ID}
	const missingBrand = "brd_01JH0000000000000000000009"

	for _, tt := range []struct {
		name    string
		p       party.Principal
		role    party.Role
		partyID string
		want    any
	}{
		{"admin mints admin", e.admin, party.RoleAdmin, "", nil},
		{"admin token with a party", e.admin, party.RoleAdmin, brand.PartyID, errs.CodeValidation},
		{"admin mints brand", e.admin, party.RoleBrand, brand.PartyID, nil},
		{"admin mints agency", e.admin, party.RoleAgency, ag.PartyID, nil},
		{"admin mints creator", e.admin, party.RoleCreator, theirs.ID, nil},
		{"admin mints shopper", e.admin, party.RoleShopper, sh.ID, nil},
		{"unknown role", e.admin, party.Role("root"), "", errs.CodeValidation},
		{"party of the wrong kind", e.admin, party.RoleBrand, ag.PartyID, errs.CodeValidation},
		{"brand without party", e.admin, party.RoleBrand, "", errs.CodeValidation},
		{"missing brand", e.admin, party.RoleBrand, missingBrand, errs.ErrNotFound},
		{"agency for its creator", ag, party.RoleCreator, mine.ID, nil},
		{"agency for another agency's creator", ag, party.RoleCreator, theirs.ID, errs.ErrNotFound},
		{"agency for an independent creator", ag, party.RoleCreator, indie.ID, errs.ErrNotFound},
		{"agency for itself", ag, party.RoleAgency, ag.PartyID, errs.ErrForbidden},
		{"agency for a brand", ag, party.RoleBrand, brand.PartyID, errs.ErrForbidden},
		{"agency mints admin", ag, party.RoleAdmin, "", errs.ErrForbidden},
		{"brand", brand, party.RoleBrand, brand.PartyID, errs.ErrForbidden},
		{"creator", creator, party.RoleCreator, mine.ID, errs.ErrForbidden},
		{"shopper", shopper, party.RoleShopper, sh.ID, errs.ErrForbidden},
		{"anonymous", party.Principal{}, party.RoleShopper, sh.ID, errs.ErrForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := e.parties.CreateToken(ctx, tt.p, tt.role, tt.partyID)
			wantErr(t, err, tt.want)
			if err != nil {
				return
			}
			if !strings.HasPrefix(tok.Token, party.TokenPrefix) || len(tok.Token) != len(party.TokenPrefix)+43 {
				t.Fatalf("token %q is not dh_ and 32 bytes of base64url", tok.Token)
			}
			p, err := e.parties.Authenticate(ctx, tok.Token)
			if err != nil {
				t.Fatal(err)
			}
			if want := (party.Principal{Role: tt.role, PartyID: tt.partyID}); p != want {
				t.Fatalf("Authenticate = %+v, want %+v", p, want)
			}
		})
	}
}

func TestTokensAreStoredOnlyHashed(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	brand := e.brand(t, "Brand")
	var plains []string
	tok, err := e.parties.CreateToken(ctx, e.admin, party.RoleBrand, brand.PartyID)
	if err != nil {
		t.Fatal(err)
	}
	plains = append(plains, tok.Token)
	_, tok, err = e.parties.CreateShopper(ctx, party.Principal{}, party.NewShopper{DisplayName: "Ana"})
	if err != nil {
		t.Fatal(err)
	}
	plains = append(plains, tok.Token)
	const bootstrap = "operator-chosen-admin-secret"
	if _, err := e.parties.EnsureAdminToken(ctx, bootstrap); err != nil {
		t.Fatal(err)
	}
	plains = append(plains, bootstrap)

	// Every column of every row, as text, in a few encodings.
	var rows []string
	if err := e.db.Raw(`SELECT t::text || ' ' || encode(t.hash, 'escape') || ' ' || encode(t.hash, 'base64') FROM tokens t`).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d token rows, want 3", len(rows))
	}
	dump := strings.Join(rows, "\n")
	for _, p := range plains {
		secret := strings.TrimPrefix(p, party.TokenPrefix)
		if strings.Contains(dump, secret) || strings.Contains(dump, secret[:16]) {
			t.Fatalf("tokens table contains the plaintext of %q:\n%s", p, dump)
		}
		sum := sha256.Sum256([]byte(p))
		var n int64
		if err := e.db.Raw("SELECT count(*) FROM tokens WHERE hash = ?", sum[:]).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("no row holds the SHA-256 of token %d", len(p))
		}
	}
}

func TestAuthenticate(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	brand := e.brand(t, "Brand")
	expiring, err := e.parties.CreateTokenUntil(ctx, e.admin, party.RoleBrand, brand.PartyID, e.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	forever, err := e.parties.CreateToken(ctx, e.admin, party.RoleBrand, brand.PartyID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.parties.CreateTokenUntil(ctx, e.admin, party.RoleBrand, brand.PartyID, e.clock.Now().Add(-time.Second))
	wantErr(t, err, errs.CodeValidation)

	// A token is issued in use, and its last use is written at most once
	// a minute.
	issued := e.clock.Now()
	lastUsed := func() time.Time {
		t.Helper()
		var used time.Time
		if err := e.db.Raw("SELECT last_used_at FROM tokens WHERE id = ?", forever.ID).Scan(&used).Error; err != nil {
			t.Fatal(err)
		}
		return used
	}
	if used := lastUsed(); !used.Equal(issued) {
		t.Fatalf("a new token's last_used_at = %v, want its issue time %v", used, issued)
	}
	for _, step := range []struct {
		after time.Duration
		want  time.Time
	}{{0, issued}, {30 * time.Second, issued}, {31 * time.Second, issued.Add(61 * time.Second)}} {
		e.clock.Add(step.after)
		for _, tok := range []string{expiring.Token, forever.Token} {
			if p, err := e.parties.Authenticate(ctx, tok); err != nil || p != brand {
				t.Fatalf("Authenticate = %+v, %v; want %+v", p, err, brand)
			}
		}
		if used := lastUsed(); !used.Equal(step.want) {
			t.Fatalf("%s after issue: last_used_at = %v, want %v", e.clock.Now().Sub(issued), used, step.want)
		}
	}

	e.clock.Add(time.Hour) // the expiring token's last valid instant has passed
	if _, err := e.parties.Authenticate(ctx, expiring.Token); err != party.ErrUnauthenticated {
		t.Fatalf("expired token: err = %v, want ErrUnauthenticated", err)
	}
	if p, err := e.parties.Authenticate(ctx, forever.Token); err != nil || p != brand {
		t.Fatalf("token without expiry: %+v, %v", p, err)
	}

	tampered := []byte(forever.Token)
	tampered[len(tampered)-1] ^= 1
	for name, tok := range map[string]string{
		"empty":     "",
		"unknown":   "dh_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"tampered":  string(tampered),
		"prefix":    forever.Token[:20],
		"too long":  forever.Token + strings.Repeat("x", 600),
		"hash hex":  "3f2a",
		"with bear": "Bearer " + forever.Token,
	} {
		if _, err := e.parties.Authenticate(ctx, tok); err != party.ErrUnauthenticated {
			t.Errorf("%s: err = %v, want ErrUnauthenticated", name, err)
		}
	}
	wantErr(t, party.ErrUnauthenticated, errs.CodeUnauthenticated)
}

func TestEnsureAdminToken(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	const secret = "let-me-in-as-the-operator"

	// Several processes starting at once all succeed and store one row.
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := e.parties.EnsureAdminToken(ctx, secret)
			errc <- err
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	if retired, err := e.parties.EnsureAdminToken(ctx, secret); err != nil || retired != 0 {
		t.Fatalf("EnsureAdminToken again = %d retired, %v", retired, err)
	}
	if n := e.count(t, "tokens"); n != 1 {
		t.Fatalf("%d tokens, want 1", n)
	}
	p, err := e.parties.Authenticate(ctx, secret)
	if err != nil || p != e.admin {
		t.Fatalf("Authenticate = %+v, %v; want admin", p, err)
	}
	for _, bad := range []string{"short", "correct horse battery staple", "0123456789abcdef\n", "pässwörd-0123456789"} {
		_, err := e.parties.EnsureAdminToken(ctx, bad)
		wantErr(t, err, errs.CodeValidation) // could never sign in through a Bearer header
	}

	// A token already stored with another role is never promoted to admin.
	brand := e.brand(t, "Brand")
	h := party.HashToken("a-brand-token-chosen-by-hand")
	err = storage.NewTokenStore(e.db).CreateToken(ctx, party.Token{ID: "tok_01JH0000000000000000000001", Hash: h, Role: party.RoleBrand, PartyID: brand.PartyID, CreatedAt: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.parties.EnsureAdminToken(ctx, "a-brand-token-chosen-by-hand")
	wantErr(t, err, errs.CodeConflict)

	// A new DAIHUO_ADMIN_TOKEN retires the earlier one at the next start;
	// admin tokens minted otherwise stay; the retired value cannot come
	// back by a start with the old configuration.
	minted, err := e.parties.CreateToken(ctx, e.admin, party.RoleAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	const rotated = "the-new-operator-secret"
	if retired, err := e.parties.EnsureAdminToken(ctx, rotated); err != nil || retired != 1 {
		t.Fatalf("rotation = %d retired, %v; want 1", retired, err)
	}
	for _, tc := range []struct {
		token string
		ok    bool
	}{{secret, false}, {rotated, true}, {minted.Token, true}} {
		if _, err := e.parties.Authenticate(ctx, tc.token); (err == nil) != tc.ok {
			t.Errorf("Authenticate(%q) = %v; want valid %v", tc.token, err, tc.ok)
		}
	}
	_, err = e.parties.EnsureAdminToken(ctx, secret)
	wantErr(t, err, errs.CodeConflict)
	if _, err := e.parties.Authenticate(ctx, secret); err == nil {
		t.Error("a start with the old configuration brought the retired admin token back")
	}

	// Nodes starting at once, some still on the old value and some on the
	// new: whatever the order, the new value works and the old does not.
	old := rotated
	for round := range 5 {
		next := fmt.Sprintf("operator-secret-round-%d", round)
		var wg sync.WaitGroup
		for i := range 6 {
			value := old
			if i%2 == 0 {
				value = next
			}
			wg.Go(func() { _, _ = e.parties.EnsureAdminToken(ctx, value) }) // the old value's start may be refused
		}
		wg.Wait()
		if _, err := e.parties.Authenticate(ctx, next); err != nil {
			t.Fatalf("round %d: the new value does not sign in: %v", round, err)
		}
		if _, err := e.parties.Authenticate(ctx, old); err == nil {
			t.Fatalf("round %d: the old value still signs in", round)
		}
		old = next
	}
}

// TestAuthenticateConcurrently sends many lookups at once, so they share
// reads, valid and unknown tokens mixed, and checks each its own answer.
func TestAuthenticateConcurrently(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	brand := e.brand(t, "Brand")
	other := e.brand(t, "Other")
	var toks []string
	want := map[string]party.Principal{}
	for i := range 20 {
		p := brand
		if i%2 == 1 {
			p = other
		}
		tok, err := e.parties.CreateToken(ctx, e.admin, party.RoleBrand, p.PartyID)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok.Token)
		want[tok.Token] = p
	}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := toks[i%len(toks)]
			if i%3 == 0 {
				tok = fmt.Sprintf("dh_unknown%040d", i)
			}
			p, err := e.parties.Authenticate(ctx, tok)
			w, known := want[tok]
			switch {
			case known && (err != nil || p != w):
				t.Errorf("Authenticate(token %d) = %+v, %v; want %+v", i, p, err, w)
			case !known && err != party.ErrUnauthenticated:
				t.Errorf("Authenticate(unknown %d) = %+v, %v; want ErrUnauthenticated", i, p, err)
			}
		}()
	}
	wg.Wait()
}

// Several api nodes group their token touches; a crowd's tokens land in
// every node's batches in every order. No batch may fail: one that did (a
// deadlock between two nodes' batches) failed every login in it.
func TestTokenTouchesOfManyNodesNeverDeadlock(t *testing.T) {
	db := storagetest.NewDB(t)
	ctx := context.Background()
	const tokens = 2000
	ids := make([]string, tokens)
	for i := range ids {
		ids[i] = fmt.Sprintf("tok_%05d", i)
	}
	if _, err := storage.SQL(db).ExecContext(ctx, `INSERT INTO tokens (id, hash, role, party_id, created_at)
		SELECT id, sha256(convert_to(id, 'UTF8')), 'shopper', 'shp_' || id, now()
		FROM unnest($1::text[]) AS id`, ids); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("ANALYZE tokens").Error; err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed atomic.Int32
	var first atomic.Value
	for node := range 4 {
		store := storage.NewTokenStore(db)
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(node), 7))
			for range 40 {
				batch := make([]string, 0, 300)
				for _, i := range r.Perm(tokens)[:100+r.IntN(200)] {
					batch = append(batch, ids[i])
				}
				if err := storage.TouchBatchForTest(ctx, store, batch, time.Now().UTC()); err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of 160 touch batches failed, the first with: %v", n, first.Load())
	}
}

// TestRevokedTokenIgnoresTheClock: a revoked token is refused even by a
// node whose clock runs behind the one that revoked it, revoking again
// changes nothing, and the operator's DAIHUO_ADMIN_TOKEN is not revoked
// (it is rotated) while another admin token revoked cannot become it.
func TestRevokedTokenIgnoresTheClock(t *testing.T) {
	e := newPCEnv(t)
	ctx := context.Background()
	brand := e.brand(t, "Brand")
	tok, err := e.parties.CreateToken(ctx, e.admin, party.RoleBrand, brand.PartyID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.parties.RevokeToken(ctx, e.admin, tok.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(-time.Hour) // a node an hour behind
	if _, err := e.parties.Authenticate(ctx, tok.Token); err != party.ErrUnauthenticated {
		t.Fatalf("revoked token on a node behind: %v, want ErrUnauthenticated", err)
	}
	e.clock.Add(2 * time.Hour)
	if err := e.parties.RevokeBearer(ctx, tok.Token); err != nil {
		t.Fatalf("revoking again: %v", err)
	}
	var revokedAt time.Time
	if err := e.db.Raw("SELECT revoked_at FROM tokens WHERE id = ?", tok.ID).Scan(&revokedAt).Error; err != nil {
		t.Fatal(err)
	}
	if want := e.clock.Now().Add(-time.Hour); !revokedAt.Equal(want) {
		t.Errorf("revoked_at = %v after revoking again, want the first revocation's %v", revokedAt, want)
	}

	const operator = "operator-chosen-admin-secret"
	if _, err := e.parties.EnsureAdminToken(ctx, operator); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.parties.RevokeBearer(ctx, operator), errs.CodeConflict)
	if p, err := e.parties.Authenticate(ctx, operator); err != nil || p.Role != party.RoleAdmin {
		t.Fatalf("the operator's token after a refused revocation: %+v, %v", p, err)
	}

	minted, err := e.parties.CreateToken(ctx, e.admin, party.RoleAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.parties.RevokeBearer(ctx, minted.Token); err != nil {
		t.Fatal(err)
	}
	_, err = e.parties.EnsureAdminToken(ctx, minted.Token)
	wantErr(t, err, errs.CodeConflict)
}
