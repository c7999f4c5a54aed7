// Package wire is Stripe's webhook format as both payment adapters speak it:
// the event JSON the local simulator writes, the Stripe-Signature scheme that
// signs it, and the one parser (stripe-go's webhook.ConstructEvent plus a
// mapping to payment.WebhookEvent) that reads Stripe's and the simulator's
// webhooks alike. Sharing the parser is what makes the simulator's webhooks
// provably Stripe-shaped. It also holds the one conversion between daihuo's
// ISO 4217 minor units and Stripe's amounts (ToStripe, FromStripe), which
// differ for a few currencies; the simulator's events carry Stripe's units
// as Stripe's do.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	stripe "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/daihuo/daihuo/domain/payment"
)

// APIVersion is the Stripe API version of the events, the one stripe-go v76
// sends and accepts.
const APIVersion = stripe.APIVersion

// SignatureHeader is the HTTP header carrying a webhook's signature.
const SignatureHeader = "Stripe-Signature"

// Stripe's event types that Parse maps; every other type is
// payment.EventUnhandled.
const (
	TypeIntentSucceeded     = string(stripe.EventTypePaymentIntentSucceeded)
	TypeIntentPaymentFailed = string(stripe.EventTypePaymentIntentPaymentFailed)
	TypeIntentCanceled      = string(stripe.EventTypePaymentIntentCanceled)
	TypeRefundCreated       = string(stripe.EventTypeRefundCreated)
	TypeRefundUpdated       = string(stripe.EventTypeRefundUpdated)
	TypeChargeRefundUpdated = string(stripe.EventTypeChargeRefundUpdated)
	TypeChargeRefunded      = string(stripe.EventTypeChargeRefunded)
	TypeTransferCreated     = string(stripe.EventTypeTransferCreated)
	TypeTransferReversed    = string(stripe.EventTypeTransferReversed)
)

// Sign returns the Stripe-Signature header value for payload signed with
// secret at t: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t.payload)>".
func Sign(payload []byte, secret string, t time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: payload, Secret: secret, Timestamp: t,
	}).Header
}

// ErrAPIVersionMismatch refuses a correctly signed event of another Stripe
// API version than APIVersion, whose objects may be shaped otherwise. It is
// no payment or errs kind on purpose: the api answers it 500 and logs it,
// and the provider keeps retrying until the endpoint's version is fixed,
// whereas a bad signature (payment.ErrInvalidWebhook) answers 400.
var ErrAPIVersionMismatch = errors.New("webhook event of another Stripe API version")

