package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/workflow"
)

func TestParseTownGroups(t *testing.T) {
	tests := []struct {
		name, in string
		want     identity.TownGroups
		err      string
	}{
		{"none", "", identity.TownGroups{}, ""},
		{"two groups", `{"pian-1":["xikou","jinping"],"pian-2":["dayan"]}`,
			identity.TownGroups{"xikou": "pian-1", "jinping": "pian-1", "dayan": "pian-2"}, ""},
		{"not JSON", `pian-1=xikou`, nil, "not a JSON object"},
		{"a town in two groups", `{"pian-1":["xikou"],"pian-2":["xikou"]}`, nil, "town xikou is in two groups, pian-1 and pian-2"},
		{"bad group name", `{"片组一":["xikou"]}`, nil, `group "片组一" is not a group name`},
		{"bad town name", `{"pian-1":["Xi Kou"]}`, nil, `group pian-1: "Xi Kou" is not a town name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTownGroups(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("%v %v, want %v", got, err, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("%v, want %v", got, tt.want)
				}
			}
		})
	}
}

// The console follows the scopes: a district official limited to a 片组
// switches between that group's towns only (the gateway's group map, not
// the official's word), one without a group between all; a liaison cadre
// (联村干部) follows the running processes of its assigned village, reads
// them without forms, and is refused a village of its town it is not
// assigned to.
func TestConsoleGroupAndLiaisonScopes(t *testing.T) {
	const other = "jinping"
	env := startConsoleWith(t, "pian-1", func(cfg *Config, b *StaticBackends, urls map[string]string) {
		// A second town (its pages are not opened here): only the town
		// lists are under test.
		if err := b.AddTown(Town{Name: other, Code: "330283200000", DisplayName: "锦屏街道"}, urls); err != nil {
			t.Fatal(err)
		}
		cfg.TownGroups = identity.TownGroups{conTown: "pian-1", other: "pian-2"}
	})
	ctx := context.Background()
	sec := workflow.Actor{ID: "s", Name: "书记", Role: "secretary", Town: conTown}
	start := func(village, title string) string {
		a := sec
		a.Village = village
		inst, err := env.WF.Start(ctx, a, village, workflow.StartRequest{ItemID: "decision-major-matters", Title: title})
		if err != nil {
			t.Fatal(err)
		}
		return inst.ID
	}
	mine, notMine := start(conVillage, "村道硬化（联村）"), start(conVillageB, "文化礼堂修缮")

	signInWith := func(role string, meta identity.Metadata) *staff {
		_, u := testinfra.KratosUserWithMetadata(t, meta)
		return signInAs(t, env.URL, role, u.ID, u.Email, u.Password)
	}
	grouped := signInWith("district-discipline", identity.Metadata{Role: identity.RoleDistrictDiscipline, Group: "pian-1"})
	whole := signInWith("district-discipline", identity.Metadata{Role: identity.RoleDistrictDiscipline})
	cadre := signInWith("village-liaison-cadre", identity.Metadata{Role: identity.RoleVillageLiaisonCadre, Town: conTown, Villages: []string{conVillage}})

	gp := grouped.get("/console")
	if gp.status != http.StatusOK || !strings.Contains(gp.body, `<option value="`+conTown+`"`) || strings.Contains(gp.body, `<option value="`+other+`"`) {
		t.Fatalf("the grouped official's town list: %d\n%.2000s", gp.status, gp.body)
	}
	if p := grouped.get("/console/town?town=" + other); p.status != http.StatusSeeOther || strings.Contains(p.header.Get("Set-Cookie"), consoleTownCookie) {
		t.Fatalf("the grouped official chose a town outside its group: %d %v", p.status, p.header)
	}
	wp := whole.get("/console")
	if wp.status != http.StatusOK || !strings.Contains(wp.body, `<option value="`+conTown+`"`) || !strings.Contains(wp.body, `<option value="`+other+`"`) {
		t.Fatalf("the district-wide official's town list: %d\n%.2000s", wp.status, wp.body)
	}

	cp := cadre.get("/console")
	if cp.status != http.StatusOK || !strings.Contains(cp.body, `href="/console/processes/`+mine+`"`) || strings.Contains(cp.body, notMine) ||
		!strings.Contains(cp.body, "联村干部") || strings.Contains(cp.body, `name="town"`) {
		t.Fatalf("the liaison cadre's work list:\n%.3000s", cp.body)
	}
	if p := cadre.get("/console/processes?status=running"); p.status != http.StatusOK || !strings.Contains(p.body, mine) || strings.Contains(p.body, notMine) {
		t.Fatalf("the liaison cadre's processes: %d\n%.3000s", p.status, p.body)
	}
	if p := cadre.get("/console/processes/" + mine); p.status != http.StatusOK || !strings.Contains(p.body, "村道硬化（联村）") ||
		strings.Contains(mainOf(p.body), `method="post"`) {
		t.Fatalf("the liaison cadre's process page: %d\n%.3000s", p.status, p.body)
	}
	if p := cadre.get("/console/processes/" + notMine); p.status == http.StatusOK || strings.Contains(p.body, "文化礼堂修缮") {
		t.Fatalf("the liaison cadre read a village it is not assigned to: %d\n%.2000s", p.status, p.body)
	}
}
