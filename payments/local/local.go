// Package local is the offline payment provider of daihuo's default run: a
// simulator with Stripe's states, idempotency rules and signed webhooks, so
// the whole purchase flow runs without a Stripe account or a network.
//
// A shopper's browser confirms an intent with a test card through the api
// (POST /v1/payments/local/{intent_id}/confirm → Simulator.Confirm):
// 4242424242424242 succeeds, 4000000000000002 is declined. Every state change
// queues a Stripe-shaped event (same JSON, same Stripe-Signature scheme) that
// is handed to Config.Deliver, which the app wires to the handler of its
// Stripe webhook route, so the same ParseWebhook and order logic run as with
// Stripe.
//
// Delivery is at least once. Confirm delivers its event synchronously before
// it returns (so the order is already paid when the shopper's confirm call
// answers); refunds, transfers and cancellations are delivered by Run in the
// background, so a caller holding locks is never re-entered. A failed
// delivery is retried by Run with exponential backoff, from any node: events
// live in the Store, claimed under a lease.
package local

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/payment"
	"github.com/daihuo/daihuo/payments/internal/wire"
)

// The id prefixes of the simulator's objects, Stripe's with "_local".
const (
	PrefixIntent   = "pi_local"
	PrefixRefund   = "re_local"
	PrefixTransfer = "tr_local"
	PrefixEvent    = "evt_local"
	PrefixCharge   = "ch_local"
)

// The test cards of the simulator, Stripe's test numbers. Any other 16-digit
// number that passes the Luhn check succeeds like CardSucceeds.
const (
	CardSucceeds          = "4242424242424242"
	CardDeclined          = "4000000000000002" // generic_decline
	CardInsufficientFunds = "4000000000009995" // insufficient_funds
	CardExpired           = "4000000000000069" // expired_card
)

// DeliverFunc hands a signed webhook to the app, as Stripe's POST to the
// webhook route would: payload is the event JSON, signatureHeader the value of
// the Stripe-Signature header. An error means "not accepted, retry later".
type DeliverFunc func(ctx context.Context, payload []byte, signatureHeader string) error

// Config tunes the simulator. WebhookSecret and Deliver are required; zero
// durations take the defaults named beside them.
type Config struct {
	// WebhookSecret signs the webhooks and verifies them in ParseWebhook,
	// like Stripe's whsec_… endpoint secret.
	WebhookSecret string
	// Deliver receives every webhook.
	Deliver DeliverFunc
	// Logger reports failed deliveries; nil discards.
	Logger *slog.Logger
	// RetryBase is the wait after the first failed delivery, doubling at
	// every further failure up to RetryMax (1 s, 5 min).
	RetryBase, RetryMax time.Duration
	// PollInterval is how often Run looks for due deliveries that this
	// process did not queue itself (1 s).
	PollInterval time.Duration
	// DeliveryTimeout bounds one call of Deliver (10 s).
	DeliveryTimeout time.Duration
}

// Simulator is the local payment provider. It is safe for concurrent use,
// and several processes may share one Store.
type Simulator struct {
	store Store
	cfg   Config
	log   *slog.Logger
	lease time.Duration
	wake  chan struct{}
}

var _ payment.Gateway = (*Simulator)(nil)

// New returns a simulator keeping its state in store.
func New(store Store, cfg Config) (*Simulator, error) {
	switch {
	case store == nil:
		return nil, errors.New("local payments: no store")
	case cfg.WebhookSecret == "":
		return nil, errors.New("local payments: no webhook secret")
	case cfg.Deliver == nil:
		return nil, errors.New("local payments: no webhook delivery function")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.RetryBase, time.Second)
	def(&cfg.RetryMax, 5*time.Minute)
	def(&cfg.PollInterval, time.Second)
	def(&cfg.DeliveryTimeout, 10*time.Second)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Simulator{
		store: store,
		cfg:   cfg,
		log:   log,
		lease: cfg.DeliveryTimeout + 30*time.Second,
		wake:  make(chan struct{}, 1),
	}, nil
}

// Name returns payment.ProviderLocal.
func (s *Simulator) Name() string { return payment.ProviderLocal }

// CheckAmount reports whether the simulator, like Stripe, can take m.
func (s *Simulator) CheckAmount(m money.Money) error {
	_, _, err := wire.ToStripe(m)
	return err
}

func now() time.Time { return time.Now().UTC() }