// Parse verifies header against payload with secret (at most
// payment.WebhookTolerance old) and maps the Stripe event, whose amounts are
// in Stripe's units (FromStripe), to a payment.WebhookEvent of provider.
// Every failure wraps payment.ErrInvalidWebhook but an event of another API
// version, which wraps ErrAPIVersionMismatch.
func Parse(provider string, payload []byte, header, secret string) (payment.WebhookEvent, error) {
	if secret == "" {
		return payment.WebhookEvent{}, errors.New("parse webhook: no signing secret configured")
	}
	// The signature first, so that nothing unsigned is read; then the
	// version, before the body is decoded into this version's shapes.
	if err := webhook.ValidatePayloadWithTolerance(payload, header, secret, payment.WebhookTolerance); err != nil {
		return payment.WebhookEvent{}, invalid(err)
	}
	var version struct {
		APIVersion string `json:"api_version"`
	}
	if err := json.Unmarshal(payload, &version); err != nil {
		return payment.WebhookEvent{}, invalid(err)
	}
	if version.APIVersion != APIVersion {
		return payment.WebhookEvent{}, fmt.Errorf("parse webhook: %w: the event has API version %q but daihuo (stripe-go %s) reads %s; "+
			"set the webhook endpoint's API version to %s in Stripe's dashboard or API",
			ErrAPIVersionMismatch, version.APIVersion, stripe.ClientVersion, APIVersion, APIVersion)
	}
	ev, err := webhook.ConstructEventWithOptions(payload, header, secret, webhook.ConstructEventOptions{
		Tolerance: payment.WebhookTolerance,
	})
	if err != nil {
		return payment.WebhookEvent{}, invalid(err)
	}
	if ev.ID == "" || ev.Data == nil {
		return payment.WebhookEvent{}, invalid(errors.New("event has no id or data"))
	}
	out := payment.WebhookEvent{
		Provider:     provider,
		ID:           ev.ID,
		Type:         payment.EventUnhandled,
		ProviderType: string(ev.Type),
		Created:      time.Unix(ev.Created, 0).UTC(),
	}
	switch string(ev.Type) {
	case TypeIntentSucceeded, TypeIntentPaymentFailed, TypeIntentCanceled:
		var pi stripe.PaymentIntent
		if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
			return payment.WebhookEvent{}, invalid(err)
		}
		out.Type = map[string]payment.EventType{
			TypeIntentSucceeded:     payment.EventIntentSucceeded,
			TypeIntentPaymentFailed: payment.EventIntentFailed,
			TypeIntentCanceled:      payment.EventIntentCanceled,
		}[string(ev.Type)]
		out.IntentID = pi.ID
		amount := pi.Amount
		if out.Type == payment.EventIntentSucceeded && pi.AmountReceived > 0 {
			amount = pi.AmountReceived
		}
		if out.Amount, err = FromStripe(amount, string(pi.Currency)); err != nil {
			return payment.WebhookEvent{}, invalid(err)
		}
		out.Status = string(pi.Status)
		out.Metadata = pi.Metadata
		if e := pi.LastPaymentError; e != nil && out.Type == payment.EventIntentFailed {
			out.FailureCode = FailureCode(e)
			out.FailureReason = e.Msg
		}
		if out.Type == payment.EventIntentCanceled {
			out.FailureReason = string(pi.CancellationReason)
		}
	case TypeRefundCreated, TypeRefundUpdated, TypeChargeRefundUpdated:
		var r stripe.Refund
		if err := json.Unmarshal(ev.Data.Raw, &r); err != nil {
			return payment.WebhookEvent{}, invalid(err)
		}
		switch payment.RefundStatus(r.Status) {
		case payment.RefundSucceeded:
			out.Type = payment.EventRefundSucceeded
		case payment.RefundFailed, payment.RefundCanceled:
			out.Type = payment.EventRefundFailed
			out.FailureReason = string(r.FailureReason)
		}
		out.RefundID = r.ID
		if r.PaymentIntent != nil {
			out.IntentID = r.PaymentIntent.ID
		}
		if out.Amount, err = FromStripe(r.Amount, string(r.Currency)); err != nil {
			return payment.WebhookEvent{}, invalid(err)
		}
		out.Status = string(r.Status)
		out.Metadata = r.Metadata
	case TypeChargeRefunded:
		var c stripe.Charge
		if err := json.Unmarshal(ev.Data.Raw, &c); err != nil {
			return payment.WebhookEvent{}, invalid(err)
		}
		out.Type = payment.EventChargeRefunded
		if c.PaymentIntent != nil {
			out.IntentID = c.PaymentIntent.ID
		}
		if out.Amount, err = FromStripe(c.AmountRefunded, string(c.Currency)); err != nil {
			return payment.WebhookEvent{}, invalid(err)
		}
		out.Status = "partially_refunded"
		if c.Refunded {
			out.Status = "refunded"
		}
		out.Metadata = c.Metadata
	case TypeTransferCreated, TypeTransferReversed:
		var tr stripe.Transfer
		if err := json.Unmarshal(ev.Data.Raw, &tr); err != nil {
			return payment.WebhookEvent{}, invalid(err)
		}
		out.Type = payment.EventTransferCreated
		amount := tr.Amount
		out.Status = string(payment.TransferPaid)
		if string(ev.Type) == TypeTransferReversed {
			out.Type = payment.EventTransferReversed
			amount = tr.AmountReversed
			out.Status = string(payment.TransferReversed)
		}
		if out.Amount, err = FromStripe(amount, string(tr.Currency)); err != nil {
			return payment.WebhookEvent{}, invalid(err)
		}
		out.TransferID = tr.ID
		out.Metadata = tr.Metadata
	}
	return out, nil
}

func invalid(cause error) error {
	return fmt.Errorf("parse webhook: %w: %v", payment.ErrInvalidWebhook, cause)
}

// Currency converts daihuo's upper-case ISO 4217 code to Stripe's.
func Currency(code string) string { return strings.ToLower(code) }

// FailureCode picks the most specific code of a Stripe payment error: the
// decline code when the bank gave one, else the error code.
func FailureCode(e *stripe.Error) string {
	if e.DeclineCode != "" {
		return string(e.DeclineCode)
	}
	return string(e.Code)
}
