package api

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/daihuo/daihuo/api/apitest"
	"github.com/daihuo/daihuo/domain/party"
)

// openAPIPath turns a gin path into an OpenAPI one: /v1/products/:id → /v1/products/{id}.
func openAPIPath(p string) string {
	return regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`).ReplaceAllString(p, "{$1}")
}

// TestOpenAPICoversRoutes keeps openapi.yaml and the route table equal: same
// paths and methods both ways, the same access, and the error answers every
// operation of its kind can give.
func TestOpenAPICoversRoutes(t *testing.T) {
	doc := apitest.LoadSpec(t, OpenAPI())
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi %s, want 3.1", doc.OpenAPI)
	}
	routes := Routes()

	// The engine serves exactly the route table.
	var engine, table []string
	for _, r := range New(Deps{}).(*gin.Engine).Routes() {
		if r.Method == http.MethodHead {
			continue // every GET but the event stream's, checked in TestUnknownRouteAndMethod
		}
		engine = append(engine, r.Method+" "+r.Path)
	}
	for _, r := range routes {
		table = append(table, r.Method+" "+r.Path)
	}
	slices.Sort(engine)
	slices.Sort(table)
	if !slices.Equal(engine, table) {
		t.Errorf("engine routes %v, route table %v", engine, table)
	}

	documented := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented[method+" "+path] = op
		}
	}
	for _, r := range routes {
		key := r.Method + " " + openAPIPath(r.Path)
		op, ok := documented[key]
		if !ok {
			t.Errorf("%s is served but not in openapi.yaml", key)
			continue
		}
		delete(documented, key)
		checkOperation(t, key, r, op)
	}
	for key := range documented {
		t.Errorf("%s is in openapi.yaml but not served", key)
	}
}

// checkOperation checks one operation's access and error answers.
func checkOperation(t *testing.T, key string, r Route, op *openapi3.Operation) {
	t.Helper()
	has := func(status string) bool { return op.Responses.Value(status) != nil }
	if !has("500") {
		t.Errorf("%s does not document 500", key)
	}
	if r.Public {
		if op.Security == nil || len(*op.Security) != 0 {
			t.Errorf("%s is public: it needs security: []", key)
		}
		if _, ok := op.Extensions["x-roles"]; ok {
			t.Errorf("%s is public: it has no x-roles", key)
		}
	} else {
		if op.Security != nil && len(*op.Security) == 0 {
			t.Errorf("%s needs a token, yet documents security: []", key)
		}
		if !has("401") || !has("403") {
			t.Errorf("%s needs a token: it must document 401 and 403", key)
		}
		var roles []party.Role
		if list, ok := op.Extensions["x-roles"].([]any); ok {
			for _, v := range list {
				s, _ := v.(string)
				roles = append(roles, party.Role(s))
			}
		}
		if !sameRoles(roles, r.Roles) {
			t.Errorf("%s: x-roles %v, route table %v", key, roles, r.Roles)
		}
	}
	if op.RequestBody != nil && (!has("400") || !has("413") || !has("415")) {
		t.Errorf("%s takes a body: it must document 400, 413 and 415", key)
	}
	if strings.Contains(key, "{") && !has("404") {
		t.Errorf("%s names an object: it must document 404", key)
	}
}

// TestProblemCodesDocumented keeps the Problem.code enum equal to the table.
func TestProblemCodesDocumented(t *testing.T) {
	doc := apitest.LoadSpec(t, OpenAPI())
	var documented, table []string
	for _, v := range doc.Components.Schemas["Problem"].Value.Properties["code"].Value.Enum {
		s, _ := v.(string)
		documented = append(documented, s)
	}
	for _, k := range problemKinds() {
		table = append(table, string(k.code))
	}
	slices.Sort(documented)
	slices.Sort(table)
	if !slices.Equal(documented, table) {
		t.Errorf("Problem.code enum %v, problemKinds %v", documented, table)
	}
}

func TestOpenAPIPath(t *testing.T) {
	for in, want := range map[string]string{
		"/healthz":                        "/healthz",
		"/v1/products/:id":                "/v1/products/{id}",
		"/v1/streams/:id/pins/:pin_id":    "/v1/streams/{id}/pins/{pin_id}",
		"/v1/payments/local/:intent_id/x": "/v1/payments/local/{intent_id}/x",
	} {
		if got := openAPIPath(in); got != want {
			t.Errorf("openAPIPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSpecCheckCatchesLies proves apitest fails a test on an undocumented
// exchange, so the other tests' silence means something.
func TestSpecCheckCatchesLies(t *testing.T) {
	doc := apitest.LoadSpec(t, OpenAPI())
	apitest.AddPaths(t, doc, `{"/lie": {
	  "get": {"security": [], "responses": {
		"200": {"description": "x", "content": {"application/json": {"schema": {
			"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}}}}}},
	  "post": {"security": [],
		"requestBody": {"required": true, "content": {"application/json": {"schema": {
			"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}}}},
		"responses": {"200": {"description": "no body"}}}}}`)
	s := newServer(Deps{})
	lies := []struct {
		name   string
		method string
		body   any
		h      handlerFunc
	}{
		{"wrong schema", http.MethodGet, nil, func(c *gin.Context) error { return reply(c, http.StatusOK, map[string]string{"n": "one"}) }},
		{"undocumented status", http.MethodGet, nil, func(c *gin.Context) error { return reply(c, http.StatusAccepted, map[string]int{"n": 1}) }},
		{"wrong content type", http.MethodGet, nil, func(c *gin.Context) error { c.Data(http.StatusOK, "text/html", []byte("<p>")); return nil }},
		{"error that is not a problem", http.MethodGet, nil, func(c *gin.Context) error { c.JSON(http.StatusNotFound, map[string]string{"error": "x"}); return nil }},
		{"body where none is documented", http.MethodPost, map[string]int{"n": 1}, func(c *gin.Context) error {
			c.Data(http.StatusOK, "application/json", []byte("{}"))
			return nil
		}},
		{"accepted an undocumented request", http.MethodPost, map[string]string{"n": "x"}, func(c *gin.Context) error {
			c.Status(http.StatusOK)
			c.Writer.WriteHeaderNow()
			return nil
		}},
	}
	for _, l := range lies {
		t.Run(l.name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			c := apitest.New(rec, s.engine([]route{{l.method, "/lie", public(), l.h}}), doc)
			c.Call(l.method, "/lie", "", l.body)
			if !rec.failed {
				t.Errorf("apitest accepted an exchange that breaks the document")
			}
		})
	}
}

// recordingTB records Errorf instead of failing.
type recordingTB struct {
	testing.TB
	failed bool
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.failed = true
	r.Logf("caught: "+format, args...)
}
