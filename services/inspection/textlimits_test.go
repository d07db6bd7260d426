package inspection

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// Inspection's free text is bounded at the API (it goes into events, pages
// and PDFs): too long is a 422 naming the field and the limit.
func TestFreeTextLimits(t *testing.T) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	auth := identity.New(testinfra.Require(t, testinfra.EnvKratosPublicURL), identity.WithCacheTTL(0),
		identity.WithErrorWriter(httpapi.WriteStatusProblem))
	srv := httpapi.New(config.Base{Town: svcTown, MaxBodyBytes: 64 << 10}, slog.New(slog.DiscardHandler), nil).WithAuthenticator(auth.Require)
	s.Routes(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	disc, _ := testinfra.KratosUser(t, "town-discipline", svcTown, "")
	sec, _ := testinfra.KratosUser(t, "secretary", svcTown, svcVillage)

	r := send(t, ts, "POST", "/v1/tours", disc, TourInput{Name: "2026年第一轮村级巡察", Period: "2026Q2",
		Team: []TeamMember{{Name: "王巡察", Role: "组长"}}, Villages: []string{svcVillage}})
	if r.status != 201 {
		t.Fatalf("plan tour: %d %s", r.status, r.raw)
	}
	tour := "/v1/tours/" + r.body["id"].(string)
	task := func(desc string) FindingInput {
		return FindingInput{Village: svcVillage, Category: "村务公开", Description: desc, Severity: SeverityMajor,
			Tasks: []TaskInput{{Owner: "村委会", Action: "按月更新公开栏", Deadline: "2026-05-31"}}}
	}
	r = send(t, ts, "POST", tour+"/findings", disc, task(strings.Repeat("查", maxNote)))
	if r.status != 201 {
		t.Fatalf("a finding at the limit: %d %s", r.status, r.raw)
	}
	taskID := r.body["finding"].(map[string]any)["tasks"].([]any)[0].(map[string]any)["id"].(string)
	r = send(t, ts, "POST", "/v1/orders", disc, OrderRequest{Village: svcVillage, Situation: "duty-02"})
	if r.status != 201 {
		t.Fatalf("order: %d %s", r.status, r.raw)
	}
	order := "/v1/orders/" + r.body["number"].(string)

	long := strings.Repeat("<", maxNote+1)
	longTask := task("x")
	longTask.Tasks[0].Action = long
	for _, tc := range []struct {
		name, token, path, field, limit string
		body                            any
	}{
		{"tour name", disc, "/v1/tours", "name", "200", TourInput{Name: strings.Repeat("<", 201), Period: "2026", Team: []TeamMember{{Name: "x"}}, Villages: []string{svcVillage}}},
		{"team member", disc, "/v1/tours", "team[0].name", "100", TourInput{Name: "x", Period: "2026", Team: []TeamMember{{Name: strings.Repeat("王", 101)}}, Villages: []string{svcVillage}}},
		{"finding description", disc, tour + "/findings", "description", "2000", task(long)},
		{"task action", disc, tour + "/findings", "tasks[0].action", "2000", longTask},
		{"submission note", sec, "/v1/rectifications/" + taskID + "/submit", "note", "2000", TaskAction{Note: long, Evidence: []RectificationEvidence{{Text: "已更新"}}}},
		{"submission evidence", sec, "/v1/rectifications/" + taskID + "/submit", "evidence[0].text", "2000", TaskAction{Evidence: []RectificationEvidence{{Text: long}}}},
		{"order detail", disc, "/v1/orders", "detail", "2000", OrderRequest{Village: svcVillage, Situation: "duty-02", Detail: long}},
		{"order response", disc, order + "/respond", "response", "2000", map[string]string{"response": long}},
		{"interview reason", disc, "/v1/interviews", "reason", "2000", map[string]any{"village": svcVillage, "cadreName": "张某",
			"heldAt": clk.Now().Add(-time.Hour), "interviewers": []string{"镇纪委书记"}, "reason": long, "outcome": "提醒谈话"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, ts, "POST", tc.path, tc.token, tc.body)
			if r.status != 422 || !strings.Contains(r.raw, `"field":"`+tc.field+`"`) || !strings.Contains(r.raw, "at most "+tc.limit+" characters") {
				t.Fatalf("got %d %s, want 422 naming %s and %s", r.status, r.raw, tc.field, tc.limit)
			}
		})
	}
}
