package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/party"
)

// PartyStore keeps brands, agencies, creators and shoppers in Postgres.
type PartyStore struct{ db *gorm.DB }

var _ party.Store = (*PartyStore)(nil)

// NewPartyStore returns a PartyStore on db.
func NewPartyStore(db *gorm.DB) *PartyStore { return &PartyStore{db: db} }

type brandModel struct {
	ID        string    `gorm:"column:id;primaryKey"`
	Name      string    `gorm:"column:name"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

func (brandModel) TableName() string { return "brands" }

func brandFromDomain(b party.Brand) brandModel {
	return brandModel{ID: b.ID, Name: b.Name, CreatedAt: b.CreatedAt.UTC()}
}

func (m brandModel) toDomain() party.Brand {
	return party.Brand{ID: m.ID, Name: m.Name, CreatedAt: m.CreatedAt.UTC()}
}

type agencyModel struct {
	ID        string    `gorm:"column:id;primaryKey"`
	Name      string    `gorm:"column:name"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

func (agencyModel) TableName() string { return "agencies" }

func agencyFromDomain(a party.Agency) agencyModel {
	return agencyModel{ID: a.ID, Name: a.Name, CreatedAt: a.CreatedAt.UTC()}
}

func (m agencyModel) toDomain() party.Agency {
	return party.Agency{ID: m.ID, Name: m.Name, CreatedAt: m.CreatedAt.UTC()}
}

type creatorModel struct {
	ID          string    `gorm:"column:id;primaryKey"`
	Handle      string    `gorm:"column:handle"`
	DisplayName string    `gorm:"column:display_name"`
	AgencyID    *string   `gorm:"column:agency_id"`
	CreatedAt   time.Time `gorm:"column:created_at"`
}

func (creatorModel) TableName() string { return "creators" }

func creatorFromDomain(c party.Creator) creatorModel {
	return creatorModel{ID: c.ID, Handle: c.Handle, DisplayName: c.DisplayName, AgencyID: optString(c.AgencyID), CreatedAt: c.CreatedAt.UTC()}
}

func (m creatorModel) toDomain() party.Creator {
	return party.Creator{ID: m.ID, Handle: m.Handle, DisplayName: m.DisplayName, AgencyID: optStringValue(m.AgencyID), CreatedAt: m.CreatedAt.UTC()}
}

type shopperModel struct {
	ID          string    `gorm:"column:id;primaryKey"`
	DisplayName string    `gorm:"column:display_name"`
	Email       *string   `gorm:"column:email"`
	CreatedAt   time.Time `gorm:"column:created_at"`
}

func (shopperModel) TableName() string { return "shoppers" }

func shopperFromDomain(s party.Shopper) shopperModel {
	return shopperModel{ID: s.ID, DisplayName: s.DisplayName, Email: optString(s.Email), CreatedAt: s.CreatedAt.UTC()}
}

func (m shopperModel) toDomain() party.Shopper {
	return party.Shopper{ID: m.ID, DisplayName: m.DisplayName, Email: optStringValue(m.Email), CreatedAt: m.CreatedAt.UTC()}
}

// CreateBrand inserts b.
func (s *PartyStore) CreateBrand(ctx context.Context, b party.Brand) error {
	m := brandFromDomain(b)
	if err := conn(ctx, s.db).Create(&m).Error; err != nil {
		return fmt.Errorf("insert brand: %w", err)
	}
	return nil
}

// GetBrand returns the brand with id or errs.ErrNotFound.
func (s *PartyStore) GetBrand(ctx context.Context, id string) (party.Brand, error) {
	var m brandModel
	if err := conn(ctx, s.db).Where("id = ?", id).Take(&m).Error; err != nil {
		return party.Brand{}, notFoundOr("get brand", err)
	}
	return m.toDomain(), nil
}

// FindBrandByName returns the oldest brand named name or errs.ErrNotFound.
func (s *PartyStore) FindBrandByName(ctx context.Context, name string) (party.Brand, error) {
	var m brandModel
	if err := conn(ctx, s.db).Where("name = ?", name).Order("id").Take(&m).Error; err != nil {
		return party.Brand{}, notFoundOr("find brand", err)
	}
	return m.toDomain(), nil
}

// CreateAgency inserts a.
func (s *PartyStore) CreateAgency(ctx context.Context, a party.Agency) error {
	m := agencyFromDomain(a)
	if err := conn(ctx, s.db).Create(&m).Error; err != nil {
		return fmt.Errorf("insert agency: %w", err)
	}
	return nil
}

// GetAgency returns the agency with id or errs.ErrNotFound.
func (s *PartyStore) GetAgency(ctx context.Context, id string) (party.Agency, error) {
	var m agencyModel
	if err := conn(ctx, s.db).Where("id = ?", id).Take(&m).Error; err != nil {
		return party.Agency{}, notFoundOr("get agency", err)
	}
	return m.toDomain(), nil
}

// FindAgencyByName returns the oldest agency named name or errs.ErrNotFound.
func (s *PartyStore) FindAgencyByName(ctx context.Context, name string) (party.Agency, error) {
	var m agencyModel
	if err := conn(ctx, s.db).Where("name = ?", name).Order("id").Take(&m).Error; err != nil {
		return party.Agency{}, notFoundOr("find agency", err)
	}
	return m.toDomain(), nil
}

// CreateCreator inserts c; a taken handle answers party.ErrHandleTaken and
// an unknown agency errs.ErrNotFound.
func (s *PartyStore) CreateCreator(ctx context.Context, c party.Creator) error {
	m := creatorFromDomain(c)
	err := conn(ctx, s.db).Create(&m).Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return party.ErrHandleTaken
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return fmt.Errorf("insert creator: agency: %w", errs.ErrNotFound)
	}
	return fmt.Errorf("insert creator: %w", err)
}

