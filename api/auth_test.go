package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/daihuo/daihuo/api/apitest"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/payments/local"
)

func TestAuthentication(t *testing.T) {
	env := newTestEnv(t, nil)
	tests := []struct {
		name   string
		header []string // Authorization values
		status int
	}{
		{"missing", nil, 401},
		{"empty", []string{""}, 401},
		{"basic scheme", []string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, 401},
		{"scheme only", []string{"Bearer"}, 401},
		{"empty token", []string{"Bearer "}, 401},
		{"two spaces", []string{"Bearer  " + brandToken}, 401},
		{"two parts", []string{"Bearer " + brandToken + " extra"}, 401},
		{"control character", []string{"Bearer brand\x01"}, 401},
		{"not ASCII", []string{"Bearer brändtoken"}, 401},
		{"visible ASCII is a token, unknown here", []string{"Bearer s3cr3t!@#"}, 401},
		{"too long", []string{"Bearer " + strings.Repeat("a", maxTokenLen+1)}, 401},
		{"unknown token", []string{"Bearer nobody"}, 401},
		{"two headers", []string{"Bearer " + brandToken, "Bearer " + brandToken}, 401},
		{"store failure is ours", []string{"Bearer " + brokenToken}, 500},
		{"valid", []string{"Bearer " + brandToken}, 200},
		{"scheme is case-insensitive", []string{"bearer " + brandToken}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := apitest.NewRequest(t, http.MethodGet, "/test/brand", "", nil)
			for _, h := range tt.header {
				req.Header.Add("Authorization", h)
			}
			res := env.Do(req).Want(tt.status)
			if tt.status == 401 {
				if p := res.Problem(); p.Code != "unauthenticated" {
					t.Errorf("code %s", p.Code)
				}
				if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", res.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

func TestAuthorization(t *testing.T) {
	env := newTestEnv(t, nil)
	var who struct {
		Role    string `json:"role"`
		PartyID string `json:"party_id"`
	}
	env.Call(http.MethodGet, "/test/brand", brandToken, nil).Want(200).JSON(&who)
	if who.Role != "brand" || who.PartyID != "brd_1" {
		t.Errorf("principal %+v", who)
	}
	p := env.Call(http.MethodGet, "/test/brand", shopperToken, nil).Want(403).Problem()
	if p.Code != "forbidden" {
		t.Errorf("code %s", p.Code)
	}
	env.Call(http.MethodGet, "/test/staff", adminToken, nil).Want(200)
	env.Call(http.MethodGet, "/test/staff", agencyToken, nil).Want(200)
	env.Call(http.MethodGet, "/test/staff", brandToken, nil).Want(403)

	// Public routes: no token is fine, a sent token is checked and usable.
	env.Call(http.MethodGet, "/test/whoami", "", nil).Want(200).JSON(&who)
	if who.Role != "" {
		t.Errorf("anonymous principal %+v", who)
	}
	env.Call(http.MethodGet, "/test/whoami", creatorToken, nil).Want(200).JSON(&who)
	if who.Role != "creator" || who.PartyID != "crt_1" {
		t.Errorf("principal on a public route %+v", who)
	}
	env.Call(http.MethodGet, "/test/whoami", "nobody", nil).Want(401)
}

func TestNoAuthenticatorRejectsTokens(t *testing.T) {
	env := newTestEnv(t, func(d *Deps) { d.Auth = nil })
	env.Call(http.MethodGet, "/test/brand", brandToken, nil).Want(401)
}

// accessRow is one route of the access matrix: who may call it, and how to
// call it validly on tenant A's objects.
type accessRow struct {
	// who may call the route; nil means public: anyone, with or without a token.
	who []party.Role
	// tenant is true when the call names an object of tenant A, in its path
	// or its body: a caller of an allowed role from tenant B gets 404, exactly
	// like for an object that does not exist.
	tenant bool
	// tenantStatus overrides, per role, the 404 tenant B's caller gets: an
	// object of tenant A named in the body rather than the path is answered
	// as one that does not exist there, a 400 on its field.
	tenantStatus map[party.Role]int
	// call returns the path and body of a valid call on tenant A's objects,
	// fresh each time since a call may create something (a scheduled stream
	// to start, a pin to remove).
	call func(t testing.TB, w *world) (path string, body any)
	// want is the status an allowed caller gets; 0 means 200.
	want int
	// sse marks an event stream: it is opened on the world's real server
	// and closed after its first event, which must be the snapshot.
	sse bool
	// header returns headers the call needs besides the token, given its
	// body: an Idempotency-Key, a webhook's signature.
	header func(w *world, body any) map[string]string
	// ownToken makes each caller use a fresh token of its role and tenant,
	// for calls that end the token they carry.
	ownToken bool
}

// freshKey gives every call a new Idempotency-Key.
func freshKey(w *world, _ any) map[string]string {
	return map[string]string{idempotencyHeader: w.unique("matrix-key-")}
}

// get is the call of a GET without a body.
func get(path func(w *world) string) func(testing.TB, *world) (string, any) {
	return func(_ testing.TB, w *world) (string, any) { return path(w), nil }
}

// onStream is a call on tenant A's live stream: path is appended to its
// path, body is sent as is.
func onStream(path string, body func(w *world) any) func(testing.TB, *world) (string, any) {
	return func(_ testing.TB, w *world) (string, any) {
		var b any
		if body != nil {
			b = body(w)
		}
		return "/v1/streams/" + w.a().stream.ID + path, b
	}
}

// fixed is a path that names no object.
func fixed(path string) func(w *world) string { return func(*world) string { return path } }

// accessMatrix is who may call each route, written out a second time on
// purpose: changing the route table's access must change this too. Adding
// a route means adding its row here; TestAccessMatrix fails until it is.
func accessMatrix() map[string]accessRow {
	admin, brand, agency, creator, shopper := party.RoleAdmin, party.RoleBrand, party.RoleAgency, party.RoleCreator, party.RoleShopper
	return map[string]accessRow{
		"GET /healthz":      {call: get(fixed("/healthz"))},
		"GET /readyz":       {call: get(fixed("/readyz"))},
		"GET /metrics":      {call: get(fixed("/metrics"))},
		"GET /openapi.yaml": {call: get(fixed("/openapi.yaml"))},

		"GET /v1/me": {who: party.Roles(), call: get(fixed("/v1/me"))},
		"POST /v1/brands": {who: []party.Role{admin}, want: 201, call: func(_ testing.TB, w *world) (string, any) {
			return "/v1/brands", map[string]any{"name": w.unique("Brand ")}
		}},
		"GET /v1/brands/:id": {who: []party.Role{admin, brand}, tenant: true,
			call: get(func(w *world) string { return "/v1/brands/" + w.a().brand.ID })},
		"POST /v1/agencies": {who: []party.Role{admin}, want: 201, call: func(_ testing.TB, w *world) (string, any) {
			return "/v1/agencies", map[string]any{"name": w.unique("Agency ")}
		}},
		"GET /v1/agencies/:id": {who: []party.Role{admin, agency}, tenant: true,
			call: get(func(w *world) string { return "/v1/agencies/" + w.a().agency.ID })},
		"POST /v1/creators": {who: []party.Role{admin, agency}, tenant: true, want: 201, call: func(_ testing.TB, w *world) (string, any) {
			return "/v1/creators", map[string]any{"handle": w.unique("host_"), "display_name": "Host", "agency_id": w.a().agency.ID}
		}},
		"GET /v1/creators/:id": {who: []party.Role{admin, agency, creator}, tenant: true,
			call: get(func(w *world) string { return "/v1/creators/" + w.a().creator.ID })},
		"POST /v1/shoppers": {want: 201, call: func(_ testing.TB, w *world) (string, any) {
			return "/v1/shoppers", map[string]any{"display_name": "Guest"}
		}},
		"GET /v1/shoppers/:id": {who: []party.Role{admin, shopper}, tenant: true,
			call: get(func(w *world) string { return "/v1/shoppers/" + w.a().shopper.ID })},
		"POST /v1/tokens": {who: []party.Role{admin, agency}, tenant: true, want: 201, call: func(_ testing.TB, w *world) (string, any) {
			return "/v1/tokens", map[string]any{"role": "creator", "party_id": w.a().creator.ID}
		}},
		"DELETE /v1/tokens/current": {who: party.Roles(), want: 204, ownToken: true, call: get(fixed("/v1/tokens/current"))},
		// A token of tenant A's creator: tenant B's agency gets 404.
		"DELETE /v1/tokens/:id": {who: []party.Role{admin, agency}, tenant: true, want: 204, call: func(t testing.TB, w *world) (string, any) {
			return "/v1/tokens/" + w.tokenID(t, w.freshToken(t, creator, 0)), nil
		}},

		"POST /v1/products": {who: []party.Role{brand}, want: 201, call: func(_ testing.TB, w *world) (string, any) {
			return "/v1/products", map[string]any{"title": "Tea", "variants": []any{
				map[string]any{"sku": w.unique("TEA-"), "title": "Tin", "price": map[string]any{"amount": 1500, "currency": "JPY"}, "stock": 3},
			}}
		}},
		"GET /v1/products":     {who: []party.Role{brand, admin}, call: get(fixed("/v1/products"))},
		"GET /v1/products/:id": {call: get(func(w *world) string { return "/v1/products/" + w.a().product.ID })},
		"PATCH /v1/products/:id": {who: []party.Role{brand}, tenant: true, call: func(_ testing.TB, w *world) (string, any) {
			return "/v1/products/" + w.a().product.ID, map[string]any{"title": w.unique("Scarf ")}
		}},
		"POST /v1/variants/:id/stock": {who: []party.Role{brand}, tenant: true, call: func(_ testing.TB, w *world) (string, any) {
			return "/v1/variants/" + w.a().product.Variants[0].ID + "/stock", map[string]any{"delta": 1}
		}},

		// Streams: tenant B's creator or agency naming tenant A's creator in
		// the body gets a 400 on creator_id, as for a creator that does not
		// exist; tenant B's brand naming brand A's product likewise a 400 on
		// product_id. Tenant B's stream routes are 404.
		"POST /v1/streams": {who: []party.Role{creator, agency}, tenant: true, want: 201,
			tenantStatus: map[party.Role]int{creator: 400, agency: 400},
			call: func(_ testing.TB, w *world) (string, any) {
				return "/v1/streams", map[string]any{"creator_id": w.a().creator.ID, "title": w.unique("Show "), "currency": "EUR"}
			}},
		"GET /v1/streams/:id": {call: onStream("", nil)},
		"POST /v1/streams/:id/start": {who: []party.Role{creator, agency}, tenant: true, call: func(t testing.TB, w *world) (string, any) {
			return "/v1/streams/" + w.newStream(t, 0, false).ID + "/start", nil
		}},
		"POST /v1/streams/:id/end": {who: []party.Role{creator, agency, admin}, tenant: true, call: func(t testing.TB, w *world) (string, any) {
			return "/v1/streams/" + w.newStream(t, 0, true).ID + "/end", nil
		}},
		"POST /v1/streams/:id/lineup": {who: []party.Role{brand}, tenant: true, want: 201, tenantStatus: map[party.Role]int{brand: 400},
			call: onStream("/lineup", func(w *world) any {
				return map[string]any{"product_id": w.a().product.ID, "commission_bps": 1200}
			})},
		"GET /v1/streams/:id/lineup": {call: onStream("/lineup", nil)},
		// Tenant B's brand (another brand's product), creator and agency
		// (another host's stream) get 404.
		"DELETE /v1/streams/:id/lineup/:product_id": {who: []party.Role{brand, creator, agency, admin}, tenant: true, want: 204,
			call: func(t testing.TB, w *world) (string, any) {
				return "/v1/streams/" + w.newStream(t, 0, true).ID + "/lineup/" + w.a().product.ID, nil
			}},
		"POST /v1/streams/:id/pins": {who: []party.Role{brand, creator}, tenant: true, want: 201, tenantStatus: map[party.Role]int{brand: 400},
			call: onStream("/pins", func(w *world) any { return map[string]any{"product_id": w.a().product.ID} })},
		"DELETE /v1/streams/:id/pins/:pin_id": {who: []party.Role{brand, creator}, tenant: true, want: 204, call: func(t testing.TB, w *world) (string, any) {
			st := w.a().stream
			return "/v1/streams/" + st.ID + "/pins/" + w.newPin(t, 0, st).ID, nil
		}},
		"GET /v1/streams/:id/timeline": {call: onStream("/timeline", nil)},
		"GET /v1/streams/:id/events":   {sse: true, call: onStream("/events", nil)},
		"POST /v1/streams/:id/chat": {who: []party.Role{shopper}, want: 201,
			call: onStream("/chat", func(*world) any { return map[string]any{"text": "Is it silk?"} })},
		"DELETE /v1/streams/:id/chat/:message_id": {who: []party.Role{creator, agency, admin}, tenant: true, want: 204,
			call: func(t testing.TB, w *world) (string, any) {
				st := w.a().stream
				return "/v1/streams/" + st.ID + "/chat/" + w.newMessage(t, st).ID, nil
			}},
		"POST /v1/streams/:id/mutes": {who: []party.Role{creator, agency, admin}, tenant: true, want: 201,
			call: func(t testing.TB, w *world) (string, any) {
				sh, _ := w.newShopper(t)
				return "/v1/streams/" + w.a().stream.ID + "/mutes", map[string]any{"shopper_id": sh.ID}
			}},
		"DELETE /v1/streams/:id/mutes/:shopper_id": {who: []party.Role{creator, agency, admin}, tenant: true, want: 204,
			call: get(func(w *world) string { return "/v1/streams/" + w.a().stream.ID + "/mutes/" + w.a().shopper.ID })},
		"POST /v1/streams/:id/likes": {who: []party.Role{shopper}, want: 202,
			call: onStream("/likes", func(*world) any { return map[string]any{"count": 3} })},
		// Stats: tenant B's creator, agency and brand (not in the line-up) get 404.
		"GET /v1/streams/:id/stats": {who: []party.Role{creator, agency, brand, admin}, tenant: true, call: onStream("/stats", nil)},

		// Orders: any shopper may buy from any live stream; an order is its
		// shopper's and its items' brands' (tenant B's shopper and brand get
		// 404 on tenant A's order).
		"POST /v1/orders": {who: []party.Role{shopper}, want: 201, header: freshKey, call: func(t testing.TB, w *world) (string, any) {
			v := w.a().product.Variants[0].ID
			w.addStock(t, 0, v, 1)
			return "/v1/orders", orderRequest(w.a().stream.ID, "", v, 1)
		}},
		"GET /v1/orders": {who: []party.Role{shopper, brand, admin}, call: get(fixed("/v1/orders"))},
		"GET /v1/orders/:id": {who: []party.Role{shopper, brand, admin}, tenant: true, call: func(t testing.TB, w *world) (string, any) {
			return "/v1/orders/" + w.newOrder(t, 0, 1).ID, nil
		}},
		"POST /v1/orders/:id/cancel": {who: []party.Role{shopper}, tenant: true, call: func(t testing.TB, w *world) (string, any) {
			return "/v1/orders/" + w.newOrder(t, 0, 1).ID + "/cancel", nil
		}},
		"POST /v1/orders/:id/refund": {who: []party.Role{brand, admin}, tenant: true, header: freshKey, call: func(t testing.TB, w *world) (string, any) {
			return "/v1/orders/" + w.paidOrder(t, 0, 1).ID + "/refund", map[string]any{}
		}},
		// Public: the client secret is the credential, the signature the webhook's.
		"POST /v1/payments/local/:intent_id/confirm": {call: func(t testing.TB, w *world) (string, any) {
			o := w.newOrder(t, 0, 1)
			return "/v1/payments/local/" + o.Payment.IntentID + "/confirm",
				map[string]any{"client_secret": o.Payment.ClientSecret, "card_number": local.CardSucceeds}
		}},
		"POST /v1/webhooks/stripe": {header: signedFor(worldWebhookSecret), call: func(t testing.TB, w *world) (string, any) {
			return "/v1/webhooks/stripe", stripeEvent(t, w.unique("evt_matrix_"), "customer.created", map[string]any{"id": "cus_1", "object": "customer"})
		}},
	}
}

// TestAccessMatrix checks the route table against accessMatrix, then calls
// every route on a real database as each kind of caller: without a token
// (401 unless public), as every role the route does not allow (403), as
// every role it allows in tenant A (2xx) and, when the call names tenant A's
// object, as the same role in tenant B (404).
func TestAccessMatrix(t *testing.T) {
	routes, matrix := Routes(), accessMatrix()
	seen := map[string]bool{}
	for _, r := range routes {
		key := r.Method + " " + r.Path
		seen[key] = true
		row, ok := matrix[key]
		if !ok {
			t.Errorf("%s is not in accessMatrix", key)
			continue
		}
		if r.Public != (row.who == nil) || !sameRoles(r.Roles, row.who) {
			t.Errorf("%s: route table says public=%v roles=%v, accessMatrix says %v", key, r.Public, r.Roles, row.who)
		}
	}
	for key := range matrix {
		if !seen[key] {
			t.Errorf("accessMatrix has %s, the route table does not", key)
		}
	}
	if t.Failed() {
		return
	}

	w := newWorld(t)
	for _, r := range routes {
		row := matrix[r.Method+" "+r.Path]
		want := row.want
		if want == 0 {
			want = http.StatusOK
		}
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			c := w.client(t)
			call := func(token string, status int, code string) {
				t.Helper()
				path, body := row.call(t, w)
				if row.sse {
					ev := openEvents(t, w, path, token, "")
					if ev.status != status {
						t.Fatalf("%s %s: status %d, want %d", r.Method, path, ev.status, status)
					}
					if status == http.StatusOK {
						if e := ev.next(t); e.typ != "snapshot" {
							t.Errorf("%s %s: first event %q, want snapshot", r.Method, path, e.typ)
						}
					}
					ev.close()
					return
				}
				req := apitest.NewRequest(t, r.Method, path, token, body)
				if row.header != nil {
					for k, v := range row.header(w, body) {
						req.Header.Set(k, v)
					}
				}
				res := c.Do(req).Want(status)
				if code != "" {
					if p := res.Problem(); p.Code != code {
						t.Errorf("%s %s: code %s, want %s", r.Method, path, p.Code, code)
					}
				}
			}
			if row.who == nil {
				call("", want, "")
				for _, role := range party.Roles() {
					call(w.token(role, 0), want, "")
				}
				return
			}
			token := w.token
			if row.ownToken {
				token = func(role party.Role, i int) string { return w.freshToken(t, role, i) }
			}
			call("", http.StatusUnauthorized, "unauthenticated")
			for _, role := range party.Roles() {
				if !slices.Contains(row.who, role) {
					call(token(role, 0), http.StatusForbidden, "forbidden")
					continue
				}
				call(token(role, 0), want, "")
				if row.tenant && role != party.RoleAdmin {
					status, code := http.StatusNotFound, "not_found"
					if st, ok := row.tenantStatus[role]; ok {
						status, code = st, problemCodeOf(st)
					}
					call(token(role, 1), status, code)
				}
			}
		})
	}
}

// problemCodeOf is the code the matrix expects with a status it overrides.
func problemCodeOf(status int) string {
	if status == http.StatusBadRequest {
		return "validation_failed"
	}
	return "not_found"
}

func sameRoles(a, b []party.Role) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
