package wire

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event is a Stripe event as delivered to a webhook endpoint.
type Event struct {
	ID              string       `json:"id"`
	Object          string       `json:"object"`
	APIVersion      string       `json:"api_version"`
	Created         int64        `json:"created"`
	Data            EventData    `json:"data"`
	Livemode        bool         `json:"livemode"`
	PendingWebhooks int          `json:"pending_webhooks"`
	Request         EventRequest `json:"request"`
	Type            string       `json:"type"`
}

// EventData holds the object the event is about.
type EventData struct {
	Object any `json:"object"`
}

// EventRequest names the API request that caused the event.
type EventRequest struct {
	ID             *string `json:"id"`
	IdempotencyKey *string `json:"idempotency_key"`
}

// PaymentIntent is the subset of Stripe's payment_intent object daihuo uses.
type PaymentIntent struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	Amount             int64             `json:"amount"`
	AmountCapturable   int64             `json:"amount_capturable"`
	AmountReceived     int64             `json:"amount_received"`
	CanceledAt         *int64            `json:"canceled_at"`
	CancellationReason *string           `json:"cancellation_reason"`
	CaptureMethod      string            `json:"capture_method"`
	ClientSecret       string            `json:"client_secret"`
	ConfirmationMethod string            `json:"confirmation_method"`
	Created            int64             `json:"created"`
	Currency           string            `json:"currency"`
	Description        *string           `json:"description"`
	LastPaymentError   *PaymentError     `json:"last_payment_error"`
	Livemode           bool              `json:"livemode"`
	Metadata           map[string]string `json:"metadata"`
	PaymentMethodTypes []string          `json:"payment_method_types"`
	Status             string            `json:"status"`
}

// PaymentError is Stripe's last_payment_error of an intent.
type PaymentError struct {
	Type        string `json:"type"`
	Code        string `json:"code"`
	DeclineCode string `json:"decline_code,omitempty"`
	Message     string `json:"message"`
}

// Refund is the subset of Stripe's refund object daihuo uses.
type Refund struct {
	ID            string            `json:"id"`
	Object        string            `json:"object"`
	Amount        int64             `json:"amount"`
	Created       int64             `json:"created"`
	Currency      string            `json:"currency"`
	FailureReason *string           `json:"failure_reason,omitempty"`
	Metadata      map[string]string `json:"metadata"`
	PaymentIntent string            `json:"payment_intent"`
	Reason        *string           `json:"reason"`
	Status        string            `json:"status"`
}

// Transfer is the subset of Stripe's transfer object daihuo uses.
type Transfer struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	Amount         int64             `json:"amount"`
	AmountReversed int64             `json:"amount_reversed"`
	Created        int64             `json:"created"`
	Currency       string            `json:"currency"`
	Description    *string           `json:"description"`
	Destination    string            `json:"destination"`
	Livemode       bool              `json:"livemode"`
	Metadata       map[string]string `json:"metadata"`
	Reversed       bool              `json:"reversed"`
}

// Charge is the subset of Stripe's charge object a charge.refunded event
// carries.
type Charge struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	Amount         int64             `json:"amount"`
	AmountRefunded int64             `json:"amount_refunded"`
	Created        int64             `json:"created"`
	Currency       string            `json:"currency"`
	Metadata       map[string]string `json:"metadata"`
	PaymentIntent  string            `json:"payment_intent"`
	Refunded       bool              `json:"refunded"`
	Status         string            `json:"status"`
}

// NewEvent returns the JSON of a test-mode event of type typ about object,
// created at t: the payload a webhook endpoint receives.
func NewEvent(id, typ string, t time.Time, object any) ([]byte, error) {
	b, err := json.Marshal(Event{
		ID:              id,
		Object:          "event",
		APIVersion:      APIVersion,
		Created:         t.Unix(),
		Data:            EventData{Object: object},
		PendingWebhooks: 1,
		Type:            typ,
	})
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", typ, err)
	}
	return b, nil
}

// Opt returns a pointer to s, or nil for the empty string, as Stripe's
// nullable strings are.
func Opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
