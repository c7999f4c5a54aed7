package storage

import (
	"context"
	"time"
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
