package inspection

// Findings (巡察发现问题) raised on a village during a tour, and their
// rectification tasks (整改任务): open → submitted → accepted, or returned
// and submitted again. A finding counts in the village's rating (kind
// finding, by severity); a task left past its deadline without a pending or
// accepted submission is marked overdue once by the escalation loop and
// counts too (rectification/overdue), and a task accepted on a submission
// made in time earns the on-time bonus (rectification/on-time).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
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
	ID          string              `json:"id"`
	TourID      string              `json:"tourId"`
	Village     string              `json:"village"`
	Category    string              `json:"category"`
	Description string              `json:"description"`
	Severity    string              `json:"severity"`
	RaisedBy    string              `json:"raisedBy"`
	RaisedAt    time.Time           `json:"raisedAt"`
	Tasks       []RectificationTask `json:"tasks"`
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

// RaiseFinding records a finding of a tour with its tasks, applies its fact
// and announces it, in one transaction.
func (s *Service) RaiseFinding(ctx context.Context, by identity.Principal, tourID string, in FindingInput) (*Finding, Applied, error) {
	tour, err := s.TourByID(ctx, tourID)
	if err != nil {
		return nil, Applied{}, err
	}
	now := s.now()
	deadlines, errs := in.validate(now)
	if len(errs) == 0 && !tourCovers(tour, in.Village) {
		errs = append(errs, httpapi.FieldError{Field: "village", Detail: "the tour does not cover village " + in.Village})
	}
	if len(errs) == 0 {
		if errs, err = s.unregistered(ctx, s.Pool, "village", in.Village); err != nil {
			return nil, Applied{}, err
		}
	}
	if len(errs) > 0 {
		return nil, Applied{}, httpapi.ValidationFailed(errs...)
	}
	f := &Finding{ID: uuid.NewString(), TourID: tour.ID, Village: in.Village, Category: strings.TrimSpace(in.Category),
		Description: strings.TrimSpace(in.Description), Severity: in.Severity, RaisedBy: by.IdentityID, RaisedAt: now}
	var applied Applied
	err = store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO findings (id, tour_id, town, village, category, description, severity, raised_by, raised_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, f.ID, f.TourID, s.Town, f.Village, f.Category, f.Description, f.Severity, f.RaisedBy, f.RaisedAt); err != nil {
			return err
		}
		for i, t := range in.Tasks {
			if _, err := tx.Exec(ctx, `INSERT INTO rectification_tasks (id, finding_id, town, village, seq, owner, action, deadline, status)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open')`, uuid.NewString(), f.ID, s.Town, f.Village, i+1,
				strings.TrimSpace(t.Owner), strings.TrimSpace(t.Action), deadlines[i]); err != nil {
				return err
			}
		}
		var err error
		if applied, err = s.ApplyFact(ctx, tx, FindingFact(f)); err != nil {
			return err
		}
		return s.publish(ctx, tx, uuid.NewString(), eventsv1.TypeFindingRaised, f.Village, f.ID, eventsv1.FindingRaised{
			FindingID: f.ID, TourID: f.TourID, Village: f.Village, Category: f.Category, Severity: f.Severity, Tasks: len(in.Tasks), RaisedAt: f.RaisedAt})
	})
	if err != nil {
		return nil, Applied{}, err
	}
	f, err = s.FindingByID(ctx, f.ID)
	return f, applied, err
}

func tourCovers(t *Tour, village string) bool {
	for _, v := range t.Villages {
		if v.Village == village {
			return true
		}
	}
	return false
}

const taskColumns = `k.id::text, k.finding_id::text, k.village, k.seq, k.owner, k.action, k.deadline, k.status, k.evidence, k.history,
	k.submitted_at, k.accepted_at, k.overdue_at, k.version, f.category, f.severity, f.description`

func scanTask(r pgx.CollectableRow) (RectificationTask, error) {
	var t RectificationTask
	var evidence, history []byte
	if err := r.Scan(&t.ID, &t.FindingID, &t.Village, &t.Seq, &t.Owner, &t.Action, &t.Deadline, &t.Status, &evidence, &history,
		&t.SubmittedAt, &t.AcceptedAt, &t.OverdueAt, &t.version, &t.FindingCategory, &t.FindingSeverity, &t.FindingDescription); err != nil {
		return t, err
	}
	if err := json.Unmarshal(evidence, &t.Evidence); err != nil {
		return t, err
	}
	return t, json.Unmarshal(history, &t.History)
}

