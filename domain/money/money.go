// Package money is an amount of one currency in integer minor units (cents,
// yen, fils), the only way daihuo holds money: never floats, never two
// currencies mixed in one sum.
package money

import (
	"strconv"
	"strings"

	"github.com/daihuo/daihuo/domain/errs"
)

// MaxAmount bounds every amount (10^12 minor units, ten billion euros), so
// sums of up to nine thousand such amounts and basis-point products
// (amount × 10 000) stay far inside int64.
const MaxAmount int64 = 1_000_000_000_000

// Errors of money arithmetic.
var (
	// ErrCurrencyMismatch refuses arithmetic or comparison across currencies.
	ErrCurrencyMismatch = errs.New(errs.CodeCurrencyMismatch, "currencies differ")
	// ErrOutOfRange refuses a result beyond ±MaxAmount.
	ErrOutOfRange = errs.New(errs.CodeValidation, "amount out of range")
)

// Money is an amount in minor units of an ISO 4217 currency: {1999, "EUR"}
// is 19.99 euros, {1500, "JPY"} is 1,500 yen.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// New returns amount minor units of currency, or a validation error.
func New(amount int64, currency string) (Money, error) {
	m := Money{Amount: amount, Currency: currency}
	return m, m.Validate()
}

// Zero returns no money in currency.
func Zero(currency string) Money { return Money{Currency: currency} }

// Validate checks that the currency is a known ISO 4217 code and that the
// amount is within ±MaxAmount. Field errors are named "amount" and "currency".
func (m Money) Validate() error {
	var v errs.Validator
	v.Check(Known(m.Currency), "currency", "must be a supported ISO 4217 currency code such as EUR or JPY")
	v.Check(m.Amount >= -MaxAmount && m.Amount <= MaxAmount, "amount", "must be between %d and %d minor units", -MaxAmount, MaxAmount)
	return v.Err()
}

// IsZero reports whether the amount is zero.
func (m Money) IsZero() bool { return m.Amount == 0 }

// IsPositive reports whether the amount is greater than zero.
func (m Money) IsPositive() bool { return m.Amount > 0 }

// IsNegative reports whether the amount is less than zero.
func (m Money) IsNegative() bool { return m.Amount < 0 }

// SameCurrency reports whether m and o are of the same currency.
func (m Money) SameCurrency(o Money) bool { return m.Currency == o.Currency }

func inRange(a int64) bool { return a >= -MaxAmount && a <= MaxAmount }

// Add returns m + o. It refuses different currencies and results beyond
// ±MaxAmount; operands must themselves be within bounds.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, ErrCurrencyMismatch
	}
	if !inRange(m.Amount) || !inRange(o.Amount) || !inRange(m.Amount+o.Amount) {
		return Money{}, ErrOutOfRange
	}
	return Money{Amount: m.Amount + o.Amount, Currency: m.Currency}, nil
}

// Sub returns m - o with the same rules as Add.
func (m Money) Sub(o Money) (Money, error) {
	return m.Add(o.Neg())
}

// Neg returns -m.
func (m Money) Neg() Money { return Money{Amount: -m.Amount, Currency: m.Currency} }

// Mul returns m × n (a unit price times a quantity), refusing results beyond
// ±MaxAmount.
func (m Money) Mul(n int64) (Money, error) {
	if !inRange(m.Amount) || !inRange(n) {
		return Money{}, ErrOutOfRange
	}
	if m.Amount != 0 && n != 0 {
		// Both factors are at most 10^12, so the bound check by division is exact.
		if abs(n) > MaxAmount/abs(m.Amount) {
			return Money{}, ErrOutOfRange
		}
	}
	return Money{Amount: m.Amount * n, Currency: m.Currency}, nil
}

// Cmp compares m and o: -1 when m < o, 0 when equal, +1 when m > o. It
// refuses different currencies.
func (m Money) Cmp(o Money) (int, error) {
	if m.Currency != o.Currency {
		return 0, ErrCurrencyMismatch
	}
	switch {
	case m.Amount < o.Amount:
		return -1, nil
	case m.Amount > o.Amount:
		return 1, nil
	}
	return 0, nil
}

// Sum adds amounts of currency; an empty list sums to zero of currency.
func Sum(currency string, ms ...Money) (Money, error) {
	total := Zero(currency)
	for _, m := range ms {
		var err error
		if total, err = total.Add(m); err != nil {
			return Money{}, err
		}
	}
	return total, nil
}

// Decimal formats the amount in major units with the currency's number of
// decimals ("19.99" for 1999 EUR, "1500" for 1500 JPY, "-0.05"); unknown
// currencies are shown with two decimals.
func (m Money) Decimal() string {
	exp, ok := Exponent(m.Currency)
	if !ok {
		exp = 2
	}
	sign := ""
	a := m.Amount
	var digits string
	if a < 0 {
		sign = "-"
		digits = strconv.FormatUint(uint64(-(a+1))+1, 10) // safe for math.MinInt64
	} else {
		digits = strconv.FormatInt(a, 10)
	}
	if exp == 0 {
		return sign + digits
	}
	if len(digits) <= exp {
		digits = strings.Repeat("0", exp-len(digits)+1) + digits
	}
	cut := len(digits) - exp
	return sign + digits[:cut] + "." + digits[cut:]
}

// String formats money for people: the currency code, a space and the
// decimal amount, e.g. "EUR 19.99", "JPY 1500", "KWD 1.250".
func (m Money) String() string { return m.Currency + " " + m.Decimal() }

func abs(a int64) int64 {
	if a < 0 {
		return -a
	}
	return a
}
