package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/live"
)

// RoomStore keeps chat, mutes, likes and presence of live streams.
type RoomStore struct{ db *gorm.DB }

var (
	_ live.RoomStore     = (*RoomStore)(nil)
	_ live.PresenceStore = (*RoomStore)(nil)
)

// NewRoomStore returns a RoomStore on db.
func NewRoomStore(db *gorm.DB) *RoomStore { return &RoomStore{db: db} }

type chatModel struct {
	ID        string     `gorm:"column:id;primaryKey"`
	StreamID  string     `gorm:"column:stream_id"`
	ShopperID string     `gorm:"column:shopper_id"`
	Text      string     `gorm:"column:text"`
	CreatedAt time.Time  `gorm:"column:created_at"`
	OffsetMS  int64      `gorm:"column:offset_ms"`
	DeletedAt *time.Time `gorm:"column:deleted_at"`
	DeletedBy *string    `gorm:"column:deleted_by"`
}

func (chatModel) TableName() string { return "chat_messages" }

// InsertMessage stores a chat message.
func (s *RoomStore) InsertMessage(ctx context.Context, m live.ChatMessage) error {
	row := chatModel{ID: m.ID, StreamID: m.StreamID, ShopperID: m.ShopperID, Text: m.Text, CreatedAt: m.CreatedAt.UTC(), OffsetMS: m.OffsetMS}
	if err := conn(ctx, s.db).Create(&row).Error; err != nil {
		return fmt.Errorf("insert chat message: %w", err)
	}
	return nil
}

// LockChatter takes a transaction-scoped advisory lock on the pair.
func (s *RoomStore) LockChatter(ctx context.Context, streamID, shopperID string) error {
	err := conn(ctx, s.db).Exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "chat:"+streamID+":"+shopperID).Error
	if err != nil {
		return fmt.Errorf("lock chatter: %w", err)
	}
	return nil
}

// CountMessagesSince counts a shopper's messages in a stream since t.
func (s *RoomStore) CountMessagesSince(ctx context.Context, streamID, shopperID string, t time.Time) (int, error) {
	var n int64
	err := conn(ctx, s.db).Model(&chatModel{}).
		Where("stream_id = ? AND shopper_id = ? AND created_at > ?", streamID, shopperID, t.UTC()).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count chat messages: %w", err)
	}
	return int(n), nil
}

