// Package stripe is the payment gateway on Stripe: PaymentIntents for
// shoppers' payments, Refunds, Connect Transfers for payouts, and Stripe's
// signed webhooks. It uses stripe-go v76 through a client of its own (no
// package globals), which tests point at stripe-mock.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/paymentintent"
	"github.com/stripe/stripe-go/v76/refund"
	"github.com/stripe/stripe-go/v76/transfer"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/payment"
	"github.com/daihuo/daihuo/payments/internal/wire"
)

// Config says how to reach Stripe. SecretKey and WebhookSecret are required.
type Config struct {
	// SecretKey is the account's secret API key (STRIPE_SECRET_KEY, sk_…).
	SecretKey string
	// WebhookSecret is the signing secret of the webhook endpoint
	// (STRIPE_WEBHOOK_SECRET, whsec_…).
	WebhookSecret string
	// APIURL replaces https://api.stripe.com, for stripe-mock in tests.
	APIURL string
	// HTTPClient replaces stripe-go's default client (80 s timeout).
	HTTPClient *http.Client
	// MaxNetworkRetries is how often stripe-go retries a request that failed
	// on the network or with 409/5xx; POSTs carry idempotency keys, so
	// retries are safe. Zero means 2; negative means none.
	MaxNetworkRetries int
	// PaymentMethodTypes are the payment method types of every intent;
	// empty means DefaultPaymentMethodTypes (cards), unless
	// AutomaticPaymentMethods is set. Methods that settle later (bank
	// debits, vouchers) leave an intent processing for days, longer than an
	// order waits for its payment.
	PaymentMethodTypes []string
	// AutomaticPaymentMethods lets Stripe offer every method enabled in the
	// dashboard instead of PaymentMethodTypes (which must then be empty).
	AutomaticPaymentMethods bool
	// Logger receives stripe-go's messages; nil discards them.
	Logger *slog.Logger
}

// Gateway implements payment.Gateway on Stripe.
type Gateway struct {
	// One client per resource rather than stripe-go's client.API, which
	// imports every resource package of the API (and takes a minute to
	// compile on a small machine) for the three daihuo uses.
	intents       paymentintent.Client
	refunds       refund.Client
	transfers     transfer.Client
	webhookSecret string
	methodTypes   []string // nil with automatic payment methods
}

var _ payment.Gateway = (*Gateway)(nil)

// DefaultPaymentMethodTypes are the payment method types of intents when
// Config names none: cards, which succeed or fail while the shopper waits.
func DefaultPaymentMethodTypes() []string { return []string{"card"} }

// ErrRequestInProgress says Stripe is still running another request with
// the same idempotency key (idempotency_key_in_use, 409): the outcome is
// not known yet, and the same request may be sent again later. It has no
// errs code, so callers treat it as the provider not answering.
var ErrRequestInProgress = errors.New("another request with the same idempotency key is still in progress at Stripe")

// ErrWebhookAPIVersion refuses a correctly signed webhook of another API
// version than the one stripe-go v76 reads (2023-10-16). It has no errs
// code: the api answers 500 and logs it, and Stripe keeps retrying until
// the webhook endpoint's API version is set to 2023-10-16.
var ErrWebhookAPIVersion = wire.ErrAPIVersionMismatch

