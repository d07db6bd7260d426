package inspection

// Findings and rectification tasks stored: each change in one transaction
// with the rating fact it brings and its event.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

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
		Description: strings.TrimSpace(in.Description), Severity: in.Severity, RaisedBy: by.IdentityID, RaisedByRole: string(by.Role), RaisedAt: now}
	var applied Applied
	err = store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO findings (id, tour_id, town, village, category, description, severity, raised_by, raised_by_role, raised_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, f.ID, f.TourID, s.Town, f.Village, f.Category, f.Description, f.Severity, f.RaisedBy, f.RaisedByRole, f.RaisedAt); err != nil {
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
			FindingID: f.ID, TourID: f.TourID, Village: f.Village, Category: f.Category, Severity: f.Severity, Tasks: len(in.Tasks), RaisedAt: f.RaisedAt,
			ActorRole: f.RaisedByRole})
	})
	if err != nil {
		return nil, Applied{}, err
	}
	f, err = s.FindingByID(ctx, f.ID)
	return f, applied, err
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
func (s *Service) queryTasks(ctx context.Context, q rowsQuerier, where string, args ...any) ([]RectificationTask, error) {
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
	rows, err := s.Pool.Query(ctx, `SELECT f.id::text, f.tour_id::text, f.village, f.category, f.description, f.severity, f.raised_by, f.raised_by_role, f.raised_at
		FROM findings f WHERE f.town = $1 AND `+where+` ORDER BY f.raised_at DESC, f.id LIMIT 500`, append([]any{s.Town}, args...)...)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Finding, error) {
		var f Finding
		err := r.Scan(&f.ID, &f.TourID, &f.Village, &f.Category, &f.Description, &f.Severity, &f.RaisedBy, &f.RaisedByRole, &f.RaisedAt)
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

// FindingsOf lists the town's findings of a village, else of a tour,
// else all, newest first (at most 500), with their tasks.
func (s *Service) FindingsOf(ctx context.Context, village, tour string) ([]Finding, error) {
	switch {
	case village != "":
		return s.Findings(ctx, "f.village = $2", village)
	case tour != "":
		return s.Findings(ctx, "f.tour_id = $2", tour)
	}
	return s.Findings(ctx, "true")
}

// Tasks lists the town's rectification tasks, of a village and in a status
// when given, by deadline (at most 500).
func (s *Service) Tasks(ctx context.Context, village, status string) ([]RectificationTask, error) {
	where, args := "true", []any{}
	if village != "" {
		where, args = "k.village = $2", []any{village}
	}
	if status != "" {
		args = append(args, status)
		where += fmt.Sprintf(" AND k.status = $%d", len(args)+1)
	}
	return s.queryTasks(ctx, s.Pool, where+" ORDER BY k.deadline, k.id LIMIT 500", args...)
}

// TaskByID returns one of the town's rectification tasks.
func (s *Service) TaskByID(ctx context.Context, id string) (*RectificationTask, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrNotFound
	}
	list, err := s.queryTasks(ctx, s.Pool, "k.id = $2", id)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return &list[0], nil
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
		onTime, err := t.act(action, in, by, s.canRunInspection(by), s.now())
		if err != nil {
			return err
		}
		if onTime {
			if _, err := s.ApplyFact(ctx, tx, RectificationFact(t, RectificationOnTime, *t.SubmittedAt)); err != nil {
				return err
			}
		}
		if err := saveTask(ctx, tx, t); err != nil {
			return err
		}
		out = t
		return nil
	})
	return out, err
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
