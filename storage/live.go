package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/money"
)

// LiveStore keeps streams, line-ups and pins in Postgres.
type LiveStore struct{ db *gorm.DB }

var _ live.Store = (*LiveStore)(nil)

// NewLiveStore returns a LiveStore on db.
func NewLiveStore(db *gorm.DB) *LiveStore { return &LiveStore{db: db} }

type streamModel struct {
	ID          string     `gorm:"column:id;primaryKey"`
	CreatorID   string     `gorm:"column:creator_id"`
	AgencyID    *string    `gorm:"column:agency_id"`
	Title       string     `gorm:"column:title"`
	Currency    string     `gorm:"column:currency"`
	Status      string     `gorm:"column:status"`
	PlaybackURL string     `gorm:"column:playback_url"`
	ScheduledAt *time.Time `gorm:"column:scheduled_at"`
	StartedAt   *time.Time `gorm:"column:started_at"`
	EndedAt     *time.Time `gorm:"column:ended_at"`
	CreatedAt   time.Time  `gorm:"column:created_at"`
	Likes       int64      `gorm:"column:likes;->"` // written only by AddLikes
}

func (streamModel) TableName() string { return "streams" }

func streamFromDomain(s live.Stream) streamModel {
	return streamModel{ID: s.ID, CreatorID: s.CreatorID, AgencyID: optString(s.AgencyID), Title: s.Title,
		Currency: s.Currency, Status: string(s.Status), PlaybackURL: s.PlaybackURL, ScheduledAt: utcPtr(s.ScheduledAt),
		StartedAt: utcPtr(s.StartedAt), EndedAt: utcPtr(s.EndedAt), CreatedAt: s.CreatedAt.UTC()}
}

func (m streamModel) toDomain() live.Stream {
	return live.Stream{ID: m.ID, CreatorID: m.CreatorID, AgencyID: optStringValue(m.AgencyID), Title: m.Title,
		Currency: m.Currency, Status: live.Status(m.Status), PlaybackURL: m.PlaybackURL, ScheduledAt: utcPtr(m.ScheduledAt),
		StartedAt: utcPtr(m.StartedAt), EndedAt: utcPtr(m.EndedAt), CreatedAt: m.CreatedAt.UTC(), Likes: m.Likes}
}

type lineupModel struct {
	StreamID      string     `gorm:"column:stream_id;primaryKey"`
	ProductID     string     `gorm:"column:product_id;primaryKey"`
	BrandID       string     `gorm:"column:brand_id"`
	CommissionBPS int        `gorm:"column:commission_bps"`
	AddedAt       time.Time  `gorm:"column:added_at"`
	RemovedAt     *time.Time `gorm:"column:removed_at"`
	RemovedByHost bool       `gorm:"column:removed_by_host"`
}

func (lineupModel) TableName() string { return "lineup_items" }

func (m lineupModel) toDomain() live.LineupItem {
	return live.LineupItem{StreamID: m.StreamID, ProductID: m.ProductID, BrandID: m.BrandID, CommissionBPS: m.CommissionBPS,
		AddedAt: m.AddedAt.UTC(), RemovedAt: utcPtr(m.RemovedAt), RemovedByHost: m.RemovedByHost}
}

type pinModel struct {
	ID                 string     `gorm:"column:id;primaryKey"`
	StreamID           string     `gorm:"column:stream_id"`
	ProductID          string     `gorm:"column:product_id"`
	BrandID            string     `gorm:"column:brand_id"`
	FlashPriceAmount   *int64     `gorm:"column:flash_price_amount"`
	FlashPriceCurrency *string    `gorm:"column:flash_price_currency"`
	FlashQuantity      *int64     `gorm:"column:flash_quantity"`
	FlashRemaining     *int64     `gorm:"column:flash_remaining"`
	FlashPerBuyerLimit *int64     `gorm:"column:flash_per_buyer_limit"`
	FlashEndsAt        *time.Time `gorm:"column:flash_ends_at"`
	PinnedAt           time.Time  `gorm:"column:pinned_at"`
	OffsetMS           int64      `gorm:"column:offset_ms"`
	UnpinnedAt         *time.Time `gorm:"column:unpinned_at"`
	UnpinOffsetMS      *int64     `gorm:"column:unpin_offset_ms"`
}

func (pinModel) TableName() string { return "pins" }