// CreateIntent stores a new intent in requires_payment_method, or returns
// the intent created earlier with the same idempotency key.
func (s *Simulator) CreateIntent(ctx context.Context, req payment.IntentRequest) (payment.Intent, error) {
	if err := req.Validate(); err != nil {
		return payment.Intent{}, err
	}
	if _, _, err := wire.ToStripe(req.Amount); err != nil { // what Stripe would refuse
		return payment.Intent{}, err
	}
	t := now()
	it := IntentRecord{
		ID:             id.New(PrefixIntent, t),
		IdempotencyKey: req.IdempotencyKey,
		Amount:         req.Amount.Amount,
		Currency:       req.Amount.Currency,
		Description:    req.Description,
		Metadata:       cloneMeta(req.Metadata),
		Status:         string(payment.IntentRequiresPaymentMethod),
		CreatedAt:      t,
		UpdatedAt:      t,
	}
	it.ClientSecret = it.ID + "_secret_" + rand.Text()
	stored, created, err := s.store.InsertIntent(ctx, it)
	if err != nil {
		return payment.Intent{}, fmt.Errorf("create intent: %w", err)
	}
	if !created && (stored.Amount != it.Amount || stored.Currency != it.Currency ||
		stored.Description != it.Description || !maps.Equal(stored.Metadata, it.Metadata)) {
		return payment.Intent{}, fmt.Errorf("create intent: %w", payment.ErrIdempotencyConflict)
	}
	return intentOf(stored), nil
}

// GetIntent returns the stored intent.
func (s *Simulator) GetIntent(ctx context.Context, intentID string) (payment.Intent, error) {
	if payment.ValidateID("intent_id", intentID) != nil {
		return payment.Intent{}, fmt.Errorf("get intent: %w", payment.ErrIntentNotFound)
	}
	it, err := s.store.Intent(ctx, intentID, false)
	if err != nil {
		return payment.Intent{}, fmt.Errorf("get intent: %w", err)
	}
	return intentOf(it), nil
}

// GetRefund returns the refund refundID as the simulator holds it.
func (s *Simulator) GetRefund(ctx context.Context, refundID string) (payment.Refund, error) {
	if payment.ValidateID("refund_id", refundID) != nil {
		return payment.Refund{}, fmt.Errorf("get refund: %w", payment.ErrRefundNotFound)
	}
	r, err := s.store.Refund(ctx, refundID)
	if err != nil {
		return payment.Refund{}, fmt.Errorf("get refund: %w", err)
	}
	return refundOf(r), nil
}

// Confirm pays intentID with a test card on behalf of the shopper holding
// clientSecret, the simulator's stand-in for Stripe.js confirming a card
// payment, and delivers the resulting webhook before it returns.
//
// It returns the intent's new status: payment.IntentSucceeded, or, for a
// declined card, payment.IntentRequiresPaymentMethod together with a
// *payment.DeclineError (errors.Is payment.ErrDeclined) after delivering a
// payment_intent.payment_failed webhook. A card number that is not 16 digits
// (spaces allowed) or fails the Luhn check is a validation error; an unknown
// intent or a wrong client secret is payment.ErrIntentNotFound; an intent
// that succeeded or was cancelled is payment.ErrUnexpectedState. A failed
// webhook delivery does not fail Confirm: Run retries it.
func (s *Simulator) Confirm(ctx context.Context, intentID, clientSecret, cardNumber string) (payment.IntentStatus, error) {
	decline, err := cardOutcome(cardNumber)
	if err != nil {
		return "", err
	}
	if payment.ValidateID("intent_id", intentID) != nil {
		return "", fmt.Errorf("confirm intent: %w", payment.ErrIntentNotFound)
	}
	var (
		it IntentRecord
		ev EventRecord
	)
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if it, err = s.store.Intent(ctx, intentID, true); err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(it.ClientSecret), []byte(clientSecret)) != 1 {
			return payment.ErrIntentNotFound
		}
		switch payment.IntentStatus(it.Status) {
		case payment.IntentRequiresPaymentMethod, payment.IntentRequiresConfirmation:
		default:
			return fmt.Errorf("%w (status %s)", payment.ErrUnexpectedState, it.Status)
		}
		t := now()
		typ := wire.TypeIntentSucceeded
		it.Status, it.FailureCode, it.FailureMessage = string(payment.IntentSucceeded), "", ""
		if decline != nil {
			typ = wire.TypeIntentPaymentFailed
			it.Status = string(payment.IntentRequiresPaymentMethod)
			it.FailureCode, it.FailureMessage = decline.Code, decline.Message
		}
		it.UpdatedAt = t
		if err := s.store.UpdateIntent(ctx, it); err != nil {
			return err
		}
		// The event is queued already claimed by this call for its first
		// attempt below; if this process dies first, the lease runs out
		// and Run delivers it.
		ev, err = s.queueEvent(ctx, typ, t, t.Add(s.lease), intentObject(it))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("confirm intent: %w", err)
	}
	// The webhook comes from the provider, not from the shopper's request:
	// it must not be cut short when the shopper goes away.
	s.attempt(context.WithoutCancel(ctx), ev)
	if decline != nil {
		return payment.IntentStatus(it.Status), fmt.Errorf("confirm intent: %w", decline)
	}
	return payment.IntentStatus(it.Status), nil
}

