package inspection

// Notices with a sign-off and a reply. A change of grade drafts a notice
// (ApplyFact); the town's discipline office signs it, which numbers, dates
// and issues it, or dismisses it with a reason. The addressed village's
// secretary, director or supervision chair answers an issued notice with a
// rectification report and evidence (texts, links, uploaded files); the
// office accepts the answer or returns it with a reason, and the village
// answers again. A notice without an accepted or pending answer at its
// deadline is escalated, once. Every step is one row of the append-only
// supervision_steps, written in the transaction of the step with its
// event, so that no step exists without its record and announcement.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// NoticeStatus is where a notice is in its life.
type NoticeStatus string

const (
	NoticeDraft     NoticeStatus = "draft"     // drafted by a change of grade, waiting for the sign-off
	NoticeIssued    NoticeStatus = "issued"    // signed: numbered, dated, waiting for the village's answer
	NoticeDismissed NoticeStatus = "dismissed" // the office dismissed the draft, with a reason
	NoticeAnswered  NoticeStatus = "answered"  // the village answered; the office reviews the answer
	NoticeReturned  NoticeStatus = "returned"  // the answer was returned; the village answers again
	NoticeAccepted  NoticeStatus = "accepted"  // the answer was accepted: the notice is closed
)

// visibleToVillage: the statuses the addressed village sees (not its
// drafts, nor dismissed ones: they were never issued).
func (st NoticeStatus) visibleToVillage() bool { return st != NoticeDraft && st != NoticeDismissed }

// Step is one step of a notice or an order: who did what, when, why.
type Step struct {
	Seq      int64            `json:"seq"`
	At       time.Time        `json:"at"`
	Action   string           `json:"action"` // drafted, signed, dismissed, answered, accepted, returned, escalated
	ActorID  string           `json:"actorId,omitempty"`
	Role     string           `json:"role,omitempty"`
	Note     string           `json:"note,omitempty"` // the reason of a dismissal or return, an answer's report
	Evidence []AnswerEvidence `json:"evidence,omitempty"`
}

// AnswerEvidence is a piece of evidence of an answer: a text, a link, or a
// file uploaded to the notice or order (File is its id).
type AnswerEvidence struct {
	Text string `json:"text,omitempty"`
	URL  string `json:"url,omitempty"`
	File string `json:"file,omitempty"`
}

// StoredNotice is a notice with its life: status, steps.
type StoredNotice struct {
	Notice
	ID          string       `json:"id"`
	Status      NoticeStatus `json:"status"`
	DraftedAt   time.Time    `json:"draftedAt"`
	EscalatedAt *time.Time   `json:"escalatedAt,omitempty"`
	// AnswerDue is the new deadline of a returned answer, counted from the
	// return; the notice keeps the Deadline it was signed with. Unset
	// until a return.
	AnswerDue *time.Time `json:"answerDue,omitempty"`
	Steps     []Step     `json:"steps"`
	html      string
}

// Answer is the village's answer to a notice or an order.
type Answer struct {
	// Report is the rectification report (整改情况报告).
	Report   string           `json:"report"`
	Evidence []AnswerEvidence `json:"evidence"`
}

// Review is the office's decision on an answer; a return needs the reason.
type Review struct {
	Reason string `json:"reason,omitempty"`
	// Deadline of the answer after a return, a day after today
	// (2026-05-31); default: the notice's answer period from the return.
	Deadline string `json:"deadline,omitempty"`
}

// AnswerBy is when the awaited answer is due: the new deadline of a
// returned answer, else the notice's own.
func (n *StoredNotice) AnswerBy() time.Time {
	if n.AnswerDue != nil {
		return *n.AnswerDue
	}
	return n.Deadline
}

// The village officials who answer for their village: the secretary, the
// director and the supervision committee's chair.
var answerRoles = []identity.Role{identity.RoleSecretary, identity.RoleDirector, identity.RoleSupervisionChair}

// canAnswer: an answering official of the village, in this service's town.
func (s *Service) canAnswer(p identity.Principal, village string) bool {
	return p.HasRole(answerRoles...) && p.Town == s.Town && p.Village == village
}

// canSeeNotice: discipline staff covering the town see every notice,
// drafts too; the village's officials its issued ones.
func (s *Service) canSeeNotice(p identity.Principal, n *StoredNotice) bool {
	if p.IsDiscipline() && p.InTown(s.Town) {
		return true
	}
	return n.Status.visibleToVillage() && s.canReadNotice(p, n.Village)
}

