// Package live is the live room: streams hosted by creators, the line-up of
// products brands offer in them with a commission, and the pins (often flash
// sales) that every viewer's player shows at once.
package live

import (
	"net/url"
	"strings"
	"time"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/text"
)

// The id prefixes of the live room.
const (
	PrefixStream = "str"
	PrefixPin    = "pin"
)

// Limits of the live room.
const (
	MaxActivePins     = 3         // pins on screen at once; a fourth replaces the oldest the pinner may take down
	MaxTitleLen       = 200       // characters of a stream title
	MaxPlaybackURLLen = 2048      // bytes of a playback URL
	MaxCommissionBPS  = 10_000    // 100 %
	MaxFlashQuantity  = 1_000_000 // units one flash sale may allocate
	MaxFlashDuration  = 24 * time.Hour
)

// Status is where a stream is in its life.
type Status string

// The states of a stream: scheduled → live → ended.
const (
	StatusScheduled Status = "scheduled"
	StatusLive      Status = "live"
	StatusEnded     Status = "ended"
)

// Errors of the live room.
var (
	// ErrNotLive refuses pins on a stream that is not live.
	ErrNotLive = errs.New(errs.CodeInvalidState, "the stream is not live")
	// ErrStreamEnded refuses changes to a stream that has ended.
	ErrStreamEnded = errs.New(errs.CodeInvalidState, "the stream has ended")
	// ErrNotInLineup refuses a pin of a product that is not in the stream's line-up.
	ErrNotInLineup = errs.Invalid("product_id", "is not in the stream's line-up")
	// ErrCommissionCut answers a brand lowering its commission in a live
	// stream's line-up.
	ErrCommissionCut = errs.New(errs.CodeInvalidState, "the commission cannot be lowered while the stream is live")
	// ErrLineupDeclined refuses a brand offering again a product the
	// stream's host took out of its line-up.
	ErrLineupDeclined = errs.New(errs.CodeForbidden, "the stream's host removed this product from its line-up")
	// ErrScreenFull answers a brand's pin when every pin on screen is
	// another brand's: only the host may take those down.
	ErrScreenFull = errs.New(errs.CodeInvalidState, "the screen is full with other brands' pins; the host may unpin one")
	// ErrFlashBrandOnly refuses a flash sale pinned by anyone but the
	// product's brand: its price is the brand's to set.
	ErrFlashBrandOnly = errs.New(errs.CodeForbidden, "only the product's brand may run a flash sale of it; the host may pin it at its price")
)

// Stream is one live broadcast of a creator, selling in one currency.
type Stream struct {
	ID          string
	CreatorID   string
	AgencyID    string // the creator's agency when the stream was created, empty if none
	Title       string
	Currency    string
	Status      Status
	PlaybackURL string
	ScheduledAt *time.Time
	StartedAt   *time.Time
	EndedAt     *time.Time
	CreatedAt   time.Time
	Likes       int64 // taps so far, as last flushed (once a second)
}

// Start puts a scheduled stream on air.
func (s *Stream) Start(now time.Time) error {
	if s.Status != StatusScheduled {
		return errs.New(errs.CodeInvalidState, "only a scheduled stream can start; this one is "+string(s.Status))
	}
	s.Status, s.StartedAt = StatusLive, &now
	return nil
}

// End takes a stream off air; a scheduled stream that never started ends too
// (it is cancelled).
func (s *Stream) End(now time.Time) error {
	if s.Status == StatusEnded {
		return ErrStreamEnded
	}
	s.Status, s.EndedAt = StatusEnded, &now
	return nil
}

// Offset is how far into the broadcast t is: the position a replay shows an
// overlay at. Before the start it is zero.
func (s Stream) Offset(t time.Time) time.Duration {
	if s.StartedAt == nil || t.Before(*s.StartedAt) {
		return 0
	}
	return t.Sub(*s.StartedAt)
}

// LineupItem is a brand's product offered in a stream, with the commission
// (basis points of the sale) the brand pays the creator for it. A removed
// item is no longer offered: it cannot be pinned or ordered. The brand may
// offer it again unless the host removed it.
type LineupItem struct {
	StreamID      string
	ProductID     string
	BrandID       string
	CommissionBPS int
	AddedAt       time.Time
	RemovedAt     *time.Time
	RemovedByHost bool
}

