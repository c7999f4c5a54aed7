package party

// IsAdmin reports whether p acts for the platform.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// Is reports whether p acts as role for the party partyID.
func (p Principal) Is(role Role, partyID string) bool {
	return p.Role == role && p.PartyID != "" && p.PartyID == partyID
}

// IsBrand reports whether p acts as the brand brandID.
func (p Principal) IsBrand(brandID string) bool { return p.Is(RoleBrand, brandID) }

// IsAgency reports whether p acts as the agency agencyID.
func (p Principal) IsAgency(agencyID string) bool { return p.Is(RoleAgency, agencyID) }

// IsCreator reports whether p acts as the creator creatorID.
func (p Principal) IsCreator(creatorID string) bool { return p.Is(RoleCreator, creatorID) }

// IsShopper reports whether p acts as the shopper shopperID.
func (p Principal) IsShopper(shopperID string) bool { return p.Is(RoleShopper, shopperID) }
