package live

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/domain/text"
)

// The event types of the room, on event.TopicLive keyed by stream id.
const (
	EventChatMessage = "daihuo.chat.message.v1"
	EventChatDeleted = "daihuo.chat.deleted.v1"
	EventLikes       = "daihuo.likes.v1"
)

// PrefixMessage is the id prefix of chat messages.
const PrefixMessage = "msg"

// Limits of the room.
const (
	MaxChatLen   = 500 // characters of one chat message
	MaxLikesTap  = 50  // likes one request may carry
	likeFlushGap = time.Second
)

// Errors of the room.
var (
	// ErrMuted refuses chat from a shopper a moderator muted in the stream.
	ErrMuted = errs.New(errs.CodeForbidden, "you are muted in this stream")
	// ErrChatRateLimited refuses chat beyond the per-shopper rate.
	ErrChatRateLimited = errs.New(errs.CodeRateLimited, "too many messages; wait a few seconds")
)

// ChatLimitError is ErrChatRateLimited with how long the shopper waits
// before chatting again, at most: the window the limit counts over.
type ChatLimitError struct{ Wait time.Duration }

// Error returns ErrChatRateLimited's message.
func (e *ChatLimitError) Error() string { return ErrChatRateLimited.Error() }

// Unwrap returns ErrChatRateLimited.
func (e *ChatLimitError) Unwrap() error { return ErrChatRateLimited }

// RetryAfter returns how long to wait before trying again.
func (e *ChatLimitError) RetryAfter() time.Duration { return e.Wait }

// ChatMessage is one message of a shopper in a stream's chat.
type ChatMessage struct {
	ID          string
	StreamID    string
	ShopperID   string
	DisplayName string
	Text        string
	CreatedAt   time.Time
	OffsetMS    int64
}

// ChatPayload is a chat message as players show it.
type ChatPayload struct {
	ID       string       `json:"id"`
	StreamID string       `json:"stream_id"`
	Shopper  ShopperBadge `json:"shopper"`
	Text     string       `json:"text"`
	At       time.Time    `json:"at"`
	OffsetMS int64        `json:"offset_ms"`
}

// ShopperBadge is how a shopper appears to other viewers: never their email.
type ShopperBadge struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
}

// ChatDeletedPayload tells players to hide a message.
type ChatDeletedPayload struct {
	ID       string `json:"id"`
	StreamID string `json:"stream_id"`
}

// LikesPayload is one batch of likes: how many arrived since the last batch
// and the stream's total.
type LikesPayload struct {
	StreamID string `json:"stream_id"`
	Count    int64  `json:"count"`
	Total    int64  `json:"total"`
}

// ChatPayloadOf returns the player's view of a message.
func ChatPayloadOf(m ChatMessage) ChatPayload {
	return ChatPayload{ID: m.ID, StreamID: m.StreamID, Shopper: ShopperBadge{ID: m.ShopperID, DisplayName: m.DisplayName},
		Text: m.Text, At: m.CreatedAt, OffsetMS: m.OffsetMS}
}

// RoomStore keeps chat, mutes and likes.
type RoomStore interface {
	InsertMessage(ctx context.Context, m ChatMessage) error
	// LockChatter makes the shopper's messages in the stream wait for each
	// other until the caller's transaction ends, so each one counts those
	// before it.
	LockChatter(ctx context.Context, streamID, shopperID string) error
	// CountMessagesSince counts the shopper's messages in the stream since t.
	CountMessagesSince(ctx context.Context, streamID, shopperID string, t time.Time) (int, error)
	// DeleteMessage marks a message deleted; errs.ErrNotFound when it is not
	// in the stream or already deleted.
	DeleteMessage(ctx context.Context, streamID, messageID, by string, at time.Time) error
	Mute(ctx context.Context, streamID, shopperID, by string, at time.Time) error
	Unmute(ctx context.Context, streamID, shopperID string) error
	IsMuted(ctx context.Context, streamID, shopperID string) (bool, error)
	// AddLikes adds n to the stream's likes and returns the new total.
	AddLikes(ctx context.Context, streamID string, n int64) (int64, error)
}

// Shoppers finds the shoppers who chat.
type Shoppers interface {
	GetShopper(ctx context.Context, id string) (party.Shopper, error)
}

// RoomOptions tune chat moderation.
type RoomOptions struct {
	// BlockedWords are refused in chat, matched case-insensitively as words.
	BlockedWords []string
	// ChatLimit messages per shopper per ChatWindow; defaults 5 per 10 s.
	ChatLimit  int
	ChatWindow time.Duration
}