func (s *Service) issuers() []string {
	town := s.Notices.TownIssuer
	if town == "" {
		town = s.TownName + "纪委"
	}
	return []string{s.Notices.District, town}
}

const noticeColumns = `id::text, doc, html, status, drafted_at, escalated_at, answer_due`

// queryNotices reads the town's notices matching where ($1 is the town),
// with their steps.
func (s *Service) queryNotices(ctx context.Context, q rowsQuerier, where string, args ...any) ([]StoredNotice, error) {
	rows, err := q.Query(ctx, `SELECT `+noticeColumns+` FROM notices WHERE town = $1 AND `+where, append([]any{s.Town}, args...)...)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredNotice, error) {
		var n StoredNotice
		var doc []byte
		var status string
		if err := r.Scan(&n.ID, &doc, &n.html, &status, &n.DraftedAt, &n.EscalatedAt, &n.AnswerDue); err != nil {
			return n, err
		}
		n.Status = NoticeStatus(status)
		return n, json.Unmarshal(doc, &n.Notice)
	})
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].Steps, err = steps(ctx, q, "notice", list[i].ID); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// steps reads the steps of a notice or an order, in order.
func steps(ctx context.Context, q rowsQuerier, kind, ref string) ([]Step, error) {
	rows, err := q.Query(ctx, `SELECT seq, at, action, actor_id, role, note, evidence FROM supervision_steps
		WHERE doc_kind = $1 AND doc_ref = $2 ORDER BY seq`, kind, ref)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Step, error) {
		var st Step
		var ev []byte
		if err := r.Scan(&st.Seq, &st.At, &st.Action, &st.ActorID, &st.Role, &st.Note, &ev); err != nil {
			return st, err
		}
		return st, json.Unmarshal(ev, &st.Evidence)
	})
}

// recordStep appends a step of a notice or an order.
func (s *Service) recordStep(ctx context.Context, tx execer, kind, ref, village string, p identity.Principal, action, note string, ev []AnswerEvidence, at time.Time) error {
	if ev == nil {
		ev = []AnswerEvidence{}
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO supervision_steps (doc_kind, doc_ref, town, village, at, action, actor_id, actor_email, role, note, evidence)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		kind, ref, s.Town, village, at, action, p.IdentityID, p.Email, string(p.Role), note, raw)
	return err
}

// system is the actor of the service's own steps (drafting, escalation).
var system = identity.Principal{IdentityID: "system"}

// insertDraft stores a drafted notice, records its step and announces it,
// through w (apply_write.go).
func (s *Service) insertDraft(ctx context.Context, w applyWriter, n *Notice, changeID string, now time.Time) (string, error) {
	html, err := n.HTML()
	if err != nil {
		return "", err
	}
	doc, err := json.Marshal(n)
	if err != nil {
		return "", err
	}
	id := uuid.NewString()
	if _, err := w.Exec(ctx, `INSERT INTO notices (id, kind, village, town, period, grade, points, change_id, doc, html, status, drafted_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'draft', $11)`,
		id, string(n.Kind), n.Village, n.Town, n.Period.String(), string(n.Grade), n.Points, changeID, doc, html, now); err != nil {
		return "", err
	}
	if err := s.recordStep(ctx, w, "notice", id, n.Village, system, "drafted", "", nil, now); err != nil {
		return "", err
	}
	return id, s.publishTo(ctx, w, uuid.NewString(), eventsv1.TypeNoticeDrafted, n.Village, id, eventsv1.NoticeDrafted{
		ID: id, Kind: string(n.Kind), Village: n.Village, Period: n.Period.String(), Grade: string(n.Grade), Points: n.Points, DraftedAt: now})
}

// saveNotice writes a notice's state back.
func saveNotice(ctx context.Context, tx pgx.Tx, n *StoredNotice) error {
	doc, err := json.Marshal(n.Notice)
	if err != nil {
		return err
	}
	var number *string
	var issued, deadline *time.Time
	if n.Signed() {
		number, issued, deadline = &n.Number, &n.IssuedAt, &n.Deadline
	}
	_, err = tx.Exec(ctx, `UPDATE notices SET number = $2, issued_at = $3, deadline = $4, status = $5, escalated_at = $6, doc = $7, html = $8,
		answer_due = $9 WHERE id = $1`, n.ID, number, issued, deadline, string(n.Status), n.EscalatedAt, doc, n.html, n.AnswerDue)
	return err
}

