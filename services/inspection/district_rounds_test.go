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

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// The district's discipline staff run a round and an order in a town, over
// HTTP with real Kratos sessions on the real PostgreSQL: they plan the
// tour, record a visit, raise a finding, accept its rectification, issue
// an order, return the village's answer and record an interview. Every
// record and event says the district did it; the town's office sees the
// district's round; district admins and other towns' offices cannot act;
// signing notices stays the town's.
func TestDistrictRunsRoundsAndOrders(t *testing.T) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	auth := identity.New(testinfra.Require(t, testinfra.EnvKratosPublicURL), identity.WithCacheTTL(0),
		identity.WithErrorWriter(httpapi.WriteStatusProblem))
	srv := httpapi.New(config.Base{Town: svcTown, MaxBodyBytes: 64 << 10}, slog.New(slog.DiscardHandler), nil).WithAuthenticator(auth.Require)
	s.Routes(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	district, _ := testinfra.KratosUser(t, "district-discipline", "", "")
	admin, _ := testinfra.KratosUser(t, "district-admin", "", "")
	disc, _ := testinfra.KratosUser(t, "town-discipline", svcTown, "")
	otherDisc, _ := testinfra.KratosUser(t, "town-discipline", "jinping", "")
	sec, _ := testinfra.KratosUser(t, "secretary", svcTown, svcVillage)

	must := func(r response, want int, what string) response {
		t.Helper()
		if r.status != want {
			t.Fatalf("%s: %d %.500s, want %d", what, r.status, r.raw, want)
		}
		return r
	}
	const role = "district-discipline"
	r := must(send(t, ts, "POST", "/v1/tours", district, TourInput{Name: "2026年区委第一轮巡察", Period: "2026Q2",
		Team: []TeamMember{{Name: "区巡察组", Role: "组长"}}, Villages: []string{svcVillage, svcVillage2}}), 201, "the district plans")
	tourID := r.body["id"].(string)
	if r.body["createdByRole"] != role {
		t.Fatalf("tour: %s", r.raw)
	}
	r = must(send(t, ts, "POST", "/v1/tours/"+tourID+"/visits", district, map[string]string{"village": svcVillage, "date": "2026-04-09"}), 200, "visit")
	if v := r.body["villages"].([]any)[0].(map[string]any); v["visitedByRole"] != role {
		t.Fatalf("visit: %s", r.raw)
	}
	r = must(send(t, ts, "POST", "/v1/tours/"+tourID+"/findings", district, FindingInput{Village: svcVillage, Category: "三资管理",
		Description: "村集体资产出租未公开招租", Severity: SeverityMinor,
		Tasks: []TaskInput{{Owner: "村股份经济合作社", Action: "重新公开招租", Deadline: "2026-05-31"}}}), 201, "finding")
	f := r.body["finding"].(map[string]any)
	task := f["tasks"].([]any)[0].(map[string]any)["id"].(string)
	if f["raisedByRole"] != role {
		t.Fatalf("finding: %s", r.raw)
	}
	must(send(t, ts, "POST", "/v1/rectifications/"+task+"/submit", sec, map[string]any{"evidence": []map[string]string{{"text": "已重新公开招租"}}}), 200, "submit")
	r = must(send(t, ts, "POST", "/v1/rectifications/"+task+"/accept", district, map[string]any{}), 200, "the district accepts")
	if h := r.body["history"].([]any); h[len(h)-1].(map[string]any)["role"] != role {
		t.Fatalf("task: %s", r.raw)
	}
	r = must(send(t, ts, "POST", "/v1/orders", district, OrderRequest{Village: svcVillage, Situation: "duty-02"}), 201, "the district issues")
	number := r.body["number"].(string)
	order := "/v1/orders/" + url.PathEscape(number)
	if r.body["issuedByRole"] != role {
		t.Fatalf("order: %s", r.raw)
	}
	must(send(t, ts, "POST", order+"/respond", sec, OrderAction{Response: "已补公示", Evidence: []AnswerEvidence{{Text: "公示照片存档"}}}), 200, "answer")
	must(send(t, ts, "POST", order+"/return", admin, OrderAction{Reason: "x"}), 404, "a district admin returns")
	must(send(t, ts, "POST", order+"/return", otherDisc, OrderAction{Reason: "x"}), 404, "another town's office returns")
	r = must(send(t, ts, "POST", order+"/return", district, OrderAction{Reason: "公示期不足"}), 200, "the district returns")
	var o StoredOrder
	if err := json.Unmarshal([]byte(r.raw), &o); err != nil {
		t.Fatal(err)
	}
	var stepRoles []string
	for _, st := range o.Steps {
		stepRoles = append(stepRoles, st.Action+":"+st.Role)
	}
	if got := strings.Join(stepRoles, " "); got != "issued:district-discipline answered:secretary returned:district-discipline" {
		t.Fatalf("order steps %q", got)
	}
	must(send(t, ts, "POST", "/v1/interviews", district, map[string]any{"village": svcVillage, "cadreName": "张某", "heldAt": clk.Now().Add(-time.Hour),
		"interviewers": []string{"区纪委"}, "reason": "公示不规范", "outcome": "提醒谈话", "orderNumber": number}), 201, "interview")
	must(send(t, ts, "POST", "/v1/tours", admin, TourInput{Name: "x", Period: "2026", Team: []TeamMember{{Name: "x"}}, Villages: []string{svcVillage}}), 403, "a district admin plans")
	must(send(t, ts, "POST", "/v1/orders", otherDisc, OrderRequest{Village: svcVillage, Situation: "duty-02"}), 403, "another town's office issues")
	must(send(t, ts, "POST", "/v1/notices/9a4e1a9e-4f0e-4c55-9a51-3f1b2b6f0000/sign", district, nil), 403, "the district signs a notice")

	// The town's office sees the district's round, finding and interview.
	r = must(get(t, ts, "/v1/tours", disc), 200, "the town's tours")
	if !strings.Contains(r.raw, "2026年区委第一轮巡察") {
		t.Fatalf("the town's list lacks the district's round: %s", r.raw)
	}
	r = must(get(t, ts, "/v1/interviews", disc), 200, "the town's interviews")
	if !strings.Contains(r.raw, `"recordedByRole":"district-discipline"`) {
		t.Fatalf("interviews: %s", r.raw)
	}
	// Every event of the district's acts names its role; none names a person.
	types, data := outbox(t, s.Pool)
	seen := map[string]bool{}
	for i, typ := range types {
		var ev struct {
			ActorRole string `json:"actorRole"`
		}
		if err := json.Unmarshal(data[i], &ev); err != nil {
			t.Fatal(err)
		}
		switch typ {
		case eventsv1.TypeVisitRecorded, eventsv1.TypeFindingRaised, eventsv1.TypeOrderIssued, eventsv1.TypeInterviewRecorded, eventsv1.TypeOrderReturned:
			if ev.ActorRole != role {
				t.Errorf("%s: actor role %q", typ, ev.ActorRole)
			}
			seen[typ] = true
		}
		if strings.Contains(string(data[i]), "张某") {
			t.Errorf("%s names the cadre: %s", typ, data[i])
		}
	}
	if len(seen) != 5 {
		t.Fatalf("events seen %v of %v", seen, types)
	}
}