// queryTasks reads tasks of the town matching where ($1 is the town).
func (s *Service) queryTasks(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, where string, args ...any) ([]RectificationTask, error) {
	rows, err := q.Query(ctx, `SELECT `+taskColumns+` FROM rectification_tasks k JOIN findings f ON f.id = k.finding_id
		WHERE k.town = $1 AND `+where, append([]any{s.Town}, args...)...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanTask)
}

// FindingByID returns one of the town's findings with its tasks.
func (s *Service) FindingByID(ctx context.Context, id string) (*Finding, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrNotFound
	}
	list, err := s.Findings(ctx, "f.id = $2", id)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return &list[0], nil
}

// Findings lists the town's findings matching where ($1 is the town),
// newest first, with their tasks.
func (s *Service) Findings(ctx context.Context, where string, args ...any) ([]Finding, error) {
	rows, err := s.Pool.Query(ctx, `SELECT f.id::text, f.tour_id::text, f.village, f.category, f.description, f.severity, f.raised_by, f.raised_at
		FROM findings f WHERE f.town = $1 AND `+where+` ORDER BY f.raised_at DESC, f.id LIMIT 500`, append([]any{s.Town}, args...)...)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Finding, error) {
		var f Finding
		err := r.Scan(&f.ID, &f.TourID, &f.Village, &f.Category, &f.Description, &f.Severity, &f.RaisedBy, &f.RaisedAt)
		f.Tasks = []RectificationTask{}
		return f, err
	})
	if err != nil || len(list) == 0 {
		return list, err
	}
	ids := make([]string, len(list))
	at := map[string]int{}
	for i, f := range list {
		ids[i] = f.ID
		at[f.ID] = i
	}
	tasks, err := s.queryTasks(ctx, s.Pool, `k.finding_id::text = ANY($2) ORDER BY k.seq`, ids)
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		i := at[t.FindingID]
		list[i].Tasks = append(list[i].Tasks, t)
	}
	return list, nil
}

// ErrTaskState: a task cannot make this move in its current status.
var ErrTaskState = errors.New("rectification task cannot do this in its current status")

// TaskAction is a move of a task.
type TaskAction struct {
	Evidence []RectificationEvidence `json:"evidence,omitempty"` // submit
	Note     string                  `json:"note,omitempty"`     // submit, accept; the reason of a return
}

// ActOnTask submits, accepts or returns a task, in one transaction: an
// acceptance of a submission made by the deadline applies the on-time fact.
func (s *Service) ActOnTask(ctx context.Context, by identity.Principal, id, action string, in TaskAction) (*RectificationTask, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrNotFound
	}
	var out *RectificationTask
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		list, err := s.queryTasks(ctx, tx, `k.id = $2 FOR UPDATE OF k`, id)
		if err != nil {
			return err
		}
		if len(list) == 0 || !s.canSeeTask(by, &list[0]) {
			return ErrNotFound
		}
		t := &list[0]
		now := s.now()
		ev := TaskEvent{At: now, Action: action, By: by.IdentityID, Role: string(by.Role), Note: strings.TrimSpace(in.Note)}
		switch action {
		case "submit":
			if t.Status != TaskOpen && t.Status != TaskReturned {
				return httpapi.Conflict(fmt.Sprintf("%v: the task is %s; only an open or returned task is submitted", ErrTaskState, t.Status))
			}
			if errs := validateEvidence(in.Evidence); len(errs) > 0 {
				return httpapi.ValidationFailed(errs...)
			}
			t.Status, t.SubmittedAt = TaskSubmitted, &now
			t.Evidence = append(t.Evidence, in.Evidence...)
		case "accept", "return":
			if !s.isTownDiscipline(by) {
				return httpapi.Forbidden("only the town's discipline office accepts or returns a rectification")
			}
			if t.Status != TaskSubmitted {
				return httpapi.Conflict(fmt.Sprintf("%v: the task is %s; only a submitted task is accepted or returned", ErrTaskState, t.Status))
			}
			if action == "return" {
				if ev.Note == "" {
					return httpapi.ValidationFailed(httpapi.FieldError{Field: "note", Detail: "a return needs the reason"})
				}
				t.Status = TaskReturned
				break
			}
			t.Status, t.AcceptedAt = TaskAccepted, &now
			if t.OverdueAt == nil && t.SubmittedAt != nil && !t.SubmittedAt.After(t.Deadline) {
				if _, err := s.ApplyFact(ctx, tx, RectificationFact(t, RectificationOnTime, *t.SubmittedAt)); err != nil {
					return err
				}
			}
		default:
			return ErrNotFound
		}
		t.History = append(t.History, ev)
		if err := saveTask(ctx, tx, t); err != nil {
			return err
		}
		out = t
		return nil
	})
	return out, err
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

