package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/payment"
)

// WebhookReceiver verifies and applies one webhook of the payment provider
// (order.Receiver). A bad signature, a stale timestamp or an unreadable
// payload fails with an error wrapping payment.ErrInvalidWebhook and
// changes nothing; duplicates, unknown intents and unhandled types are
// accepted (nil).
type WebhookReceiver interface {
	Receive(ctx context.Context, payload []byte, signatureHeader string) error
}

// LocalPayments confirms a payment intent of the local payment simulator
// with a test card (local.Simulator), as Stripe.js confirms a card payment.
// A declined card answers the intent's new status with an error wrapping
// payment.ErrDeclined (a *payment.DeclineError with the reason).
type LocalPayments interface {
	Confirm(ctx context.Context, intentID, clientSecret, cardNumber string) (payment.IntentStatus, error)
}

// stripeSignatureHeader carries the signature of a Stripe webhook.
const stripeSignatureHeader = "Stripe-Signature"

// errNoLocalPayments answers the local confirm route of a process that uses
// Stripe: the route does not exist there.
var errNoLocalPayments = errs.New(errs.CodeNotFound, "the local payment simulator is not in use")

// isNil reports whether v is nil or a nil pointer: main passes its
// *local.Simulator, which is nil when it uses Stripe, and a nil pointer in
// an interface is not a nil interface.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// confirmRequest is the body of POST /v1/payments/local/{intent_id}/confirm.
type confirmRequest struct {
	ClientSecret string `json:"client_secret"`
	CardNumber   string `json:"card_number"`
}

// confirmBody is the intent's status after a confirmation.
type confirmBody struct {
	IntentID string `json:"intent_id"`
	Status   string `json:"status"`
}

// maxClientSecretBytes bounds a client secret; longer ones are garbage.
const maxClientSecretBytes = 255

// confirmLocalPayment answers POST /v1/payments/local/{intent_id}/confirm:
// whoever holds the intent's client secret pays it with a test card
// (4242424242424242 succeeds, 4000000000000002 is declined). The simulator
// delivers the signed webhook before this answers, so the order is paid
// (or carries the decline) by then. A decline answers 402 payment_declined
// with the bank's reason; the intent stays payable with another card. An
// unknown intent or a wrong secret answers 404, a paid or cancelled intent
// 409 invalid_state; a process using Stripe answers 404.
func (s *server) confirmLocalPayment(c *gin.Context) error {
	if s.localPayments == nil {
		return errNoLocalPayments
	}
	intentID := c.Param("intent_id")
	if payment.ValidateID("intent_id", intentID) != nil {
		return errs.ErrNotFound
	}
	var req confirmRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	var v errs.Validator
	v.Check(req.ClientSecret != "" && len(req.ClientSecret) <= maxClientSecretBytes, "client_secret",
		"is required: the client_secret of the order's payment")
	v.Check(req.CardNumber != "", "card_number", "is required")
	if err := v.Err(); err != nil {
		return err
	}
	status, err := s.localPayments.Confirm(c.Request.Context(), intentID, req.ClientSecret, req.CardNumber)
	var decline *payment.DeclineError
	if errors.As(err, &decline) {
		return errs.New(payment.CodeDeclined, fmt.Sprintf(
			"the card was declined (%s): %s The payment can be made with another card.", decline.Code, decline.Message))
	}
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, confirmBody{IntentID: intentID, Status: string(status)})
}

// webhookAck is the answer to an accepted webhook.
type webhookAck struct {
	Received bool `json:"received"`
}

// stripeWebhook answers POST /v1/webhooks/stripe: the raw body (never
// decoded before its signature is verified, and within the 1 MiB limit) and
// the Stripe-Signature header go to the receiver. 200 when the event was
// applied, was a duplicate, names an intent no order has or is of a type
// daihuo does not use; 400 on a missing or bad signature, a timestamp older
// than five minutes or an unreadable payload, changing nothing; 5xx when it
// could not be applied, so the provider retries.
func (s *server) stripeWebhook(c *gin.Context) error {
	if s.webhooks == nil {
		return errs.ErrNotFound
	}
	if err := requireJSON(c.Request.Header.Get("Content-Type")); err != nil {
		return err
	}
	sigs := c.Request.Header.Values(stripeSignatureHeader)
	if len(sigs) != 1 || strings.TrimSpace(sigs[0]) == "" {
		return errs.Invalid(stripeSignatureHeader, "is required once on a webhook")
	}
	var payload []byte
	if c.Request.Body != nil {
		var err error
		if payload, err = io.ReadAll(c.Request.Body); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return err
			}
			return errs.Invalid(bodyField, "could not be read")
		}
	}
	if err := s.webhooks.Receive(c.Request.Context(), payload, sigs[0]); err != nil {
		if errors.Is(err, payment.ErrInvalidWebhook) {
			return errs.Invalid(stripeSignatureHeader,
				"does not verify: a wrong signature, a timestamp older than %s or an unreadable payload", payment.WebhookTolerance)
		}
		return err
	}
	return reply(c, http.StatusOK, webhookAck{Received: true})
}
