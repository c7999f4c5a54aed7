package party

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/id"
)

// Store keeps brands, agencies, creators and shoppers. Get and Find methods
// answer errs.ErrNotFound when nothing matches.
type Store interface {
	CreateBrand(ctx context.Context, b Brand) error
	GetBrand(ctx context.Context, id string) (Brand, error)
	// FindBrandByName returns the oldest brand with exactly this name.
	FindBrandByName(ctx context.Context, name string) (Brand, error)

	CreateAgency(ctx context.Context, a Agency) error
	GetAgency(ctx context.Context, id string) (Agency, error)
	// FindAgencyByName returns the oldest agency with exactly this name.
	FindAgencyByName(ctx context.Context, name string) (Agency, error)

	// CreateCreator answers ErrHandleTaken when the handle is in use.
	CreateCreator(ctx context.Context, c Creator) error
	GetCreator(ctx context.Context, id string) (Creator, error)
	FindCreatorByHandle(ctx context.Context, handle string) (Creator, error)

	CreateShopper(ctx context.Context, s Shopper) error
	GetShopper(ctx context.Context, id string) (Shopper, error)
	// FindShopperByEmail returns the oldest shopper with this email, compared
	// case-insensitively.
	FindShopperByEmail(ctx context.Context, email string) (Shopper, error)
}

// TokenStore keeps hashed bearer tokens.
type TokenStore interface {
	// CreateToken answers ErrTokenExists when the hash is already stored.
	CreateToken(ctx context.Context, t Token) error
	// TokenByHash answers errs.ErrNotFound when no token has this hash.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// TouchToken records that the token was used at at.
	TouchToken(ctx context.Context, id string, at time.Time) error
	// GetToken answers errs.ErrNotFound when no token has this id.
	GetToken(ctx context.Context, id string) (Token, error)
	// RevokeToken marks the token revoked at at, unless it already is.
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// KeepOperatorToken marks the token id as the one provisioned from the
	// operator's configuration, and expires at at every other token so
	// marked that never expired, reporting how many, one call at a time
	// across processes. A token id that has an expiry (a newer value
	// retired it meanwhile) answers ErrOperatorTokenRetired.
	KeepOperatorToken(ctx context.Context, id string, at time.Time) (int, error)
}

// Transactor runs fn in one database transaction; stores called with the
// context it passes join that transaction.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// touchEvery limits last_used_at writes to one per token per minute, so
// authentication stays a single read on the hot path.
const touchEvery = time.Minute

// Service creates parties and tokens and authenticates callers, enforcing
// who may act for whom. Role checks happen again here, whatever the caller
// checked before: objects of other tenants answer errs.ErrNotFound, actions
// the role may never take answer errs.ErrForbidden.
type Service struct {
	store  Store
	tokens TokenStore
	tx     Transactor
	now    func() time.Time
}

// NewService returns a Service on its ports; now is the clock (time.Now in
// production).
func NewService(store Store, tokens TokenStore, tx Transactor, now func() time.Time) *Service {
	return &Service{store: store, tokens: tokens, tx: tx, now: now}
}

// clock returns the current time in UTC at the microsecond precision the
// database keeps, so stored and returned values are equal.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// NewCreator is the input of CreateCreator.
type NewCreator struct {
	Handle      string
	DisplayName string
	AgencyID    string // optional; an agency caller gets its own by default
}

// NewShopper is the input of CreateShopper.
type NewShopper struct {
	DisplayName string
	Email       string // optional
}

// CreateBrand creates a brand; only admins may.
func (s *Service) CreateBrand(ctx context.Context, p Principal, name string) (Brand, error) {
	if !p.IsAdmin() {
		return Brand{}, errs.ErrForbidden
	}
	name, err := NormalizeName("name", name)
	if err != nil {
		return Brand{}, err
	}
	now := s.clock()
	b := Brand{ID: id.New(PrefixBrand, now), Name: name, CreatedAt: now}
	if err := s.store.CreateBrand(ctx, b); err != nil {
		return Brand{}, fmt.Errorf("create brand: %w", err)
	}
	return b, nil
}

// CreateAgency creates an agency; only admins may.
func (s *Service) CreateAgency(ctx context.Context, p Principal, name string) (Agency, error) {
	if !p.IsAdmin() {
		return Agency{}, errs.ErrForbidden
	}
	name, err := NormalizeName("name", name)
	if err != nil {
		return Agency{}, err
	}
	now := s.clock()
	a := Agency{ID: id.New(PrefixAgency, now), Name: name, CreatedAt: now}
	if err := s.store.CreateAgency(ctx, a); err != nil {
		return Agency{}, fmt.Errorf("create agency: %w", err)
	}
	return a, nil
}

