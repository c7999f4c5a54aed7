package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/domain/report"
	"github.com/daihuo/daihuo/payments/local"
	"github.com/daihuo/daihuo/storage"
)

// statsReply is GET /v1/streams/{id}/stats as clients decode it.
type statsReply struct {
	StreamID      string     `json:"stream_id"`
	Scope         string     `json:"scope"`
	BrandID       *string    `json:"brand_id"`
	Viewers       int64      `json:"viewers"`
	PeakViewers   int64      `json:"peak_viewers"`
	UniqueViewers int64      `json:"unique_viewers"`
	Orders        int64      `json:"orders"`
	GMV           moneyReply `json:"gmv"`
	Units         int64      `json:"units"`
	Buyers        int64      `json:"buyers"`
	Refunds       moneyReply `json:"refunds"`
	Commission    moneyReply `json:"commission"`
	Conversion    float64    `json:"conversion"`
	UpdatedAt     *time.Time `json:"updated_at"`
}

// applyOrderEvents does what the relay and the stream stats consumer group
// do together: it applies every order event in the outbox, oldest first,
// through the inbox. Events applied before are skipped, as redeliveries are.
func (w *world) applyOrderEvents(t testing.TB) {
	t.Helper()
	var rows []struct {
		EventID    string
		EventType  string
		Subject    string
		OccurredAt time.Time
		Data       string
	}
	err := w.db.Raw(`SELECT event_id, event_type, subject, occurred_at, data::text AS data
		FROM outbox WHERE topic = ? ORDER BY id`, event.TopicOrders).Scan(&rows).Error
	if err != nil {
		t.Fatalf("read order events: %v", err)
	}
	inbox := storage.NewInbox(w.db)
	for _, r := range rows {
		ev := event.Event{ID: r.EventID, Type: r.EventType, Source: event.Source, Topic: event.TopicOrders,
			Subject: r.Subject, Time: r.OccurredAt.UTC(), Data: json.RawMessage(r.Data)}
		if _, err := inbox.Once(context.Background(), report.ConsumerGroup, ev.ID, func(ctx context.Context) error {
			return w.stats.Apply(ctx, ev)
		}); err != nil {
			t.Fatalf("apply %s: %v", ev.Type, err)
		}
	}
}

// statsOf reads a stream's stats with token, wanting 200.
func statsOf(t *testing.T, w *world, streamID, token string) statsReply {
	t.Helper()
	var out statsReply
	w.client(t).Call(http.MethodGet, "/v1/streams/"+streamID+"/stats", token, nil).Want(http.StatusOK).JSON(&out)
	return out
}