// New returns a gateway on the Stripe account of cfg.SecretKey.
func New(cfg Config) (*Gateway, error) {
	switch {
	case cfg.SecretKey == "":
		return nil, errors.New("stripe: no secret key")
	case cfg.WebhookSecret == "":
		return nil, errors.New("stripe: no webhook signing secret")
	case cfg.AutomaticPaymentMethods && len(cfg.PaymentMethodTypes) > 0:
		return nil, errors.New("stripe: automatic payment methods and payment method types exclude each other")
	}
	methods := slices.Clone(cfg.PaymentMethodTypes)
	switch {
	case cfg.AutomaticPaymentMethods:
		methods = nil
	case len(methods) == 0:
		methods = DefaultPaymentMethodTypes()
	}
	retries := int64(cfg.MaxNetworkRetries)
	switch {
	case retries == 0:
		retries = 2
	case retries < 0:
		retries = 0
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	backend := func(typ stripego.SupportedBackend, url string) stripego.Backend {
		bc := &stripego.BackendConfig{
			HTTPClient:        cfg.HTTPClient,
			LeveledLogger:     slogLogger{log},
			MaxNetworkRetries: stripego.Int64(retries),
			EnableTelemetry:   stripego.Bool(false),
		}
		if url != "" {
			bc.URL = stripego.String(url)
		}
		return stripego.GetBackendWithConfig(typ, bc)
	}
	api := backend(stripego.APIBackend, cfg.APIURL)
	return &Gateway{
		intents:       paymentintent.Client{B: api, Key: cfg.SecretKey},
		refunds:       refund.Client{B: api, Key: cfg.SecretKey},
		transfers:     transfer.Client{B: api, Key: cfg.SecretKey},
		webhookSecret: cfg.WebhookSecret,
		methodTypes:   methods,
	}, nil
}

// Name returns payment.ProviderStripe.
func (g *Gateway) Name() string { return payment.ProviderStripe }

// CheckAmount reports whether Stripe can take m (see wire.ToStripe).
func (g *Gateway) CheckAmount(m money.Money) error {
	_, _, err := wire.ToStripe(m)
	return err
}

func params(ctx context.Context, idempotencyKey string) stripego.Params {
	p := stripego.Params{Context: ctx}
	if idempotencyKey != "" {
		p.SetIdempotencyKey(idempotencyKey)
	}
	return p
}

// CreateIntent creates a PaymentIntent.
func (g *Gateway) CreateIntent(ctx context.Context, req payment.IntentRequest) (payment.Intent, error) {
	if err := req.Validate(); err != nil {
		return payment.Intent{}, err
	}
	amount, currency, err := wire.ToStripe(req.Amount)
	if err != nil {
		return payment.Intent{}, fmt.Errorf("stripe create intent: %w", err)
	}
	p := &stripego.PaymentIntentParams{
		Params:   params(ctx, req.IdempotencyKey),
		Amount:   stripego.Int64(amount),
		Currency: stripego.String(currency),
		Metadata: req.Metadata,
	}
	if req.Description != "" {
		p.Description = stripego.String(req.Description)
	}
	if len(g.methodTypes) > 0 {
		p.PaymentMethodTypes = stripego.StringSlice(g.methodTypes)
	} else {
		p.AutomaticPaymentMethods = &stripego.PaymentIntentAutomaticPaymentMethodsParams{Enabled: stripego.Bool(true)}
	}
	pi, err := g.intents.New(p)
	if err != nil {
		return payment.Intent{}, mapError("create intent", err)
	}
	return toIntent("create intent", pi)
}

// GetIntent retrieves a PaymentIntent.
func (g *Gateway) GetIntent(ctx context.Context, intentID string) (payment.Intent, error) {
	if payment.ValidateID("intent_id", intentID) != nil {
		return payment.Intent{}, fmt.Errorf("stripe get intent: %w", payment.ErrIntentNotFound)
	}
	pi, err := g.intents.Get(intentID, &stripego.PaymentIntentParams{Params: params(ctx, "")})
	if err != nil {
		return payment.Intent{}, mapError("get intent", err)
	}
	return toIntent("get intent", pi)
}

// CancelIntent cancels a PaymentIntent as abandoned.
func (g *Gateway) CancelIntent(ctx context.Context, intentID string) (payment.Intent, error) {
	if payment.ValidateID("intent_id", intentID) != nil {
		return payment.Intent{}, fmt.Errorf("stripe cancel intent: %w", payment.ErrIntentNotFound)
	}
	pi, err := g.intents.Cancel(intentID, &stripego.PaymentIntentCancelParams{
		Params:             params(ctx, ""),
		CancellationReason: stripego.String(string(stripego.PaymentIntentCancellationReasonAbandoned)),
	})
	if err != nil {
		return payment.Intent{}, mapError("cancel intent", err)
	}
	return toIntent("cancel intent", pi)
}

// Refund creates a Refund of the intent's charge; the zero Amount refunds
// all that is left.
func (g *Gateway) Refund(ctx context.Context, req payment.RefundRequest) (payment.Refund, error) {
	if err := req.Validate(); err != nil {
		return payment.Refund{}, err
	}
	p := &stripego.RefundParams{
		Params:        params(ctx, req.IdempotencyKey),
		PaymentIntent: stripego.String(req.IntentID),
		Metadata:      req.Metadata,
	}
	if req.Amount.Amount > 0 {
		amount, _, err := wire.ToStripe(req.Amount)
		if err != nil {
			return payment.Refund{}, fmt.Errorf("stripe %s: %w", opRefund, err)
		}
		p.Amount = stripego.Int64(amount)
	}
	if req.Reason != "" {
		p.Reason = stripego.String(string(req.Reason))
	}
	r, err := g.refunds.New(p)
	if err != nil {
		return payment.Refund{}, mapError(opRefund, err)
	}
	return toRefund(opRefund, r, req.IntentID)
}

// GetRefund retrieves a Refund.
func (g *Gateway) GetRefund(ctx context.Context, refundID string) (payment.Refund, error) {
	if payment.ValidateID("refund_id", refundID) != nil {
		return payment.Refund{}, fmt.Errorf("stripe get refund: %w", payment.ErrRefundNotFound)
	}
	r, err := g.refunds.Get(refundID, &stripego.RefundParams{Params: params(ctx, "")})
	if err != nil {
		return payment.Refund{}, mapError(opGetRefund, err)
	}
	return toRefund(opGetRefund, r, "")
}

// toRefund converts Stripe's refund, asked for by op; intentID stands in
// for an intent Stripe did not name.
func toRefund(op string, r *stripego.Refund, intentID string) (payment.Refund, error) {
	amount, err := wire.FromStripe(r.Amount, string(r.Currency))
	if err != nil {
		return payment.Refund{}, fmt.Errorf("stripe %s %s: %w", op, r.ID, err)
	}
	out := payment.Refund{
		Provider:      payment.ProviderStripe,
		ID:            r.ID,
		IntentID:      intentID,
		Status:        payment.RefundStatus(r.Status),
		Amount:        amount,
		Reason:        payment.RefundReason(r.Reason),
		FailureReason: string(r.FailureReason),
		Metadata:      r.Metadata,
		Created:       time.Unix(r.Created, 0).UTC(),
	}
	if r.PaymentIntent != nil && r.PaymentIntent.ID != "" {
		out.IntentID = r.PaymentIntent.ID
	}
	return out, nil
}

// Transfer creates a Connect Transfer to the destination account.
func (g *Gateway) Transfer(ctx context.Context, req payment.TransferRequest) (payment.Transfer, error) {
	if err := req.Validate(); err != nil {
		return payment.Transfer{}, err
	}
	amount, currency, err := wire.ToStripe(req.Amount)
	if err != nil {
		return payment.Transfer{}, fmt.Errorf("stripe %s: %w", opTransfer, err)
	}
	p := &stripego.TransferParams{
		Params:      params(ctx, req.IdempotencyKey),
		Amount:      stripego.Int64(amount),
		Currency:    stripego.String(currency),
		Destination: stripego.String(req.Destination),
		Metadata:    req.Metadata,
	}
	if req.Description != "" {
		p.Description = stripego.String(req.Description)
	}
	tr, err := g.transfers.New(p)
	if err != nil {
		return payment.Transfer{}, mapError(opTransfer, err)
	}
	sent, err := wire.FromStripe(tr.Amount, string(tr.Currency))
	if err != nil {
		return payment.Transfer{}, fmt.Errorf("stripe %s %s: %w", opTransfer, tr.ID, err)
	}
	out := payment.Transfer{
		Provider:    payment.ProviderStripe,
		ID:          tr.ID,
		Destination: req.Destination,
		Status:      payment.TransferPaid,
		Amount:      sent,
		Metadata:    tr.Metadata,
		Created:     time.Unix(tr.Created, 0).UTC(),
	}
	if tr.Destination != nil && tr.Destination.ID != "" {
		out.Destination = tr.Destination.ID
	}
	if tr.Reversed {
		out.Status = payment.TransferReversed
	}
	return out, nil
}

// ParseWebhook verifies a Stripe webhook with the endpoint's signing secret
// (webhook.ConstructEvent, 300 s tolerance) and maps it:
// payment_intent.succeeded, .payment_failed and .canceled; refund.created,
// refund.updated and charge.refund.updated (by the refund's status);
// charge.refunded; transfer.created and transfer.reversed. Subscribe the
// endpoint to those, with API version 2023-10-16: an event of another
// version fails with ErrWebhookAPIVersion, not payment.ErrInvalidWebhook.
func (g *Gateway) ParseWebhook(payload []byte, signatureHeader string) (payment.WebhookEvent, error) {
	return wire.Parse(payment.ProviderStripe, payload, signatureHeader, g.webhookSecret)
}

func toIntent(op string, pi *stripego.PaymentIntent) (payment.Intent, error) {
	amount, err := wire.FromStripe(pi.Amount, string(pi.Currency))
	if err != nil {
		return payment.Intent{}, fmt.Errorf("stripe %s %s: %w", op, pi.ID, err)
	}
	out := payment.Intent{
		Provider:     payment.ProviderStripe,
		ID:           pi.ID,
		ClientSecret: pi.ClientSecret,
		Status:       payment.IntentStatus(pi.Status),
		Amount:       amount,
		Description:  pi.Description,
		Metadata:     pi.Metadata,
		Created:      time.Unix(pi.Created, 0).UTC(),
	}
	if e := pi.LastPaymentError; e != nil {
		out.FailureCode = wire.FailureCode(e)
		out.FailureReason = e.Msg
	}
	return out, nil
}

// The operations mapError tells apart.
const (
	opTransfer  = "transfer"
	opRefund    = "refund"
	opGetRefund = "get refund"
)

// mapError turns Stripe's error replies into the port's. Definitive
// refusals get the port's kinds: declines (payment.DeclineError),
// idempotency keys reused with other parameters, unknown objects, states
// that do not allow the operation, refunds above what is left, and every
// other invalid request answered 400 or 402 (amount_too_small, parameter
// errors…) as a validation error on the parameter Stripe names. The rest is
// wrapped as it is, unexpected for the business and safe to retry: the
// network, authentication and permissions (401, 403), rate limits (429),
// Stripe's outages (5xx) and a request still running under the same
// idempotency key (ErrRequestInProgress).
func mapError(op string, err error) error {
	var se *stripego.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("stripe %s: %w", op, err)
	}
	refusal := se.HTTPStatusCode == http.StatusBadRequest || se.HTTPStatusCode == http.StatusPaymentRequired
	switch {
	case se.Code == stripego.ErrorCodeIdempotencyKeyInUse:
		return fmt.Errorf("stripe %s: %w: %s", op, ErrRequestInProgress, se.Msg)
	case se.Type == stripego.ErrorTypeCard:
		code := string(se.DeclineCode)
		if code == "" {
			code = string(se.Code)
		}
		return fmt.Errorf("stripe %s: %w", op, &payment.DeclineError{Code: code, Message: se.Msg})
	case se.Type == stripego.ErrorTypeIdempotency:
		return fmt.Errorf("stripe %s: %w: %s", op, payment.ErrIdempotencyConflict, se.Msg)
	case se.Code == stripego.ErrorCodeResourceMissing || se.HTTPStatusCode == http.StatusNotFound:
		switch op {
		case opTransfer: // the destination account
			return fmt.Errorf("stripe %s: %w: %s", op, errs.ErrNotFound, se.Msg)
		case opGetRefund:
			return fmt.Errorf("stripe %s: %w: %s", op, payment.ErrRefundNotFound, se.Msg)
		}
		return fmt.Errorf("stripe %s: %w: %s", op, payment.ErrIntentNotFound, se.Msg)
	case !refusal || se.Type != stripego.ErrorTypeInvalidRequest:
		return fmt.Errorf("stripe %s: %w", op, err)
	}
	switch se.Code {
	case stripego.ErrorCodePaymentIntentUnexpectedState, stripego.ErrorCodeIntentInvalidState,
		stripego.ErrorCodeChargeDisputed, stripego.ErrorCodeRefundDisputedPayment, stripego.ErrorCodeChargeNotRefundable:
		return fmt.Errorf("stripe %s: %w: %s (%s)", op, payment.ErrUnexpectedState, se.Msg, se.Code)
	case stripego.ErrorCodeChargeAlreadyRefunded:
		return fmt.Errorf("stripe %s: %w: %s", op, payment.ErrRefundTooLarge, se.Msg)
	case stripego.ErrorCodeAmountTooLarge:
		if op == opRefund {
			return fmt.Errorf("stripe %s: %w: %s", op, payment.ErrRefundTooLarge, se.Msg)
		}
	case stripego.ErrorCodeBalanceInsufficient: // the platform's balance, for now
		return fmt.Errorf("stripe %s: %w: %s (%s)", op, errs.ErrInvalidState, se.Msg, se.Code)
	}
	msg := se.Msg
	if se.Code != "" {
		msg += " (" + string(se.Code) + ")"
	}
	return fmt.Errorf("stripe %s: %w", op, errs.Invalid(fieldOf(se.Param), "refused by Stripe: %s", msg))
}

// fieldOf names Stripe's parameter param as the port's requests name their
// fields: "amount", "amount.currency", "intent_id", "metadata.order_id".
// Without a parameter the whole request is refused.
func fieldOf(param string) string {
	switch {
	case param == "":
		return "request"
	case param == "currency":
		return "amount.currency"
	case param == "payment_intent":
		return "intent_id"
	}
	// metadata[order_id] → metadata.order_id
	return strings.NewReplacer("[", ".", "]", "").Replace(param)
}

// slogLogger passes stripe-go's warnings and errors to a slog.Logger. Its
// debug and info messages are dropped, at every level: they carry whole
// request and response bodies, with the client secrets of intents that
// only their shoppers may see.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Debugf(string, ...any)          {}
func (s slogLogger) Infof(string, ...any)           {}
func (s slogLogger) Warnf(format string, v ...any)  { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s slogLogger) Errorf(format string, v ...any) { s.l.Error(fmt.Sprintf(format, v...)) }
