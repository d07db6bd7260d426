package workflow

import (
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// Free text is bounded at the API (it ends up in events: 200 KiB of "<"
// made a >1 MiB event that stopped the town's outbox): too long is a 422
// naming the field and the limit, and changes nothing; at the limit is fine.
func TestFreeTextLimits(t *testing.T) {
	ts, _ := api(t)
	sec, _ := testinfra.KratosUser(t, "secretary", town, village)
	started := jsonCall(t, ts, "POST", "/v1/villages/"+village+"/instances", sec,
		StartRequest{ItemID: "decision-major-matters", Title: strings.Repeat("村", 200)})
	if started.Status != 201 {
		t.Fatalf("start with a 200-character title: %d %s", started.Status, started.Raw)
	}
	id := started.Body["id"].(string)
	long := strings.Repeat("<", 4001)
	for _, tc := range []struct {
		name, path, field, limit string
		body                     any
	}{
		{"start title", "/v1/villages/" + village + "/instances", "title", "200",
			StartRequest{ItemID: "decision-major-matters", Title: strings.Repeat("<", 201)}},
		{"start payee", "/v1/villages/" + village + "/instances", "payeeName", "200",
			StartRequest{ItemID: "decision-major-matters", Title: "x", PayeeName: strings.Repeat("王", 201)}},
		{"complete note", "/v1/instances/" + id + "/steps/propose/complete", "note", "4000", CompleteRequest{Note: long}},
		{"complete reason", "/v1/instances/" + id + "/steps/propose/complete", "reason", "4000", CompleteRequest{Reason: long}},
		{"comment", "/v1/instances/" + id + "/comments", "body", "2000", map[string]string{"body": strings.Repeat("<", 2001)}},
		{"withdraw", "/v1/instances/" + id + "/withdraw", "reason", "4000", map[string]string{"reason": long}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := jsonCall(t, ts, "POST", tc.path, sec, tc.body)
			if r.Status != 422 || !strings.HasSuffix(r.Body["type"].(string), "/validation") ||
				!strings.Contains(r.Raw, `"field":"`+tc.field+`"`) || !strings.Contains(r.Raw, "at most "+tc.limit+" characters") {
				t.Fatalf("got %d %s, want 422 naming %s and %s", r.Status, r.Raw, tc.field, tc.limit)
			}
		})
	}
	// Relatives (discipline's records of cadres' families).
	discipline, _ := testinfra.KratosUser(t, "town-discipline", town, "")
	for _, tc := range []struct{ field, limit, cadre, relation string }{
		{"cadreId", "128", strings.Repeat("x", 129), "配偶"},
		{"relation", "32", "cadre-1", strings.Repeat("<", 33)},
	} {
		r := jsonCall(t, ts, "POST", "/v1/villages/"+village+"/relatives", discipline,
			map[string]string{"cadreId": tc.cadre, "idNumber": "330283199001011234", "relation": tc.relation})
		if r.Status != 422 || !strings.Contains(r.Raw, `"field":"`+tc.field+`"`) || !strings.Contains(r.Raw, "at most "+tc.limit+" characters") {
			t.Errorf("relative with a long %s: %d %s", tc.field, r.Status, r.Raw)
		}
	}
	// Nothing was changed by the refused requests.
	got := call(t, ts, "GET", "/v1/instances/"+id, sec, "", "")
	if got.Status != 200 || got.Body["status"] != "running" || got.Body["version"] != float64(1) {
		t.Errorf("instance after refused requests: %d %s", got.Status, got.Raw)
	}
	if r := jsonCall(t, ts, "POST", "/v1/instances/"+id+"/comments", sec, map[string]string{"body": strings.Repeat("评", 2000)}); r.Status != 201 {
		t.Errorf("a 2000-character comment: %d %s", r.Status, r.Raw)
	}
}
