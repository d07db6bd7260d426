package complaint

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// Service keeps a town's complaints: every action is one transaction that
// changes the complaint, records the transition and enqueues its event.
type Service struct {
	Pool *pgxpool.Pool
	Town string
	Log  *slog.Logger
	Now  func() time.Time

	metrics *metrics // set by Instrument (metrics.go)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) topic() string { return eventsv1.Topic(s.Town, eventsv1.StreamComplaint) }

// Receipt is what the reporter gets back once: the tracking code for the
// public status page and the secret for feedback. The secret is not stored.
type Receipt struct {
	ID           string `json:"id"`
	TrackingCode string `json:"trackingCode"`
	Secret       string `json:"secret"`
}

// File takes a complaint from the QR page; reporter is nil when anonymous.
func (s *Service) File(ctx context.Context, in Intake, reporter *Reporter) (Receipt, error) {
	now := s.now()
	if reporter != nil && reporter.ID == "" {
		reporter = nil
	}
	c, err := New(s.Town, in, reporter, now)
	if err != nil {
		return Receipt{}, err
	}
	secret, hash := NewSecret()
	c.ID, c.SecretHash, c.Version = uuid.NewString(), hash, 1
	c.TraceParent = traceParentOf(ctx)          // the lifecycle's trace (trace.go)
	c.Attachments = slices.Clone(c.Attachments) // the URLs below are this complaint's
	for i := range c.Attachments {
		if c.Attachments[i].Stored {
			c.Attachments[i].URL = AttachmentURL(c.ID, i+1)
		}
	}
	for attempt := 0; ; attempt++ {
		c.TrackingCode = NewTrackingCode(c.Village)
		err = store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
			if err := refuseArchived(ctx, tx, c.Village); err != nil {
				return err
			}
			if c.PostingID != "" { // an objection (objection.go)
				p, err := postingOf(ctx, tx, c.Village, c.PostingID)
				if err != nil {
					return err
				}
				if p != nil {
					c.PostingTitle = p.Label()
				}
			}
			if err := insertComplaint(ctx, tx, c); err != nil {
				return err
			}
			if err := insertAttachments(ctx, tx, c); err != nil {
				return err
			}
			return s.publish(ctx, tx, c, eventsv1.TypeComplaintFiled, eventsv1.ComplaintFiled{
				ComplaintRef: ref(c), FiledAt: now, DueAt: *c.DueAt, PostingID: c.PostingID})
		})
		if err == nil || attempt >= 3 || !strings.Contains(err.Error(), "tracking_code") {
			break // retry only a (very unlikely) tracking code collision
		}
	}
	if err != nil {
		return Receipt{}, fmtErr("filing complaint", err)
	}
	return Receipt{ID: c.ID, TrackingCode: c.TrackingCode, Secret: secret}, nil
}

// Act applies a staff action. The actor must see the complaint (ViewFor)
// and may act on it (Apply). It returns the actor's view.
func (s *Service) Act(ctx context.Context, actor Actor, id string, act Action) (*Complaint, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrNotFound
	}
	if actor.Role == RoleReporter {
		return nil, domainerr.Refuse(403, "forbidden", "Not allowed", "the reporter gives feedback with the tracking code and secret")
	}
	var view *Complaint
	var late []Status // a missed deadline the escalation job has not seen yet
	err := s.change(ctx, "id = $1", id, func(spans *txSpans, tx pgx.Tx, c *Complaint) error {
		late = nil
		if _, ok := ViewFor(actor, c); !ok {
			return ErrNotFound
		}
		if e, ok := Overdue(c, s.now()); ok {
			late = []Status{e.Stage}
		}
		if err := s.apply(ctx, spans, tx, c, act, actor); err != nil {
			return err
		}
		view, _ = ViewFor(actor, c)
		return nil
	})
	if err == nil {
		s.metrics.breached(ctx, late, false)
	}
	return view, fmtErr("acting on complaint", err)
}

// Feedback is the reporter's verdict on a resolution, proven by the secret.
// A wrong code or secret is refused alike (404), revealing nothing.
func (s *Service) Feedback(ctx context.Context, code, secret string, satisfied bool, comment string) (PublicView, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	var pv PublicView
	if !ValidTrackingCode(code) {
		return pv, ErrNotFound
	}
	act := Action{Type: ActionFeedbackUnsatisfied, Reason: comment}
	if satisfied {
		act.Type = ActionFeedbackSatisfied
	}
	err := s.change(ctx, "tracking_code = $1", code, func(spans *txSpans, tx pgx.Tx, c *Complaint) error {
		if !CheckSecret(c.SecretHash, secret) {
			return ErrNotFound
		}
		if err := s.apply(ctx, spans, tx, c, act, Actor{Role: RoleReporter}); err != nil {
			return err
		}
		pv = PublicViewOf(c)
		return nil
	})
	return pv, fmtErr("recording feedback", err)
}

