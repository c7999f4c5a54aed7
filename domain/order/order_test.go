package order

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/id"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/party"
)

func TestNewOrderValidate(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	v1, v2 := id.New("var", now), id.New("var", now)
	ship := Shipping{Name: " Mia ", Line1: "Torstraße 1", City: "Berlin", PostalCode: "10119", Country: "de"}
	valid := NewOrder{StreamID: id.New("str", now), Items: []NewItem{{VariantID: v1, Quantity: 1}, {VariantID: v2, Quantity: 100}}, Shipping: ship}
	with := func(f func(*NewOrder)) NewOrder {
		in := valid
		in.Items = append([]NewItem(nil), valid.Items...)
		f(&in)
		return in
	}
	tests := []struct {
		name   string
		in     NewOrder
		fields []string // empty: valid
	}{
		{"valid", valid, nil},
		{"bad stream id", with(func(in *NewOrder) { in.StreamID = "str_x" }), []string{"stream_id"}},
		{"bad pin id", with(func(in *NewOrder) { in.PinID = "prd_" + strings.Repeat("0", 26) }), []string{"pin_id"}},
		{"no items", with(func(in *NewOrder) { in.Items = nil }), []string{"items"}},
		{"21 items", with(func(in *NewOrder) { in.Items = make([]NewItem, MaxItems+1) }), []string{"items"}},
		{"zero and 101", with(func(in *NewOrder) { in.Items[0].Quantity, in.Items[1].Quantity = 0, 101 }),
			[]string{"items[0].quantity", "items[1].quantity"}},
		{"repeated variant", with(func(in *NewOrder) { in.Items[1].VariantID = v1 }), []string{"items[1].variant_id"}},
		{"not a variant id", with(func(in *NewOrder) { in.Items[0].VariantID = "var_" }), []string{"items[0].variant_id"}},
		{"empty shipping", with(func(in *NewOrder) { in.Shipping = Shipping{} }),
			[]string{"shipping.name", "shipping.line1", "shipping.city", "shipping.postal_code", "shipping.country"}},
		{"unknown country", with(func(in *NewOrder) { in.Shipping.Country = "UK" }), []string{"shipping.country"}},
		{"three-letter country", with(func(in *NewOrder) { in.Shipping.Country = "DEU" }), []string{"shipping.country"}},
		{"postal code symbols", with(func(in *NewOrder) { in.Shipping.PostalCode = "10119;" }), []string{"shipping.postal_code"}},
		{"long city", with(func(in *NewOrder) { in.Shipping.City = strings.Repeat("x", MaxCityLen+1) }), []string{"shipping.city"}},
		{"control characters", with(func(in *NewOrder) { in.Shipping.Line1 = "a\x00b" }), []string{"shipping.line1"}},
		{"long key", with(func(in *NewOrder) { in.IdempotencyKey = strings.Repeat("k", MaxIdempotencyKey+1) }), []string{"idempotency_key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.in.Validate()
			if len(tt.fields) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if out.Shipping.Name != "Mia" || out.Shipping.Country != "DE" {
					t.Fatalf("not normalised: %+v", out.Shipping)
				}
				return
			}
			var ve *errs.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a validation error", err)
			}
			got := map[string]bool{}
			for _, f := range ve.Fields {
				got[f.Field] = true
			}
			for _, f := range tt.fields {
				if !got[f] {
					t.Errorf("no error on %s in %v", f, err)
				}
			}
		})
	}
}

func TestValidCountry(t *testing.T) {
	n := 0
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			if ValidCountry(string([]rune{a, b})) {
				n++
			}
		}
	}
	if n != 249 {
		t.Fatalf("%d assigned codes, want 249", n)
	}
	for _, c := range []string{"", "D", "de", "D E", "ZZ"} {
		if ValidCountry(c) {
			t.Errorf("ValidCountry(%q) = true", c)
		}
	}
}

// paidOrder is an order of brand A (3 × 1000) and brand B (1 × 500), paid.
func paidOrder() Order {
	eur := func(a int64) money.Money { return money.Money{Amount: a, Currency: "EUR"} }
	return Order{
		ID: "ord_1", ShopperID: "shp_1", Status: StatusPaid,
		Items: []Item{
			{VariantID: "var_a", BrandID: "brd_a", Quantity: 3, UnitPrice: eur(1000)},
			{VariantID: "var_b", BrandID: "brd_b", Quantity: 1, UnitPrice: eur(500)},
		},
		Total: eur(3500), Paid: eur(3500), Refunded: eur(0),
		Payment: Payment{ClientSecret: "secret"},
	}
}