// CreateCreator creates a creator. Admins may attach it to any existing
// agency or to none; an agency creates creators for itself only (an empty
// AgencyID means its own, another agency's id answers errs.ErrNotFound).
// A handle in use answers ErrHandleTaken.
func (s *Service) CreateCreator(ctx context.Context, p Principal, in NewCreator) (Creator, error) {
	switch p.Role {
	case RoleAdmin:
	case RoleAgency:
		if p.PartyID == "" {
			return Creator{}, errs.ErrForbidden
		}
		if in.AgencyID == "" {
			in.AgencyID = p.PartyID
		}
	default:
		return Creator{}, errs.ErrForbidden
	}
	var v errs.Validator
	handle, err := NormalizeHandle(in.Handle)
	v.Add("", err)
	display, err := NormalizeName("display_name", in.DisplayName)
	v.Add("", err)
	if err := v.Err(); err != nil {
		return Creator{}, err
	}
	if in.AgencyID != "" {
		if p.Role == RoleAgency && in.AgencyID != p.PartyID {
			return Creator{}, fmt.Errorf("agency %s: %w", in.AgencyID, errs.ErrNotFound)
		}
		if err := s.agencyExists(ctx, in.AgencyID); err != nil {
			return Creator{}, err
		}
	}
	now := s.clock()
	c := Creator{ID: id.New(PrefixCreator, now), Handle: handle, DisplayName: display, AgencyID: in.AgencyID, CreatedAt: now}
	if err := s.store.CreateCreator(ctx, c); err != nil {
		return Creator{}, fmt.Errorf("create creator: %w", err)
	}
	return c, nil
}

func (s *Service) agencyExists(ctx context.Context, agencyID string) error {
	if !id.Valid(PrefixAgency, agencyID) {
		return fmt.Errorf("agency %s: %w", agencyID, errs.ErrNotFound)
	}
	if _, err := s.store.GetAgency(ctx, agencyID); err != nil {
		return fmt.Errorf("agency %s: %w", agencyID, err)
	}
	return nil
}

// CreateShopper creates a shopper and its first token in one transaction;
// anyone may, signed in or not.
func (s *Service) CreateShopper(ctx context.Context, _ Principal, in NewShopper) (Shopper, IssuedToken, error) {
	var v errs.Validator
	display, err := NormalizeName("display_name", in.DisplayName)
	v.Add("", err)
	email, err := NormalizeEmail(in.Email)
	v.Add("", err)
	if err := v.Err(); err != nil {
		return Shopper{}, IssuedToken{}, err
	}
	now := s.clock()
	sh := Shopper{ID: id.New(PrefixShopper, now), DisplayName: display, Email: email, CreatedAt: now}
	var tok IssuedToken
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateShopper(ctx, sh); err != nil {
			return fmt.Errorf("create shopper: %w", err)
		}
		var err error
		tok, err = s.issue(ctx, RoleShopper, sh.ID, time.Time{})
		return err
	})
	if err != nil {
		return Shopper{}, IssuedToken{}, err
	}
	return sh, tok, nil
}

// CreateToken issues a token that never expires; see CreateTokenUntil.
func (s *Service) CreateToken(ctx context.Context, p Principal, role Role, partyID string) (IssuedToken, error) {
	return s.CreateTokenUntil(ctx, p, role, partyID, time.Time{})
}

// CreateTokenUntil issues a token acting as role for partyID, valid until
// expiresAt (zero: forever). Admins may issue any role for any existing
// party of that role (admin tokens have no party); an agency may issue
// creator tokens for its own creators; every other caller is forbidden. A
// party id of the wrong kind is a validation error; a missing party, or
// another agency's creator, answers errs.ErrNotFound.
func (s *Service) CreateTokenUntil(ctx context.Context, p Principal, role Role, partyID string, expiresAt time.Time) (IssuedToken, error) {
	switch p.Role {
	case RoleAdmin:
	case RoleAgency:
		if p.PartyID == "" || role != RoleCreator {
			return IssuedToken{}, errs.ErrForbidden
		}
	default:
		return IssuedToken{}, errs.ErrForbidden
	}
	var v errs.Validator
	if v.Check(role.Valid(), "role", "must be one of admin, brand, agency, creator, shopper") {
		if prefix, ok := PrefixFor(role); ok {
			v.Check(id.Valid(prefix, partyID), "party_id", "must be the id of a %s (%s_…)", role, prefix)
		} else {
			v.Check(partyID == "", "party_id", "must be empty for admin tokens")
		}
	}
	if !expiresAt.IsZero() {
		v.Check(expiresAt.After(s.now()), "expires_at", "must be in the future")
		// RFC 3339, which every reply uses, has four-digit years.
		v.Check(expiresAt.UTC().Year() <= 9999, "expires_at", "must be before the year 10000")
	}
	if err := v.Err(); err != nil {
		return IssuedToken{}, err
	}
	if err := s.partyExists(ctx, p, role, partyID); err != nil {
		return IssuedToken{}, err
	}
	return s.issue(ctx, role, partyID, expiresAt)
}

