package local

import (
	"strings"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/payment"
)

// cardOutcome reads a test card number: nil for a card that pays, a
// *payment.DeclineError for one the simulated bank refuses, or a validation
// error for something that is not a card number.
func cardOutcome(number string) (*payment.DeclineError, error) {
	n := strings.ReplaceAll(number, " ", "")
	if len(n) != 16 || strings.Trim(n, "0123456789") != "" {
		return nil, errs.Invalid("card_number", "must be 16 digits")
	}
	if !luhn(n) {
		return nil, errs.Invalid("card_number", "is not a valid card number")
	}
	switch n {
	case CardDeclined:
		return &payment.DeclineError{Code: "generic_decline", Message: "Your card was declined."}, nil
	case CardInsufficientFunds:
		return &payment.DeclineError{Code: "insufficient_funds", Message: "Your card has insufficient funds."}, nil
	case CardExpired:
		return &payment.DeclineError{Code: "expired_card", Message: "Your card has expired."}, nil
	}
	return nil, nil
}

// luhn reports whether the digits pass the Luhn checksum of card numbers.
func luhn(digits string) bool {
	sum := 0
	for i := 0; i < len(digits); i++ {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}
