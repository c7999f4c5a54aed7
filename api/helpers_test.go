package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/daihuo/daihuo/api/apitest"
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/party"
)

// Tokens the fake authenticator knows.
const (
	adminToken   = "admin-token"
	brandToken   = "brand-token"
	agencyToken  = "agency-token"
	creatorToken = "creator-token"
	shopperToken = "shopper-token"
	brokenToken  = "broken-store-token" // the store fails on this one
)

// fakeAuth is an in-memory Authenticator: a test double for the token store
// port, which is tested for real in storage.
type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, token string) (party.Principal, error) {
	switch token {
	case adminToken:
		return party.Principal{Role: party.RoleAdmin}, nil
	case brandToken:
		return party.Principal{Role: party.RoleBrand, PartyID: "brd_1"}, nil
	case agencyToken:
		return party.Principal{Role: party.RoleAgency, PartyID: "agc_1"}, nil
	case creatorToken:
		return party.Principal{Role: party.RoleCreator, PartyID: "crt_1"}, nil
	case shopperToken:
		return party.Principal{Role: party.RoleShopper, PartyID: "shp_1"}, nil
	case brokenToken:
		return party.Principal{}, errors.New("connection refused")
	}
	return party.Principal{}, errs.New(errs.CodeUnauthenticated, "unknown token")
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines decodes every JSON log line.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// testEnv is an api under test with its client, logs and metrics.
type testEnv struct {
	*apitest.Client
	logs     *logBuffer
	registry *prometheus.Registry
}

// newTestEnv serves the route table plus the test-only routes below with the
// fake authenticator; change lets a test adjust the Deps first.
func newTestEnv(t *testing.T, change func(*Deps)) *testEnv {
	t.Helper()
	logs := &logBuffer{}
	d := Deps{
		Logger:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry: prometheus.NewRegistry(),
		Auth:     fakeAuth{},
	}
	if change != nil {
		change(&d)
	}
	s := newServer(d)
	doc := apitest.LoadSpec(t, OpenAPI())
	apitest.AddPaths(t, doc, strings.ReplaceAll(testPaths, `{"$ref": "#/components/responses/TestWho"}`, whoResponse))
	return &testEnv{Client: apitest.New(t, s.engine(append(s.routes(), testRoutes(s)...)), doc), logs: logs, registry: d.Registry}
}

// echoRequest exercises bindJSON with nesting, arrays and a map.
type echoRequest struct {
	Title    string `json:"title"`
	Variants []struct {
		SKU   string `json:"sku"`
		Stock int    `json:"stock"`
		Price struct {
			Amount   int64  `json:"amount"`
			Currency string `json:"currency"`
		} `json:"price"`
	} `json:"variants"`
	Tags map[string]int `json:"tags"`
	Note *string        `json:"note"`
}

// testRoutes are routes that exist only in tests, to exercise the machinery.
func testRoutes(s *server) []route {
	return []route{
		{http.MethodPost, "/test/echo", public(), func(c *gin.Context) error {
			var req echoRequest
			if err := bindJSON(c, &req); err != nil {
				return err
			}
			return reply(c, http.StatusOK, req)
		}},
		{http.MethodGet, "/test/whoami", public(), s.whoami},
		{http.MethodGet, "/test/brand", allow(party.RoleBrand), s.whoami},
		{http.MethodGet, "/test/staff", allow(party.RoleAdmin, party.RoleAgency), s.whoami},
		{http.MethodGet, "/test/panic", public(), func(*gin.Context) error { panic("boom") }},
		{http.MethodGet, "/test/error/:code", public(), func(c *gin.Context) error {
			switch code := c.Param("code"); code {
			case "plain":
				return errors.New("database on fire at 10.0.0.1")
			case "validation":
				return errs.Invalid("name", "must not be empty")
			default:
				return errs.New(errs.Code(code), "the message of "+code)
			}
		}},
		{http.MethodGet, "/test/list", public(), func(c *gin.Context) error {
			p, err := pageQuery(c)
			if err != nil {
				return err
			}
			if p.Cursor == "empty" {
				return replyList[string](c, nil, "")
			}
			items := make([]string, 0, p.Limit)
			for i := range p.Limit {
				items = append(items, p.Cursor+strings.Repeat("x", i))
			}
			next := ""
			if p.Limit < 3 {
				next = "more"
			}
			return replyList(c, items, next)
		}},
		{http.MethodDelete, "/test/gone", public(), func(c *gin.Context) error { return noContent(c) }},
		{http.MethodPost, "/test/things/:id", public(), func(c *gin.Context) error {
			thing, err := pathID(c, "id", "prd")
			if err != nil {
				return err
			}
			key, err := idempotencyKey(c)
			if err != nil {
				return err
			}
			return reply(c, http.StatusCreated, map[string]string{"id": thing, "key": key})
		}},
	}
}

// whoami answers the principal, as a handler would read it.
func (s *server) whoami(c *gin.Context) error {
	p := principal(c)
	return reply(c, http.StatusOK, map[string]string{"role": string(p.Role), "party_id": p.PartyID})
}

// whoResponse documents the reply of whoami.
const whoResponse = `{"description": "the principal", "content": {"application/json": {"schema": {
  "type": "object", "required": ["role", "party_id"], "additionalProperties": false,
  "properties": {"role": {"type": "string"}, "party_id": {"type": "string"}}}}}}`

// testPaths documents testRoutes.
const testPaths = `{
  "/test/echo": {"post": {
    "security": [],
    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
    "responses": {
      "200": {"description": "echo", "content": {"application/json": {"schema": {"type": "object"}}}},
      "400": {"$ref": "#/components/responses/BadRequest"},
      "413": {"$ref": "#/components/responses/PayloadTooLarge"},
      "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
      "500": {"$ref": "#/components/responses/InternalError"}}}},
  "/test/whoami": {"get": {"security": [], "responses": {
      "200": {"$ref": "#/components/responses/TestWho"},
      "401": {"$ref": "#/components/responses/Unauthorized"},
      "500": {"$ref": "#/components/responses/InternalError"}}}},
  "/test/brand": {"get": {"x-roles": ["brand"], "responses": {
      "200": {"$ref": "#/components/responses/TestWho"},
      "401": {"$ref": "#/components/responses/Unauthorized"},
      "403": {"$ref": "#/components/responses/Forbidden"},
      "500": {"$ref": "#/components/responses/InternalError"}}}},
  "/test/staff": {"get": {"x-roles": ["admin", "agency"], "responses": {
      "200": {"$ref": "#/components/responses/TestWho"},
      "401": {"$ref": "#/components/responses/Unauthorized"},
      "403": {"$ref": "#/components/responses/Forbidden"},
      "500": {"$ref": "#/components/responses/InternalError"}}}},
  "/test/panic": {"get": {"security": [], "responses": {
      "500": {"$ref": "#/components/responses/InternalError"}}}},
  "/test/error/{code}": {"get": {"security": [],
    "parameters": [{"name": "code", "in": "path", "required": true, "schema": {"type": "string"}}],
    "responses": {
      "400": {"$ref": "#/components/responses/BadRequest"},
      "401": {"$ref": "#/components/responses/Unauthorized"},
      "402": {"$ref": "#/components/responses/PaymentRequired"},
      "403": {"$ref": "#/components/responses/Forbidden"},
      "404": {"$ref": "#/components/responses/NotFound"},
      "405": {"description": "method_not_allowed", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "409": {"$ref": "#/components/responses/Conflict"},
      "413": {"$ref": "#/components/responses/PayloadTooLarge"},
      "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
      "422": {"$ref": "#/components/responses/UnprocessableContent"},
      "429": {"$ref": "#/components/responses/TooManyRequests"},
      "500": {"$ref": "#/components/responses/InternalError"},
      "503": {"$ref": "#/components/responses/PaymentUnavailable"}}}},
  "/test/list": {"get": {"security": [],
    "parameters": [{"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/Cursor"}],
    "responses": {
      "200": {"description": "strings", "content": {"application/json": {"schema": {
        "allOf": [{"$ref": "#/components/schemas/ListEnvelope"}],
        "properties": {"data": {"items": {"type": "string"}}},
        "unevaluatedProperties": false}}}},
      "400": {"$ref": "#/components/responses/BadRequest"},
      "500": {"$ref": "#/components/responses/InternalError"}}}},
  "/test/things/{id}": {"post": {"security": [],
    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
      {"$ref": "#/components/parameters/IdempotencyKey"}],
    "responses": {
      "201": {"description": "made", "content": {"application/json": {"schema": {
        "type": "object", "required": ["id", "key"], "additionalProperties": false,
        "properties": {"id": {"type": "string"}, "key": {"type": "string"}}}}}},
      "400": {"$ref": "#/components/responses/BadRequest"},
      "404": {"$ref": "#/components/responses/NotFound"},
      "500": {"$ref": "#/components/responses/InternalError"}}}},
  "/test/gone": {"delete": {"security": [], "responses": {
      "204": {"description": "gone"},
      "500": {"$ref": "#/components/responses/InternalError"}}}}
}`
