// Package localstate declares the state of the offline payment simulator
// (payments/local): its intents, refunds, transfers and webhook events, and
// the store that keeps them. It lives in domain so that storage can keep
// that state without importing the simulator.
package localstate

import (
	"context"
	"time"
)

// Store keeps the simulator's state, so every node and every restart sees
// the same intents, refunds, transfers and pending webhooks. storage
// implements it on Postgres (storage.PaymentsLocalStore).
//
// The simulator stands for an external provider, whose effects never roll
// back with its client's transaction: InTx must run fn in a transaction of
// its own even when ctx carries the caller's, and the other methods join the
// transaction InTx put in their ctx.
type Store interface {
	// InTx runs fn in a new transaction, committing when fn returns nil.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// InsertIntent stores it unless its idempotency key is already taken,
	// and returns the stored intent and whether it is the one just inserted.
	InsertIntent(ctx context.Context, it IntentRecord) (IntentRecord, bool, error)
	// Intent returns the intent id, locked until the transaction ends when
	// forUpdate is set; payment.ErrIntentNotFound when there is none.
	Intent(ctx context.Context, id string, forUpdate bool) (IntentRecord, error)
	// UpdateIntent writes the status, failure and update time of it.
	UpdateIntent(ctx context.Context, it IntentRecord) error
	// InsertRefund stores r unless its idempotency key is already taken,
	// and returns the stored refund and whether it is r.
	InsertRefund(ctx context.Context, r RefundRecord) (RefundRecord, bool, error)
	// Refund returns the refund id; payment.ErrRefundNotFound when there is
	// none.
	Refund(ctx context.Context, id string) (RefundRecord, error)
	// Refunds returns the refunds of an intent, oldest first.
	Refunds(ctx context.Context, intentID string) ([]RefundRecord, error)
	// InsertTransfer stores tr unless its idempotency key is already taken,
	// and returns the stored transfer and whether it is tr.
	InsertTransfer(ctx context.Context, tr TransferRecord) (TransferRecord, bool, error)
	// InsertEvent queues a webhook event for delivery at ev.NextAttemptAt.
	InsertEvent(ctx context.Context, ev EventRecord) error
	// ClaimEvents takes up to limit undelivered events due at now, hiding
	// them from other claims until now+lease, and returns them.
	ClaimEvents(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]EventRecord, error)
	// MarkDelivered records that event id was delivered at t.
	MarkDelivered(ctx context.Context, id string, t time.Time) error
	// MarkFailed records a failed attempt of event id and when to retry.
	MarkFailed(ctx context.Context, id string, attempts int, next time.Time, lastError string) error
	// Event returns the webhook event id, or errs.ErrNotFound.
	Event(ctx context.Context, id string) (EventRecord, error)
}

// IntentRecord is a stored payment intent.
type IntentRecord struct {
	ID             string
	ClientSecret   string
	IdempotencyKey string // empty: none
	Amount         int64
	Currency       string // ISO 4217, upper case
	Description    string
	Metadata       map[string]string
	Status         string
	FailureCode    string
	FailureMessage string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// RefundRecord is a stored refund.
type RefundRecord struct {
	ID             string
	IdempotencyKey string
	IntentID       string
	Amount         int64
	Currency       string
	Reason         string
	Status         string
	Metadata       map[string]string
	CreatedAt      time.Time
}

// TransferRecord is a stored transfer.
type TransferRecord struct {
	ID             string
	IdempotencyKey string
	Destination    string
	Amount         int64
	Currency       string
	Description    string
	Metadata       map[string]string
	CreatedAt      time.Time
}

// EventRecord is a webhook event waiting for, or done with, delivery.
type EventRecord struct {
	ID            string
	Type          string
	Payload       []byte // the event JSON; signed afresh at every attempt
	CreatedAt     time.Time
	Attempts      int
	NextAttemptAt time.Time
	DeliveredAt   time.Time // zero while undelivered
	LastError     string
}
