package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/group"
	"github.com/daihuo/daihuo/domain/party"
)

// TokenStore keeps bearer tokens in Postgres as SHA-256 hashes only.
//
// Touches are group-committed: the touches asked for while one UPDATE is in
// flight are written together by the next one, so a crowd of fresh tokens
// arriving at once (a flash sale) costs a few commits, not one per token.
//
// Lookups outside transactions are grouped the same way: the lookups asked
// for while one SELECT is in flight are answered by the next one.
type TokenStore struct {
	db      *gorm.DB
	touches *group.Group[tokenTouch, struct{}]
	lookups *group.Group[string, tokenLookup]
}

// tokenLookup is the answer to one grouped lookup.
type tokenLookup struct {
	t   party.Token
	err error
}

// tokenTouch is a touch waiting for its group's UPDATE.
type tokenTouch struct {
	id string
	at time.Time
}

var _ party.TokenStore = (*TokenStore)(nil)

// NewTokenStore returns a TokenStore on db.
func NewTokenStore(db *gorm.DB) *TokenStore {
	s := &TokenStore{db: db}
	s.touches = group.New[tokenTouch, struct{}](1000, s.touchAll)
	s.lookups = group.New[string, tokenLookup](1000, s.lookupAll)
	return s
}

type tokenModel struct {
	ID         string     `gorm:"column:id;primaryKey"`
	Hash       []byte     `gorm:"column:hash"`
	Role       string     `gorm:"column:role"`
	PartyID    *string    `gorm:"column:party_id"`
	CreatedAt  time.Time  `gorm:"column:created_at"`
	ExpiresAt  *time.Time `gorm:"column:expires_at"`
	LastUsedAt *time.Time `gorm:"column:last_used_at"`
	RevokedAt  *time.Time `gorm:"column:revoked_at"`
	Operator   bool       `gorm:"column:operator;->"` // set only by KeepOperatorToken
}

func (tokenModel) TableName() string { return "tokens" }

func tokenFromDomain(t party.Token) tokenModel {
	return tokenModel{
		ID:         t.ID,
		Hash:       t.Hash,
		Role:       string(t.Role),
		PartyID:    optString(t.PartyID),
		CreatedAt:  t.CreatedAt.UTC(),
		ExpiresAt:  optTime(t.ExpiresAt),
		LastUsedAt: optTime(t.LastUsedAt),
		RevokedAt:  optTime(t.RevokedAt),
	}
}

func (m tokenModel) toDomain() party.Token {
	return party.Token{
		ID:         m.ID,
		Hash:       m.Hash,
		Role:       party.Role(m.Role),
		PartyID:    optStringValue(m.PartyID),
		CreatedAt:  m.CreatedAt.UTC(),
		ExpiresAt:  optTimeValue(m.ExpiresAt),
		LastUsedAt: optTimeValue(m.LastUsedAt),
		RevokedAt:  optTimeValue(m.RevokedAt),
		Operator:   m.Operator,
	}
}

// CreateToken inserts t; a hash already stored answers party.ErrTokenExists.
func (s *TokenStore) CreateToken(ctx context.Context, t party.Token) error {
	m := tokenFromDomain(t)
	err := conn(ctx, s.db).Create(&m).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return party.ErrTokenExists
	}
	if err != nil {
		return fmt.Errorf("insert token: %w", err)
	}
	return nil
}