// Room runs chat, moderation and likes of live streams.
type Room struct {
	streams  Store
	store    RoomStore
	shoppers Shoppers
	pub      Publisher
	tx       Transactor
	now      func() time.Time
	opts     RoomOptions
	blocked  map[string]bool

	mu    sync.Mutex
	likes map[string]int64 // stream id → likes not yet flushed
}

// NewRoom returns a Room.
func NewRoom(streams Store, store RoomStore, shoppers Shoppers, pub Publisher, tx Transactor, now func() time.Time, opts RoomOptions) *Room {
	if opts.ChatLimit <= 0 {
		opts.ChatLimit = 5
	}
	if opts.ChatWindow <= 0 {
		opts.ChatWindow = 10 * time.Second
	}
	blocked := map[string]bool{}
	for _, w := range opts.BlockedWords {
		if w = strings.ToLower(strings.TrimSpace(w)); w != "" {
			blocked[w] = true
		}
	}
	return &Room{streams: streams, store: store, shoppers: shoppers, pub: pub, tx: tx, now: now, opts: opts, blocked: blocked, likes: map[string]int64{}}
}

func (r *Room) clock() time.Time { return r.now().UTC().Truncate(time.Microsecond) }

// Chat posts a shopper's message to a live stream's chat.
func (r *Room) Chat(ctx context.Context, p party.Principal, streamID, text string) (ChatMessage, error) {
	if p.Role != party.RoleShopper {
		return ChatMessage{}, errs.ErrForbidden
	}
	text, err := r.checkText(text)
	if err != nil {
		return ChatMessage{}, err
	}
	var msg ChatMessage
	err = r.tx.InTx(ctx, func(ctx context.Context) error {
		st, err := r.streams.GetStream(ctx, streamID)
		if err != nil {
			return err
		}
		if st.Status != StatusLive {
			return ErrNotLive
		}
		muted, err := r.store.IsMuted(ctx, st.ID, p.PartyID)
		if err != nil {
			return err
		}
		if muted {
			return ErrMuted
		}
		// Without the lock, messages sent at once would each count the
		// others as unsent and all pass the limit.
		if err := r.store.LockChatter(ctx, st.ID, p.PartyID); err != nil {
			return err
		}
		now := r.clock()
		n, err := r.store.CountMessagesSince(ctx, st.ID, p.PartyID, now.Add(-r.opts.ChatWindow))
		if err != nil {
			return err
		}
		if n >= r.opts.ChatLimit {
			return &ChatLimitError{Wait: r.opts.ChatWindow}
		}
		sh, err := r.shoppers.GetShopper(ctx, p.PartyID)
		if err != nil {
			return err
		}
		msg = ChatMessage{ID: id.New(PrefixMessage, now), StreamID: st.ID, ShopperID: sh.ID, DisplayName: sh.DisplayName,
			Text: text, CreatedAt: now, OffsetMS: st.Offset(now).Milliseconds()}
		if err := r.store.InsertMessage(ctx, msg); err != nil {
			return err
		}
		ev, err := event.New(event.TopicLive, EventChatMessage, st.ID, ChatPayloadOf(msg), now)
		if err != nil {
			return err
		}
		return r.pub.Publish(ctx, ev)
	})
	return msg, err
}

// checkText trims a message and refuses empty, oversized, non-text or
// blocked content.
func (r *Room) checkText(msg string) (string, error) {
	msg, err := text.Line("text", msg, MaxChatLen)
	if err != nil {
		return "", err
	}
	if len(r.blocked) > 0 {
		for _, w := range chatWords(msg) {
			if r.blocked[w] {
				return "", errs.Invalid("text", "contains a word that is not allowed in chat")
			}
		}
	}
	return msg, nil
}

// chatWords splits a message into the words the blocklist is matched
// against, as a viewer reads them: in lower case, without the invisible
// format characters (zero-width spaces and joiners, soft hyphens) that
// split a word without showing, and with full-width letters and digits as
// their ASCII look-alikes.
func chatWords(msg string) []string {
	folded := strings.Map(func(c rune) rune {
		switch {
		case unicode.Is(unicode.Cf, c):
			return -1
		case c >= 0xFF01 && c <= 0xFF5E: // the full-width forms of ASCII '!'..'~'
			c -= 0xFEE0
		}
		return unicode.ToLower(c)
	}, msg)
	return strings.FieldsFunc(folded, func(c rune) bool { return !unicode.IsLetter(c) && !unicode.IsNumber(c) })
}

