package api

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/party"
)

// principalKey is the gin context key of the authenticated principal.
const principalKey = "daihuo.principal"

// maxTokenLen bounds a bearer token; longer ones are garbage, not lookups.
const maxTokenLen = 512

// principal returns the caller of the request. On a route that is not
// public it is always set; on a public route it is the zero Principal when
// no token was sent.
func principal(c *gin.Context) party.Principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(party.Principal)
	return pr
}

// authorize is the policy of one route: it authenticates a bearer token when
// one is sent, then lets the request through only if the route's access
// permits the principal's role.
func (s *server) authorize(a access) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok, err := s.authenticate(c)
		switch {
		case err != nil:
			s.writeError(c, err)
			return
		case ok:
			c.Set(principalKey, p)
		}
		switch {
		case a.public:
		case !ok:
			s.writeError(c, errNoToken)
		case !a.permits(p.Role):
			s.writeError(c, errs.New(errs.CodeForbidden, fmt.Sprintf("role %s may not call this route", p.Role)))
		}
	}
}

// authenticate resolves the request's bearer token; ok is false when the
// request carries no Authorization header.
func (s *server) authenticate(c *gin.Context) (p party.Principal, ok bool, err error) {
	values := c.Request.Header.Values("Authorization")
	if len(values) == 0 {
		return party.Principal{}, false, nil
	}
	invalid := func(msg string) error {
		c.Header("WWW-Authenticate", `Bearer realm="daihuo", error="invalid_token"`)
		return errs.New(errs.CodeUnauthenticated, msg)
	}
	token, found := bearerToken(values)
	if !found {
		return party.Principal{}, false, invalid("the Authorization header must be: Bearer <token>")
	}
	if s.auth == nil {
		return party.Principal{}, false, invalid("unknown or expired token")
	}
	p, err = s.auth.Authenticate(c.Request.Context(), token)
	var e *errs.Error
	switch {
	case errors.As(err, &e) && (e.Code == errs.CodeUnauthenticated || e.Code == errs.CodeNotFound):
		return party.Principal{}, false, invalid("unknown or expired token")
	case err != nil:
		return party.Principal{}, false, fmt.Errorf("authenticate: %w", err)
	case !p.Role.Valid():
		return party.Principal{}, false, fmt.Errorf("authenticate: token has unknown role %q", p.Role)
	}
	return p, true, nil
}

// bearerToken extracts the token of a single "Bearer <token>" header (the
// scheme is case-insensitive). The token may be any 1 to 512 visible ASCII
// characters: a little wider than RFC 6750's b64token, so an operator's
// DAIHUO_ADMIN_TOKEN with, say, a "!" still works.
func bearerToken(values []string) (string, bool) {
	if len(values) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > maxTokenLen {
		return "", false
	}
	for i := 0; i < len(token); i++ {
		if token[i] <= ' ' || token[i] >= 0x7f {
			return "", false
		}
	}
	return token, true
}
