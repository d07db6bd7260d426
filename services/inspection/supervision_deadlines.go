package inspection

// Deadlines of answers to notices and orders after a return, and what a
// missed one counts. A returned answer is due again by a new deadline
// counted from the return (the notice's or the order's answer period,
// calendar days ending at midnight, as at issue; the service has no
// working calendar), or by a day the office names; the document keeps the
// deadline it was issued with. Escalation watches the answer awaited
// (answer_due, else the deadline), once per deadline.

import (
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// returnDeadline is the new deadline of a returned answer: the day the
// office named (a date after today, ending at its midnight), else days
// counted from now.
func returnDeadline(day string, days int, now time.Time) (time.Time, error) {
	if day == "" {
		if days < 1 {
			days = 1
		}
		return endOfDay(now, days), nil
	}
	d, prob := parseDay("deadline", day)
	if prob != nil {
		return time.Time{}, prob
	}
	due := endOfDay(d, 0)
	if !due.After(endOfDay(now, 0)) {
		return time.Time{}, httpapi.ValidationFailed(httpapi.FieldError{Field: "deadline", Detail: "the new deadline must be a day after today"})
	}
	return due, nil
}

// OverdueAnswerFact is what a notice or an order left unanswered past its
// deadline counts in its village's rating, when nothing else does (a blue
// or yellow order's escalation issues an order of the next colour, which
// deducts itself): an overdue rectification (rectification/overdue, −5 by
// default), dated at the deadline. One per document and deadline, so that
// a redelivered escalation counts once and a missed new deadline after a
// return counts again.
func OverdueAnswerFact(kind, ref, village, number string, deadline time.Time) Fact {
	what := map[string]string{"notice": "通知书", "order": "督查令"}[kind]
	return Fact{ID: kind + ":" + ref + ":overdue:" + lastDay(deadline).Format(time.DateOnly), Village: village, Kind: FactRectification,
		Subkind: RectificationOverdue, At: deadline, Ref: number, Note: what + number + "逾期未答复"}
}
