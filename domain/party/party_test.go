package party

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
)

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "Maison Lumière", "Maison Lumière", true},
		{"trimmed", "  Kumo Kitchen \t", "Kumo Kitchen", true},
		{"cjk", "雲の台所", "雲の台所", true},
		{"one char", "x", "x", true},
		{"max runes", strings.Repeat("é", MaxNameLen), strings.Repeat("é", MaxNameLen), true},
		{"too long", strings.Repeat("a", MaxNameLen+1), "", false},
		{"empty", "", "", false},
		{"blank", "   ", "", false},
		{"control", "bad\x00name", "", false},
		{"newline inside", "two\nlines", "", false},
		{"invalid utf8", "bad\xffname", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeName("name", tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("NormalizeName(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
			if err != nil {
				var ve *errs.ValidationError
				if !errors.As(err, &ve) || ve.Fields[0].Field != "name" {
					t.Fatalf("err = %#v, want a validation error on name", err)
				}
			}
		})
	}
}

func TestNormalizeHandle(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"mia.live", "mia.live", true},
		{"kenji_cooks", "kenji_cooks", true},
		{" Mia.Live ", "mia.live", true},
		{"ab", "ab", true},
		{strings.Repeat("a", 32), strings.Repeat("a", 32), true},
		{"a", "", false},
		{strings.Repeat("a", 33), "", false},
		{"has space", "", false},
		{"dash-not-ok", "", false},
		{"émile", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeHandle(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeHandle(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"  ", "", true},
		{"ana@example.com", "ana@example.com", true},
		{" Ana.B+live@Example.co.jp ", "Ana.B+live@Example.co.jp", true},
		{"Ana <ana@example.com>", "", false},
		{"ana@localhost", "", false},
		{"ana", "", false},
		{"@example.com", "", false},
		{"ana@@example.com", "", false},
		{strings.Repeat("a", 250) + "@example.com", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeEmail(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestPrefixFor(t *testing.T) {
	tests := []struct {
		role   Role
		prefix string
		ok     bool
	}{
		{RoleBrand, "brd", true},
		{RoleAgency, "agy", true},
		{RoleCreator, "crt", true},
		{RoleShopper, "shp", true},
		{RoleAdmin, "", false},
		{Role("root"), "", false},
	}
	for _, tt := range tests {
		p, ok := PrefixFor(tt.role)
		if p != tt.prefix || ok != tt.ok {
			t.Errorf("PrefixFor(%s) = %q, %v; want %q, %v", tt.role, p, ok, tt.prefix, tt.ok)
		}
	}
}

func TestPrincipalIs(t *testing.T) {
	brand := Principal{Role: RoleBrand, PartyID: "brd_1"}
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"own brand", brand.IsBrand("brd_1"), true},
		{"other brand", brand.IsBrand("brd_2"), false},
		{"empty id never matches", Principal{Role: RoleBrand}.IsBrand(""), false},
		{"role matters", Principal{Role: RoleAgency, PartyID: "brd_1"}.IsBrand("brd_1"), false},
		{"admin", Principal{Role: RoleAdmin}.IsAdmin(), true},
		{"brand is not admin", brand.IsAdmin(), false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestTokenSecretAndHash(t *testing.T) {
	a, b := newTokenSecret(), newTokenSecret()
	if a == b {
		t.Fatal("two tokens are equal")
	}
	body, ok := strings.CutPrefix(a, TokenPrefix)
	if !ok {
		t.Fatalf("token %q lacks prefix %q", a, TokenPrefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) != 32 {
		t.Fatalf("token body decodes to %d bytes, %v; want 32 random bytes", len(raw), err)
	}
	if h := HashToken(a); len(h) != 32 || string(h) == string(HashToken(b)) {
		t.Fatalf("hash of token is %x", h)
	}
}

func TestTokenExpired(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		expires time.Time
		want    bool
	}{
		{"never", time.Time{}, false},
		{"future", now.Add(time.Second), false},
		{"exactly now", now, true},
		{"past", now.Add(-time.Second), true},
	}
	for _, tt := range tests {
		if got := (Token{ExpiresAt: tt.expires}).Expired(now); got != tt.want {
			t.Errorf("%s: Expired = %v, want %v", tt.name, got, tt.want)
		}
	}
}
