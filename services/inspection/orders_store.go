package inspection

// Supervision orders (三色督查令) persisted, and interviews (约谈). Orders are
// issued by the town's discipline office (or the district's discipline
// staff covering the town; the issuing role is kept) to a village or one of its cadres,
// numbered from notice_numbers, answered, closed, and escalated when left
// unanswered past their deadline (blue → yellow → red; an overdue red order
// is referred for disciplinary handling). Each issued order, escalations
// included, applies its fact (orders.go Order.Fact) to the village's rating
// in the transaction that records it, and is announced.

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
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// StoredOrder is an order with what only the store knows.
type StoredOrder struct {
	Order
	Response string `json:"response,omitempty"`
	IssuedBy string `json:"issuedBy"`
	// IssuedByRole: town-discipline or district-discipline; empty for an
	// order the escalation issued.
	IssuedByRole string     `json:"issuedByRole,omitempty"`
	ReferredAt   *time.Time `json:"referredAt,omitempty"`
	// Steps are the order's answers and reviews (orders_answers.go).
	Steps []Step `json:"steps,omitempty"`
}

func (s *Service) orderConfig() OrderConfig {
	if s.Orders.Prefix == "" {
		return DefaultOrderConfig()
	}
	return s.Orders
}

func (s *Service) situations() Situations {
	if len(s.Situations.Situations) == 0 {
		return DefaultSituations()
	}
	return s.Situations
}

func (s *Service) desk(ctx context.Context, tx pgx.Tx) *OrderDesk {
	return &OrderDesk{Config: s.orderConfig(), Situations: s.situations(), Numbers: txNumbers{ctx, tx}}
}

// fieldErrors turns the domain's joined FieldErrors into one 422 problem
// listing them all (domainerr's mapping); other errors are returned as
// they are.
func fieldErrors(err error) error {
	var fes domainerr.FieldErrors
	var walk func(error)
	// The walk unwraps by itself to collect every FieldError of a joined
	// tree; errors.As would stop at the first.
	walk = func(e error) {
		if fe, ok := e.(*FieldError); ok { //nolint:errorlint // see above: this node only
			fes = append(fes, fe)
			return
		}
		switch u := e.(type) { //nolint:errorlint // see above: this node's children
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	if len(fes) == 0 {
		return err
	}
	return domainerr.Problems{}.Problem(fes)
}

// IssueOrder issues, records, rates and announces an order.
func (s *Service) IssueOrder(ctx context.Context, by identity.Principal, in OrderRequest) (*StoredOrder, error) {
	now := s.now()
	deadline, errs := in.validate(now)
	unknown, err := s.unregistered(ctx, s.Pool, "village", in.Village)
	if err != nil {
		return nil, err
	}
	if errs = append(errs, unknown...); len(errs) > 0 {
		return nil, httpapi.ValidationFailed(errs...)
	}
	var out *StoredOrder
	err = store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		o, err := s.desk(ctx, tx).NewOrder(OrderInput{Situation: in.Situation, Colour: Colour(in.Colour), Town: s.Town, Village: in.Village,
			CadreID: strings.TrimSpace(in.CadreID), Detail: strings.TrimSpace(in.Detail), Now: now})
		if err != nil {
			return fieldErrors(err)
		}
		if !deadline.IsZero() {
			o.Deadline = deadline
		}
		out = &StoredOrder{Order: *o, IssuedBy: by.IdentityID, IssuedByRole: string(by.Role)}
		return s.recordIssued(ctx, tx, out, by)
	})
	return out, err
}

// recordIssued inserts a new order issued by by, applies its fact, records
// the step and announces it.
func (s *Service) recordIssued(ctx context.Context, tx pgx.Tx, o *StoredOrder, by identity.Principal) error {
	doc, err := json.Marshal(o.Order)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO orders (number, town, year, seq, colour, village, cadre_id, status, issued_at, deadline, issued_by, issued_by_role, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, o.Number, s.Town, o.Year, o.Seq, string(o.Colour), o.Village, o.CadreID,
		string(o.Status), o.IssuedAt, o.Deadline, o.IssuedBy, o.IssuedByRole, doc); err != nil {
		return err
	}
	if _, err := s.ApplyFact(ctx, tx, o.Fact()); err != nil {
		return err
	}
	note := o.SituationName
	if o.EscalatedFrom != "" {
		note = "由逾期未答复的" + o.EscalatedFrom + "升级"
	}
	if err := s.recordStep(ctx, tx, "order", o.Number, o.Village, by, "issued", note, nil, o.IssuedAt); err != nil {
		return err
	}
	return s.publish(ctx, tx, uuid.NewString(), eventsv1.TypeOrderIssued, o.Village, o.Number, eventsv1.OrderIssued{
		Number: o.Number, Colour: string(o.Colour), Situation: o.Situation, Village: o.Village, ToCadre: o.CadreID != "",
		IssuedAt: o.IssuedAt, Deadline: o.Deadline, EscalatedFrom: o.EscalatedFrom, ActorRole: o.IssuedByRole})
}

