package api

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daihuo/daihuo/api/apitest"
	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/payments/local"
	"github.com/daihuo/daihuo/streaming/hub"
	"github.com/daihuo/daihuo/streaming/livefeed"
)

// The hubs main may serve: the real one and the benchmark's baseline.
var (
	_ Fanout = (*hub.Hub)(nil)
	_ Fanout = (*hub.Naive)(nil)
)

// Live replies as clients decode them, rejecting unknown fields.
type (
	pinnedProductReply struct {
		ID          string         `json:"id"`
		BrandID     string         `json:"brand_id"`
		Title       string         `json:"title"`
		Description string         `json:"description"`
		ImageURL    string         `json:"image_url"`
		Variants    []variantReply `json:"variants"`
	}
	flashReply struct {
		Price         moneyReply `json:"price"`
		Quantity      int64      `json:"quantity"`
		Remaining     int64      `json:"remaining"`
		PerBuyerLimit int64      `json:"per_buyer_limit"`
		EndsAt        time.Time  `json:"ends_at"`
	}
	pinReply struct {
		ID       string             `json:"id"`
		StreamID string             `json:"stream_id"`
		Product  pinnedProductReply `json:"product"`
		Flash    *flashReply        `json:"flash"`
		PinnedAt time.Time          `json:"pinned_at"`
		OffsetMS int64              `json:"offset_ms"`
	}
	streamReply struct {
		ID          string     `json:"id"`
		CreatorID   string     `json:"creator_id"`
		Title       string     `json:"title"`
		Currency    string     `json:"currency"`
		Status      string     `json:"status"`
		PlaybackURL string     `json:"playback_url"`
		ScheduledAt *time.Time `json:"scheduled_at"`
		StartedAt   *time.Time `json:"started_at"`
		EndedAt     *time.Time `json:"ended_at"`
		Pins        []pinReply `json:"pins"`
		Viewers     int        `json:"viewers"`
		Likes       int64      `json:"likes"`
	}
	lineupReply struct {
		StreamID      string `json:"stream_id"`
		ProductID     string `json:"product_id"`
		BrandID       string `json:"brand_id"`
		CommissionBPS *int   `json:"commission_bps"`
	}
	lineupList struct {
		Data       []lineupReply `json:"data"`
		NextCursor *string       `json:"next_cursor"`
	}
	timelineReply struct {
		Data []struct {
			Type     string    `json:"type"`
			At       time.Time `json:"at"`
			OffsetMS int64     `json:"offset_ms"`
			Pin      pinReply  `json:"pin"`
		} `json:"data"`
	}
	chatReply struct {
		ID       string `json:"id"`
		StreamID string `json:"stream_id"`
		Shopper  struct {
			ID          string `json:"id"`
			DisplayName string `json:"display_name"`
		} `json:"shopper"`
		Text     string    `json:"text"`
		At       time.Time `json:"at"`
		OffsetMS int64     `json:"offset_ms"`
	}
)

// stream reads a stream as anyone may.
func stream(t *testing.T, c *apitest.Client, streamID string) streamReply {
	t.Helper()
	var s streamReply
	c.Call(http.MethodGet, "/v1/streams/"+streamID, "", nil).Want(200).JSON(&s)
	return s
}

// pinIDs lists the ids of pins.
func pinIDs(pins []pinReply) []string {
	out := make([]string, len(pins))
	for i, p := range pins {
		out[i] = p.ID
	}
	return out
}

// wantCode fails unless the problem's code is code and, when field is not
// empty, its errors name field.
func wantCode(t *testing.T, res *apitest.Response, code, field string) {
	t.Helper()
	p := res.Problem()
	if p.Code != code {
		t.Errorf("code %s, want %s (%s)", p.Code, code, p.Detail)
	}
	if field != "" && !slices.ContainsFunc(p.Errors, func(e apitest.FieldError) bool { return e.Field == field }) {
		t.Errorf("errors %+v do not name %s", p.Errors, field)
	}
}

// outboxTypes lists the types of the events about subject in the outbox,
// oldest first.
func (w *world) outboxTypes(t *testing.T, subject string) []string {
	t.Helper()
	var types []string
	if err := w.db.Raw(`SELECT event_type FROM outbox WHERE subject = ? ORDER BY id`, subject).Scan(&types).Error; err != nil {
		t.Fatal(err)
	}
	return types
}

