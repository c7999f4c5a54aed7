package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/party"
)

// nameRequest is the body of POST /v1/brands and POST /v1/agencies.
type nameRequest struct {
	Name string `json:"name"`
}

// brandBody is a brand as the api shows it.
type brandBody struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func brandFrom(b party.Brand) brandBody {
	return brandBody{ID: b.ID, Name: b.Name, CreatedAt: b.CreatedAt}
}

// agencyBody is an agency as the api shows it.
type agencyBody struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func agencyFrom(a party.Agency) agencyBody {
	return agencyBody{ID: a.ID, Name: a.Name, CreatedAt: a.CreatedAt}
}

// createCreatorRequest is the body of POST /v1/creators; a null or absent
// agency_id means none (an agency caller: itself).
type createCreatorRequest struct {
	Handle      string  `json:"handle"`
	DisplayName string  `json:"display_name"`
	AgencyID    *string `json:"agency_id"`
}

// creatorBody is a creator as the api shows it; agency_id is null for an
// independent creator.
type creatorBody struct {
	ID          string    `json:"id"`
	Handle      string    `json:"handle"`
	DisplayName string    `json:"display_name"`
	AgencyID    *string   `json:"agency_id"`
	CreatedAt   time.Time `json:"created_at"`
}

func creatorFrom(c party.Creator) creatorBody {
	return creatorBody{ID: c.ID, Handle: c.Handle, DisplayName: c.DisplayName, AgencyID: optional(c.AgencyID), CreatedAt: c.CreatedAt}
}

// createShopperRequest is the body of POST /v1/shoppers.
type createShopperRequest struct {
	DisplayName string  `json:"display_name"`
	Email       *string `json:"email"`
}

// shopperBody is a shopper as the api shows it (to itself and admins only).
type shopperBody struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"display_name"`
	Email       *string   `json:"email"`
	CreatedAt   time.Time `json:"created_at"`
}

func shopperFrom(s party.Shopper) shopperBody {
	return shopperBody{ID: s.ID, DisplayName: s.DisplayName, Email: optional(s.Email), CreatedAt: s.CreatedAt}
}

// signupBody answers POST /v1/shoppers: the new shopper and its first token.
type signupBody struct {
	shopperBody
	Token string `json:"token"`
}

// createTokenRequest is the body of POST /v1/tokens. party_id is null or
// absent for admin tokens; expires_at (RFC 3339) is optional.
type createTokenRequest struct {
	Role      string  `json:"role"`
	PartyID   *string `json:"party_id"`
	ExpiresAt *string `json:"expires_at"`
}

// tokenBody is a freshly issued token: its plaintext is shown this once.
type tokenBody struct {
	ID        string     `json:"id"`
	Token     string     `json:"token"`
	Role      party.Role `json:"role"`
	PartyID   *string    `json:"party_id"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// meBody is the caller: its role, its party id and, under the role's name,
// the party itself (admins act for no party and have neither).
type meBody struct {
	Role    party.Role   `json:"role"`
	PartyID *string      `json:"party_id"`
	Brand   *brandBody   `json:"brand,omitempty"`
	Agency  *agencyBody  `json:"agency,omitempty"`
	Creator *creatorBody `json:"creator,omitempty"`
	Shopper *shopperBody `json:"shopper,omitempty"`
}

// createBrand answers POST /v1/brands.
func (s *server) createBrand(c *gin.Context) error {
	var req nameRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	b, err := s.parties.CreateBrand(c.Request.Context(), principal(c), req.Name)
	if err != nil {
		return err
	}
	return created(c, "/v1/brands/"+b.ID, brandFrom(b))
}

// getBrand answers GET /v1/brands/{id}: to an admin or the brand itself.
func (s *server) getBrand(c *gin.Context) error {
	brandID, err := pathID(c, "id", party.PrefixBrand)
	if err != nil {
		return err
	}
	b, err := s.parties.GetBrand(c.Request.Context(), principal(c), brandID)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, brandFrom(b))
}

// createAgency answers POST /v1/agencies.
func (s *server) createAgency(c *gin.Context) error {
	var req nameRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	a, err := s.parties.CreateAgency(c.Request.Context(), principal(c), req.Name)
	if err != nil {
		return err
	}
	return created(c, "/v1/agencies/"+a.ID, agencyFrom(a))
}

// getAgency answers GET /v1/agencies/{id}: to an admin or the agency itself.
func (s *server) getAgency(c *gin.Context) error {
	agencyID, err := pathID(c, "id", party.PrefixAgency)
	if err != nil {
		return err
	}
	a, err := s.parties.GetAgency(c.Request.Context(), principal(c), agencyID)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, agencyFrom(a))
}

