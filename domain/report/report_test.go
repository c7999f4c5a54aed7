package report

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/order"
)

func eur(a int64) money.Money { return money.Money{Amount: a, Currency: "EUR"} }

func paidPayload(items ...order.ItemPayload) order.OrderPayload {
	var total int64
	for _, it := range items {
		total += it.UnitPrice.Amount * it.Quantity
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	return order.OrderPayload{ID: "ord_1", ShopperID: "shp_1", StreamID: "str_1", Items: items, Total: eur(total), PaidAt: &at}
}

func TestSaleOf(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	late := paidPayload(order.ItemPayload{BrandID: "brd_a", Quantity: 1, UnitPrice: eur(100)})
	late.Late = true
	usd := paidPayload(order.ItemPayload{BrandID: "brd_a", Quantity: 1, UnitPrice: money.Money{Amount: 100, Currency: "USD"}})
	tests := []struct {
		name   string
		in     order.OrderPayload
		want   Sale
		ok     bool
		err    error
		anyErr bool
	}{
		{
			name: "two brands, commission floored per item",
			in: paidPayload(
				order.ItemPayload{BrandID: "brd_b", Quantity: 3, UnitPrice: eur(999), CommissionBPS: 1250}, // 2997 × 12.5 % = 374.625
				order.ItemPayload{BrandID: "brd_a", Quantity: 1, UnitPrice: eur(4900), CommissionBPS: 1000},
				order.ItemPayload{BrandID: "brd_b", Quantity: 1, UnitPrice: eur(1), CommissionBPS: 9999}, // 0.9999
			),
			ok: true,
			want: Sale{OrderID: "ord_1", StreamID: "str_1", ShopperID: "shp_1", Currency: "EUR", At: at,
				Stream: Amounts{GMV: 2997 + 4900 + 1, Units: 5, Commission: 374 + 490},
				Brands: []BrandAmounts{
					{BrandID: "brd_a", Amounts: Amounts{GMV: 4900, Units: 1, Commission: 490}},
					{BrandID: "brd_b", Amounts: Amounts{GMV: 2998, Units: 4, Commission: 374}},
				}},
		},
		{name: "late payment is no sale", in: late, ok: false},
		{name: "item in another currency", in: usd, err: ErrCurrencyMismatch},
		{name: "no stream", in: order.OrderPayload{ID: "ord_1", ShopperID: "shp_1", Total: eur(1)}, anyErr: true},
		{name: "negative quantity", in: paidPayload(order.ItemPayload{BrandID: "brd_a", Quantity: -1, UnitPrice: eur(1)}), anyErr: true},
		{name: "overflowing subtotal", in: paidPayload(order.ItemPayload{BrandID: "brd_a", Quantity: 1 << 40, UnitPrice: eur(1 << 40)}), anyErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := SaleOf(tt.in)
			switch {
			case tt.err != nil:
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			case tt.anyErr:
				if err == nil {
					t.Fatalf("no error, want one; got %+v", got)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if ok != tt.ok {
				t.Fatalf("ok %v, want %v", ok, tt.ok)
			}
			if ok && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("sale\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestRefundOf(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p := order.RefundPayload{OrderID: "ord_1", RefundID: "rfd_1", StreamID: "str_1", Amount: eur(700), At: at,
		Lines: []order.RefundLinePayload{{BrandID: "brd_b", Amount: eur(200)}, {BrandID: "brd_a", Amount: eur(500)}}}
	want := RefundChange{RefundID: "rfd_1", OrderID: "ord_1", StreamID: "str_1", Currency: "EUR", At: at, Amount: 700,
		Brands: []BrandAmount{{BrandID: "brd_a", Amount: 500}, {BrandID: "brd_b", Amount: 200}}}
	got, ok, err := RefundOf(p, false)
	if err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("refund = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	got, ok, err = RefundOf(p, true)
	want.Amount, want.Brands[0].Amount, want.Brands[1].Amount = -700, -500, -200
	if err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("reversed refund = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	p.Reason = order.RefundLatePayment
	if _, ok, err := RefundOf(p, false); ok || err != nil {
		t.Fatalf("the refund of a late payment counted: %v, %v", ok, err)
	}
	p.Reason = order.RefundRequested
	for _, reason := range []string{order.RefundRequested, order.RefundExternal} {
		p.Reason, p.Late = reason, true // an admin's or the provider's refund of a late payment
		if _, ok, err := RefundOf(p, false); ok || err != nil {
			t.Fatalf("a %s refund of a late payment counted: %v, %v", reason, ok, err)
		}
	}
	p.Reason, p.Late = order.RefundRequested, false
	p.Lines[0].Amount.Currency = "USD"
	if _, _, err := RefundOf(p, false); !errors.Is(err, ErrCurrencyMismatch) {
		t.Fatalf("line in another currency: %v", err)
	}
}

func TestConversion(t *testing.T) {
	tests := []struct {
		buyers, viewers int64
		want            float64
	}{
		{0, 0, 0},
		{3, 0, 0},
		{0, 10, 0},
		{1, 3, 0.3333},
		{2, 3, 0.6667},
		{1, 8, 0.125},
		{5, 5, 1},
		{7, 5, 1.4},
		{1, 30_000, 0},
		{1, 20_000, 0.0001},
	}
	for _, tt := range tests {
		if got := Conversion(tt.buyers, tt.viewers); got != tt.want {
			t.Errorf("Conversion(%d, %d) = %v, want %v", tt.buyers, tt.viewers, got, tt.want)
		}
	}
}
