// Package idempotency is the shared vocabulary of Idempotency-Key handling:
// the answer recorded under a key and the two ways a store refuses one. The
// store (storage) and the HTTP layer (api) both speak it, so neither needs
// to translate the other's types.
package idempotency

import "github.com/daihuo/daihuo/domain/errs"

// Recorded is the answer recorded under a key, replayed to a retry.
type Recorded struct {
	Status int
	Body   []byte
}

// Refusals of a key; both have the code idempotency_conflict (409).
var (
	// ErrConflict refuses a key reused with another request.
	ErrConflict = errs.New(errs.CodeIdempotencyConflict,
		"this Idempotency-Key was already used with a different request")
	// ErrInProgress refuses a key whose first request is still being
	// handled; the client retries after a moment (Retry-After: 1).
	ErrInProgress = errs.New(errs.CodeIdempotencyConflict,
		"a request with this Idempotency-Key is still in progress; retry in a moment")
)
