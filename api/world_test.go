package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"gorm.io/gorm"

	"github.com/daihuo/daihuo/api/apitest"
	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/domain/report"
	"github.com/daihuo/daihuo/payments/local"
	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/storagetest"
	"github.com/daihuo/daihuo/streaming/hub"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

// world is the api on a fresh Postgres database, wired as main wires it,
// with an admin and two tenants of every role: tenants[0] is tenant A,
// tenants[1] tenant B. Each tenant's agency manages its creator, each brand
// has one product with two variants, and each creator hosts a live stream
// with its brand's product in the line-up. The api is also served over a
// real HTTP server (srv), for event streams. Orders run as main runs them:
// the real reservation batcher and the local payment simulator, whose
// signed webhooks go through the same receiver as the webhook route.
type world struct {
	db       *gorm.DB
	handler  http.Handler
	srv      *httptest.Server
	doc      *openapi3.T
	parties  *party.Service
	catalog  *catalog.Service
	live     *live.Service
	room     *live.Room
	presence *live.Presence
	hub      *hub.Hub
	rooms    *storage.RoomStore
	outbox   *storage.Outbox
	tokens   *storage.TokenStore
	orders   *order.Service
	receiver *order.Receiver
	sim      *local.Simulator
	deps     Deps   // what handler was built with, for variants of it
	relayed  int64  // the last event number relayToHub gave, as a Kafka offset + 1 would be
	admin    string // an admin token
	tenants  [2]tenant
	logs     *logBuffer
	sequence atomic.Int64

	// stats answers stream stats; applyOrderEvents feeds its projection.
	stats *report.Service
}

// tenant is one tenant's parties, their tokens, the brand's product and the
// creator's live stream.
type tenant struct {
	brand   party.Brand
	agency  party.Agency
	creator party.Creator
	shopper party.Shopper
	product catalog.Product
	stream  live.Stream // live, with product in its line-up
	tokens  map[party.Role]string
}

// worldBlockedWords is the chat blocklist of the world's room.
func worldBlockedWords() []string { return []string{"scam", "telegram"} }

// worldChatLimit is how many messages a shopper may send per window (10 s).
const worldChatLimit = 5

// worldWebhookSecret signs the local simulator's webhooks.
const worldWebhookSecret = "whsec_world_test"

// worldHeartbeat is the hub's heartbeat in tests: short, so a test sees
// comment lines without waiting long.
const worldHeartbeat = 100 * time.Millisecond

