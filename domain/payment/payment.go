// Package payment is the port between daihuo's business and a payment
// provider: taking a shopper's money through a payment intent, refunding it,
// transferring payouts to connected accounts, and reading the provider's
// signed webhooks. Orders, wallet top-ups and payouts consume Gateway; the
// adapters in payments/stripe and payments/local implement it with the same
// states, so the rest of daihuo cannot tell them apart.
package payment

import (
	"context"
	"time"

	"github.com/daihuo/daihuo/domain/money"
)

// The providers daihuo speaks to, as returned by Gateway.Name and carried in
// every Intent, Refund, Transfer and WebhookEvent.
const (
	ProviderStripe = "stripe"
	ProviderLocal  = "local"
)

// Gateway is a payment provider as the business sees it. Every call that
// moves money takes an idempotency key: retrying a call with the same key
// and the same parameters returns the first result instead of moving money
// twice, and reusing a key with different parameters fails with
// ErrIdempotencyConflict (providers that cannot tell, such as stripe-mock,
// may not). Money amounts are positive minor units of a known currency.
type Gateway interface {
	// Name returns the provider's name, ProviderStripe or ProviderLocal.
	Name() string
	// CreateIntent opens a payment of req.Amount that the shopper completes
	// in the player with the returned client secret; the outcome arrives as
	// a webhook. The intent starts in IntentRequiresPaymentMethod.
	CreateIntent(ctx context.Context, req IntentRequest) (Intent, error)
	// GetIntent returns the intent as the provider sees it now, for
	// reconciliation when a webhook is late; ErrIntentNotFound when unknown.
	GetIntent(ctx context.Context, intentID string) (Intent, error)
	// CancelIntent cancels an intent that has not succeeded, so an expired
	// or cancelled order can no longer be paid. Cancelling a succeeded or
	// already cancelled intent fails with an error of code invalid_state.
	CancelIntent(ctx context.Context, intentID string) (Intent, error)
	// Refund returns some or all of a succeeded intent's money to the
	// shopper.
	Refund(ctx context.Context, req RefundRequest) (Refund, error)
	// GetRefund returns the refund as the provider sees it now, for
	// reconciliation when its webhook is late; ErrRefundNotFound when
	// unknown.
	GetRefund(ctx context.Context, refundID string) (Refund, error)
	// CheckAmount reports, asking no one and changing nothing, whether the
	// provider can move m: a validation error on "amount" names what it
	// cannot take (Stripe counts some currencies otherwise than ISO 4217).
	CheckAmount(m money.Money) error
	// Transfer sends money from the platform's balance to a connected
	// account (a creator, agency or brand) for a payout.
	Transfer(ctx context.Context, req TransferRequest) (Transfer, error)
	// ParseWebhook verifies a webhook's signature header against the
	// provider's signing secret and returns the provider-neutral event. A
	// missing, malformed or wrong signature, a tampered body, a timestamp
	// older than WebhookTolerance or an unreadable body fail with an error
	// wrapping ErrInvalidWebhook (code validation_failed, HTTP 400). Verified
	// events of types daihuo does not use come back as EventUnhandled.
	ParseWebhook(payload []byte, signatureHeader string) (WebhookEvent, error)
}

// WebhookTolerance is how old a webhook's signed timestamp may be before
// ParseWebhook refuses it as a possible replay, the same as Stripe's.
const WebhookTolerance = 300 * time.Second

// IntentStatus is where a payment intent is in its life; the values and
// transitions are Stripe's.
type IntentStatus string

// The states of a payment intent. A new intent waits in
// IntentRequiresPaymentMethod; a declined card puts it back there with a
// failure; IntentSucceeded and IntentCanceled are final.
const (
	IntentRequiresPaymentMethod IntentStatus = "requires_payment_method"
	IntentRequiresConfirmation  IntentStatus = "requires_confirmation"
	IntentRequiresAction        IntentStatus = "requires_action"
	IntentProcessing            IntentStatus = "processing"
	IntentRequiresCapture       IntentStatus = "requires_capture"
	IntentCanceled              IntentStatus = "canceled"
	IntentSucceeded             IntentStatus = "succeeded"
)

// Final reports whether no further transition can happen.
func (s IntentStatus) Final() bool { return s == IntentSucceeded || s == IntentCanceled }

// Cancelable reports whether an intent in s may still be cancelled.
func (s IntentStatus) Cancelable() bool {
	switch s {
	case IntentRequiresPaymentMethod, IntentRequiresConfirmation, IntentRequiresAction,
		IntentProcessing, IntentRequiresCapture:
		return true
	}
	return false
}

// RefundStatus is where a refund is in its life; the values are Stripe's.
type RefundStatus string

// The states of a refund. Card refunds usually succeed at once; others may
// stay pending and settle later through a webhook.
const (
	RefundPending        RefundStatus = "pending"
	RefundRequiresAction RefundStatus = "requires_action"
	RefundSucceeded      RefundStatus = "succeeded"
	RefundFailed         RefundStatus = "failed"
	RefundCanceled       RefundStatus = "canceled"
)

