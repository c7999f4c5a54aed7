package stripe_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/payment"
	"github.com/daihuo/daihuo/payments/paymenttest"
	"github.com/daihuo/daihuo/payments/stripe"
	"github.com/daihuo/daihuo/payments/stripe/stripemocktest"
)

func TestMain(m *testing.M) { stripemocktest.Main(m) }

const (
	testKey    = "sk_test_daihuo"
	testSecret = "whsec_daihuo_test"
)

func newGateway(t *testing.T, cfg stripe.Config) *stripe.Gateway {
	t.Helper()
	if cfg.SecretKey == "" {
		cfg.SecretKey = testKey
	}
	if cfg.WebhookSecret == "" {
		cfg.WebhookSecret = testSecret
	}
	if cfg.APIURL == "" {
		cfg.APIURL = stripemocktest.URL(t)
	}
	g, err := stripe.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestContract runs the shared contract on stripe-mock: request and response
// shapes (stripe-mock validates every request against Stripe's API spec and
// refuses unknown or missing parameters) and Stripe-signed webhooks.
func TestContract(t *testing.T) {
	paymenttest.Run(t, func(t *testing.T) paymenttest.Harness {
		return paymenttest.Harness{
			Gateway:       newGateway(t, stripe.Config{}),
			WebhookSecret: testSecret,
			Stateful:      false, // stripe-mock keeps no state (FACTS.md)
			Destination:   "acct_1032D82eZvKYlo2C",
		}
	})
}

// TestClientSecretsStayOutOfLogs: an intent's client secret is for its
// shopper only, whatever the log level.
func TestClientSecretsStayOutOfLogs(t *testing.T) {
	var logs bytes.Buffer
	g := newGateway(t, stripe.Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	it, err := g.CreateIntent(context.Background(), payment.IntentRequest{Amount: money.Money{Amount: 1999, Currency: "EUR"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.CancelIntent(context.Background(), it.ID); err != nil {
		t.Fatal(err)
	}
	if it.ClientSecret == "" || strings.Contains(logs.String(), it.ClientSecret) || strings.Contains(logs.String(), "client_secret") {
		t.Fatalf("client secret %q in the debug log:\n%s", it.ClientSecret, logs.String())
	}
}

// TestCreateIntentVariants sends the intent with each payment method setup to
// stripe-mock, which refuses requests that do not match Stripe's spec.
func TestCreateIntentVariants(t *testing.T) {
	cases := []struct {
		name string
		cfg  stripe.Config
		req  payment.IntentRequest
	}{
		{"cards by default", stripe.Config{}, payment.IntentRequest{Amount: money.Money{Amount: 1999, Currency: "EUR"}}},
		{"automatic payment methods", stripe.Config{AutomaticPaymentMethods: true}, payment.IntentRequest{Amount: money.Money{Amount: 1999, Currency: "EUR"}}},
		{"card only", stripe.Config{PaymentMethodTypes: []string{"card"}}, payment.IntentRequest{Amount: money.Money{Amount: 1500, Currency: "JPY"}}},
		{"ISK, hundredths at Stripe", stripe.Config{}, payment.IntentRequest{Amount: money.Money{Amount: 1500, Currency: "ISK"}}},
		{"MGA, whole ariary at Stripe", stripe.Config{}, payment.IntentRequest{Amount: money.Money{Amount: 150000, Currency: "MGA"}}},
		{"everything", stripe.Config{}, payment.IntentRequest{
			Amount: money.Money{Amount: 1250, Currency: "KWD"}, IdempotencyKey: "order-ord_1",
			Description: "daihuo order ord_1", Metadata: map[string]string{"order_id": "ord_1", "kind": "order"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newGateway(t, c.cfg)
			it, err := g.CreateIntent(context.Background(), c.req)
			if err != nil {
				t.Fatalf("CreateIntent: %v", err)
			}
			if it.Amount != c.req.Amount || it.Provider != payment.ProviderStripe {
				t.Errorf("intent %+v, want amount %v", it, c.req.Amount)
			}
		})
	}
}

func TestNewRefusesBadConfigs(t *testing.T) {
	for _, cfg := range []stripe.Config{
		{WebhookSecret: testSecret},
		{SecretKey: testKey},
		{SecretKey: testKey, WebhookSecret: testSecret, AutomaticPaymentMethods: true, PaymentMethodTypes: []string{"card"}},
	} {
		if _, err := stripe.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted it", cfg)
		}
	}
}

// recorder is a stand-in for api.stripe.com answering one canned reply:
// stripe-mock never declines and never conflicts, so the mapping of
// Stripe's error replies is checked against the replies Stripe documents.
type recorder struct {
	mu     sync.Mutex
	status int
	body   string
	form   url.Values
	header http.Header
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	form, _ := url.ParseQuery(string(b))
	r.mu.Lock()
	r.form, r.header = form, req.Header.Clone()
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.status)
	io.WriteString(w, r.body)
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		call   func(g *stripe.Gateway) error
		check  func(t *testing.T, err error)
	}{
		{
			"card declined", http.StatusPaymentRequired,
			`{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}`,
			func(g *stripe.Gateway) error { _, err := g.CreateIntent(context.Background(), intentReq()); return err },
			func(t *testing.T, err error) {
				var de *payment.DeclineError
				if !errors.As(err, &de) || de.Code != "insufficient_funds" || !errors.Is(err, payment.ErrDeclined) {
					t.Errorf("err = %v, want a DeclineError insufficient_funds", err)
				}
				var e *errs.Error
				if !errors.As(err, &e) || e.Code != payment.CodeDeclined {
					t.Errorf("code of %v, want %s", err, payment.CodeDeclined)
				}
			},
		},
		{
			"idempotency conflict", http.StatusBadRequest,
			`{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}`,
			func(g *stripe.Gateway) error { _, err := g.CreateIntent(context.Background(), intentReq()); return err },
			func(t *testing.T, err error) {
				if !errors.Is(err, payment.ErrIdempotencyConflict) {
					t.Errorf("err = %v, want ErrIdempotencyConflict", err)
				}
			},
		},
		{
			"unknown intent", http.StatusNotFound,
			`{"error":{"type":"invalid_request_error","code":"resource_missing","param":"intent","message":"No such payment_intent: 'pi_x'"}}`,
			func(g *stripe.Gateway) error { _, err := g.GetIntent(context.Background(), "pi_x"); return err },
			func(t *testing.T, err error) {
				if !errors.Is(err, payment.ErrIntentNotFound) {
					t.Errorf("err = %v, want ErrIntentNotFound", err)
				}
			},
		},
		{
			"unknown destination", http.StatusBadRequest,
			`{"error":{"type":"invalid_request_error","code":"resource_missing","param":"destination","message":"No such destination: 'acct_x'"}}`,
			func(g *stripe.Gateway) error {
				_, err := g.Transfer(context.Background(), payment.TransferRequest{Destination: "acct_x", Amount: money.Money{Amount: 1, Currency: "EUR"}})
				return err
			},
			func(t *testing.T, err error) {
				if !errors.Is(err, errs.ErrNotFound) {
					t.Errorf("err = %v, want errs.ErrNotFound", err)
				}
			},
		},
		{
			"cancel a succeeded intent", http.StatusBadRequest,
			`{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state","message":"You cannot cancel this PaymentIntent because it has a status of succeeded."}}`,
			func(g *stripe.Gateway) error { _, err := g.CancelIntent(context.Background(), "pi_x"); return err },
			func(t *testing.T, err error) {
				if !errors.Is(err, payment.ErrUnexpectedState) {
					t.Errorf("err = %v, want ErrUnexpectedState", err)
				}
			},
		},
		{
			"refund too large", http.StatusBadRequest,
			`{"error":{"type":"invalid_request_error","code":"charge_already_refunded","message":"Charge ch_x has already been refunded."}}`,
			func(g *stripe.Gateway) error {
				_, err := g.Refund(context.Background(), payment.RefundRequest{IntentID: "pi_x"})
				return err
			},
			func(t *testing.T, err error) {
				if !errors.Is(err, payment.ErrRefundTooLarge) {
					t.Errorf("err = %v, want ErrRefundTooLarge", err)
				}
			},
		},
		{
			"bad key", http.StatusUnauthorized,
			`{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****"}}`,
			func(g *stripe.Gateway) error { _, err := g.CreateIntent(context.Background(), intentReq()); return err },
			func(t *testing.T, err error) {
				var e *errs.Error
				if err == nil || errors.As(err, &e) {
					t.Errorf("err = %v, want an unexpected (non-business) error", err)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(&recorder{status: c.status, body: c.body})
			defer srv.Close()
			g := newGateway(t, stripe.Config{APIURL: srv.URL, MaxNetworkRetries: -1})
			c.check(t, c.call(g))
		})
	}
}

// TestRequestShape checks what the adapter puts on the wire beyond what
// stripe-mock validates: the idempotency key header, the lower-case currency,
// the metadata, and the secret key as the credentials.
func TestRequestShape(t *testing.T) {
	rec := &recorder{status: http.StatusOK, body: `{"id":"pi_1","object":"payment_intent","amount":1999,"currency":"eur","client_secret":"pi_1_secret_x","status":"requires_payment_method","created":1700000000}`}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	g := newGateway(t, stripe.Config{APIURL: srv.URL})
	it, err := g.CreateIntent(context.Background(), intentReq())
	if err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	checks := []struct{ what, got, want string }{
		{"Idempotency-Key", rec.header.Get("Idempotency-Key"), "order-ord_1"},
		{"Stripe-Version", rec.header.Get("Stripe-Version"), "2023-10-16"},
		{"Authorization", rec.header.Get("Authorization"), "Bearer " + testKey},
		{"amount", rec.form.Get("amount"), "1999"},
		{"currency", rec.form.Get("currency"), "eur"},
		{"metadata[order_id]", rec.form.Get("metadata[order_id]"), "ord_1"},
		{"payment_method_types", strings.Join(rec.form["payment_method_types[0]"], ","), "card"},
		{"intent currency", it.Amount.Currency, "EUR"},
		{"created", it.Created.Format("2006"), "2023"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if strings.Contains(rec.form.Encode(), "automatic_payment_methods") || rec.form.Has("payment_method_types[1]") {
		t.Errorf("want cards only by default, sent %s", rec.form.Encode())
	}
}

func intentReq() payment.IntentRequest {
	return payment.IntentRequest{
		Amount: money.Money{Amount: 1999, Currency: "EUR"}, IdempotencyKey: "order-ord_1",
		Metadata: map[string]string{"order_id": "ord_1"},
	}
}