// NoticeByRef returns one of the town's notices by id or by number.
func (s *Service) NoticeByRef(ctx context.Context, ref string) (*StoredNotice, error) {
	where := `number = $2`
	if _, err := uuid.Parse(ref); err == nil {
		where = `id = $2::uuid`
	}
	list, err := s.queryNotices(ctx, s.Pool, where, ref)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return &list[0], nil
}

// NoticeFilter narrows a list of notices.
type NoticeFilter struct {
	Village string
	Status  NoticeStatus
	// VillageView leaves out drafts and dismissed notices.
	VillageView bool
}

// ListNotices lists the town's notices, newest first.
func (s *Service) ListNotices(ctx context.Context, f NoticeFilter, limit int) ([]StoredNotice, error) {
	where, args := []string{"true"}, []any{}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)+1))
	}
	if f.Village != "" {
		add("village = $%d", f.Village)
	}
	if f.Status != "" {
		add("status = $%d", string(f.Status))
	}
	if f.VillageView {
		where = append(where, "status NOT IN ('draft', 'dismissed')")
	}
	args = append(args, limit)
	return s.queryNotices(ctx, s.Pool, strings.Join(where, " AND ")+fmt.Sprintf(" ORDER BY drafted_at DESC, id LIMIT $%d", len(args)+1), args...)
}

// ErrNoticeState: a notice cannot make this move in its current status.
var ErrNoticeState = errors.New("notice cannot do this in its current status")

func stateConflict(n *StoredNotice, want string) error {
	return httpapi.Conflict(fmt.Sprintf("%v: the notice is %s; %s", ErrNoticeState, n.Status, want))
}

// actOnNotice runs a step on one notice, locked, in one transaction:
// readers who may not see it get ErrNotFound.
func (s *Service) actOnNotice(ctx context.Context, p identity.Principal, ref string, step func(tx pgx.Tx, n *StoredNotice, now time.Time) error) (*StoredNotice, error) {
	if _, err := uuid.Parse(ref); err != nil {
		return nil, ErrNotFound
	}
	var out *StoredNotice
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		list, err := s.queryNotices(ctx, tx, `id = $2::uuid FOR UPDATE`, ref)
		if err != nil {
			return err
		}
		if len(list) == 0 || !s.canSeeNotice(p, &list[0]) {
			return ErrNotFound
		}
		n := &list[0]
		if err := step(tx, n, s.now()); err != nil {
			return err
		}
		if err := saveNotice(ctx, tx, n); err != nil {
			return err
		}
		if n.Steps, err = steps(ctx, tx, "notice", n.ID); err != nil {
			return err
		}
		out = n
		return nil
	})
	return out, err
}

// SignNotice signs a draft: it is numbered in the town's series of its kind
// (gap-free: the number is taken in this transaction), dated now, given its
// deadline, signed by the commissions configured now, and issued.
func (s *Service) SignNotice(ctx context.Context, p identity.Principal, id string) (*StoredNotice, error) {
	if !s.isTownDiscipline(p) {
		return nil, httpapi.Forbidden("only the town's discipline office (town-discipline) signs notices")
	}
	return s.actOnNotice(ctx, p, id, func(tx pgx.Tx, n *StoredNotice, now time.Time) error {
		if n.Status != NoticeDraft {
			return stateConflict(n, "only a draft is signed")
		}
		n.Issuers = s.issuers()
		if err := n.Sign(s.Notices, txNumbers{ctx, tx}, now); err != nil {
			return err
		}
		html, err := n.HTML()
		if err != nil {
			return err
		}
		n.html, n.Status = html, NoticeIssued
		if err := s.recordStep(ctx, tx, "notice", n.ID, n.Village, p, "signed", n.Number, nil, now); err != nil {
			return err
		}
		s.log().Info("notice issued", "number", n.Number, "kind", n.Kind, "village", n.Village, "grade", n.Grade, "points", n.Points)
		return s.publish(ctx, tx, uuid.NewString(), eventsv1.TypeNoticeIssued, n.Village, n.Number, eventsv1.NoticeIssued{
			ID: n.ID, Number: n.Number, Kind: string(n.Kind), Village: n.Village, Period: n.Period.String(), Grade: string(n.Grade),
			Points: n.Points, IssuedAt: n.IssuedAt, Deadline: n.Deadline})
	})
}

