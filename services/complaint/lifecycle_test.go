package complaint

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
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
			var e *domainerr.Error
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
