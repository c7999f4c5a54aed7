package catalog

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
)

func fields(err error) []string {
	if err == nil {
		return nil
	}
	var ve *errs.ValidationError
	if !errors.As(err, &ve) {
		return []string{"not a validation error: " + err.Error()}
	}
	var out []string
	for _, f := range ve.Fields {
		out = append(out, f.Field)
	}
	return out
}

func eur(a int64) money.Money { return money.Money{Amount: a, Currency: "EUR"} }

func variant(sku string) NewVariant {
	return NewVariant{SKU: sku, Title: "Default", Price: eur(1999), Stock: 10}
}

func TestNewProductValidate(t *testing.T) {
	good := func() NewProduct {
		return NewProduct{
			Title:       "Silk Scarf",
			Description: "Hand-rolled edges.\nMade in Lyon.",
			ImageURL:    "https://img.example.com/scarf.jpg",
			Variants:    []NewVariant{variant("SCARF-RED"), variant("SCARF-BLUE")},
		}
	}
	with := func(f func(*NewProduct)) NewProduct {
		p := good()
		f(&p)
		return p
	}
	many := make([]NewVariant, MaxVariants+1)
	for i := range many {
		many[i] = variant(fmt.Sprintf("SKU-%d", i))
	}
	tests := []struct {
		name string
		in   NewProduct
		want []string
	}{
		{"good", good(), nil},
		{"no description or image", with(func(p *NewProduct) { p.Description, p.ImageURL = "", "" }), nil},
		{"http image", with(func(p *NewProduct) { p.ImageURL = "http://cdn.example.com/a.png?w=200" }), nil},
		{"max variants", with(func(p *NewProduct) { p.Variants = many[:MaxVariants] }), nil},
		{"max title", with(func(p *NewProduct) { p.Title = strings.Repeat("題", MaxTitleLen) }), nil},
		{"max stock", with(func(p *NewProduct) { p.Variants[0].Stock = MaxStock }), nil},
		{"zero stock", with(func(p *NewProduct) { p.Variants[0].Stock = 0 }), nil},
		{"sku charset", with(func(p *NewProduct) { p.Variants[0].SKU = "a.B_c-9" }), nil},
		{"empty title", with(func(p *NewProduct) { p.Title = "  " }), []string{"title"}},
		{"long title", with(func(p *NewProduct) { p.Title = strings.Repeat("a", MaxTitleLen+1) }), []string{"title"}},
		{"control in title", with(func(p *NewProduct) { p.Title = "a\tb" }), []string{"title"}},
		{"bad utf8 title", with(func(p *NewProduct) { p.Title = "\xc3" }), []string{"title"}},
		{"long description", with(func(p *NewProduct) { p.Description = strings.Repeat("x", MaxDescriptionLen+1) }), []string{"description"}},
		{"control in description", with(func(p *NewProduct) { p.Description = "a\x07b" }), []string{"description"}},
		{"relative image", with(func(p *NewProduct) { p.ImageURL = "/img/a.png" }), []string{"image_url"}},
		{"ftp image", with(func(p *NewProduct) { p.ImageURL = "ftp://example.com/a.png" }), []string{"image_url"}},
		{"javascript image", with(func(p *NewProduct) { p.ImageURL = "javascript:alert(1)" }), []string{"image_url"}},
		{"image with credentials", with(func(p *NewProduct) { p.ImageURL = "https://u:p@example.com/a.png" }), []string{"image_url"}},
		{"image with space", with(func(p *NewProduct) { p.ImageURL = "https://example.com/a b.png" }), []string{"image_url"}},
		{"long image", with(func(p *NewProduct) { p.ImageURL = "https://example.com/" + strings.Repeat("a", MaxImageURLLen) }), []string{"image_url"}},
		{"no variants", with(func(p *NewProduct) { p.Variants = nil }), []string{"variants"}},
		{"too many variants", with(func(p *NewProduct) { p.Variants = many }), []string{"variants"}},
		{"bad sku", with(func(p *NewProduct) { p.Variants[1].SKU = "has space" }), []string{"variants[1].sku"}},
		{"non-ascii sku", with(func(p *NewProduct) { p.Variants[1].SKU = "SKU-ä" }), []string{"variants[1].sku"}},
		{"slash in sku", with(func(p *NewProduct) { p.Variants[1].SKU = "A/B" }), []string{"variants[1].sku"}},
		{"long sku", with(func(p *NewProduct) { p.Variants[1].SKU = strings.Repeat("A", 65) }), []string{"variants[1].sku"}},
		{"duplicate sku", with(func(p *NewProduct) { p.Variants[1].SKU = "SCARF-RED" }), []string{"variants[1].sku"}},
		{"empty variant title", with(func(p *NewProduct) { p.Variants[0].Title = "" }), []string{"variants[0].title"}},
		{"zero price", with(func(p *NewProduct) { p.Variants[0].Price = eur(0) }), []string{"variants[0].price.amount"}},
		{"negative price", with(func(p *NewProduct) { p.Variants[0].Price = eur(-1) }), []string{"variants[0].price.amount"}},
		{"price over bound", with(func(p *NewProduct) { p.Variants[0].Price = eur(money.MaxAmount + 1) }), []string{"variants[0].price.amount"}},
		{"unknown currency", with(func(p *NewProduct) { p.Variants[1].Price.Currency = "eur" }), []string{"variants[1].price.currency"}},
		{"mixed currencies", with(func(p *NewProduct) { p.Variants[1].Price = money.Money{Amount: 2500, Currency: "JPY"} }), []string{"variants[1].price.currency"}},
		{"negative stock", with(func(p *NewProduct) { p.Variants[0].Stock = -1 }), []string{"variants[0].stock"}},
		{"stock over bound", with(func(p *NewProduct) { p.Variants[1].Stock = MaxStock + 1 }), []string{"variants[1].stock"}},
		{"several at once", with(func(p *NewProduct) {
			p.Title = ""
			p.ImageURL = "nope"
			p.Variants[0].SKU = ""
			p.Variants[1].Stock = -5
		}), []string{"title", "image_url", "variants[0].sku", "variants[1].stock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.in.Validate()
			if got := fields(err); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Validate() fields = %v (%v), want %v", got, err, tt.want)
			}
		})
	}
}

