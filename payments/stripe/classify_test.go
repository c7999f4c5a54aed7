package stripe_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/payment"
	"github.com/daihuo/daihuo/payments/stripe"
	"github.com/daihuo/daihuo/payments/stripe/stripemocktest"
)

// kind is how a caller sees an error: the order service treats errs kinds
// (and validation errors) as answers and everything else as the provider
// not answering.
type kind int

const (
	transient kind = iota // no errs kind: retry later
	invalid               // *errs.ValidationError
	coded                 // an *errs.Error
)

func kindOf(err error) kind {
	var ve *errs.ValidationError
	var e *errs.Error
	switch {
	case errors.As(err, &ve):
		return invalid
	case errors.As(err, &e):
		return coded
	}
	return transient
}

// TestErrorClassification checks the classes of Stripe's error replies
// (https://docs.stripe.com/api/errors: 400 invalid request, 402 request
// failed, 401/403 keys, 409 conflicts, 429, 5xx), with the bodies Stripe
// documents, answered by a stand-in for api.stripe.com.
func TestErrorClassification(t *testing.T) {
	createIntent := func(g *stripe.Gateway) error { _, err := g.CreateIntent(context.Background(), intentReq()); return err }
	refund := func(g *stripe.Gateway) error {
		_, err := g.Refund(context.Background(), payment.RefundRequest{IntentID: "pi_x", Amount: money.Money{Amount: 500, Currency: "EUR"}, IdempotencyKey: "refund-1"})
		return err
	}
	transfer := func(g *stripe.Gateway) error {
		_, err := g.Transfer(context.Background(), payment.TransferRequest{Destination: "acct_1", Amount: money.Money{Amount: 500, Currency: "EUR"}})
		return err
	}
	cases := []struct {
		name   string
		status int
		body   string
		call   func(g *stripe.Gateway) error
		want   kind
		is     error  // errors.Is must hold, when set
		field  string // the validation error's field, when invalid
	}{
		{"amount too small", 400,
			`{"error":{"type":"invalid_request_error","code":"amount_too_small","param":"amount","message":"Amount must be at least €0.50 eur"}}`,
			createIntent, invalid, nil, "amount"},
		{"ISK fractions", 400,
			`{"error":{"type":"invalid_request_error","code":"invalid_charge_amount_no_decimal_compatible","param":"amount","message":"Invalid amount. Currency ISK has become effectively zero-decimal and charged amounts must be evenly divisible by 100."}}`,
			createIntent, invalid, nil, "amount"},
		{"amount too large for an intent", 400,
			`{"error":{"type":"invalid_request_error","code":"amount_too_large","param":"amount","message":"Amount must be no more than €999,999.99"}}`,
			createIntent, invalid, nil, "amount"},
		{"unsupported currency", 400,
			`{"error":{"type":"invalid_request_error","param":"currency","message":"Invalid currency: xcg."}}`,
			createIntent, invalid, nil, "amount.currency"},
		{"unknown parameter", 400,
			`{"error":{"type":"invalid_request_error","code":"parameter_unknown","param":"metadata[order_id]","message":"Received unknown parameter"}}`,
			createIntent, invalid, nil, "metadata.order_id"},
		{"invalid request without a parameter", 400,
			`{"error":{"type":"invalid_request_error","message":"This account cannot currently make live charges."}}`,
			createIntent, invalid, nil, "request"},
		{"request failed (402) without a card error", 402,
			`{"error":{"type":"invalid_request_error","code":"payment_intent_authentication_failure","message":"The provided PaymentMethod has failed authentication."}}`,
			createIntent, invalid, nil, "request"},
		{"refund of a disputed charge", 400,
			`{"error":{"type":"invalid_request_error","code":"charge_disputed","message":"Charge ch_x has been charged back; cannot issue a refund."}}`,
			refund, coded, payment.ErrUnexpectedState, ""},
		{"refund above what is left", 400,
			`{"error":{"type":"invalid_request_error","code":"amount_too_large","param":"amount","message":"Refund amount (€10.00) is greater than unrefunded amount on charge (€5.00)"}}`,
			refund, coded, payment.ErrRefundTooLarge, ""},
		{"transfer beyond the balance", 400,
			`{"error":{"type":"invalid_request_error","code":"balance_insufficient","message":"You have insufficient available funds in your Stripe account."}}`,
			transfer, coded, errs.ErrInvalidState, ""},
		{"idempotency key in use", 409,
			`{"error":{"type":"invalid_request_error","code":"idempotency_key_in_use","message":"There is currently another in-progress request using this Stripe-Idempotency-Key, please try again later."}}`,
			refund, transient, stripe.ErrRequestInProgress, ""},
		{"idempotency key reused with other parameters", 400,
			`{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}`,
			refund, coded, payment.ErrIdempotencyConflict, ""},
		{"bad key", 401, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****"}}`,
			createIntent, transient, nil, ""},
		{"restricted key", 403, `{"error":{"type":"invalid_request_error","message":"The provided key does not have the required permissions."}}`,
			refund, transient, nil, ""},
		{"rate limited", 429, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests hit the API too quickly."}}`,
			createIntent, transient, nil, ""},
		{"outage", 500, `{"error":{"type":"api_error","message":"Sorry, something went wrong."}}`,
			transfer, transient, nil, ""},
		{"conflict other than the key", 409, `{"error":{"type":"invalid_request_error","code":"lock_timeout","message":"This object cannot be accessed right now because another API request or Stripe process is currently accessing it."}}`,
			refund, transient, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(&recorder{status: c.status, body: c.body})
			defer srv.Close()
			g := newGateway(t, stripe.Config{APIURL: srv.URL, MaxNetworkRetries: -1})
			err := c.call(g)
			if err == nil {
				t.Fatal("no error")
			}
			if got := kindOf(err); got != c.want {
				t.Errorf("err = %v: kind %d, want %d", err, got, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("err = %v, want it to wrap %v", err, c.is)
			}
			if c.want == transient && errors.Is(err, payment.ErrIdempotencyConflict) {
				t.Errorf("err = %v: a transient error must not be an idempotency conflict", err)
			}
			if c.field != "" {
				var ve *errs.ValidationError
				if errors.As(err, &ve) && (len(ve.Fields) != 1 || ve.Fields[0].Field != c.field) {
					t.Errorf("fields = %+v, want one on %s", ve.Fields, c.field)
				}
			}
		})
	}
}