func TestRefundArithmetic(t *testing.T) {
	o := paidOrder()
	if o.Refundable() != 3500 || o.BrandRefundable("brd_a") != 3000 || o.BrandRefundable("brd_b") != 500 || o.BrandRefundable("brd_c") != 0 {
		t.Fatal("refundable amounts of a fresh order")
	}
	o.Refunds = []Refund{
		{Status: RefundSucceeded, Lines: []RefundLine{{BrandID: "brd_b", Amount: 200}}},
		{Status: RefundPending, Lines: []RefundLine{{BrandID: "brd_a", Amount: 1000}}},
		{Status: RefundFailed, Lines: []RefundLine{{BrandID: "brd_a", Amount: 2000}}},
	}
	if o.Refundable() != 2300 || o.BrandRefundable("brd_a") != 2000 || o.BrandRefundable("brd_b") != 300 {
		t.Fatalf("refundable %d, A %d, B %d; want 2300, 2000, 300", o.Refundable(), o.BrandRefundable("brd_a"), o.BrandRefundable("brd_b"))
	}
	tests := []struct {
		amount int64
		want   []RefundLine
	}{
		{0, nil},
		{1500, []RefundLine{{"brd_a", 1500}}},
		{2100, []RefundLine{{"brd_a", 2000}, {"brd_b", 100}}},
		{2300, []RefundLine{{"brd_a", 2000}, {"brd_b", 300}}},
	}
	for _, tt := range tests {
		got := o.allocate(tt.amount)
		if len(got) != len(tt.want) {
			t.Fatalf("allocate(%d) = %v, want %v", tt.amount, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Fatalf("allocate(%d) = %v, want %v", tt.amount, got, tt.want)
			}
		}
	}
}

func TestSettleStatus(t *testing.T) {
	tests := []struct {
		from     Status
		closed   string // CloseReason: closed unpaid before a late payment
		paid     int64
		refunded int64
		want     Status
	}{
		{StatusPaid, "", 3500, 0, StatusPaid},
		{StatusPaid, "", 3500, 100, StatusPartiallyRefunded},
		{StatusPartiallyRefunded, "", 3500, 3500, StatusRefunded},
		{StatusPartiallyRefunded, "", 3500, 0, StatusPaid},
		{StatusCancelled, ReasonCancelled, 3500, 0, StatusCancelled}, // a late payment whose refund is pending
		{StatusExpired, ReasonExpired, 3500, 3500, StatusRefunded},
		// The late payment's refund succeeded, then failed after all: never sold, so never paid.
		{StatusRefunded, ReasonCancelled, 3500, 0, StatusCancelled},
		{StatusRefunded, ReasonPaymentCanceled, 3500, 0, StatusCancelled},
		{StatusRefunded, ReasonExpired, 3500, 0, StatusExpired},
		{StatusRefunded, ReasonExpired, 3500, 1000, StatusExpired},
		{StatusPendingPayment, "", 0, 0, StatusPendingPayment},
	}
	for _, tt := range tests {
		o := paidOrder()
		o.Status, o.CloseReason, o.Paid.Amount, o.Refunded.Amount = tt.from, tt.closed, tt.paid, tt.refunded
		o.settleStatus()
		if o.Status != tt.want {
			t.Errorf("%s (closed %q) with paid %d refunded %d → %s, want %s", tt.from, tt.closed, tt.paid, tt.refunded, o.Status, tt.want)
		}
	}
}

func TestViewFor(t *testing.T) {
	o := paidOrder()
	o.Refunded.Amount = 700
	o.Refunds = []Refund{
		{ID: "rfd_1", RequestedBy: "brd_b", Status: RefundSucceeded, Amount: money.Money{Amount: 200, Currency: "EUR"},
			Lines: []RefundLine{{BrandID: "brd_b", Amount: 200}}},
		{ID: "rfd_2", RequestedBy: RequesterAdmin, Status: RefundSucceeded, Amount: money.Money{Amount: 500, Currency: "EUR"},
			Lines: []RefundLine{{BrandID: "brd_a", Amount: 400}, {BrandID: "brd_b", Amount: 100}}},
	}
	if v, ok := o.ViewFor(party.Principal{Role: party.RoleShopper, PartyID: "shp_1"}); !ok || v.Payment.ClientSecret != "secret" || len(v.Items) != 2 {
		t.Fatalf("shopper view %+v", v)
	}
	if v, ok := o.ViewFor(party.Principal{Role: party.RoleAdmin}); !ok || v.Payment.ClientSecret != "" || v.Refunded.Amount != 700 {
		t.Fatalf("admin view %+v", v)
	}
	v, ok := o.ViewFor(party.Principal{Role: party.RoleBrand, PartyID: "brd_b"})
	if !ok || len(v.Items) != 1 || v.Total.Amount != 500 || v.Paid.Amount != 500 || v.Refunded.Amount != 300 ||
		len(v.Refunds) != 2 || v.Refunds[1].Amount.Amount != 100 || v.Payment.ClientSecret != "" {
		t.Fatalf("brand view %+v", v)
	}
	for _, p := range []party.Principal{
		{Role: party.RoleShopper, PartyID: "shp_2"}, {Role: party.RoleBrand, PartyID: "brd_c"},
		{Role: party.RoleCreator, PartyID: "crt_1"}, {Role: party.RoleBrand},
	} {
		if _, ok := o.ViewFor(p); ok {
			t.Errorf("%+v sees the order", p)
		}
	}
}
