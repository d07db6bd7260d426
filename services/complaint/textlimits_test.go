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
	code, _ := anon.body["trackingCode"].(string)
	secret, _ := anon.body["secret"].(string)
	if anon.status != 201 {
		t.Fatalf("intake: %d %s", anon.status, anon.raw)
	}
	list := apiCall(t, ts, "GET", "/v1/villages/"+testVillage+"/complaints", liaison, nil, "", "")
	items, _ := list.body["items"].([]any)
	if list.status != 200 || len(items) != 1 {
		t.Fatalf("list: %d %s", list.status, list.raw)
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
			r := apiJSON(t, ts, "POST", tc.path, tc.token, tc.body)
			if r.status != 422 || !strings.HasSuffix(problemType(r), "/validation") ||
				!strings.Contains(r.raw, `"field":"`+tc.field+`"`) || !strings.Contains(r.raw, "at most 2000 characters") {
				t.Fatalf("got %d %s, want 422 naming %s and 2000", r.status, r.raw, tc.field)
			}
		})
	}
	pub := apiCall(t, ts, "GET", "/v1/public/complaints/"+code, "", nil, "", "")
	if pub.status != 200 || pub.body["status"] != "received" || strings.Contains(pub.raw, "<<<") {
		t.Errorf("complaint after refused requests: %d %s", pub.status, pub.raw)
	}
	if r := apiJSON(t, ts, "POST", "/v1/complaints/"+id+"/notes", liaison, noteRequest{Body: strings.Repeat("记", MaxActionText)}); r.status != 201 {
		t.Errorf("a note at the limit: %d %s", r.status, r.raw)
	}
}
