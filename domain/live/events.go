package live

import (
	"sort"
	"time"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/money"
)

// The event types of the live room, published on event.TopicLive keyed by
// stream id. Their payloads are what players receive over SSE.
const (
	EventStreamStarted = "daihuo.stream.started.v1"
	EventStreamEnded   = "daihuo.stream.ended.v1"
	EventPinAdded      = "daihuo.pin.added.v1"
	EventPinRemoved    = "daihuo.pin.removed.v1"
)

// StreamPayload is a stream's state in events.
type StreamPayload struct {
	ID          string     `json:"id"`
	CreatorID   string     `json:"creator_id"`
	Title       string     `json:"title"`
	Currency    string     `json:"currency"`
	Status      Status     `json:"status"`
	PlaybackURL string     `json:"playback_url"`
	StartedAt   *time.Time `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at"`
}

// StreamPayloadOf returns the event payload of s.
func StreamPayloadOf(s Stream) StreamPayload {
	return StreamPayload{ID: s.ID, CreatorID: s.CreatorID, Title: s.Title, Currency: s.Currency, Status: s.Status,
		PlaybackURL: s.PlaybackURL, StartedAt: s.StartedAt, EndedAt: s.EndedAt}
}

// PinPayload is a pin as players show it: the contract's Pin object.
type PinPayload struct {
	ID       string         `json:"id"`
	StreamID string         `json:"stream_id"`
	Product  ProductPayload `json:"product"`
	Flash    *FlashPayload  `json:"flash"`
	PinnedAt time.Time      `json:"pinned_at"`
	OffsetMS int64          `json:"offset_ms"`
}

// FlashPayload is the flash sale of a pin.
type FlashPayload struct {
	Price         money.Money `json:"price"`
	Quantity      int64       `json:"quantity"`
	Remaining     int64       `json:"remaining"`
	PerBuyerLimit int64       `json:"per_buyer_limit"`
	EndsAt        time.Time   `json:"ends_at"`
}

// ProductPayload is the contract's Product object.
type ProductPayload struct {
	ID          string           `json:"id"`
	BrandID     string           `json:"brand_id"`
	Title       string           `json:"title"`
	Description string           `json:"description"`
	ImageURL    string           `json:"image_url"`
	Variants    []VariantPayload `json:"variants"`
}

// VariantPayload is the contract's Variant object.
type VariantPayload struct {
	ID             string      `json:"id"`
	SKU            string      `json:"sku"`
	Title          string      `json:"title"`
	Price          money.Money `json:"price"`
	StockAvailable int64       `json:"stock_available"`
}

// PinRemovedPayload says which pin left the screen and when.
type PinRemovedPayload struct {
	PinID    string    `json:"pin_id"`
	StreamID string    `json:"stream_id"`
	At       time.Time `json:"at"`
	OffsetMS int64     `json:"offset_ms"`
}

// ProductPayloadOf returns the contract's view of a product.
func ProductPayloadOf(p catalog.Product) ProductPayload {
	out := ProductPayload{ID: p.ID, BrandID: p.BrandID, Title: p.Title, Description: p.Description, ImageURL: p.ImageURL,
		Variants: make([]VariantPayload, len(p.Variants))}
	for i, v := range p.Variants {
		out.Variants[i] = VariantPayload{ID: v.ID, SKU: v.SKU, Title: v.Title, Price: v.Price, StockAvailable: v.StockAvailable}
	}
	return out
}

// PinPayloadOf returns the contract's view of a pin. A flash pin on screen
// shows as remaining the units a buyer can still get: its allocation,
// capped by the stock of the product's variants (sold elsewhere or cut by
// the brand, stock can run out first).
func PinPayloadOf(p Pin) PinPayload {
	out := PinPayload{ID: p.ID, StreamID: p.StreamID, Product: ProductPayloadOf(p.Product), PinnedAt: p.PinnedAt, OffsetMS: p.OffsetMS}
	if f := p.Flash; f != nil {
		remaining := f.Remaining
		if p.UnpinnedAt == nil {
			remaining = OnSale(remaining, p.Product.StockAvailable())
		}
		out.Flash = &FlashPayload{Price: f.Price, Quantity: f.Quantity, Remaining: remaining, PerBuyerLimit: f.PerBuyerLimit, EndsAt: f.EndsAt}
	}
	return out
}

// OnSale is what a flash pin shows: the units a buyer can still get, its
// remaining allocation capped by the stock of its product's variants.
func OnSale(remaining, stock int64) int64 { return max(min(remaining, stock), 0) }

// BuildTimeline turns pins into their pin and unpin entries in time order;
// at the same instant a removal comes before the pin that replaced it.
func BuildTimeline(pins []Pin) []TimelineEntry {
	out := make([]TimelineEntry, 0, 2*len(pins))
	for _, p := range pins {
		out = append(out, TimelineEntry{Type: "pin.added", At: p.PinnedAt, OffsetMS: p.OffsetMS, Pin: p})
		if p.UnpinnedAt != nil {
			out = append(out, TimelineEntry{Type: "pin.removed", At: *p.UnpinnedAt, OffsetMS: p.UnpinOffset, Pin: p})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].Type == "pin.removed" && out[j].Type == "pin.added"
	})
	return out
}
