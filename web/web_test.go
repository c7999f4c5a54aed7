package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/daihuo/daihuo/domain/money"
)

// The player formats amounts with the server's exponents: its table of the
// exponents that are not 2 must be exactly the server's, for every currency
// the server knows.
func TestPlayerMinorDigitsMatchServer(t *testing.T) {
	src, err := files.ReadFile("static/player.js")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)const minorDigits = \{(.*?)\};`).FindSubmatch(src)
	if block == nil {
		t.Fatal("player.js has no `const minorDigits = {…};` table")
	}
	entry := regexp.MustCompile(`^([A-Z]{3}): (\d)$`)
	got := map[string]int{}
	for _, item := range strings.Split(string(block[1]), ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		m := entry.FindStringSubmatch(item)
		if m == nil {
			t.Fatalf("minorDigits entry %q is not `CODE: digit`", item)
		}
		if _, dup := got[m[1]]; dup {
			t.Errorf("minorDigits lists %s twice", m[1])
		}
		got[m[1]], _ = strconv.Atoi(m[2])
	}

	want := map[string]int{}
	code := []byte("AAA")
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			for c := 'A'; c <= 'Z'; c++ {
				code[0], code[1], code[2] = byte(a), byte(b), byte(c)
				if exp, ok := money.Exponent(string(code)); ok && exp != 2 {
					want[string(code)] = exp
				}
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("the server knows no currency whose exponent is not 2")
	}
	for c, exp := range want {
		if g, ok := got[c]; !ok || g != exp {
			t.Errorf("%s: player.js has %d (listed %v), the server %d", c, g, ok, exp)
		}
	}
	for c, g := range got {
		if _, ok := want[c]; !ok {
			exp, known := money.Exponent(c)
			t.Errorf("%s: player.js has %d, the server %d (known %v): only exponents other than 2 belong in the table", c, g, exp, known)
		}
	}
}

// Every answer, pages and assets alike, forbids framing and sniffing;
// pages are served only as pages, never as assets.
func TestHandler(t *testing.T) {
	tests := []struct {
		path   string
		status int
		ctype  string // prefix of the Content-Type of a 200
	}{
		{"/", 200, "text/html"},
		{"/watch/str_01JABCDEFGHJKMNPQRSTVWXYZ0", 200, "text/html"},
		{"/assets/player.js", 200, "text/javascript"},
		{"/assets/start.js", 200, "text/javascript"},
		{"/assets/player.css", 200, "text/css"},
		{"/assets/watch.html", 404, ""},
		{"/assets/index.html", 404, ""},
		{"/assets/WATCH.HTML", 404, ""},
		{"/assets/", 404, ""},
		{"/assets/nope.js", 404, ""},
		{"/watch/a/b", 404, ""},
	}
	h := Handler()
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			hdr := rec.Header()
			if tt.status == 200 && !strings.HasPrefix(hdr.Get("Content-Type"), tt.ctype) {
				t.Errorf("Content-Type %q, want %s…", hdr.Get("Content-Type"), tt.ctype)
			}
			csp := hdr.Get("Content-Security-Policy")
			for _, d := range []string{"default-src 'self'", "script-src 'self'", "connect-src 'self'",
				"frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
				if !strings.Contains(csp, d) {
					t.Errorf("CSP %q lacks %s", csp, d)
				}
			}
			for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"} {
				if got := hdr.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestOwns(t *testing.T) {
	for path, want := range map[string]bool{
		"/": true, "/watch/str_1": true, "/assets/player.js": true,
		"/v1/streams": false, "/healthz": false, "/openapi.yaml": false,
	} {
		if got := Owns(path); got != want {
			t.Errorf("Owns(%q) = %v, want %v", path, got, want)
		}
	}
}