// partyExists checks that partyID is a party of role that p may issue
// tokens for.
func (s *Service) partyExists(ctx context.Context, p Principal, role Role, partyID string) error {
	var err error
	switch role {
	case RoleAdmin:
		return nil
	case RoleBrand:
		_, err = s.store.GetBrand(ctx, partyID)
	case RoleAgency:
		_, err = s.store.GetAgency(ctx, partyID)
	case RoleShopper:
		_, err = s.store.GetShopper(ctx, partyID)
	case RoleCreator:
		var c Creator
		c, err = s.store.GetCreator(ctx, partyID)
		if err == nil && p.Role == RoleAgency && c.AgencyID != p.PartyID {
			err = errs.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", role, partyID, err)
	}
	return nil
}

func (s *Service) issue(ctx context.Context, role Role, partyID string, expiresAt time.Time) (IssuedToken, error) {
	now := s.clock()
	plain := newTokenSecret()
	t := Token{
		ID:        id.New(PrefixToken, now),
		Hash:      HashToken(plain),
		Role:      role,
		PartyID:   partyID,
		CreatedAt: now,
		ExpiresAt: expiresAt.UTC().Truncate(time.Microsecond),
		// Issued in use: a guest who signs up and buys within the minute
		// costs one write of its token, not two.
		LastUsedAt: now,
	}
	if err := s.tokens.CreateToken(ctx, t); err != nil {
		return IssuedToken{}, fmt.Errorf("create token: %w", err)
	}
	return IssuedToken{ID: t.ID, Token: plain, Role: role, PartyID: partyID, ExpiresAt: t.ExpiresAt}, nil
}

// Authenticate returns the principal a bearer token acts as. A missing,
// unknown or expired token answers ErrUnauthenticated.
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" || len(token) > maxTokenLen {
		return Principal{}, ErrUnauthenticated
	}
	hash := HashToken(token)
	t, err := s.tokens.TokenByHash(ctx, hash)
	if errors.Is(err, errs.ErrNotFound) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	if subtle.ConstantTimeCompare(t.Hash, hash) != 1 {
		return Principal{}, ErrUnauthenticated
	}
	now := s.clock()
	if t.Expired(now) {
		return Principal{}, ErrUnauthenticated
	}
	if t.LastUsedAt.IsZero() || now.Sub(t.LastUsedAt) >= touchEvery {
		if err := s.tokens.TouchToken(ctx, t.ID, now); err != nil {
			return Principal{}, fmt.Errorf("authenticate: %w", err)
		}
	}
	return Principal{Role: t.Role, PartyID: t.PartyID}, nil
}

// RevokeToken ends the token tokenID now, on every node: an admin may
// revoke any token, an agency its own and its creators' (the tokens it may
// issue); other callers revoke the token they hold with RevokeBearer. A
// token p may not revoke answers errs.ErrNotFound, like one that does not
// exist; one that has already ended stays as it is. The operator's
// DAIHUO_ADMIN_TOKEN is rotated by configuration, not revoked
// (ErrOperatorTokenRevoke): every node would then refuse to start on it.
func (s *Service) RevokeToken(ctx context.Context, p Principal, tokenID string) error {
	if p.Role != RoleAdmin && p.Role != RoleAgency {
		return errs.ErrForbidden
	}
	if !id.Valid(PrefixToken, tokenID) {
		return errs.ErrNotFound
	}
	t, err := s.tokens.GetToken(ctx, tokenID)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if p.Role == RoleAgency {
		mine, err := s.agencyMayRevoke(ctx, p, t)
		if err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		if !mine {
			return errs.ErrNotFound
		}
	}
	return s.revoke(ctx, t)
}

