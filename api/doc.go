// Package api is the HTTP face of daihuo: a gin engine whose routes, access
// policy, error answers and OpenAPI document each live in one place.
//
// What every request goes through, in order (api.go, middleware.go):
// request id (X-Request-Id, echoed, in the context and every log line via
// LogHandler) → access log line and Prometheus metrics → panic recovery (a
// bare 500) → the 1 MiB body limit → the route's policy (auth.go) → its
// handler. Unknown paths answer a 404 problem, wrong methods a 405 problem.
//
// # The pieces a handler uses
//
//   - A handler is a method of *server with the shape
//     func(c *gin.Context) error. It writes its reply with reply, replyList
//     or noContent, and returns errors instead of writing them.
//   - writeError (problem.go) is the only place an error becomes HTTP: a
//     *errs.ValidationError is a 400 with field errors, an *errs.Error
//     answers the status of its code in problemKinds, anything else is
//     logged and answers a 500 that says nothing.
//   - bindJSON decodes a body strictly (415, 413, 400 with field paths).
//   - principal(c) is the caller. Handlers never check roles: the route
//     table does. Tenancy (another brand's product) is the domain's job and
//     answers errs.ErrNotFound, so it is a 404 like a missing object.
//   - pathID(c, "id", "prd") answers 404 for an id that cannot exist;
//     idempotencyKey(c) reads the required Idempotency-Key header;
//     pageQuery(c) reads ?limit= and ?cursor=.
//   - s.idempotent(h) in the route table makes a POST that creates or moves
//     money safe to retry under the required Idempotency-Key
//     (idempotency.go): a success is recorded and replayed, the same key
//     with another request is a 409; document the IdempotencyKey parameter.
//
// # Adding a route, for example POST /v1/brands
//
//  1. Route table (routes.go): add a row
//     {http.MethodPost, "/v1/brands", allow(party.RoleAdmin), s.createBrand}
//     or public() for anyone. routes() only names handlers (and wraps
//     them, as idempotent does, without touching the server); it must not
//     call anything else, because Routes() builds it on a zero server.
//  2. Handler: a method of *server, with its request and reply DTOs and
//     the converters from domain types beside it; the service it calls is
//     a new field of Deps (and of server, set in newServer).
//  3. OpenAPI (openapi.yaml): the path with the same method; public
//     operations say security: [], others list their roles in x-roles;
//     document 500 always, 401 and 403 when a token is needed, 400, 413 and
//     415 when there is a request body, 404 when the path names an object.
//     TestOpenAPICoversRoutes fails until route table and document agree.
//  4. Access matrix (auth_test.go): add a row to accessMatrix with the roles
//     that may call it and a call on tenant A's objects, for example
//     "POST /v1/brands": {who: []party.Role{party.RoleAdmin}, want: 201,
//     call: …}; set tenant when the call names tenant A's object. On a real
//     database with two tenants per role (world_test.go), TestAccessMatrix
//     then checks: no token 401, every other role 403, the allowed roles of
//     tenant A 2xx and, with tenant, the same roles of tenant B 404. A route
//     without a row fails the test.
//  5. Tests go through package apitest, so every response is checked
//     against openapi.yaml: newWorld (world_test.go) for routes on the real
//     services and database, newTestEnv (helpers_test.go) for the HTTP
//     machinery with a fake authenticator. Malformed requests go in
//     badInputs (badinput_test.go), which also checks the database did not
//     change.
//
// Error codes only HTTP has are added here, not in domain/errs:
// unsupported_media_type (415), method_not_allowed (405) and internal_error
// (500). currency_mismatch answers 422 (see problemKinds).
package api
