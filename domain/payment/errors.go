package payment

import "github.com/daihuo/daihuo/domain/errs"

// CodeDeclined is the stable error code of a payment the provider declined
// (a card refused by its bank). The api answers it with 402 Payment Required.
const CodeDeclined errs.Code = "payment_declined"

// The errors of the payment port, returned (wrapped) by every adapter.
var (
	// ErrInvalidWebhook refuses a webhook whose signature, timestamp or body
	// does not verify; its code is validation_failed, so the api answers 400
	// and the provider retries or gives up, as it should for forgeries.
	ErrInvalidWebhook = errs.New(errs.CodeValidation, "invalid webhook signature or payload")
	// ErrDeclined says the provider refused the payment; a *DeclineError
	// wrapping it carries the provider's reason.
	ErrDeclined = errs.New(CodeDeclined, "the payment was declined")
	// ErrIdempotencyConflict refuses an idempotency key reused with
	// different parameters.
	ErrIdempotencyConflict = errs.New(errs.CodeIdempotencyConflict, "idempotency key already used with different parameters")
	// ErrIntentNotFound says no intent has the id, or the client secret
	// does not belong to it (the two are not told apart on purpose).
	ErrIntentNotFound = errs.New(errs.CodeNotFound, "payment intent not found")
	// ErrRefundNotFound says no refund has the id.
	ErrRefundNotFound = errs.New(errs.CodeNotFound, "refund not found")
	// ErrUnexpectedState refuses an operation the intent's state does not
	// allow: confirming a succeeded intent, refunding an unpaid one,
	// cancelling a succeeded one.
	ErrUnexpectedState = errs.New(errs.CodeInvalidState, "the payment intent's state does not allow this")
	// ErrRefundTooLarge refuses a refund above what is left of the payment.
	ErrRefundTooLarge = errs.New(errs.CodeInvalidState, "the refund exceeds what is left to refund of the payment")
)

// DeclineError is a declined payment with the provider's reason. It unwraps
// to ErrDeclined, so errors.Is(err, ErrDeclined) holds and the api maps it by
// its code.
type DeclineError struct {
	// Code is the decline code ("generic_decline", "insufficient_funds").
	Code string
	// Message is the provider's explanation for people.
	Message string
}

// Error returns the provider's explanation.
func (e *DeclineError) Error() string {
	if e.Message == "" {
		return "payment declined: " + e.Code
	}
	return "payment declined: " + e.Message
}

// Unwrap returns ErrDeclined.
func (e *DeclineError) Unwrap() error { return ErrDeclined }
