package complaint

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	testTown    = "xikou"
	testVillage = "330213100201"
	otherVill   = "330213100202"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, Shanghai)

func wantRefusal(t *testing.T, err error, status int) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status != status {
		t.Fatalf("got %v, want a %d refusal", err, status)
	}
}

func sample(cat Category) *Complaint {
	c, err := New(testTown, Intake{Village: testVillage, Category: cat, Description: "村里修路的钱去向不明"},
		&Reporter{ID: "villager-1", Name: "张三"}, t0)
	if err != nil {
		panic(err)
	}
	c.ID, c.TrackingCode = "c1", NewTrackingCode(testVillage)
	return c
}

var (
	liaison    = Actor{ID: "lo", Role: RoleLiaisonOfficer, Town: testTown, Village: testVillage}
	discipline = Actor{ID: "td", Role: RoleTownDiscipline, Town: testTown}
	reporter   = Actor{Role: RoleReporter}
	secretary  = Actor{ID: "sec", Role: RoleSecretary, Town: testTown, Village: testVillage}
)

func TestApplyTransitions(t *testing.T) {
	all := []Status{StatusReceived, StatusAccepted, StatusRejected, StatusInvestigating, StatusResolved, StatusClosed}
	allowed := map[string]map[Status]Status{
		ActionAccept:              {StatusReceived: StatusAccepted},
		ActionReject:              {StatusReceived: StatusRejected},
		ActionInvestigate:         {StatusAccepted: StatusInvestigating},
		ActionResolve:             {StatusInvestigating: StatusResolved},
		ActionFeedbackSatisfied:   {StatusResolved: StatusClosed},
		ActionFeedbackUnsatisfied: {StatusResolved: StatusInvestigating},
	}
	for action, edges := range allowed {
		actor := discipline
		if strings.HasPrefix(action, "feedback") {
			actor = reporter
		}
		for _, from := range all {
			t.Run(action+"/"+string(from), func(t *testing.T) {
				c := sample(CategoryFunds)
				c.Status = from
				due := t0.Add(time.Hour)
				c.DueAt = &due
				act := Action{Type: action, Reason: "理由"}
				if action == ActionResolve {
					act.Outcome = OutcomeUnsubstantiated
				}
				tr, err := Apply(c, act, actor, t0)
				to, ok := edges[from]
				if !ok {
					wantRefusal(t, err, 409)
					if c.Status != from || len(c.History) != 0 {
						t.Fatalf("a refused action changed the complaint: %+v", c)
					}
					return
				}
				if err != nil || c.Status != to || tr.From != from || tr.To != to {
					t.Fatalf("%s from %s: %v, now %s", action, from, err, c.Status)
				}
			})
		}
	}
}

func TestApplyRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status Status
		act    Action
		actor  Actor
		want   int
	}{
		{"reject without reason", StatusReceived, Action{Type: ActionReject, Reason: "  "}, discipline, 400},
		{"resolve without summary", StatusInvestigating, Action{Type: ActionResolve, Outcome: OutcomeSubstantiated}, discipline, 400},
		{"resolve without outcome", StatusInvestigating, Action{Type: ActionResolve, Reason: "经查属实"}, discipline, 400},
		{"resolve with unknown outcome", StatusInvestigating, Action{Type: ActionResolve, Reason: "经查属实", Outcome: "true"}, discipline, 400},
		{"outcome with accept", StatusReceived, Action{Type: ActionAccept, Outcome: OutcomeSubstantiated}, discipline, 400},
		{"liaison of another village resolves", StatusInvestigating, Action{Type: ActionResolve, Reason: "经查属实", Outcome: OutcomeSubstantiated},
			Actor{ID: "x", Role: RoleLiaisonOfficer, Town: testTown, Village: otherVill}, 403},
		{"secretary accepts", StatusReceived, Action{Type: ActionAccept}, secretary, 403},
		{"other village's liaison", StatusReceived, Action{Type: ActionAccept}, Actor{ID: "x", Role: RoleLiaisonOfficer, Town: testTown, Village: otherVill}, 403},
		{"other town's discipline", StatusReceived, Action{Type: ActionAccept}, Actor{ID: "x", Role: RoleTownDiscipline, Town: "jinping"}, 403},
		{"staff gives feedback", StatusResolved, Action{Type: ActionFeedbackSatisfied}, discipline, 403},
		{"reporter accepts", StatusReceived, Action{Type: ActionAccept}, reporter, 403},
		{"unknown action", StatusReceived, Action{Type: "close"}, discipline, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sample(CategoryFunds)
			c.Status = tc.status
			_, err := Apply(c, tc.act, tc.actor, t0)
			wantRefusal(t, err, tc.want)
			if c.Status != tc.status {
				t.Fatal("status changed")
			}
		})
	}
}