// CancelIntent cancels an intent that has not succeeded and queues a
// payment_intent.canceled webhook.
func (s *Simulator) CancelIntent(ctx context.Context, intentID string) (payment.Intent, error) {
	if payment.ValidateID("intent_id", intentID) != nil {
		return payment.Intent{}, fmt.Errorf("cancel intent: %w", payment.ErrIntentNotFound)
	}
	var it IntentRecord
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if it, err = s.store.Intent(ctx, intentID, true); err != nil {
			return err
		}
		if !payment.IntentStatus(it.Status).Cancelable() {
			return fmt.Errorf("%w (status %s)", payment.ErrUnexpectedState, it.Status)
		}
		t := now()
		it.Status, it.UpdatedAt = string(payment.IntentCanceled), t
		if err := s.store.UpdateIntent(ctx, it); err != nil {
			return err
		}
		_, err = s.queueEvent(ctx, wire.TypeIntentCanceled, t, t, intentObject(it))
		return err
	})
	if err != nil {
		return payment.Intent{}, fmt.Errorf("cancel intent: %w", err)
	}
	s.notify()
	return intentOf(it), nil
}

// Refund returns money of a succeeded intent at once (refunds of the
// simulator always succeed) and queues refund.created and charge.refunded
// webhooks. The zero Amount refunds all that is left.
func (s *Simulator) Refund(ctx context.Context, req payment.RefundRequest) (payment.Refund, error) {
	if err := req.Validate(); err != nil {
		return payment.Refund{}, err
	}
	if req.Amount.Currency != "" {
		if _, _, err := wire.ToStripe(req.Amount); err != nil {
			return payment.Refund{}, err
		}
	}
	var (
		out    RefundRecord
		queued bool
	)
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		// Locking the intent serialises the refunds of one payment, so the
		// amount left is read and spent by one refund at a time.
		it, err := s.store.Intent(ctx, req.IntentID, true)
		if err != nil {
			return err
		}
		refunds, err := s.store.Refunds(ctx, it.ID)
		if err != nil {
			return err
		}
		if req.IdempotencyKey != "" {
			for _, r := range refunds {
				if r.IdempotencyKey == req.IdempotencyKey {
					out = r
					return sameRefund(r, req)
				}
			}
		}
		if payment.IntentStatus(it.Status) != payment.IntentSucceeded {
			return fmt.Errorf("%w (status %s)", payment.ErrUnexpectedState, it.Status)
		}
		if req.Amount.Currency != "" && req.Amount.Currency != it.Currency {
			return money.ErrCurrencyMismatch
		}
		var refunded int64
		for _, r := range refunds {
			if r.Status == string(payment.RefundSucceeded) || r.Status == string(payment.RefundPending) {
				refunded += r.Amount
			}
		}
		left := it.Amount - refunded
		amount := req.Amount.Amount
		if amount == 0 {
			amount = left
		}
		if amount <= 0 || amount > left {
			return payment.ErrRefundTooLarge
		}
		t := now()
		r := RefundRecord{
			ID:             id.New(PrefixRefund, t),
			IdempotencyKey: req.IdempotencyKey,
			IntentID:       it.ID,
			Amount:         amount,
			Currency:       it.Currency,
			Reason:         string(req.Reason),
			Status:         string(payment.RefundSucceeded),
			Metadata:       cloneMeta(req.Metadata),
			CreatedAt:      t,
		}
		stored, created, err := s.store.InsertRefund(ctx, r)
		if err != nil {
			return err
		}
		out = stored
		if !created { // the key belongs to a refund of another intent
			return sameRefund(stored, req)
		}
		if _, err := s.queueEvent(ctx, wire.TypeRefundCreated, t, t, refundObject(r)); err != nil {
			return err
		}
		queued = true
		_, err = s.queueEvent(ctx, wire.TypeChargeRefunded, t, t, chargeObject(it, refunded+amount))
		return err
	})
	if err != nil {
		return payment.Refund{}, fmt.Errorf("refund: %w", err)
	}
	if queued {
		s.notify()
	}
	return refundOf(out), nil
}

