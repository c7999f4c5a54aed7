package payment_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/payment"
)

func eur(a int64) money.Money { return money.Money{Amount: a, Currency: "EUR"} }

// fields returns the invalid fields of err, or nil when it is not a
// validation error.
func fields(err error) []string {
	var ve *errs.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	for _, f := range ve.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestIntentRequestValidate(t *testing.T) {
	cases := []struct {
		name string
		req  payment.IntentRequest
		want []string
	}{
		{"ok", payment.IntentRequest{Amount: eur(1999), IdempotencyKey: "k", Description: "d", Metadata: map[string]string{"order_id": "ord_1"}}, nil},
		{"zero", payment.IntentRequest{Amount: eur(0)}, []string{"amount.amount"}},
		{"negative", payment.IntentRequest{Amount: eur(-1)}, []string{"amount.amount"}},
		{"bad currency", payment.IntentRequest{Amount: money.Money{Amount: 1, Currency: "eur"}}, []string{"amount.currency"}},
		{"too large", payment.IntentRequest{Amount: eur(money.MaxAmount + 1)}, []string{"amount.amount"}},
		{"long key", payment.IntentRequest{Amount: eur(1), IdempotencyKey: strings.Repeat("k", 256)}, []string{"idempotency_key"}},
		{"long description", payment.IntentRequest{Amount: eur(1), Description: strings.Repeat("é", 1001)}, []string{"description"}},
		{"too many keys", payment.IntentRequest{Amount: eur(1), Metadata: manyKeys(51)}, []string{"metadata"}},
		{"empty key and long value", payment.IntentRequest{Amount: eur(1), Metadata: map[string]string{"": "v", "b": strings.Repeat("v", 501)}},
			[]string{"metadata", "metadata.b"}},
		{"everything wrong", payment.IntentRequest{Amount: eur(0), IdempotencyKey: strings.Repeat("k", 256)}, []string{"amount.amount", "idempotency_key"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := fields(c.req.Validate())
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("invalid fields %v, want %v", got, c.want)
			}
		})
	}
}

func manyKeys(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[strings.Repeat("k", i%39+1)+string(rune('a'+i/39))] = "v"
	}
	return m
}

func TestRefundRequestValidate(t *testing.T) {
	cases := []struct {
		name string
		req  payment.RefundRequest
		want []string
	}{
		{"all that is left", payment.RefundRequest{IntentID: "pi_1"}, nil},
		{"part", payment.RefundRequest{IntentID: "pi_1", Amount: eur(5), Reason: payment.ReasonDuplicate}, nil},
		{"no intent", payment.RefundRequest{}, []string{"intent_id"}},
		{"intent with a slash", payment.RefundRequest{IntentID: "pi_1/../x"}, []string{"intent_id"}},
		{"zero in a currency", payment.RefundRequest{IntentID: "pi_1", Amount: eur(0)}, []string{"amount.amount"}},
		{"amount without currency", payment.RefundRequest{IntentID: "pi_1", Amount: money.Money{Amount: 5}}, []string{"amount.currency"}},
		{"bad reason", payment.RefundRequest{IntentID: "pi_1", Reason: "because"}, []string{"reason"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := fields(c.req.Validate())
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("invalid fields %v, want %v", got, c.want)
			}
		})
	}
}

func TestValidateID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"pi_3MtwBwLkdIwHu7ix28a3tqPa", true},
		{"pi_local_01M8DGYT8YPM0M9SG7GTR914DC", true},
		{"acct_1Nv0FGQ9RKHgCVdK", true},
		{"re-1", true},
		{"", false},
		{strings.Repeat("a", payment.MaxIDLen+1), false},
		{"pi_1/../x", false},
		{"pi_local\x00x", false}, // a NUL, which Postgres refuses in text
		{"pi_local\xffx", false}, // not UTF-8
		{"pi_é", false},
		{"pi 1", false},
	} {
		if err := payment.ValidateID("intent_id", tc.id); (err == nil) != tc.ok {
			t.Errorf("ValidateID(%q) = %v, want ok %v", tc.id, err, tc.ok)
		}
	}
}

func TestTransferRequestValidate(t *testing.T) {
	cases := []struct {
		name string
		req  payment.TransferRequest
		want []string
	}{
		{"ok", payment.TransferRequest{Destination: "acct_1", Amount: eur(100)}, nil},
		{"no destination", payment.TransferRequest{Amount: eur(100)}, []string{"destination"}},
		{"destination with space", payment.TransferRequest{Destination: "acct 1", Amount: eur(100)}, []string{"destination"}},
		{"zero", payment.TransferRequest{Destination: "acct_1", Amount: eur(0)}, []string{"amount.amount"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := fields(c.req.Validate())
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("invalid fields %v, want %v", got, c.want)
			}
		})
	}
}

func TestIntentStatus(t *testing.T) {
	cases := []struct {
		s                 payment.IntentStatus
		final, cancelable bool
	}{
		{payment.IntentRequiresPaymentMethod, false, true},
		{payment.IntentRequiresConfirmation, false, true},
		{payment.IntentRequiresAction, false, true},
		{payment.IntentProcessing, false, true},
		{payment.IntentRequiresCapture, false, true},
		{payment.IntentSucceeded, true, false},
		{payment.IntentCanceled, true, false},
	}
	for _, c := range cases {
		if c.s.Final() != c.final || c.s.Cancelable() != c.cancelable {
			t.Errorf("%s: Final %v Cancelable %v, want %v %v", c.s, c.s.Final(), c.s.Cancelable(), c.final, c.cancelable)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	decline := error(&payment.DeclineError{Code: "insufficient_funds", Message: "Your card has insufficient funds."})
	cases := []struct {
		name string
		err  error
		code errs.Code
	}{
		{"decline", decline, payment.CodeDeclined},
		{"invalid webhook", payment.ErrInvalidWebhook, errs.CodeValidation},
		{"idempotency", payment.ErrIdempotencyConflict, errs.CodeIdempotencyConflict},
		{"not found", payment.ErrIntentNotFound, errs.CodeNotFound},
		{"state", payment.ErrUnexpectedState, errs.CodeInvalidState},
		{"refund too large", payment.ErrRefundTooLarge, errs.CodeInvalidState},
	}
	for _, c := range cases {
		var e *errs.Error
		if !errors.As(c.err, &e) || e.Code != c.code {
			t.Errorf("%s: code of %v, want %s", c.name, c.err, c.code)
		}
	}
	if !errors.Is(decline, payment.ErrDeclined) || !strings.Contains(decline.Error(), "insufficient funds") {
		t.Errorf("decline error %q", decline)
	}
}
