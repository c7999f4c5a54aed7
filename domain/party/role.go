// Package party is who takes part in daihuo: brands, agencies, creators,
// shoppers and platform admins, and the principals that act for them.
package party

// Role is what a principal acts as; it decides what it may do.
type Role string

// The roles of the HTTP contract.
const (
	RoleAdmin   Role = "admin"
	RoleBrand   Role = "brand"
	RoleAgency  Role = "agency"
	RoleCreator Role = "creator"
	RoleShopper Role = "shopper"
)

// Roles lists every role.
func Roles() []Role { return []Role{RoleAdmin, RoleBrand, RoleAgency, RoleCreator, RoleShopper} }

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleBrand, RoleAgency, RoleCreator, RoleShopper:
		return true
	}
	return false
}

// Principal is the authenticated caller: a role and the party it acts for
// (empty for admins, who act for the platform).
type Principal struct {
	Role    Role
	PartyID string
}