// relayToHub does what the relay and every node's live feed do together:
// it takes the unsent outbox events and publishes the live ones to the hub,
// numbered in order as their Kafka offsets would number them.
func (w *world) relayToHub(t testing.TB) {
	t.Helper()
	for {
		n, err := w.outbox.ProcessBatch(context.Background(), 100, func(_ context.Context, evs []event.Event) error {
			for _, ev := range evs {
				if ev.Topic != event.TopicLive {
					continue
				}
				w.relayed++
				if err := w.hub.Publish(ev.Subject, hub.Event{Seq: w.relayed, Type: livefeed.SSEName(ev.Type), Data: json.RawMessage(ev.Data)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("relay: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

// TestLiveFlow runs a stream's life through the api: schedule, line-up,
// start, four pins (the oldest replaced), unpin, timeline, end.
func TestLiveFlow(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	a := w.a()
	host, brand := w.token(party.RoleCreator, 0), w.token(party.RoleBrand, 0)

	at := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	res := c.Call(http.MethodPost, "/v1/streams", host, map[string]any{
		"title": "  Autumn silk drop ", "currency": "EUR",
		"playback_url": "https://cdn.example.com/live/autumn/index.m3u8", "scheduled_at": at.Format(time.RFC3339),
	}).Want(201)
	var st streamReply
	res.JSON(&st)
	wantLocation(t, res, "/v1/streams/"+st.ID)
	if !id.Valid(live.PrefixStream, st.ID) || st.CreatorID != a.creator.ID || st.Title != "Autumn silk drop" || st.Currency != "EUR" ||
		st.Status != "scheduled" || st.PlaybackURL != "https://cdn.example.com/live/autumn/index.m3u8" ||
		st.ScheduledAt == nil || !st.ScheduledAt.Equal(at) || st.StartedAt != nil || st.EndedAt != nil || len(st.Pins) != 0 || st.Viewers != 0 {
		t.Errorf("created %+v", st)
	}
	path := "/v1/streams/" + st.ID

	// The brand offers four products; adding one again changes its commission.
	products := []string{a.product.ID}
	for i := range 3 {
		var p productReply
		c.Call(http.MethodPost, "/v1/products", brand, newProductBody("Extra "+strconv.Itoa(i), "EXTRA-"+strconv.Itoa(i))).Want(201).JSON(&p)
		products = append(products, p.ID)
	}
	for _, p := range products {
		var it lineupReply
		c.Call(http.MethodPost, path+"/lineup", brand, map[string]any{"product_id": p, "commission_bps": 800}).Want(201).JSON(&it)
		if it.StreamID != st.ID || it.ProductID != p || it.BrandID != a.brand.ID || it.CommissionBPS == nil || *it.CommissionBPS != 800 {
			t.Errorf("line-up item %+v", it)
		}
	}
	c.Call(http.MethodPost, path+"/lineup", brand, map[string]any{"product_id": products[0], "commission_bps": 1500}).Want(201)
	// Anyone sees the line-up; the commission only the brand, the host, its
	// agency and admins.
	for _, tc := range []struct {
		who   string
		token string
		sees  bool
	}{
		{"anyone", "", false},
		{"another brand", w.token(party.RoleBrand, 1), false},
		{"a shopper", w.token(party.RoleShopper, 0), false},
		{"the brand", brand, true},
		{"the host", host, true},
		{"the host's agency", w.token(party.RoleAgency, 0), true},
		{"an admin", w.admin, true},
	} {
		var lineup lineupList
		c.Call(http.MethodGet, path+"/lineup", tc.token, nil).Want(200).JSON(&lineup)
		if len(lineup.Data) != 4 || lineup.Data[0].ProductID != products[0] || lineup.NextCursor != nil {
			t.Fatalf("%s: line-up %+v", tc.who, lineup)
		}
		switch bps := lineup.Data[0].CommissionBPS; {
		case tc.sees && (bps == nil || *bps != 1500):
			t.Errorf("%s sees commission %v, want 1500", tc.who, bps)
		case !tc.sees && bps != nil:
			t.Errorf("%s sees commission %d, want null", tc.who, *bps)
		}
	}

	// No pins before the stream is live.
	wantCode(t, c.Call(http.MethodPost, path+"/pins", host, map[string]any{"product_id": products[0]}).Want(409), "invalid_state", "")
	c.Call(http.MethodPost, path+"/start", host, nil).Want(200).JSON(&st)
	if st.Status != "live" || st.StartedAt == nil {
		t.Errorf("started %+v", st)
	}
	wantCode(t, c.Call(http.MethodPost, path+"/start", host, nil).Want(409), "invalid_state", "")
	// Live, a commission may rise but not fall.
	wantCode(t, c.Call(http.MethodPost, path+"/lineup", brand, map[string]any{"product_id": products[0], "commission_bps": 1000}).Want(409), "invalid_state", "")
	c.Call(http.MethodPost, path+"/lineup", brand, map[string]any{"product_id": products[0], "commission_bps": 1600}).Want(201)

	// Four pins, by the brand and the host: three stay, the oldest goes.
	var pins []pinReply
	for i, p := range products {
		token := brand
		if i%2 == 1 {
			token = host
		}
		res := c.Call(http.MethodPost, path+"/pins", token, map[string]any{"product_id": p}).Want(201)
		var pin pinReply
		res.JSON(&pin)
		wantLocation(t, res, path+"/pins/"+pin.ID)
		if !id.Valid(live.PrefixPin, pin.ID) || pin.StreamID != st.ID || pin.Product.ID != p || pin.Product.BrandID != a.brand.ID ||
			len(pin.Product.Variants) == 0 || pin.Flash != nil || pin.PinnedAt.Before(*st.StartedAt) || pin.OffsetMS < 0 {
			t.Errorf("pin %d: %+v", i, pin)
		}
		pins = append(pins, pin)
	}
	got := stream(t, c, st.ID)
	if want := pinIDs(pins[1:]); !slices.Equal(pinIDs(got.Pins), want) {
		t.Errorf("pins on screen %v, want %v (oldest first, the first replaced)", pinIDs(got.Pins), want)
	}

	// Unpin one; unpinning it again, or the replaced one, is a 404.
	c.Call(http.MethodDelete, path+"/pins/"+pins[1].ID, brand, nil).Want(204)
	c.Call(http.MethodDelete, path+"/pins/"+pins[1].ID, brand, nil).Want(404)
	c.Call(http.MethodDelete, path+"/pins/"+pins[0].ID, host, nil).Want(404)
	if got := stream(t, c, st.ID); !slices.Equal(pinIDs(got.Pins), pinIDs(pins[2:])) {
		t.Errorf("pins after unpin %v", pinIDs(got.Pins))
	}

	// End: every pin goes; nothing can be pinned any more.
	c.Call(http.MethodPost, path+"/end", host, nil).Want(200).JSON(&st)
	if st.Status != "ended" || st.EndedAt == nil || len(st.Pins) != 0 {
		t.Errorf("ended %+v", st)
	}
	wantCode(t, c.Call(http.MethodPost, path+"/pins", host, map[string]any{"product_id": products[0]}).Want(409), "invalid_state", "")
	wantCode(t, c.Call(http.MethodPost, path+"/end", host, nil).Want(409), "invalid_state", "")
	wantCode(t, c.Call(http.MethodPost, path+"/lineup", brand, map[string]any{"product_id": products[0], "commission_bps": 1}).Want(409), "invalid_state", "")

	// The timeline has every pin and unpin in order, with offsets for replays.
	var tl timelineReply
	c.Call(http.MethodGet, path+"/timeline", "", nil).Want(200).JSON(&tl)
	type step struct{ typ, pin string }
	want := []step{
		{"pin.added", pins[0].ID}, {"pin.added", pins[1].ID}, {"pin.added", pins[2].ID},
		{"pin.removed", pins[0].ID}, {"pin.added", pins[3].ID}, // the fourth replaced the first
		{"pin.removed", pins[1].ID},                              // unpinned by hand
		{"pin.removed", pins[2].ID}, {"pin.removed", pins[3].ID}, // the end
	}
	var steps []step
	for i, e := range tl.Data {
		steps = append(steps, step{e.Type, e.Pin.ID})
		if i > 0 && (e.At.Before(tl.Data[i-1].At) || e.OffsetMS < tl.Data[i-1].OffsetMS) {
			t.Errorf("timeline entry %d goes back in time: %+v after %+v", i, e, tl.Data[i-1])
		}
		if e.OffsetMS < 0 || e.OffsetMS > st.EndedAt.Sub(*st.StartedAt).Milliseconds() {
			t.Errorf("timeline entry %d offset %d outside the broadcast", i, e.OffsetMS)
		}
		if got := e.At.Sub(*st.StartedAt).Milliseconds(); e.OffsetMS != got {
			t.Errorf("timeline entry %d offset %d, its time says %d", i, e.OffsetMS, got)
		}
	}
	if !slices.Equal(steps, want) {
		t.Errorf("timeline %v,\nwant %v", steps, want)
	}

	// Every change went to the outbox for the live topic.
	wantTypes := []string{live.EventStreamStarted,
		live.EventPinAdded, live.EventPinAdded, live.EventPinAdded, live.EventPinRemoved, live.EventPinAdded,
		live.EventPinRemoved, live.EventPinRemoved, live.EventPinRemoved, live.EventStreamEnded}
	if got := w.outboxTypes(t, st.ID); !slices.Equal(got, wantTypes) {
		t.Errorf("outbox %v,\nwant %v", got, wantTypes)
	}
}

func TestCreateStreamByAgency(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	agency := w.token(party.RoleAgency, 0)
	var st streamReply
	c.Call(http.MethodPost, "/v1/streams", agency, map[string]any{"creator_id": w.a().creator.ID, "title": "Agency show", "currency": "JPY"}).Want(201).JSON(&st)
	if st.CreatorID != w.a().creator.ID || st.Currency != "JPY" || st.PlaybackURL != "" || st.ScheduledAt != nil {
		t.Errorf("stream %+v", st)
	}
	// The agency names the creator; it may start and end the stream.
	wantCode(t, c.Call(http.MethodPost, "/v1/streams", agency, map[string]any{"title": "Whose?", "currency": "EUR"}).Want(400), "validation_failed", "creator_id")
	c.Call(http.MethodPost, "/v1/streams/"+st.ID+"/start", agency, nil).Want(200)
	// A product in another currency cannot join the line-up.
	wantCode(t, c.Call(http.MethodPost, "/v1/streams/"+st.ID+"/lineup", w.token(party.RoleBrand, 0),
		map[string]any{"product_id": w.a().product.ID, "commission_bps": 100}).Want(400), "validation_failed", "product_id")
	// An admin may take any stream down, but not start one.
	c.Call(http.MethodPost, "/v1/streams/"+w.b().stream.ID+"/end", w.admin, nil).Want(200)
	c.Call(http.MethodPost, "/v1/streams/"+w.newStream(t, 1, false).ID+"/start", w.admin, nil).Want(403)
	c.Call(http.MethodPost, "/v1/streams/"+st.ID+"/end", agency, nil).Want(200)
}

func TestFlashPin(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	st, brand := w.a().stream, w.token(party.RoleBrand, 0)
	path := "/v1/streams/" + st.ID + "/pins"
	ends := time.Now().UTC().Add(30 * time.Minute).Truncate(time.Second)
	flash := func(price map[string]any, ends string) map[string]any {
		return map[string]any{"product_id": w.a().product.ID, "flash": map[string]any{
			"price": price, "quantity": 10, "per_buyer_limit": 2, "ends_at": ends,
		}}
	}
	eur := map[string]any{"amount": 2900, "currency": "EUR"}

	var pin pinReply
	c.Call(http.MethodPost, path, brand, flash(eur, ends.Format(time.RFC3339))).Want(201).JSON(&pin)
	want := flashReply{Price: moneyReply{2900, "EUR"}, Quantity: 10, Remaining: 10, PerBuyerLimit: 2, EndsAt: ends}
	if pin.Flash == nil || *pin.Flash != want {
		t.Errorf("flash %+v, want %+v", pin.Flash, want)
	}
	if got := stream(t, c, st.ID); len(got.Pins) != 1 || got.Pins[0].Flash == nil || *got.Pins[0].Flash != want {
		t.Errorf("stream pins %+v", got.Pins)
	}

	before := w.snapshot(t)
	for _, tt := range []struct {
		name, field string
		body        map[string]any
	}{
		{"another currency", "flash.price.currency", flash(map[string]any{"amount": 1500, "currency": "JPY"}, ends.Format(time.RFC3339))},
		{"ends in the past", "flash.ends_at", flash(eur, time.Now().UTC().Add(-time.Minute).Format(time.RFC3339))},
		{"ends after a day", "flash.ends_at", flash(eur, time.Now().UTC().Add(25*time.Hour).Format(time.RFC3339))},
		{"ends_at not a time", "flash.ends_at", flash(eur, "in an hour")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, c.Call(http.MethodPost, path, brand, tt.body).Want(400), "validation_failed", tt.field)
		})
	}
	if after := w.snapshot(t); !maps.Equal(before, after) {
		t.Errorf("refused flash pins changed the database")
	}
}

// TestLineupRemoval: the host takes a product out of its show for good
// (off the screen, flash sale and all; no pin, no order, no offering it
// again), orders already placed stay payable and the brand still reads its
// own sales; a brand that withdraws its own product may offer it again.
func TestLineupRemoval(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	st, prd := w.a().stream, w.a().product
	brand, host, shopper := w.token(party.RoleBrand, 0), w.token(party.RoleCreator, 0), w.token(party.RoleShopper, 0)
	lineup, item := "/v1/streams/"+st.ID+"/lineup", "/v1/streams/"+st.ID+"/lineup/"+prd.ID
	offered := func(streamID string) []string {
		var l lineupList
		c.Call(http.MethodGet, "/v1/streams/"+streamID+"/lineup", "", nil).Want(200).JSON(&l)
		var ids []string
		for _, it := range l.Data {
			ids = append(ids, it.ProductID)
		}
		return ids
	}

	placed := w.newOrder(t, 0, 1)
	w.newFlashPin(t, 0, st, 5, 0)
	w.newPin(t, 0, st)
	if got := stream(t, c, st.ID).Pins; len(got) != 2 {
		t.Fatalf("%d pins on screen before the removal, want 2", len(got))
	}
	c.Call(http.MethodDelete, item, host, nil).Want(204)

	if got := stream(t, c, st.ID).Pins; len(got) != 0 {
		t.Errorf("pins still on screen after the removal: %v", pinIDs(got))
	}
	if got := offered(st.ID); slices.Contains(got, prd.ID) {
		t.Errorf("line-up %v still offers %s", got, prd.ID)
	}
	before := w.snapshot(t)
	wantCode(t, c.Call(http.MethodPost, lineup, brand, map[string]any{"product_id": prd.ID, "commission_bps": 5000}).Want(403), "forbidden", "")
	wantCode(t, c.Call(http.MethodPost, "/v1/streams/"+st.ID+"/pins", brand, map[string]any{"product_id": prd.ID}).Want(400), "validation_failed", "product_id")
	wantCode(t, c.Do(withKey(t, http.MethodPost, "/v1/orders", shopper, "after-removal",
		orderRequest(st.ID, "", prd.Variants[0].ID, 1))).Want(400), "validation_failed", "items[0].variant_id")
	wantCode(t, c.Call(http.MethodDelete, item, host, nil).Want(404), "not_found", "")
	if after := w.snapshot(t); !maps.Equal(before, after) {
		t.Errorf("refused requests after the removal changed the database")
	}

	if _, err := w.sim.Confirm(context.Background(), placed.Payment.IntentID, placed.Payment.ClientSecret, local.CardSucceeds); err != nil {
		t.Fatalf("pay the order placed before the removal: %v", err)
	}
	if got := getOrder(t, c, shopper, placed.ID); got.Status != "paid" {
		t.Errorf("order placed before the removal is %s after paying, want paid", got.Status)
	}
	c.Call(http.MethodGet, "/v1/streams/"+st.ID+"/stats", brand, nil).Want(200)

	// The brand withdraws its product from another show, then offers it
	// again, not for less while the show is on.
	other := w.newStream(t, 0, true)
	c.Call(http.MethodDelete, "/v1/streams/"+other.ID+"/lineup/"+prd.ID, brand, nil).Want(204)
	if got := offered(other.ID); len(got) != 0 {
		t.Errorf("line-up after the brand withdrew: %v", got)
	}
	wantCode(t, c.Call(http.MethodPost, "/v1/streams/"+other.ID+"/lineup", brand, map[string]any{"product_id": prd.ID, "commission_bps": 800}).Want(409), "invalid_state", "")
	c.Call(http.MethodPost, "/v1/streams/"+other.ID+"/lineup", brand, map[string]any{"product_id": prd.ID, "commission_bps": 1000}).Want(201)
	if got := offered(other.ID); !slices.Equal(got, []string{prd.ID}) {
		t.Errorf("line-up after offering again: %v", got)
	}
	c.Call(http.MethodPost, "/v1/streams/"+other.ID+"/pins", brand, map[string]any{"product_id": prd.ID}).Want(201)
}

func TestChat(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	st := w.a().stream
	path := "/v1/streams/" + st.ID + "/chat"
	shopper := w.token(party.RoleShopper, 0)

	res := c.Call(http.MethodPost, path, shopper, map[string]any{"text": "  Is it real silk? Love it "}).Want(201)
	var msg chatReply
	res.JSON(&msg)
	wantLocation(t, res, path+"/"+msg.ID)
	if !id.Valid(live.PrefixMessage, msg.ID) || msg.StreamID != st.ID || msg.Shopper.ID != w.a().shopper.ID ||
		msg.Shopper.DisplayName != "Shopper A" || msg.Text != "Is it real silk? Love it" || msg.OffsetMS < 0 {
		t.Errorf("message %+v", msg)
	}

	// Blocked words, as words and in any case.
	wantCode(t, c.Call(http.MethodPost, path, shopper, map[string]any{"text": "DM me on Telegram!"}).Want(400), "validation_failed", "text")
	// Five messages per ten seconds: the first and four more, then 429.
	for i := range worldChatLimit - 1 {
		c.Call(http.MethodPost, path, shopper, map[string]any{"text": "msg " + strconv.Itoa(i)}).Want(201)
	}
	limited := c.Call(http.MethodPost, path, shopper, map[string]any{"text": "one too many"}).Want(429)
	wantCode(t, limited, "rate_limited", "")
	if got := limited.Header.Get("Retry-After"); got != "10" { // the window the limit counts over
		t.Errorf("429 Retry-After %q, want 10", got)
	}

	// A muted shopper gets 403 until unmuted.
	host := w.token(party.RoleCreator, 0)
	other, otherToken := w.newShopper(t)
	res = c.Call(http.MethodPost, "/v1/streams/"+st.ID+"/mutes", host, map[string]any{"shopper_id": other.ID}).Want(201)
	wantLocation(t, res, "/v1/streams/"+st.ID+"/mutes/"+other.ID)
	c.Call(http.MethodPost, "/v1/streams/"+st.ID+"/mutes", host, map[string]any{"shopper_id": other.ID}).Want(201) // again: harmless
	wantCode(t, c.Call(http.MethodPost, path, otherToken, map[string]any{"text": "hello?"}).Want(403), "forbidden", "")
	c.Call(http.MethodDelete, "/v1/streams/"+st.ID+"/mutes/"+other.ID, w.token(party.RoleAgency, 0), nil).Want(204)
	var second chatReply
	c.Call(http.MethodPost, path, otherToken, map[string]any{"text": "hello!"}).Want(201).JSON(&second)

	// The host deletes a message; a brand may not moderate; another tenant's
	// host does not see the message.
	c.Call(http.MethodDelete, path+"/"+msg.ID, host, nil).Want(204)
	c.Call(http.MethodDelete, path+"/"+msg.ID, host, nil).Want(404)
	wantCode(t, c.Call(http.MethodDelete, path+"/"+second.ID, w.token(party.RoleBrand, 0), nil).Want(403), "forbidden", "")
	wantCode(t, c.Call(http.MethodDelete, path+"/"+second.ID, w.token(party.RoleCreator, 1), nil).Want(404), "not_found", "")
	c.Call(http.MethodDelete, "/v1/streams/"+w.b().stream.ID+"/chat/"+second.ID, w.token(party.RoleCreator, 1), nil).Want(404)
	c.Call(http.MethodDelete, path+"/"+second.ID, w.admin, nil).Want(204)

	// No chat on a stream that is not live.
	scheduled := w.newStream(t, 0, false)
	wantCode(t, c.Call(http.MethodPost, "/v1/streams/"+scheduled.ID+"/chat", otherToken, map[string]any{"text": "early"}).Want(409), "invalid_state", "")

	if got := w.outboxTypes(t, st.ID); strings.Count(strings.Join(got, " "), live.EventChatMessage) != worldChatLimit+1 ||
		strings.Count(strings.Join(got, " "), live.EventChatDeleted) != 2 {
		t.Errorf("outbox %v", got)
	}
}

func TestLikesAreBatched(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	st := w.a().stream
	path := "/v1/streams/" + st.ID + "/likes"
	var ack struct {
		StreamID string `json:"stream_id"`
		Count    int    `json:"count"`
	}
	c.Call(http.MethodPost, path, w.token(party.RoleShopper, 0), map[string]any{"count": 3}).Want(202).JSON(&ack)
	if ack.StreamID != st.ID || ack.Count != 3 {
		t.Errorf("ack %+v", ack)
	}
	c.Call(http.MethodPost, path, w.token(party.RoleShopper, 0), map[string]any{"count": 50}).Want(202)
	c.Call(http.MethodPost, path, w.token(party.RoleShopper, 1), map[string]any{"count": 1}).Want(202)
	if got := w.outboxTypes(t, st.ID); slices.Contains(got, live.EventLikes) {
		t.Errorf("likes published before the flush: %v", got)
	}

	if err := w.room.FlushLikes(context.Background()); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		EventType string
		Data      string
	}
	if err := w.db.Raw(`SELECT event_type, data::text AS data FROM outbox WHERE subject = ? AND event_type = ?`, st.ID, live.EventLikes).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("%d likes events, want one batch", len(rows))
	}
	var batch live.LikesPayload
	decodeData(t, rows[0].Data, &batch)
	if batch != (live.LikesPayload{StreamID: st.ID, Count: 54, Total: 54}) {
		t.Errorf("batch %+v", batch)
	}
	if got := stream(t, c, st.ID).Likes; got != 54 {
		t.Errorf("the stream says %d likes, want 54", got)
	}
	// Nothing pending: the next flush publishes nothing.
	if err := w.room.FlushLikes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := w.outboxTypes(t, st.ID); slices.Index(got, live.EventLikes) != len(got)-1 || strings.Count(strings.Join(got, " "), live.EventLikes) != 1 {
		t.Errorf("outbox %v", got)
	}
	// Likes need a live stream.
	wantCode(t, c.Call(http.MethodPost, "/v1/streams/"+w.newStream(t, 0, false).ID+"/likes", w.token(party.RoleShopper, 0),
		map[string]any{"count": 1}).Want(409), "invalid_state", "")
}

// TestStreamViewers: the viewer count comes from presence, summed over the
// nodes that beat recently.
func TestStreamViewers(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	st := w.a().stream
	if got := stream(t, c, st.ID); got.Viewers != 0 {
		t.Errorf("viewers %d before anyone watched", got.Viewers)
	}
	ctx := context.Background()
	now := time.Now().UTC()
	if err := w.rooms.Beat(ctx, "node-b", map[string]int{st.ID: 4}, now); err != nil {
		t.Fatal(err)
	}
	if err := w.rooms.Beat(ctx, "node-c", map[string]int{st.ID: 3, w.b().stream.ID: 1}, now); err != nil {
		t.Fatal(err)
	}
	// A node that has not beaten within the window no longer counts.
	if err := w.rooms.Beat(ctx, "node-dead", map[string]int{st.ID: 100}, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := stream(t, c, st.ID); got.Viewers != 7 {
		t.Errorf("viewers %d, want 7", got.Viewers)
	}
	if got := stream(t, c, w.b().stream.ID); got.Viewers != 1 {
		t.Errorf("viewers of B %d, want 1", got.Viewers)
	}
}

// TestEventStream serves events over a real HTTP server and hub: the
// snapshot first, then the events of pins (relayed as the live feed would)
// and presence, a resume with Last-Event-ID, heartbeats and the end.
func TestEventStream(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	st, brand := w.a().stream, w.token(party.RoleBrand, 0)
	path := "/v1/streams/" + st.ID
	first := w.newPin(t, 0, st)
	w.relayToHub(t) // the start and the first pin happened before anyone watched

	ev := openEvents(t, w, path+"/events", "", "")
	if ev.status != http.StatusOK {
		t.Fatalf("status %d: %s", ev.status, ev.body)
	}
	if ct := ev.header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if ev.header.Get("X-Request-Id") == "" || ev.header.Get("Cache-Control") != "no-cache" {
		t.Errorf("headers %v", ev.header)
	}
	snap := ev.next(t)
	if snap.typ != "snapshot" || snap.id != strconv.FormatInt(w.relayed, 10) {
		t.Fatalf("first event %+v, want the snapshot numbered %d", snap, w.relayed)
	}
	validateSchema(t, w.doc, "Stream", snap.data)
	var view streamReply
	decodeData(t, snap.data, &view)
	if view.ID != st.ID || view.Status != "live" || !slices.Equal(pinIDs(view.Pins), []string{first.ID}) {
		t.Errorf("snapshot %+v", view)
	}

	// A pin made through the api reaches the viewer.
	var pin pinReply
	c.Call(http.MethodPost, path+"/pins", brand, map[string]any{"product_id": w.a().product.ID}).Want(201).JSON(&pin)
	w.relayToHub(t)
	added := ev.next(t)
	if added.typ != "pin.added" || added.id != strconv.FormatInt(w.relayed, 10) {
		t.Fatalf("event %+v, want pin.added %d", added, w.relayed)
	}
	validateSchema(t, w.doc, "Pin", added.data)
	var got pinReply
	decodeData(t, added.data, &got)
	if got.ID != pin.ID || got.Product.ID != w.a().product.ID {
		t.Errorf("pin.added %+v", got)
	}

	// Presence counts this viewer and tells every viewer.
	if err := w.presence.Beat(context.Background()); err != nil {
		t.Fatal(err)
	}
	viewers := ev.next(t)
	if viewers.typ != "viewers" || viewers.id != "" || viewers.data != `{"count":1}` {
		t.Errorf("event %+v, want viewers 1 without an id", viewers)
	}
	if got := stream(t, c, st.ID); got.Viewers != 1 {
		t.Errorf("GET stream: viewers %d, want 1", got.Viewers)
	}
	if !strings.HasPrefix(ev.nextComment(t), ": ping") {
		t.Error("no heartbeat")
	}

	// The viewer drops; two more pins (the third replaces the oldest) while
	// it is away; it resumes from its last id without a new snapshot.
	lastID := added.id
	ev.close()
	for range 2 {
		c.Call(http.MethodPost, path+"/pins", w.token(party.RoleCreator, 0), map[string]any{"product_id": w.a().product.ID}).Want(201)
	}
	w.relayToHub(t)
	ev = openEvents(t, w, path+"/events", "", lastID)
	var types []string
	last, _ := strconv.ParseInt(lastID, 10, 64)
	for range 3 {
		e := ev.next(t)
		types = append(types, e.typ)
		if e.id != strconv.FormatInt(last+1, 10) {
			t.Errorf("event %s numbered %s, want %d", e.typ, e.id, last+1)
		}
		last++
	}
	if want := []string{"pin.added", "pin.removed", "pin.added"}; !slices.Equal(types, want) {
		t.Errorf("replayed %v, want %v", types, want)
	}

	// A viewer whose id the hub never gave starts over from a snapshot.
	fresh := openEvents(t, w, path+"/events", "", "999999")
	if e := fresh.next(t); e.typ != "snapshot" {
		t.Errorf("unknown Last-Event-ID: first event %s", e.typ)
	}
	fresh.close()

	// The end removes the pins and says so.
	c.Call(http.MethodPost, path+"/end", w.token(party.RoleCreator, 0), nil).Want(200)
	w.relayToHub(t)
	types = types[:0]
	for range 4 {
		types = append(types, ev.next(t).typ)
	}
	if want := []string{"pin.removed", "pin.removed", "pin.removed", "stream.ended"}; !slices.Equal(types, want) {
		t.Errorf("at the end %v, want %v", types, want)
	}
}

// TestEventStreamOutlivesWriteTimeout: the server's WriteTimeout must not
// end an event stream. On HTTP/1 the hub hijacks the connection and clears
// the deadline; where it cannot, it moves the deadline on through gin's
// writer.
func TestEventStreamOutlivesWriteTimeout(t *testing.T) {
	w := newWorld(t)
	const writeTimeout = 300 * time.Millisecond
	srv := newServerWithWriteTimeout(t, w, writeTimeout)
	st := w.a().stream
	ev := openEventsAt(t, srv.Client(), srv.URL, "/v1/streams/"+st.ID+"/events", "", "")
	if ev.status != http.StatusOK {
		t.Fatalf("status %d: %s", ev.status, ev.body)
	}
	if e := ev.next(t); e.typ != "snapshot" {
		t.Fatalf("first event %s", e.typ)
	}
	// Wait, on heartbeats, until well past the write timeout.
	opened := time.Now()
	for time.Since(opened) < 3*writeTimeout {
		ev.nextComment(t)
	}
	if err := w.hub.Publish(st.ID, hub.Event{Seq: 1, Type: "pin.removed", Data: map[string]string{"pin_id": "pin_x"}}); err != nil {
		t.Fatal(err)
	}
	if e := ev.next(t); e.typ != "pin.removed" || e.id != "1" {
		t.Errorf("event %+v", e)
	}
}

// TestEventStreamWaitsForLiveFeed: until this node's live feed reads the
// topic, a viewer let in would miss the events published meanwhile, so the
// event stream answers 503 with Retry-After; once it reads, the stream opens.
func TestEventStreamWaitsForLiveFeed(t *testing.T) {
	w := newWorld(t)
	ready := make(chan struct{})
	d := w.deps
	d.LiveFeedReady = ready
	srv := httptest.NewServer(New(d))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	path := "/v1/streams/" + w.a().stream.ID + "/events"
	ev := openEventsAt(t, srv.Client(), srv.URL, path, "", "")
	if ev.status != http.StatusServiceUnavailable || ev.header.Get("Retry-After") != "1" ||
		ev.header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(ev.body), `"code":"unavailable"`) {
		t.Fatalf("before the feed reads: %d, Retry-After %q, %s", ev.status, ev.header.Get("Retry-After"), ev.body)
	}
	close(ready)
	ev = openEventsAt(t, srv.Client(), srv.URL, path, "", "")
	if ev.status != http.StatusOK {
		t.Fatalf("once the feed reads: %d %s", ev.status, ev.body)
	}
	if e := ev.next(t); e.typ != "snapshot" {
		t.Fatalf("first event %s", e.typ)
	}
}

func TestEventStreamUnknownStream(t *testing.T) {
	w := newWorld(t)
	c := w.client(t)
	for _, path := range []string{
		"/v1/streams/" + id.New(live.PrefixStream, time.Now()) + "/events",
		"/v1/streams/nope/events",
		"/v1/streams/" + w.a().product.ID + "/events",
	} {
		wantCode(t, c.Call(http.MethodGet, path, "", nil).Want(404), "not_found", "")
		ev := openEvents(t, w, path, "", "")
		if ev.status != http.StatusNotFound || ev.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s over HTTP: %d %s %s", path, ev.status, ev.header.Get("Content-Type"), ev.body)
		}
	}
}

// TestEventStreamNaiveHub: the benchmark's baseline hub serves through the
// same handler and gin writer (main swaps it in with DAIHUO_FANOUT=naive).
func TestEventStreamNaiveHub(t *testing.T) {
	w := newWorld(t)
	naive := hub.NewNaive()
	srv := httptest.NewServer(New(Deps{Auth: w.parties, Parties: w.parties, Catalog: w.catalog,
		Live: w.live, Room: w.room, Presence: w.presence, Hub: naive}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	st := w.a().stream
	ev := openEventsAt(t, srv.Client(), srv.URL, "/v1/streams/"+st.ID+"/events", "", "")
	if ev.status != http.StatusOK {
		t.Fatalf("status %d: %s", ev.status, ev.body)
	}
	snap := ev.next(t)
	if snap.typ != "snapshot" {
		t.Fatalf("first event %s", snap.typ)
	}
	validateSchema(t, w.doc, "Stream", snap.data)
	if err := naive.Publish(st.ID, hub.Event{Seq: 7, Type: "viewers", Data: map[string]int{"count": 2}}); err != nil {
		t.Fatal(err)
	}
	if e := ev.next(t); e.typ != "viewers" || e.id != "7" || e.data != `{"count":2}` {
		t.Errorf("event %+v", e)
	}
}
