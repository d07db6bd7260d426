package inspection

// Findings (巡察发现问题) raised on a village during a tour, and their
// rectification tasks (整改任务): open → submitted → accepted, or returned
// and submitted again. A finding counts in the village's rating (kind
// finding, by severity); a task left past its deadline without a pending or
// accepted submission is marked overdue once by the escalation loop and
// counts too (rectification/overdue), and a task accepted on a submission
// made in time earns the on-time bonus (rectification/on-time).

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// RectificationTask statuses.
const (
	TaskOpen      = "open"
	TaskSubmitted = "submitted"
	TaskAccepted  = "accepted"
	TaskReturned  = "returned"
)

// RectificationEvidence is evidence of a rectification: a text or a link (to a photo, a document in
// the town's file store).
type RectificationEvidence struct {
	Text string `json:"text,omitempty"`
	URL  string `json:"url,omitempty"`
}

// TaskEvent is one step in a task's history.
type TaskEvent struct {
	At     time.Time `json:"at"`
	Action string    `json:"action"` // submit, accept, return, overdue
	By     string    `json:"by,omitempty"`
	Role   string    `json:"role,omitempty"`
	Note   string    `json:"note,omitempty"`
}

// RectificationTask is a rectification task of a finding.
type RectificationTask struct {
	ID          string                  `json:"id"`
	FindingID   string                  `json:"findingId"`
	Village     string                  `json:"village"`
	Seq         int                     `json:"seq"`
	Owner       string                  `json:"owner"`
	Action      string                  `json:"action"`
	Deadline    time.Time               `json:"deadline"`
	Status      string                  `json:"status"`
	Evidence    []RectificationEvidence `json:"evidence"`
	History     []TaskEvent             `json:"history"`
	SubmittedAt *time.Time              `json:"submittedAt,omitempty"`
	AcceptedAt  *time.Time              `json:"acceptedAt,omitempty"`
	OverdueAt   *time.Time              `json:"overdueAt,omitempty"`
	// Finding's category, severity and description: what to rectify.
	FindingCategory    string `json:"findingCategory"`
	FindingSeverity    string `json:"findingSeverity"`
	FindingDescription string `json:"findingDescription"`
	version            int
}

// Finding is a problem a tour found in a village.
type Finding struct {
	ID          string `json:"id"`
	TourID      string `json:"tourId"`
	Village     string `json:"village"`
	Category    string `json:"category"`
	Description string `json:"description"`
	Severity    string `json:"severity"`
	RaisedBy    string `json:"raisedBy"`
	// RaisedByRole: town-discipline or district-discipline.
	RaisedByRole string              `json:"raisedByRole"`
	RaisedAt     time.Time           `json:"raisedAt"`
	Tasks        []RectificationTask `json:"tasks"`
}

// TaskInput sets a rectification task.
type TaskInput struct {
	Owner    string `json:"owner"`
	Action   string `json:"action"`
	Deadline string `json:"deadline"` // last day, 2026-05-31
}

// FindingInput raises a finding.
type FindingInput struct {
	Village     string      `json:"village"`
	Category    string      `json:"category"`
	Description string      `json:"description"`
	Severity    string      `json:"severity"`
	Tasks       []TaskInput `json:"tasks"`
}

func validSeverity(s string) bool {
	return s == SeverityMinor || s == SeverityMajor || s == SeveritySerious
}

// validate checks the input against now; it returns the deadlines.
func (in FindingInput) validate(now time.Time) ([]time.Time, []httpapi.FieldError) {
	var errs []httpapi.FieldError
	if !identity.ValidVillage(in.Village) {
		errs = append(errs, httpapi.FieldError{Field: "village", Detail: "is not a 12-digit village code"})
	}
	if c := strings.TrimSpace(in.Category); c == "" || len([]rune(c)) > 50 {
		errs = append(errs, httpapi.FieldError{Field: "category", Detail: "is required, at most 50 characters"})
	}
	if strings.TrimSpace(in.Description) == "" {
		errs = append(errs, httpapi.FieldError{Field: "description", Detail: "is required"})
	}
	if !validSeverity(in.Severity) {
		errs = append(errs, httpapi.FieldError{Field: "severity", Detail: fmt.Sprintf("must be minor, major or serious, got %q", in.Severity)})
	}
	if len(in.Tasks) == 0 {
		errs = append(errs, httpapi.FieldError{Field: "tasks", Detail: "a finding needs at least one rectification task"})
	}
	deadlines := make([]time.Time, len(in.Tasks))
	for i, t := range in.Tasks {
		p := fmt.Sprintf("tasks[%d]", i)
		if strings.TrimSpace(t.Owner) == "" {
			errs = append(errs, httpapi.FieldError{Field: p + ".owner", Detail: "is required"})
		}
		if strings.TrimSpace(t.Action) == "" {
			errs = append(errs, httpapi.FieldError{Field: p + ".action", Detail: "is required"})
		}
		day, prob := parseDay(p+".deadline", t.Deadline)
		switch {
		case prob != nil:
			errs = append(errs, httpapi.FieldError{Field: p + ".deadline", Detail: fmt.Sprintf("%q is not a date (2006-01-02)", t.Deadline)})
		case !endOfDay(day, 0).After(now):
			errs = append(errs, httpapi.FieldError{Field: p + ".deadline", Detail: "must not be in the past"})
		default:
			deadlines[i] = endOfDay(day, 0)
		}
	}
	return deadlines, errs
}

