package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/daihuo/daihuo/api/apitest"
	"github.com/daihuo/daihuo/domain/errs"
)

func TestBindJSON(t *testing.T) {
	env := newTestEnv(t, nil)
	big := `{"title":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		field       string // of the first field error, for 400
		message     string
	}{
		{"valid", "application/json", `{"title":"t","variants":[{"sku":"a","stock":1,"price":{"amount":1999,"currency":"EUR"}}]}`, 200, "", ""},
		{"charset utf-8 is fine", "application/json; charset=UTF-8", `{"title":"t"}`, 200, "", ""},
		{"field names are exact", "application/json", `{"TITLE":"t"}`, 400, "TITLE", "is not a known field"},
		{"exact name inside an array", "application/json", `{"variants":[{"SKU":"a"}]}`, 400, "variants[0].SKU", "is not a known field"},
		{"unknown field", "application/json", `{"title":"t","colour":"red"}`, 400, "colour", "is not a known field"},
		{"unknown nested field", "application/json", `{"variants":[{"sku":"a"},{"sku":"b","price":{"amount":1,"cents":2}}]}`, 400, "variants[1].price.cents", "is not a known field"},
		{"known name elsewhere, unknown here", "application/json", `{"title":"t","variants":[{"title":"x"}]}`, 400, "variants[0].title", "is not a known field"},
		{"wrong type", "application/json", `{"variants":[{"stock":1},{"stock":"2"}]}`, 400, "variants[1].stock", "must be an integer"},
		{"fraction for integer", "application/json", `  {"variants":[{"stock":1.5}]}`, 400, "variants[0].stock", "must be an integer"},
		{"integer out of range", "application/json", `{"variants":[{"stock":99999999999999999999}]}`, 400, "variants[0].stock", "is out of range"},
		{"object for string", "application/json", `{"title":{"a":1}}`, 400, "title", "must be a string"},
		{"object for array", "application/json", `{"variants":{}}`, 400, "variants", "must be an array"},
		{"string for object", "application/json", `{"variants":[{"price":"1999"}]}`, 400, "variants[0].price", "must be an object"},
		{"map value", "application/json", `{"tags":{"a":1,"b":"x"}}`, 400, "tags.b", "must be an integer"},
		{"array for body", "application/json", `[1]`, 400, "body", "must be an object"},
		{"trailing data", "application/json", `{"title":"t"} {}`, 400, "body", "must be a single JSON value"},
		{"trailing garbage", "application/json", `{"title":"t"}x`, 400, "body", "must be a single JSON value"},
		{"invalid UTF-8", "application/json", "{\"title\":\"\xff\"}", 400, "body", "must be valid UTF-8"},
		{"lone high surrogate", "application/json", `{"title":"A\ud800B"}`, 400, "title", "must not contain an unpaired UTF-16 surrogate"},
		{"lone low surrogate, nested", "application/json", `{"title":"t","variants":[{"sku":"a\uDC00"}]}`, 400, "variants[0].sku", "must not contain an unpaired"},
		{"surrogates the wrong way round", "application/json", `{"title":"\udc00\ud800"}`, 400, "title", "must not contain an unpaired"},
		{"a surrogate pair is one character", "application/json", `{"title":"\ud83d\ude00 \u00e9"}`, 200, "", ""},
		{"an escaped backslash before u", "application/json", `{"title":"\\ud800"}`, 200, "", ""},
		{"a key twice", "application/json", `{"title":null,"title":"B"}`, 400, "title", "appears twice in its object"},
		{"a key twice, nested", "application/json", `{"variants":[{"sku":"a"},{"sku":"b", "stock":1,"sku":"c"}]}`, 400, "variants[1].sku", "appears twice"},
		{"a map key twice", "application/json", `{"tags":{"a":1,"b":2,"a":3}}`, 400, "tags.a", "appears twice"},
		{"a key twice, once escaped", "application/json", `{"title":"a","t\u0069tle":"b"}`, 400, "title", "appears twice"},
		{"the same key in sibling objects", "application/json", `{"title":"t","variants":[{"sku":"a","stock":1},{"sku":"b","stock":2}],"tags":{"title":1}}`, 200, "", ""},
		{"a key's name as a value", "application/json", `{"title":"title","note":"{\"title\":1}"}`, 200, "", ""},
		{"empty body", "application/json", ``, 400, "body", "must not be empty"},
		{"blank body", "application/json", " \n\t", 400, "body", "must not be empty"},
		{"null", "application/json", `null`, 400, "body", "must not be null"},
		{"malformed", "application/json", `{"title":}`, 400, "body", ""},
		{"truncated", "application/json", `{"title":"t"`, 400, "body", "is not valid JSON: it ends too early"},
		{"no content type", "", `{"title":"t"}`, 415, "", ""},
		{"wrong content type", "text/plain", `{"title":"t"}`, 415, "", ""},
		{"json suffix is not json", "application/merge-patch+json", `{"title":"t"}`, 415, "", ""},
		{"other charset", "application/json; charset=latin1", `{"title":"t"}`, 415, "", ""},
		{"over 1 MiB", "application/json", big, 413, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := apitest.NewRequest(t, http.MethodPost, "/test/echo", "", tt.body)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			res := env.Do(req).Want(tt.status)
			if tt.status == 200 {
				return
			}
			p := res.Problem()
			if tt.status != 400 {
				return
			}
			if len(p.Errors) == 0 || p.Errors[0].Field != tt.field || !strings.HasPrefix(p.Errors[0].Message, tt.message) {
				t.Errorf("errors %+v, want field %q message %q", p.Errors, tt.field, tt.message)
			}
		})
	}
}

// TestBodyLimitWhileReading sends an oversize body without Content-Length,
// so only http.MaxBytesReader can catch it.
func TestBodyLimitWhileReading(t *testing.T) {
	env := newTestEnv(t, nil)
	body := `{"title":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	req := apitest.NewRequest(t, http.MethodPost, "/test/echo", "", nil)
	req.Body = io.NopCloser(strings.NewReader(body)) // unknown length, like a chunked upload
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	if p := env.Do(req).Want(413).Problem(); p.Code != "payload_too_large" {
		t.Errorf("code %s", p.Code)
	}
	// Exactly at the limit is fine.
	exact := `{"title":"` + strings.Repeat("a", maxBodyBytes-len(`{"title":""}`)) + `"}`
	req = apitest.NewRequest(t, http.MethodPost, "/test/echo", "", exact)
	req.Header.Set("Content-Type", "application/json")
	env.Do(req).Want(200)
}

func TestDecodeStrictProgrammingError(t *testing.T) {
	var dst echoRequest
	err := decodeStrict([]byte(`{}`), dst) // not a pointer
	var ve *errs.ValidationError
	if err == nil || errors.As(err, &ve) {
		t.Fatalf("non-pointer destination gave %v, want a server error", err)
	}
}

// FuzzDecodeStrict checks that no client input panics or becomes a 500.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{
		`{"title":"t","variants":[{"sku":"a","stock":1,"price":{"amount":1,"currency":"EUR"}}],"tags":{"a":1}}`,
		`{"variants":[{"stock":"x"}]}`, `{"variants":[{"colour":1}]}`, `[]`, `null`, `{"a":1} 2`, "\xff", ``,
		`{"tags":{"a":{"b":[1,{"c":2}]}}}`, `{"note":null,"Note":"x"}`, `{"TITLE":"t"}`, `{"title" :"t","note":"\"x\":1"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var dst echoRequest
		err := decodeStrict(data, &dst)
		if err == nil {
			// Whether the key scan or the walk let it through, the walk must
			// find every key spelled exactly.
			walkJSON(data, reflect.TypeOf(&dst), func(v visit) bool {
				if v.key && v.unknown {
					t.Fatalf("input %q accepted with the key %s spelled otherwise", data, v.path)
				}
				return false
			})
			return
		}
		if p, expected := problemFor(err); !expected || p.Status != http.StatusBadRequest {
			t.Fatalf("input %q gave %d (%v)", data, p.Status, err)
		}
	})
}

func TestWalkJSONPaths(t *testing.T) {
	data := []byte(`{"a":[1,{"b":[[true],{"c":"x"}]}],"d":{"e f":null}}`)
	var paths []string
	walkJSON(data, nil, func(v visit) bool {
		if !v.key {
			paths = append(paths, v.path)
		}
		return false
	})
	want := []string{"body", "a", "a[0]", "a[1]", "a[1].b", "a[1].b[0]", "a[1].b[0][0]", "a[1].b[1]", "a[1].b[1].c", "d", "d.e f"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths\n got %q\nwant %q", paths, want)
	}
}

func TestReplyEncodesJSON(t *testing.T) {
	env := newTestEnv(t, nil)
	res := env.Do(jsonRequest(t, `{"title":"<b>&</b>","note":"n"}`)).Want(200)
	if !bytes.Contains(res.Body, []byte(`"note":"n"`)) || res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("reply %s %q", res.Body, res.Header.Get("Content-Type"))
	}
}

func jsonRequest(t *testing.T, body string) *http.Request {
	req := apitest.NewRequest(t, http.MethodPost, "/test/echo", "", body)
	req.Header.Set("Content-Type", "application/json")
	return req
}

func TestKeysSpelledExactly(t *testing.T) {
	type line struct {
		SKU   string `json:"sku"`
		Price int    `json:"price"`
	}
	type doc struct {
		Title string            `json:"title"`
		Lines []line            `json:"lines"`
		Note  *string           `json:"note,omitempty"`
		Meta  map[string]string `json:"-"`
	}
	type clash struct {
		A string `json:"name"`
		B struct {
			C string `json:"Name"`
		} `json:"b"`
	}
	type withMap struct {
		Meta map[string]string `json:"meta"`
	}
	tests := []struct {
		name string
		data string
		typ  any
		want bool
	}{
		{"exact keys", `{"title":"x","lines":[{"sku":"a","price":1}],"note":"n"}`, &doc{}, true},
		{"key spelled in capitals", `{"TITLE":"x"}`, &doc{}, false},
		{"nested key spelled otherwise", `{"lines":[{"Sku":"a"}]}`, &doc{}, false},
		{"escaped key", `{"\u0074itle":"x"}`, &doc{}, false},
		{"a value that looks like a key", `{"title":"\"TITLE\": 1"}`, &doc{}, true},
		{"space before the colon", `{"title" : "x"}`, &doc{}, true},
		{"two spellings in the tree", `{"name":"x"}`, &clash{}, false},
		{"a map's keys are free", `{"meta":{"k":"v"}}`, &withMap{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keysSpelledExactly([]byte(tt.data), reflect.TypeOf(tt.typ)); got != tt.want {
				t.Errorf("keysSpelledExactly(%s) = %v, want %v", tt.data, got, tt.want)
			}
		})
	}
}