// AddNote adds a status note; public ones show on the tracking page.
func (s *Service) AddNote(ctx context.Context, actor Actor, id, body string, public bool) error {
	body = strings.TrimSpace(body)
	if body == "" || len([]rune(body)) > 2000 {
		return domainerr.Refuse(400, "invalid-request", "Invalid note", "a note needs 1 to 2000 characters")
	}
	if _, err := uuid.Parse(id); err != nil {
		return ErrNotFound
	}
	return fmtErr("adding note", s.change(ctx, "id = $1", id, func(_ *txSpans, tx pgx.Tx, c *Complaint) error {
		if _, ok := ViewFor(actor, c); !ok {
			return ErrNotFound
		}
		if !staffMayAct(actor, c) && !actor.IsDiscipline() {
			return domainerr.Refuse(403, "forbidden", "Not allowed", "only the staff handling the complaint add notes")
		}
		n := StatusNote{At: s.now(), Role: actor.Role, Body: body, Public: public}
		c.Notes = append(c.Notes, n)
		return insertNote(ctx, tx, c.ID, len(c.Notes), actor.ID, n)
	}))
}

// change loads a complaint under lock, lets fn change it and saves it. The
// spans fn starts (spans.add) end once the transaction has committed, or
// with its error.
func (s *Service) change(ctx context.Context, where string, arg any, fn func(*txSpans, pgx.Tx, *Complaint) error) error {
	var spans txSpans
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		spans.end(errRetried) // a previous attempt's, rolled back
		c, err := loadComplaint(ctx, tx, where, arg, true)
		if err != nil {
			return err
		}
		if err := fn(&spans, tx, c); err != nil {
			return err
		}
		return saveComplaint(ctx, tx, c, s.now())
	})
	if errors.Is(err, errConflict) {
		err = domainerr.Refuse(409, "conflict", "Changed meanwhile", "the complaint changed meanwhile; reload and try again")
	}
	spans.end(err)
	return err
}

// txSpans are the transition spans of a transaction: they end after it
// commits (or fails), so no span reports a transition that was rolled back
// as done.
type txSpans []trace.Span

var errRetried = errors.New("transaction rolled back and retried")

func (p *txSpans) add(s trace.Span) { *p = append(*p, s) }

// end ends the spans, as failed when err is not nil.
func (p *txSpans) end(err error) {
	for _, s := range *p {
		if err != nil {
			s.RecordError(err)
			s.SetStatus(codes.Error, err.Error())
		}
		s.End()
	}
	*p = (*p)[:0]
}

func (s *Service) apply(ctx context.Context, spans *txSpans, tx pgx.Tx, c *Complaint, act Action, actor Actor) error {
	now := s.now()
	tr, err := Apply(c, act, actor, now)
	if err != nil {
		return err
	}
	ctx, span := startTransition(ctx, c, act.Type)
	spans.add(span)
	if tr.Outcome != "" {
		span.SetAttributes(attribute.String(AttrOutcome, string(tr.Outcome)))
	}
	return s.record(ctx, tx, c, act, tr, now)
}

// record stores an applied transition and enqueues its event.
func (s *Service) record(ctx context.Context, tx pgx.Tx, c *Complaint, act Action, tr Transition, now time.Time) error {
	if err := insertTransition(ctx, tx, c.ID, len(c.History), tr); err != nil {
		return err
	}
	decided := eventsv1.ComplaintDecided{ComplaintRef: ref(c), ActorID: tr.ActorID, ActorRole: tr.Role, Reason: tr.Reason,
		Outcome: string(tr.Outcome), At: now, DueAt: c.DueAt}
	switch {
	case act.Type == ActionAccept:
		return s.publish(ctx, tx, c, eventsv1.TypeComplaintAccepted, decided)
	case act.Type == ActionReject:
		return s.publish(ctx, tx, c, eventsv1.TypeComplaintRejected, decided)
	case act.Type == ActionResolve:
		return s.publish(ctx, tx, c, eventsv1.TypeComplaintResolved, decided)
	case tr.To == StatusInvestigating && tr.From == StatusResolved:
		return s.publish(ctx, tx, c, eventsv1.TypeComplaintReopened, eventsv1.ComplaintReopened{ComplaintRef: ref(c), At: now, DueAt: *c.DueAt})
	}
	return nil
}

// Escalate publishes an escalation for every complaint whose stage is past
// its deadline, once per stage and round. Safe to run on every replica.
// It walks all overdue complaints in pages of limit (a cursor on id, one
// transaction per page): a page of complaints that were escalated already
// must not hide the ones after it, which it did while every run read only
// the first limit overdue complaints by id.
func (s *Service) Escalate(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = 100
	}
	total, after := 0, ""
	for {
		n, last, rows, err := s.escalatePage(ctx, after, limit)
		total += n
		if err != nil || rows < limit {
			return total, err
		}
		after = last
	}
}