// DismissNotice dismisses a draft with the reason, which is recorded.
func (s *Service) DismissNotice(ctx context.Context, p identity.Principal, id string, in Review) (*StoredNotice, error) {
	if !s.isTownDiscipline(p) {
		return nil, httpapi.Forbidden("only the town's discipline office (town-discipline) dismisses notices")
	}
	reason := strings.TrimSpace(in.Reason)
	if prob := reasonProblem(reason, "a dismissal"); prob != nil {
		return nil, prob
	}
	return s.actOnNotice(ctx, p, id, func(tx pgx.Tx, n *StoredNotice, now time.Time) error {
		if n.Status != NoticeDraft {
			return stateConflict(n, "only a draft is dismissed")
		}
		n.Status = NoticeDismissed
		if err := s.recordStep(ctx, tx, "notice", n.ID, n.Village, p, "dismissed", reason, nil, now); err != nil {
			return err
		}
		return s.publish(ctx, tx, uuid.NewString(), eventsv1.TypeNoticeDismissed, n.Village, n.ID, eventsv1.NoticeDismissed{
			ID: n.ID, Kind: string(n.Kind), Village: n.Village, Reason: reason, At: now})
	})
}

func reasonProblem(reason, what string) *httpapi.Problem {
	if reason == "" {
		return httpapi.ValidationFailed(httpapi.FieldError{Field: "reason", Detail: what + " needs the reason"})
	}
	if errs := httpapi.TooLong(httpapi.Limit("reason", reason, maxNote)); len(errs) > 0 {
		return httpapi.ValidationFailed(errs...)
	}
	return nil
}

// AnswerNotice records the village's answer to an issued (or returned)
// notice: the report and at least one piece of evidence; files must have
// been uploaded to this notice. A late answer is accepted and marked late.
func (s *Service) AnswerNotice(ctx context.Context, p identity.Principal, id string, in Answer) (*StoredNotice, error) {
	return s.actOnNotice(ctx, p, id, func(tx pgx.Tx, n *StoredNotice, now time.Time) error {
		if !s.canAnswer(p, n.Village) {
			return httpapi.Forbidden("the village's secretary, director or supervision chair answers its notices")
		}
		if n.Status != NoticeIssued && n.Status != NoticeReturned {
			return stateConflict(n, "only an issued or returned notice is answered")
		}
		a, err := s.checkAnswer(ctx, tx, "notice", n.ID, in)
		if err != nil {
			return err
		}
		n.Status = NoticeAnswered
		if err := s.recordStep(ctx, tx, "notice", n.ID, n.Village, p, "answered", a.Report, a.Evidence, now); err != nil {
			return err
		}
		return s.publish(ctx, tx, uuid.NewString(), eventsv1.TypeNoticeAnswered, n.Village, n.ID, eventsv1.NoticeAnswered{
			ID: n.ID, Number: n.Number, Village: n.Village, Evidence: len(a.Evidence), Late: now.After(n.AnswerBy()), Deadline: n.AnswerBy(), At: now})
	})
}

// checkAnswer validates an answer: a report, evidence, each a text, an
// http(s) link or a file of this document.
func (s *Service) checkAnswer(ctx context.Context, tx pgx.Tx, kind, ref string, in Answer) (Answer, error) {
	a := Answer{Report: strings.TrimSpace(in.Report), Evidence: in.Evidence}
	var errs []httpapi.FieldError
	if a.Report == "" {
		errs = append(errs, httpapi.FieldError{Field: "report", Detail: "is required: the rectification report"})
	}
	errs = append(errs, httpapi.TooLong(httpapi.Limit("report", a.Report, maxNote))...)
	if len(a.Evidence) == 0 {
		errs = append(errs, httpapi.FieldError{Field: "evidence", Detail: "an answer needs at least one piece of evidence (text, link or file)"})
	}
	if len(a.Evidence) > 20 {
		errs = append(errs, httpapi.FieldError{Field: "evidence", Detail: "at most 20 pieces of evidence"})
	}
	for i, e := range a.Evidence {
		f := fmt.Sprintf("evidence[%d]", i)
		a.Evidence[i].Text = strings.TrimSpace(e.Text)
		switch {
		case e.File != "":
			var ok bool
			if _, err := uuid.Parse(e.File); err == nil {
				if err := tx.QueryRow(ctx, `SELECT true FROM supervision_files WHERE id = $1 AND doc_kind = $2 AND doc_ref = $3 AND town = $4`,
					e.File, kind, ref, s.Town).Scan(&ok); err != nil && !errors.Is(err, pgx.ErrNoRows) {
					return a, err
				}
			}
			if !ok {
				errs = append(errs, httpapi.FieldError{Field: f + ".file", Detail: "is not a file uploaded to this " + kind})
			}
		case e.URL == "" && a.Evidence[i].Text == "":
			errs = append(errs, httpapi.FieldError{Field: f, Detail: "give a text, a url or a file"})
		}
		if e.URL != "" {
			errs = append(errs, validateEvidence([]RectificationEvidence{{URL: e.URL}})...)
		}
		errs = append(errs, httpapi.TooLong(httpapi.Limit(f+".text", a.Evidence[i].Text, maxNote))...)
	}
	if len(errs) > 0 {
		return a, httpapi.ValidationFailed(errs...)
	}
	return a, nil
}