// RefundReason tells the provider why money goes back; empty says nothing.
type RefundReason string

// The refund reasons providers understand.
const (
	ReasonRequestedByCustomer RefundReason = "requested_by_customer"
	ReasonDuplicate           RefundReason = "duplicate"
	ReasonFraudulent          RefundReason = "fraudulent"
)

// TransferStatus is where a transfer to a connected account is.
type TransferStatus string

// The states of a transfer: paid once created, reversed when the platform
// took it back.
const (
	TransferPaid     TransferStatus = "paid"
	TransferReversed TransferStatus = "reversed"
)

// IntentRequest asks for a new payment intent.
type IntentRequest struct {
	// Amount is what the shopper pays, positive, from the server's prices.
	Amount money.Money
	// IdempotencyKey makes retries safe (for an order: derived from its id).
	IdempotencyKey string
	// Description is shown on the provider's dashboard and receipts.
	Description string
	// Metadata travels with the intent and its webhooks (order_id, kind).
	Metadata map[string]string
}

// Intent is a payment the shopper completes in the player.
type Intent struct {
	Provider string
	ID       string
	// ClientSecret lets the shopper's browser confirm this intent and only
	// this one; hand it to the intent's shopper and nobody else.
	ClientSecret string
	Status       IntentStatus
	Amount       money.Money
	Description  string
	Metadata     map[string]string
	// FailureCode and FailureReason describe the last failed attempt
	// (decline code such as "generic_decline" and a message for people).
	FailureCode   string
	FailureReason string
	Created       time.Time
}

// RefundRequest asks to return money of a succeeded intent.
type RefundRequest struct {
	IntentID string
	// Amount to refund; the zero Money refunds everything not yet refunded.
	Amount         money.Money
	IdempotencyKey string
	Reason         RefundReason
	Metadata       map[string]string
}

// Refund is money returned to the shopper.
type Refund struct {
	Provider      string
	ID            string
	IntentID      string
	Status        RefundStatus
	Amount        money.Money
	Reason        RefundReason
	FailureReason string
	Metadata      map[string]string
	Created       time.Time
}

// TransferRequest asks to pay a connected account from the platform balance.
type TransferRequest struct {
	// Destination is the connected account id (Stripe's acct_…).
	Destination    string
	Amount         money.Money
	IdempotencyKey string
	Description    string
	Metadata       map[string]string
}

// Transfer is money sent to a connected account.
type Transfer struct {
	Provider    string
	ID          string
	Destination string
	Status      TransferStatus
	Amount      money.Money
	Metadata    map[string]string
	Created     time.Time
}

// EventType is the provider-neutral kind of a webhook event.
type EventType string

// The webhook events daihuo acts on. Providers deliver webhooks at least
// once and in no guaranteed order: consumers dedupe by WebhookEvent.ID, and
// refunds by RefundID (one refund may be reported by several events).
const (
	// EventIntentSucceeded: the shopper paid; Amount is what was received.
	EventIntentSucceeded EventType = "intent.succeeded"
	// EventIntentFailed: an attempt was declined or failed; the intent
	// waits for another payment method.
	EventIntentFailed EventType = "intent.failed"
	// EventIntentCanceled: the intent can no longer be paid.
	EventIntentCanceled EventType = "intent.canceled"
	// EventRefundSucceeded: the refund RefundID of Amount is done.
	EventRefundSucceeded EventType = "refund.succeeded"
	// EventRefundFailed: the refund RefundID failed or was cancelled; the
	// money stays with the platform.
	EventRefundFailed EventType = "refund.failed"
	// EventChargeRefunded: the intent's charge was refunded in part or in
	// full; Amount is the total refunded so far, not this refund's amount.
	EventChargeRefunded EventType = "charge.refunded"
	// EventTransferCreated: the transfer TransferID reached its destination.
	EventTransferCreated EventType = "transfer.created"
	// EventTransferReversed: the transfer was taken back; Amount is the
	// total reversed so far.
	EventTransferReversed EventType = "transfer.reversed"
	// EventUnhandled: a verified event daihuo has no use for; acknowledge it.
	EventUnhandled EventType = "unhandled"
)

// WebhookEvent is a verified provider webhook in daihuo's terms.
type WebhookEvent struct {
	Provider string
	// ID is the provider's event id, unique per event, stable across
	// redeliveries: the key for deduplication.
	ID   string
	Type EventType
	// ProviderType is the provider's own event type (payment_intent.succeeded).
	ProviderType string
	IntentID     string
	RefundID     string
	TransferID   string
	Amount       money.Money
	// Status is the object's status as the provider reported it.
	Status        string
	FailureCode   string
	FailureReason string
	// Metadata is the metadata of the object the event is about, so the
	// order_id given at creation comes back with the event.
	Metadata map[string]string
	Created  time.Time
}