// sameRefund accepts a retry of r: same intent, same amount (or the zero
// "all that is left"), same reason.
func sameRefund(r RefundRecord, req payment.RefundRequest) error {
	amountOK := req.Amount == (money.Money{}) || (req.Amount.Amount == r.Amount && req.Amount.Currency == r.Currency)
	if r.IntentID != req.IntentID || !amountOK || r.Reason != string(req.Reason) {
		return payment.ErrIdempotencyConflict
	}
	return nil
}

// Transfer pays a connected account (any id starting "acct_") at once and
// queues a transfer.created webhook. The simulator's platform balance is
// unlimited.
func (s *Simulator) Transfer(ctx context.Context, req payment.TransferRequest) (payment.Transfer, error) {
	if err := req.Validate(); err != nil {
		return payment.Transfer{}, err
	}
	if _, _, err := wire.ToStripe(req.Amount); err != nil {
		return payment.Transfer{}, err
	}
	if !strings.HasPrefix(req.Destination, "acct_") {
		return payment.Transfer{}, errs.Invalid("destination", "must be a connected account id (acct_…)")
	}
	var (
		out    TransferRecord
		queued bool
	)
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		t := now()
		tr := TransferRecord{
			ID:             id.New(PrefixTransfer, t),
			IdempotencyKey: req.IdempotencyKey,
			Destination:    req.Destination,
			Amount:         req.Amount.Amount,
			Currency:       req.Amount.Currency,
			Description:    req.Description,
			Metadata:       cloneMeta(req.Metadata),
			CreatedAt:      t,
		}
		stored, created, err := s.store.InsertTransfer(ctx, tr)
		if err != nil {
			return err
		}
		out = stored
		if !created {
			if stored.Destination != tr.Destination || stored.Amount != tr.Amount || stored.Currency != tr.Currency ||
				stored.Description != tr.Description || !maps.Equal(stored.Metadata, tr.Metadata) {
				return payment.ErrIdempotencyConflict
			}
			return nil
		}
		queued = true
		_, err = s.queueEvent(ctx, wire.TypeTransferCreated, t, t, transferObject(tr))
		return err
	})
	if err != nil {
		return payment.Transfer{}, fmt.Errorf("transfer: %w", err)
	}
	if queued {
		s.notify()
	}
	return transferOf(out), nil
}

// ParseWebhook verifies a webhook signed with Config.WebhookSecret and maps
// it like the Stripe adapter does (the parser is the same).
func (s *Simulator) ParseWebhook(payload []byte, signatureHeader string) (payment.WebhookEvent, error) {
	return wire.Parse(payment.ProviderLocal, payload, signatureHeader, s.cfg.WebhookSecret)
}

// queueEvent stores a webhook event of type typ about object, created at t
// and due at due, in the transaction of ctx, and returns it.
func (s *Simulator) queueEvent(ctx context.Context, typ string, t, due time.Time, object any) (EventRecord, error) {
	evID := id.New(PrefixEvent, t)
	payload, err := wire.NewEvent(evID, typ, t, object)
	if err != nil {
		return EventRecord{}, err
	}
	ev := EventRecord{ID: evID, Type: typ, Payload: payload, CreatedAt: t, NextAttemptAt: due}
	return ev, s.store.InsertEvent(ctx, ev)
}

func cloneMeta(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	maps.Copy(out, m)
	return out
}

func intentOf(it IntentRecord) payment.Intent {
	return payment.Intent{
		Provider:      payment.ProviderLocal,
		ID:            it.ID,
		ClientSecret:  it.ClientSecret,
		Status:        payment.IntentStatus(it.Status),
		Amount:        money.Money{Amount: it.Amount, Currency: it.Currency},
		Description:   it.Description,
		Metadata:      cloneMeta(it.Metadata),
		FailureCode:   it.FailureCode,
		FailureReason: it.FailureMessage,
		Created:       it.CreatedAt.UTC(),
	}
}

