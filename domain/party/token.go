package party

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// TokenPrefix starts every token daihuo issues, so leaked tokens are easy to
// recognise in logs and by secret scanners.
const TokenPrefix = "dh_"

// MinAdminTokenLen is the shortest bootstrap admin token accepted from
// DAIHUO_ADMIN_TOKEN.
const MinAdminTokenLen = 16

// maxTokenLen bounds what Authenticate hashes; longer input cannot be a token.
const maxTokenLen = 512

// Token is a stored bearer credential. Only the SHA-256 hash of its plaintext
// is kept, so a database leak reveals no usable token.
type Token struct {
	ID         string
	Hash       []byte // SHA-256 of the plaintext
	Role       Role
	PartyID    string // empty for admin tokens
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never expires
	LastUsedAt time.Time // when last used, at most a minute off; issue counts as a use
	RevokedAt  time.Time // zero: not revoked
	Operator   bool      // provisioned from DAIHUO_ADMIN_TOKEN
}

// Expired reports whether the token is no longer valid at now: past its
// expiry, or revoked (whatever now is).
func (t Token) Expired(now time.Time) bool {
	return !t.RevokedAt.IsZero() || (!t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt))
}

// IssuedToken is a freshly created token with its plaintext, which is shown
// once and never stored.
type IssuedToken struct {
	ID        string
	Token     string // the plaintext bearer token, "dh_…"
	Role      Role
	PartyID   string
	ExpiresAt time.Time // zero: never expires
}

// HashToken returns the SHA-256 of a token's plaintext: the form tokens are
// stored and looked up in.
func HashToken(plaintext string) []byte {
	h := sha256.Sum256([]byte(plaintext))
	return h[:]
}

// newTokenSecret returns "dh_" and 32 random bytes in unpadded base64url.
func newTokenSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}
