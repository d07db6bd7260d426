package workflow

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestTownWorklist: a town official finds the steps waiting for them in
// every village of the town in one request; village roles see their own
// village only; other towns, town IT and villagers see nothing.
func TestTownWorklist(t *testing.T) {
	ts, s := fileAPI(t)
	ctx := context.Background()
	const villageB = "330213100202"
	for _, v := range []struct{ code, name string }{{village, "岩头村"}, {villageB, "畸山村"}} {
		if err := s.SetVillage(ctx, v.code, v.name, DefaultThresholds); err != nil {
			t.Fatal(err)
		}
	}
	at := func(v, role string) Actor {
		return Actor{ID: "id-" + role + "-" + v, Name: "干部", Role: role, Town: town, Village: v}
	}
	// One village-rules process per village waits for the town's legal
	// review; a third, in village A, still waits for its director.
	waiting := map[string]string{}
	for _, v := range []string{village, villageB} {
		inst, err := s.Start(ctx, at(v, "secretary"), v, StartRequest{ItemID: "decision-village-rules", Title: "修订村规民约 " + v})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []struct{ step, role string }{{"draft", "secretary"}, {"solicit", "director"}} {
			if _, _, err := s.Complete(ctx, at(v, st.role), inst.ID, st.step, CompleteRequest{}); err != nil {
				t.Fatalf("%s: %v", st.step, err)
			}
		}
		waiting[v] = inst.ID
	}
	early, err := s.Start(ctx, at(village, "secretary"), village, StartRequest{ItemID: "decision-village-rules", Title: "起草自治章程"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Complete(ctx, at(village, "secretary"), early.ID, "draft", CompleteRequest{}); err != nil {
		t.Fatal(err)
	}

	official, _ := testinfra.KratosUser(t, "town-official", town, "")
	finance, _ := testinfra.KratosUser(t, "town-finance", town, "")
	directorA, _ := testinfra.KratosUser(t, "director", town, village)
	foreign, _ := testinfra.KratosUser(t, "town-official", "jinping", "")
	townIT, _ := testinfra.KratosUser(t, "town-it", town, "")
	villager, _ := testinfra.KratosUser(t, "villager", town, village)
	district, _ := testinfra.KratosUser(t, "district-discipline", "", "")
	// 联村干部 of this town assigned to village B only
	cadre, _ := testinfra.KratosUserWithMetadata(t, map[string]any{"role": "village-liaison-cadre", "town": town, "villages": []string{villageB}})

	ids := func(r response) []string {
		var out []string
		for _, it := range r.Body["items"].([]any) {
			out = append(out, it.(map[string]any)["id"].(string))
		}
		sort.Strings(out)
		return out
	}
	sorted := func(s ...string) []string { sort.Strings(s); return s }
	cases := []struct {
		name, token, query string
		status             int
		want               []string // ids, for 200
	}{
		{"town official: waiting for me in every village", official, "?waitingFor=town-official", 200, sorted(waiting[village], waiting[villageB])},
		{"town official: one village", official, "?waitingFor=town-official&village=" + villageB, 200, []string{waiting[villageB]}},
		{"town finance: nothing waits", finance, "?waitingFor=town-finance", 200, nil},
		{"town official: the town's running processes", official, "?status=running", 200, sorted(waiting[village], waiting[villageB], early.ID)},
		{"director: own village only", directorA, "?waitingFor=director", 200, []string{early.ID}},
		{"director: own village, any state", directorA, "", 200, sorted(waiting[village], early.ID)},
		{"district staff read the town", district, "?waitingFor=town-official", 200, sorted(waiting[village], waiting[villageB])},
		{"director asks for another village", directorA, "?village=" + villageB, 403, nil},
		{"liaison cadre: its assigned village only", cadre, "?status=running", 200, []string{waiting[villageB]}},
		{"liaison cadre: its assigned village by name", cadre, "?village=" + villageB, 200, []string{waiting[villageB]}},
		{"liaison cadre asks for a village not assigned", cadre, "?village=" + village, 403, nil},
		{"another town's official", foreign, "?waitingFor=town-official", 403, nil},
		{"town IT reads no processes", townIT, "", 403, nil},
		{"villagers use the public tracker", villager, "", 403, nil},
		{"no session", "", "", 401, nil},
		{"bad status", official, "?status=stuck", 422, nil},
		{"bad role", official, "?waitingFor=mayor", 422, nil},
		{"bad village", official, "?village=12", 422, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, ts, "GET", "/v1/instances"+tc.query, tc.token, "", "")
			if r.Status != tc.status {
				t.Fatalf("got %d %s, want %d", r.Status, r.Raw, tc.status)
			}
			if tc.status == 200 && strings.Join(ids(r), ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, want %v", ids(r), tc.want)
			}
		})
	}

	names := func(r response) string {
		var out []string
		for _, it := range r.Body["items"].([]any) {
			out = append(out, it.(map[string]any)["code"].(string)+"="+it.(map[string]any)["name"].(string))
		}
		return strings.Join(out, ",")
	}
	if r := call(t, ts, "GET", "/v1/villages", official, "", ""); r.Status != 200 || names(r) != village+"=岩头村,"+villageB+"=畸山村" {
		t.Fatalf("villages for the town official: %d %s", r.Status, r.Raw)
	}
	if r := call(t, ts, "GET", "/v1/villages", directorA, "", ""); r.Status != 200 || names(r) != village+"=岩头村" {
		t.Fatalf("villages for a director: %d %s", r.Status, r.Raw)
	}
	if r := call(t, ts, "GET", "/v1/villages", cadre, "", ""); r.Status != 200 || names(r) != villageB+"=畸山村" {
		t.Fatalf("villages for a liaison cadre: %d %s", r.Status, r.Raw)
	}
	for _, tok := range []string{foreign, townIT, villager} {
		if r := call(t, ts, "GET", "/v1/villages", tok, "", ""); r.Status != 403 {
			t.Fatalf("villages for an outsider: %d %s", r.Status, r.Raw)
		}
	}
}
