// Package errs is the shared shape of business errors: a stable code that
// clients can switch on and a message for people. Domain packages declare their
// own sentinel errors with it (order.ErrSoldOut); the api maps codes to HTTP
// statuses in one place.
package errs

import (
	"errors"
	"fmt"
	"strings"
)

// Code is a stable snake_case error code, part of the public contract.
type Code string

// The codes of the HTTP contract.
const (
	CodeValidation          Code = "validation_failed"
	CodeUnauthenticated     Code = "unauthenticated"
	CodeForbidden           Code = "forbidden"
	CodeNotFound            Code = "not_found"
	CodeConflict            Code = "conflict"
	CodeSoldOut             Code = "sold_out"
	CodeLimitExceeded       Code = "limit_exceeded"
	CodeInsufficientCoins   Code = "insufficient_coins"
	CodeCurrencyMismatch    Code = "currency_mismatch"
	CodeInvalidState        Code = "invalid_state"
	CodeIdempotencyConflict Code = "idempotency_conflict"
	CodeRateLimited         Code = "rate_limited"
	CodePayloadTooLarge     Code = "payload_too_large"
)

// Error is a business error with a stable code.
type Error struct {
	Code    Code
	Message string
}

// New returns an error with the given code and message.
func New(code Code, message string) *Error { return &Error{Code: code, Message: message} }

func (e *Error) Error() string { return e.Message }

// Common sentinels shared by every context.
var (
	ErrNotFound     = New(CodeNotFound, "not found")
	ErrForbidden    = New(CodeForbidden, "not allowed for this role")
	ErrInvalidState = New(CodeInvalidState, "not allowed in the current state")
)

// FieldError names one invalid field of a request and why.
type FieldError struct {
	Field   string
	Message string
}

// ValidationError lists every invalid field of a request.
type ValidationError struct{ Fields []FieldError }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid: " + strings.Join(parts, "; ")
}

// Invalid returns a validation error for one field.
func Invalid(field, format string, args ...any) error {
	return &ValidationError{Fields: []FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

// Validator collects field errors so a request reports all of them at once.
type Validator struct{ fields []FieldError }

// Check records message for field when ok is false and reports ok.
func (v *Validator) Check(ok bool, field, format string, args ...any) bool {
	if !ok {
		v.fields = append(v.fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	return ok
}

// Add records the field errors of err when it is a ValidationError, under a
// field prefix such as "variants[2]."; other non-nil errors are recorded as is.
func (v *Validator) Add(prefix string, err error) {
	if err == nil {
		return
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		for _, f := range ve.Fields {
			v.fields = append(v.fields, FieldError{Field: prefix + f.Field, Message: f.Message})
		}
		return
	}
	v.fields = append(v.fields, FieldError{Field: strings.TrimSuffix(prefix, "."), Message: err.Error()})
}

// Err returns the collected errors, or nil when there are none.
func (v *Validator) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.fields}
}
