package identity

import (
	"errors"
	"slices"
	"testing"
)

const (
	townA    = "xikou"
	townB    = "jiangkou"
	villageA = "330283100201" // in townA
	villageC = "330283100202" // also in townA
	villageB = "330283101201" // in townB
)

func TestMetadataValidate(t *testing.T) {
	tests := []struct {
		name string
		meta Metadata
		ok   bool
	}{
		{"village role with town and village", Metadata{Role: RoleSecretary, Town: townA, Village: villageA}, true},
		{"every village role needs a village", Metadata{Role: RoleCashier, Town: townA, Village: ""}, false},
		{"village role needs a town", Metadata{Role: RoleAccountant, Town: "", Village: villageA}, false},
		{"village code must be 12 digits", Metadata{Role: RoleDirector, Town: townA, Village: "33028310020"}, false},
		{"village code must be digits", Metadata{Role: RoleDirector, Town: townA, Village: "33028310020x"}, false},
		{"town name must be a DNS label", Metadata{Role: RoleTownOfficial, Town: "Xi Kou", Village: ""}, false},
		{"town role with town", Metadata{Role: RoleTownFinance, Town: townA, Village: ""}, true},
		{"town role without town", Metadata{Role: RoleTownDiscipline, Town: "", Village: ""}, false},
		{"town role with a village", Metadata{Role: RoleTownOfficial, Town: townA, Village: villageA}, false},
		{"town-it with town", Metadata{Role: RoleTownIT, Town: townA, Village: ""}, true},
		{"district role alone", Metadata{Role: RoleDistrictAdmin, Town: "", Village: ""}, true},
		{"district role with a town", Metadata{Role: RoleDistrictDiscipline, Town: townA, Village: ""}, false},
		{"villager alone", Metadata{Role: RoleVillager, Town: "", Village: ""}, true},
		{"villager of a town", Metadata{Role: RoleVillager, Town: townA, Village: ""}, true},
		{"villager of a village", Metadata{Role: RoleVillager, Town: townA, Village: villageA}, true},
		{"villager with village but no town", Metadata{Role: RoleVillager, Town: "", Village: villageA}, false},
		{"no role", Metadata{Role: "", Town: townA, Village: villageA}, false},
		{"unknown role", Metadata{Role: "mayor", Town: townA, Village: ""}, false},
		{"role is case-sensitive", Metadata{Role: "Secretary", Town: townA, Village: villageA}, false},
		{"district role limited to a group", Metadata{Role: RoleDistrictDiscipline, Group: "pian-1"}, true},
		{"district admin limited to a group", Metadata{Role: RoleDistrictAdmin, Group: "pian-2"}, true},
		{"group must be a DNS label", Metadata{Role: RoleDistrictDiscipline, Group: "片组一"}, false},
		{"grouped district role with a town", Metadata{Role: RoleDistrictDiscipline, Town: townA, Group: "pian-1"}, false},
		{"town role with a group", Metadata{Role: RoleTownDiscipline, Town: townA, Group: "pian-1"}, false},
		{"village role with a group", Metadata{Role: RoleSecretary, Town: townA, Village: villageA, Group: "pian-1"}, false},
		{"liaison cadre with villages", Metadata{Role: RoleVillageLiaisonCadre, Town: townA, Villages: []string{villageA, villageC}}, true},
		{"liaison cadre without villages", Metadata{Role: RoleVillageLiaisonCadre, Town: townA}, false},
		{"liaison cadre without town", Metadata{Role: RoleVillageLiaisonCadre, Villages: []string{villageA}}, false},
		{"liaison cadre with village instead of villages", Metadata{Role: RoleVillageLiaisonCadre, Town: townA, Village: villageA}, false},
		{"liaison cadre with a bad code", Metadata{Role: RoleVillageLiaisonCadre, Town: townA, Villages: []string{villageA, "3302831002"}}, false},
		{"liaison cadre with a repeated village", Metadata{Role: RoleVillageLiaisonCadre, Town: townA, Villages: []string{villageA, villageA}}, false},
		{"liaison cadre with a group", Metadata{Role: RoleVillageLiaisonCadre, Town: townA, Villages: []string{villageA}, Group: "pian-1"}, false},
		{"town role with villages", Metadata{Role: RoleTownOfficial, Town: townA, Villages: []string{villageA}}, false},
		{"district role with villages", Metadata{Role: RoleDistrictDiscipline, Villages: []string{villageA}}, false},
		{"village role with villages", Metadata{Role: RoleDirector, Town: townA, Village: villageA, Villages: []string{villageC}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.meta.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate(%+v) = %v, want ok=%v", tt.meta, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidMetadata) {
				t.Fatalf("error %v does not wrap ErrInvalidMetadata", err)
			}
		})
	}
}

