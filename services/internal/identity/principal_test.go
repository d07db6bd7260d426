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
		{"village role with town and village", Metadata{RoleSecretary, townA, villageA}, true},
		{"every village role needs a village", Metadata{RoleCashier, townA, ""}, false},
		{"village role needs a town", Metadata{RoleAccountant, "", villageA}, false},
		{"village code must be 12 digits", Metadata{RoleDirector, townA, "33028310020"}, false},
		{"village code must be digits", Metadata{RoleDirector, townA, "33028310020x"}, false},
		{"town name must be a DNS label", Metadata{RoleTownOfficial, "Xi Kou", ""}, false},
		{"town role with town", Metadata{RoleTownFinance, townA, ""}, true},
		{"town role without town", Metadata{RoleTownDiscipline, "", ""}, false},
		{"town role with a village", Metadata{RoleTownOfficial, townA, villageA}, false},
		{"town-it with town", Metadata{RoleTownIT, townA, ""}, true},
		{"district role alone", Metadata{RoleDistrictAdmin, "", ""}, true},
		{"district role with a town", Metadata{RoleDistrictDiscipline, townA, ""}, false},
		{"villager alone", Metadata{RoleVillager, "", ""}, true},
		{"villager of a town", Metadata{RoleVillager, townA, ""}, true},
		{"villager of a village", Metadata{RoleVillager, townA, villageA}, true},
		{"villager with village but no town", Metadata{RoleVillager, "", villageA}, false},
		{"no role", Metadata{"", townA, villageA}, false},
		{"unknown role", Metadata{"mayor", townA, ""}, false},
		{"role is case-sensitive", Metadata{"Secretary", townA, villageA}, false},
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
	if len(AllRoles) != 14 {
		t.Fatalf("AllRoles has %d roles, want 14", len(AllRoles))
	}
	for _, r := range AllRoles {
		n := 0
		for _, in := range []bool{r.IsVillageRole(), r.IsTownRole(), r.IsDistrictRole(), r == RoleVillager} {
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
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return Principal{IdentityID: "id-" + string(r), Role: m.Role, Town: m.Town, Village: m.Village}
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
		RoleSecretary:          {villageOnly, villageOnly, true, false, false},
		RoleDirector:           {villageOnly, villageOnly, true, false, false},
		RoleCommitteeMember:    {villageOnly, villageOnly, true, false, false},
		RoleAccountant:         {villageOnly, villageOnly, true, false, false},
		RoleCashier:            {villageOnly, villageOnly, true, false, false},
		RoleSupervisionChair:   {villageOnly, villageOnly, true, false, false},
		RoleLiaisonOfficer:     {villageOnly, villageOnly, true, false, false},
		RoleTownOfficial:       {wholeTown, wholeTown, true, false, false},
		RoleTownFinance:        {wholeTown, wholeTown, true, false, false},
		RoleTownDiscipline:     {wholeTown, wholeTown, true, false, true},
		RoleTownIT:             {nowhere, nowhere, true, false, false},
		RoleDistrictDiscipline: {wholeDistrict, nowhere, true, true, true},
		RoleDistrictAdmin:      {wholeDistrict, nowhere, true, true, false},
		RoleVillager:           {nowhere, nowhere, true, false, false},
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.p.CanReadVillage(townA, villageA) || tt.p.CanActInVillage(townA, villageA) {
				t.Fatalf("%+v reaches village %s of %s", tt.p, villageA, townA)
			}
		})
	}
}
