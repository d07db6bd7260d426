package inspection

// Orders answered by the village they address: its secretary, director or
// supervision chair responds with the rectification report and evidence
// (or the office records a response on its behalf, as before); the office
// closes (accepts) the order or returns the answer with a reason, after
// which the order waits for an answer again and escalates if its deadline
// has passed (EscalateOrders). Every move is a step of supervision_steps
// and an event, like the notices' (notice_lifecycle.go).

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// OrderAction is the body of a move of an order.
type OrderAction struct {
	// Response is the answer's report (respond).
	Response string `json:"response,omitempty"`
	// Evidence of the answer (respond): required when the village answers.
	Evidence []AnswerEvidence `json:"evidence,omitempty"`
	// Reason of a return.
	Reason string `json:"reason,omitempty"`
	// Deadline of the answer after a return, a day after today
	// (2026-05-31); default: the colour's answer period from the return.
	Deadline string `json:"deadline,omitempty"`
}

// canSeeOrder: the inspection readers, and officials of the addressed
// village.
func (s *Service) canSeeOrder(p identity.Principal, o *StoredOrder) bool {
	return s.canReadInspection(p) || (p.Role.IsVillageRole() && p.CanReadVillage(s.Town, o.Village))
}

// ActOnOrderBy makes a move of an order by p: respond (the village's
// answering officials, or the town's discipline office), close or return
// (the office). A zero p is the office acting through ActOnOrder.
func (s *Service) ActOnOrderBy(ctx context.Context, p identity.Principal, number, action string, in OrderAction) (*StoredOrder, error) {
	var out *StoredOrder
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		list, err := s.queryOrders(ctx, tx, `number = $2 FOR UPDATE`, number)
		if err != nil {
			return err
		}
		if len(list) == 0 || (p.Role != "" && !s.canSeeOrder(p, &list[0])) {
			return ErrNotFound
		}
		o := &list[0]
		office := p.Role == "" || s.canRunInspection(p)
		now := s.now()
		var step, note, typ string
		var evidence []AnswerEvidence
		switch action {
		case "respond":
			if !office && !s.canAnswer(p, o.Village) {
				return httpapi.Forbidden("the village's secretary, director or supervision chair answers its orders")
			}
			in.Response = strings.TrimSpace(in.Response)
			if in.Response == "" {
				return httpapi.ValidationFailed(httpapi.FieldError{Field: "response", Detail: "is required"})
			}
			if errs := httpapi.TooLong(httpapi.Limit("response", in.Response, maxNote)); len(errs) > 0 {
				return httpapi.ValidationFailed(errs...)
			}
			if !office || len(in.Evidence) > 0 {
				a, err := s.checkAnswer(ctx, tx, "order", o.Number, Answer{Report: in.Response, Evidence: in.Evidence})
				if err != nil {
					return err
				}
				evidence = a.Evidence
			}
			if o.ReferredAt != nil {
				return httpapi.Conflict("order " + o.Number + " was referred for disciplinary handling")
			}
			if err := o.Respond(now); err != nil {
				return httpapi.Conflict(err.Error())
			}
			o.Response, step, note, typ = in.Response, "answered", in.Response, eventsv1.TypeOrderAnswered
		case "close", "return":
			if !office {
				return httpapi.Forbidden("only discipline staff (the town's office or the district's) accept or return answers to orders")
			}
			if action == "close" {
				if err := o.Close(now); err != nil {
					return httpapi.Conflict(err.Error())
				}
				step, typ = "accepted", eventsv1.TypeOrderAccepted
				break
			}
			note = strings.TrimSpace(in.Reason)
			if prob := reasonProblem(note, "a return"); prob != nil {
				return prob
			}
			if o.Status != OrderResponded {
				return httpapi.Conflict(ErrOrderState.Error() + ": order " + o.Number + " is " + string(o.Status) + ", only a responded order is returned")
			}
			// Waiting for an answer again, by a new deadline counted from
			// the return: past it, the next escalation run escalates it.
			due, err := returnDeadline(strings.TrimSpace(in.Deadline), s.orderConfig().Days[o.Colour], now)
			if err != nil {
				return err
			}
			o.Status, o.RespondedAt, o.AnswerDue, step, typ = OrderIssued, nil, &due, "returned", eventsv1.TypeOrderReturned
		default:
			return ErrNotFound
		}
		if err := saveOrder(ctx, tx, o); err != nil {
			return err
		}
		if err := s.recordStep(ctx, tx, "order", o.Number, o.Village, p, step, note, evidence, now); err != nil {
			return err
		}
		if typ == eventsv1.TypeOrderAnswered {
			err = s.publish(ctx, tx, uuid.NewString(), typ, o.Village, o.Number, eventsv1.NoticeAnswered{
				Number: o.Number, Village: o.Village, Evidence: len(evidence), Late: now.After(o.AnswerBy()), Deadline: o.AnswerBy(), At: now})
		} else {
			rev := eventsv1.NoticeReviewed{Number: o.Number, Village: o.Village, Reason: note, At: now, ActorRole: string(p.Role)}
			if step == "returned" {
				rev.Deadline = o.AnswerDue
			}
			err = s.publish(ctx, tx, uuid.NewString(), typ, o.Village, o.Number, rev)
		}
		if err != nil {
			return err
		}
		out = o
		return nil
	})
	if err == nil && out != nil {
		out.Steps, err = steps(ctx, s.Pool, "order", out.Number)
	}
	return out, err
}

// orderSteps fills the steps of listed orders.
func (s *Service) orderSteps(ctx context.Context, list []StoredOrder) error {
	for i := range list {
		var err error
		if list[i].Steps, err = steps(ctx, s.Pool, "order", list[i].Number); err != nil {
			return err
		}
	}
	return nil
}