func TestRoleGroupsCoverEveryRoleOnce(t *testing.T) {
	if len(AllRoles) != 15 {
		t.Fatalf("AllRoles has %d roles, want 15", len(AllRoles))
	}
	for _, r := range AllRoles {
		n := 0
		for _, in := range []bool{r.IsVillageRole(), r.IsTownRole(), r.IsLiaisonCadre(), r.IsDistrictRole(), r == RoleVillager} {
			if in {
				n++
			}
		}
		if n != 1 || !r.Valid() {
			t.Errorf("role %s is in %d groups (valid=%v), want exactly one", r, n, r.Valid())
		}
	}
	if Role("mayor").Valid() || Role("").Valid() {
		t.Fatal("unknown roles are valid")
	}
}

// principalFor is a validated principal of role in townA (and villageA for
// village roles and the villager).
func principalFor(t *testing.T, r Role) Principal {
	t.Helper()
	m := Metadata{Role: r}
	switch {
	case r.IsVillageRole(), r == RoleVillager:
		m.Town, m.Village = townA, villageA
	case r.IsTownRole():
		m.Town = townA
	case r.IsLiaisonCadre():
		m.Town, m.Villages = townA, []string{villageA}
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return Principal{IdentityID: "id-" + string(r), Role: m.Role, Town: m.Town, Village: m.Village, Villages: m.Villages}
}

// Places a principal of townA/villageA is checked against.
type place struct{ town, village string }

var (
	ownVillage    = place{townA, villageA}
	sameTownOther = place{townA, villageC}
	otherTown     = place{townB, villageB}
	codeOfTownA   = place{townB, villageA} // villageA's code under another town's name
	badCode       = place{townA, "3302831002"}
	noTown        = place{"", villageA}
	placesInOrder = []place{ownVillage, sameTownOther, otherTown, codeOfTownA, badCode, noTown}
	placeNames    = []string{"own village", "other village of own town", "village of other town", "own code under other town", "bad code", "no town"}
	villageOnly   = []bool{true, false, false, false, false, false}
	wholeTown     = []bool{true, true, false, false, false, false}
	wholeDistrict = []bool{true, true, true, true, false, false}
	nowhere       = []bool{false, false, false, false, false, false}
)

func TestScopeEveryRole(t *testing.T) {
	type want struct {
		read, act   []bool
		inOwnTown   bool
		inOtherTown bool
		discipline  bool
	}
	wants := map[Role]want{
		RoleSecretary:        {villageOnly, villageOnly, true, false, false},
		RoleDirector:         {villageOnly, villageOnly, true, false, false},
		RoleCommitteeMember:  {villageOnly, villageOnly, true, false, false},
		RoleAccountant:       {villageOnly, villageOnly, true, false, false},
		RoleCashier:          {villageOnly, villageOnly, true, false, false},
		RoleSupervisionChair: {villageOnly, villageOnly, true, false, false},
		RoleLiaisonOfficer:   {villageOnly, villageOnly, true, false, false},
		RoleTownOfficial:     {wholeTown, wholeTown, true, false, false},
		RoleTownFinance:      {wholeTown, wholeTown, true, false, false},
		RoleTownDiscipline:   {wholeTown, wholeTown, true, false, true},
		RoleTownIT:           {nowhere, nowhere, true, false, false},
		// assigned to villageA only: the other village of its town is not its
		RoleVillageLiaisonCadre: {villageOnly, nowhere, true, false, false},
		RoleDistrictDiscipline:  {wholeDistrict, nowhere, true, true, true},
		RoleDistrictAdmin:       {wholeDistrict, nowhere, true, true, false},
		RoleVillager:            {nowhere, nowhere, true, false, false},
	}
	if len(wants) != len(AllRoles) {
		t.Fatalf("table covers %d roles, AllRoles has %d", len(wants), len(AllRoles))
	}
	for _, r := range AllRoles {
		w, ok := wants[r]
		if !ok {
			t.Fatalf("role %s missing from the table", r)
		}
		t.Run(string(r), func(t *testing.T) {
			p := principalFor(t, r)
			for i, pl := range placesInOrder {
				if got := p.CanReadVillage(pl.town, pl.village); got != w.read[i] {
					t.Errorf("CanReadVillage(%s) = %v, want %v", placeNames[i], got, w.read[i])
				}
				if got := p.CanActInVillage(pl.town, pl.village); got != w.act[i] {
					t.Errorf("CanActInVillage(%s) = %v, want %v", placeNames[i], got, w.act[i])
				}
			}
			if got := p.InTown(townA); got != w.inOwnTown {
				t.Errorf("InTown(own) = %v, want %v", got, w.inOwnTown)
			}
			if got := p.InTown(townB); got != w.inOtherTown {
				t.Errorf("InTown(other) = %v, want %v", got, w.inOtherTown)
			}
			if p.InTown("") {
				t.Error(`InTown("") = true`)
			}
			if got := p.IsDiscipline(); got != w.discipline {
				t.Errorf("IsDiscipline() = %v, want %v", got, w.discipline)
			}
			if !p.HasRole(r) || p.HasRole(slices.DeleteFunc(slices.Clone(AllRoles), func(o Role) bool { return o == r })...) {
				t.Errorf("HasRole is wrong for %s", r)
			}
		})
	}
}

// A village cadre of village B (another town) never reaches village A, and
// principals that skipped validation grant nothing.
func TestScopeCrossTenantAndUnvalidated(t *testing.T) {
	tests := []struct {
		name string
		p    Principal
	}{
		{"cadre of village B", Principal{Role: RoleSecretary, Town: townB, Village: villageB}},
		{"cadre of another village in town A", Principal{Role: RoleAccountant, Town: townA, Village: villageC}},
		{"town official of town B", Principal{Role: RoleTownOfficial, Town: townB}},
		{"town discipline of town B", Principal{Role: RoleTownDiscipline, Town: townB}},
		{"village role without village", Principal{Role: RoleSecretary, Town: townA}},
		{"town role without town", Principal{Role: RoleTownOfficial}},
		{"no role", Principal{Town: townA, Village: villageA}},
		{"unknown role", Principal{Role: "mayor", Town: townA, Village: villageA}},
		{"zero principal", Principal{}},
		{"liaison cadre of town A assigned elsewhere", Principal{Role: RoleVillageLiaisonCadre, Town: townA, Villages: []string{villageC}}},
		{"liaison cadre of town B naming villageA", Principal{Role: RoleVillageLiaisonCadre, Town: townB, Villages: []string{villageA}}},
		{"liaison cadre without villages", Principal{Role: RoleVillageLiaisonCadre, Town: townA}},
		{"village role claiming villages", Principal{Role: RoleSecretary, Town: townA, Village: villageC, Villages: []string{villageA}}},
		{"town-it claiming villages", Principal{Role: RoleTownIT, Town: townA, Villages: []string{villageA}}},
		{"district discipline of another group", Principal{Role: RoleDistrictDiscipline, Group: "pian-2", TownGroups: TownGroups{townA: "pian-1"}}},
		{"district discipline with a group, town in none", Principal{Role: RoleDistrictDiscipline, Group: "pian-1", TownGroups: TownGroups{townB: "pian-1"}}},
		{"district discipline with a group, service knows no groups", Principal{Role: RoleDistrictDiscipline, Group: "pian-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.p.CanReadVillage(townA, villageA) || tt.p.CanActInVillage(townA, villageA) {
				t.Fatalf("%+v reaches village %s of %s", tt.p, villageA, townA)
			}
		})
	}
}

