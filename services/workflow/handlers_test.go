package workflow

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// api runs the workflow's HTTP API on the real PostgreSQL and Kratos.
func api(t *testing.T) (*httptest.Server, *Service) {
	t.Helper()
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(t, testinfra.Postgres(t), clk)
	return httpapitest.ServeAPI(t, httpapitest.APIBase(town), s.Routes), s
}

type response = httpapitest.Response

func call(t *testing.T, ts *httptest.Server, method, path, token, contentType, body string) response {
	t.Helper()
	return httpapitest.Client{URL: ts.URL}.Call(t, method, path, token, contentType, body)
}

func jsonCall(t *testing.T, ts *httptest.Server, method, path, token string, body any) response {
	t.Helper()
	return httpapitest.Client{URL: ts.URL}.JSON(t, method, path, token, body)
}

func TestAPIIsolationAndProblems(t *testing.T) {
	ts, _ := api(t)
	secA, _ := testinfra.KratosUser(t, "secretary", town, village)
	secB, _ := testinfra.KratosUser(t, "secretary", town, "330213100202")
	villager, _ := testinfra.KratosUser(t, "villager", town, village)
	otherTown, _ := testinfra.KratosUser(t, "town-official", "jinping", "")

	started := jsonCall(t, ts, "POST", "/v1/villages/"+village+"/instances", secA, StartRequest{ItemID: "decision-major-matters", Title: "村道硬化"})
	if started.Status != 201 {
		t.Fatalf("start: %d %s", started.Status, started.Raw)
	}
	id, number := started.Body["id"].(string), started.Body["trackingNumber"].(string)

	cases := []struct {
		name   string
		token  string
		method string
		path   string
		body   any
		status int
		typ    string
	}{
		{"no session", "", "GET", "/v1/instances/" + id, nil, 401, "unauthenticated"},
		{"other village reads", secB, "GET", "/v1/instances/" + id, nil, 404, "not-found"},
		{"other village advances", secB, "POST", "/v1/instances/" + id + "/steps/propose/complete", CompleteRequest{}, 404, "not-found"},
		{"other village lists", secB, "GET", "/v1/villages/" + village + "/instances", nil, 403, "forbidden"},
		{"other village starts here", secB, "POST", "/v1/villages/" + village + "/instances", StartRequest{ItemID: "decision-major-matters", Title: "x"}, 403, "forbidden"},
		{"other town reads", otherTown, "GET", "/v1/instances/" + id, nil, 404, "not-found"},
		// Villagers see processes only through the public tracker.
		{"villager advances", villager, "POST", "/v1/instances/" + id + "/steps/propose/complete", CompleteRequest{}, 404, "not-found"},
		{"villager reads", villager, "GET", "/v1/instances/" + id, nil, 404, "not-found"},
		{"villager starts", villager, "POST", "/v1/villages/" + village + "/instances", StartRequest{ItemID: "decision-major-matters", Title: "x"}, 403, "forbidden"},
		{"off the list", secA, "POST", "/v1/villages/" + village + "/instances", StartRequest{ItemID: "sell-the-pond", Title: "x"}, 422, "workflow/not-on-the-list"},
		{"skipping a step", secA, "POST", "/v1/instances/" + id + "/steps/members-review/complete", CompleteRequest{}, 409, "workflow/out-of-order"},
		{"relatives are discipline's", secA, "POST", "/v1/villages/" + village + "/relatives", map[string]string{"cadreId": "x", "idNumber": "330283199001011234", "relation": "配偶"}, 403, "forbidden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.body == nil {
				r = call(t, ts, tc.method, tc.path, tc.token, "", "")
			} else {
				r = jsonCall(t, ts, tc.method, tc.path, tc.token, tc.body)
			}
			if r.Status != tc.status || !strings.HasSuffix(r.Body["type"].(string), "/"+tc.typ) {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Raw, tc.status, tc.typ)
			}
		})
	}

	// Malformed and oversized requests get problem details, and change nothing.
	malformed := []struct {
		name, contentType, body string
		status                  int
		typ                     string
	}{
		{"not JSON", "application/json", "{", 400, "malformed-json"},
		{"unknown field", "application/json", `{"itemId":"decision-major-matters","title":"x","owner":"me"}`, 400, "unknown-field"},
		{"wrong type", "application/json", `{"itemId":"decision-major-matters","title":"x","amountFen":"a lot"}`, 400, "invalid-field-type"},
		{"wrong content type", "text/plain", `{"itemId":"x"}`, 415, "unsupported-media-type"},
		{"oversized", "application/json", `{"itemId":"decision-major-matters","title":"` + strings.Repeat("长", 40000) + `"}`, 413, "body-too-large"},
	}
	for _, tc := range malformed {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, ts, "POST", "/v1/villages/"+village+"/instances", secA, tc.contentType, tc.body)
			if r.Status != tc.status || !strings.HasSuffix(r.Body["type"].(string), "/"+tc.typ) {
				t.Fatalf("got %d %s", r.Status, r.Raw)
			}
		})
	}
	list := call(t, ts, "GET", "/v1/villages/"+village+"/instances", secA, "", "")
	if items := list.Body["items"].([]any); len(items) != 1 {
		t.Fatalf("the village has %d processes, want 1", len(items))
	}

	// The owner advances; the public tracker shows where it stands, without people.
	if r := jsonCall(t, ts, "POST", "/v1/instances/"+id+"/steps/propose/complete", secA, CompleteRequest{Note: "支部会议提议"}); r.Status != 200 {
		t.Fatalf("complete: %d %s", r.Status, r.Raw)
	}
	pub := call(t, ts, "GET", "/v1/public/track/"+number, "", "", "")
	if pub.Status != 200 || pub.Body["current"] != "joint-meeting" || strings.Contains(pub.Raw, "actorId") || strings.Contains(pub.Raw, "支部会议提议") {
		t.Fatalf("public view: %d %s", pub.Status, pub.Raw)
	}
	svg := call(t, ts, "GET", "/v1/public/track/"+number+"/flowchart.svg", "", "", "")
	if svg.Status != 200 || !strings.Contains(svg.Raw, `class="step current" data-step="joint-meeting"`) {
		t.Fatalf("public flowchart: %d %.300s", svg.Status, svg.Raw)
	}
	audit := call(t, ts, "GET", "/v1/instances/"+id+"/audit", secA, "", "")
	if v := audit.Body["verification"].(map[string]any); v["valid"] != true || v["entries"].(float64) != 2 {
		t.Fatalf("audit: %s", audit.Raw)
	}
	doc := call(t, ts, "GET", "/openapi.yaml", "", "", "")
	if doc.Status != 200 || !bytes.Contains([]byte(doc.Raw), []byte("/v1/instances/{id}/steps/{step}/complete")) {
		t.Fatalf("openapi: %d", doc.Status)
	}
}