// A resolution's outcome is required and named by the refusal; the
// refusal leaves the complaint as it was.
func TestResolveOutcomeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, outcome, typ string
	}{
		{"missing", "", "outcome-required"},
		{"unknown", "属实", "outcome-invalid"},
		{"wrong case", "Substantiated", "outcome-invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sample(CategoryFunds)
			c.Status = StatusInvestigating
			_, err := Apply(c, Action{Type: ActionResolve, Reason: "经查", Outcome: Outcome(tc.outcome)}, discipline, t0)
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 || e.Type != tc.typ {
				t.Fatalf("got %v, want a 400 %s", err, tc.typ)
			}
			for _, o := range Outcomes {
				if !strings.Contains(e.Detail, string(o)) {
					t.Errorf("detail %q does not name %s", e.Detail, o)
				}
			}
			if c.Status != StatusInvestigating || c.Outcome != "" || c.Summary != "" || len(c.History) != 0 {
				t.Fatalf("refusal changed the complaint: %+v", c)
			}
		})
	}
}

func TestLifecycleReopensOnceAndDeadlines(t *testing.T) {
	c := sample(CategoryProject)
	if c.DueAt == nil || !c.DueAt.Equal(t0.Add(AcceptWithin)) {
		t.Fatalf("accept deadline %v", c.DueAt)
	}
	now := t0
	step := func(a Actor, act Action) {
		t.Helper()
		now = now.Add(24 * time.Hour)
		if _, err := Apply(c, act, a, now); err != nil {
			t.Fatalf("%s: %v", act.Type, err)
		}
	}
	step(liaison, Action{Type: ActionAccept})
	if !c.DueAt.Equal(now.Add(InvestigateWithin)) {
		t.Fatalf("investigation deadline %v", c.DueAt)
	}
	step(liaison, Action{Type: ActionInvestigate})
	step(discipline, Action{Type: ActionResolve, Reason: "已核实并整改", Outcome: OutcomePartly})
	if !c.DueAt.Equal(now.Add(FeedbackWithin)) {
		t.Fatalf("feedback deadline %v", c.DueAt)
	}
	if last := c.History[len(c.History)-1]; c.Outcome != OutcomePartly || last.Outcome != OutcomePartly {
		t.Fatalf("outcome %q, transition's %q, want %q", c.Outcome, last.Outcome, OutcomePartly)
	}
	step(reporter, Action{Type: ActionFeedbackUnsatisfied})
	if c.Status != StatusInvestigating || c.Reopened != 1 {
		t.Fatalf("not reopened: %s %d", c.Status, c.Reopened)
	}
	if c.Outcome != "" || c.Summary != "" {
		t.Fatalf("a reopened complaint keeps the outcome %q of its first resolution", c.Outcome)
	}
	step(discipline, Action{Type: ActionResolve, Reason: "再次核查", Outcome: OutcomeSubstantiated})
	step(reporter, Action{Type: ActionFeedbackUnsatisfied})
	if c.Status != StatusClosed || c.Reopened != 1 || c.Satisfied == nil || *c.Satisfied {
		t.Fatalf("second dissatisfaction must close, not reopen: %s %d", c.Status, c.Reopened)
	}
	for _, h := range c.History {
		if h.Role == RoleReporter && h.ActorID != RoleReporter {
			t.Fatal("the reporter's id is in the history")
		}
	}
	// Feedback after the window is refused.
	late := sample(CategoryProject)
	late.Status = StatusResolved
	due := t0.Add(FeedbackWithin)
	late.DueAt = &due
	_, err := Apply(late, Action{Type: ActionFeedbackSatisfied}, reporter, due.Add(time.Minute))
	wantRefusal(t, err, 409)
}

