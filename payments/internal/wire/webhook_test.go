package wire_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/payment"
	"github.com/daihuo/daihuo/payments/internal/wire"
)

// TestParseOtherAPIVersion: a correctly signed event of another API version
// is refused, but not as a bad signature (a 400 Stripe would not fix), with
// a message that says what to change.
func TestParseOtherAPIVersion(t *testing.T) {
	const secret = "whsec_version"
	event, err := wire.NewEvent("evt_v", wire.TypeIntentSucceeded, time.Now(), wire.PaymentIntent{
		ID: "pi_1", Object: "payment_intent", Amount: 1999, AmountReceived: 1999, Currency: "eur", Status: "succeeded",
	})
	if err != nil {
		t.Fatal(err)
	}
	const other = "2024-06-20"
	payload := []byte(strings.Replace(string(event), `"api_version":"`+wire.APIVersion+`"`, `"api_version":"`+other+`"`, 1))
	if string(payload) == string(event) {
		t.Fatal("the api_version was not replaced")
	}
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: time.Now()})
	ev, err := wire.Parse(payment.ProviderStripe, signed.Payload, signed.Header, secret)
	if !errors.Is(err, wire.ErrAPIVersionMismatch) {
		t.Fatalf("Parse = %+v, %v; want ErrAPIVersionMismatch", ev, err)
	}
	var e *errs.Error
	var ve *errs.ValidationError
	if errors.Is(err, payment.ErrInvalidWebhook) || errors.As(err, &e) || errors.As(err, &ve) {
		t.Errorf("err = %v; want no errs kind, so the api answers 5xx and Stripe retries", err)
	}
	for _, want := range []string{other, wire.APIVersion, "set the webhook endpoint's API version to " + wire.APIVersion} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q; want it to name %q", err, want)
		}
	}
	// The signature is checked first: unsigned, it is a bad webhook.
	_, err = wire.Parse(payment.ProviderStripe, signed.Payload, signed.Header, secret+"x")
	if !errors.Is(err, payment.ErrInvalidWebhook) {
		t.Errorf("wrong secret: err = %v, want ErrInvalidWebhook", err)
	}
}

// TestParseConvertsAmounts: events carry Stripe's units (the simulator's
// as Stripe's), which Parse converts to daihuo's.
func TestParseConvertsAmounts(t *testing.T) {
	const secret = "whsec_units"
	pi := func(amount int64, currency string) wire.PaymentIntent {
		return wire.PaymentIntent{ID: "pi_1", Object: "payment_intent", Amount: amount, AmountReceived: amount, Currency: currency, Status: "succeeded"}
	}
	cases := []struct {
		name   string
		typ    string
		object any
		want   money.Money // the zero Money for a refusal
	}{
		{"intent in ISK", wire.TypeIntentSucceeded, pi(150000, "isk"),
			money.Money{Amount: 1500, Currency: "ISK"}},
		{"intent in MGA", wire.TypeIntentSucceeded, pi(1500, "mga"),
			money.Money{Amount: 150000, Currency: "MGA"}},
		{"intent in EUR", wire.TypeIntentSucceeded, pi(1999, "eur"),
			money.Money{Amount: 1999, Currency: "EUR"}},
		{"refund in UGX", wire.TypeRefundUpdated,
			wire.Refund{ID: "re_1", Object: "refund", Amount: 50000, Currency: "ugx", PaymentIntent: "pi_1", Status: "succeeded"},
			money.Money{Amount: 500, Currency: "UGX"}},
		{"charge refunded in ISK", wire.TypeChargeRefunded,
			wire.Charge{ID: "ch_1", Object: "charge", Amount: 150000, AmountRefunded: 70000, Currency: "isk", PaymentIntent: "pi_1", Status: "succeeded"},
			money.Money{Amount: 700, Currency: "ISK"}},
		{"transfer reversed in MGA", wire.TypeTransferReversed,
			wire.Transfer{ID: "tr_1", Object: "transfer", Amount: 30, AmountReversed: 20, Currency: "mga", Destination: "acct_1", Reversed: true},
			money.Money{Amount: 2000, Currency: "MGA"}},
		{"a fraction of an ISK", wire.TypeIntentSucceeded, pi(150050, "isk"),
			money.Money{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			payload, err := wire.NewEvent("evt_u", c.typ, time.Now(), c.object)
			if err != nil {
				t.Fatal(err)
			}
			header := wire.Sign(payload, secret, time.Now())
			ev, err := wire.Parse(payment.ProviderStripe, payload, header, secret)
			switch {
			case c.want == (money.Money{}):
				if !errors.Is(err, payment.ErrInvalidWebhook) {
					t.Errorf("Parse = %+v, %v; want ErrInvalidWebhook", ev, err)
				}
			case err != nil || ev.Amount != c.want:
				t.Errorf("Parse amount = %v, %v; want %v", ev.Amount, err, c.want)
			}
		})
	}
}