func saveOrder(ctx context.Context, tx pgx.Tx, o *StoredOrder) error {
	doc, err := json.Marshal(o.Order)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE orders SET status = $2, escalated_to = $3, referred_at = $4, response = $5, doc = $6, answer_due = $7 WHERE number = $1`,
		o.Number, string(o.Status), o.EscalatedTo, o.ReferredAt, o.Response, doc, o.AnswerDue)
	return err
}

// queryOrders reads the town's orders matching where ($1 is the town).
func (s *Service) queryOrders(ctx context.Context, q rowsQuerier, where string, args ...any) ([]StoredOrder, error) {
	rows, err := q.Query(ctx, `SELECT doc, response, issued_by, issued_by_role, referred_at FROM orders WHERE town = $1 AND `+where,
		append([]any{s.Town}, args...)...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredOrder, error) {
		var o StoredOrder
		var doc []byte
		if err := r.Scan(&doc, &o.Response, &o.IssuedBy, &o.IssuedByRole, &o.ReferredAt); err != nil {
			return o, err
		}
		return o, json.Unmarshal(doc, &o.Order)
	})
}

// OrderByNumber returns one of the town's orders.
func (s *Service) OrderByNumber(ctx context.Context, number string) (*StoredOrder, error) {
	list, err := s.queryOrders(ctx, s.Pool, `number = $2`, number)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return &list[0], nil
}

// ActOnOrder records the answer to an order (respond) or accepts it
// (close) on the office's behalf, without evidence: ActOnOrderBy
// (orders_answers.go) with no principal.
func (s *Service) ActOnOrder(ctx context.Context, number, action, text string) (*StoredOrder, error) {
	return s.ActOnOrderBy(ctx, identity.Principal{}, number, action, OrderAction{Response: text})
}

// EscalateOrders escalates every unanswered order past its deadline:
// blue and yellow are replaced by an order of the next colour (issued,
// rated, announced), red is marked overdue and referred. Each is announced
// as escalated, once. Safe to run on every replica.
func (s *Service) EscalateOrders(ctx context.Context, limit int) (int, error) {
	n := 0
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		n = 0
		now := s.now()
		due, err := s.queryOrders(ctx, tx, `(status = 'issued' OR (status = 'overdue' AND escalated_to = '' AND referred_at IS NULL))
			AND coalesce(answer_due, deadline) <= $2 ORDER BY coalesce(answer_due, deadline), number LIMIT $3 FOR UPDATE SKIP LOCKED`, now, limit)
		if err != nil {
			return err
		}
		for i := range due {
			o := &due[i]
			ev := eventsv1.OrderEscalated{Number: o.Number, Colour: string(o.Colour), Village: o.Village, Deadline: o.AnswerBy(), At: now}
			if _, ok := o.Colour.Next(); ok {
				next, _, err := s.desk(ctx, tx).Escalate(&o.Order, now)
				if err != nil {
					return err
				}
				if err := s.recordIssued(ctx, tx, &StoredOrder{Order: *next, IssuedBy: "system:escalation"}, system); err != nil {
					return err
				}
				ev.To, ev.ToColour = next.Number, string(next.Colour)
			} else {
				o.MarkOverdue(now)
				o.Status, o.ReferredAt = OrderOverdue, &now
				ev.Referred = true
				// No order of a next colour deducts for this one: the
				// missed deadline counts as an overdue rectification.
				if _, err := s.ApplyFact(ctx, tx, OverdueAnswerFact("order", o.Number, o.Village, o.Number, o.AnswerBy())); err != nil {
					return err
				}
			}
			if err := saveOrder(ctx, tx, o); err != nil {
				return err
			}
			note := "逾期未答复，升级为" + ev.To
			if ev.Referred {
				note = "逾期未答复，移送纪律审查"
			}
			if err := s.recordStep(ctx, tx, "order", o.Number, o.Village, system, "escalated", note, nil, now); err != nil {
				return err
			}
			if err := s.publish(ctx, tx, uuid.NewString(), eventsv1.TypeOrderEscalated, o.Village, o.Number, ev); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// RecordInterview validates and stores an interview.
func (s *Service) RecordInterview(ctx context.Context, by identity.Principal, in Interview) (*Interview, error) {
	now := s.now()
	errs := in.validate(now)
	if in.OrderNumber != "" {
		if _, err := s.OrderByNumber(ctx, in.OrderNumber); errors.Is(err, ErrNotFound) {
			errs = append(errs, httpapi.FieldError{Field: "orderNumber", Detail: "no such order of this town"})
		} else if err != nil {
			return nil, err
		}
	}
	unknown, err := s.unregistered(ctx, s.Pool, "village", in.Village)
	if err != nil {
		return nil, err
	}
	if errs = append(errs, unknown...); len(errs) > 0 {
		return nil, httpapi.ValidationFailed(errs...)
	}
	iv := in
	iv.ID, iv.RecordedBy, iv.RecordedByRole, iv.RecordedAt = uuid.NewString(), by.IdentityID, string(by.Role), now
	iv.CadreName, iv.Reason, iv.Outcome = strings.TrimSpace(iv.CadreName), strings.TrimSpace(iv.Reason), strings.TrimSpace(iv.Outcome)
	who, err := json.Marshal(iv.Interviewers)
	if err != nil {
		return nil, err
	}
	err = store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO interviews (id, town, village, cadre_id, cadre_name, cadre_post, held_at, interviewers, reason, outcome,
		order_number, recorded_by, recorded_by_role, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			iv.ID, s.Town, iv.Village, iv.CadreID, iv.CadreName, iv.CadrePost, iv.HeldAt, who, iv.Reason, iv.Outcome, iv.OrderNumber, iv.RecordedBy,
			iv.RecordedByRole, iv.RecordedAt); err != nil {
			return err
		}
		return s.publish(ctx, tx, uuid.NewString(), eventsv1.TypeInterviewRecorded, iv.Village, iv.ID, eventsv1.InterviewRecorded{
			InterviewID: iv.ID, Village: iv.Village, HeldAt: iv.HeldAt, OrderNumber: iv.OrderNumber, ActorRole: iv.RecordedByRole})
	})
	if err != nil {
		return nil, err
	}
	return &iv, nil
}

// Interviews lists the town's interviews matching where ($1 is the town).
func (s *Service) Interviews(ctx context.Context, where string, args ...any) ([]Interview, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id::text, village, cadre_id, cadre_name, cadre_post, held_at, interviewers, reason, outcome,
		order_number, recorded_by, recorded_by_role, recorded_at FROM interviews WHERE town = $1 AND `+where+` ORDER BY held_at DESC, id LIMIT 500`,
		append([]any{s.Town}, args...)...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Interview, error) {
		var iv Interview
		var who []byte
		if err := r.Scan(&iv.ID, &iv.Village, &iv.CadreID, &iv.CadreName, &iv.CadrePost, &iv.HeldAt, &who, &iv.Reason, &iv.Outcome,
			&iv.OrderNumber, &iv.RecordedBy, &iv.RecordedByRole, &iv.RecordedAt); err != nil {
			return iv, err
		}
		return iv, json.Unmarshal(who, &iv.Interviewers)
	})
}