// GetCreator returns the creator with id or errs.ErrNotFound.
func (s *PartyStore) GetCreator(ctx context.Context, id string) (party.Creator, error) {
	var m creatorModel
	if err := conn(ctx, s.db).Where("id = ?", id).Take(&m).Error; err != nil {
		return party.Creator{}, notFoundOr("get creator", err)
	}
	return m.toDomain(), nil
}

// FindCreatorByHandle returns the creator with handle or errs.ErrNotFound.
func (s *PartyStore) FindCreatorByHandle(ctx context.Context, handle string) (party.Creator, error) {
	var m creatorModel
	if err := conn(ctx, s.db).Where("handle = ?", handle).Take(&m).Error; err != nil {
		return party.Creator{}, notFoundOr("find creator", err)
	}
	return m.toDomain(), nil
}

// CreateShopper inserts sh.
func (s *PartyStore) CreateShopper(ctx context.Context, sh party.Shopper) error {
	m := shopperFromDomain(sh)
	if err := conn(ctx, s.db).Create(&m).Error; err != nil {
		return fmt.Errorf("insert shopper: %w", err)
	}
	return nil
}

// GetShopper returns the shopper with id or errs.ErrNotFound.
func (s *PartyStore) GetShopper(ctx context.Context, id string) (party.Shopper, error) {
	var m shopperModel
	if err := conn(ctx, s.db).Where("id = ?", id).Take(&m).Error; err != nil {
		return party.Shopper{}, notFoundOr("get shopper", err)
	}
	return m.toDomain(), nil
}

// FindShopperByEmail returns the oldest shopper whose email equals email
// ignoring case, or errs.ErrNotFound.
func (s *PartyStore) FindShopperByEmail(ctx context.Context, email string) (party.Shopper, error) {
	var m shopperModel
	err := conn(ctx, s.db).Where("email IS NOT NULL AND lower(email) = lower(?)", email).Order("id").Take(&m).Error
	if err != nil {
		return party.Shopper{}, notFoundOr("find shopper", err)
	}
	return m.toDomain(), nil
}

// notFoundOr turns gorm's record-not-found into errs.ErrNotFound and wraps
// any other error with what.
func notFoundOr(what string, err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return errs.ErrNotFound
	}
	return fmt.Errorf("%s: %w", what, err)
}

// optString maps the domain's empty string to SQL NULL.
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// optStringValue maps SQL NULL to the domain's empty string.
func optStringValue(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// optTime maps the domain's zero time to SQL NULL.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// optTimeValue maps SQL NULL to the domain's zero time.
func optTimeValue(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
