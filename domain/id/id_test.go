package id

import (
	"sort"
	"testing"
	"time"
)

func TestNewSortsByTimeAndValidates(t *testing.T) {
	base := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 50 {
		ids = append(ids, New("ord", base.Add(time.Duration(i)*time.Millisecond)))
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatalf("ids are not ordered by creation time: %v", ids[:3])
	}
	seen := map[string]bool{}
	for _, s := range ids {
		if seen[s] {
			t.Fatalf("duplicate id %s", s)
		}
		seen[s] = true
		if !Valid("ord", s) {
			t.Fatalf("Valid(%q) = false", s)
		}
	}
}

func TestValid(t *testing.T) {
	good := New("prd", time.Now())
	tests := []struct {
		name, prefix, in string
		want             bool
	}{
		{"good", "prd", good, true},
		{"other prefix", "ord", good, false},
		{"no prefix", "prd", good[4:], false},
		{"short", "prd", good[:len(good)-1], false},
		{"lowercase", "prd", "prd_" + "0123456789abcdefghjkmnpqrs", false},
		{"letter U", "prd", "prd_UUUUUUUUUUUUUUUUUUUUUUUUUU", false},
		{"empty", "prd", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Valid(tt.prefix, tt.in); got != tt.want {
				t.Fatalf("Valid(%q, %q) = %v, want %v", tt.prefix, tt.in, got, tt.want)
			}
		})
	}
}
