package party

import (
	"net/mail"
	"strings"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/text"
)

// The id prefixes of parties and tokens (id.New(PrefixBrand, t) → "brd_…").
const (
	PrefixBrand   = "brd"
	PrefixAgency  = "agy"
	PrefixCreator = "crt"
	PrefixShopper = "shp"
	PrefixToken   = "tok"
)

// MaxNameLen is the longest name or display name, in characters.
const MaxNameLen = 200

// MaxEmailLen is the longest email address accepted (RFC 5321 path limit).
const MaxEmailLen = 254

// Errors of the party context.
var (
	// ErrHandleTaken answers a creator handle that another creator already has.
	ErrHandleTaken = errs.New(errs.CodeConflict, "handle already taken")
	// ErrUnauthenticated answers a missing, unknown or expired token; it does
	// not say which, so a caller learns nothing about other tokens.
	ErrUnauthenticated = errs.New(errs.CodeUnauthenticated, "missing, invalid or expired token")
	// ErrTokenExists answers a token whose hash is already stored.
	ErrTokenExists = errs.New(errs.CodeConflict, "token already exists")
)

// Brand sells products: it keeps a catalog and puts products in streams.
type Brand struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// Agency (a KOL agency or MCN) manages creators and takes a cut of their income.
type Agency struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// Creator (a KOL, the host) runs live streams; it may belong to an agency.
type Creator struct {
	ID          string
	Handle      string // unique, ^[a-z0-9_.]{2,32}$
	DisplayName string
	AgencyID    string // empty when independent
	CreatedAt   time.Time
}

// Shopper watches streams and buys from them.
type Shopper struct {
	ID          string
	DisplayName string
	Email       string // optional
	CreatedAt   time.Time
}

// PrefixFor returns the id prefix of the parties a role acts for, and false
// for admins, who act for no party.
func PrefixFor(r Role) (string, bool) {
	switch r {
	case RoleBrand:
		return PrefixBrand, true
	case RoleAgency:
		return PrefixAgency, true
	case RoleCreator:
		return PrefixCreator, true
	case RoleShopper:
		return PrefixShopper, true
	}
	return "", false
}

// NormalizeName trims a name and checks it: valid UTF-8, no control
// characters, 1–MaxNameLen characters. It returns the trimmed name or a
// validation error on field.
func NormalizeName(field, s string) (string, error) { return text.Line(field, s, MaxNameLen) }

// NormalizeHandle trims and lower-cases a creator handle and checks it
// against ^[a-z0-9_.]{2,32}$; it returns a validation error on field "handle".
func NormalizeHandle(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if !validHandle(s) {
		return "", errs.Invalid("handle", "must be 2–32 characters of a–z, 0–9, '_' and '.'")
	}
	return s, nil
}

// validHandle reports whether s matches ^[a-z0-9_.]{2,32}$.
func validHandle(s string) bool {
	if len(s) < 2 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// NormalizeEmail trims an optional email address and checks it is a bare
// address (local@domain, no display name) of at most MaxEmailLen bytes. An
// empty address stays empty.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if len(s) > MaxEmailLen {
		return "", errs.Invalid("email", "must be at most %d characters", MaxEmailLen)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return "", errs.Invalid("email", "must be an email address like name@example.com")
	}
	return s, nil
}
