package id

import (
	"sort"
	"strings"
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

func TestFloorBoundsTheIDsOfItsMillisecond(t *testing.T) {
	at := time.Date(2026, 11, 27, 18, 0, 0, 500_000, time.UTC) // half a millisecond in
	floor, next := Floor("ord", at), Floor("ord", at.Add(time.Millisecond))
	if !Valid("ord", floor) || !Valid("ord", next) {
		t.Fatalf("floors %q, %q are not valid ids", floor, next)
	}
	for _, tc := range []struct {
		made  time.Time
		above bool // at or above floor
		below bool // below next
	}{
		{at, true, true},
		{at.Add(-400 * time.Microsecond), true, true}, // the same millisecond
		{at.Add(-time.Millisecond), false, true},
		{at.Add(time.Millisecond), true, false},
	} {
		for range 20 {
			got := New("ord", tc.made)
			if (got >= floor) != tc.above || (got < next) != tc.below {
				t.Fatalf("id made at %s: %s against floor %s and next %s", tc.made.Format(time.RFC3339Nano), got, floor, next)
			}
		}
	}
	if Floor("ord", time.Unix(0, 0)) != "ord_"+strings.Repeat("0", 26) {
		t.Fatalf("the floor of the epoch is %s", Floor("ord", time.Unix(0, 0)))
	}
}
