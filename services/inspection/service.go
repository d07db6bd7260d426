package inspection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/platform"
)

// Service keeps the town's village ratings: every fact it learns (an event
// it consumed) is applied in the transaction that records it, which also
// stores the new rating, the change of grade and the notice it brings, and
// enqueues their events, so that none of them can exist without the others.
type Service struct {
	Rules   Rules
	Notices NoticeConfig
	Pool    *pgxpool.Pool
	// Town is the town's code, TownName its name (溪口镇), which signs
	// notices unless Notices.TownIssuer is set.
	Town     string
	TownName string
	// VillageNames maps village codes to names (岩头村), for villages the
	// registry (registry.go) does not name; notices are addressed by the
	// registry's name, else this one, else the code.
	VillageNames map[string]string
	// Orders and Situations configure supervision orders (defaults when
	// zero: DefaultOrderConfig, DefaultSituations).
	Orders     OrderConfig
	Situations Situations
	Log        *slog.Logger
	Now        func() time.Time

	// Integrity configures integrity files, selection checks, cross-checks
	// and PDF notices (integrity.go).
	Integrity IntegrityConfig

	// DistrictWide is set when the instance runs the district projection
	// (DistrictFeed): the district overview then shows every town to
	// district staff. Unset, it shows this town only.
	DistrictWide bool
	// DistrictViewTown, set on an instance without the projection, names
	// the town whose instance runs it: district staff asking here for the
	// overview are sent there (a 409 naming it) instead of being shown
	// this town as if it were the district.
	DistrictViewTown string

	// AuditKey is the town's audit key (WUXIAO_AUDIT_KEY), with which the
	// workflow's audit chain is verified (anchors.go).
	AuditKey []byte
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Service) topic() string { return eventsv1.Topic(s.Town, eventsv1.StreamInspection) }

// Applied is what applying a fact did.
type Applied struct {
	// New is false when the fact was known already: nothing changed.
	New    bool
	Rating Rating
	// Change is the change of grade, if any; Notice the draft of the notice
	// it brought (unsigned: see notice_lifecycle.go), NoticeID its id.
	Change   *GradeChange
	Notice   *Notice
	NoticeID string
}

// ApplyFact records a fact and rerates its village for the fact's period,
// all in tx: a fact already recorded (same id) changes nothing. When the
// grade changes, the change is recorded and announced
// (eventsv1.TypeRatingChanged), and a fall to C or D drafts a notice,
// stored with its HTML and announced (eventsv1.TypeNoticeDrafted), for the
// town's discipline office to sign or dismiss (notice_lifecycle.go).
func (s *Service) ApplyFact(ctx context.Context, tx pgx.Tx, f Fact) (Applied, error) {
	if err := f.check(); err != nil {
		return Applied{}, err
	}
	period := s.Rules.PeriodOf(f.At)
	read, err := recordFact(ctx, tx, s.Town, f, period) // lock, insert, facts, rating: one round trip (apply_read.go)
	if err != nil || !read.fresh {
		return Applied{}, err
	}
	now := s.now()
	next := Rate(s.Rules, f.Village, period, read.facts)
	if err := saveRating(ctx, tx, next, now); err != nil {
		return Applied{}, err
	}
	return s.recordChange(ctx, txWriter{s, tx}, f, next, Diff(read.previous, next), now)
}

// check refuses a fact ApplyFact cannot record.
func (f Fact) check() error {
	switch {
	case f.ID == "":
		return errors.New("fact has no id")
	case f.Village == "":
		return fmt.Errorf("fact %s has no village", f.ID)
	case f.Kind == "":
		return fmt.Errorf("fact %s has no kind", f.ID)
	case f.At.IsZero():
		return fmt.Errorf("fact %s has no time", f.ID)
	}
	return nil
}

