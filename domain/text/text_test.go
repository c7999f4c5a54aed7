package text

import (
	"errors"
	"strings"
	"testing"

	"github.com/daihuo/daihuo/domain/errs"
)

func TestLineAndBlock(t *testing.T) {
	tests := []struct {
		name      string
		fn        func(string) (string, error)
		in, want  string
		wantError string
	}{
		{"line trims", func(s string) (string, error) { return Line("f", s, 5) }, "  hi  ", "hi", ""},
		{"line empty", func(s string) (string, error) { return Line("f", s, 5) }, "   ", "", "must not be empty"},
		{"line long", func(s string) (string, error) { return Line("f", s, 5) }, "héllo!", "", "at most 5"},
		{"line counts runes", func(s string) (string, error) { return Line("f", s, 5) }, "héllo", "héllo", ""},
		{"line newline", func(s string) (string, error) { return Line("f", s, 5) }, "a\nb", "", "control"},
		{"line invalid utf-8", func(s string) (string, error) { return Line("f", s, 5) }, "a\xffb", "", "UTF-8"},
		{"block newline", func(s string) (string, error) { return Block("f", s, 9, false) }, "a\nb\tc", "a\nb\tc", ""},
		{"block bell", func(s string) (string, error) { return Block("f", s, 9, false) }, "a\x07", "", "control"},
		{"block optional", func(s string) (string, error) { return Block("f", s, 9, false) }, "  ", "", ""},
		{"block required", func(s string) (string, error) { return Block("f", s, 9, true) }, "  ", "", "must not be empty"},
		{"block long", func(s string) (string, error) { return Block("f", s, 3, false) }, "abcd", "", "at most 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.fn(tt.in)
			if tt.wantError == "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var ve *errs.ValidationError
			if !errors.As(err, &ve) || ve.Fields[0].Field != "f" || !strings.Contains(ve.Fields[0].Message, tt.wantError) {
				t.Fatalf("err = %v, want a validation error on f saying %q", err, tt.wantError)
			}
		})
	}
}