// canModerate reports whether p moderates the stream: its host, the host's
// agency, or an admin.
func canModerate(p party.Principal, st Stream) bool { return p.IsAdmin() || canHost(p, st) }

// moderated loads the stream and checks that p moderates it.
func (r *Room) moderated(ctx context.Context, p party.Principal, streamID string) (Stream, error) {
	st, err := r.streams.GetStream(ctx, streamID)
	if err != nil {
		return Stream{}, err
	}
	if !canModerate(p, st) {
		return Stream{}, errs.ErrNotFound
	}
	return st, nil
}

// DeleteMessage hides a chat message from every player.
func (r *Room) DeleteMessage(ctx context.Context, p party.Principal, streamID, messageID string) error {
	return r.tx.InTx(ctx, func(ctx context.Context) error {
		st, err := r.moderated(ctx, p, streamID)
		if err != nil {
			return err
		}
		now := r.clock()
		if err := r.store.DeleteMessage(ctx, st.ID, messageID, actor(p), now); err != nil {
			return err
		}
		ev, err := event.New(event.TopicLive, EventChatDeleted, st.ID, ChatDeletedPayload{ID: messageID, StreamID: st.ID}, now)
		if err != nil {
			return err
		}
		return r.pub.Publish(ctx, ev)
	})
}

// Mute stops a shopper from chatting in a stream; Unmute lets them again.
func (r *Room) Mute(ctx context.Context, p party.Principal, streamID, shopperID string) error {
	st, err := r.moderated(ctx, p, streamID)
	if err != nil {
		return err
	}
	if _, err := r.shoppers.GetShopper(ctx, shopperID); err != nil {
		return errs.Invalid("shopper_id", "no such shopper")
	}
	return r.store.Mute(ctx, st.ID, shopperID, actor(p), r.clock())
}

// Unmute lets a muted shopper chat again.
func (r *Room) Unmute(ctx context.Context, p party.Principal, streamID, shopperID string) error {
	st, err := r.moderated(ctx, p, streamID)
	if err != nil {
		return err
	}
	return r.store.Unmute(ctx, st.ID, shopperID)
}

// Like counts likes for a live stream. They are broadcast in batches by
// FlushLikes rather than one event per tap; likes of a process that dies
// before its next flush (at most a second's worth) are lost.
func (r *Room) Like(ctx context.Context, p party.Principal, streamID string, count int) error {
	if p.Role != party.RoleShopper {
		return errs.ErrForbidden
	}
	if count < 1 || count > MaxLikesTap {
		return errs.Invalid("count", "must be 1 to %d", MaxLikesTap)
	}
	st, err := r.streams.GetStream(ctx, streamID)
	if err != nil {
		return err
	}
	if st.Status != StatusLive {
		return ErrNotLive
	}
	r.mu.Lock()
	r.likes[st.ID] += int64(count)
	r.mu.Unlock()
	return nil
}

// FlushLikes writes the pending likes of every stream, one transaction and
// one event per stream.
func (r *Room) FlushLikes(ctx context.Context) error {
	r.mu.Lock()
	pending := r.likes
	r.likes = map[string]int64{}
	r.mu.Unlock()
	var firstErr error
	for streamID, n := range pending {
		err := r.tx.InTx(ctx, func(ctx context.Context) error {
			total, err := r.store.AddLikes(ctx, streamID, n)
			if err != nil {
				return err
			}
			ev, err := event.New(event.TopicLive, EventLikes, streamID, LikesPayload{StreamID: streamID, Count: n, Total: total}, r.clock())
			if err != nil {
				return err
			}
			return r.pub.Publish(ctx, ev)
		})
		if err != nil {
			// Keep them for the next flush rather than losing them.
			r.mu.Lock()
			r.likes[streamID] += n
			r.mu.Unlock()
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

// RunLikes flushes likes every second until ctx ends, then once more,
// reporting failed flushes to onErr.
func (r *Room) RunLikes(ctx context.Context, onErr func(error)) error {
	t := time.NewTicker(likeFlushGap)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := r.FlushLikes(ctx); err != nil && ctx.Err() == nil {
				onErr(err)
			}
		case <-ctx.Done():
			return r.FlushLikes(context.WithoutCancel(ctx))
		}
	}
}

func actor(p party.Principal) string {
	if p.PartyID == "" {
		return string(p.Role)
	}
	return p.PartyID
}