func pinFromDomain(p live.Pin) pinModel {
	m := pinModel{ID: p.ID, StreamID: p.StreamID, ProductID: p.ProductID, BrandID: p.BrandID,
		PinnedAt: p.PinnedAt.UTC(), OffsetMS: p.OffsetMS, UnpinnedAt: utcPtr(p.UnpinnedAt)}
	if p.UnpinnedAt != nil {
		m.UnpinOffsetMS = &p.UnpinOffset
	}
	if f := p.Flash; f != nil {
		ends := f.EndsAt.UTC()
		m.FlashPriceAmount, m.FlashPriceCurrency = &f.Price.Amount, &f.Price.Currency
		m.FlashQuantity, m.FlashRemaining, m.FlashPerBuyerLimit, m.FlashEndsAt = &f.Quantity, &f.Remaining, &f.PerBuyerLimit, &ends
	}
	return m
}

func (m pinModel) toDomain() live.Pin {
	p := live.Pin{ID: m.ID, StreamID: m.StreamID, ProductID: m.ProductID, BrandID: m.BrandID,
		PinnedAt: m.PinnedAt.UTC(), OffsetMS: m.OffsetMS, UnpinnedAt: utcPtr(m.UnpinnedAt)}
	if m.UnpinOffsetMS != nil {
		p.UnpinOffset = *m.UnpinOffsetMS
	}
	if m.FlashQuantity != nil {
		p.Flash = &live.Flash{
			Price:    money.Money{Amount: *m.FlashPriceAmount, Currency: *m.FlashPriceCurrency},
			Quantity: *m.FlashQuantity, Remaining: *m.FlashRemaining, PerBuyerLimit: *m.FlashPerBuyerLimit,
			EndsAt: m.FlashEndsAt.UTC(),
		}
	}
	return p
}

// CreateStream inserts a new stream.
func (s *LiveStore) CreateStream(ctx context.Context, st live.Stream) error {
	m := streamFromDomain(st)
	if err := conn(ctx, s.db).Create(&m).Error; err != nil {
		return fmt.Errorf("create stream: %w", err)
	}
	return nil
}

// GetStream returns the stream with id or errs.ErrNotFound.
func (s *LiveStore) GetStream(ctx context.Context, id string) (live.Stream, error) {
	var m streamModel
	if err := conn(ctx, s.db).Where("id = ?", id).Take(&m).Error; err != nil {
		return live.Stream{}, notFoundOr("get stream", err)
	}
	return m.toDomain(), nil
}

// FindOpenStream returns the newest stream of creatorID titled title whose
// status is not ended.
func (s *LiveStore) FindOpenStream(ctx context.Context, creatorID, title string) (live.Stream, error) {
	var m streamModel
	err := conn(ctx, s.db).Where("creator_id = ? AND title = ? AND status <> ?", creatorID, title, string(live.StatusEnded)).
		Order("id DESC").Take(&m).Error
	if err != nil {
		return live.Stream{}, notFoundOr("find open stream", err)
	}
	return m.toDomain(), nil
}

// LockStream reads the stream FOR NO KEY UPDATE (which, unlike FOR UPDATE,
// lets rows referencing the stream be inserted meanwhile); call it inside a transaction.
func (s *LiveStore) LockStream(ctx context.Context, id string) (live.Stream, error) {
	var m streamModel
	err := conn(ctx, s.db).Clauses(clause.Locking{Strength: "NO KEY UPDATE"}).Where("id = ?", id).Take(&m).Error
	if err != nil {
		return live.Stream{}, notFoundOr("lock stream", err)
	}
	return m.toDomain(), nil
}

