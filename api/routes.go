package api

import (
	"net/http"
	"slices"

	"github.com/daihuo/daihuo/domain/party"
)

// routes is the route table: every endpoint, who may call it and its handler.
// It is the single place access is decided; handlers never check roles.
// Keep it in the order of openapi.yaml. It only names handlers (idempotent
// and bodiless only wrap one in a closure), so Routes can build it on a zero server.
func (s *server) routes() []route {
	return []route{
		// Operations.
		{http.MethodGet, "/healthz", public(), s.healthz},
		{http.MethodGet, "/readyz", public(), s.readyz},
		{http.MethodGet, "/metrics", public(), s.metricsHandler},
		{http.MethodGet, "/openapi.yaml", public(), s.openAPI},

		// Parties and tokens.
		{http.MethodGet, "/v1/me", allow(party.Roles()...), s.me},
		{http.MethodPost, "/v1/brands", allow(party.RoleAdmin), s.createBrand},
		{http.MethodGet, "/v1/brands/:id", allow(party.RoleAdmin, party.RoleBrand), s.getBrand},
		{http.MethodPost, "/v1/agencies", allow(party.RoleAdmin), s.createAgency},
		{http.MethodGet, "/v1/agencies/:id", allow(party.RoleAdmin, party.RoleAgency), s.getAgency},
		{http.MethodPost, "/v1/creators", allow(party.RoleAdmin, party.RoleAgency), s.createCreator},
		{http.MethodGet, "/v1/creators/:id", allow(party.RoleAdmin, party.RoleAgency, party.RoleCreator), s.getCreator},
		{http.MethodPost, "/v1/shoppers", public(), s.createShopper},
		{http.MethodGet, "/v1/shoppers/:id", allow(party.RoleAdmin, party.RoleShopper), s.getShopper},
		{http.MethodPost, "/v1/tokens", allow(party.RoleAdmin, party.RoleAgency), s.createToken},
		{http.MethodDelete, "/v1/tokens/current", allow(party.Roles()...), bodiless(s.revokeCurrentToken)},
		{http.MethodDelete, "/v1/tokens/:id", allow(party.RoleAdmin, party.RoleAgency), bodiless(s.revokeToken)},

		// Catalog.
		{http.MethodPost, "/v1/products", allow(party.RoleBrand), s.createProduct},
		{http.MethodGet, "/v1/products", allow(party.RoleBrand, party.RoleAdmin), s.listProducts},
		{http.MethodGet, "/v1/products/:id", public(), s.getProduct},
		{http.MethodPatch, "/v1/products/:id", allow(party.RoleBrand), s.patchProduct},
		{http.MethodPost, "/v1/variants/:id/stock", allow(party.RoleBrand), s.changeStock},

		// Streams, line-up, pins; tenancy (whose stream, whose product) is the
		// domain's. An admin may end (take down) any stream but not start one.
		{http.MethodPost, "/v1/streams", allow(party.RoleCreator, party.RoleAgency), s.createStream},
		{http.MethodGet, "/v1/streams/:id", public(), s.getStream},
		{http.MethodPost, "/v1/streams/:id/start", allow(party.RoleCreator, party.RoleAgency), bodiless(s.startStream)},
		{http.MethodPost, "/v1/streams/:id/end", allow(party.RoleCreator, party.RoleAgency, party.RoleAdmin), bodiless(s.endStream)},
		{http.MethodPost, "/v1/streams/:id/lineup", allow(party.RoleBrand), s.addToLineup},
		{http.MethodGet, "/v1/streams/:id/lineup", public(), s.listLineup},
		{http.MethodDelete, "/v1/streams/:id/lineup/:product_id", allow(party.RoleBrand, party.RoleCreator, party.RoleAgency, party.RoleAdmin), bodiless(s.removeFromLineup)},
		{http.MethodPost, "/v1/streams/:id/pins", allow(party.RoleBrand, party.RoleCreator), s.pinProduct},
		{http.MethodDelete, "/v1/streams/:id/pins/:pin_id", allow(party.RoleBrand, party.RoleCreator), bodiless(s.unpin)},
		{http.MethodGet, "/v1/streams/:id/timeline", public(), s.timeline},
		{http.MethodGet, eventStreamPath, public(), s.streamEvents},

		// The live room: chat, moderation, likes.
		{http.MethodPost, "/v1/streams/:id/chat", allow(party.RoleShopper), s.postChat},
		{http.MethodDelete, "/v1/streams/:id/chat/:message_id", allow(party.RoleCreator, party.RoleAgency, party.RoleAdmin), bodiless(s.deleteChat)},
		{http.MethodPost, "/v1/streams/:id/mutes", allow(party.RoleCreator, party.RoleAgency, party.RoleAdmin), s.muteShopper},
		{http.MethodDelete, "/v1/streams/:id/mutes/:shopper_id", allow(party.RoleCreator, party.RoleAgency, party.RoleAdmin), bodiless(s.unmuteShopper)},
		{http.MethodPost, "/v1/streams/:id/likes", allow(party.RoleShopper), s.postLikes},

		// Reports: which scope of a stream's stats a caller sees is the domain's.
		{http.MethodGet, "/v1/streams/:id/stats", allow(party.RoleCreator, party.RoleAgency, party.RoleBrand, party.RoleAdmin), s.streamStats},

		// Orders and payments. Creating an order and refunding one take an
		// Idempotency-Key: idempotent wraps the handler. Who sees which
		// order (its shopper, a brand with items in it) is the domain's.
		{http.MethodPost, "/v1/orders", allow(party.RoleShopper), s.idempotentOr(s.placeOrderShortcut, s.placeOrder)},
		{http.MethodGet, "/v1/orders", allow(party.RoleShopper, party.RoleBrand, party.RoleAdmin), s.listOrders},
		{http.MethodGet, "/v1/orders/:id", allow(party.RoleShopper, party.RoleBrand, party.RoleAdmin), s.getOrder},
		{http.MethodPost, "/v1/orders/:id/cancel", allow(party.RoleShopper), bodiless(s.cancelOrder)},
		{http.MethodPost, "/v1/orders/:id/refund", allow(party.RoleBrand, party.RoleAdmin), s.idempotent(s.refundOrder)},
		{http.MethodPost, "/v1/payments/local/:intent_id/confirm", public(), s.confirmLocalPayment},
		{http.MethodPost, "/v1/webhooks/stripe", public(), s.stripeWebhook},
	}
}

