// Package identity authenticates callers against the district's Ory Kratos
// and decides what they may see and do.
//
// Who a caller is comes from Kratos (a session cookie or a session token);
// what they may do comes only from the identity's metadata_public
// ({"role", "town", "village", "group", "villages"}), which only the Kratos
// admin API can write. Traits (email, name, phone) are editable by the user
// and are never used for authorisation.
//
// Tenant scope, in one table (see the Can* methods):
//
//	role                          read village V of town T        act in village V of town T
//	village roles (secretary …)   own village only                own village only
//	town-official/-finance/-discipline  every village of own town  every village of own town
//	town-it                       nothing (manages accounts)      nothing
//	village-liaison-cadre (联村干部)  its assigned villages of own town  nothing
//	district-discipline/-admin    every village of the district   nothing
//	  … with a group (片组)        every village of the group's towns  nothing
//	villager                      public pages only               nothing
//
// InTown follows the same lines: a village role, a town role, a liaison
// cadre and a villager are in their own town; a district role in every
// town, or with a group only in the towns the checking service itself
// knows to be in that group (TownGroups, from the operator: a town's
// services know their own town's group from WUXIAO_TOWN_GROUP, the
// gateway the whole map). A group is never taken on the caller's word: a
// service that knows no group for a town admits no grouped official to it.
// A town service's Authenticator (WithTownGroup) refuses a grouped
// district official outside its town's group at the door (Require: 403),
// so handlers that only ask IsDistrictRole cannot let one through; on
// Optional (public) routes such a caller is signed in, and InTown is false.
// District-wide views ask DistrictWide (no group): a town's service does
// not know the other towns' groups.
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

	RoleVillageLiaisonCadre = apiidentity.RoleVillageLiaisonCadre

	RoleDistrictDiscipline = apiidentity.RoleDistrictDiscipline
	RoleDistrictAdmin      = apiidentity.RoleDistrictAdmin

	RoleVillager = apiidentity.RoleVillager
)

// Role groups, in a stable order.
var (
	VillageRoles  = apiidentity.VillageRoles
	TownRoles     = apiidentity.TownRoles
	CadreRoles    = apiidentity.CadreRoles
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
// village, a liaison cadre a town and its villages (at least one, each a
// 12-digit code, no repeats), district roles neither town nor village and
// perhaps a group (a DNS label); a villager may carry a town, or a town and
// a village. Only district roles carry a group, only liaison cadres
// villages.
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
	if m.Group != "" && !m.Role.IsDistrictRole() {
		return bad("role %q cannot be limited to a group (片组): only district roles can", m.Role)
	}
	if len(m.Villages) > 0 && !m.Role.IsLiaisonCadre() {
		return bad("role %q cannot carry a list of villages: only %s does", m.Role, RoleVillageLiaisonCadre)
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
	case m.Role.IsLiaisonCadre():
		if m.Town == "" || m.Village != "" {
			return bad("%s needs a town and names its villages under villages, not village", m.Role)
		}
		if len(m.Villages) == 0 {
			return bad("%s needs at least one village it is assigned to", m.Role)
		}
		for i, v := range m.Villages {
			if !ValidVillage(v) {
				return bad("villages[%d] %q is not a 12-digit village code", i, v)
			}
			if slices.Index(m.Villages, v) != i {
				return bad("village %s is listed twice", v)
			}
		}
	case m.Role.IsDistrictRole():
		if m.Town != "" || m.Village != "" {
			return bad("district role %q covers the whole district and must name no town or village", m.Role)
		}
		if m.Group != "" && !ValidTown(m.Group) {
			return bad("group %q is not a group name (lower-case letters, digits and dashes)", m.Group)
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

// TownGroups is what a service knows of the district's 片组: the group of
// each town it knows (town → group name). It comes from the operator's
// configuration of the service (WUXIAO_TOWN_GROUP for a town's services,
// the whole District spec.groups for the gateway), never from a caller. A
// town missing from it is in no group.
type TownGroups map[string]string

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
	// Group is the 片组 a district role is limited to ("" = the whole
	// district): the caller's claim, which only TownGroups can make good.
	Group string
	// Villages are the village codes a liaison cadre is assigned to.
	Villages []string
	// TownGroups is the checking service's own knowledge of which group
	// each town is in (the Authenticator's WithTownGroup/WithTownGroups).
	TownGroups TownGroups
}

// DistrictWide reports whether p is district staff covering every town
// (no group): what district-wide views (the district overview, every
// town's figures at once) need.
func (p Principal) DistrictWide() bool { return p.Role.IsDistrictRole() && p.Group == "" }

// coversTown reports whether a district role's scope includes town: every
// town without a group; with one, only a town the checking service knows
// to be in that group.
func (p Principal) coversTown(town string) bool {
	if p.Group == "" {
		return true
	}
	g, ok := p.TownGroups[town]
	return ok && g == p.Group
}

// AssignedTo reports whether p is a liaison cadre of town assigned to
// village.
func (p Principal) AssignedTo(town, village string) bool {
	return p.Role.IsLiaisonCadre() && town != "" && p.Town == town && ValidVillage(village) && slices.Contains(p.Villages, village)
}

// HasRole reports whether p holds one of roles.
func (p Principal) HasRole(roles ...Role) bool { return p.Role != "" && slices.Contains(roles, p.Role) }

// IsDiscipline reports whether p is discipline-inspection staff (town or
// district), who may see who filed a complaint. Village supervision roles are
// village cadres and are not discipline staff.
func (p Principal) IsDiscipline() bool {
	return p.Role == RoleTownDiscipline || p.Role == RoleDistrictDiscipline
}

// InTown reports whether p's scope covers town: village and town roles,
// liaison cadres and villagers of that town, and district roles (one
// Kratos per district), those with a group only in the towns of their
// group as the checking service knows them (TownGroups). A liaison cadre
// is in its town but reads only its villages (CanReadVillage): town-wide
// lists must narrow to them.
func (p Principal) InTown(town string) bool {
	if town == "" {
		return false
	}
	switch {
	case p.Role.IsDistrictRole():
		return p.coversTown(town)
	case p.Role.IsVillageRole(), p.Role.IsTownRole(), p.Role.IsLiaisonCadre(), p.Role == RoleVillager:
		return p.Town == town
	}
	return false
}

// CanReadVillage reports whether p may read the non-public records of
// village (12-digit code) in town: officials of that very village, town
// staff of that town (except town-it), a liaison cadre of that town
// assigned to it, and district staff (of the town's group, when limited
// to one). Villagers read public pages only, which need no check.
func (p Principal) CanReadVillage(town, village string) bool {
	if town == "" || !ValidVillage(village) {
		return false
	}
	switch {
	case p.Role.IsVillageRole():
		return p.Town == town && p.Village == village
	case p.Role.IsTownRole():
		return p.Role != RoleTownIT && p.Town == town
	case p.Role.IsLiaisonCadre():
		return p.AssignedTo(town, village)
	case p.Role.IsDistrictRole():
		return p.coversTown(town)
	}
	return false
}

// CanActInVillage reports whether p may record steps, decisions or
// payments for village in town: officials of that very village, and
// town-official, town-finance and town-discipline of that town (the town
// roles a power catalog step can name). District staff, liaison cadres
// (who follow their villages, reading) and villagers do not act in a
// village's processes. Which step a role may record is the
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