// A returned answer is due again by a new deadline counted from the
// return (or the day the office names), and escalation follows it: not
// at the old deadline, at the new one, once per deadline; a missed
// deadline of a notice counts in the village's rating as an overdue
// rectification, as does a red order referred. Orders likewise.
func TestReturnedAnswerGetsNewDeadline(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	start := time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai)
	clk.Set(start)
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	handle(t, s, warningEvent(t, svcTown, svcVillage, "conflict-of-interest", day))
	handle(t, s, warningEvent(t, svcTown, svcVillage, "conflict-of-interest", day.AddDate(0, 0, 1)))
	signed := signDrafts(t, s)
	if len(signed) != 1 {
		t.Fatalf("%d notices signed", len(signed))
	}
	n := signed[0]
	sec := identity.Principal{IdentityID: "sec-a", Role: identity.RoleSecretary, Town: svcTown, Village: svcVillage}
	answer := Answer{Report: "已整改", Evidence: []AnswerEvidence{{Text: "整改台账"}}}
	overdueFacts := func() int {
		return count(t, s.Pool, `SELECT count(*) FROM facts WHERE kind = 'rectification' AND subkind = 'overdue' AND village = $1`, svcVillage)
	}

	// Answered and returned ten days in: due 15 days after the return.
	clk.Set(start.AddDate(0, 0, 10))
	if _, err := s.AnswerNotice(ctx, sec, n.ID, answer); err != nil {
		t.Fatal(err)
	}
	var p *httpapi.Problem
	if _, err := s.ReviewNotice(ctx, testDisc, n.ID, false, Review{Reason: "材料不全", Deadline: "2026-04-01"}); !errors.As(err, &p) || p.Status != 422 {
		t.Fatalf("a new deadline in the past: %v", err)
	}
	got, err := s.ReviewNotice(ctx, testDisc, n.ID, false, Review{Reason: "材料不全"})
	if err != nil {
		t.Fatal(err)
	}
	want := endOfDay(clk.Now(), 15)
	if got.AnswerDue == nil || !got.AnswerDue.Equal(want) || !got.Deadline.Equal(n.Deadline) || !got.AnswerBy().After(n.Deadline) {
		t.Fatalf("returned: answerDue %v deadline %v, want %v and the signed %v", got.AnswerDue, got.Deadline, want, n.Deadline)
	}
	types, data := outbox(t, s.Pool)
	var rev eventsv1.NoticeReviewed
	if err := json.Unmarshal(data[len(data)-1], &rev); err != nil || types[len(types)-1] != eventsv1.TypeNoticeReturned ||
		rev.Deadline == nil || !rev.Deadline.Equal(want) || rev.ActorRole != string(identity.RoleTownDiscipline) {
		t.Fatalf("return event %s %+v (%v)", types[len(types)-1], rev, err)
	}
	for _, tc := range []struct {
		at   time.Time
		want int
	}{{n.Deadline, 0}, {want.Add(-time.Second), 0}, {want, 1}, {want.Add(time.Hour), 0}} {
		clk.Set(tc.at)
		if k, err := s.EscalateNotices(ctx, 10); err != nil || k != tc.want {
			t.Fatalf("at %v: escalated %d (%v), want %d", tc.at, k, err, tc.want)
		}
	}
	if c := overdueFacts(); c != 1 {
		t.Fatalf("%d overdue facts after the escalation, want 1", c)
	}
	// Answered late, returned again with a day named: escalates again at it.
	clk.Set(want.AddDate(0, 0, 2))
	if _, err := s.AnswerNotice(ctx, sec, n.ID, answer); err != nil {
		t.Fatal(err)
	}
	got, err = s.ReviewNotice(ctx, testDisc, n.ID, false, Review{Reason: "仍未整改到位", Deadline: "2026-05-20"})
	if err != nil {
		t.Fatal(err)
	}
	named := time.Date(2026, 5, 21, 0, 0, 0, 0, Shanghai)
	if !got.AnswerDue.Equal(named) {
		t.Fatalf("named deadline %v, want %v", got.AnswerDue, named)
	}
	clk.Set(named)
	if k, err := s.EscalateNotices(ctx, 10); err != nil || k != 1 {
		t.Fatalf("at the named deadline: %d (%v)", k, err)
	}
	if c := overdueFacts(); c != 2 {
		t.Fatalf("%d overdue facts, want 2 (one per missed deadline)", c)
	}

	// An order returned later than issued is due again from the return.
	clk.Set(time.Date(2026, 6, 1, 9, 0, 0, 0, Shanghai))
	o, err := s.IssueOrder(ctx, testDisc, OrderRequest{Village: svcVillage2, Situation: "duty-02", Colour: "blue"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(time.Date(2026, 6, 20, 9, 0, 0, 0, Shanghai))
	if _, err := s.ActOnOrderBy(ctx, testDisc, o.Number, "respond", OrderAction{Response: "已整改"}); err != nil {
		t.Fatal(err)
	}
	ro, err := s.ActOnOrderBy(ctx, testDisc, o.Number, "return", OrderAction{Reason: "未见公示"})
	if err != nil {
		t.Fatal(err)
	}
	wantO := endOfDay(clk.Now(), 30)
	if ro.AnswerDue == nil || !ro.AnswerDue.Equal(wantO) {
		t.Fatalf("returned order due %v, want %v", ro.AnswerDue, wantO)
	}
	clk.Set(o.Deadline)
	if k, err := s.EscalateOrders(ctx, 10); err != nil || k != 0 {
		t.Fatalf("at the order's first deadline: %d (%v)", k, err)
	}
	clk.Set(wantO)
	if k, err := s.EscalateOrders(ctx, 10); err != nil || k != 1 {
		t.Fatalf("at the returned order's deadline: %d (%v)", k, err)
	}
	if old, err := s.OrderByNumber(ctx, o.Number); err != nil || old.EscalatedTo == "" {
		t.Fatalf("not escalated: %+v (%v)", old, err)
	}
	// A red order left unanswered is referred, and counts as overdue.
	red, err := s.IssueOrder(ctx, testDisc, OrderRequest{Village: svcVillage2, Situation: "duty-02", Colour: "red"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(red.Deadline)
	if k, err := s.EscalateOrders(ctx, 10); err != nil || k < 1 {
		t.Fatalf("red order: %d (%v)", k, err)
	}
	if c := count(t, s.Pool, `SELECT count(*) FROM facts WHERE id = $1`, "order:"+red.Number+":overdue:"+lastDay(red.Deadline).Format(time.DateOnly)); c != 1 {
		t.Fatalf("the referred red order's overdue fact: %d", c)
	}
}