// Offered reports whether the item is in the line-up (not removed).
func (it LineupItem) Offered() bool { return it.RemovedAt == nil }

// Flash is a flash sale on a pin: a special price for an allocated quantity,
// optionally limited per buyer, until EndsAt.
type Flash struct {
	Price         money.Money
	Quantity      int64
	Remaining     int64
	PerBuyerLimit int64 // 0 means no limit
	EndsAt        time.Time
}

// Active reports whether the sale still takes orders at now.
func (f Flash) Active(now time.Time) bool { return now.Before(f.EndsAt) && f.Remaining > 0 }

// Pin is a product shown on every viewer's player, from PinnedAt until it is
// unpinned (by hand or replaced by a newer pin).
type Pin struct {
	ID          string
	StreamID    string
	ProductID   string
	BrandID     string
	Flash       *Flash
	PinnedAt    time.Time
	OffsetMS    int64
	UnpinnedAt  *time.Time
	UnpinOffset int64
	Product     catalog.Product // filled on reads for the player
}

// Active reports whether the pin is still on screen.
func (p Pin) Active() bool { return p.UnpinnedAt == nil }

// TimelineEntry is one pin or unpin with its server time and offset from the
// stream's start: what a replay needs to show the same overlay at the same moment.
type TimelineEntry struct {
	Type     string // "pin.added" or "pin.removed"
	At       time.Time
	OffsetMS int64
	Pin      Pin
}

// NewStream is the input of CreateStream.
type NewStream struct {
	CreatorID   string
	Title       string
	Currency    string
	PlaybackURL string
	ScheduledAt *time.Time
}

// NewPin is the input of PinProduct.
type NewPin struct {
	ProductID string
	Flash     *NewFlash
}

// NewFlash describes the flash sale of a new pin.
type NewFlash struct {
	Price         money.Money
	Quantity      int64
	PerBuyerLimit int64
	EndsAt        time.Time
}

func (in *NewStream) normalize(now time.Time) error {
	var v errs.Validator
	title, err := text.Line("title", in.Title, MaxTitleLen)
	v.Add("", err)
	in.Title = title
	v.Check(money.Known(in.Currency), "currency", "must be a supported ISO 4217 currency code such as EUR or JPY")
	in.PlaybackURL = strings.TrimSpace(in.PlaybackURL)
	v.Check(in.PlaybackURL == "" || validURL(in.PlaybackURL), "playback_url", "must be an absolute http(s) URL of at most %d bytes", MaxPlaybackURLLen)
	if in.ScheduledAt != nil {
		at := in.ScheduledAt.UTC().Truncate(time.Microsecond) // as stored, so every reader gets the same time
		in.ScheduledAt = &at
		v.Check(at.After(now.Add(-time.Hour)) && at.Before(now.AddDate(1, 0, 0)), "scheduled_at", "must be between an hour ago and a year from now")
	}
	return v.Err()
}

func (in NewFlash) validate(currency string, now time.Time) error {
	var v errs.Validator
	v.Add("price.", in.Price.Validate())
	v.Check(in.Price.Currency == currency, "price.currency", "must be the stream's currency %s", currency)
	v.Check(in.Price.Amount > 0, "price.amount", "must be positive")
	v.Check(in.Quantity >= 1 && in.Quantity <= MaxFlashQuantity, "quantity", "must be 1 to %d", MaxFlashQuantity)
	v.Check(in.PerBuyerLimit >= 0 && in.PerBuyerLimit <= in.Quantity, "per_buyer_limit", "must be 0 (none) to the quantity")
	v.Check(in.EndsAt.After(now) && in.EndsAt.Before(now.Add(MaxFlashDuration)), "ends_at", "must be in the future, within %s", MaxFlashDuration)
	return v.Err()
}

func validateCommission(bps int) error {
	if bps < 0 || bps > MaxCommissionBPS {
		return errs.Invalid("commission_bps", "must be 0 to %d basis points", MaxCommissionBPS)
	}
	return nil
}

func validURL(s string) bool {
	if len(s) > MaxPlaybackURLLen {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