// newWorld builds a world on a new database; it lives until t ends.
func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	db := storagetest.NewDB(t)
	now := func() time.Time { return time.Now().UTC() }
	tx := storage.NewTransactor(db)
	partyStore, catalogStore, liveStore := storage.NewPartyStore(db), storage.NewCatalogStore(db, storage.NewOutbox(db, "")), storage.NewLiveStore(db)
	w := &world{
		db:      db,
		parties: party.NewService(partyStore, storage.NewTokenStore(db), tx, now),
		catalog: catalog.NewService(catalogStore, now),
		hub:     hub.New(hub.Options{Heartbeat: worldHeartbeat}),
		rooms:   storage.NewRoomStore(db),
		outbox:  storage.NewOutbox(db, ""),
		tokens:  storage.NewTokenStore(db),
		logs:    &logBuffer{},
	}
	w.live = live.NewService(liveStore, partyStore, catalogStore, w.outbox, tx, now)
	w.room = live.NewRoom(liveStore, w.rooms, partyStore, w.outbox, tx, now,
		live.RoomOptions{BlockedWords: worldBlockedWords(), ChatLimit: worldChatLimit})
	w.presence = live.NewPresence(w.rooms, "test-node", w.hub.Streams, func(streamID string, n int) {
		_ = w.hub.Publish(streamID, hub.Event{Type: "viewers", Data: map[string]int{"count": n}})
	}, now, time.Second)
	logger := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reserver := storage.NewReserver(db, w.outbox, storage.ReserverConfig{Logger: logger})
	t.Cleanup(reserver.Close)
	sim, err := local.New(storage.NewPaymentsLocalStore(db), local.Config{
		WebhookSecret: worldWebhookSecret,
		Deliver: func(ctx context.Context, payload []byte, sig string) error {
			return w.receiver.Receive(ctx, payload, sig)
		},
		Logger: logger,
	})
	if err != nil {
		t.Fatalf("local payments: %v", err)
	}
	w.sim = sim
	w.orders = order.NewService(storage.NewOrderStore(db, w.outbox), reserver, sim, w.outbox, tx, now, order.Config{Logger: logger})
	w.receiver = order.NewReceiver(sim, w.orders, logger)
	w.stats = report.NewService(storage.NewReportStore(db), liveStore, w.rooms, w.presence, logger)
	w.deps = Deps{
		Logger:        logger,
		Auth:          w.parties,
		Parties:       w.parties,
		Catalog:       w.catalog,
		Live:          w.live,
		Room:          w.room,
		Presence:      w.presence,
		Hub:           w.hub,
		Orders:        w.orders,
		Webhooks:      w.receiver,
		LocalPayments: sim,
		Idempotency:   storage.NewIdempotencyStore(db, storage.IdempotencyConfig{}),
		Stats:         w.stats,
	}
	w.handler = New(w.deps)
	w.srv = httptest.NewServer(w.handler)
	t.Cleanup(func() {
		// Event streams of a failed test may still be open: end them first.
		w.srv.CloseClientConnections()
		w.srv.Close()
	})
	w.doc = apitest.LoadSpec(t, OpenAPI())
	t.Cleanup(func() {
		if t.Failed() {
			w.logs.mu.Lock()
			t.Logf("server log:\n%s", w.logs.buf.String())
			w.logs.mu.Unlock()
		}
	})

	admin := party.Principal{Role: party.RoleAdmin}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("build world: %v", err)
		}
	}
	tok, err := w.parties.CreateToken(ctx, admin, party.RoleAdmin, "")
	must(err)
	w.admin = tok.Token
	for i, name := range []string{"A", "B"} {
		tn := &w.tenants[i]
		tn.tokens = map[party.Role]string{party.RoleAdmin: w.admin}
		tn.brand, err = w.parties.CreateBrand(ctx, admin, "Brand "+name)
		must(err)
		tn.agency, err = w.parties.CreateAgency(ctx, admin, "Agency "+name)
		must(err)
		tn.creator, err = w.parties.CreateCreator(ctx, admin, party.NewCreator{
			Handle: "creator_" + name, DisplayName: "Creator " + name, AgencyID: tn.agency.ID,
		})
		must(err)
		var st party.IssuedToken
		tn.shopper, st, err = w.parties.CreateShopper(ctx, party.Principal{}, party.NewShopper{DisplayName: "Shopper " + name})
		must(err)
		tn.tokens[party.RoleShopper] = st.Token
		for role, partyID := range map[party.Role]string{
			party.RoleBrand: tn.brand.ID, party.RoleAgency: tn.agency.ID, party.RoleCreator: tn.creator.ID,
		} {
			tok, err := w.parties.CreateToken(ctx, admin, role, partyID)
			must(err)
			tn.tokens[role] = tok.Token
		}
		tn.product, err = w.catalog.CreateProduct(ctx, party.Principal{Role: party.RoleBrand, PartyID: tn.brand.ID}, catalog.NewProduct{
			Title: "Silk scarf " + name,
			Variants: []catalog.NewVariant{
				{SKU: "SCARF-" + name + "-S", Title: "Small", Price: money.Money{Amount: 4900, Currency: "EUR"}, Stock: 10},
				{SKU: "SCARF-" + name + "-L", Title: "Large", Price: money.Money{Amount: 5900, Currency: "EUR"}, Stock: 5},
			},
		})
		must(err)
	}
	for i := range w.tenants {
		w.tenants[i].stream = w.newStream(t, i, true)
	}
	return w
}

// newStream creates a stream of tenant i's creator with the tenant's
// product in its line-up, started when live is true.
func (w *world) newStream(t testing.TB, i int, started bool) live.Stream {
	t.Helper()
	ctx := context.Background()
	tn := &w.tenants[i]
	host := party.Principal{Role: party.RoleCreator, PartyID: tn.creator.ID}
	st, err := w.live.CreateStream(ctx, host, live.NewStream{Title: w.unique("Live "), Currency: "EUR"})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := w.live.AddToLineup(ctx, party.Principal{Role: party.RoleBrand, PartyID: tn.brand.ID}, st.ID, tn.product.ID, 1000); err != nil {
		t.Fatalf("add to line-up: %v", err)
	}
	if started {
		if st, err = w.live.StartStream(ctx, host, st.ID); err != nil {
			t.Fatalf("start stream: %v", err)
		}
	}
	return st
}

