package storage

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/daihuo/daihuo/domain/errs"
)

// Errors of the idempotency store; both have the code idempotency_conflict
// (409).
var (
	// ErrIdempotencyConflict refuses a key reused with another request body.
	ErrIdempotencyConflict = errs.New(errs.CodeIdempotencyConflict,
		"this Idempotency-Key was already used with a different request")
	// ErrIdempotencyInProgress refuses a key whose first request is still
	// being handled; the client retries after a moment (the api may send
	// Retry-After: 1).
	ErrIdempotencyInProgress = errs.New(errs.CodeIdempotencyConflict,
		"a request with this Idempotency-Key is still in progress; retry in a moment")
)

// IdempotencyConfig tunes an IdempotencyStore; zero values take the
// defaults named beside them.
type IdempotencyConfig struct {
	// Wait is how long Begin waits for a request in progress under the same
	// key to finish, to replay its answer, before ErrIdempotencyInProgress (2 s).
	Wait time.Duration
	// Lease is how old an in-progress record may get before another request
	// takes it over, presuming the first one's process died (1 min).
	Lease time.Duration
}

// IdempotencyStore records the answers of requests made with an
// Idempotency-Key, so the api can replay the first answer to a retry.
//
// Records are keyed by a scope and the client's key. The scope names who
// asked and where, e.g. "shopper:shp_… POST /v1/orders", so two callers'
// keys never collide. A record starts in progress (Begin), then holds the
// answer (Complete): status and body. Answers worth replaying are 2xx and
// 4xx ones (a 4xx changed nothing, and the same request gets the same
// answer); after a 5xx or a panic the api calls Abandon, so a retry runs
// again.
type IdempotencyStore struct {
	db  *gorm.DB
	cfg IdempotencyConfig
}

// NewIdempotencyStore returns an IdempotencyStore on db.
func NewIdempotencyStore(db *gorm.DB, cfg IdempotencyConfig) *IdempotencyStore {
	if cfg.Wait <= 0 {
		cfg.Wait = 2 * time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	return &IdempotencyStore{db: db, cfg: cfg}
}

// Recorded is the answer recorded for a key.
type Recorded struct {
	Status int
	Body   []byte
}

type idempotencyRow struct {
	RequestHash []byte    `gorm:"column:request_hash"`
	State       string    `gorm:"column:state"`
	Status      int       `gorm:"column:status"`
	Body        []byte    `gorm:"column:body"`
	Stale       bool      `gorm:"column:stale"`
	UpdatedAt   time.Time `gorm:"column:updated_at"`
}

// Begin claims (scope, key) for a request whose body hashes to
// requestHash. It answers (nil, nil) when the caller should handle the
// request and then Complete or Abandon it; the recorded answer when the same
// request was answered before; ErrIdempotencyConflict when the key was used
// with another request; ErrIdempotencyInProgress when the same request is
// still being handled after waiting up to IdempotencyConfig.Wait.
func (s *IdempotencyStore) Begin(ctx context.Context, scope, key string, requestHash []byte) (*Recorded, error) {
	deadline := time.Now().Add(s.cfg.Wait)
	pause := 5 * time.Millisecond
	for {
		db := conn(ctx, s.db)
		res := db.Exec(`INSERT INTO idempotency_keys (scope, key, request_hash, state)
			VALUES (?, ?, ?, 'in_progress') ON CONFLICT DO NOTHING`, scope, key, requestHash)
		if res.Error != nil {
			return nil, fmt.Errorf("idempotency begin: %w", res.Error)
		}
		if res.RowsAffected == 1 {
			return nil, nil
		}
		var rows []idempotencyRow
		err := db.Raw(`SELECT request_hash, state, status, body, updated_at,
				updated_at < now() - make_interval(secs => ?) AS stale
			FROM idempotency_keys WHERE scope = ? AND key = ?`, s.cfg.Lease.Seconds(), scope, key).Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("idempotency begin: %w", err)
		}
		if len(rows) == 0 {
			continue // abandoned meanwhile: claim it
		}
		row := rows[0]
		switch {
		case !bytes.Equal(row.RequestHash, requestHash):
			return nil, ErrIdempotencyConflict
		case row.State == "done":
			return &Recorded{Status: row.Status, Body: row.Body}, nil
		case row.Stale:
			// The first attempt's process died: take the record over, unless
			// another retry just did.
			res := db.Exec(`UPDATE idempotency_keys SET updated_at = now()
				WHERE scope = ? AND key = ? AND state = 'in_progress' AND updated_at = ?`, scope, key, row.UpdatedAt)
			if res.Error != nil {
				return nil, fmt.Errorf("idempotency begin: %w", res.Error)
			}
			if res.RowsAffected == 1 {
				return nil, nil
			}
			continue
		}
		if time.Now().Add(pause).After(deadline) {
			return nil, ErrIdempotencyInProgress
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// Complete records the answer of the request that Begin let through.
func (s *IdempotencyStore) Complete(ctx context.Context, scope, key string, status int, body []byte) error {
	if body == nil {
		body = []byte{}
	}
	res := conn(ctx, s.db).Exec(`UPDATE idempotency_keys SET state = 'done', status = ?, body = ?, updated_at = now()
		WHERE scope = ? AND key = ? AND state = 'in_progress'`, status, body, scope, key)
	if res.Error != nil {
		return fmt.Errorf("idempotency complete: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("idempotency complete: no request in progress under this key: %w", errs.ErrNotFound)
	}
	return nil
}

// Abandon forgets a request in progress that ended without an answer worth
// replaying (a 5xx, a panic), so a retry runs it again.
func (s *IdempotencyStore) Abandon(ctx context.Context, scope, key string) error {
	err := conn(ctx, s.db).Exec(`DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND state = 'in_progress'`,
		scope, key).Error
	if err != nil {
		return fmt.Errorf("idempotency abandon: %w", err)
	}
	return nil
}

// Purge deletes up to limit records older than olderThan and reports how
// many it deleted; a key is only guaranteed to replay while its record lives.
func (s *IdempotencyStore) Purge(ctx context.Context, olderThan time.Duration, limit int) (int64, error) {
	res := conn(ctx, s.db).Exec(`DELETE FROM idempotency_keys WHERE ctid IN (
		SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(secs => ?) LIMIT ?)`,
		olderThan.Seconds(), limit)
	if res.Error != nil {
		return 0, fmt.Errorf("idempotency purge: %w", res.Error)
	}
	return res.RowsAffected, nil
}