// TestOtherTownCannotActHere: scope is checked against this service's own
// town. A town official of another town once started processes here (the
// handler checked the caller's own town), and their warnings then lowered
// this town's ratings; once the operator has announced the town's villages,
// an official of this town cannot start one in another town's village
// either.
func TestOtherTownCannotActHere(t *testing.T) {
	ts, s := api(t)
	ctx := context.Background()
	foreign, _ := testinfra.KratosUser(t, "town-official", "jinping", "")
	official, _ := testinfra.KratosUser(t, "town-official", town, "")
	const otherTownsVillage = "330283100101"                                   // a village of jinping
	handover := StartRequest{ItemID: "duty-departure-handover", Title: "离任交接"} // its first step is the town official's

	if r := jsonCall(t, ts, "POST", "/v1/villages/"+village+"/instances", foreign, handover); r.Status != 403 {
		t.Fatalf("another town's official starts here: %d %s", r.Status, r.Raw)
	}
	if _, err := s.Start(ctx, Actor{ID: "j-off", Role: "town-official", Town: "jinping"}, village, handover); err == nil {
		t.Fatal("Service.Start filed a process under another town")
	}
	if err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error { return s.HandleTenantEvent(ctx, tx, registered(village, "uid-1", 1)) }); err != nil {
		t.Fatal(err)
	}
	if r := jsonCall(t, ts, "POST", "/v1/villages/"+otherTownsVillage+"/instances", official, handover); r.Status != 404 ||
		!strings.HasSuffix(r.Body["type"].(string), "/workflow/unknown-village") {
		t.Fatalf("this town's official starts in another town's village: %d %s", r.Status, r.Raw)
	}
	discipline, _ := testinfra.KratosUser(t, "town-discipline", town, "")
	if r := jsonCall(t, ts, "POST", "/v1/villages/"+otherTownsVillage+"/relatives", discipline,
		map[string]string{"cadreId": "x", "idNumber": "330283199001011234", "relation": "配偶"}); r.Status != 404 {
		t.Fatalf("this town's discipline office records a relative in another town's village: %d %s", r.Status, r.Raw)
	}
	var n int
	if err := s.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM instances) + (SELECT count(*) FROM relatives)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused writes left %d rows (%v)", n, err)
	}

	// This town's official starts one in the town's village; the other
	// town's official can neither read nor act on it.
	r := jsonCall(t, ts, "POST", "/v1/villages/"+village+"/instances", official, handover)
	if r.Status != 201 {
		t.Fatalf("this town's official starts: %d %s", r.Status, r.Raw)
	}
	id := r.Body["id"].(string)
	for _, path := range []string{"/v1/instances/" + id, "/v1/instances/" + id + "/audit"} {
		if r := call(t, ts, "GET", path, foreign, "", ""); r.Status != 404 {
			t.Errorf("another town's official reads %s: %d %s", path, r.Status, r.Raw)
		}
	}
	if r := jsonCall(t, ts, "POST", "/v1/instances/"+id+"/withdraw", foreign, map[string]string{"reason": "x"}); r.Status != 404 {
		t.Errorf("another town's official withdraws: %d %s", r.Status, r.Raw)
	}
}
