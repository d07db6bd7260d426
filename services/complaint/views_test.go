package complaint

import (
	"testing"
)

func TestViewFor(t *testing.T) {
	cadre := sample(CategoryCadreConduct)
	funds := sample(CategoryFunds)
	for _, tc := range []struct {
		viewer                    Actor
		seesCadre, seesFunds, who bool
	}{
		{discipline, true, true, true},
		{Actor{ID: "dd", Role: RoleDistrictDiscipline}, true, true, true},
		{Actor{ID: "x", Role: RoleTownDiscipline, Town: "jinping"}, false, false, false},
		{liaison, true, true, false},
		{Actor{ID: "x", Role: RoleLiaisonOfficer, Town: testTown, Village: otherVill}, false, false, false},
		{Actor{ID: "to", Role: RoleTownOfficial, Town: testTown}, true, true, false},
		{Actor{ID: "da", Role: RoleDistrictAdmin}, true, true, false},
		{Actor{ID: "it", Role: "town-it", Town: testTown}, false, false, false},
		{Actor{ID: "v", Role: "villager", Town: testTown, Village: testVillage}, false, false, false},
		{Actor{ID: "s2", Role: RoleSecretary, Town: testTown, Village: otherVill}, false, false, false},
	} {
		check := func(c *Complaint, want bool) {
			v, ok := ViewFor(tc.viewer, c)
			if ok != want {
				t.Errorf("%s sees %s: %v, want %v", tc.viewer.Role, c.Category, ok, want)
				return
			}
			if ok && (v.Reporter != nil) != tc.who {
				t.Errorf("%s sees the reporter: %v, want %v", tc.viewer.Role, v.Reporter != nil, tc.who)
			}
			if ok && v.SecretHash != "" {
				t.Errorf("%s sees the secret hash", tc.viewer.Role)
			}
		}
		check(cadre, tc.seesCadre)
		check(funds, tc.seesFunds)
	}
	for _, role := range []string{RoleSecretary, RoleDirector, RoleCommitteeMember, RoleAccountant, RoleCashier, RoleSupervisionChair} {
		official := Actor{ID: role, Role: role, Town: testTown, Village: testVillage}
		if _, ok := ViewFor(official, cadre); ok {
			t.Errorf("%s of the village sees a cadre-conduct complaint", role)
		}
		v, ok := ViewFor(official, funds)
		if !ok || v.Reporter != nil {
			t.Errorf("%s: funds complaint visible %v, reporter %v", role, ok, v != nil && v.Reporter != nil)
		}
	}
	// A view is a copy: redacting it leaves the complaint intact.
	if funds.Reporter == nil {
		t.Fatal("ViewFor changed the complaint")
	}
}

func TestPublicView(t *testing.T) {
	c := sample(CategoryCadreConduct)
	c.Notes = []StatusNote{{At: t0, Role: RoleTownDiscipline, Body: "已受理", Public: true}, {At: t0, Role: RoleTownDiscipline, Body: "内部：涉及村书记", Public: false}}
	p := PublicViewOf(c)
	if len(p.Notes) != 1 || p.Notes[0].Body != "已受理" || p.Notes[0].Role != "" {
		t.Fatalf("public notes %+v", p.Notes)
	}
	if p.CategoryLabel != "干部作风" || p.Village != testVillage || p.Status != StatusReceived {
		t.Fatalf("public view %+v", p)
	}
}
