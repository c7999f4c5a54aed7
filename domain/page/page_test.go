package page

import (
	"errors"
	"reflect"
	"testing"

	"github.com/daihuo/daihuo/domain/errs"
)

// fields lists the fields a validation error names.
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

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		page Request
		want int
		errs []string
	}{
		{"default", Request{}, DefaultLimit, nil},
		{"one", Request{Limit: 1}, 1, nil},
		{"max", Request{Limit: MaxLimit}, MaxLimit, nil},
		{"over", Request{Limit: MaxLimit + 1}, 0, []string{"limit"}},
		{"negative", Request{Limit: -1}, 0, []string{"limit"}},
		{"garbage cursor", Request{Cursor: "abc"}, 0, []string{"cursor"}},
	}
	for _, tt := range tests {
		got, err := tt.page.Check("prd")
		if got != tt.want || !reflect.DeepEqual(fields(err), tt.errs) {
			t.Errorf("%s: Check() = %d, %v; want %d, %v", tt.name, got, err, tt.want, tt.errs)
		}
	}
}

func TestCut(t *testing.T) {
	id := func(s string) string { return s }
	tests := []struct {
		items    []string
		limit    int
		want     []string
		wantNext string
	}{
		{nil, 2, nil, ""},
		{[]string{"a", "b"}, 2, []string{"a", "b"}, ""},
		{[]string{"a", "b", "c"}, 2, []string{"a", "b"}, "b"},
	}
	for _, tt := range tests {
		got, next := Cut(tt.items, tt.limit, id)
		if !reflect.DeepEqual(got, tt.want) || next != tt.wantNext {
			t.Errorf("Cut(%v, %d) = %v, %q; want %v, %q", tt.items, tt.limit, got, next, tt.want, tt.wantNext)
		}
	}
}
