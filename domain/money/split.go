package money

import (
	"fmt"

	"github.com/daihuo/daihuo/domain/errs"
)

// MaxBPS is 100 % in basis points (1 bps = 0.01 %).
const MaxBPS int64 = 10_000

// Share is one party's part of a split, in basis points of the whole.
type Share struct {
	Party string
	BPS   int64
}

// Part is the amount one party receives from a split.
type Part struct {
	Party  string
	Amount Money
}

// Portion returns bps basis points of m, rounded toward zero: the magnitude
// is floored, so Portion(-x) is exactly -Portion(x).
func (m Money) Portion(bps int64) (Money, error) {
	if bps < 0 || bps > MaxBPS {
		return Money{}, errs.Invalid("bps", "must be between 0 and %d", MaxBPS)
	}
	if !inRange(m.Amount) {
		return Money{}, ErrOutOfRange
	}
	// |amount| ≤ 10^12 and bps ≤ 10^4: the product fits in int64.
	return Money{Amount: m.Amount * bps / MaxBPS, Currency: m.Currency}, nil
}

// Split divides m among shares so that the parts always sum to m exactly.
//
// Rounding rule: every share receives its basis points of m rounded toward
// zero (the magnitude is floored, so splitting a refund gives exactly the
// negated parts of the sale). Everything not handed out — the rounding
// remainder and any basis points the shares leave unassigned — goes to the
// party named remainderTo. When remainderTo is one of the shares its part is
// increased; otherwise it is appended as the last part.
//
// Parts come back in the order of shares. Shares must name distinct,
// non-empty parties with 0–10 000 bps each and at most 10 000 bps in total.
func Split(m Money, shares []Share, remainderTo string) ([]Part, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if remainderTo == "" {
		return nil, errs.Invalid("remainder_to", "must name the party that receives the remainder")
	}
	seen := make(map[string]bool, len(shares))
	var total int64
	for i, s := range shares {
		field := fmt.Sprintf("shares[%d]", i)
		if s.Party == "" {
			return nil, errs.Invalid(field+".party", "must not be empty")
		}
		if seen[s.Party] {
			return nil, errs.Invalid(field+".party", "party %q appears twice", s.Party)
		}
		seen[s.Party] = true
		if s.BPS < 0 || s.BPS > MaxBPS {
			return nil, errs.Invalid(field+".bps", "must be between 0 and %d", MaxBPS)
		}
		total += s.BPS
	}
	if total > MaxBPS {
		return nil, errs.Invalid("shares", "total %d bps exceeds %d", total, MaxBPS)
	}

	parts := make([]Part, 0, len(shares)+1)
	rest := m.Amount
	remIdx := -1
	for _, s := range shares {
		p, _ := m.Portion(s.BPS) // bounds checked above
		rest -= p.Amount
		if s.Party == remainderTo {
			remIdx = len(parts)
		}
		parts = append(parts, Part{Party: s.Party, Amount: p})
	}
	if remIdx < 0 {
		parts = append(parts, Part{Party: remainderTo, Amount: Zero(m.Currency)})
		remIdx = len(parts) - 1
	}
	parts[remIdx].Amount.Amount += rest
	return parts, nil
}
