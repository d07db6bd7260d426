// Package identity is the contract between the operator, which creates the
// village officials' identities in the district's Ory Kratos, and the
// services, which authorise on them (services/internal/identity): the
// roles, the metadata_public document ({"role", "town", "village"}, plus
// "group" and "villages" for the narrower scopes below) that only the
// Kratos admin API can write and that is the only thing the services
// authorise on, and the traits of the identity schema
// (hack/kratos/identity.schema.json), which users may edit and which are
// never used for authorisation.
package identity

import (
	"slices"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// Role is what an identity may do, read from metadata_public.role.
type Role string

// Village roles: the village officials (wuxiaov1.OfficialRole, whose
// identities the operator creates). They hold a town and a 12-digit
// village code.
const (
	RoleSecretary        = Role(wuxiaov1.RoleSecretary)
	RoleDirector         = Role(wuxiaov1.RoleDirector)
	RoleCommitteeMember  = Role(wuxiaov1.RoleCommitteeMember)
	RoleAccountant       = Role(wuxiaov1.RoleAccountant)
	RoleCashier          = Role(wuxiaov1.RoleCashier)
	RoleSupervisionChair = Role(wuxiaov1.RoleSupervisionChair)
	RoleLiaisonOfficer   = Role(wuxiaov1.RoleLiaisonOfficer)
)

// Town roles: staff of a town (镇/街道). They hold a town and no village.
const (
	RoleTownOfficial   Role = "town-official"
	RoleTownFinance    Role = "town-finance"
	RoleTownDiscipline Role = "town-discipline"
	// RoleTownIT manages the town's accounts; it reads no village data.
	RoleTownIT Role = "town-it"
)

// RoleVillageLiaisonCadre is a 联村干部: a town official answering for a
// few named villages of their town (Town spec.liaisonCadres, whose
// identities the operator creates). It holds a town and the villages
// (Metadata.Villages), and reads those villages' records only. It is not
// in TownRoles, whose members cover the whole town.
const RoleVillageLiaisonCadre Role = "village-liaison-cadre"

// District roles: staff of the district. They hold neither town nor
// village; one may be limited to a 片组 (Metadata.Group, District
// spec.groups), and then covers only that group's towns.
const (
	RoleDistrictDiscipline Role = "district-discipline"
	RoleDistrictAdmin      Role = "district-admin"
)

// RoleVillager is a resident signed in to the public portal. It may carry
// the villager's town and village (for signed-in complaints); it grants no
// access to anything that is not public.
const RoleVillager Role = "villager"

// Role groups, in a stable order.
var (
	VillageRoles = []Role{RoleSecretary, RoleDirector, RoleCommitteeMember, RoleAccountant, RoleCashier, RoleSupervisionChair, RoleLiaisonOfficer}
	// TownRoles cover the whole town (town-it: its accounts).
	TownRoles = []Role{RoleTownOfficial, RoleTownFinance, RoleTownDiscipline, RoleTownIT}
	// CadreRoles are of a town but cover only named villages of it.
	CadreRoles    = []Role{RoleVillageLiaisonCadre}
	DistrictRoles = []Role{RoleDistrictDiscipline, RoleDistrictAdmin}
	AllRoles      = slices.Concat(VillageRoles, TownRoles, CadreRoles, DistrictRoles, []Role{RoleVillager})
)

// IsVillageRole reports whether r is held by a village official.
func (r Role) IsVillageRole() bool { return slices.Contains(VillageRoles, r) }

// IsTownRole reports whether r is held by town staff.
func (r Role) IsTownRole() bool { return slices.Contains(TownRoles, r) }

// IsLiaisonCadre reports whether r is a 联村干部 (CadreRoles).
func (r Role) IsLiaisonCadre() bool { return slices.Contains(CadreRoles, r) }

// IsDistrictRole reports whether r is held by district staff.
func (r Role) IsDistrictRole() bool { return slices.Contains(DistrictRoles, r) }

// Valid reports whether r is one of AllRoles.
func (r Role) Valid() bool { return slices.Contains(AllRoles, r) }

// Metadata is an identity's metadata_public: written by the operator (and
// the services' admin client), read by every service.
type Metadata struct {
	Role    Role   `json:"role"`
	Town    string `json:"town,omitempty"`
	Village string `json:"village,omitempty"`
	// Group limits a district role to one 片组 (District spec.groups[].name);
	// empty: the whole district.
	Group string `json:"group,omitempty"`
	// Villages are the 12-digit codes of the villages of Town a
	// village-liaison-cadre is assigned to (and nobody else carries).
	Villages []string `json:"villages,omitempty"`
}

// Traits are the traits of the identity schema: the login address, the
// person's name and, for officials, a phone number.
type Traits struct {
	Email string `json:"email"`
	Name  string `json:"name"`
	Phone string `json:"phone,omitempty"`
}

// The traits' keys, for code that reads them from Kratos' untyped maps.
const (
	TraitEmail = "email"
	TraitName  = "name"
	TraitPhone = "phone"
)
