package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/streaming/hub"
)

// streamJSON is the contract's Stream object.
type streamJSON struct {
	ID          string            `json:"id"`
	CreatorID   string            `json:"creator_id"`
	Title       string            `json:"title"`
	Currency    string            `json:"currency"`
	Status      live.Status       `json:"status"`
	PlaybackURL string            `json:"playback_url"`
	ScheduledAt *time.Time        `json:"scheduled_at"`
	StartedAt   *time.Time        `json:"started_at"`
	EndedAt     *time.Time        `json:"ended_at"`
	Pins        []live.PinPayload `json:"pins"`
	Viewers     int               `json:"viewers"`
	Likes       int64             `json:"likes"`
}

// toStreamJSON converts a stream, its pins on screen and its viewer count.
func toStreamJSON(st live.Stream, pins []live.Pin, viewers int) streamJSON {
	out := streamJSON{ID: st.ID, CreatorID: st.CreatorID, Title: st.Title, Currency: st.Currency, Status: st.Status,
		PlaybackURL: st.PlaybackURL, ScheduledAt: st.ScheduledAt, StartedAt: st.StartedAt, EndedAt: st.EndedAt,
		Pins: make([]live.PinPayload, len(pins)), Viewers: viewers, Likes: st.Likes}
	for i, p := range pins {
		out.Pins[i] = live.PinPayloadOf(p)
	}
	return out
}

// optionalTime parses an optional RFC 3339 time of a request body; nil or
// blank is none.
func optionalTime(field string, s *string) (*time.Time, error) {
	if s == nil || strings.TrimSpace(*s) == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(*s))
	if err != nil {
		return nil, errs.Invalid(field, "must be an RFC 3339 time such as 2030-01-02T15:04:05Z")
	}
	t = t.UTC()
	return &t, nil
}

// createStreamRequest is the body of POST /v1/streams.
type createStreamRequest struct {
	CreatorID   string  `json:"creator_id"`
	Title       string  `json:"title"`
	Currency    string  `json:"currency"`
	PlaybackURL string  `json:"playback_url"`
	ScheduledAt *string `json:"scheduled_at"`
}

// createStream answers POST /v1/streams: a creator schedules its own
// stream, an agency one for a creator it manages.
func (s *server) createStream(c *gin.Context) error {
	var req createStreamRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	at, err := optionalTime("scheduled_at", req.ScheduledAt)
	if err != nil {
		return err
	}
	st, err := s.live.CreateStream(c.Request.Context(), principal(c), live.NewStream{
		CreatorID: req.CreatorID, Title: req.Title, Currency: req.Currency, PlaybackURL: req.PlaybackURL, ScheduledAt: at,
	})
	if err != nil {
		return err
	}
	c.Header("Location", "/v1/streams/"+st.ID)
	return reply(c, http.StatusCreated, toStreamJSON(st, nil, 0))
}

// streamView loads a stream with its pins and current viewers.
func (s *server) streamView(ctx context.Context, streamID string) (streamJSON, error) {
	st, pins, err := s.live.GetStream(ctx, streamID)
	if err != nil {
		return streamJSON{}, err
	}
	viewers, err := s.presence.Viewers(ctx, st.ID)
	if err != nil {
		return streamJSON{}, err
	}
	return toStreamJSON(st, pins, viewers), nil
}

// getStream answers GET /v1/streams/{id}, to anyone.
func (s *server) getStream(c *gin.Context) error {
	streamID, err := pathID(c, "id", live.PrefixStream)
	if err != nil {
		return err
	}
	view, err := s.streamView(c.Request.Context(), streamID)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, view)
}

// startStream answers POST /v1/streams/{id}/start.
func (s *server) startStream(c *gin.Context) error {
	return s.streamTransition(c, s.live.StartStream)
}

// endStream answers POST /v1/streams/{id}/end; an admin may take any
// stream down.
func (s *server) endStream(c *gin.Context) error {
	return s.streamTransition(c, s.live.EndStream)
}

