package wire_test

import (
	"errors"
	"math"
	"testing"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/payments/internal/wire"
)

// TestToStripe converts daihuo's ISO 4217 minor units to Stripe's units by
// https://docs.stripe.com/currencies, refusing what Stripe cannot take.
func TestToStripe(t *testing.T) {
	cases := []struct {
		name     string
		in       money.Money
		amount   int64
		currency string
		refused  bool
	}{
		{"two decimals", money.Money{Amount: 1999, Currency: "EUR"}, 1999, "eur", false},
		{"zero decimals", money.Money{Amount: 1500, Currency: "JPY"}, 1500, "jpy", false},
		{"zero decimals at both, KRW", money.Money{Amount: 5, Currency: "KRW"}, 5, "krw", false},
		{"ISK counted in hundredths", money.Money{Amount: 5, Currency: "ISK"}, 500, "isk", false},
		{"UGX counted in hundredths", money.Money{Amount: 12000, Currency: "UGX"}, 1200000, "ugx", false},
		{"ISK too large to multiply", money.Money{Amount: math.MaxInt64/100 + 1, Currency: "ISK"}, 0, "", true},
		{"MGA whole ariary", money.Money{Amount: 150000, Currency: "MGA"}, 1500, "mga", false},
		{"MGA fraction of an ariary", money.Money{Amount: 150050, Currency: "MGA"}, 0, "", true},
		{"KWD ending in 0", money.Money{Amount: 5120, Currency: "KWD"}, 5120, "kwd", false},
		{"KWD not ending in 0", money.Money{Amount: 5124, Currency: "KWD"}, 0, "", true},
		{"BHD not ending in 0", money.Money{Amount: 1001, Currency: "BHD"}, 0, "", true},
		{"JOD", money.Money{Amount: 10, Currency: "JOD"}, 10, "jod", false},
		{"OMR not ending in 0", money.Money{Amount: 15, Currency: "OMR"}, 0, "", true},
		{"TND", money.Money{Amount: 990, Currency: "TND"}, 990, "tnd", false},
		{"HUF charges keep two decimals", money.Money{Amount: 1045, Currency: "HUF"}, 1045, "huf", false},
		{"TWD charges keep two decimals", money.Money{Amount: 80045, Currency: "TWD"}, 80045, "twd", false},
		{"IQD is no Stripe currency", money.Money{Amount: 1000, Currency: "IQD"}, 0, "", true},
		{"LYD is no Stripe currency", money.Money{Amount: 1000, Currency: "LYD"}, 0, "", true},
		{"UYI is a fund code", money.Money{Amount: 1000, Currency: "UYI"}, 0, "", true},
		{"unknown currency", money.Money{Amount: 1000, Currency: "XXX"}, 0, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			amount, currency, err := wire.ToStripe(c.in)
			if c.refused {
				var ve *errs.ValidationError
				if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != "amount" {
					t.Fatalf("ToStripe(%v) = %d %q, %v; want a validation error on amount", c.in, amount, currency, err)
				}
				return
			}
			if err != nil || amount != c.amount || currency != c.currency {
				t.Fatalf("ToStripe(%v) = %d %q, %v; want %d %q", c.in, amount, currency, err, c.amount, c.currency)
			}
			back, err := wire.FromStripe(amount, currency)
			if err != nil || back != c.in {
				t.Errorf("FromStripe(%d, %q) = %v, %v; want %v back", amount, currency, back, err, c.in)
			}
		})
	}
}

// TestFromStripe converts what Stripe's answers and events carry back to
// daihuo's units.
func TestFromStripe(t *testing.T) {
	cases := []struct {
		name     string
		amount   int64
		currency string
		want     money.Money
		fails    bool
	}{
		{"two decimals", 1999, "eur", money.Money{Amount: 1999, Currency: "EUR"}, false},
		{"zero decimals", 1500, "jpy", money.Money{Amount: 1500, Currency: "JPY"}, false},
		{"ISK", 150000, "isk", money.Money{Amount: 1500, Currency: "ISK"}, false},
		{"ISK fraction daihuo cannot hold", 150050, "isk", money.Money{}, true},
		{"UGX", 500, "ugx", money.Money{Amount: 5, Currency: "UGX"}, false},
		{"MGA", 1500, "mga", money.Money{Amount: 150000, Currency: "MGA"}, false},
		{"MGA too large", math.MaxInt64 / 10, "mga", money.Money{}, true},
		{"KWD any last digit", 5125, "kwd", money.Money{Amount: 5125, Currency: "KWD"}, false},
		{"IQD", 1000, "iqd", money.Money{}, true},
		{"a currency daihuo does not know passes", 700, "xcg", money.Money{Amount: 700, Currency: "XCG"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := wire.FromStripe(c.amount, c.currency)
			if c.fails {
				if err == nil {
					t.Fatalf("FromStripe(%d, %q) = %v, want an error", c.amount, c.currency, got)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("FromStripe(%d, %q) = %v, %v; want %v", c.amount, c.currency, got, err, c.want)
			}
		})
	}
}
