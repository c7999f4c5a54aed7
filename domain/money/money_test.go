package money

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/daihuo/daihuo/domain/errs"
)

func TestExponent(t *testing.T) {
	tests := []struct {
		code string
		exp  int
		ok   bool
	}{
		{"EUR", 2, true}, {"USD", 2, true}, {"GBP", 2, true}, {"JPY", 0, true},
		{"KRW", 0, true}, {"CNY", 2, true}, {"HKD", 2, true}, {"TWD", 2, true},
		{"SGD", 2, true}, {"INR", 2, true}, {"IDR", 2, true}, {"THB", 2, true},
		{"VND", 0, true}, {"PHP", 2, true}, {"MYR", 2, true}, {"AUD", 2, true},
		{"CAD", 2, true}, {"CHF", 2, true}, {"SEK", 2, true}, {"NOK", 2, true},
		{"DKK", 2, true}, {"PLN", 2, true}, {"CZK", 2, true}, {"BRL", 2, true},
		{"MXN", 2, true}, {"KWD", 3, true}, {"BHD", 3, true}, {"OMR", 3, true},
		{"CLP", 0, true}, {"ISK", 0, true},
		{"eur", 0, false}, {"", 0, false}, {"XXX", 0, false}, {"EURO", 0, false},
	}
	for _, tt := range tests {
		exp, ok := Exponent(tt.code)
		if exp != tt.exp || ok != tt.ok {
			t.Errorf("Exponent(%q) = %d, %v; want %d, %v", tt.code, exp, ok, tt.exp, tt.ok)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		m      Money
		fields []string
	}{
		{"ok", Money{1999, "EUR"}, nil},
		{"zero", Money{0, "JPY"}, nil},
		{"negative ok", Money{-500, "USD"}, nil},
		{"max", Money{MaxAmount, "EUR"}, nil},
		{"min", Money{-MaxAmount, "EUR"}, nil},
		{"too big", Money{MaxAmount + 1, "EUR"}, []string{"amount"}},
		{"too small", Money{-MaxAmount - 1, "EUR"}, []string{"amount"}},
		{"lower case", Money{1, "eur"}, []string{"currency"}},
		{"unknown", Money{1, "ABC"}, []string{"currency"}},
		{"both", Money{math.MaxInt64, ""}, []string{"currency", "amount"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.Validate()
			if got := fieldNames(err); !reflect.DeepEqual(got, tt.fields) {
				t.Fatalf("Validate() fields = %v (%v), want %v", got, err, tt.fields)
			}
		})
	}
}

func fieldNames(err error) []string {
	if err == nil {
		return nil
	}
	var ve *errs.ValidationError
	if !errors.As(err, &ve) {
		return []string{"not a validation error: " + err.Error()}
	}
	var names []string
	for _, f := range ve.Fields {
		names = append(names, f.Field)
	}
	return names
}

func TestArithmetic(t *testing.T) {
	eur := func(a int64) Money { return Money{a, "EUR"} }
	tests := []struct {
		name string
		op   func() (Money, error)
		want Money
		err  error
	}{
		{"add", func() (Money, error) { return eur(1999).Add(eur(1)) }, eur(2000), nil},
		{"add negative", func() (Money, error) { return eur(100).Add(eur(-250)) }, eur(-150), nil},
		{"add mismatch", func() (Money, error) { return eur(1).Add(Money{1, "JPY"}) }, Money{}, ErrCurrencyMismatch},
		{"add overflow bound", func() (Money, error) { return eur(MaxAmount).Add(eur(1)) }, Money{}, ErrOutOfRange},
		{"add out-of-range operand", func() (Money, error) { return eur(math.MaxInt64).Add(eur(-1)) }, Money{}, ErrOutOfRange},
		{"sub", func() (Money, error) { return eur(500).Sub(eur(200)) }, eur(300), nil},
		{"sub mismatch", func() (Money, error) { return eur(500).Sub(Money{200, "USD"}) }, Money{}, ErrCurrencyMismatch},
		{"sub to min", func() (Money, error) { return eur(0).Sub(eur(MaxAmount)) }, eur(-MaxAmount), nil},
		{"mul", func() (Money, error) { return eur(1999).Mul(3) }, eur(5997), nil},
		{"mul zero", func() (Money, error) { return eur(1999).Mul(0) }, eur(0), nil},
		{"mul negative", func() (Money, error) { return eur(-7).Mul(3) }, eur(-21), nil},
		{"mul at bound", func() (Money, error) { return eur(MaxAmount / 4).Mul(4) }, eur(MaxAmount), nil},
		{"mul overflow bound", func() (Money, error) { return eur(MaxAmount/4 + 1).Mul(4) }, Money{}, ErrOutOfRange},
		{"mul huge factor", func() (Money, error) { return eur(2).Mul(math.MaxInt64) }, Money{}, ErrOutOfRange},
		{"sum", func() (Money, error) { return Sum("JPY", Money{100, "JPY"}, Money{250, "JPY"}) }, Money{350, "JPY"}, nil},
		{"sum empty", func() (Money, error) { return Sum("KWD") }, Money{0, "KWD"}, nil},
		{"sum mismatch", func() (Money, error) { return Sum("JPY", Money{100, "JPY"}, eur(1)) }, Money{}, ErrCurrencyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.op()
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCurrencyMismatchCode(t *testing.T) {
	_, err := Money{1, "EUR"}.Add(Money{1, "USD"})
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != "currency_mismatch" {
		t.Fatalf("err = %#v, want code currency_mismatch", err)
	}
}

func TestCmp(t *testing.T) {
	tests := []struct {
		a, b Money
		want int
		err  error
	}{
		{Money{1, "EUR"}, Money{2, "EUR"}, -1, nil},
		{Money{2, "EUR"}, Money{2, "EUR"}, 0, nil},
		{Money{3, "EUR"}, Money{-2, "EUR"}, 1, nil},
		{Money{3, "EUR"}, Money{3, "GBP"}, 0, ErrCurrencyMismatch},
	}
	for _, tt := range tests {
		got, err := tt.a.Cmp(tt.b)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("%v.Cmp(%v) = %d, %v; want %d, %v", tt.a, tt.b, got, err, tt.want, tt.err)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		m    Money
		want string
	}{
		{Money{1999, "EUR"}, "EUR 19.99"},
		{Money{5, "EUR"}, "EUR 0.05"},
		{Money{0, "USD"}, "USD 0.00"},
		{Money{-1999, "EUR"}, "EUR -19.99"},
		{Money{-5, "EUR"}, "EUR -0.05"},
		{Money{1500, "JPY"}, "JPY 1500"},
		{Money{-1500, "KRW"}, "KRW -1500"},
		{Money{1250, "KWD"}, "KWD 1.250"},
		{Money{7, "BHD"}, "BHD 0.007"},
		{Money{MaxAmount, "EUR"}, "EUR 10000000000.00"},
		{Money{math.MinInt64, "JPY"}, "JPY -9223372036854775808"},
	}
	for _, tt := range tests {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("String(%d %s) = %q, want %q", tt.m.Amount, tt.m.Currency, got, tt.want)
		}
	}
}

func TestPortion(t *testing.T) {
	tests := []struct {
		m    Money
		bps  int64
		want int64
		ok   bool
	}{
		{Money{10000, "EUR"}, 1500, 1500, true},
		{Money{999, "EUR"}, 1500, 149, true}, // 149.85 floored
		{Money{-999, "EUR"}, 1500, -149, true},
		{Money{1, "JPY"}, 9999, 0, true},
		{Money{MaxAmount, "EUR"}, MaxBPS, MaxAmount, true},
		{Money{100, "EUR"}, -1, 0, false},
		{Money{100, "EUR"}, MaxBPS + 1, 0, false},
	}
	for _, tt := range tests {
		got, err := tt.m.Portion(tt.bps)
		if (err == nil) != tt.ok || (tt.ok && got.Amount != tt.want) {
			t.Errorf("%v.Portion(%d) = %v, %v; want %d ok=%v", tt.m, tt.bps, got, err, tt.want, tt.ok)
		}
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name        string
		m           Money
		shares      []Share
		remainderTo string
		want        []Part
		errField    string
	}{
		{
			name:        "exact",
			m:           Money{10000, "EUR"},
			shares:      []Share{{"creator", 1500}, {"platform", 500}},
			remainderTo: "brand",
			want:        []Part{{"creator", Money{1500, "EUR"}}, {"platform", Money{500, "EUR"}}, {"brand", Money{8000, "EUR"}}},
		},
		{
			name:        "remainder to outside party",
			m:           Money{999, "EUR"},
			shares:      []Share{{"creator", 1500}, {"agency", 333}},
			remainderTo: "brand",
			// 149.85 → 149, 33.2667 → 33, brand gets 999-149-33 = 817.
			want: []Part{{"creator", Money{149, "EUR"}}, {"agency", Money{33, "EUR"}}, {"brand", Money{817, "EUR"}}},
		},
		{
			name:        "remainder to a share",
			m:           Money{100, "JPY"},
			shares:      []Share{{"a", 3333}, {"b", 3333}, {"c", 3334}},
			remainderTo: "a",
			// 33.33 → 33, 33.33 → 33, 33.34 → 33; one yen left goes to a.
			want: []Part{{"a", Money{34, "JPY"}}, {"b", Money{33, "JPY"}}, {"c", Money{33, "JPY"}}},
		},
		{
			name:        "negative mirrors positive",
			m:           Money{-999, "EUR"},
			shares:      []Share{{"creator", 1500}, {"agency", 333}},
			remainderTo: "brand",
			want:        []Part{{"creator", Money{-149, "EUR"}}, {"agency", Money{-33, "EUR"}}, {"brand", Money{-817, "EUR"}}},
		},
		{
			name:        "no shares",
			m:           Money{1, "KWD"},
			remainderTo: "brand",
			want:        []Part{{"brand", Money{1, "KWD"}}},
		},
		{
			name:        "zero amount",
			m:           Money{0, "EUR"},
			shares:      []Share{{"creator", 2000}},
			remainderTo: "brand",
			want:        []Part{{"creator", Money{0, "EUR"}}, {"brand", Money{0, "EUR"}}},
		},
		{
			name:        "one minor unit",
			m:           Money{1, "EUR"},
			shares:      []Share{{"creator", 5000}, {"agency", 5000}},
			remainderTo: "agency",
			want:        []Part{{"creator", Money{0, "EUR"}}, {"agency", Money{1, "EUR"}}},
		},
		{
			name:        "max amount full bps",
			m:           Money{MaxAmount, "EUR"},
			shares:      []Share{{"creator", MaxBPS}},
			remainderTo: "brand",
			want:        []Part{{"creator", Money{MaxAmount, "EUR"}}, {"brand", Money{0, "EUR"}}},
		},
		{name: "too many bps", m: Money{100, "EUR"}, shares: []Share{{"a", 6000}, {"b", 4001}}, remainderTo: "c", errField: "shares"},
		{name: "negative bps", m: Money{100, "EUR"}, shares: []Share{{"a", -1}}, remainderTo: "c", errField: "shares[0].bps"},
		{name: "duplicate party", m: Money{100, "EUR"}, shares: []Share{{"a", 1}, {"a", 1}}, remainderTo: "c", errField: "shares[1].party"},
		{name: "empty party", m: Money{100, "EUR"}, shares: []Share{{"", 1}}, remainderTo: "c", errField: "shares[0].party"},
		{name: "no remainder party", m: Money{100, "EUR"}, shares: []Share{{"a", 1}}, errField: "remainder_to"},
		{name: "bad money", m: Money{100, "XYZ"}, remainderTo: "a", errField: "currency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Split(tt.m, tt.shares, tt.remainderTo)
			if tt.errField != "" {
				if f := fieldNames(err); len(f) != 1 || f[0] != tt.errField {
					t.Fatalf("err = %v, want a validation error on %s", err, tt.errField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Split = %v, want %v", got, tt.want)
			}
			var sum int64
			for _, p := range got {
				sum += p.Amount.Amount
			}
			if sum != tt.m.Amount {
				t.Fatalf("parts sum to %d, want %d", sum, tt.m.Amount)
			}
		})
	}
}

func TestSplitAlwaysSums(t *testing.T) {
	shares := []Share{{"creator", 1234}, {"agency", 77}, {"platform", 500}}
	for a := int64(-2000); a <= 2000; a += 7 {
		m := Money{a, "EUR"}
		parts, err := Split(m, shares, "brand")
		if err != nil {
			t.Fatal(err)
		}
		neg, err := Split(m.Neg(), shares, "brand")
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for i, p := range parts {
			sum += p.Amount.Amount
			if p.Amount.Amount != -neg[i].Amount.Amount {
				t.Fatalf("split of %d is not the negation of split of %d: %v vs %v", a, -a, parts, neg)
			}
		}
		if sum != a {
			t.Fatalf("split of %d sums to %d", a, sum)
		}
	}
}
