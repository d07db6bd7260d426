// Package identity authenticates callers against the district's Ory Kratos
// and decides what they may see and do.
//
// Who a caller is comes from Kratos (a session cookie or a session token);
// what they may do comes only from the identity's metadata_public
// ({"role", "town", "village"}), which only the Kratos admin API can write.
// Traits (email, name, phone) are editable by the user and are never used for
// authorisation.
//
// Tenant scope, in one table (see the Can* methods):
//
//	role                          read village V of town T        act in village V of town T
//	village roles (secretary …)   own village only                own village only
//	town-official/-finance/-discipline  every village of own town  every village of own town
//	town-it                       nothing (manages accounts)      nothing
//	district-discipline/-admin    every village of the district   nothing
//	villager                      public pages only               nothing
//
// There is one Kratos per district, so a district role covers every town the
// Kratos knows.
//
// Credentials: browsers send the session cookie Kratos set at the end of a
// browser login flow (named by session.cookie.name, wuxiao_session in
// hack/kratos/kratos.yml); apps send the session token of a native login
// flow as Authorization: Bearer or X-Session-Token. The two are not
// interchangeable: the cookie is Kratos' encrypted cookie, and a native
// session token put into the cookie is refused (401).
//
// Caching: a resolved session is reused for WithCacheTTL (default 10 s), so
// revoking a session, deactivating an identity or changing its role takes
// effect within that time. Failures are never cached.
package identity

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/wuxiao/wuxiao/api/divcode"
	apiidentity "github.com/wuxiao/wuxiao/api/identity"
)

// Role is what an identity may do, read from metadata_public.role. The
// roles are the contract with the operator, in api/identity.
type Role = apiidentity.Role

// The roles (apiidentity): village roles hold a town and a 12-digit village
// code, town roles a town and no village, district roles neither.
const (
	RoleSecretary        = apiidentity.RoleSecretary
	RoleDirector         = apiidentity.RoleDirector
	RoleCommitteeMember  = apiidentity.RoleCommitteeMember
	RoleAccountant       = apiidentity.RoleAccountant
	RoleCashier          = apiidentity.RoleCashier
	RoleSupervisionChair = apiidentity.RoleSupervisionChair
	RoleLiaisonOfficer   = apiidentity.RoleLiaisonOfficer

	RoleTownOfficial   = apiidentity.RoleTownOfficial
	RoleTownFinance    = apiidentity.RoleTownFinance
	RoleTownDiscipline = apiidentity.RoleTownDiscipline
	RoleTownIT         = apiidentity.RoleTownIT

	RoleDistrictDiscipline = apiidentity.RoleDistrictDiscipline
	RoleDistrictAdmin      = apiidentity.RoleDistrictAdmin

	RoleVillager = apiidentity.RoleVillager
)

// Role groups, in a stable order.
var (
	VillageRoles  = apiidentity.VillageRoles
	TownRoles     = apiidentity.TownRoles
	DistrictRoles = apiidentity.DistrictRoles
	AllRoles      = apiidentity.AllRoles
)

// Metadata is an identity's metadata_public (apiidentity.Metadata) as this
// package reads and the Admin writes it.
type Metadata apiidentity.Metadata

// ErrInvalidMetadata wraps every reason Metadata.Validate rejects.
var ErrInvalidMetadata = errors.New("invalid identity metadata")

var townPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ValidTown reports whether s can be a town name (a Kubernetes object name:
// lower-case letters, digits and dashes, at most 63 characters).
func ValidTown(s string) bool { return len(s) <= 63 && townPattern.MatchString(s) }

// ValidVillage reports whether s is a 12-digit village code.
func ValidVillage(s string) bool { return divcode.Valid(s) }

// Validate checks that the role is known and carries exactly the scope it
// needs: village roles a town and a village, town roles a town and no
// village, district roles neither; a villager may carry a town, or a town
// and a village.
func (m Metadata) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidMetadata, fmt.Sprintf(format, a...))
	}
	if m.Town != "" && !ValidTown(m.Town) {
		return bad("town %q is not a town name (lower-case letters, digits and dashes)", m.Town)
	}
	if m.Village != "" && !ValidVillage(m.Village) {
		return bad("village %q is not a 12-digit village code", m.Village)
	}
	switch {
	case m.Role == "":
		return bad("no role")
	case m.Role.IsVillageRole():
		if m.Town == "" || m.Village == "" {
			return bad("village role %q needs a town and a village", m.Role)
		}
	case m.Role.IsTownRole():
		if m.Town == "" {
			return bad("town role %q needs a town", m.Role)
		}
		if m.Village != "" {
			return bad("town role %q must not name a village", m.Role)
		}
	case m.Role.IsDistrictRole():
		if m.Town != "" || m.Village != "" {
			return bad("district role %q covers the whole district and must name no town or village", m.Role)
		}
	case m.Role == RoleVillager:
		if m.Village != "" && m.Town == "" {
			return bad("a villager with a village needs its town")
		}
	default:
		return bad("unknown role %q", m.Role)
	}
	return nil
}

// Principal is the authenticated caller. Role, Town and Village come from
// metadata_public; Email and Name from traits, for display only.
type Principal struct {
	IdentityID string
	Email      string
	Name       string
	Role       Role
	// Town is the town's name, e.g. xikou (empty for district roles).
	Town string
	// Village is the 12-digit village code (village roles; optional for villagers).
	Village string
}

// HasRole reports whether p holds one of roles.
func (p Principal) HasRole(roles ...Role) bool { return p.Role != "" && slices.Contains(roles, p.Role) }

// IsDiscipline reports whether p is discipline-inspection staff (town or
// district), who may see who filed a complaint. Village supervision roles are
// village cadres and are not discipline staff.
func (p Principal) IsDiscipline() bool {
	return p.Role == RoleTownDiscipline || p.Role == RoleDistrictDiscipline
}

// InTown reports whether p's scope covers town: village and town roles of
// that town, a villager of that town, and every district role (one Kratos
// per district).
func (p Principal) InTown(town string) bool {
	if town == "" {
		return false
	}
	switch {
	case p.Role.IsDistrictRole():
		return true
	case p.Role.IsVillageRole(), p.Role.IsTownRole(), p.Role == RoleVillager:
		return p.Town == town
	}
	return false
}

// CanReadVillage reports whether p may read the non-public records of
// village (12-digit code) in town: officials of that very village, town
// staff of that town (except town-it) and district staff. Villagers read
// public pages only, which need no check.
func (p Principal) CanReadVillage(town, village string) bool {
	if town == "" || !ValidVillage(village) {
		return false
	}
	switch {
	case p.Role.IsVillageRole():
		return p.Town == town && p.Village == village
	case p.Role.IsTownRole():
		return p.Role != RoleTownIT && p.Town == town
	case p.Role.IsDistrictRole():
		return true
	}
	return false
}

// CanActInVillage reports whether p may record steps, decisions or
// payments for village in town: officials of that very village, and
// town-official, town-finance and town-discipline of that town (the town
// roles a power catalog step can name). District staff and villagers do
// not act in a village's processes. Which step a role may record is the
// process engine's check; this is only the tenant boundary.
func (p Principal) CanActInVillage(town, village string) bool {
	if town == "" || !ValidVillage(village) {
		return false
	}
	switch p.Role {
	case RoleTownOfficial, RoleTownFinance, RoleTownDiscipline:
		return p.Town == town
	}
	if p.Role.IsVillageRole() {
		return p.Town == town && p.Village == village
	}
	return false
}

func joinRoles(roles []Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}