// recordChange records, through w, the change of grade ch (nil: none)
// that the new fact f brought when it rated its village next: the change
// and its event, and for a fall to C or D the notice's draft and its
// event. Both ApplyFact and a consumer's batch (apply_batch.go) write
// with it, so that they write the same.
func (s *Service) recordChange(ctx context.Context, w applyWriter, f Fact, next Rating, ch *GradeChange, now time.Time) (Applied, error) {
	out := Applied{New: true, Rating: next, Change: ch}
	if ch == nil {
		return out, nil
	}
	period := next.Period
	changeID := uuid.NewString()
	if err := insertGradeChange(ctx, w, changeID, ch, now); err != nil {
		return Applied{}, err
	}
	because := make([]eventsv1.RatingFactRef, len(ch.Because))
	for i, c := range ch.Because {
		because[i] = eventsv1.RatingFactRef{FactID: c.Fact.ID, Kind: string(c.Fact.Kind), Subkind: c.Fact.Subkind, Points: c.Points, Ref: c.Fact.Ref}
	}
	if err := s.publishTo(ctx, w, changeID, eventsv1.TypeRatingChanged, ch.Village, period.String(), eventsv1.RatingChanged{
		Village: ch.Village, Period: period.String(), From: string(ch.From), To: string(ch.To),
		FromPoints: ch.FromPoints, Points: ch.ToPoints, At: ch.At, Because: because}); err != nil {
		return Applied{}, err
	}
	if _, ok := NoticeFor(ch); !ok {
		traceGradeChange(ctx, f, ch, "")
		return out, nil
	}
	name, err := s.villageName(ctx, w, f.Village)
	if err != nil {
		return Applied{}, err
	}
	n, err := DraftNotice(s.Notices, ch, next, Addressee{Village: f.Village, VillageName: name, Town: s.Town, TownName: s.TownName}, now)
	if err != nil {
		return Applied{}, err
	}
	n.Issuers = s.issuers()
	n.Text = n.plainText()
	id, err := s.insertDraft(ctx, w, n, changeID, now) // notice_lifecycle.go: signed or dismissed by the office
	if err != nil {
		return Applied{}, err
	}
	out.NoticeID = id
	out.Notice = n
	traceGradeChange(ctx, f, ch, id)
	s.log().Info("notice drafted", "id", id, "kind", n.Kind, "village", n.Village, "grade", n.Grade, "points", n.Points)
	return out, nil
}

func (s *Service) publish(ctx context.Context, tx pgx.Tx, id, typ, village, subject string, data any) error {
	return s.publishTo(ctx, txWriter{s, tx}, id, typ, village, subject, data)
}

// HandleWorkflowEvent is the events.Handler of the workflow stream: a
// violation warning becomes a fact of its village's rating, an audit
// anchor is kept (anchors.go); other events are ignored.
func (s *Service) HandleWorkflowEvent(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	if ev.Type == eventsv1.TypeAuditAnchored {
		return s.handleAuditAnchor(ctx, tx, ev) // anchors_store.go
	}
	f, ok, err := s.workflowFact(ev)
	if err != nil || !ok {
		return err
	}
	_, err = s.ApplyFact(ctx, tx, f)
	return err
}

// workflowFact is the fact a workflow event brings: a violation warning's
// (ok false for other events).
func (s *Service) workflowFact(ev eventsv1.Event) (f Fact, ok bool, err error) {
	if ev.Type != eventsv1.TypeWarningRaised {
		return Fact{}, false, nil
	}
	if err := s.ownTown(ev); err != nil {
		return Fact{}, false, err
	}
	var w eventsv1.WarningRaised
	if err := ev.Decode(&w); err != nil {
		return Fact{}, false, events.Permanent(err)
	}
	if ev.Village == "" {
		return Fact{}, false, events.Permanent(fmt.Errorf("warning %s has no village", ev.ID))
	}
	if w.RaisedAt.IsZero() {
		w.RaisedAt = ev.Time
	}
	return WarningFact(ev.ID, ev.Village, w), true, nil
}

// ownTown refuses (Permanent: dead-lettered) an event about another town:
// a town's facts come from its own streams only, and one naming another
// town would otherwise move this town's ratings.
func (s *Service) ownTown(ev eventsv1.Event) error {
	if ev.Town != s.Town {
		return events.Permanent(fmt.Errorf("event %s (%s) is about town %q, not %q", ev.ID, ev.Type, ev.Town, s.Town))
	}
	return nil
}

// HandleWorkflowEvent is an events.Handler.
var _ events.Handler = (*Service)(nil).HandleWorkflowEvent

// RatingOf returns the stored rating of a village for a period; a village
// without facts has the initial rating.
func (s *Service) RatingOf(ctx context.Context, village string, p Period) (Rating, error) {
	r, ok, err := loadRating(ctx, s.Pool, village, p)
	if err != nil {
		return Rating{}, err
	}
	if !ok {
		return s.Rules.Initial(village, p), nil
	}
	return r, nil
}

// escalationBatch is how many records one escalation transaction handles.
const escalationBatch = 100

// EscalationLoop runs the escalations of rectifications, supervision
// orders and notices every interval until ctx ends; failures are logged and retried at
// the next tick. For platform.Run's loops.
func (s *Service) EscalationLoop(interval time.Duration) func(context.Context) error {
	return platform.Every(interval, s.escalateAll)
}

func (s *Service) escalateAll(ctx context.Context) {
	for what, fn := range map[string]func(context.Context, int) (int, error){
		"rectifications": s.EscalateRectifications, "orders": s.EscalateOrders, "notices": s.EscalateNotices} {
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