// route is one row of the route table.
type route struct {
	method string
	path   string // gin syntax: /v1/products/:id
	access access
	handle handlerFunc
}

// access says who may call a route: anyone, or principals of listed roles.
type access struct {
	public bool
	roles  []party.Role
}

// public lets anyone call a route, with or without a token. A token that is
// sent is still checked (a bad one answers 401) and its principal is available.
func public() access { return access{public: true} }

// allow lets principals of the given roles call a route; others get 403 and
// callers without a token 401.
func allow(roles ...party.Role) access { return access{roles: roles} }

// permits reports whether a principal of role r may call the route.
func (a access) permits(r party.Role) bool { return a.public || slices.Contains(a.roles, r) }

// Route describes one endpoint of the route table for tests and tools.
type Route struct {
	// Method is the HTTP method.
	Method string
	// Path is the gin path, with :name parameters.
	Path string
	// Public is true when anyone may call the route.
	Public bool
	// Roles lists the roles that may call a route that is not public.
	Roles []party.Role
}

// Routes lists the route table of every handler New serves, in table order.
func Routes() []Route {
	rs := (&server{}).routes() // handlers are only named here, never called.
	out := make([]Route, len(rs))
	for i, r := range rs {
		out[i] = Route{Method: r.method, Path: r.path, Public: r.access.public, Roles: slices.Clone(r.access.roles)}
	}
	return out
}