// agencyMayRevoke reports whether t is agency p's own token or one of its
// creators'.
func (s *Service) agencyMayRevoke(ctx context.Context, p Principal, t Token) (bool, error) {
	switch t.Role {
	case RoleAgency:
		return p.IsAgency(t.PartyID), nil
	case RoleCreator:
		c, err := s.store.GetCreator(ctx, t.PartyID)
		if errors.Is(err, errs.ErrNotFound) {
			return false, nil
		}
		return err == nil && c.AgencyID == p.PartyID, err
	}
	return false, nil
}

// RevokeBearer ends the token whose plaintext this is (signing out): who
// holds a token may end it. An unknown token answers ErrUnauthenticated.
func (s *Service) RevokeBearer(ctx context.Context, plaintext string) error {
	if plaintext == "" || len(plaintext) > maxTokenLen {
		return ErrUnauthenticated
	}
	t, err := s.tokens.TokenByHash(ctx, HashToken(plaintext))
	if errors.Is(err, errs.ErrNotFound) {
		return ErrUnauthenticated
	}
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return s.revoke(ctx, t)
}

// ErrOperatorTokenRevoke refuses to revoke the token provisioned from
// DAIHUO_ADMIN_TOKEN.
var ErrOperatorTokenRevoke = errs.New(errs.CodeConflict,
	"this is the operator's DAIHUO_ADMIN_TOKEN: rotate it by setting a new value and restarting, which retires this one")