func TestOverdue(t *testing.T) {
	c := sample(CategoryFunds)
	if _, ok := Overdue(c, t0.Add(AcceptWithin)); ok {
		t.Fatal("overdue at the deadline")
	}
	e, ok := Overdue(c, t0.Add(AcceptWithin+time.Minute))
	if !ok || e.Stage != StatusReceived {
		t.Fatalf("not overdue after the deadline: %+v", e)
	}
	c.Escalated = append(c.Escalated, e)
	if _, ok := Overdue(c, t0.Add(10*AcceptWithin)); ok {
		t.Fatal("escalated twice")
	}
	c.Status = StatusResolved
	if _, ok := Overdue(c, t0.Add(100*24*time.Hour)); ok {
		t.Fatal("a resolved complaint awaiting feedback is not overdue")
	}
}

func TestViewFor(t *testing.T) {
	cadre := sample(CategoryCadreConduct)
	funds := sample(CategoryFunds)
	for _, tc := range []struct {
		viewer                    Actor
		seesCadre, seesFunds, who bool
	}{
		{discipline, true, true, true},
		{Actor{ID: "dd", Role: RoleDistrictDiscipline}, true, true, true},
		{Actor{ID: "x", Role: RoleTownDiscipline, Town: "jinping"}, false, false, false},
		{liaison, true, true, false},
		{Actor{ID: "x", Role: RoleLiaisonOfficer, Town: testTown, Village: otherVill}, false, false, false},
		{Actor{ID: "to", Role: RoleTownOfficial, Town: testTown}, true, true, false},
		{Actor{ID: "da", Role: RoleDistrictAdmin}, true, true, false},
		{Actor{ID: "it", Role: "town-it", Town: testTown}, false, false, false},
		{Actor{ID: "v", Role: "villager", Town: testTown, Village: testVillage}, false, false, false},
		{Actor{ID: "s2", Role: RoleSecretary, Town: testTown, Village: otherVill}, false, false, false},
	} {
		check := func(c *Complaint, want bool) {
			v, ok := ViewFor(tc.viewer, c)
			if ok != want {
				t.Errorf("%s sees %s: %v, want %v", tc.viewer.Role, c.Category, ok, want)
				return
			}
			if ok && (v.Reporter != nil) != tc.who {
				t.Errorf("%s sees the reporter: %v, want %v", tc.viewer.Role, v.Reporter != nil, tc.who)
			}
			if ok && v.SecretHash != "" {
				t.Errorf("%s sees the secret hash", tc.viewer.Role)
			}
		}
		check(cadre, tc.seesCadre)
		check(funds, tc.seesFunds)
	}
	for _, role := range []string{RoleSecretary, RoleDirector, RoleCommitteeMember, RoleAccountant, RoleCashier, RoleSupervisionChair} {
		official := Actor{ID: role, Role: role, Town: testTown, Village: testVillage}
		if _, ok := ViewFor(official, cadre); ok {
			t.Errorf("%s of the village sees a cadre-conduct complaint", role)
		}
		v, ok := ViewFor(official, funds)
		if !ok || v.Reporter != nil {
			t.Errorf("%s: funds complaint visible %v, reporter %v", role, ok, v != nil && v.Reporter != nil)
		}
	}
	// A view is a copy: redacting it leaves the complaint intact.
	if funds.Reporter == nil {
		t.Fatal("ViewFor changed the complaint")
	}
}

func TestPublicView(t *testing.T) {
	c := sample(CategoryCadreConduct)
	c.Notes = []StatusNote{{At: t0, Role: RoleTownDiscipline, Body: "已受理", Public: true}, {At: t0, Role: RoleTownDiscipline, Body: "内部：涉及村书记", Public: false}}
	p := PublicViewOf(c)
	if len(p.Notes) != 1 || p.Notes[0].Body != "已受理" || p.Notes[0].Role != "" {
		t.Fatalf("public notes %+v", p.Notes)
	}
	if p.CategoryLabel != "干部作风" || p.Village != testVillage || p.Status != StatusReceived {
		t.Fatalf("public view %+v", p)
	}
}