// createCreator answers POST /v1/creators.
func (s *server) createCreator(c *gin.Context) error {
	var req createCreatorRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	cr, err := s.parties.CreateCreator(c.Request.Context(), principal(c), party.NewCreator{
		Handle:      req.Handle,
		DisplayName: req.DisplayName,
		AgencyID:    value(req.AgencyID),
	})
	if err != nil {
		return err
	}
	return created(c, "/v1/creators/"+cr.ID, creatorFrom(cr))
}

// getCreator answers GET /v1/creators/{id}: to an admin, the creator and its agency.
func (s *server) getCreator(c *gin.Context) error {
	creatorID, err := pathID(c, "id", party.PrefixCreator)
	if err != nil {
		return err
	}
	cr, err := s.parties.GetCreator(c.Request.Context(), principal(c), creatorID)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, creatorFrom(cr))
}

// createShopper answers POST /v1/shoppers: anyone may sign up as a shopper
// and gets its first token.
func (s *server) createShopper(c *gin.Context) error {
	var req createShopperRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	sh, tok, err := s.parties.CreateShopper(c.Request.Context(), principal(c), party.NewShopper{
		DisplayName: req.DisplayName,
		Email:       value(req.Email),
	})
	if err != nil {
		return err
	}
	return created(c, "/v1/shoppers/"+sh.ID, signupBody{shopperBody: shopperFrom(sh), Token: tok.Token})
}

// getShopper answers GET /v1/shoppers/{id}: to an admin or the shopper itself.
func (s *server) getShopper(c *gin.Context) error {
	shopperID, err := pathID(c, "id", party.PrefixShopper)
	if err != nil {
		return err
	}
	sh, err := s.parties.GetShopper(c.Request.Context(), principal(c), shopperID)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, shopperFrom(sh))
}

// createToken answers POST /v1/tokens. A token cannot be read back (only
// its hash is kept), so the 201 has no Location.
func (s *server) createToken(c *gin.Context) error {
	var req createTokenRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	var expires time.Time
	if req.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(*req.ExpiresAt))
		if err != nil {
			return errs.Invalid("expires_at", "must be an RFC 3339 time such as 2030-01-02T15:04:05Z")
		}
		if t.IsZero() { // the service reads a zero time as "never expires"
			return errs.Invalid("expires_at", "must be in the future")
		}
		expires = t
	}
	tok, err := s.parties.CreateTokenUntil(c.Request.Context(), principal(c), party.Role(req.Role), value(req.PartyID), expires)
	if err != nil {
		return err
	}
	body := tokenBody{ID: tok.ID, Token: tok.Token, Role: tok.Role, PartyID: optional(tok.PartyID)}
	if !tok.ExpiresAt.IsZero() {
		body.ExpiresAt = &tok.ExpiresAt
	}
	return reply(c, http.StatusCreated, body)
}

// revokeToken answers DELETE /v1/tokens/{id}: an admin ends any token, an
// agency its own and its creators'; on every node at once.
func (s *server) revokeToken(c *gin.Context) error {
	if err := s.parties.RevokeToken(c.Request.Context(), principal(c), c.Param("id")); err != nil {
		return err
	}
	return noContent(c)
}

// revokeCurrentToken answers DELETE /v1/tokens/current: the caller signs
// out, ending the token the request carries.
func (s *server) revokeCurrentToken(c *gin.Context) error {
	token, _ := bearerToken(c.Request.Header.Values("Authorization")) // authorize checked it
	if err := s.parties.RevokeBearer(c.Request.Context(), token); err != nil {
		return err
	}
	return noContent(c)
}

// me answers GET /v1/me: who the token acts as, with its party. A token
// whose party no longer exists answers 404 like the party would.
func (s *server) me(c *gin.Context) error {
	ctx, p := c.Request.Context(), principal(c)
	body := meBody{Role: p.Role, PartyID: optional(p.PartyID)}
	switch p.Role {
	case party.RoleBrand:
		b, err := s.parties.GetBrand(ctx, p, p.PartyID)
		if err != nil {
			return err
		}
		bb := brandFrom(b)
		body.Brand = &bb
	case party.RoleAgency:
		a, err := s.parties.GetAgency(ctx, p, p.PartyID)
		if err != nil {
			return err
		}
		ab := agencyFrom(a)
		body.Agency = &ab
	case party.RoleCreator:
		cr, err := s.parties.GetCreator(ctx, p, p.PartyID)
		if err != nil {
			return err
		}
		cb := creatorFrom(cr)
		body.Creator = &cb
	case party.RoleShopper:
		sh, err := s.parties.GetShopper(ctx, p, p.PartyID)
		if err != nil {
			return err
		}
		sb := shopperFrom(sh)
		body.Shopper = &sb
	}
	return reply(c, http.StatusOK, body)
}

// created answers 201 with the Location of the new object.
func created(c *gin.Context, location string, v any) error {
	c.Header("Location", location)
	return reply(c, http.StatusCreated, v)
}

// optional returns nil for an empty string: JSON null for "none".
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// value returns the string p points to, or "" for nil (JSON null or absent).
func value(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