// DeleteMessage marks a message of the stream deleted.
func (s *RoomStore) DeleteMessage(ctx context.Context, streamID, messageID, by string, at time.Time) error {
	res := conn(ctx, s.db).Model(&chatModel{}).
		Where("id = ? AND stream_id = ? AND deleted_at IS NULL", messageID, streamID).
		Updates(map[string]any{"deleted_at": at.UTC(), "deleted_by": by})
	if res.Error != nil {
		return fmt.Errorf("delete chat message: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return errs.ErrNotFound
	}
	return nil
}

// Mute records that a shopper may not chat in a stream.
func (s *RoomStore) Mute(ctx context.Context, streamID, shopperID, by string, at time.Time) error {
	err := conn(ctx, s.db).Exec(`INSERT INTO stream_mutes (stream_id, shopper_id, muted_by, created_at)
		VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, streamID, shopperID, by, at.UTC()).Error
	if err != nil {
		return fmt.Errorf("mute: %w", err)
	}
	return nil
}

// Unmute lets a shopper chat again.
func (s *RoomStore) Unmute(ctx context.Context, streamID, shopperID string) error {
	if err := conn(ctx, s.db).Exec(`DELETE FROM stream_mutes WHERE stream_id = ? AND shopper_id = ?`, streamID, shopperID).Error; err != nil {
		return fmt.Errorf("unmute: %w", err)
	}
	return nil
}

// IsMuted reports whether a shopper is muted in a stream.
func (s *RoomStore) IsMuted(ctx context.Context, streamID, shopperID string) (bool, error) {
	var muted bool
	err := conn(ctx, s.db).Raw(`SELECT EXISTS (SELECT 1 FROM stream_mutes WHERE stream_id = ? AND shopper_id = ?)`, streamID, shopperID).Scan(&muted).Error
	if err != nil {
		return false, fmt.Errorf("is muted: %w", err)
	}
	return muted, nil
}

// AddLikes adds n likes to a stream and returns its total.
func (s *RoomStore) AddLikes(ctx context.Context, streamID string, n int64) (int64, error) {
	var total int64
	err := conn(ctx, s.db).Raw(`UPDATE streams SET likes = likes + ? WHERE id = ? RETURNING likes`, n, streamID).Scan(&total).Error
	if err != nil {
		return 0, fmt.Errorf("add likes: %w", err)
	}
	return total, nil
}

// Beat upserts this node's viewer counts.
func (s *RoomStore) Beat(ctx context.Context, node string, counts map[string]int, at time.Time) error {
	type row struct {
		NodeID   string    `gorm:"column:node_id"`
		StreamID string    `gorm:"column:stream_id"`
		Viewers  int       `gorm:"column:viewers"`
		SeenAt   time.Time `gorm:"column:seen_at"`
	}
	rows := make([]row, 0, len(counts))
	for id, n := range counts {
		rows = append(rows, row{NodeID: node, StreamID: id, Viewers: n, SeenAt: at.UTC()})
	}
	err := conn(ctx, s.db).Table("stream_presence").Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "stream_id"}, {Name: "node_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"viewers", "seen_at"}),
	}).Create(&rows).Error
	if err != nil {
		return fmt.Errorf("presence beat: %w", err)
	}
	return nil
}

// ForgetNodes deletes the node counts last written before before.
func (s *RoomStore) ForgetNodes(ctx context.Context, before time.Time) error {
	if err := conn(ctx, s.db).Exec("DELETE FROM stream_presence WHERE seen_at < ?", before.UTC()).Error; err != nil {
		return fmt.Errorf("forget presence: %w", err)
	}
	return nil
}

// Totals sums recent node counts per stream.
func (s *RoomStore) Totals(ctx context.Context, streamIDs []string, since time.Time) (map[string]int, error) {
	var rows []struct {
		StreamID string
		Total    int
	}
	err := conn(ctx, s.db).Raw(`SELECT stream_id, sum(viewers)::bigint AS total FROM stream_presence
		WHERE stream_id IN ? AND seen_at > ? GROUP BY stream_id`, streamIDs, since.UTC()).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("presence totals: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.StreamID] = r.Total
	}
	return out, nil
}

// RaisePeaks lifts peak viewers to the current totals.
func (s *RoomStore) RaisePeaks(ctx context.Context, totals map[string]int) error {
	for id, n := range totals {
		err := conn(ctx, s.db).Exec(`UPDATE streams SET peak_viewers = ? WHERE id = ? AND peak_viewers < ?`, n, id, n).Error
		if err != nil {
			return fmt.Errorf("raise peak: %w", err)
		}
	}
	return nil
}

// AddViewers records first sightings of viewers; repeats change nothing.
func (s *RoomStore) AddViewers(ctx context.Context, seen []live.Seen) error {
	streams, keys, at := make([]string, len(seen)), make([]string, len(seen)), make([]time.Time, len(seen))
	for i, v := range seen {
		streams[i], keys[i], at[i] = v.StreamID, v.Key, v.At.UTC()
	}
	// A stream whose list the retention purged keeps its count: no list
	// starts again behind it.
	_, err := rawConn(ctx, s.db).ExecContext(ctx, `INSERT INTO stream_viewers (stream_id, viewer_key, first_seen)
		SELECT u.stream_id, u.viewer_key, u.first_seen
		FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(stream_id, viewer_key, first_seen)
		JOIN streams st ON st.id = u.stream_id AND st.viewers_purged_at IS NULL
		ON CONFLICT DO NOTHING`, streams, keys, at)
	if err != nil {
		return fmt.Errorf("add viewers: %w", err)
	}
	return nil
}

// Audience returns a stream's peak and unique viewers: the viewers listed,
// or once the retention purged the list, the count it kept.
func (s *RoomStore) Audience(ctx context.Context, streamID string) (peak, unique int64, err error) {
	var row struct {
		Peak int64
		Uniq int64
	}
	err = conn(ctx, s.db).Raw(`SELECT s.peak_viewers AS peak,
		coalesce(s.unique_viewers, (SELECT count(*) FROM stream_viewers v WHERE v.stream_id = s.id)) AS uniq
		FROM streams s WHERE s.id = ?`, streamID).Scan(&row).Error
	if err != nil {
		return 0, 0, fmt.Errorf("audience: %w", err)
	}
	return row.Peak, row.Uniq, nil
}