// newPin pins tenant i's product on st as its host and returns the pin.
func (w *world) newPin(t testing.TB, i int, st live.Stream) live.Pin {
	t.Helper()
	host := party.Principal{Role: party.RoleCreator, PartyID: w.tenants[i].creator.ID}
	pin, err := w.live.PinProduct(context.Background(), host, st.ID, live.NewPin{ProductID: w.tenants[i].product.ID})
	if err != nil {
		t.Fatalf("pin: %v", err)
	}
	return pin
}

// newFlashPin pins tenant i's product on st as a flash sale of quantity
// units at €29, limit units per buyer (0: none), for half an hour, as the
// product's brand.
func (w *world) newFlashPin(t testing.TB, i int, st live.Stream, quantity, limit int64) live.Pin {
	t.Helper()
	brand := party.Principal{Role: party.RoleBrand, PartyID: w.tenants[i].brand.ID}
	pin, err := w.live.PinProduct(context.Background(), brand, st.ID, live.NewPin{ProductID: w.tenants[i].product.ID, Flash: &live.NewFlash{
		Price: money.Money{Amount: 2900, Currency: "EUR"}, Quantity: quantity, PerBuyerLimit: limit,
		EndsAt: time.Now().UTC().Add(30 * time.Minute),
	}})
	if err != nil {
		t.Fatalf("flash pin: %v", err)
	}
	return pin
}

// addStock adds n units to a variant of tenant i's product, as its brand.
func (w *world) addStock(t testing.TB, i int, variantID string, n int64) {
	t.Helper()
	brand := party.Principal{Role: party.RoleBrand, PartyID: w.tenants[i].brand.ID}
	if _, err := w.catalog.ChangeStock(context.Background(), brand, variantID, catalog.StockChange{Delta: &n}); err != nil {
		t.Fatalf("add stock: %v", err)
	}
}

// shipping is a valid shipping address.
func shipping() order.Shipping {
	return order.Shipping{Name: "Mia Chen", Line1: "12 Rue de Rivoli", City: "Paris", PostalCode: "75001", Country: "FR"}
}

// newOrder places an order of qty units of the first variant of tenant i's
// product on the tenant's live stream, as the tenant's shopper, after
// adding qty units of stock so the variant's stock is what it was. It
// returns the order as its shopper sees it, client secret included.
func (w *world) newOrder(t testing.TB, i int, qty int64) order.Order {
	t.Helper()
	tn := &w.tenants[i]
	variantID := tn.product.Variants[0].ID
	w.addStock(t, i, variantID, qty)
	o, err := w.orders.PlaceOrder(context.Background(), party.Principal{Role: party.RoleShopper, PartyID: tn.shopper.ID}, order.NewOrder{
		StreamID: tn.stream.ID, Items: []order.NewItem{{VariantID: variantID, Quantity: qty}}, Shipping: shipping(),
	})
	if err != nil {
		t.Fatalf("place order: %v", err)
	}
	return o
}

// paidOrder is newOrder, paid with the card that succeeds.
func (w *world) paidOrder(t testing.TB, i int, qty int64) order.Order {
	t.Helper()
	o := w.newOrder(t, i, qty)
	if _, err := w.sim.Confirm(context.Background(), o.Payment.IntentID, o.Payment.ClientSecret, local.CardSucceeds); err != nil {
		t.Fatalf("pay order: %v", err)
	}
	o, err := w.orders.GetOrder(context.Background(), party.Principal{Role: party.RoleShopper, PartyID: o.ShopperID}, o.ID)
	if err != nil || o.Status != order.StatusPaid {
		t.Fatalf("paid order: %v, status %s", err, o.Status)
	}
	return o
}

// newShopper signs up a fresh shopper and returns it with its token.
func (w *world) newShopper(t testing.TB) (party.Shopper, string) {
	t.Helper()
	sh, tok, err := w.parties.CreateShopper(context.Background(), party.Principal{}, party.NewShopper{DisplayName: w.unique("Viewer ")})
	if err != nil {
		t.Fatalf("create shopper: %v", err)
	}
	return sh, tok.Token
}