// A district role limited to a 片组 covers the towns the checking service
// knows to be in that group, and no other: the group is the caller's
// claim, the town's group the service's own configuration.
func TestGroupScope(t *testing.T) {
	const g1, g2 = "pian-1", "pian-2"
	townService := TownGroups{townA: g1}        // town A's services (WUXIAO_TOWN_GROUP=pian-1)
	gateway := TownGroups{townA: g1, townB: g2} // the gateway: every town's group
	ungrouped := TownGroups{}                   // town A is in no group
	tests := []struct {
		name               string
		role               Role
		group              string
		known              TownGroups
		inA, inB           bool
		readA, readB, actA bool
		districtWide       bool
	}{
		{"district discipline of town A's group, at town A", RoleDistrictDiscipline, g1, townService, true, false, true, false, false, false},
		{"district discipline of town A's group, at the gateway", RoleDistrictDiscipline, g1, gateway, true, false, true, false, false, false},
		{"district discipline of town B's group, at the gateway", RoleDistrictDiscipline, g2, gateway, false, true, false, true, false, false},
		{"district discipline of town B's group, at town A", RoleDistrictDiscipline, g2, townService, false, false, false, false, false, false},
		{"district discipline of a group, town A in none", RoleDistrictDiscipline, g1, ungrouped, false, false, false, false, false, false},
		{"district discipline of a group, no configuration", RoleDistrictDiscipline, g1, nil, false, false, false, false, false, false},
		{"district admin of town A's group", RoleDistrictAdmin, g1, gateway, true, false, true, false, false, false},
		{"district discipline without a group, grouped towns", RoleDistrictDiscipline, "", gateway, true, true, true, true, false, true},
		{"district discipline without a group, no configuration", RoleDistrictDiscipline, "", nil, true, true, true, true, false, true},
		// a town role's claim of a group (refused by Validate) changes nothing
		{"town discipline claiming a group", RoleTownDiscipline, g2, gateway, true, false, true, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Principal{Role: tt.role, Group: tt.group, TownGroups: tt.known}
			if tt.role.IsTownRole() {
				p.Town = townA
			}
			got := []bool{p.InTown(townA), p.InTown(townB), p.CanReadVillage(townA, villageA), p.CanReadVillage(townB, villageB),
				p.CanActInVillage(townA, villageA), p.DistrictWide()}
			want := []bool{tt.inA, tt.inB, tt.readA, tt.readB, tt.actA, tt.districtWide}
			if !slices.Equal(got, want) {
				t.Fatalf("InTown(A), InTown(B), read A, read B, act A, DistrictWide = %v, want %v", got, want)
			}
		})
	}
}

