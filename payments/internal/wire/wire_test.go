package wire_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/payment"
	"github.com/daihuo/daihuo/payments/internal/wire"
)

// TestSignIsStripesScheme recomputes the header by Stripe's documented
// scheme, without stripe-go: t=<unix>,v1=hex(HMAC-SHA256(secret, "<unix>." + payload)).
func TestSignIsStripesScheme(t *testing.T) {
	payload := []byte(`{"id":"evt_1","object":"event"}`)
	at := time.Unix(1_700_000_000, 0)
	mac := hmac.New(sha256.New, []byte("whsec_x"))
	mac.Write([]byte(strconv.FormatInt(at.Unix(), 10) + "."))
	mac.Write(payload)
	want := fmt.Sprintf("t=%d,v1=%s", at.Unix(), hex.EncodeToString(mac.Sum(nil)))
	if got := wire.Sign(payload, "whsec_x", at); got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestNewEventIsParsed(t *testing.T) {
	at := time.Now().Truncate(time.Second).UTC()
	payload, err := wire.NewEvent("evt_1", wire.TypeIntentSucceeded, at, wire.PaymentIntent{
		ID: "pi_1", Object: "payment_intent", Amount: 1500, AmountReceived: 1500, Currency: "jpy", Status: "succeeded",
		Metadata: map[string]string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := wire.Parse("local", payload, wire.Sign(payload, "s", time.Now()), "s")
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "evt_1" || ev.Type != payment.EventIntentSucceeded || ev.Amount.Amount != 1500 || ev.Amount.Currency != "JPY" || !ev.Created.Equal(at) {
		t.Errorf("Parse = %+v", ev)
	}
}

func TestParseWithoutSecretIsAConfigurationError(t *testing.T) {
	_, err := wire.Parse("stripe", []byte(`{}`), "t=1,v1=00", "")
	if err == nil || errors.Is(err, payment.ErrInvalidWebhook) {
		t.Errorf("err = %v, want a configuration error, not a 400", err)
	}
}