// streamTransition applies a state change and answers the stream after it.
func (s *server) streamTransition(c *gin.Context, change func(context.Context, party.Principal, string) (live.Stream, error)) error {
	streamID, err := pathID(c, "id", live.PrefixStream)
	if err != nil {
		return err
	}
	if _, err := change(c.Request.Context(), principal(c), streamID); err != nil {
		return err
	}
	view, err := s.streamView(c.Request.Context(), streamID)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, view)
}

// lineupRequest is the body of POST /v1/streams/{id}/lineup.
type lineupRequest struct {
	ProductID     string `json:"product_id"`
	CommissionBPS *int   `json:"commission_bps"`
}

// lineupJSON is one product of a stream's line-up; commission_bps is null
// for callers the deal is not shown to (see live.LineupView).
type lineupJSON struct {
	StreamID      string `json:"stream_id"`
	ProductID     string `json:"product_id"`
	BrandID       string `json:"brand_id"`
	CommissionBPS *int   `json:"commission_bps"`
}

func toLineupJSON(v live.LineupView) lineupJSON {
	b := lineupJSON{StreamID: v.StreamID, ProductID: v.ProductID, BrandID: v.BrandID}
	if v.ShowsCommission {
		b.CommissionBPS = &v.CommissionBPS
	}
	return b
}

// addToLineup answers POST /v1/streams/{id}/lineup: a brand offers one of
// its products with a commission; adding it again changes the commission.
func (s *server) addToLineup(c *gin.Context) error {
	streamID, err := pathID(c, "id", live.PrefixStream)
	if err != nil {
		return err
	}
	var req lineupRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.CommissionBPS == nil {
		return errs.Invalid("commission_bps", "is required")
	}
	it, err := s.live.AddToLineup(c.Request.Context(), principal(c), streamID, req.ProductID, *req.CommissionBPS)
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, toLineupJSON(live.LineupView{LineupItem: it, ShowsCommission: true})) // the brand's own
}

// removeFromLineup answers DELETE /v1/streams/{id}/lineup/{product_id}:
// the host (or an admin) takes a product out of its show for good, or its
// brand withdraws it; either way its pins come off the screen.
func (s *server) removeFromLineup(c *gin.Context) error {
	streamID, err := pathID(c, "id", live.PrefixStream)
	if err != nil {
		return err
	}
	productID, err := pathID(c, "product_id", catalog.PrefixProduct)
	if err != nil {
		return err
	}
	if err := s.live.RemoveFromLineup(c.Request.Context(), principal(c), streamID, productID); err != nil {
		return err
	}
	return noContent(c)
}

// listLineup answers GET /v1/streams/{id}/lineup, to anyone; each
// commission only to its brand, the host, the host's agency and admins.
func (s *server) listLineup(c *gin.Context) error {
	streamID, err := pathID(c, "id", live.PrefixStream)
	if err != nil {
		return err
	}
	items, err := s.live.Lineup(c.Request.Context(), principal(c), streamID)
	if err != nil {
		return err
	}
	out := make([]lineupJSON, len(items))
	for i, it := range items {
		out[i] = toLineupJSON(it)
	}
	return replyList(c, out, "")
}

// flashRequest is the flash sale of a pinRequest.
type flashRequest struct {
	Price         *moneyBody `json:"price"`
	Quantity      int64      `json:"quantity"`
	PerBuyerLimit int64      `json:"per_buyer_limit"`
	EndsAt        *string    `json:"ends_at"`
}

// pinRequest is the body of POST /v1/streams/{id}/pins.
type pinRequest struct {
	ProductID string        `json:"product_id"`
	Flash     *flashRequest `json:"flash"`
}

