package inspection

// Complaint facts: the complaint service's stream feeds villages' ratings.
//
// The mapping is:
//
//	complaint.accepted  → fact complaint/accepted (受理), 0 points: the
//	                      complaint is on the village's record, but taking it
//	                      up proves nothing yet.
//	complaint.resolved  → fact complaint/<outcome>, the outcome the
//	                      investigator gave (ComplaintDecided.Outcome):
//	                      substantiated (属实, −5), partly-substantiated
//	                      (部分属实, −3), unsubstantiated (不属实, 0).
//	                      Events published before the field existed carry
//	                      only the summary (Reason), read as before:
//	                      "部分属实" → partly, "不属实"/"查无实据"/"失实" →
//	                      unsubstantiated, "属实" → substantiated; a summary
//	                      naming none of them → complaint/resolved, which
//	                      the rules do not rate (0 points, marked unrated),
//	                      so that nobody loses points on a guess. An outcome
//	                      this service does not know (a newer complaint
//	                      service) is an error, and the event goes to the
//	                      dead-letter topic: recorded unrated, its fact id
//	                      would be taken, and a version that knows the
//	                      outcome could never rate it.
//	filed, rejected, escalated, reopened → ignored.
//
// Fact ids are "complaint:<complaintId>:accepted" and
// "complaint:<complaintId>:resolved": a redelivered event, or the same
// decision published twice, counts once. A complaint reopened and resolved
// again keeps its first resolution's outcome (known limit: the fact is
// recorded once per complaint).

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/ratingrules"
	"github.com/wuxiao/wuxiao/services/internal/events"
)

// Complaint subkinds beyond the rated outcomes.
const (
	ComplaintAccepted = ratingrules.ComplaintAccepted // 已受理: recorded, 0 points
	ComplaintResolved = "resolved"                    // resolved, outcome not stated: unrated
)

// ComplaintOutcome reads the outcome of an investigation from its summary.
func ComplaintOutcome(summary string) string {
	switch {
	case strings.Contains(summary, "部分属实"):
		return ComplaintPartly
	case strings.Contains(summary, "不属实"), strings.Contains(summary, "查无实据"), strings.Contains(summary, "失实"):
		return ComplaintUnsubstantiated
	case strings.Contains(summary, "属实"):
		return ComplaintSubstantiated
	}
	return ComplaintResolved
}

// complaintOutcomes maps the event's structured outcome to a subkind.
var complaintOutcomes = map[string]string{
	eventsv1.ComplaintOutcomeSubstantiated:   ComplaintSubstantiated,
	eventsv1.ComplaintOutcomePartly:          ComplaintPartly,
	eventsv1.ComplaintOutcomeUnsubstantiated: ComplaintUnsubstantiated,
}

// resolvedSubkind is the fact's subkind of a resolution: its structured
// outcome, else (older events) the outcome read from the summary. An
// outcome it does not know is an error rather than an unrated fact, which
// would keep the complaint unrated for good (fact ids are deduplicated).
func resolvedSubkind(d eventsv1.ComplaintDecided) (string, error) {
	if d.Outcome == "" {
		return ComplaintOutcome(d.Reason), nil
	}
	if sub, ok := complaintOutcomes[d.Outcome]; ok {
		return sub, nil
	}
	return "", fmt.Errorf("complaint %s: unknown outcome %q (this inspection service knows %s, %s and %s): not rated; replay the event from the dead-letter topic once the inspection service knows the outcome",
		d.ComplaintID, d.Outcome, eventsv1.ComplaintOutcomeSubstantiated, eventsv1.ComplaintOutcomePartly, eventsv1.ComplaintOutcomeUnsubstantiated)
}

// ComplaintFact turns a complaint decision into a fact; ok is false for
// events that do not count.
func ComplaintFact(ev eventsv1.Event) (Fact, bool, error) {
	var stage string
	switch ev.Type {
	case eventsv1.TypeComplaintAccepted:
		stage = "accepted"
	case eventsv1.TypeComplaintResolved:
		stage = "resolved"
	default:
		return Fact{}, false, nil
	}
	var d eventsv1.ComplaintDecided
	if err := ev.Decode(&d); err != nil {
		return Fact{}, false, err
	}
	if d.ComplaintID == "" {
		return Fact{}, false, fmt.Errorf("complaint event %s has no complaint id", ev.ID)
	}
	if ev.Village == "" {
		return Fact{}, false, fmt.Errorf("complaint event %s has no village", ev.ID)
	}
	at := d.At
	if at.IsZero() {
		at = ev.Time
	}
	sub := ComplaintAccepted
	if stage == "resolved" {
		var err error
		if sub, err = resolvedSubkind(d); err != nil {
			return Fact{}, false, err
		}
	}
	// The note names the category only: the summary may identify people
	// and stays in the complaint service, under its access rules.
	return Fact{ID: "complaint:" + d.ComplaintID + ":" + stage, Village: ev.Village, Kind: FactComplaint, Subkind: sub,
		At: at, Ref: d.ComplaintID, Note: complaintCategoryNote(d.Category)}, true, nil
}

// HandleComplaintEvent is the events.Handler of the complaint stream.
func (s *Service) HandleComplaintEvent(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	f, ok, err := s.complaintFact(ev)
	if err != nil || !ok {
		return err
	}
	_, err = s.ApplyFact(ctx, tx, f)
	return err
}

// complaintFact is ComplaintFact for this town's stream.
func (s *Service) complaintFact(ev eventsv1.Event) (Fact, bool, error) {
	f, ok, err := ComplaintFact(ev)
	if err == nil && ok {
		err = s.ownTown(ev)
	}
	if err != nil {
		// Retrying cannot fix a malformed event or an outcome this version
		// does not know: straight to the dead-letter topic, unrecorded.
		return Fact{}, false, events.Permanent(err)
	}
	return f, ok, nil
}

var _ events.Handler = (*Service)(nil).HandleComplaintEvent
