package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/daihuo/daihuo/api/apitest"
	"github.com/daihuo/daihuo/domain/party"
)

func TestAuthentication(t *testing.T) {
	env := newTestEnv(t, nil)
	tests := []struct {
		name   string
		header []string // Authorization values
		status int
	}{
		{"missing", nil, 401},
		{"empty", []string{""}, 401},
		{"basic scheme", []string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, 401},
		{"scheme only", []string{"Bearer"}, 401},
		{"empty token", []string{"Bearer "}, 401},
		{"two spaces", []string{"Bearer  " + brandToken}, 401},
		{"two parts", []string{"Bearer " + brandToken + " extra"}, 401},
		{"control character", []string{"Bearer brand\x01"}, 401},
		{"not ASCII", []string{"Bearer brändtoken"}, 401},
		{"visible ASCII is a token, unknown here", []string{"Bearer s3cr3t!@#"}, 401},
		{"too long", []string{"Bearer " + strings.Repeat("a", maxTokenLen+1)}, 401},
		{"unknown token", []string{"Bearer nobody"}, 401},
		{"two headers", []string{"Bearer " + brandToken, "Bearer " + brandToken}, 401},
		{"store failure is ours", []string{"Bearer " + brokenToken}, 500},
		{"valid", []string{"Bearer " + brandToken}, 200},
		{"scheme is case-insensitive", []string{"bearer " + brandToken}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := apitest.NewRequest(t, http.MethodGet, "/test/brand", "", nil)
			for _, h := range tt.header {
				req.Header.Add("Authorization", h)
			}
			res := env.Do(req).Want(tt.status)
			if tt.status == 401 {
				if p := res.Problem(); p.Code != "unauthenticated" {
					t.Errorf("code %s", p.Code)
				}
				if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", res.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

func TestAuthorization(t *testing.T) {
	env := newTestEnv(t, nil)
	var who struct {
		Role    string `json:"role"`
		PartyID string `json:"party_id"`
	}
	env.Call(http.MethodGet, "/test/brand", brandToken, nil).Want(200).JSON(&who)
	if who.Role != "brand" || who.PartyID != "brd_1" {
		t.Errorf("principal %+v", who)
	}
	p := env.Call(http.MethodGet, "/test/brand", shopperToken, nil).Want(403).Problem()
	if p.Code != "forbidden" {
		t.Errorf("code %s", p.Code)
	}
	env.Call(http.MethodGet, "/test/staff", adminToken, nil).Want(200)
	env.Call(http.MethodGet, "/test/staff", agencyToken, nil).Want(200)
	env.Call(http.MethodGet, "/test/staff", brandToken, nil).Want(403)

	// Public routes: no token is fine, a sent token is checked and usable.
	env.Call(http.MethodGet, "/test/whoami", "", nil).Want(200).JSON(&who)
	if who.Role != "" {
		t.Errorf("anonymous principal %+v", who)
	}
	env.Call(http.MethodGet, "/test/whoami", creatorToken, nil).Want(200).JSON(&who)
	if who.Role != "creator" || who.PartyID != "crt_1" {
		t.Errorf("principal on a public route %+v", who)
	}
	env.Call(http.MethodGet, "/test/whoami", "nobody", nil).Want(401)
}

func TestNoAuthenticatorRejectsTokens(t *testing.T) {
	env := newTestEnv(t, func(d *Deps) { d.Auth = nil })
	env.Call(http.MethodGet, "/test/brand", brandToken, nil).Want(401)
}

// accessMatrix is who may call each route, written out a second time on
// purpose: changing the route table's access must change this too.
// nil means public: anyone.
func accessMatrix() map[string][]party.Role {
	return map[string][]party.Role{
		"GET /healthz":      nil,
		"GET /readyz":       nil,
		"GET /metrics":      nil,
		"GET /openapi.yaml": nil,
	}
}

// TestAccessMatrix checks the route table against accessMatrix and then the
// policy itself: without a token a protected route answers 401, with the
// token of a role it does not allow 403. (Allowed roles reach the handler;
// their answers are each feature's tests' business.)
func TestAccessMatrix(t *testing.T) {
	routes, matrix := Routes(), accessMatrix()
	seen := map[string]bool{}
	for _, r := range routes {
		key := r.Method + " " + r.Path
		seen[key] = true
		want, ok := matrix[key]
		if !ok {
			t.Errorf("%s is not in accessMatrix", key)
			continue
		}
		if r.Public != (want == nil) || !sameRoles(r.Roles, want) {
			t.Errorf("%s: route table says public=%v roles=%v, accessMatrix says %v", key, r.Public, r.Roles, want)
		}
	}
	for key := range matrix {
		if !seen[key] {
			t.Errorf("accessMatrix has %s, the route table does not", key)
		}
	}

	c := apitest.New(t, New(Deps{Auth: fakeAuth{}}), apitest.LoadSpec(t, OpenAPI()))
	for _, r := range routes {
		if r.Public {
			continue
		}
		path := samplePath(r.Path)
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			c.Call(r.Method, path, "", nil).Want(401)
			for _, role := range party.Roles() {
				if !slices.Contains(r.Roles, role) {
					c.Call(r.Method, path, tokenOf(role), nil).Want(403)
				}
			}
		})
	}
}

// samplePath fills a gin path's parameters with sample values.
func samplePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			parts[i] = fmt.Sprintf("x%d", i)
		}
	}
	return strings.Join(parts, "/")
}

func sameRoles(a, b []party.Role) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