func TestTrackingCodeAndSecret(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		code := NewTrackingCode(testVillage)
		if !ValidTrackingCode(code) || seen[code] {
			t.Fatalf("bad or repeated code %q", code)
		}
		seen[code] = true
	}
	secret, hash := NewSecret()
	if strings.Contains(hash, secret) || len(hash) != 64 {
		t.Fatalf("hash %q", hash)
	}
	if !CheckSecret(hash, secret) || !CheckSecret(hash, " "+strings.ToLower(secret)+" ") {
		t.Fatal("the right secret is refused")
	}
	if CheckSecret(hash, secret+"X") || CheckSecret("", "") {
		t.Fatal("a wrong secret is accepted")
	}
}

func TestIntakeValidation(t *testing.T) {
	good := Attachment{Name: "a.jpg", ContentType: "image/jpeg", Size: 1000, SHA256: strings.Repeat("ab", 32), URL: "https://f/a.jpg"}
	for _, tc := range []struct {
		name string
		in   Intake
		ok   bool
	}{
		{"ok", Intake{Village: testVillage, Category: CategorySubsidy, Description: "今年的补贴没有发到每一户", Attachments: []Attachment{good}}, true},
		{"bad village", Intake{Village: "123", Category: CategorySubsidy, Description: "今年的补贴没有发到每一户"}, false},
		{"bad category", Intake{Village: testVillage, Category: "other", Description: "今年的补贴没有发到每一户"}, false},
		{"short", Intake{Village: testVillage, Category: CategorySubsidy, Description: "短"}, false},
		{"too big", Intake{Village: testVillage, Category: CategorySubsidy, Description: "今年的补贴没有发到每一户", Attachments: []Attachment{{Name: "v.jpg", ContentType: "image/jpeg", Size: MaxAttachmentSize + 1, SHA256: good.SHA256, URL: good.URL}}}, false},
		{"bad type", Intake{Village: testVillage, Category: CategorySubsidy, Description: "今年的补贴没有发到每一户", Attachments: []Attachment{{Name: "x.exe", ContentType: "application/x-msdownload", Size: 10, SHA256: good.SHA256, URL: good.URL}}}, false},
		{"too many", Intake{Village: testVillage, Category: CategorySubsidy, Description: "今年的补贴没有发到每一户", Attachments: []Attachment{good, good, good, good, good, good}}, false},
	} {
		err := tc.in.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestSampleYearsStats(t *testing.T) {
	cs := SampleYears()
	s := Stats(cs)
	if s.ByYear[2017] != 259 || s.ByYear[2018] != 165 || s.ByYear[2019] != 153 || s.Total != 577 {
		t.Fatalf("by year %v", s.ByYear)
	}
	if len(s.ByVillage) != len(SampleVillages) || len(s.ByCategory) != len(Categories) || s.ByTown[SampleTown] != 577 {
		t.Fatalf("spread: villages %v categories %v", s.ByVillage, s.ByCategory)
	}
	for _, c := range cs {
		if !c.Illustrative {
			t.Fatal("sample not marked illustrative")
		}
	}
	again := Stats(SampleYears())
	if again.ByVillage[SampleVillages[3]] != s.ByVillage[SampleVillages[3]] || SampleYears()[100].FiledAt != cs[100].FiledAt {
		t.Fatal("SampleYears is not deterministic")
	}
}

func TestRecurring(t *testing.T) {
	mk := func(v string, cat Category, day int) *Complaint {
		return &Complaint{Town: testTown, Village: v, Category: cat, FiledAt: t0.Add(time.Duration(day) * 24 * time.Hour)}
	}
	cs := []*Complaint{
		mk(testVillage, CategorySubsidy, 0), mk(testVillage, CategorySubsidy, 10), mk(testVillage, CategorySubsidy, 25),
		mk(testVillage, CategorySubsidy, 200),
		mk(testVillage, CategoryFunds, 0), mk(testVillage, CategoryFunds, 100), mk(testVillage, CategoryFunds, 200),
		mk(otherVill, CategorySubsidy, 1), mk(otherVill, CategorySubsidy, 2),
	}
	got := Recurring(cs, 30*24*time.Hour, 3)
	if len(got) != 1 || got[0].Village != testVillage || got[0].Category != CategorySubsidy || got[0].Count != 3 {
		t.Fatalf("recurring %+v", got)
	}
	if got := Recurring(cs, 30*24*time.Hour, 2); len(got) != 2 {
		t.Fatalf("threshold 2: %+v", got)
	}
}