// revoke marks t revoked now unless it has already ended.
func (s *Service) revoke(ctx context.Context, t Token) error {
	now := s.clock()
	if t.Expired(now) {
		return nil
	}
	if t.Operator {
		return ErrOperatorTokenRevoke
	}
	if err := s.tokens.RevokeToken(ctx, t.ID, now); err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// EnsureAdminToken makes plaintext (the DAIHUO_ADMIN_TOKEN of the
// operator) a valid admin token that never expires, and retires the earlier
// values of DAIHUO_ADMIN_TOKEN, reporting how many: rotating a leaked
// secret takes effect at the next start. (Admin tokens minted otherwise
// are left alone.) It is idempotent and safe when several processes start
// at once. The token must be
// MinAdminTokenLen to 512 visible ASCII characters (what a Bearer header
// carries: a space, a newline or an accented letter could never sign in);
// one already stored with another role is a conflict.
func (s *Service) EnsureAdminToken(ctx context.Context, plaintext string) (retired int, err error) {
	if len(plaintext) < MinAdminTokenLen || len(plaintext) > maxTokenLen {
		return 0, errs.Invalid("token", "the admin token must be %d to %d characters", MinAdminTokenLen, maxTokenLen)
	}
	for i := 0; i < len(plaintext); i++ {
		if plaintext[i] <= ' ' || plaintext[i] >= 0x7f {
			return 0, errs.Invalid("token", "the admin token must be visible ASCII characters only: no spaces, line breaks or accented letters (found %q at byte %d)", plaintext[i], i)
		}
	}
	hash := HashToken(plaintext)
	for range 2 {
		t, err := s.tokens.TokenByHash(ctx, hash)
		if err == nil {
			switch {
			case t.Role != RoleAdmin:
				return 0, errs.New(errs.CodeConflict, "the admin token is already in use with another role")
			case !t.ExpiresAt.IsZero() || !t.RevokedAt.IsZero(): // retired by a newer value, revoked, or minted with an expiry
				return 0, ErrOperatorTokenRetired
			}
			return s.keepOperatorToken(ctx, t.ID)
		}
		if !errors.Is(err, errs.ErrNotFound) {
			return 0, fmt.Errorf("ensure admin token: %w", err)
		}
		now := s.clock()
		t = Token{ID: id.New(PrefixToken, now), Hash: hash, Role: RoleAdmin, CreatedAt: now}
		err = s.tokens.CreateToken(ctx, t)
		if err == nil {
			return s.keepOperatorToken(ctx, t.ID)
		}
		if !errors.Is(err, ErrTokenExists) {
			return 0, fmt.Errorf("ensure admin token: %w", err)
		}
		// Another process stored it first: check its role on the next turn.
	}
	return 0, fmt.Errorf("ensure admin token: %w", ErrTokenExists)
}

// keepOperatorToken marks tokenID as the operator's and retires the others.
func (s *Service) keepOperatorToken(ctx context.Context, tokenID string) (int, error) {
	n, err := s.tokens.KeepOperatorToken(ctx, tokenID, s.clock())
	if err != nil {
		return 0, fmt.Errorf("ensure admin token: %w", err)
	}
	return n, nil
}

// ErrOperatorTokenRetired refuses a DAIHUO_ADMIN_TOKEN value that a newer
// one retired, that was revoked, or that was minted with an expiry.
var ErrOperatorTokenRetired = errs.New(errs.CodeConflict,
	"this DAIHUO_ADMIN_TOKEN value was retired by a newer one, revoked, or expires; choose a new value")

// GetBrand returns a brand to an admin or to the brand itself.
func (s *Service) GetBrand(ctx context.Context, p Principal, brandID string) (Brand, error) {
	if !p.IsAdmin() && !p.IsBrand(brandID) {
		return Brand{}, errs.ErrNotFound
	}
	b, err := s.store.GetBrand(ctx, brandID)
	if err != nil {
		return Brand{}, fmt.Errorf("get brand: %w", err)
	}
	return b, nil
}

// GetAgency returns an agency to an admin or to the agency itself.
func (s *Service) GetAgency(ctx context.Context, p Principal, agencyID string) (Agency, error) {
	if !p.IsAdmin() && !p.IsAgency(agencyID) {
		return Agency{}, errs.ErrNotFound
	}
	a, err := s.store.GetAgency(ctx, agencyID)
	if err != nil {
		return Agency{}, fmt.Errorf("get agency: %w", err)
	}
	return a, nil
}

// GetCreator returns a creator to an admin, to the creator itself and to
// its agency.
func (s *Service) GetCreator(ctx context.Context, p Principal, creatorID string) (Creator, error) {
	if !p.IsAdmin() && !p.IsCreator(creatorID) && p.Role != RoleAgency {
		return Creator{}, errs.ErrNotFound
	}
	c, err := s.store.GetCreator(ctx, creatorID)
	if err != nil {
		return Creator{}, fmt.Errorf("get creator: %w", err)
	}
	if !canSeeCreator(p, c) {
		return Creator{}, errs.ErrNotFound
	}
	return c, nil
}

// GetShopper returns a shopper to an admin or to the shopper itself.
func (s *Service) GetShopper(ctx context.Context, p Principal, shopperID string) (Shopper, error) {
	if !p.IsAdmin() && !p.IsShopper(shopperID) {
		return Shopper{}, errs.ErrNotFound
	}
	sh, err := s.store.GetShopper(ctx, shopperID)
	if err != nil {
		return Shopper{}, fmt.Errorf("get shopper: %w", err)
	}
	return sh, nil
}

// FindBrandByName returns the oldest brand with this exact name; admins only.
func (s *Service) FindBrandByName(ctx context.Context, p Principal, name string) (Brand, error) {
	if !p.IsAdmin() {
		return Brand{}, errs.ErrForbidden
	}
	b, err := s.store.FindBrandByName(ctx, name)
	if err != nil {
		return Brand{}, fmt.Errorf("find brand: %w", err)
	}
	return b, nil
}

// FindAgencyByName returns the oldest agency with this exact name; admins only.
func (s *Service) FindAgencyByName(ctx context.Context, p Principal, name string) (Agency, error) {
	if !p.IsAdmin() {
		return Agency{}, errs.ErrForbidden
	}
	a, err := s.store.FindAgencyByName(ctx, name)
	if err != nil {
		return Agency{}, fmt.Errorf("find agency: %w", err)
	}
	return a, nil
}

// FindCreatorByHandle returns the creator with this handle to whoever may
// see it (admin, the creator, its agency); others get errs.ErrNotFound.
func (s *Service) FindCreatorByHandle(ctx context.Context, p Principal, handle string) (Creator, error) {
	handle, err := NormalizeHandle(handle)
	if err != nil {
		return Creator{}, errs.ErrNotFound
	}
	c, err := s.store.FindCreatorByHandle(ctx, handle)
	if err != nil {
		return Creator{}, fmt.Errorf("find creator: %w", err)
	}
	if !canSeeCreator(p, c) {
		return Creator{}, errs.ErrNotFound
	}
	return c, nil
}

// FindShopperByEmail returns the oldest shopper with this email; admins only.
func (s *Service) FindShopperByEmail(ctx context.Context, p Principal, email string) (Shopper, error) {
	if !p.IsAdmin() {
		return Shopper{}, errs.ErrForbidden
	}
	sh, err := s.store.FindShopperByEmail(ctx, email)
	if err != nil {
		return Shopper{}, fmt.Errorf("find shopper: %w", err)
	}
	return sh, nil
}

func canSeeCreator(p Principal, c Creator) bool {
	return p.IsAdmin() || p.IsCreator(c.ID) || (c.AgencyID != "" && p.IsAgency(c.AgencyID))
}
