package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/daihuo/daihuo/domain/party"
)

// TokenStore keeps bearer tokens in Postgres as SHA-256 hashes only.
type TokenStore struct{ db *gorm.DB }

var _ party.TokenStore = (*TokenStore)(nil)

// NewTokenStore returns a TokenStore on db.
func NewTokenStore(db *gorm.DB) *TokenStore { return &TokenStore{db: db} }

type tokenModel struct {
	ID         string     `gorm:"column:id;primaryKey"`
	Hash       []byte     `gorm:"column:hash"`
	Role       string     `gorm:"column:role"`
	PartyID    *string    `gorm:"column:party_id"`
	CreatedAt  time.Time  `gorm:"column:created_at"`
	ExpiresAt  *time.Time `gorm:"column:expires_at"`
	LastUsedAt *time.Time `gorm:"column:last_used_at"`
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

// TokenByHash returns the token with this SHA-256 hash or errs.ErrNotFound.
func (s *TokenStore) TokenByHash(ctx context.Context, hash []byte) (party.Token, error) {
	var m tokenModel
	if err := conn(ctx, s.db).Where("hash = ?", hash).Take(&m).Error; err != nil {
		return party.Token{}, notFoundOr("get token", err)
	}
	return m.toDomain(), nil
}

// TouchToken sets the token's last use to at, never moving it backwards.
func (s *TokenStore) TouchToken(ctx context.Context, id string, at time.Time) error {
	err := conn(ctx, s.db).Model(&tokenModel{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, at.UTC()).
		Update("last_used_at", at.UTC()).Error
	if err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	return nil
}
