package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/order"
	"github.com/daihuo/daihuo/domain/payment"
)

// Codes the api adds to those of domain/errs for failures only HTTP has.
const (
	// codeUnsupportedMediaType: the request body is not application/json (415).
	codeUnsupportedMediaType errs.Code = "unsupported_media_type"
	// codeMethodNotAllowed: the path exists but not with this method (405).
	codeMethodNotAllowed errs.Code = "method_not_allowed"
	// codeInternal: anything unexpected; the detail says nothing more (500).
	codeInternal errs.Code = "internal_error"
	// codeUnavailable: this node cannot serve the request yet; retry (503).
	codeUnavailable errs.Code = "unavailable"
)

// problemTypeBase prefixes the code to make a problem's stable type URI.
const problemTypeBase = "https://daihuo.dev/problems/"

// The api's own errors, answered through writeError like any other.
var (
	errNoRoute  = errs.New(errs.CodeNotFound, "no such route")
	errNoMethod = errs.New(codeMethodNotAllowed, "method not allowed on this path")
	errNoToken  = errs.New(errs.CodeUnauthenticated, "missing bearer token")
)

// problemKind is the HTTP face of an error code.
type problemKind struct {
	code   errs.Code
	status int
	title  string
}

// problemKinds is THE table from error codes to HTTP statuses.
//
// payment_declined answers 402: the card was refused, and the same payment
// may be made with another card. payment_unavailable answers 503: the
// payment provider did not answer, nothing was kept and a retry is safe.
//
// currency_mismatch answers 422, not 409: the request is well-formed but names
// an amount in a currency its target does not use, and no change of server
// state would make the same request succeed, which is what 409 suggests.
func problemKinds() []problemKind {
	return []problemKind{
		{errs.CodeValidation, http.StatusBadRequest, "Validation failed"},
		{errs.CodeUnauthenticated, http.StatusUnauthorized, "Unauthenticated"},
		{errs.CodeInsufficientCoins, http.StatusPaymentRequired, "Insufficient coins"},
		{payment.CodeDeclined, http.StatusPaymentRequired, "Payment declined"},
		{errs.CodeForbidden, http.StatusForbidden, "Forbidden"},
		{errs.CodeNotFound, http.StatusNotFound, "Not found"},
		{codeMethodNotAllowed, http.StatusMethodNotAllowed, "Method not allowed"},
		{errs.CodeConflict, http.StatusConflict, "Conflict"},
		{errs.CodeSoldOut, http.StatusConflict, "Sold out"},
		{errs.CodeLimitExceeded, http.StatusConflict, "Limit exceeded"},
		{errs.CodeInvalidState, http.StatusConflict, "Invalid state"},
		{errs.CodeIdempotencyConflict, http.StatusConflict, "Idempotency conflict"},
		{errs.CodePayloadTooLarge, http.StatusRequestEntityTooLarge, "Payload too large"},
		{codeUnsupportedMediaType, http.StatusUnsupportedMediaType, "Unsupported media type"},
		{errs.CodeCurrencyMismatch, http.StatusUnprocessableEntity, "Currency mismatch"},
		{errs.CodeRateLimited, http.StatusTooManyRequests, "Rate limited"},
		{codeInternal, http.StatusInternalServerError, "Internal error"},
		{order.CodePaymentUnavailable, http.StatusServiceUnavailable, "Payment provider unavailable"},
		{codeUnavailable, http.StatusServiceUnavailable, "Service unavailable"},
	}
}

// kindOf returns the row of problemKinds for code.
func kindOf(code errs.Code) (problemKind, bool) {
	for _, k := range problemKinds() {
		if k.code == code {
			return k, true
		}
	}
	return problemKind{}, false
}

// problem is an RFC 9457 problem details body.
type problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail"`
	Code      errs.Code    `json:"code"`
	Errors    []fieldError `json:"errors,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
}

// fieldError names one invalid field of a request.
type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// newProblem returns the problem of kind k with a detail for people.
func newProblem(k problemKind, detail string) problem {
	return problem{Type: problemTypeBase + string(k.code), Title: k.title, Status: k.status, Detail: detail, Code: k.code}
}

// internalProblem is the answer to anything unexpected: it tells nothing.
func internalProblem() problem {
	k, _ := kindOf(codeInternal)
	return newProblem(k, "an unexpected error occurred; quote the request id when reporting it")
}

// problemFor maps err to its problem; expected reports whether err is a known
// business or client error (unexpected ones are logged).
func problemFor(err error) (p problem, expected bool) {
	var ve *errs.ValidationError
	var mbe *http.MaxBytesError
	var e *errs.Error
	switch {
	case errors.As(err, &ve):
		k, _ := kindOf(errs.CodeValidation)
		p = newProblem(k, "the request has invalid fields")
		p.Errors = make([]fieldError, len(ve.Fields))
		for i, f := range ve.Fields {
			p.Errors[i] = fieldError{Field: f.Field, Message: f.Message}
		}
		return p, true
	case errors.As(err, &mbe):
		k, _ := kindOf(errs.CodePayloadTooLarge)
		return newProblem(k, "the request body is larger than 1 MiB"), true
	case errors.As(err, &e):
		if k, ok := kindOf(e.Code); ok && k.code != codeInternal {
			return newProblem(k, e.Message), true
		}
	}
	return internalProblem(), false
}

// writeError answers err as a problem: the one place errors become HTTP.
// Unexpected errors are logged with the request id and answer a bare 500.
func (s *server) writeError(c *gin.Context, err error) {
	p, expected := problemFor(err)
	var wait interface{ RetryAfter() time.Duration }
	if errors.As(err, &wait) && wait.RetryAfter() > 0 {
		c.Header("Retry-After", strconv.FormatInt(int64(math.Ceil(wait.RetryAfter().Seconds())), 10))
	}
	ctx := c.Request.Context()
	if !expected {
		s.log.ErrorContext(ctx, "request failed", slog.String("error", err.Error()))
	}
	if c.Writer.Written() {
		s.log.WarnContext(ctx, "error after the response started", slog.String("error", err.Error()))
		c.Abort()
		return
	}
	s.writeProblem(c, p)
}

// writeProblem writes p and stops the handler chain.
func (s *server) writeProblem(c *gin.Context, p problem) {
	p.RequestID = RequestID(c.Request.Context())
	if p.Status == http.StatusUnauthorized && c.Writer.Header().Get("WWW-Authenticate") == "" {
		c.Header("WWW-Authenticate", `Bearer realm="daihuo"`)
	}
	if p.Status == http.StatusTooManyRequests && c.Writer.Header().Get("Retry-After") == "" {
		c.Header("Retry-After", "1") // the limits are per second or per few seconds
	}
	body, err := json.Marshal(p)
	if err != nil { // a problem always encodes; keep the 500 honest anyway.
		s.log.ErrorContext(c.Request.Context(), "encode problem", slog.String("error", err.Error()))
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	c.Abort()
	c.Data(p.Status, "application/problem+json", body)
}