// pinProduct answers POST /v1/streams/{id}/pins: a brand pins its own
// line-up product, the host any; a fourth pin replaces the oldest.
func (s *server) pinProduct(c *gin.Context) error {
	streamID, err := pathID(c, "id", live.PrefixStream)
	if err != nil {
		return err
	}
	var req pinRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	in := live.NewPin{ProductID: req.ProductID}
	if f := req.Flash; f != nil {
		var v errs.Validator
		v.Check(f.Price != nil, "flash.price", "is required")
		v.Check(f.EndsAt != nil && strings.TrimSpace(*f.EndsAt) != "", "flash.ends_at", "is required")
		if err := v.Err(); err != nil {
			return err
		}
		ends, err := optionalTime("flash.ends_at", f.EndsAt)
		if err != nil {
			return err
		}
		in.Flash = &live.NewFlash{Price: f.Price.toDomain(), Quantity: f.Quantity, PerBuyerLimit: f.PerBuyerLimit, EndsAt: *ends}
	}
	pin, err := s.live.PinProduct(c.Request.Context(), principal(c), streamID, in)
	if err != nil {
		return err
	}
	c.Header("Location", "/v1/streams/"+streamID+"/pins/"+pin.ID)
	return reply(c, http.StatusCreated, live.PinPayloadOf(pin))
}

// unpin answers DELETE /v1/streams/{id}/pins/{pin_id}.
func (s *server) unpin(c *gin.Context) error {
	streamID, err := pathID(c, "id", live.PrefixStream)
	if err != nil {
		return err
	}
	pinID, err := pathID(c, "pin_id", live.PrefixPin)
	if err != nil {
		return err
	}
	if err := s.live.Unpin(c.Request.Context(), principal(c), streamID, pinID); err != nil {
		return err
	}
	return noContent(c)
}

// timelineEntryJSON is one pin or unpin of a stream's timeline.
type timelineEntryJSON struct {
	Type     string          `json:"type"`
	At       time.Time       `json:"at"`
	OffsetMS int64           `json:"offset_ms"`
	Pin      live.PinPayload `json:"pin"`
}

// timeline answers GET /v1/streams/{id}/timeline: every pin and unpin in
// order, for replays.
func (s *server) timeline(c *gin.Context) error {
	streamID, err := pathID(c, "id", live.PrefixStream)
	if err != nil {
		return err
	}
	entries, err := s.live.Timeline(c.Request.Context(), streamID)
	if err != nil {
		return err
	}
	out := make([]timelineEntryJSON, len(entries))
	for i, e := range entries {
		out[i] = timelineEntryJSON{Type: e.Type, At: e.At, OffsetMS: e.OffsetMS, Pin: live.PinPayloadOf(e.Pin)}
	}
	return reply(c, http.StatusOK, struct {
		Data []timelineEntryJSON `json:"data"`
	}{out})
}

// streamEvents serves the stream's Server-Sent Events: a snapshot (the
// Stream) first, then live events; Last-Event-ID resumes. An unknown
// stream is a 404 problem, checked before the hub opens a room for it;
// while this node's live feed is not yet reading, a 503 to retry.
func (s *server) streamEvents(c *gin.Context) error {
	streamID, err := pathID(c, "id", live.PrefixStream)
	if err != nil {
		return err
	}
	if s.liveReady != nil {
		select {
		case <-s.liveReady:
		default:
			c.Header("Retry-After", "1")
			return errs.New(codeUnavailable, "this node is still joining the live feed; retry in a second")
		}
	}
	ctx := c.Request.Context()
	// Only a stream that exists gets a room; its pins come with the snapshot.
	if _, err := s.live.Stream(ctx, streamID); err != nil {
		return err
	}
	s.presence.Saw(streamID, viewerKey(c))
	return s.hub.Serve(c.Writer, c.Request, streamID, func(ctx context.Context) (hub.Event, error) {
		view, err := s.streamView(ctx, streamID)
		return hub.Event{Type: "snapshot", Data: view}, err
	})
}

