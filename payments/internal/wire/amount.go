package wire

import (
	"fmt"
	"math"
	"strings"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
)

// AmountField is the request field a refused amount is reported on.
const AmountField = "amount"

// unitRule is how Stripe counts one currency when that differs from ISO
// 4217's minor units, which daihuo's Money uses.
type unitRule struct {
	// shift is Stripe's number of decimals minus ISO 4217's: +2 where
	// Stripe counts hundredths of a currency ISO counts whole (ISK, UGX),
	// -2 where Stripe counts whole units of a two-decimal currency (MGA).
	shift int
	// step, when above 1, is what every Stripe amount must be a multiple
	// of (10 for the three-decimal currencies).
	step int64
	// unsupported: Stripe documents no units for the currency (it does not
	// take it), so no amount in it is sent.
	unsupported bool
}

// stripeUnits lists the currencies Stripe counts otherwise than ISO 4217,
// from https://docs.stripe.com/currencies (zero-decimal currencies, the
// three-decimal currencies and the special cases). Every other currency is
// counted alike: two decimals by default, and Stripe's zero-decimal list is
// ISO's but for MGA (and UGX, a special case).
//
//   - ISK and UGX "transitioned to a zero-decimal currency, but backwards
//     compatibility requires you to represent it as a two-decimal value,
//     where the decimal amount is always 00": 5 ISK is 500 at Stripe.
//   - MGA is on Stripe's zero-decimal list; ISO 4217 gives it two decimals.
//   - BHD, JOD, KWD, OMR, TND: three decimals, but Stripe requires the last
//     digit to be 0 (5.124 KWD must be rounded to 5120 or 5130).
//   - IQD and LYD (three decimals in ISO) and UYI (a fund code) are not
//     Stripe presentment currencies.
//   - HUF and TWD are zero-decimal at Stripe for payouts only; charges,
//     refunds and transfers take two decimals, as ISO does.
func stripeUnits(code string) unitRule {
	switch code {
	case "ISK", "UGX":
		return unitRule{shift: 2, step: 100}
	case "MGA":
		return unitRule{shift: -2}
	case "BHD", "JOD", "KWD", "OMR", "TND":
		return unitRule{step: 10}
	case "IQD", "LYD", "UYI":
		return unitRule{unsupported: true}
	}
	return unitRule{}
}

// ToStripe converts m, in daihuo's ISO 4217 minor units, to the amount and
// lower-case currency code Stripe's API takes. An amount Stripe cannot
// represent (a fraction of an ariary, a three-decimal amount not ending in
// 0, a currency Stripe does not take) is refused with a validation error
// on AmountField, before anything is sent.
func ToStripe(m money.Money) (int64, string, error) {
	if !money.Known(m.Currency) {
		return 0, "", errs.Invalid(AmountField, "currency %q is not an ISO 4217 code daihuo knows", m.Currency)
	}
	r := stripeUnits(m.Currency)
	amount := m.Amount
	switch {
	case r.unsupported:
		return 0, "", errs.Invalid(AmountField, "Stripe does not take payments in %s", m.Currency)
	case r.shift > 0:
		f := pow10(r.shift)
		if amount > math.MaxInt64/f || amount < math.MinInt64/f {
			return 0, "", errs.Invalid(AmountField, "%d %s is too large for Stripe", amount, m.Currency)
		}
		amount *= f
	case r.shift < 0:
		f := pow10(-r.shift)
		if amount%f != 0 {
			return 0, "", errs.Invalid(AmountField,
				"%s is charged in whole units at Stripe: %d minor units is not a multiple of %d", m.Currency, amount, f)
		}
		amount /= f
	}
	if r.step > 1 && amount%r.step != 0 {
		return 0, "", errs.Invalid(AmountField,
			"Stripe takes %s amounts in multiples of %d minor units: %d is not one", m.Currency, r.step, m.Amount)
	}
	return amount, Currency(m.Currency), nil
}

// FromStripe converts an amount and currency as Stripe's API and webhooks
// give them to daihuo's Money. A currency daihuo does not know is passed
// through as it is; an amount daihuo's units cannot hold (a fraction of an
// ISK) or a currency without documented Stripe units is an error.
func FromStripe(amount int64, currency string) (money.Money, error) {
	code := strings.ToUpper(currency)
	r := stripeUnits(code)
	switch {
	case r.unsupported:
		return money.Money{}, fmt.Errorf("stripe amount %d %s: no documented Stripe units for %s", amount, currency, code)
	case r.shift > 0:
		f := pow10(r.shift)
		if amount%f != 0 {
			return money.Money{}, fmt.Errorf("stripe amount %d %s: not a whole number of %s", amount, currency, code)
		}
		amount /= f
	case r.shift < 0:
		f := pow10(-r.shift)
		if amount > math.MaxInt64/f || amount < math.MinInt64/f {
			return money.Money{}, fmt.Errorf("stripe amount %d %s: too large", amount, currency)
		}
		amount *= f
	}
	return money.Money{Amount: amount, Currency: code}, nil
}

func pow10(n int) int64 {
	f := int64(1)
	for range n {
		f *= 10
	}
	return f
}
