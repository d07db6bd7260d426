package complaint

import (
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// Staff and reporter free text is bounded at the API (it goes into events):
// too long is a 422 naming the field and the limit, and changes nothing.
func TestAPIFreeTextLimits(t *testing.T) {
	ts, _ := apiServer(t, generous)
	liaison, _ := testinfra.KratosUser(t, "liaison-officer", testTown, testVillage)
	anon := file(t, ts, "", CategoryFunds)
	code, _ := anon.Body["trackingCode"].(string)
	secret, _ := anon.Body["secret"].(string)
	if anon.Status != 201 {
		t.Fatalf("intake: %d %s", anon.Status, anon.Raw)
	}
	list := client(ts).Call(t, "GET", "/v1/villages/"+testVillage+"/complaints", liaison, "", "")
	items, _ := list.Body["items"].([]any)
	if list.Status != 200 || len(items) != 1 {
		t.Fatalf("list: %d %s", list.Status, list.Raw)
	}
	id := items[0].(map[string]any)["id"].(string)
	long := strings.Repeat("<", MaxActionText+1)
	for _, tc := range []struct {
		name, token, path, field string
		body                     any
	}{
		{"rejection reason", liaison, "/v1/complaints/" + id + "/actions", "reason", actionRequest{Action: ActionReject, Reason: long}},
		{"resolution summary", liaison, "/v1/complaints/" + id + "/actions", "summary", actionRequest{Action: ActionResolve, Summary: long, Outcome: "substantiated"}},
		{"note", liaison, "/v1/complaints/" + id + "/notes", "body", noteRequest{Body: long, Public: true}},
		{"feedback comment", "", "/v1/public/complaints/" + code + "/feedback", "comment", feedbackRequest{Secret: secret, Comment: long}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := client(ts).JSON(t, "POST", tc.path, tc.token, tc.body)
			if r.Status != 422 || !strings.HasSuffix(r.ProblemType(), "/validation") ||
				!strings.Contains(r.Raw, `"field":"`+tc.field+`"`) || !strings.Contains(r.Raw, "at most 2000 characters") {
				t.Fatalf("got %d %s, want 422 naming %s and 2000", r.Status, r.Raw, tc.field)
			}
		})
	}
	pub := client(ts).Call(t, "GET", "/v1/public/complaints/"+code, "", "", "")
	if pub.Status != 200 || pub.Body["status"] != "received" || strings.Contains(pub.Raw, "<<<") {
		t.Errorf("complaint after refused requests: %d %s", pub.Status, pub.Raw)
	}
	if r := client(ts).JSON(t, "POST", "/v1/complaints/"+id+"/notes", liaison, noteRequest{Body: strings.Repeat("记", MaxActionText)}); r.Status != 201 {
		t.Errorf("a note at the limit: %d %s", r.Status, r.Raw)
	}
}
