package inspection

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

var (
	testDisc = identity.Principal{IdentityID: "disc-1", Role: identity.RoleTownDiscipline, Town: svcTown}
	testSec  = identity.Principal{IdentityID: "sec-1", Role: identity.RoleSecretary, Town: svcTown, Village: svcVillage}
	testSec2 = identity.Principal{IdentityID: "sec-2", Role: identity.RoleSecretary, Town: svcTown, Village: svcVillage2}
)

// tourOf plans a tour of svcVillage and svcVillage2.
func tourOf(t *testing.T, s *Service) *Tour {
	t.Helper()
	tour, err := s.PlanTour(context.Background(), testDisc, TourInput{Name: "2026年第一轮村级巡察", Period: "2026Q2",
		Team: []TeamMember{{Name: "王巡察", Role: "组长"}, {Name: "李组员", Role: "组员"}}, Villages: []string{svcVillage, svcVillage2}})
	if err != nil {
		t.Fatal(err)
	}
	return tour
}

func rating(t *testing.T, s *Service, village string) Rating {
	t.Helper()
	r, err := s.RatingOf(context.Background(), village, Period{Year: 2026})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A finding moves the village's grade, and the recorded change is
// explained by it; the finding is announced.
func TestFindingChangesGradeExplained(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	tour := tourOf(t, s)

	f, applied, err := s.RaiseFinding(ctx, testDisc, tour.ID, FindingInput{Village: svcVillage, Category: "“三资”管理",
		Description: "村集体资产出租未经村民代表会议决策", Severity: SeveritySerious,
		Tasks: []TaskInput{{Owner: "村股份经济合作社", Action: "补办决策程序并公示", Deadline: "2026-05-10"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tasks) != 1 || f.Tasks[0].Status != TaskOpen || !f.Tasks[0].Deadline.Equal(time.Date(2026, 5, 11, 0, 0, 0, 0, Shanghai)) {
		t.Fatalf("finding %+v", f)
	}
	// 100 − 15 = 85: from A to B, because of the finding.
	ch := applied.Change
	if applied.Rating.Points != 85 || ch == nil || ch.From != GradeA || ch.To != GradeB || len(ch.Because) != 1 ||
		ch.Because[0].Fact.ID != "finding:"+f.ID || ch.Because[0].Points != -15 || ch.Because[0].Label != "巡察发现问题（严重）" {
		t.Fatalf("applied %+v change %+v", applied.Rating, ch)
	}
	views, err := s.gradeChanges(ctx, svcVillage, 10)
	if err != nil || len(views) != 1 || views[0].Because[0].Fact.Kind != FactFinding || views[0].Because[0].Fact.Ref != f.ID {
		t.Fatalf("stored grade changes %+v (%v)", views, err)
	}
	types, data := outbox(t, s.Pool)
	if !slices.Equal(types, []string{eventsv1.TypeRatingChanged, eventsv1.TypeFindingRaised}) {
		t.Fatalf("outbox %v", types)
	}
	var fr eventsv1.FindingRaised
	if err := json.Unmarshal(data[1], &fr); err != nil || fr.FindingID != f.ID || fr.Severity != SeveritySerious || fr.Tasks != 1 || fr.Village != svcVillage {
		t.Fatalf("finding.raised %+v (%v)", fr, err)
	}

	// Bad input: every field problem at once, nothing stored.
	_, _, err = s.RaiseFinding(ctx, testDisc, tour.ID, FindingInput{Village: "330283999999", Severity: "grave",
		Tasks: []TaskInput{{Deadline: "2026-04-01"}}})
	var p *httpapi.Problem
	if !errors.As(err, &p) || p.Status != 422 {
		t.Fatalf("bad finding: %v", err)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM findings`); n != 1 {
		t.Fatalf("%d findings stored, want 1", n)
	}
	if _, _, err := s.RaiseFinding(ctx, testDisc, uuid.NewString(), FindingInput{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("finding of an unknown tour: %v", err)
	}
}

// A task left open past its deadline is marked overdue once, counts −5 and
// is announced; a task submitted in time and accepted earns +2; a return
// needs a reason; officials of another village cannot touch the task.
func TestRectificationLifecycleAndOverdue(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	tour := tourOf(t, s)
	f, _, err := s.RaiseFinding(ctx, testDisc, tour.ID, FindingInput{Village: svcVillage, Category: "工程项目",
		Description: "小额工程未公开比选", Severity: SeverityMinor,
		Tasks: []TaskInput{{Owner: "村委会", Action: "补充比选材料", Deadline: "2026-04-20"}, {Owner: "村监委会", Action: "开展监督检查", Deadline: "2026-04-30"}}})
	if err != nil {
		t.Fatal(err)
	}
	late, timely := f.Tasks[0], f.Tasks[1]
	if r := rating(t, s, svcVillage); r.Points != 97 {
		t.Fatalf("after a minor finding %d points, want 97", r.Points)
	}

	// The other village's secretary cannot see or submit the task.
	if _, err := s.ActOnTask(ctx, testSec2, late.ID, "submit", TaskAction{Evidence: []RectificationEvidence{{Text: "x"}}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other village's submission: %v", err)
	}
	// Evidence is required, links must be http(s).
	_, err = s.ActOnTask(ctx, testSec, timely.ID, "submit", TaskAction{Evidence: []RectificationEvidence{{URL: "javascript:alert(1)"}}})
	var p *httpapi.Problem
	if !errors.As(err, &p) || p.Status != 422 {
		t.Fatalf("bad evidence: %v", err)
	}
	// The village submits the second task in time; the office returns it
	// (a reason is required), the village resubmits, the office accepts.
	ev := []RectificationEvidence{{Text: "已召开村监委会专题会议"}, {URL: "https://files.example.cn/xikou/1.pdf"}}
	if _, err := s.ActOnTask(ctx, testSec, timely.ID, "submit", TaskAction{Evidence: ev}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ActOnTask(ctx, testSec, timely.ID, "accept", TaskAction{}); !errors.As(err, &p) || p.Status != 403 {
		t.Fatalf("a village official accepted: %v", err)
	}
	if _, err := s.ActOnTask(ctx, testDisc, timely.ID, "return", TaskAction{}); !errors.As(err, &p) || p.Status != 422 {
		t.Fatalf("return without reason: %v", err)
	}
	if _, err := s.ActOnTask(ctx, testDisc, timely.ID, "return", TaskAction{Note: "会议记录缺签名"}); err != nil {
		t.Fatal(err)
	}
	clk.Set(time.Date(2026, 4, 25, 9, 0, 0, 0, Shanghai))
	if _, err := s.ActOnTask(ctx, testSec, timely.ID, "submit", TaskAction{Evidence: []RectificationEvidence{{Text: "补签"}}}); err != nil {
		t.Fatal(err)
	}

	// 21 April: the first task is overdue. The loop marks it once.
	for i, want := range []int{1, 0} {
		n, err := s.EscalateRectifications(ctx, 10)
		if err != nil || n != want {
			t.Fatalf("escalation run %d: %d (%v), want %d", i, n, err, want)
		}
	}
	if r := rating(t, s, svcVillage); r.Points != 92 {
		t.Fatalf("after the overdue %d points, want 92", r.Points)
	}
	tasks, err := s.queryTasks(ctx, s.Pool, "k.id = $2", late.ID)
	if err != nil || tasks[0].OverdueAt == nil || tasks[0].History[len(tasks[0].History)-1].Action != "overdue" {
		t.Fatalf("overdue task %+v (%v)", tasks, err)
	}
	types, data := outbox(t, s.Pool)
	i := slices.Index(types, eventsv1.TypeRectificationOverdue)
	var ro eventsv1.RectificationOverdue
	if i < 0 || json.Unmarshal(data[i], &ro) != nil || ro.TaskID != late.ID || ro.FindingID != f.ID || !ro.Deadline.Equal(late.Deadline) {
		t.Fatalf("outbox %v, overdue event %+v", types, ro)
	}
	// A pending submission is not overdue even past its deadline... (the
	// second task's deadline, 30 April, is still ahead anyway.)

	// Accepting the timely task earns the on-time bonus: 92 + 2.
	if _, err := s.ActOnTask(ctx, testDisc, timely.ID, "accept", TaskAction{Note: "整改到位"}); err != nil {
		t.Fatal(err)
	}
	if r := rating(t, s, svcVillage); r.Points != 94 {
		t.Fatalf("after the on-time acceptance %d points, want 94", r.Points)
	}
	if _, err := s.ActOnTask(ctx, testDisc, timely.ID, "accept", TaskAction{}); !errors.As(err, &p) || p.Status != 409 {
		t.Fatalf("accepting twice: %v", err)
	}
	// The overdue task, submitted and accepted late, earns nothing.
	if _, err := s.ActOnTask(ctx, testSec, late.ID, "submit", TaskAction{Evidence: ev}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ActOnTask(ctx, testDisc, late.ID, "accept", TaskAction{}); err != nil {
		t.Fatal(err)
	}
	if r := rating(t, s, svcVillage); r.Points != 94 {
		t.Fatalf("after a late acceptance %d points, want 94", r.Points)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM facts WHERE kind = 'rectification'`); n != 2 {
		t.Fatalf("%d rectification facts, want 2", n)
	}
}

func TestComplaintOutcome(t *testing.T) {
	cases := []struct{ summary, want string }{
		{"经调查核实，反映问题属实，已责令整改", ComplaintSubstantiated},
		{"经查，反映问题基本属实", ComplaintSubstantiated},
		{"经查，反映问题部分属实", ComplaintPartly},
		{"经查，反映问题不属实", ComplaintUnsubstantiated},
		{"经核查，查无实据", ComplaintUnsubstantiated},
		{"经查反映失实", ComplaintUnsubstantiated},
		{"已向举报人解释政策", ComplaintResolved},
		{"", ComplaintResolved},
	}
	for _, tc := range cases {
		if got := ComplaintOutcome(tc.summary); got != tc.want {
			t.Errorf("ComplaintOutcome(%q) = %q, want %q", tc.summary, got, tc.want)
		}
	}
}

func handleComplaint(s *Service, ev eventsv1.Event) error {
	return store.InTx(context.Background(), s.Pool, func(tx pgx.Tx) error { return s.HandleComplaintEvent(context.Background(), tx, ev) })
}

func complaintEvent(t *testing.T, typ, complaintID, village, reason string, at time.Time) eventsv1.Event {
	t.Helper()
	data, err := json.Marshal(eventsv1.ComplaintDecided{ComplaintRef: eventsv1.ComplaintRef{ComplaintID: complaintID,
		Category: "funds"}, ActorID: "liaison-1", ActorRole: "liaison-officer", Reason: reason, At: at})
	if err != nil {
		t.Fatal(err)
	}
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + svcTown + "/complaint", Type: typ, Time: at.UTC(),
		Town: svcTown, Village: village, Data: data}
}

// Accepted and resolved complaints become facts, once each, however many
// times the events are delivered.
func TestComplaintFactsIdempotent(t *testing.T) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	id := uuid.NewString()
	accepted := complaintEvent(t, eventsv1.TypeComplaintAccepted, id, svcVillage, "", day)
	resolved := complaintEvent(t, eventsv1.TypeComplaintResolved, id, svcVillage, "经查，反映问题属实", day.AddDate(0, 0, 20))
	// The same decision published again (another event id) counts once too.
	again := complaintEvent(t, eventsv1.TypeComplaintResolved, id, svcVillage, "经查，反映问题属实", day.AddDate(0, 0, 20))
	filed := complaintEvent(t, eventsv1.TypeComplaintFiled, id, svcVillage, "", day)
	for _, ev := range []eventsv1.Event{filed, accepted, accepted, resolved, resolved, again} {
		if err := handleComplaint(s, ev); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM facts WHERE kind = 'complaint'`); n != 2 {
		t.Fatalf("%d complaint facts, want 2 (accepted, resolved)", n)
	}
	r := rating(t, s, svcVillage)
	if r.Points != 95 || len(r.Contributions) != 2 {
		t.Fatalf("rating %+v, want 95 from 2 facts", r)
	}
	for _, c := range r.Contributions {
		if c.Unrated || (c.Fact.Subkind == ComplaintAccepted) != (c.Points == 0) {
			t.Fatalf("contribution %+v", c)
		}
	}
	// An unsubstantiated complaint of the other village costs nothing.
	other := uuid.NewString()
	if err := handleComplaint(s, complaintEvent(t, eventsv1.TypeComplaintResolved, other, svcVillage2, "经查，反映问题不属实", day)); err != nil {
		t.Fatal(err)
	}
	if r := rating(t, s, svcVillage2); r.Points != 100 || r.Contributions[0].Fact.Subkind != ComplaintUnsubstantiated {
		t.Fatalf("unsubstantiated: %+v", r)
	}
	// A decision without a village is refused for good (dead-lettered).
	err := handleComplaint(s, complaintEvent(t, eventsv1.TypeComplaintAccepted, uuid.NewString(), "", "", day))
	if err == nil {
		t.Fatal("a complaint without a village was applied")
	}
}