// FindingFact is what a finding counts in its village's rating.
func FindingFact(f *Finding) Fact {
	return Fact{ID: "finding:" + f.ID, Village: f.Village, Kind: FactFinding, Subkind: f.Severity, At: f.RaisedAt, Ref: f.ID, Note: f.Category}
}

// RectificationFact is what a task's overdue (at its deadline) or on-time
// acceptance counts in its village's rating.
func RectificationFact(t *RectificationTask, outcome string, at time.Time) Fact {
	return Fact{ID: "rectification:" + t.ID + ":" + outcome, Village: t.Village, Kind: FactRectification, Subkind: outcome,
		At: at, Ref: t.FindingID, Note: t.FindingCategory + "：" + t.Action}
}

func tourCovers(t *Tour, village string) bool {
	for _, v := range t.Villages {
		if v.Village == village {
			return true
		}
	}
	return false
}

// ErrTaskState: a task cannot make this move in its current status.
var ErrTaskState = errors.New("rectification task cannot do this in its current status")

// TaskAction is a move of a task.
type TaskAction struct {
	Evidence []RectificationEvidence `json:"evidence,omitempty"` // submit
	Note     string                  `json:"note,omitempty"`     // submit, accept; the reason of a return
}

// act makes a move of the task at now, by someone who is (or not)
// discipline staff running the town's inspection; it reports whether an acceptance earns the
// on-time fact (a submission made by the deadline, never marked overdue).
func (t *RectificationTask) act(action string, in TaskAction, by identity.Principal, discipline bool, now time.Time) (onTime bool, err error) {
	ev := TaskEvent{At: now, Action: action, By: by.IdentityID, Role: string(by.Role), Note: strings.TrimSpace(in.Note)}
	switch action {
	case "submit":
		if t.Status != TaskOpen && t.Status != TaskReturned {
			return false, httpapi.Conflict(fmt.Sprintf("%v: the task is %s; only an open or returned task is submitted", ErrTaskState, t.Status))
		}
		if errs := validateEvidence(in.Evidence); len(errs) > 0 {
			return false, httpapi.ValidationFailed(errs...)
		}
		t.Status, t.SubmittedAt = TaskSubmitted, &now
		t.Evidence = append(t.Evidence, in.Evidence...)
	case "accept", "return":
		if !discipline {
			return false, httpapi.Forbidden("only discipline staff (the town's office or the district's) accept or return a rectification")
		}
		if t.Status != TaskSubmitted {
			return false, httpapi.Conflict(fmt.Sprintf("%v: the task is %s; only a submitted task is accepted or returned", ErrTaskState, t.Status))
		}
		if action == "return" {
			if ev.Note == "" {
				return false, httpapi.ValidationFailed(httpapi.FieldError{Field: "note", Detail: "a return needs the reason"})
			}
			t.Status = TaskReturned
			break
		}
		t.Status, t.AcceptedAt = TaskAccepted, &now
		onTime = t.OverdueAt == nil && t.SubmittedAt != nil && !t.SubmittedAt.After(t.Deadline)
	default:
		return false, ErrNotFound
	}
	t.History = append(t.History, ev)
	return onTime, nil
}

func validateEvidence(ev []RectificationEvidence) []httpapi.FieldError {
	var errs []httpapi.FieldError
	if len(ev) == 0 {
		errs = append(errs, httpapi.FieldError{Field: "evidence", Detail: "a submission needs at least one piece of evidence (text or link)"})
	}
	for i, e := range ev {
		p := fmt.Sprintf("evidence[%d]", i)
		if strings.TrimSpace(e.Text) == "" && e.URL == "" {
			errs = append(errs, httpapi.FieldError{Field: p, Detail: "give a text or a url"})
		}
		if e.URL != "" {
			u, err := url.Parse(e.URL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				errs = append(errs, httpapi.FieldError{Field: p + ".url", Detail: "must be an http(s) link"})
			}
		}
	}
	return errs
}
