// Package apitest sends requests to an http.Handler in tests and checks every
// response against the OpenAPI document: the status must be documented for
// the operation, the body must match its schema and content type, every
// error must be a well-formed problem, and a request the server accepted
// (2xx) must be one the document allows. A test that sees an undocumented
// exchange fails, so the document stays true as handlers are added.
//
// It does not import package api, so api's own tests can use it:
//
//	c := apitest.New(t, api.New(deps), apitest.LoadSpec(t, api.OpenAPI()))
//	var out struct{ Status string }
//	c.Call(http.MethodGet, "/healthz", "", nil).Want(http.StatusOK).JSON(&out)
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// ProblemTypeBase prefixes a problem's code in its type URI.
const ProblemTypeBase = "https://daihuo.dev/problems/"

// LoadSpec parses and validates an OpenAPI document, failing the test when
// it is not valid.
func LoadSpec(t testing.TB, spec []byte) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		t.Fatalf("apitest: load OpenAPI document: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("apitest: invalid OpenAPI document: %v", err)
	}
	return doc
}

// AddPaths adds the path items of pathsJSON (a JSON object of paths, as under
// "paths:") to doc, so a test can document routes that exist only in tests.
// Their $refs may point into doc's components.
func AddPaths(t testing.TB, doc *openapi3.T, pathsJSON string) {
	t.Helper()
	var paths map[string]*openapi3.PathItem
	if err := json.Unmarshal([]byte(pathsJSON), &paths); err != nil {
		t.Fatalf("apitest: decode paths: %v", err)
	}
	for p, item := range paths {
		doc.Paths.Set(p, item)
	}
	if err := openapi3.NewLoader().ResolveRefsIn(doc, nil); err != nil {
		t.Fatalf("apitest: resolve refs: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("apitest: invalid OpenAPI document after adding paths: %v", err)
	}
}

// Client sends requests to a handler and checks each response against doc.
type Client struct {
	t      testing.TB
	h      http.Handler
	doc    *openapi3.T
	router routers.Router
}

// New returns a client for h checked against doc (see LoadSpec).
func New(t testing.TB, h http.Handler, doc *openapi3.T) *Client {
	t.Helper()
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("apitest: route OpenAPI document: %v", err)
	}
	return &Client{t: t, h: h, doc: doc, router: router}
}