// viewerKey identifies a viewer across visits for unique-viewer counts: the
// party, or a hash of the anonymous viewer's address and browser.
func viewerKey(c *gin.Context) string {
	if p := principal(c); p.PartyID != "" {
		return p.PartyID
	}
	h := sha256.Sum256([]byte(c.ClientIP() + "\x00" + c.Request.UserAgent()))
	return "anon_" + hex.EncodeToString(h[:12])
}

// chatRequest is the body of POST /v1/streams/{id}/chat.
type chatRequest struct {
	Text string `json:"text"`
}

// postChat answers POST /v1/streams/{id}/chat: a shopper's message.
func (s *server) postChat(c *gin.Context) error {
	streamID, err := pathID(c, "id", live.PrefixStream)
	if err != nil {
		return err
	}
	var req chatRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	msg, err := s.room.Chat(c.Request.Context(), principal(c), streamID, req.Text)
	if err != nil {
		return err
	}
	c.Header("Location", "/v1/streams/"+streamID+"/chat/"+msg.ID)
	return reply(c, http.StatusCreated, live.ChatPayloadOf(msg))
}

// deleteChat answers DELETE /v1/streams/{id}/chat/{message_id}: a
// moderator hides a message from every player.
func (s *server) deleteChat(c *gin.Context) error {
	streamID, err := pathID(c, "id", live.PrefixStream)
	if err != nil {
		return err
	}
	msgID, err := pathID(c, "message_id", live.PrefixMessage)
	if err != nil {
		return err
	}
	if err := s.room.DeleteMessage(c.Request.Context(), principal(c), streamID, msgID); err != nil {
		return err
	}
	return noContent(c)
}

// muteRequest is the body of POST /v1/streams/{id}/mutes.
type muteRequest struct {
	ShopperID string `json:"shopper_id"`
}

// muteJSON is a shopper muted in a stream.
type muteJSON struct {
	StreamID  string `json:"stream_id"`
	ShopperID string `json:"shopper_id"`
}

// muteShopper answers POST /v1/streams/{id}/mutes; muting again is harmless.
func (s *server) muteShopper(c *gin.Context) error {
	streamID, err := pathID(c, "id", live.PrefixStream)
	if err != nil {
		return err
	}
	var req muteRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := s.room.Mute(c.Request.Context(), principal(c), streamID, req.ShopperID); err != nil {
		return err
	}
	c.Header("Location", "/v1/streams/"+streamID+"/mutes/"+req.ShopperID)
	return reply(c, http.StatusCreated, muteJSON{StreamID: streamID, ShopperID: req.ShopperID})
}

// unmuteShopper answers DELETE /v1/streams/{id}/mutes/{shopper_id}; a
// shopper who is not muted stays so.
func (s *server) unmuteShopper(c *gin.Context) error {
	streamID, err := pathID(c, "id", live.PrefixStream)
	if err != nil {
		return err
	}
	shopperID, err := pathID(c, "shopper_id", party.PrefixShopper)
	if err != nil {
		return err
	}
	if err := s.room.Unmute(c.Request.Context(), principal(c), streamID, shopperID); err != nil {
		return err
	}
	return noContent(c)
}

// likesRequest is the body of POST /v1/streams/{id}/likes.
type likesRequest struct {
	Count int `json:"count"`
}

// likesJSON acknowledges likes that will be broadcast in the next batch.
type likesJSON struct {
	StreamID string `json:"stream_id"`
	Count    int    `json:"count"`
}

// postLikes answers POST /v1/streams/{id}/likes with 202: likes are counted
// now and broadcast in batches.
func (s *server) postLikes(c *gin.Context) error {
	streamID, err := pathID(c, "id", live.PrefixStream)
	if err != nil {
		return err
	}
	var req likesRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := s.room.Like(c.Request.Context(), principal(c), streamID, req.Count); err != nil {
		return err
	}
	return reply(c, http.StatusAccepted, likesJSON{StreamID: streamID, Count: req.Count})
}