// TestStreamStats sells in tenant A's stream (brand A's product to two
// shoppers, brand B's, added to the line-up, to one), refunds part of an
// order, and reads the stats as every kind of caller.
func TestStreamStats(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	a, b := w.a(), w.b()
	st := a.stream
	eur := func(n int64) moneyReply { return moneyReply{Amount: n, Currency: "EUR"} }

	// Nothing sold, nobody watched yet.
	empty := statsOf(t, w, st.ID, w.token(party.RoleCreator, 0))
	if want := (statsReply{StreamID: st.ID, Scope: "stream", GMV: eur(0), Refunds: eur(0), Commission: eur(0)}); empty != want {
		t.Fatalf("stats before any sale %+v, want %+v", empty, want)
	}

	// The audience: three distinct viewers, a peak of four, two watching now
	// on another node.
	for _, key := range []string{"v1", "v2", "v3", "v1"} {
		w.presence.Saw(st.ID, key)
	}
	if err := w.presence.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.rooms.RaisePeaks(ctx, map[string]int{st.ID: 4}); err != nil {
		t.Fatal(err)
	}
	if err := w.rooms.Beat(ctx, "other-node", map[string]int{st.ID: 2}, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}

	// Sales: brand A's product (€49, 10 %) twice to shopper A, brand B's
	// (€49, 20 %) to a new shopper; an unpaid order counts nowhere.
	brandB := party.Principal{Role: party.RoleBrand, PartyID: b.brand.ID}
	if _, err := w.live.AddToLineup(ctx, brandB, st.ID, b.product.ID, 2000); err != nil {
		t.Fatal(err)
	}
	first := w.paidOrder(t, 0, 2)
	w.paidOrder(t, 0, 1)
	w.newOrder(t, 0, 1)
	shopper, _ := w.newShopper(t)
	varB := b.product.Variants[0].ID
	w.addStock(t, 1, varB, 1)
	o, err := w.orders.PlaceOrder(ctx, party.Principal{Role: party.RoleShopper, PartyID: shopper.ID}, order.NewOrder{
		StreamID: st.ID, Items: []order.NewItem{{VariantID: varB, Quantity: 1}}, Shipping: shipping(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.sim.Confirm(ctx, o.Payment.IntentID, o.Payment.ClientSecret, local.CardSucceeds); err != nil {
		t.Fatal(err)
	}
	brandA := party.Principal{Role: party.RoleBrand, PartyID: a.brand.ID}
	if _, err := w.orders.Refund(ctx, brandA, first.ID, &money.Money{Amount: 1000, Currency: "EUR"}, "stats-refund"); err != nil {
		t.Fatal(err)
	}
	// Applied twice: the second time every event is a redelivery.
	w.applyOrderEvents(t)
	w.applyOrderEvents(t)

	whole := statsReply{StreamID: st.ID, Scope: "stream", Viewers: 2, PeakViewers: 4, UniqueViewers: 3,
		Orders: 3, GMV: eur(4 * 4900), Units: 4, Buyers: 2, Refunds: eur(1000), Commission: eur(3*490 + 980), Conversion: 0.6667}
	for _, who := range []struct {
		name  string
		token string
	}{
		{"creator", w.token(party.RoleCreator, 0)},
		{"agency", w.token(party.RoleAgency, 0)},
		{"admin", w.admin},
	} {
		got := statsOf(t, w, st.ID, who.token)
		if got.UpdatedAt == nil || got.UpdatedAt.IsZero() {
			t.Errorf("%s: updated_at %v, want the latest event's time", who.name, got.UpdatedAt)
		}
		got.UpdatedAt = nil
		if got != whole {
			t.Errorf("%s sees\n %+v, want\n %+v", who.name, got, whole)
		}
	}

	// Each line-up brand sees its own items only.
	for _, tt := range []struct {
		name  string
		token string
		want  statsReply
	}{
		{"brand A", w.token(party.RoleBrand, 0), statsReply{Orders: 2, GMV: eur(3 * 4900), Units: 3, Buyers: 1,
			Refunds: eur(1000), Commission: eur(3 * 490), Conversion: 0.3333}},
		{"brand B", w.token(party.RoleBrand, 1), statsReply{Orders: 1, GMV: eur(4900), Units: 1, Buyers: 1,
			Refunds: eur(0), Commission: eur(980), Conversion: 0.3333}},
	} {
		got := statsOf(t, w, st.ID, tt.token)
		if got.BrandID == nil || got.UpdatedAt == nil {
			t.Fatalf("%s: brand_id %v, updated_at %v", tt.name, got.BrandID, got.UpdatedAt)
		}
		want := tt.want
		want.StreamID, want.Scope, want.BrandID = st.ID, "brand", got.BrandID
		want.Viewers, want.PeakViewers, want.UniqueViewers = 2, 4, 3
		got.UpdatedAt = nil
		if got != want {
			t.Errorf("%s sees\n %+v, want\n %+v", tt.name, got, want)
		}
	}
	if got := statsOf(t, w, st.ID, w.token(party.RoleBrand, 1)); *got.BrandID != b.brand.ID {
		t.Errorf("brand B's stats are scoped to %s", *got.BrandID)
	}

	// Everyone else: 404, as for a stream that does not exist; shoppers 403.
	admin := party.Principal{Role: party.RoleAdmin}
	outsider, err := w.parties.CreateBrand(ctx, admin, "Outsider")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := w.parties.CreateToken(ctx, admin, party.RoleBrand, outsider.ID)
	if err != nil {
		t.Fatal(err)
	}
	c := w.client(t)
	for _, token := range []string{tok.Token, w.token(party.RoleCreator, 1), w.token(party.RoleAgency, 1)} {
		if p := c.Call(http.MethodGet, "/v1/streams/"+st.ID+"/stats", token, nil).Want(http.StatusNotFound).Problem(); p.Code != "not_found" {
			t.Errorf("code %s", p.Code)
		}
	}
	c.Call(http.MethodGet, "/v1/streams/"+st.ID+"/stats", w.token(party.RoleShopper, 0), nil).Want(http.StatusForbidden)
	c.Call(http.MethodGet, "/v1/streams/"+st.ID+"/stats", "", nil).Want(http.StatusUnauthorized)

	// Tenant B's own stream has its own figures: nothing sold there.
	if got := statsOf(t, w, b.stream.ID, w.token(party.RoleCreator, 1)); got.Orders != 0 || got.GMV != eur(0) || got.UpdatedAt != nil {
		t.Errorf("tenant B's stream %+v", got)
	}
}