func TestNewProductValidateNormalises(t *testing.T) {
	in := NewProduct{
		Title:       "  Matcha Whisk ",
		Description: "\n Bamboo. \n",
		ImageURL:    " https://example.com/w.jpg ",
		Variants:    []NewVariant{{SKU: " KK-WHISK ", Title: " 80 tines ", Price: money.Money{Amount: 2800, Currency: "JPY"}, Stock: 3}},
	}
	out, err := in.Validate()
	if err != nil {
		t.Fatal(err)
	}
	want := NewProduct{
		Title:       "Matcha Whisk",
		Description: "Bamboo.",
		ImageURL:    "https://example.com/w.jpg",
		Variants:    []NewVariant{{SKU: "KK-WHISK", Title: "80 tines", Price: money.Money{Amount: 2800, Currency: "JPY"}, Stock: 3}},
	}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("Validate() = %+v, want %+v", out, want)
	}
}

func TestProductPatchValidate(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		name  string
		patch ProductPatch
		want  []string
		empty bool
	}{
		{"empty", ProductPatch{}, nil, true},
		{"title", ProductPatch{Title: s("New")}, nil, false},
		{"clear description and image", ProductPatch{Description: s(""), ImageURL: s("")}, nil, false},
		{"empty title", ProductPatch{Title: s(" ")}, []string{"title"}, false},
		{"bad image", ProductPatch{ImageURL: s("data:image/png;base64,AAAA")}, []string{"image_url"}, false},
		{"two bad", ProductPatch{Title: s(""), Description: s(strings.Repeat("d", MaxDescriptionLen+1))}, []string{"title", "description"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.patch.Validate()
			if got := fields(err); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("fields = %v, want %v", got, tt.want)
			}
			if err == nil && out.Empty() != tt.empty {
				t.Fatalf("Empty() = %v, want %v", out.Empty(), tt.empty)
			}
		})
	}
}

func TestStockChangeValidate(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	tests := []struct {
		name   string
		change StockChange
		want   []string
	}{
		{"set", StockChange{Set: n(5)}, nil},
		{"set zero", StockChange{Set: n(0)}, nil},
		{"set max", StockChange{Set: n(MaxStock)}, nil},
		{"delta negative", StockChange{Delta: n(-3)}, nil},
		{"delta zero", StockChange{Delta: n(0)}, nil},
		{"delta bound", StockChange{Delta: n(-MaxStock)}, nil},
		{"neither", StockChange{}, []string{"set"}},
		{"both", StockChange{Set: n(1), Delta: n(1)}, []string{"delta"}},
		{"set negative", StockChange{Set: n(-1)}, []string{"set"}},
		{"set over", StockChange{Set: n(MaxStock + 1)}, []string{"set"}},
		{"delta over", StockChange{Delta: n(MaxStock + 1)}, []string{"delta"}},
		{"delta under", StockChange{Delta: n(-MaxStock - 1)}, []string{"delta"}},
	}
	for _, tt := range tests {
		if got := fields(tt.change.Validate()); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: fields = %v, want %v", tt.name, got, tt.want)
		}
	}
}