// NewRequest builds a request: a nil body sends none, a []byte or string is
// sent as is with no Content-Type, anything else as JSON with
// Content-Type application/json. A non-empty token is sent as a bearer token.
func NewRequest(t testing.TB, method, target, token string, body any) *http.Request {
	t.Helper()
	var (
		raw    []byte
		isJSON bool
	)
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = jsonMarshal(b); err != nil {
			t.Fatalf("apitest: encode request body: %v", err)
		}
		isJSON = true
	}
	var req *http.Request
	if body == nil {
		req = httptest.NewRequest(method, target, nil)
	} else {
		req = httptest.NewRequest(method, target, bytes.NewReader(raw))
	}
	if isJSON {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// Call sends a request built by NewRequest and returns the checked response.
func (c *Client) Call(method, target, token string, body any) *Response {
	c.t.Helper()
	return c.Do(NewRequest(c.t, method, target, token, body))
}

// Do sends req to the handler, checks the response against the document and
// returns it. A response that breaks the document fails the test.
func (c *Client) Do(req *http.Request) *Response {
	c.t.Helper()
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			c.t.Fatalf("apitest: read request body: %v", err)
		}
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	res := &Response{t: c.t, Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	if err := c.check(req, res); err != nil {
		c.t.Errorf("apitest: %s %s answered %d, which breaks the OpenAPI document: %v\nbody: %s",
			req.Method, req.URL.RequestURI(), res.Status, err, excerpt(res.Body))
	}
	return res
}

// check applies the rules every response must follow.
func (c *Client) check(req *http.Request, res *Response) error {
	if res.Header.Get("X-Request-Id") == "" {
		return fmt.Errorf("no X-Request-Id header")
	}
	if res.Status == http.StatusUnauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
		return fmt.Errorf("401 without WWW-Authenticate: Bearer")
	}
	if req.Method == http.MethodHead {
		// HEAD is the GET of the same path without its body: the status
		// must be one the GET documents (or a 404 or 405), and no body.
		if len(res.Body) != 0 {
			return fmt.Errorf("HEAD answered with a body")
		}
		get := req.Clone(req.Context())
		get.Method = http.MethodGet
		route, _, err := c.router.FindRoute(get)
		if err != nil || route.Operation.Responses.Status(res.Status) == nil {
			if res.Status != http.StatusNotFound && res.Status != http.StatusMethodNotAllowed {
				return fmt.Errorf("HEAD answered %d, which the GET does not document", res.Status)
			}
		}
		return nil
	}
	route, params, err := c.router.FindRoute(req)
	if err == nil && strings.HasSuffix(req.URL.Path, "/") != strings.HasSuffix(route.Path, "/") {
		err = routers.ErrPathNotFound // the router forgives a trailing slash; the server does not.
	}
	// Every error is a problem, unless its operation documents another body
	// for the status (as /readyz does for 503).
	if res.Status >= 400 && (err != nil || !documentsOtherBody(route.Operation, res.Status)) {
		if err := checkProblem(res); err != nil {
			return err
		}
	}
	if err != nil {
		// Not a documented operation: only a 404 or 405 problem may answer.
		switch res.Status {
		case http.StatusNotFound:
		case http.StatusMethodNotAllowed:
			if res.Header.Get("Allow") == "" {
				return fmt.Errorf("405 without an Allow header")
			}
		default:
			return fmt.Errorf("no documented operation (%v), yet not a 404 or 405", err)
		}
		return c.checkSchema("Problem", res.Body)
	}
	if op := route.Operation; op.Responses != nil {
		if rr := op.Responses.Status(res.Status); rr != nil && rr.Value != nil && len(rr.Value.Content) == 0 && len(res.Body) != 0 {
			return fmt.Errorf("documented without a body, yet the response has one")
		}
	}
	reqIn := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
	if res.Status >= 200 && res.Status < 300 {
		// A request the server accepted must be one the document allows, so
		// the documented request schemas stay true as well.
		reqIn.Options = &openapi3filter.Options{
			AuthenticationFunc:                openapi3filter.NoopAuthenticationFunc,
			RejectWhenRequestBodyNotSpecified: true,
			SkipSettingDefaults:               true,
			MultiError:                        true,
		}
		if err := openapi3filter.ValidateRequest(context.Background(), reqIn); err != nil {
			return fmt.Errorf("the server accepted a request the document does not allow: %w", err)
		}
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqIn,
		Status:                 res.Status,
		Header:                 res.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(res.Body)
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// documentsOtherBody reports whether op documents a response for status
// with content that is not a problem.
func documentsOtherBody(op *openapi3.Operation, status int) bool {
	if op == nil || op.Responses == nil {
		return false
	}
	rr := op.Responses.Status(status)
	if rr == nil || rr.Value == nil {
		return false
	}
	for mt := range rr.Value.Content {
		if mt != "application/problem+json" {
			return true
		}
	}
	return false
}

// checkSchema validates a JSON body against a component schema.
func (c *Client) checkSchema(name string, body []byte) error {
	ref := c.doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("no schema %s in the document", name)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	return c.doc.ValidateSchemaJSON(ref.Value, v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors())
}

// checkProblem checks what every error answer shares: a problem+json body
// whose status and type agree with the response.
func checkProblem(res *Response) error {
	mt, _, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if err != nil || mt != "application/problem+json" {
		return fmt.Errorf("error answered with Content-Type %q, want application/problem+json", res.Header.Get("Content-Type"))
	}
	var p Problem
	if err := json.Unmarshal(res.Body, &p); err != nil {
		return fmt.Errorf("problem body: %w", err)
	}
	if p.Status != res.Status {
		return fmt.Errorf("problem status %d differs from the HTTP status", p.Status)
	}
	if p.Code == "" || p.Type != ProblemTypeBase+p.Code {
		return fmt.Errorf("problem type %q does not match its code %q", p.Type, p.Code)
	}
	return nil
}

// Response is a recorded, checked response.
type Response struct {
	t      testing.TB
	Status int
	Header http.Header
	Body   []byte
}

// Want fails the test now unless the status is want; it returns r to chain.
func (r *Response) Want(want int) *Response {
	r.t.Helper()
	if r.Status != want {
		r.t.Fatalf("status %d, want %d; body: %s", r.Status, want, excerpt(r.Body))
	}
	return r
}

// JSON decodes the body into v, rejecting unknown fields, or fails the test.
func (r *Response) JSON(v any) {
	r.t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		r.t.Fatalf("decode response body: %v; body: %s", err, excerpt(r.Body))
	}
}

// Problem decodes an error body, or fails the test.
func (r *Response) Problem() Problem {
	r.t.Helper()
	var p Problem
	r.JSON(&p)
	return p
}

// Problem is an RFC 9457 problem as daihuo writes it.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail"`
	Code      string       `json:"code"`
	Errors    []FieldError `json:"errors"`
	RequestID string       `json:"request_id"`
}

// FieldError is one invalid field of a validation problem.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// jsonMarshal encodes v without HTML escaping, as a client would.
func jsonMarshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// excerpt shortens a body for failure messages.
func excerpt(b []byte) string {
	const limit = 2000
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}
