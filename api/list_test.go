package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/daihuo/daihuo/api/apitest"
	"github.com/daihuo/daihuo/domain/id"
)

func TestList(t *testing.T) {
	env := newTestEnv(t, nil)
	tests := []struct {
		query  string
		status int
		n      int
		next   *string
		field  string
	}{
		{"", 200, 20, nil, ""},
		{"?limit=1&cursor=c", 200, 1, ptr("more"), ""},
		{"?limit=100", 200, 100, nil, ""},
		{"?cursor=empty", 200, 0, nil, ""},
		{"?limit=0", 400, 0, nil, "limit"},
		{"?limit=101", 400, 0, nil, "limit"},
		{"?limit=abc", 400, 0, nil, "limit"},
		{"?limit=-1", 400, 0, nil, "limit"},
		{"?limit=1&limit=2", 400, 0, nil, "limit"},
		{"?cursor=a&cursor=b", 400, 0, nil, "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			res := env.Call(http.MethodGet, "/test/list"+tt.query, "", nil).Want(tt.status)
			if tt.status != 200 {
				if p := res.Problem(); len(p.Errors) == 0 || p.Errors[0].Field != tt.field {
					t.Errorf("errors %+v, want field %s", p.Errors, tt.field)
				}
				return
			}
			if tt.n == 0 && string(res.Body) != `{"data":[],"next_cursor":null}` {
				t.Errorf("empty list %s", res.Body)
			}
			var body struct {
				Data       []string `json:"data"`
				NextCursor *string  `json:"next_cursor"`
			}
			res.JSON(&body)
			if len(body.Data) != tt.n || (body.NextCursor == nil) != (tt.next == nil) || (tt.next != nil && *body.NextCursor != *tt.next) {
				t.Errorf("got %d items next %v", len(body.Data), body.NextCursor)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestPathIDAndIdempotencyKey(t *testing.T) {
	env := newTestEnv(t, nil)
	good := id.New("prd", time.Now())
	tests := []struct {
		name   string
		path   string
		keys   []string
		status int
	}{
		{"ok", good, []string{"k-1"}, 201},
		{"garbage id is 404", "prd_nope", []string{"k-1"}, 404},
		{"other prefix is 404", id.New("ord", time.Now()), []string{"k-1"}, 404},
		{"missing key", good, nil, 400},
		{"two keys", good, []string{"a", "b"}, 400},
		{"empty key", good, []string{""}, 400},
		{"key too long", good, []string{strings.Repeat("k", 256)}, 400},
		{"key with space", good, []string{"a b"}, 400},
		{"key at the limit", good, []string{strings.Repeat("k", 255)}, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := apitest.NewRequest(t, http.MethodPost, "/test/things/"+tt.path, "", nil)
			for _, k := range tt.keys {
				req.Header.Add("Idempotency-Key", k)
			}
			res := env.Do(req).Want(tt.status)
			if tt.status == 400 {
				if p := res.Problem(); len(p.Errors) != 1 || p.Errors[0].Field != "Idempotency-Key" {
					t.Errorf("errors %+v", p.Errors)
				}
			}
		})
	}
}