// SaveStreamState writes the stream's status and its start and end times.
func (s *LiveStore) SaveStreamState(ctx context.Context, st live.Stream) error {
	res := conn(ctx, s.db).Model(&streamModel{}).Where("id = ?", st.ID).Updates(map[string]any{
		"status": string(st.Status), "started_at": utcPtr(st.StartedAt), "ended_at": utcPtr(st.EndedAt),
	})
	if res.Error != nil {
		return fmt.Errorf("save stream state: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return errs.ErrNotFound
	}
	return nil
}

// PutLineupItem inserts the item or updates its commission; a removed item
// is offered again, as added now.
func (s *LiveStore) PutLineupItem(ctx context.Context, it live.LineupItem) error {
	err := conn(ctx, s.db).Exec(`INSERT INTO lineup_items (stream_id, product_id, brand_id, commission_bps, added_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (stream_id, product_id) DO UPDATE SET commission_bps = EXCLUDED.commission_bps,
			added_at = CASE WHEN lineup_items.removed_at IS NULL THEN lineup_items.added_at ELSE EXCLUDED.added_at END,
			removed_at = NULL, removed_by_host = false`,
		it.StreamID, it.ProductID, it.BrandID, it.CommissionBPS, it.AddedAt.UTC()).Error
	if err != nil {
		return fmt.Errorf("put lineup item: %w", err)
	}
	return nil
}

// RemoveLineupItem marks an offered item removed.
func (s *LiveStore) RemoveLineupItem(ctx context.Context, streamID, productID string, at time.Time, byHost bool) error {
	res := conn(ctx, s.db).Exec(`UPDATE lineup_items SET removed_at = ?, removed_by_host = ?
		WHERE stream_id = ? AND product_id = ? AND removed_at IS NULL`, at.UTC(), byHost, streamID, productID)
	if res.Error != nil {
		return fmt.Errorf("remove lineup item: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return errs.ErrNotFound
	}
	return nil
}

// GetLineupItem returns one line-up entry or errs.ErrNotFound.
func (s *LiveStore) GetLineupItem(ctx context.Context, streamID, productID string) (live.LineupItem, error) {
	var m lineupModel
	if err := conn(ctx, s.db).Where("stream_id = ? AND product_id = ?", streamID, productID).Take(&m).Error; err != nil {
		return live.LineupItem{}, notFoundOr("get lineup item", err)
	}
	return m.toDomain(), nil
}

// ListLineup returns a stream's line-up in the order products were added.
func (s *LiveStore) ListLineup(ctx context.Context, streamID string) ([]live.LineupItem, error) {
	var ms []lineupModel
	if err := conn(ctx, s.db).Where("stream_id = ?", streamID).Order("added_at, product_id").Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("list lineup: %w", err)
	}
	out := make([]live.LineupItem, len(ms))
	for i, m := range ms {
		out[i] = m.toDomain()
	}
	return out, nil
}

// InsertPin inserts a new pin.
func (s *LiveStore) InsertPin(ctx context.Context, p live.Pin) error {
	m := pinFromDomain(p)
	if err := conn(ctx, s.db).Create(&m).Error; err != nil {
		return fmt.Errorf("insert pin: %w", err)
	}
	return nil
}

// ActivePins returns the pins on screen, oldest first.
func (s *LiveStore) ActivePins(ctx context.Context, streamID string) ([]live.Pin, error) {
	return s.pins(ctx, conn(ctx, s.db).Where("stream_id = ? AND unpinned_at IS NULL", streamID))
}

// EndedFlashPins returns up to limit active flash pins whose sale ended at
// or before now, soonest ended first (index pins_flash_due).
func (s *LiveStore) EndedFlashPins(ctx context.Context, now time.Time, limit int) ([]live.Pin, error) {
	var ms []pinModel
	err := conn(ctx, s.db).Where("unpinned_at IS NULL AND flash_ends_at <= ?", now.UTC()).
		Order("flash_ends_at, id").Limit(limit).Find(&ms).Error
	if err != nil {
		return nil, fmt.Errorf("ended flash pins: %w", err)
	}
	out := make([]live.Pin, len(ms))
	for i, m := range ms {
		out[i] = m.toDomain()
	}
	return out, nil
}

// Pins returns every pin of the stream, oldest first.
func (s *LiveStore) Pins(ctx context.Context, streamID string) ([]live.Pin, error) {
	return s.pins(ctx, conn(ctx, s.db).Where("stream_id = ?", streamID))
}

func (s *LiveStore) pins(_ context.Context, q *gorm.DB) ([]live.Pin, error) {
	var ms []pinModel
	if err := q.Order("pinned_at, id").Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("list pins: %w", err)
	}
	out := make([]live.Pin, len(ms))
	for i, m := range ms {
		out[i] = m.toDomain()
	}
	return out, nil
}

// GetPin returns a pin of the stream or errs.ErrNotFound.
func (s *LiveStore) GetPin(ctx context.Context, streamID, pinID string) (live.Pin, error) {
	var m pinModel
	if err := conn(ctx, s.db).Where("id = ? AND stream_id = ?", pinID, streamID).Take(&m).Error; err != nil {
		return live.Pin{}, notFoundOr("get pin", err)
	}
	return m.toDomain(), nil
}

// Unpin marks an active pin removed; errs.ErrNotFound when it is not active.
func (s *LiveStore) Unpin(ctx context.Context, pinID string, at time.Time, offsetMS int64) error {
	res := conn(ctx, s.db).Model(&pinModel{}).Where("id = ? AND unpinned_at IS NULL", pinID).
		Updates(map[string]any{"unpinned_at": at.UTC(), "unpin_offset_ms": offsetMS})
	if res.Error != nil {
		return fmt.Errorf("unpin: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return errs.ErrNotFound
	}
	return nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
