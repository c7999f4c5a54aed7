package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/daihuo/daihuo/domain/errs"
)

func TestProblemFor(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		status   int
		code     errs.Code
		detail   string
		expected bool
	}{
		{"validation", errs.Invalid("name", "must not be empty"), 400, errs.CodeValidation, "the request has invalid fields", true},
		{"unauthenticated", errs.New(errs.CodeUnauthenticated, "no"), 401, errs.CodeUnauthenticated, "no", true},
		{"forbidden", errs.ErrForbidden, 403, errs.CodeForbidden, "not allowed for this role", true},
		{"not found", errs.ErrNotFound, 404, errs.CodeNotFound, "not found", true},
		{"conflict", errs.New(errs.CodeConflict, "taken"), 409, errs.CodeConflict, "taken", true},
		{"sold out", errs.New(errs.CodeSoldOut, "gone"), 409, errs.CodeSoldOut, "gone", true},
		{"limit exceeded", errs.New(errs.CodeLimitExceeded, "max 2"), 409, errs.CodeLimitExceeded, "max 2", true},
		{"invalid state", errs.ErrInvalidState, 409, errs.CodeInvalidState, "not allowed in the current state", true},
		{"idempotency", errs.New(errs.CodeIdempotencyConflict, "other body"), 409, errs.CodeIdempotencyConflict, "other body", true},
		{"currency mismatch", errs.New(errs.CodeCurrencyMismatch, "EUR only"), 422, errs.CodeCurrencyMismatch, "EUR only", true},
		{"insufficient coins", errs.New(errs.CodeInsufficientCoins, "top up"), 402, errs.CodeInsufficientCoins, "top up", true},
		{"rate limited", errs.New(errs.CodeRateLimited, "slow"), 429, errs.CodeRateLimited, "slow", true},
		{"payload too large code", errs.New(errs.CodePayloadTooLarge, "big"), 413, errs.CodePayloadTooLarge, "big", true},
		{"max bytes error", fmt.Errorf("read body: %w", &http.MaxBytesError{Limit: 1}), 413, errs.CodePayloadTooLarge, "the request body is larger than 1 MiB", true},
		{"unsupported media type", errs.New(codeUnsupportedMediaType, "json"), 415, codeUnsupportedMediaType, "json", true},
		{"method not allowed", errNoMethod, 405, codeMethodNotAllowed, "method not allowed on this path", true},
		{"wrapped keeps only the message", fmt.Errorf("reserve stock at 10.0.0.1: %w", errs.New(errs.CodeSoldOut, "sold out")), 409, errs.CodeSoldOut, "sold out", true},
		{"unknown error", errors.New("pq: connection refused"), 500, codeInternal, internalProblem().Detail, false},
		{"unknown code", errs.New("brand_new_code", "secret"), 500, codeInternal, internalProblem().Detail, false},
		{"internal code", errs.New(codeInternal, "secret"), 500, codeInternal, internalProblem().Detail, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, expected := problemFor(tt.err)
			if p.Status != tt.status || p.Code != tt.code || p.Detail != tt.detail || expected != tt.expected {
				t.Errorf("problemFor = %d %s %q expected=%v, want %d %s %q expected=%v",
					p.Status, p.Code, p.Detail, expected, tt.status, tt.code, tt.detail, tt.expected)
			}
			if p.Type != problemTypeBase+string(p.Code) || p.Title == "" {
				t.Errorf("type %q title %q", p.Type, p.Title)
			}
		})
	}
}

