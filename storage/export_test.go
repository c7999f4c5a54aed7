package storage

import (
	"context"
	"time"

	"github.com/daihuo/daihuo/domain/idempotency"
)

// ConnForTest exposes conn to the package's external tests.
var ConnForTest = conn

// TouchBatchForTest runs one group's UPDATE of token touches, as a batch of
// TouchToken calls does, all at at.
func TouchBatchForTest(ctx context.Context, s *TokenStore, ids []string, at time.Time) error {
	ts := make([]tokenTouch, len(ids))
	for i, id := range ids {
		ts[i] = tokenTouch{id: id, at: at}
	}
	_, err := s.touchAll(ctx, ts)
	return err
}

// CompleteBatchForTest runs one group's UPDATE of idempotent answers, as a
// batch of Complete calls does, and reports which found their claim.
func CompleteBatchForTest(ctx context.Context, s *IdempotencyStore, scope, key string, leases []idempotency.Lease, bodies []string) ([]bool, error) {
	as := make([]idempotencyAnswer, len(leases))
	for i, l := range leases {
		as[i] = idempotencyAnswer{scope: scope, key: key, lease: l, status: 201, body: []byte(bodies[i])}
	}
	return s.completeAll(ctx, as)
}
