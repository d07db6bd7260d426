package inspection

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

func send(t *testing.T, ts *httptest.Server, method, path, token string, body any) response {
	t.Helper()
	if body == nil {
		return call(t, ts, method, path, token, "", nil)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return call(t, ts, method, path, token, "application/json", raw)
}

// Tenant isolation and roles over HTTP, on the real PostgreSQL and Kratos:
// the town's discipline office and the district's discipline staff run
// rounds and orders (district_rounds_test.go follows the district's) and
// read them; district admins only read the coverage and overview; another town's discipline office gets 403 on
// lists and 404 on records; village officials see only their own
// village's rectification tasks, never tours, findings, orders or
// interviews.
func TestToursAPIScopes(t *testing.T) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	dbURL := testinfra.Postgres(t)
	s := newService(t, dbURL, svcTown, clk)
	auth := identity.New(testinfra.Require(t, testinfra.EnvKratosPublicURL), identity.WithCacheTTL(0),
		identity.WithErrorWriter(httpapi.WriteStatusProblem))
	srv := httpapi.New(config.Base{Town: svcTown, MaxBodyBytes: 64 << 10}, slog.New(slog.DiscardHandler), nil).WithAuthenticator(auth.Require)
	s.Routes(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	disc, _ := testinfra.KratosUser(t, "town-discipline", svcTown, "")
	otherDisc, _ := testinfra.KratosUser(t, "town-discipline", "jinping", "")
	district, _ := testinfra.KratosUser(t, "district-discipline", "", "")
	admin, _ := testinfra.KratosUser(t, "district-admin", "", "")
	official, _ := testinfra.KratosUser(t, "town-official", svcTown, "")
	secA, _ := testinfra.KratosUser(t, "secretary", svcTown, svcVillage)
	secB, _ := testinfra.KratosUser(t, "secretary", svcTown, svcVillage2)
	villager, _ := testinfra.KratosUser(t, "villager", svcTown, svcVillage)

	// The office plans a tour, records a visit, raises a finding in each
	// village, issues an order and records an interview, over HTTP.
	r := send(t, ts, "POST", "/v1/tours", disc, TourInput{Name: "2026年第一轮村级巡察", Period: "2026Q2",
		Team: []TeamMember{{Name: "王巡察", Role: "组长"}}, Villages: []string{svcVillage, svcVillage2}})
	if r.status != 201 {
		t.Fatalf("plan tour: %d %s", r.status, r.raw)
	}
	tourID := r.body["id"].(string)
	if r := send(t, ts, "POST", "/v1/tours/"+tourID+"/visits", disc, map[string]string{"village": svcVillage, "date": "2026-04-08"}); r.status != 200 || r.body["visited"].(float64) != 1 {
		t.Fatalf("visit: %d %s", r.status, r.raw)
	}
	finding := func(village string) (string, string) {
		r := send(t, ts, "POST", "/v1/tours/"+tourID+"/findings", disc, FindingInput{Village: village, Category: "村务公开",
			Description: "公开栏内容未按月更新", Severity: SeverityMajor, Tasks: []TaskInput{{Owner: "村委会", Action: "按月更新公开栏", Deadline: "2026-05-31"}}})
		if r.status != 201 {
			t.Fatalf("finding: %d %s", r.status, r.raw)
		}
		f := r.body["finding"].(map[string]any)
		return f["id"].(string), f["tasks"].([]any)[0].(map[string]any)["id"].(string)
	}
	findingA, taskA := finding(svcVillage)
	findingB, taskB := finding(svcVillage2)
	r = send(t, ts, "POST", "/v1/orders", disc, OrderRequest{Village: svcVillage, Situation: "duty-02"})
	if r.status != 201 {
		t.Fatalf("order: %d %s", r.status, r.raw)
	}
	order := "/v1/orders/" + url.PathEscape(r.body["number"].(string))
	r = send(t, ts, "POST", "/v1/interviews", disc, map[string]any{"village": svcVillage, "cadreName": "张某", "heldAt": clk.Now().Add(-time.Hour),
		"interviewers": []string{"镇纪委书记"}, "reason": "公开不及时", "outcome": "提醒谈话"})
	if r.status != 201 {
		t.Fatalf("interview: %d %s", r.status, r.raw)
	}
	interview := "/v1/interviews/" + r.body["id"].(string)
	tour := "/v1/tours/" + tourID

	newTour := TourInput{Name: "x", Period: "2026", Team: []TeamMember{{Name: "x"}}, Villages: []string{svcVillage}}
	submit := map[string]any{"evidence": []map[string]string{{"text": "已整改"}}}
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		{"no session tours", "GET", "/v1/tours", "", nil, 401},
		{"discipline tours", "GET", "/v1/tours", disc, nil, 200},
		{"district tours", "GET", "/v1/tours", district, nil, 200},
		{"other town's discipline tours", "GET", "/v1/tours", otherDisc, nil, 403},
		{"district admin tours", "GET", "/v1/tours", admin, nil, 403},
		{"town official tours", "GET", "/v1/tours", official, nil, 403},
		{"secretary tours", "GET", "/v1/tours", secA, nil, 403},
		{"discipline tour", "GET", tour, disc, nil, 200},
		{"district tour", "GET", tour, district, nil, 200},
		{"other town's discipline tour", "GET", tour, otherDisc, nil, 404},
		{"secretary tour", "GET", tour, secA, nil, 404},
		{"unknown tour", "GET", "/v1/tours/9a4e1a9e-4f0e-4c55-9a51-3f1b2b6f0000", disc, nil, 404},
		{"other town's discipline plans", "POST", "/v1/tours", otherDisc, newTour, 403},
		{"district plans", "POST", "/v1/tours", district, newTour, 201},
		{"district admin plans", "POST", "/v1/tours", admin, newTour, 403},
		{"secretary plans", "POST", "/v1/tours", secA, newTour, 403},
		{"invalid tour", "POST", "/v1/tours", disc, TourInput{Period: "2026Q9", Villages: []string{"12"}}, 422},
		{"other town's discipline visits", "POST", tour + "/visits", otherDisc, map[string]string{"village": svcVillage2, "date": "2026-04-09"}, 404},
		{"future visit", "POST", tour + "/visits", disc, map[string]string{"village": svcVillage2, "date": "2026-05-09"}, 422},
		{"discipline coverage", "GET", "/v1/tours/coverage", disc, nil, 200},
		{"district admin coverage", "GET", "/v1/tours/coverage", admin, nil, 200},
		{"other town's discipline coverage", "GET", "/v1/tours/coverage", otherDisc, nil, 403},
		{"secretary coverage", "GET", "/v1/tours/coverage", secA, nil, 403},
		{"other town's discipline raises", "POST", tour + "/findings", otherDisc, FindingInput{}, 404},
		{"discipline findings", "GET", "/v1/findings", disc, nil, 200},
		{"secretary findings", "GET", "/v1/findings", secA, nil, 403},
		{"other town's discipline findings", "GET", "/v1/findings", otherDisc, nil, 403},
		{"district finding", "GET", "/v1/findings/" + findingA, district, nil, 200},
		{"own village's secretary finding", "GET", "/v1/findings/" + findingA, secA, nil, 404},
		{"other town's discipline finding", "GET", "/v1/findings/" + findingB, otherDisc, nil, 404},
		{"secretary own tasks", "GET", "/v1/rectifications", secA, nil, 200},
		{"secretary other village's tasks", "GET", "/v1/rectifications?village=" + svcVillage2, secA, nil, 403},
		{"villager tasks", "GET", "/v1/rectifications", villager, nil, 403},
		{"town official tasks", "GET", "/v1/rectifications", official, nil, 403},
		{"secretary own task", "GET", "/v1/rectifications/" + taskA, secA, nil, 200},
		{"secretary other village's task", "GET", "/v1/rectifications/" + taskB, secA, nil, 404},
		{"other village's secretary own task", "GET", "/v1/rectifications/" + taskB, secB, nil, 200},
		{"other village's secretary tasks", "GET", "/v1/rectifications", secB, nil, 200},
		{"other town's discipline task", "GET", "/v1/rectifications/" + taskA, otherDisc, nil, 404},
		{"secretary submits other village's task", "POST", "/v1/rectifications/" + taskB + "/submit", secA, submit, 404},
		{"villager submits", "POST", "/v1/rectifications/" + taskA + "/submit", villager, submit, 403},
		{"secretary submits own task", "POST", "/v1/rectifications/" + taskA + "/submit", secA, submit, 200},
		{"secretary accepts own task", "POST", "/v1/rectifications/" + taskA + "/accept", secA, map[string]any{}, 403},
		{"discipline returns without reason", "POST", "/v1/rectifications/" + taskA + "/return", disc, map[string]any{}, 422},
		{"discipline accepts", "POST", "/v1/rectifications/" + taskA + "/accept", disc, map[string]any{}, 200},
		{"discipline accepts twice", "POST", "/v1/rectifications/" + taskA + "/accept", disc, map[string]any{}, 409},
		{"discipline orders", "GET", "/v1/orders", disc, nil, 200},
		{"district orders", "GET", "/v1/orders?year=2026", district, nil, 200},
		{"other town's discipline orders", "GET", "/v1/orders", otherDisc, nil, 403},
		{"district admin orders", "GET", "/v1/orders", admin, nil, 403},
		{"secretary orders (own village's)", "GET", "/v1/orders", secA, nil, 200},
		{"secretary orders of another village", "GET", "/v1/orders?village=" + svcVillage2, secA, nil, 403},
		{"bad year", "GET", "/v1/orders?year=20x6", disc, nil, 400},
		{"bad village filter", "GET", "/v1/orders?village=33021310020x", disc, nil, 422},
		{"discipline order", "GET", order, disc, nil, 200},
		{"other town's discipline order", "GET", order, otherDisc, nil, 404},
		{"secretary order (addressed to the village)", "GET", order, secA, nil, 200},
		{"other village's secretary order", "GET", order, secB, nil, 404},
		{"other town's discipline issues", "POST", "/v1/orders", otherDisc, OrderRequest{Village: svcVillage, Situation: "duty-02"}, 403},
		{"district issues", "POST", "/v1/orders", district, OrderRequest{Village: svcVillage2, Situation: "duty-02"}, 201},
		{"district admin issues", "POST", "/v1/orders", admin, OrderRequest{Village: svcVillage2, Situation: "duty-02"}, 403},
		{"district admin responds", "POST", order + "/respond", admin, map[string]string{"response": "x"}, 404},
		{"invalid order", "POST", "/v1/orders", disc, OrderRequest{Village: "x", Situation: "nope"}, 422},
		{"other town's discipline responds", "POST", order + "/respond", otherDisc, map[string]string{"response": "x"}, 404},
		{"situations", "GET", "/v1/order-situations", disc, nil, 200},
		{"secretary situations", "GET", "/v1/order-situations", secA, nil, 403},
		{"discipline interviews", "GET", "/v1/interviews", disc, nil, 200},
		{"other town's discipline interviews", "GET", "/v1/interviews", otherDisc, nil, 403},
		{"secretary interviews", "GET", "/v1/interviews", secA, nil, 403},
		{"district interview", "GET", interview, district, nil, 200},
		{"other town's discipline interview", "GET", interview, otherDisc, nil, 404},
		{"district overview", "GET", "/v1/district/overview", district, nil, 200},
		{"district admin overview", "GET", "/v1/district/overview", admin, nil, 200},
		{"discipline overview", "GET", "/v1/district/overview", disc, nil, 200},
		{"other town's discipline overview", "GET", "/v1/district/overview", otherDisc, nil, 403},
		{"town official overview", "GET", "/v1/district/overview", official, nil, 403},
		{"secretary overview html", "GET", "/v1/district/overview/html", secA, nil, 403},
		{"no session overview html", "GET", "/v1/district/overview/html", "", nil, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if r := send(t, ts, tc.method, tc.path, tc.token, tc.body); r.status != tc.status {
				t.Fatalf("got %d %.400s, want %d", r.status, r.raw, tc.status)
			}
		})
	}

	// The secretary's list holds only their village's tasks, with what to
	// rectify but nothing of the tour.
	r = send(t, ts, "GET", "/v1/rectifications", secA, nil)
	items := r.body["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["village"] != svcVillage || items[0].(map[string]any)["findingDescription"] == "" ||
		strings.Contains(r.raw, "王巡察") || strings.Contains(r.raw, tourID) {
		t.Fatalf("secretary's tasks: %s", r.raw)
	}
	// The village's grade change is explained by the finding, for the village too.
	r = send(t, ts, "GET", "/v1/villages/"+svcVillage+"/rating", secA, nil)
	if r.body["points"].(float64) != 100-8-5+2 {
		t.Fatalf("rating after a major finding, a blue order and an on-time rectification: %s", r.raw)
	}
	r = send(t, ts, "GET", "/v1/tours/coverage", disc, nil)
	if r.body["covered"].(float64) != 1 || r.body["total"].(float64) != 2 || r.body["uncovered"].([]any)[0] != svcVillage2 {
		t.Fatalf("coverage: %s", r.raw)
	}
	r = send(t, ts, "GET", "/v1/district/overview", admin, nil)
	towns := r.body["towns"].([]any)
	town := towns[0].(map[string]any)
	if len(towns) != 1 || town["town"] != svcTown || town["orders"].([]any)[0].(map[string]any)["blue"].(float64) != 2 ||
		town["interviews"].([]any)[0].(map[string]any)["total"].(float64) != 1 || !strings.Contains(r.body["scope"].(string), "town only") {
		t.Fatalf("overview: %s", r.raw)
	}
	r = send(t, ts, "GET", "/v1/district/overview/html", admin, nil)
	if r.contentType != "text/html; charset=utf-8" || !strings.Contains(r.raw, "岩头村") || !strings.Contains(r.raw, "未覆盖") ||
		!strings.Contains(r.raw, "跨镇汇总") || !strings.Contains(r.raw, `class="B"`) {
		t.Fatalf("overview html: %s %.2000s", r.contentType, r.raw)
	}

	// Another town's instance on the same database (as a misconfiguration
	// would have it) still sees none of this town's records.
	jinping := newService(t, dbURL, "jinping", clk)
	if _, err := jinping.TourByID(context.Background(), tourID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("jinping reads xikou's tour: %v", err)
	}
	if _, err := jinping.FindingByID(context.Background(), findingA); !errors.Is(err, ErrNotFound) {
		t.Fatalf("jinping reads xikou's finding: %v", err)
	}
	if list, err := jinping.queryOrders(context.Background(), jinping.Pool, "true"); err != nil || len(list) != 0 {
		t.Fatalf("jinping reads xikou's orders: %v %v", list, err)
	}
}
