// Package idempotency is the shared vocabulary of Idempotency-Key handling:
// the answer recorded under a key and the two ways a store refuses one. The
// store (storage) and the HTTP layer (api) both speak it, so neither needs
// to translate the other's types.
package idempotency

import (
	"errors"

	"github.com/daihuo/daihuo/domain/errs"
)

// Recorded is the answer recorded under a key, replayed to a retry.
type Recorded struct {
	Status int
	Body   []byte
}

// Lease names one request's claim on a key. A claim left in progress for
// too long (its process presumably died) is taken over by a retry under a
// new lease; the first request, if it was only slow, then finds its lease
// lost and can neither record an answer over the retry's nor free the key
// under it.
type Lease string

// ErrLeaseLost refuses to record or forget an answer under a lease that a
// retry took over.
var ErrLeaseLost = errors.New("the claim on this Idempotency-Key was taken over by a retry")

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