// A liaison cadre reads its assigned villages of its own town, acts in
// none, and is in its town (so town-wide lists must narrow to its villages).
func TestLiaisonCadreScope(t *testing.T) {
	p := Principal{Role: RoleVillageLiaisonCadre, Town: townA, Villages: []string{villageA, villageC}}
	tests := []struct {
		name              string
		town, village     string
		read, act, assign bool
	}{
		{"assigned village", townA, villageA, true, false, true},
		{"second assigned village", townA, villageC, true, false, true},
		{"village of its town not assigned", townA, "330283100203", false, false, false},
		{"village of another town", townB, villageB, false, false, false},
		{"assigned code under another town's name", townB, villageA, false, false, false},
		{"bad code", townA, "3302831002", false, false, false},
		{"no town", "", villageA, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.CanReadVillage(tt.town, tt.village); got != tt.read {
				t.Errorf("CanReadVillage = %v, want %v", got, tt.read)
			}
			if got := p.CanActInVillage(tt.town, tt.village); got != tt.act {
				t.Errorf("CanActInVillage = %v, want %v", got, tt.act)
			}
			if got := p.AssignedTo(tt.town, tt.village); got != tt.assign {
				t.Errorf("AssignedTo = %v, want %v", got, tt.assign)
			}
		})
	}
	if !p.InTown(townA) || p.InTown(townB) || p.IsDiscipline() || p.DistrictWide() {
		t.Fatal("a liaison cadre is in its own town only, and neither discipline nor district staff")
	}
	if (Principal{Role: RoleSecretary, Town: townA, Village: villageA, Villages: []string{villageC}}).AssignedTo(townA, villageC) {
		t.Fatal("a village role is assigned to villages it claims")
	}
}