// ReviewNotice accepts the answer to a notice (closing it) or returns it
// with the reason: the village answers again, by a new deadline counted
// from the return (the notice's days) or the day the office names.
func (s *Service) ReviewNotice(ctx context.Context, p identity.Principal, id string, accept bool, in Review) (*StoredNotice, error) {
	if !s.isTownDiscipline(p) {
		return nil, httpapi.Forbidden("only the town's discipline office (town-discipline) accepts or returns answers")
	}
	reason := strings.TrimSpace(in.Reason)
	if !accept {
		if prob := reasonProblem(reason, "a return"); prob != nil {
			return nil, prob
		}
	}
	return s.actOnNotice(ctx, p, id, func(tx pgx.Tx, n *StoredNotice, now time.Time) error {
		if n.Status != NoticeAnswered {
			return stateConflict(n, "only an answered notice is accepted or returned")
		}
		action, typ := "accepted", eventsv1.TypeNoticeAccepted
		n.Status = NoticeAccepted
		rev := eventsv1.NoticeReviewed{ID: n.ID, Number: n.Number, Village: n.Village, Reason: reason, At: now, ActorRole: string(p.Role)}
		if !accept {
			days := n.Days
			if days < 1 {
				days = s.Notices.WarningDays
				if n.Kind == NoticeRectification {
					days = s.Notices.RectificationDays
				}
			}
			due, err := returnDeadline(strings.TrimSpace(in.Deadline), days, now)
			if err != nil {
				return err
			}
			action, typ, n.Status, n.AnswerDue, rev.Deadline = "returned", eventsv1.TypeNoticeReturned, NoticeReturned, &due, &due
		}
		if err := s.recordStep(ctx, tx, "notice", n.ID, n.Village, p, action, reason, nil, now); err != nil {
			return err
		}
		return s.publish(ctx, tx, uuid.NewString(), typ, n.Village, n.ID, rev)
	})
}

// EscalateNotices escalates every issued or returned notice past the
// deadline of its answer (AnswerBy), once per deadline: it is marked
// escalated, the step recorded and announced (eventsv1.TypeNoticeEscalated),
// and the missed deadline counts in the village's rating
// (OverdueAnswerFact). Safe to run on every replica. It returns how many
// it escalated.
func (s *Service) EscalateNotices(ctx context.Context, limit int) (int, error) {
	n := 0
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		n = 0
		now := s.now()
		due, err := s.queryNotices(ctx, tx, `status IN ('issued', 'returned') AND coalesce(answer_due, deadline) <= $2
			AND (escalated_at IS NULL OR escalated_at < coalesce(answer_due, deadline))
			ORDER BY coalesce(answer_due, deadline), id LIMIT $3 FOR UPDATE SKIP LOCKED`, now, limit)
		if err != nil {
			return err
		}
		for i := range due {
			x := &due[i]
			x.EscalatedAt = &now
			if err := saveNotice(ctx, tx, x); err != nil {
				return err
			}
			if err := s.recordStep(ctx, tx, "notice", x.ID, x.Village, system, "escalated", "逾期未答复", nil, now); err != nil {
				return err
			}
			if _, err := s.ApplyFact(ctx, tx, OverdueAnswerFact("notice", x.ID, x.Village, x.Number, x.AnswerBy())); err != nil {
				return err
			}
			if err := s.publish(ctx, tx, uuid.NewString(), eventsv1.TypeNoticeEscalated, x.Village, x.ID, eventsv1.NoticeEscalated{
				ID: x.ID, Number: x.Number, Kind: string(x.Kind), Village: x.Village, Deadline: x.AnswerBy(), At: now}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