// TestErrorsOverHTTP sends every code through a handler and the spec check.
func TestErrorsOverHTTP(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, k := range problemKinds() {
		t.Run(string(k.code), func(t *testing.T) {
			p := env.Call(http.MethodGet, "/test/error/"+string(k.code), "", nil).Want(k.status).Problem()
			if p.Code != string(k.code) || p.Title != k.title || p.RequestID == "" {
				t.Errorf("problem %+v", p)
			}
		})
	}
	t.Run("validation lists fields", func(t *testing.T) {
		p := env.Call(http.MethodGet, "/test/error/validation", "", nil).Want(400).Problem()
		if len(p.Errors) != 1 || p.Errors[0].Field != "name" || p.Errors[0].Message != "must not be empty" {
			t.Errorf("errors %+v", p.Errors)
		}
	})
	t.Run("unexpected errors are logged, not told", func(t *testing.T) {
		res := env.Call(http.MethodGet, "/test/error/plain", "", nil).Want(500)
		p := res.Problem()
		if strings.Contains(string(res.Body), "10.0.0.1") || p.Code != "internal_error" {
			t.Errorf("500 leaks or misnames: %s", res.Body)
		}
		if !logged(t, env, "request failed", p.RequestID, "database on fire at 10.0.0.1") {
			t.Errorf("error not logged with its request id: %v", env.logs.lines(t))
		}
	})
}

func TestUnknownRouteAndMethod(t *testing.T) {
	env := newTestEnv(t, nil)
	p := env.Call(http.MethodGet, "/nope", "", nil).Want(404).Problem()
	if p.Code != "not_found" {
		t.Errorf("code %s", p.Code)
	}
	res := env.Call(http.MethodPost, "/healthz", "", nil).Want(405)
	if res.Header.Get("Allow") != "GET, HEAD" || res.Problem().Code != "method_not_allowed" {
		t.Errorf("405 Allow %q body %s", res.Header.Get("Allow"), res.Body)
	}
	// HEAD is GET without the body (load balancers probe with it), but not
	// on the event stream, which would never end.
	head := env.Call(http.MethodHead, "/healthz", "", nil).Want(200)
	if len(head.Body) != 0 || head.Header.Get("Content-Type") == "" {
		t.Errorf("HEAD /healthz: body %q, Content-Type %q", head.Body, head.Header.Get("Content-Type"))
	}
	if res := env.Call(http.MethodHead, "/v1/streams/str_01JH0000000000000000000000/events", "", nil).Want(405); res.Header.Get("Allow") != http.MethodGet {
		t.Errorf("HEAD on the event stream: Allow %q", res.Header.Get("Allow"))
	}
	// No redirects to a fixed-up path: an API answers what was asked.
	env.Call(http.MethodGet, "/healthz/", "", nil).Want(404)
}

func TestPanicAnswers500(t *testing.T) {
	env := newTestEnv(t, nil)
	res := env.Call(http.MethodGet, "/test/panic", "", nil).Want(500)
	p := res.Problem()
	if strings.Contains(string(res.Body), "boom") {
		t.Errorf("panic value leaked: %s", res.Body)
	}
	if !logged(t, env, "panic", p.RequestID, "boom") {
		t.Errorf("panic not logged: %v", env.logs.lines(t))
	}
	var stack bool
	var access bool
	for _, l := range env.logs.lines(t) {
		if l["msg"] == "panic" && strings.Contains(fmt.Sprint(l["stack"]), "runtime/debug.Stack") {
			stack = true
		}
		if l["msg"] == "http request" && l["route"] == "/test/panic" && l["status"] == float64(500) {
			access = true
		}
	}
	if !stack || !access {
		t.Errorf("stack logged %v, access line with 500 %v", stack, access)
	}
	// The server keeps serving.
	env.Call(http.MethodGet, "/healthz", "", nil).Want(200)
}

func TestNoContent(t *testing.T) {
	env := newTestEnv(t, nil)
	res := env.Call(http.MethodDelete, "/test/gone", "", nil).Want(204)
	if len(res.Body) != 0 {
		t.Errorf("204 with body %q", res.Body)
	}
}

// logged reports whether a line with msg, the request id and text was logged.
func logged(t *testing.T, env *testEnv, msg, requestID, text string) bool {
	t.Helper()
	for _, l := range env.logs.lines(t) {
		if l["msg"] == msg && l["request_id"] == requestID && strings.Contains(fmt.Sprint(l), text) {
			return true
		}
	}
	return false
}
