// The complaint's lifecycle (drawn in doc.go). This file is pure: no I/O,
// no clock. The service loads a complaint, applies an action with Apply and
// stores the result in one transaction.

package complaint

import (
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// Actions applied to a complaint.
const (
	ActionAccept              = "accept"
	ActionReject              = "reject"
	ActionInvestigate         = "investigate"
	ActionResolve             = "resolve"
	ActionFeedbackSatisfied   = "feedback-satisfied"
	ActionFeedbackUnsatisfied = "feedback-unsatisfied"
)

// Deadlines per stage, in calendar days.
const (
	AcceptWithin      = 3 * 24 * time.Hour
	InvestigateWithin = 30 * 24 * time.Hour
	FeedbackWithin    = 15 * 24 * time.Hour
)

// Action is a request to move a complaint on.
type Action struct {
	Type string `json:"type"`
	// Reason of a rejection, summary of a resolution, comment of feedback.
	Reason string `json:"reason,omitempty"`
	// Outcome of a resolution (required then, refused with other actions).
	Outcome Outcome `json:"outcome,omitempty"`
}

// staffMayAct: the town's discipline office and the village's liaison officer.
func staffMayAct(a Actor, c *Complaint) bool {
	switch a.Role {
	case RoleTownDiscipline:
		return a.Town == c.Town
	case RoleLiaisonOfficer:
		return a.Town == c.Town && a.Village == c.Village
	}
	return false
}

// Apply applies act by actor at now, or refuses it leaving c unchanged.
// Feedback is the reporter's (role RoleReporter) and is checked against the
// secret by the caller.
func Apply(c *Complaint, act Action, actor Actor, now time.Time) (Transition, error) {
	reason := strings.TrimSpace(act.Reason)
	from := c.Status
	var to Status
	var due *time.Time
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	feedback := act.Type == ActionFeedbackSatisfied || act.Type == ActionFeedbackUnsatisfied
	if feedback {
		if actor.Role != RoleReporter {
			return Transition{}, domainerr.Refuse(403, "forbidden", "Not allowed", "only the reporter gives feedback")
		}
	} else if !staffMayAct(actor, c) {
		return Transition{}, domainerr.Refuse(403, "forbidden", "Not allowed", "only the village's liaison officer and the town's discipline office handle complaints")
	}
	if act.Outcome != "" && act.Type != ActionResolve {
		return Transition{}, domainerr.Refuse(400, "outcome-unexpected", "Outcome not expected", "only a resolution has an outcome, not %s", act.Type)
	}
	wrong := func() (Transition, error) {
		return Transition{}, domainerr.Refuse(409, "wrong-status", "Not possible now", "cannot %s a complaint that is %s", act.Type, from)
	}
	switch act.Type {
	case ActionAccept:
		if from != StatusReceived {
			return wrong()
		}
		to, due = StatusAccepted, at(InvestigateWithin)
	case ActionReject:
		if from != StatusReceived {
			return wrong()
		}
		if reason == "" {
			return Transition{}, domainerr.Refuse(400, "reason-required", "Reason required", "a rejection needs a reason")
		}
		to = StatusRejected
	case ActionInvestigate:
		if from != StatusAccepted {
			return wrong()
		}
		to, due = StatusInvestigating, c.DueAt
	case ActionResolve:
		if from != StatusInvestigating {
			return wrong()
		}
		if reason == "" {
			return Transition{}, domainerr.Refuse(400, "summary-required", "Summary required", "a resolution needs a summary")
		}
		if act.Outcome == "" {
			return Transition{}, domainerr.Refuse(400, "outcome-required", "Outcome required", "a resolution needs an outcome, one of %s", outcomeList())
		}
		if !act.Outcome.Valid() {
			return Transition{}, domainerr.Refuse(400, "outcome-invalid", "Unknown outcome", "outcome %q is not one of %s", act.Outcome, outcomeList())
		}
		to, due = StatusResolved, at(FeedbackWithin)
	case ActionFeedbackSatisfied, ActionFeedbackUnsatisfied:
		if from != StatusResolved {
			return wrong()
		}
		if c.DueAt != nil && now.After(*c.DueAt) {
			return Transition{}, domainerr.Refuse(409, "feedback-closed", "Feedback window closed", "feedback was due by %s", c.DueAt.In(tz.Shanghai).Format("2006-01-02"))
		}
		to = StatusClosed
		if act.Type == ActionFeedbackUnsatisfied && c.Reopened == 0 {
			to, due = StatusInvestigating, at(InvestigateWithin)
		}
	default:
		return Transition{}, domainerr.Refuse(400, "unknown-action", "Unknown action", "action %q is not one of accept, reject, investigate, resolve, feedback-satisfied, feedback-unsatisfied", act.Type)
	}
	actorID := actor.ID
	if actor.Role == RoleReporter {
		actorID = RoleReporter // the reporter's identity stays out of the history
	}
	tr := Transition{At: now, ActorID: actorID, Role: actor.Role, Action: act.Type, From: from, To: to, Reason: reason}
	switch act.Type {
	case ActionReject:
		c.Reason = reason
	case ActionResolve:
		c.Summary, c.Outcome = reason, act.Outcome
		tr.Outcome = act.Outcome
	case ActionFeedbackSatisfied, ActionFeedbackUnsatisfied:
		s := act.Type == ActionFeedbackSatisfied
		c.Satisfied = &s
		if to == StatusInvestigating {
			c.Reopened++
			c.Summary, c.Outcome = "", ""
		}
	}
	c.Status, c.DueAt, c.UpdatedAt = to, due, now
	c.History = append(c.History, tr)
	return tr, nil
}

func outcomeList() string {
	s := make([]string, len(Outcomes))
	for i, o := range Outcomes {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}

// Overdue reports the stage whose deadline has passed at now and that has
// not been escalated yet in this round (reopening starts a new round).
// Resolved complaints are not overdue: a reporter who gives no feedback in
// time simply closes the matter.
func Overdue(c *Complaint, now time.Time) (Escalation, bool) {
	switch c.Status {
	case StatusReceived, StatusAccepted, StatusInvestigating:
	default:
		return Escalation{}, false
	}
	if c.DueAt == nil || !now.After(*c.DueAt) {
		return Escalation{}, false
	}
	e := Escalation{Stage: c.Status, Round: c.Reopened, DueAt: *c.DueAt, At: now}
	for _, done := range c.Escalated {
		if done.Stage == e.Stage && done.Round == e.Round && done.DueAt.Equal(e.DueAt) {
			return Escalation{}, false
		}
	}
	return e, true
}