// ListFilter narrows a list of orders or interviews: to a village, a year
// (in Shanghai time) and, for orders, a status, when set.
type ListFilter struct {
	Village string
	Year    int
	Status  string
}

// where builds the condition (after $1, the town) for a table whose time
// column is col.
func (f ListFilter) where(col string) (string, []any) {
	where, args := "true", []any{}
	if f.Village != "" {
		args = append(args, f.Village)
		where += fmt.Sprintf(" AND village = $%d", len(args)+1)
	}
	if f.Year > 0 {
		args = append(args, f.Year)
		where += fmt.Sprintf(" AND extract(year FROM %s AT TIME ZONE 'Asia/Shanghai') = $%d", col, len(args)+1)
	}
	if f.Status != "" {
		args = append(args, f.Status)
		where += fmt.Sprintf(" AND status = $%d", len(args)+1)
	}
	return where, args
}

// ListOrders lists the town's orders, newest first (at most 500).
func (s *Service) ListOrders(ctx context.Context, f ListFilter) ([]StoredOrder, error) {
	where, args := f.where("issued_at")
	return s.queryOrders(ctx, s.Pool, where+" ORDER BY issued_at DESC, number LIMIT 500", args...)
}

// ListInterviews lists the town's interviews, newest first (at most 500);
// the filter's status does not apply.
func (s *Service) ListInterviews(ctx context.Context, f ListFilter) ([]Interview, error) {
	f.Status = ""
	where, args := f.where("held_at")
	return s.Interviews(ctx, where, args...)
}

// InterviewByID returns one of the town's interviews.
func (s *Service) InterviewByID(ctx context.Context, id string) (*Interview, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrNotFound
	}
	list, err := s.Interviews(ctx, "id = $2", id)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return &list[0], nil
}
