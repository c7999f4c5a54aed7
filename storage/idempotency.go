package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/group"
	"github.com/daihuo/daihuo/domain/idempotency"
)

// IdempotencyConfig tunes an IdempotencyStore; zero values take the
// defaults named beside them.
type IdempotencyConfig struct {
	// Wait is how long Begin waits for a request in progress under the same
	// key to finish, to replay its answer, before idempotency.ErrInProgress (2 s).
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
//
// Claims (the first INSERT of Begin) and answers (Complete) made outside a
// transaction are group-committed: those asked for while one statement is
// in flight are written together by the next.
type IdempotencyStore struct {
	db        *gorm.DB
	cfg       IdempotencyConfig
	claims    *group.Group[idempotencyClaim, bool]
	completes *group.Group[idempotencyAnswer, bool]
	exists    *group.Group[scopedKey, bool]
	abandons  *group.Group[idempotencyAbandon, bool]
}

// idempotencyAbandon is an Abandon waiting for its group's DELETE.
type idempotencyAbandon struct {
	scope, key string
	lease      idempotency.Lease
}

// scopedKey names one record.
type scopedKey struct{ scope, key string }

// idempotencyClaim is a Begin's first attempt to claim a key.
type idempotencyClaim struct {
	scope, key string
	hash       []byte
	lease      idempotency.Lease
}

// idempotencyAnswer is a Complete waiting for its group's UPDATE.
type idempotencyAnswer struct {
	scope, key string
	lease      idempotency.Lease
	status     int
	body       []byte
}

// NewIdempotencyStore returns an IdempotencyStore on db.
func NewIdempotencyStore(db *gorm.DB, cfg IdempotencyConfig) *IdempotencyStore {
	if cfg.Wait <= 0 {
		cfg.Wait = 2 * time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	s := &IdempotencyStore{db: db, cfg: cfg}
	s.claims = group.New[idempotencyClaim, bool](1000, s.claimAll)
	s.completes = group.New[idempotencyAnswer, bool](1000, s.completeAll)
	s.exists = group.New[scopedKey, bool](1000, s.existAll)
	s.abandons = group.New[idempotencyAbandon, bool](1000, s.abandonAll)
	return s
}

// claimAll inserts the in-progress records of a group of claims with one
// statement and reports which ones it inserted; a key asked for twice in
// the group is claimed by its first ask only.
func (s *IdempotencyStore) claimAll(ctx context.Context, cs []idempotencyClaim) ([]bool, error) {
	first := make(map[scopedKey]int, len(cs))
	var scopes, keys, leases []string
	var hashes [][]byte
	for i, c := range cs {
		if _, dup := first[scopedKey{c.scope, c.key}]; dup {
			continue
		}
		first[scopedKey{c.scope, c.key}] = i
		scopes, keys, hashes = append(scopes, c.scope), append(keys, c.key), append(hashes, c.hash)
		leases = append(leases, string(c.lease))
	}
	rows, err := SQL(s.db).QueryContext(ctx, `INSERT INTO idempotency_keys (scope, key, request_hash, state, lease)
		SELECT scope, key, hash, 'in_progress', lease FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[]) AS u(scope, key, hash, lease)
		ON CONFLICT DO NOTHING RETURNING scope, key`, scopes, keys, hashes, leases)
	if err != nil {
		return nil, fmt.Errorf("idempotency begin: %w", err)
	}
	claimed, err := keyedRows(rows, "idempotency begin", func(r *sql.Rows) (k scopedKey, _ bool, err error) {
		err = r.Scan(&k.scope, &k.key)
		return k, true, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(cs))
	for k := range claimed {
		out[first[k]] = true
	}
	return out, nil
}

// completeAll records a group of answers with one statement and reports
// which ones found their request in progress under their lease.
// Two answers for one key may share a group (a slow request and the retry
// that took its key over often finish together): each is matched on its
// lease too, so the stale one cannot stand in for the other.
func (s *IdempotencyStore) completeAll(ctx context.Context, as []idempotencyAnswer) ([]bool, error) {
	type leasedKey struct {
		scope, key string
		lease      idempotency.Lease
	}
	first := make(map[leasedKey]int, len(as))
	var scopes, keys, leases []string
	var statuses []int32
	var bodies [][]byte
	for i, a := range as {
		if _, dup := first[leasedKey{a.scope, a.key, a.lease}]; dup {
			continue
		}
		first[leasedKey{a.scope, a.key, a.lease}] = i
		scopes, keys, leases = append(scopes, a.scope), append(keys, a.key), append(leases, string(a.lease))
		statuses, bodies = append(statuses, int32(a.status)), append(bodies, a.body)
	}
	rows, err := SQL(s.db).QueryContext(ctx, `UPDATE idempotency_keys k SET state = 'done', status = u.status, body = u.body, updated_at = now()
		FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bytea[]) AS u(scope, key, lease, status, body)
		WHERE k.scope = u.scope AND k.key = u.key AND k.state = 'in_progress' AND k.lease = u.lease
		RETURNING k.scope, k.key, k.lease`, scopes, keys, leases, statuses, bodies)
	if err != nil {
		return nil, fmt.Errorf("idempotency complete: %w", err)
	}
	recorded, err := keyedRows(rows, "idempotency complete", func(r *sql.Rows) (k leasedKey, _ bool, err error) {
		err = r.Scan(&k.scope, &k.key, &k.lease)
		return k, true, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(as))
	for k := range recorded {
		out[first[k]] = true
	}
	return out, nil
}

type idempotencyRow struct {
	RequestHash []byte    `gorm:"column:request_hash"`
	State       string    `gorm:"column:state"`
	Status      int       `gorm:"column:status"`
	Body        []byte    `gorm:"column:body"`
	Stale       bool      `gorm:"column:stale"`
	Lease       string    `gorm:"column:lease"`
	UpdatedAt   time.Time `gorm:"column:updated_at"`
}

// Begin claims (scope, key) for a request whose body hashes to
// requestHash. It answers a lease and no record when the caller should
// handle the request and then Complete or Abandon it under that lease; the
// recorded answer when the same request was answered before;
// idempotency.ErrConflict when the key was used with another request;
// idempotency.ErrInProgress when the same request is still being handled
// after waiting up to IdempotencyConfig.Wait.
func (s *IdempotencyStore) Begin(ctx context.Context, scope, key string, requestHash []byte) (idempotency.Lease, *idempotency.Recorded, error) {
	lease := idempotency.Lease(rand.Text())
	deadline := time.Now().Add(s.cfg.Wait)
	pause := 5 * time.Millisecond
	inTx := inTransaction(ctx)
	for attempt := 0; ; attempt++ {
		db := conn(ctx, s.db)
		if attempt == 0 && !inTx {
			claimed, err := s.claims.Do(ctx, idempotencyClaim{scope: scope, key: key, hash: requestHash, lease: lease})
			if err != nil {
				return "", nil, err
			}
			if claimed {
				return lease, nil, nil
			}
		} else {
			res := db.Exec(`INSERT INTO idempotency_keys (scope, key, request_hash, state, lease)
				VALUES (?, ?, ?, 'in_progress', ?) ON CONFLICT DO NOTHING`, scope, key, requestHash, string(lease))
			if res.Error != nil {
				return "", nil, fmt.Errorf("idempotency begin: %w", res.Error)
			}
			if res.RowsAffected == 1 {
				return lease, nil, nil
			}
		}
		var rows []idempotencyRow
		err := db.Raw(`SELECT request_hash, state, status, body, updated_at, lease,
				updated_at < now() - make_interval(secs => ?) AS stale
			FROM idempotency_keys WHERE scope = ? AND key = ?`, s.cfg.Lease.Seconds(), scope, key).Scan(&rows).Error
		if err != nil {
			return "", nil, fmt.Errorf("idempotency begin: %w", err)
		}
		if len(rows) == 0 {
			continue // abandoned meanwhile: claim it
		}
		row := rows[0]
		switch {
		case !bytes.Equal(row.RequestHash, requestHash):
			return "", nil, idempotency.ErrConflict
		case row.State == "done":
			return "", &idempotency.Recorded{Status: row.Status, Body: row.Body}, nil
		case row.Stale:
			// The first attempt's process presumably died: take the record
			// over under a new lease, unless another retry just did.
			res := db.Exec(`UPDATE idempotency_keys SET updated_at = now(), lease = ?
				WHERE scope = ? AND key = ? AND state = 'in_progress' AND lease = ? AND updated_at = ?`,
				string(lease), scope, key, row.Lease, row.UpdatedAt)
			if res.Error != nil {
				return "", nil, fmt.Errorf("idempotency begin: %w", res.Error)
			}
			if res.RowsAffected == 1 {
				return lease, nil, nil
			}
			continue
		}
		if time.Now().Add(pause).After(deadline) {
			return "", nil, idempotency.ErrInProgress
		}
		select {
		case <-ctx.Done():
			return "", nil, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// Exists reports whether a record of (scope, key) exists, in progress or
// answered: a read that changes nothing (grouped with the other Exists
// asked for meanwhile), so a request that can be
// answered without any work (see the api's shortcut) is answered without
// claiming its key when no earlier request used it.
func (s *IdempotencyStore) Exists(ctx context.Context, scope, key string) (bool, error) {
	return s.exists.Do(ctx, scopedKey{scope, key})
}

// existAll answers a group of Exists with one read, an index probe per key.
func (s *IdempotencyStore) existAll(ctx context.Context, ks []scopedKey) ([]bool, error) {
	scopes, keys := make([]string, len(ks)), make([]string, len(ks))
	for i, k := range ks {
		scopes[i], keys[i] = k.scope, k.key
	}
	rows, err := SQL(s.db).QueryContext(ctx, `SELECT u.scope, u.key FROM unnest($1::text[], $2::text[]) AS u(scope, key)
		WHERE EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.scope = u.scope AND k.key = u.key)`, scopes, keys)
	if err != nil {
		return nil, fmt.Errorf("idempotency exists: %w", err)
	}
	found, err := keyedRows(rows, "idempotency exists", func(r *sql.Rows) (k scopedKey, _ bool, err error) {
		err = r.Scan(&k.scope, &k.key)
		return k, true, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(ks))
	for i, k := range ks {
		out[i] = found[k]
	}
	return out, nil
}

// Complete records the answer of the request that Begin let through under
// lease. It answers idempotency.ErrLeaseLost when a retry took the claim
// over, and errs.ErrNotFound when no claim is in progress under the key.
func (s *IdempotencyStore) Complete(ctx context.Context, scope, key string, lease idempotency.Lease, status int, body []byte) error {
	if body == nil {
		body = []byte{}
	}
	var ok bool
	if !inTransaction(ctx) {
		var err error
		ok, err = s.completes.Do(ctx, idempotencyAnswer{scope: scope, key: key, lease: lease, status: status, body: body})
		if err != nil {
			return err
		}
	} else {
		res := conn(ctx, s.db).Exec(`UPDATE idempotency_keys SET state = 'done', status = ?, body = ?, updated_at = now()
			WHERE scope = ? AND key = ? AND state = 'in_progress' AND lease = ?`, status, body, scope, key, string(lease))
		if res.Error != nil {
			return fmt.Errorf("idempotency complete: %w", res.Error)
		}
		ok = res.RowsAffected == 1
	}
	if ok {
		return nil
	}
	return s.whyNotHeld(ctx, "complete", scope, key, lease)
}

// whyNotHeld explains why lease no longer holds its key: a retry took the
// claim over, and may have answered already (idempotency.ErrLeaseLost), or
// there is no claim under the lease in progress (errs.ErrNotFound).
func (s *IdempotencyStore) whyNotHeld(ctx context.Context, op, scope, key string, lease idempotency.Lease) error {
	var other int64
	err := conn(ctx, s.db).Raw(`SELECT count(*) FROM idempotency_keys WHERE scope = ? AND key = ? AND lease <> ?`,
		scope, key, string(lease)).Scan(&other).Error
	switch {
	case err != nil:
		return fmt.Errorf("idempotency %s: %w", op, err)
	case other > 0:
		return fmt.Errorf("idempotency %s: %w", op, idempotency.ErrLeaseLost)
	}
	return fmt.Errorf("idempotency %s: no request in progress under this key: %w", op, errs.ErrNotFound)
}

// Abandon forgets a request in progress under lease that ended without an
// answer worth replaying (a 5xx, a panic), so a retry runs it again. A claim
// a retry took over stays: idempotency.ErrLeaseLost.
func (s *IdempotencyStore) Abandon(ctx context.Context, scope, key string, lease idempotency.Lease) error {
	var deleted bool
	if inTransaction(ctx) {
		res := conn(ctx, s.db).Exec(`DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND state = 'in_progress' AND lease = ?`,
			scope, key, string(lease))
		if res.Error != nil {
			return fmt.Errorf("idempotency abandon: %w", res.Error)
		}
		deleted = res.RowsAffected == 1
	} else {
		// A crowd refused at once (a flash sale sold out under it)
		// abandons its claims together: grouped, one statement.
		var err error
		if deleted, err = s.abandons.Do(ctx, idempotencyAbandon{scope, key, lease}); err != nil {
			return err
		}
	}
	if deleted {
		return nil
	}
	err := s.whyNotHeld(ctx, "abandon", scope, key, lease)
	if errors.Is(err, errs.ErrNotFound) {
		return nil // nothing in progress: nothing to forget
	}
	return err
}

// abandonAll deletes a group's claims still in progress under their
// leases with one statement and reports which ones it deleted.
func (s *IdempotencyStore) abandonAll(ctx context.Context, as []idempotencyAbandon) ([]bool, error) {
	scopes, keys, leases := make([]string, len(as)), make([]string, len(as)), make([]string, len(as))
	for i, a := range as {
		scopes[i], keys[i], leases[i] = a.scope, a.key, string(a.lease)
	}
	rows, err := SQL(s.db).QueryContext(ctx, `DELETE FROM idempotency_keys k USING unnest($1::text[], $2::text[], $3::text[]) AS u(scope, key, lease)
		WHERE k.scope = u.scope AND k.key = u.key AND k.lease = u.lease AND k.state = 'in_progress'
		RETURNING k.scope, k.key, k.lease`, scopes, keys, leases)
	if err != nil {
		return nil, fmt.Errorf("idempotency abandon: %w", err)
	}
	gone, err := keyedRows(rows, "idempotency abandon", func(r *sql.Rows) (a idempotencyAbandon, _ bool, err error) {
		err = r.Scan(&a.scope, &a.key, &a.lease)
		return a, true, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(as))
	for i, a := range as {
		out[i] = gone[a]
	}
	return out, nil
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