// newMessage posts a chat message to st by a fresh shopper (so rate limits
// never interfere) and returns it.
func (w *world) newMessage(t testing.TB, st live.Stream) live.ChatMessage {
	t.Helper()
	sh, _ := w.newShopper(t)
	msg, err := w.room.Chat(context.Background(), party.Principal{Role: party.RoleShopper, PartyID: sh.ID}, st.ID, "hello")
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	return msg
}

// client returns an apitest client of the world for t.
func (w *world) client(t testing.TB) *apitest.Client {
	t.Helper()
	return apitest.New(t, w.handler, w.doc)
}

// a is tenant A.
func (w *world) a() *tenant { return &w.tenants[0] }

// b is tenant B.
func (w *world) b() *tenant { return &w.tenants[1] }

// token returns the token of role in tenant i (0: A, 1: B); admins have
// one token for both.
func (w *world) token(r party.Role, i int) string { return w.tenants[i].tokens[r] }

// unique returns prefix followed by a number never returned before in this
// world, for handles, names and SKUs.
func (w *world) unique(prefix string) string {
	return prefix + strconv.FormatInt(w.sequence.Add(1), 10)
}

// storeToken stores a token directly, bypassing the service's rules, so a
// test can hold tokens the api would never issue: expired, or acting for a
// party that does not exist.
func (w *world) storeToken(t testing.TB, role party.Role, partyID string, expiresAt time.Time) string {
	t.Helper()
	now := time.Now().UTC()
	plain := w.unique(party.TokenPrefix + "test-")
	err := w.tokens.CreateToken(context.Background(), party.Token{
		ID: id.New(party.PrefixToken, now), Hash: party.HashToken(plain), Role: role, PartyID: partyID,
		CreatedAt: now, ExpiresAt: expiresAt,
	})
	if err != nil {
		t.Fatalf("store token: %v", err)
	}
	return plain
}

// freshToken stores a new token acting as role for tenant i's party of
// that role (admins have none) and returns its plaintext.
func (w *world) freshToken(t testing.TB, role party.Role, i int) string {
	t.Helper()
	tn := &w.tenants[i]
	partyID := map[party.Role]string{party.RoleBrand: tn.brand.ID, party.RoleAgency: tn.agency.ID,
		party.RoleCreator: tn.creator.ID, party.RoleShopper: tn.shopper.ID}[role]
	return w.storeToken(t, role, partyID, time.Time{})
}

// tokenID returns the id of the stored token whose plaintext this is.
func (w *world) tokenID(t testing.TB, plaintext string) string {
	t.Helper()
	tok, err := w.tokens.TokenByHash(context.Background(), party.HashToken(plaintext))
	if err != nil {
		t.Fatalf("find token: %v", err)
	}
	return tok.ID
}

// snapshotTables are the tables the parties, catalog, live and order routes write, with
// the columns that define their state (a token's last use changes on every
// authentication and is left out).
func snapshotTables() []struct{ table, columns string } {
	return []struct{ table, columns string }{
		{"brands", "*"},
		{"agencies", "*"},
		{"creators", "*"},
		{"shoppers", "*"},
		{"tokens", "id, hash, role, party_id, created_at, expires_at, revoked_at, operator"},
		{"products", "*"},
		{"variants", "*"},
		{"streams", "*"},
		{"lineup_items", "*"},
		{"pins", "*"},
		{"chat_messages", "*"},
		{"stream_mutes", "*"},
		{"orders", "*"},
		{"order_items", "*"},
		{"order_refunds", "*"},
		{"order_refund_lines", "*"},
		{"stock_reservations", "*"},
		{"flash_buyer_units", "*"},
		{"order_payment_events", "*"},
		{"idempotency_keys", "*"},
		{"outbox", "*"},
	}
}

// snapshot returns each table's row count and a hash of its rows, to prove
// that a request changed nothing.
func (w *world) snapshot(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, st := range snapshotTables() {
		var v string
		q := fmt.Sprintf(`SELECT count(*) || ':' || coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '')
			FROM (SELECT %s FROM %s) r`, st.columns, st.table)
		if err := w.db.Raw(q).Scan(&v).Error; err != nil {
			t.Fatalf("snapshot %s: %v", st.table, err)
		}
		out[st.table] = v
	}
	return out
}