// KeepOperatorToken marks the token id as provisioned from the operator's
// configuration (tokens.operator) and expires at at every other token so
// marked that never expired, reporting how many. Processes starting at once
// with different values take turns (a transaction lock), and a token with
// an expiry is never marked: the value retired last stays retired, whatever
// the processes' clocks say.
func (s *TokenStore) KeepOperatorToken(ctx context.Context, id string, at time.Time) (int, error) {
	var n int64
	err := inTx(ctx, s.db, func(ctx context.Context) error {
		db := conn(ctx, s.db)
		if err := db.Exec(`SELECT pg_advisory_xact_lock(hashtext('daihuo.operator-token'))`).Error; err != nil {
			return err
		}
		res := db.Exec(`UPDATE tokens SET operator = true WHERE id = ? AND expires_at IS NULL`, id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return party.ErrOperatorTokenRetired
		}
		res = db.Exec(`UPDATE tokens SET expires_at = ? WHERE operator AND id <> ? AND expires_at IS NULL`, at.UTC(), id)
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("keep operator token: %w", err)
	}
	return int(n), nil
}

// GetToken returns the token with this id or errs.ErrNotFound.
func (s *TokenStore) GetToken(ctx context.Context, id string) (party.Token, error) {
	var m tokenModel
	if err := conn(ctx, s.db).Where("id = ?", id).Take(&m).Error; err != nil {
		return party.Token{}, notFoundOr("get token", err)
	}
	return m.toDomain(), nil
}

// RevokeToken marks the token revoked at at unless it already is.
func (s *TokenStore) RevokeToken(ctx context.Context, id string, at time.Time) error {
	err := conn(ctx, s.db).Exec(`UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, at.UTC(), id).Error
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// TokenByHash returns the token with this SHA-256 hash or errs.ErrNotFound.
func (s *TokenStore) TokenByHash(ctx context.Context, hash []byte) (party.Token, error) {
	if inTransaction(ctx) {
		var m tokenModel
		if err := conn(ctx, s.db).Where("hash = ?", hash).Take(&m).Error; err != nil {
			return party.Token{}, notFoundOr("get token", err)
		}
		return m.toDomain(), nil
	}
	// The hot path of every request: grouped, plain database/sql.
	r, err := s.lookups.Do(ctx, string(hash))
	if err != nil {
		return party.Token{}, err
	}
	return r.t, r.err
}

// lookupAll answers a group of lookups by hash with one SELECT.
func (s *TokenStore) lookupAll(ctx context.Context, hashes []string) ([]tokenLookup, error) {
	keys := make([][]byte, len(hashes))
	for i, h := range hashes {
		keys[i] = []byte(h)
	}
	// One index probe per hash (LATERAL): with "hash = ANY($1)" the planner
	// may scan the table, and right after a crowd signed up, with statistics
	// not yet refreshed, it does.
	rows, err := SQL(s.db).QueryContext(ctx, `SELECT t.id, t.hash, t.role, t.party_id, t.created_at, t.expires_at, t.last_used_at,
			t.revoked_at, t.operator
		FROM unnest($1::bytea[]) AS h(hash)
		CROSS JOIN LATERAL (SELECT * FROM tokens WHERE tokens.hash = h.hash) t`, keys)
	if err != nil {
		return nil, fmt.Errorf("get token: %w", err)
	}
	found, err := keyedRows(rows, "get token", func(r *sql.Rows) (string, party.Token, error) {
		var m tokenModel
		err := r.Scan(&m.ID, &m.Hash, &m.Role, &m.PartyID, &m.CreatedAt, &m.ExpiresAt, &m.LastUsedAt, &m.RevokedAt, &m.Operator)
		return string(m.Hash), m.toDomain(), err
	})
	if err != nil {
		return nil, err
	}
	out := make([]tokenLookup, len(hashes))
	for i, h := range hashes {
		t, ok := found[h]
		if !ok {
			out[i].err = errs.ErrNotFound
			continue
		}
		out[i].t = t
	}
	return out, nil
}

// TouchToken sets the token's last use to at, never moving it backwards.
// Outside a transaction it joins the next group UPDATE and returns once
// that committed.
func (s *TokenStore) TouchToken(ctx context.Context, id string, at time.Time) error {
	if inTransaction(ctx) {
		err := conn(ctx, s.db).Model(&tokenModel{}).
			Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, at.UTC()).
			Update("last_used_at", at.UTC()).Error
		if err != nil {
			return fmt.Errorf("touch token: %w", err)
		}
		return nil
	}
	_, err := s.touches.Do(ctx, tokenTouch{id: id, at: at.UTC()})
	return err
}

// touchAll writes a group of touches with one UPDATE. Several nodes touch
// the same tokens at once (a crowd's requests spread over them): the rows
// are locked in id order, and a row another node is touching right now is
// skipped, since that node writes a time as recent. In whatever order a
// join met them, two nodes' batches locked rows in opposite orders and
// deadlocked.
func (s *TokenStore) touchAll(ctx context.Context, ts []tokenTouch) ([]struct{}, error) {
	ids := make([]string, len(ts))
	ats := make([]time.Time, len(ts))
	for i, t := range ts {
		ids[i], ats[i] = t.id, t.at
	}
	_, err := SQL(s.db).ExecContext(ctx, `WITH v AS (
			SELECT id, max(at) AS at FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at) GROUP BY id
		), locked AS MATERIALIZED (
			SELECT t.id, v.at FROM tokens t JOIN v ON v.id = t.id
			WHERE t.last_used_at IS NULL OR t.last_used_at < v.at
			ORDER BY t.id FOR NO KEY UPDATE OF t SKIP LOCKED
		)
		UPDATE tokens t SET last_used_at = locked.at FROM locked WHERE t.id = locked.id`, ids, ats)
	if err != nil {
		return nil, fmt.Errorf("touch token: %w", err)
	}
	return make([]struct{}, len(ts)), nil
}