func saveTask(ctx context.Context, tx pgx.Tx, t *RectificationTask) error {
	evidence, err := json.Marshal(t.Evidence)
	if err != nil {
		return err
	}
	history, err := json.Marshal(t.History)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE rectification_tasks SET status = $2, evidence = $3, history = $4, submitted_at = $5, accepted_at = $6,
		overdue_at = $7, version = version + 1 WHERE id = $1`, t.ID, t.Status, evidence, history, t.SubmittedAt, t.AcceptedAt, t.OverdueAt)
	return err
}

// EscalateRectifications marks every task past its deadline without a
// pending or accepted submission overdue, once: it applies the overdue fact
// (at the deadline, so that it counts in the deadline's period) and
// announces it. Safe to run on every replica. It returns how many it marked.
func (s *Service) EscalateRectifications(ctx context.Context, limit int) (int, error) {
	n := 0
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		n = 0
		now := s.now()
		due, err := s.queryTasks(ctx, tx, `k.status IN ('open', 'returned') AND k.overdue_at IS NULL AND k.deadline <= $2
			ORDER BY k.deadline, k.id LIMIT $3 FOR UPDATE OF k SKIP LOCKED`, now, limit)
		if err != nil {
			return err
		}
		for i := range due {
			t := &due[i]
			t.OverdueAt = &now
			t.History = append(t.History, TaskEvent{At: now, Action: "overdue", Note: "逾期未整改"})
			if err := saveTask(ctx, tx, t); err != nil {
				return err
			}
			if _, err := s.ApplyFact(ctx, tx, RectificationFact(t, RectificationOverdue, t.Deadline)); err != nil {
				return err
			}
			if err := s.publish(ctx, tx, uuid.NewString(), eventsv1.TypeRectificationOverdue, t.Village, t.ID, eventsv1.RectificationOverdue{
				TaskID: t.ID, FindingID: t.FindingID, Village: t.Village, Deadline: t.Deadline, At: now}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// escalationBatch is how many records one escalation transaction handles.
const escalationBatch = 100

// EscalationLoop runs the escalations of rectifications and supervision
// orders every interval until ctx ends; failures are logged and retried at
// the next tick. For platform.Run's loops.
func (s *Service) EscalationLoop(interval time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			s.escalateAll(ctx)
		}
	}
}

func (s *Service) escalateAll(ctx context.Context) {
	for what, fn := range map[string]func(context.Context, int) (int, error){
		"rectifications": s.EscalateRectifications, "orders": s.EscalateOrders} {
		for {
			n, err := fn(ctx, escalationBatch)
			if err != nil {
				if ctx.Err() == nil {
					s.log().ErrorContext(ctx, "escalating overdue "+what, "error", err.Error())
				}
				break
			}
			if n > 0 {
				s.log().InfoContext(ctx, "escalated overdue "+what, "count", n)
			}
			if n < escalationBatch {
				break
			}
		}
	}
}

// ---- access and handlers ----

// canSeeTask: the inspection readers, and officials of the task's own
// village, who must rectify it. Village officials see nothing else of a
// tour: not its team, other findings or other villages' tasks.
func (s *Service) canSeeTask(p identity.Principal, t *RectificationTask) bool {
	return s.canReadInspection(p) || (p.Role.IsVillageRole() && p.CanReadVillage(s.Town, t.Village))
}

func (s *Service) findingRoutes(srv *httpapi.Server) {
	srv.HandleFunc("POST /v1/tours/{id}/findings", s.postFinding)
	srv.HandleFunc("GET /v1/findings", s.getFindings)
	srv.HandleFunc("GET /v1/findings/{id}", s.getFinding)
	srv.HandleFunc("GET /v1/rectifications", s.getTasks)
	srv.HandleFunc("GET /v1/rectifications/{id}", s.getTask)
	srv.HandleFunc("POST /v1/rectifications/{id}/{action}", s.postTaskAction)
}

func (s *Service) postFinding(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	if !s.isTownDiscipline(p) {
		writeNotFound(w, r, "tour", ErrNotFound)
		return
	}
	var in FindingInput
	if !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	f, applied, err := s.RaiseFinding(r.Context(), p, r.PathValue("id"), in)
	if err != nil {
		writeNotFound(w, r, "tour", err)
		return
	}
	w.Header().Set("Location", "/v1/findings/"+f.ID)
	_ = httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"finding": f, "rating": applied.Rating, "gradeChange": applied.Change})
}

func (s *Service) getFindings(w http.ResponseWriter, r *http.Request) {
	if _, ok := need(w, r, s.canReadInspection, whyRead); !ok {
		return
	}
	where, args := "true", []any{}
	if v := r.URL.Query().Get("village"); v != "" {
		where, args = "f.village = $2", []any{v}
	} else if t := r.URL.Query().Get("tour"); t != "" {
		if _, err := uuid.Parse(t); err != nil {
			httpapi.WriteProblem(w, r, httpapi.BadRequest("tour must be a tour id"))
			return
		}
		where, args = "f.tour_id = $2", []any{t}
	}
	list, err := s.Findings(r.Context(), where, args...)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}

func (s *Service) getFinding(w http.ResponseWriter, r *http.Request) {
	serveReadable(s, w, r, "finding", s.FindingByID, "id")
}

// getTasks lists rectification tasks: inspection readers any village's
// (?village= optional), village officials only their own village's.
func (s *Service) getTasks(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	village := r.URL.Query().Get("village")
	switch {
	case s.canReadInspection(p):
	case p.Role.IsVillageRole() && p.Town == s.Town && (village == "" || village == p.Village):
		village = p.Village
	default:
		httpapi.WriteProblem(w, r, httpapi.Forbidden("you read only your own village's rectification tasks"))
		return
	}
	where, args := "true", []any{}
	if village != "" {
		where, args = "k.village = $2", []any{village}
	}
	if st := r.URL.Query().Get("status"); st != "" {
		args = append(args, st)
		where += fmt.Sprintf(" AND k.status = $%d", len(args)+1)
	}
	list, err := s.queryTasks(r.Context(), s.Pool, where+" ORDER BY k.deadline, k.id LIMIT 500", args...)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}

func (s *Service) getTask(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	if _, err := uuid.Parse(r.PathValue("id")); err != nil {
		writeNotFound(w, r, "rectification task", ErrNotFound)
		return
	}
	list, err := s.queryTasks(r.Context(), s.Pool, "k.id = $2", r.PathValue("id"))
	if err == nil && (len(list) == 0 || !s.canSeeTask(p, &list[0])) {
		err = ErrNotFound
	}
	if err != nil {
		writeNotFound(w, r, "rectification task", err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, list[0])
}

func (s *Service) postTaskAction(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	action := r.PathValue("action")
	if action != "submit" && action != "accept" && action != "return" {
		httpapi.WriteProblem(w, r, httpapi.NotFound("no such action: submit, accept or return"))
		return
	}
	if action == "submit" && !(s.isTownDiscipline(p) || p.Role.IsVillageRole()) {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("the village's officials or the town's discipline office submit a rectification"))
		return
	}
	var in TaskAction
	if !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	t, err := s.ActOnTask(r.Context(), p, r.PathValue("id"), action, in)
	if err != nil {
		writeNotFound(w, r, "rectification task", err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, t)
}