// TestAmountsOnTheWire checks the amounts the adapter sends and reads in
// Stripe's units, for each kind of request.
func TestAmountsOnTheWire(t *testing.T) {
	cases := []struct {
		name     string
		reply    string // what Stripe answers, in its units
		call     func(g *stripe.Gateway) (money.Money, error)
		sent     string // the amount parameter sent
		currency string // the currency parameter sent, if any
		got      money.Money
	}{
		{"intent in ISK",
			`{"id":"pi_1","object":"payment_intent","amount":150000,"currency":"isk","status":"requires_payment_method","created":1700000000}`,
			func(g *stripe.Gateway) (money.Money, error) {
				it, err := g.CreateIntent(context.Background(), payment.IntentRequest{Amount: money.Money{Amount: 1500, Currency: "ISK"}})
				return it.Amount, err
			}, "150000", "isk", money.Money{Amount: 1500, Currency: "ISK"}},
		{"intent in MGA",
			`{"id":"pi_1","object":"payment_intent","amount":1500,"currency":"mga","status":"requires_payment_method","created":1700000000}`,
			func(g *stripe.Gateway) (money.Money, error) {
				it, err := g.CreateIntent(context.Background(), payment.IntentRequest{Amount: money.Money{Amount: 150000, Currency: "MGA"}})
				return it.Amount, err
			}, "1500", "mga", money.Money{Amount: 150000, Currency: "MGA"}},
		{"refund in UGX",
			`{"id":"re_1","object":"refund","amount":50000,"currency":"ugx","payment_intent":"pi_1","status":"succeeded","created":1700000000}`,
			func(g *stripe.Gateway) (money.Money, error) {
				r, err := g.Refund(context.Background(), payment.RefundRequest{IntentID: "pi_1", Amount: money.Money{Amount: 500, Currency: "UGX"}})
				return r.Amount, err
			}, "50000", "", money.Money{Amount: 500, Currency: "UGX"}},
		{"transfer in MGA",
			`{"id":"tr_1","object":"transfer","amount":20,"currency":"mga","destination":"acct_1","created":1700000000}`,
			func(g *stripe.Gateway) (money.Money, error) {
				tr, err := g.Transfer(context.Background(), payment.TransferRequest{Destination: "acct_1", Amount: money.Money{Amount: 2000, Currency: "MGA"}})
				return tr.Amount, err
			}, "20", "mga", money.Money{Amount: 2000, Currency: "MGA"}},
		{"intent in KWD",
			`{"id":"pi_1","object":"payment_intent","amount":5120,"currency":"kwd","status":"requires_payment_method","created":1700000000}`,
			func(g *stripe.Gateway) (money.Money, error) {
				it, err := g.CreateIntent(context.Background(), payment.IntentRequest{Amount: money.Money{Amount: 5120, Currency: "KWD"}})
				return it.Amount, err
			}, "5120", "kwd", money.Money{Amount: 5120, Currency: "KWD"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{status: http.StatusOK, body: c.reply}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			got, err := c.call(newGateway(t, stripe.Config{APIURL: srv.URL}))
			if err != nil {
				t.Fatal(err)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if rec.form.Get("amount") != c.sent || rec.form.Get("currency") != c.currency {
				t.Errorf("sent amount %q currency %q, want %q %q", rec.form.Get("amount"), rec.form.Get("currency"), c.sent, c.currency)
			}
			if got != c.got {
				t.Errorf("read %v, want %v", got, c.got)
			}
		})
	}
}

// TestUnrepresentableAmountsAreRefused: an amount Stripe cannot take is a
// validation error on amount (the order service answers 400), and nothing
// is sent.
func TestUnrepresentableAmountsAreRefused(t *testing.T) {
	rec := &recorder{status: http.StatusInternalServerError, body: `{}`}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	g := newGateway(t, stripe.Config{APIURL: srv.URL, MaxNetworkRetries: -1})
	ctx := context.Background()
	calls := map[string]func() error{
		"intent, a fraction of an ariary": func() error {
			_, err := g.CreateIntent(ctx, payment.IntentRequest{Amount: money.Money{Amount: 150050, Currency: "MGA"}})
			return err
		},
		"intent, KWD not ending in 0": func() error {
			_, err := g.CreateIntent(ctx, payment.IntentRequest{Amount: money.Money{Amount: 5124, Currency: "KWD"}})
			return err
		},
		"intent, IQD": func() error {
			_, err := g.CreateIntent(ctx, payment.IntentRequest{Amount: money.Money{Amount: 5000, Currency: "IQD"}})
			return err
		},
		"refund, BHD not ending in 0": func() error {
			_, err := g.Refund(ctx, payment.RefundRequest{IntentID: "pi_1", Amount: money.Money{Amount: 1001, Currency: "BHD"}})
			return err
		},
		"transfer, a fraction of an ariary": func() error {
			_, err := g.Transfer(ctx, payment.TransferRequest{Destination: "acct_1", Amount: money.Money{Amount: 1, Currency: "MGA"}})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			var ve *errs.ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != "amount" {
				t.Errorf("err = %v, want a validation error on amount", err)
			}
		})
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.header != nil {
		t.Errorf("a request reached Stripe: %v", rec.form)
	}
}

// TestStripeMockAmounts sends converted amounts to stripe-mock, which
// validates them against Stripe's spec and echoes them back, and reads them
// back in daihuo's units; and refuses an amount Stripe cannot represent
// before asking it.
func TestStripeMockAmounts(t *testing.T) {
	g := newGateway(t, stripe.Config{APIURL: stripemocktest.URL(t)})
	ctx := context.Background()
	for _, m := range []money.Money{
		{Amount: 1500, Currency: "ISK"}, {Amount: 12000, Currency: "UGX"}, {Amount: 150000, Currency: "MGA"}, {Amount: 5120, Currency: "KWD"},
	} {
		it, err := g.CreateIntent(ctx, payment.IntentRequest{Amount: m})
		if err != nil || it.Amount != m {
			t.Errorf("CreateIntent(%v) = %v, %v", m, it.Amount, err)
		}
		tr, err := g.Transfer(ctx, payment.TransferRequest{Destination: "acct_1032D82eZvKYlo2C", Amount: m})
		if err != nil || tr.Amount != m {
			t.Errorf("Transfer(%v) = %v, %v", m, tr.Amount, err)
		}
	}
	_, err := g.CreateIntent(ctx, payment.IntentRequest{Amount: money.Money{Amount: 150050, Currency: "MGA"}})
	if kindOf(err) != invalid {
		t.Errorf("CreateIntent of 1500.50 MGA: %v, want a validation error", err)
	}
}

// TestParseWebhookOtherAPIVersion: Stripe's signed event of another API
// version is ErrWebhookAPIVersion, not a bad signature.
func TestParseWebhookOtherAPIVersion(t *testing.T) {
	g := newGateway(t, stripe.Config{})
	payload := []byte(`{"id":"evt_1","object":"event","api_version":"2024-06-20","created":1700000000,"type":"payment_intent.succeeded",` +
		`"data":{"object":{"id":"pi_1","object":"payment_intent","amount":1999,"amount_received":1999,"currency":"eur","status":"succeeded"}}}`)
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: testSecret, Timestamp: time.Now()})
	_, err := g.ParseWebhook(signed.Payload, signed.Header)
	if !errors.Is(err, stripe.ErrWebhookAPIVersion) || errors.Is(err, payment.ErrInvalidWebhook) || kindOf(err) != transient {
		t.Fatalf("err = %v, want ErrWebhookAPIVersion and no errs kind", err)
	}
	if !strings.Contains(err.Error(), "2024-06-20") || !strings.Contains(err.Error(), "set the webhook endpoint's API version to 2023-10-16") {
		t.Errorf("err = %q, want both versions and what to set", err)
	}
}