// escalatePage escalates the overdue complaints among the first limit
// (by id) after the id after; it returns how many it escalated, the last id
// it read and how many rows it read.
func (s *Service) escalatePage(ctx context.Context, after string, limit int) (n int, last string, read int, _ error) {
	var spans txSpans
	var stages []Status
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		n, last, read, stages = 0, after, 0, nil
		spans.end(errRetried)
		now := s.now()
		due, err := lockOverdue(ctx, tx, now, limit, after)
		if err != nil {
			return err
		}
		read = len(due)
		for _, c := range due {
			last = c.ID
			e, ok := Overdue(c, now)
			if !ok {
				continue
			}
			c.Escalated = append(c.Escalated, e)
			if err := saveComplaint(ctx, tx, c, c.UpdatedAt); err != nil {
				return err
			}
			sctx, span := startTransition(ctx, c, ActionEscalate)
			spans.add(span)
			if err := s.publish(sctx, tx, c, eventsv1.TypeComplaintEscalated, eventsv1.ComplaintEscalated{ComplaintRef: ref(c),
				Stage: string(e.Stage), Round: e.Round, DueAt: e.DueAt, At: now}); err != nil {
				return err
			}
			n++
			stages = append(stages, e.Stage)
		}
		return nil
	})
	spans.end(err)
	if err == nil {
		s.metrics.breached(ctx, stages, true)
	}
	return n, last, read, fmtErr("escalating", err)
}

// Get returns viewer's view of a complaint (ErrNotFound when hidden).
func (s *Service) Get(ctx context.Context, viewer Actor, id string) (*Complaint, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrNotFound
	}
	cs, err := complaintsByID(ctx, s.Pool, id)
	if err != nil {
		return nil, fmtErr("reading complaint", err)
	}
	if len(cs) == 0 {
		return nil, ErrNotFound
	}
	v, ok := ViewFor(viewer, cs[0])
	if !ok {
		return nil, ErrNotFound
	}
	return v, nil
}

// Attachment returns the n-th (1-based) stored file of a complaint to a
// viewer who may see the complaint (ViewFor); the read is audited. Hidden
// complaints and missing files are ErrNotFound alike.
func (s *Service) Attachment(ctx context.Context, viewer Actor, id string, n int) (Attachment, error) {
	c, err := s.Get(ctx, viewer, id)
	if err != nil {
		return Attachment{}, err
	}
	if n < 1 || n > len(c.Attachments) || !c.Attachments[n-1].Stored {
		return Attachment{}, ErrNotFound
	}
	a, err := readAttachment(ctx, s.Pool, c.ID, n, viewer, s.now())
	return a, fmtErr("reading attachment", err)
}

// Track is the public view by tracking code.
func (s *Service) Track(ctx context.Context, code string) (PublicView, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if !ValidTrackingCode(code) {
		return PublicView{}, ErrNotFound
	}
	cs, err := complaintsByCode(ctx, s.Pool, code)
	if err != nil {
		return PublicView{}, fmtErr("reading complaint", err)
	}
	if len(cs) == 0 {
		return PublicView{}, ErrNotFound
	}
	return PublicViewOf(cs[0]), nil
}

// List returns viewer's views of a village's complaints (all villages of
// the town when village is empty), newest first, leaving out what the
// viewer may not see.
func (s *Service) List(ctx context.Context, viewer Actor, village string, limit int) ([]*Complaint, error) {
	// Village officials never even load their village's cadre-conduct
	// complaints; ViewFor below is the rule, this only narrows the query.
	excludeCadre := !viewer.IsDiscipline() && viewer.Role != RoleLiaisonOfficer && viewer.Village != ""
	cs, err := listComplaints(ctx, s.Pool, s.Town, village, excludeCadre, limit)
	if err != nil {
		return nil, fmtErr("listing complaints", err)
	}
	out := []*Complaint{}
	for _, c := range cs {
		if v, ok := ViewFor(viewer, c); ok {
			out = append(out, v)
		}
	}
	return out, nil
}

func (s *Service) publish(ctx context.Context, tx pgx.Tx, c *Complaint, typ string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return events.Enqueue(ctx, tx, s.topic(), eventsv1.Event{
		ID: uuid.NewString(), Source: "/towns/" + s.Town + "/complaint", Type: typ, Subject: c.ID,
		Time: s.now().UTC(), Town: c.Town, Village: c.Village, Data: raw,
	})
}

func ref(c *Complaint) eventsv1.ComplaintRef {
	return eventsv1.ComplaintRef{ComplaintID: c.ID, Category: string(c.Category)}
}

// Report is the statistics of the complaints a viewer may see, filed in
// [From, To), with the recurring issues among them.
type Report struct {
	From      time.Time    `json:"from"`
	To        time.Time    `json:"to"`
	Stats     Statistics   `json:"stats"`
	Recurring []Recurrence `json:"recurring"`
}

// Statistics counts the complaints viewer may see filed in [from, to) and
// finds villages×categories with at least threshold complaints within window.
func (s *Service) Statistics(ctx context.Context, viewer Actor, from, to time.Time, window time.Duration, threshold int) (Report, error) {
	cs, err := complaintsFiled(ctx, s.Pool, s.Town, from, to)
	if err != nil {
		return Report{}, fmtErr("counting complaints", err)
	}
	visible := cs[:0]
	for _, c := range cs {
		if _, ok := ViewFor(viewer, c); ok {
			visible = append(visible, c)
		}
	}
	rec := Recurring(visible, window, threshold)
	if rec == nil {
		rec = []Recurrence{}
	}
	return Report{From: from, To: to, Stats: Stats(visible), Recurring: rec}, nil
}