func refundOf(r RefundRecord) payment.Refund {
	return payment.Refund{
		Provider: payment.ProviderLocal,
		ID:       r.ID,
		IntentID: r.IntentID,
		Status:   payment.RefundStatus(r.Status),
		Amount:   money.Money{Amount: r.Amount, Currency: r.Currency},
		Reason:   payment.RefundReason(r.Reason),
		Metadata: cloneMeta(r.Metadata),
		Created:  r.CreatedAt.UTC(),
	}
}

func transferOf(tr TransferRecord) payment.Transfer {
	return payment.Transfer{
		Provider:    payment.ProviderLocal,
		ID:          tr.ID,
		Destination: tr.Destination,
		Status:      payment.TransferPaid,
		Amount:      money.Money{Amount: tr.Amount, Currency: tr.Currency},
		Metadata:    cloneMeta(tr.Metadata),
		Created:     tr.CreatedAt.UTC(),
	}
}

// stripeAmount is amount, in daihuo's minor units of currency, as Stripe
// counts it (wire.ToStripe). The simulator takes only amounts Stripe can
// represent; one stored before it refused the others is written as it is.
func stripeAmount(amount int64, currency string) int64 {
	n, _, err := wire.ToStripe(money.Money{Amount: amount, Currency: currency})
	if err != nil {
		return amount
	}
	return n
}

// intentObject is the intent as Stripe's payment_intent JSON.
func intentObject(it IntentRecord) wire.PaymentIntent {
	pi := wire.PaymentIntent{
		ID:                 it.ID,
		Object:             "payment_intent",
		Amount:             stripeAmount(it.Amount, it.Currency),
		CaptureMethod:      "automatic",
		ClientSecret:       it.ClientSecret,
		ConfirmationMethod: "automatic",
		Created:            it.CreatedAt.Unix(),
		Currency:           wire.Currency(it.Currency),
		Description:        wire.Opt(it.Description),
		Metadata:           cloneMeta(it.Metadata),
		PaymentMethodTypes: []string{"card"},
		Status:             it.Status,
	}
	switch payment.IntentStatus(it.Status) {
	case payment.IntentSucceeded:
		pi.AmountReceived = pi.Amount
	case payment.IntentCanceled:
		at := it.UpdatedAt.Unix()
		pi.CanceledAt = &at
	}
	if it.FailureCode != "" {
		pi.LastPaymentError = &wire.PaymentError{
			Type: "card_error", Code: "card_declined", DeclineCode: it.FailureCode, Message: it.FailureMessage,
		}
	}
	return pi
}

// chargeObject is the intent's charge after refunded minor units went back.
func chargeObject(it IntentRecord, refunded int64) wire.Charge {
	return wire.Charge{
		ID:             PrefixCharge + strings.TrimPrefix(it.ID, PrefixIntent),
		Object:         "charge",
		Amount:         stripeAmount(it.Amount, it.Currency),
		AmountRefunded: stripeAmount(refunded, it.Currency),
		Created:        it.CreatedAt.Unix(),
		Currency:       wire.Currency(it.Currency),
		Metadata:       cloneMeta(it.Metadata),
		PaymentIntent:  it.ID,
		Refunded:       refunded >= it.Amount,
		Status:         "succeeded",
	}
}

func refundObject(r RefundRecord) wire.Refund {
	return wire.Refund{
		ID:            r.ID,
		Object:        "refund",
		Amount:        stripeAmount(r.Amount, r.Currency),
		Created:       r.CreatedAt.Unix(),
		Currency:      wire.Currency(r.Currency),
		Metadata:      cloneMeta(r.Metadata),
		PaymentIntent: r.IntentID,
		Reason:        wire.Opt(r.Reason),
		Status:        r.Status,
	}
}

func transferObject(tr TransferRecord) wire.Transfer {
	return wire.Transfer{
		ID:          tr.ID,
		Object:      "transfer",
		Amount:      stripeAmount(tr.Amount, tr.Currency),
		Created:     tr.CreatedAt.Unix(),
		Currency:    wire.Currency(tr.Currency),
		Description: wire.Opt(tr.Description),
		Destination: tr.Destination,
		Metadata:    cloneMeta(tr.Metadata),
	}
}
