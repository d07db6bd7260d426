package eventsv1

import "time"

// Event types of the notices' and orders' sign-off and reply: a change of
// grade drafts a notice (TypeNoticeDrafted); the town's discipline office
// signs it (TypeNoticeIssued, in inspection.go) or dismisses it with a
// reason; the village answers with a rectification report and evidence;
// the office accepts the answer or returns it; a notice left unanswered
// past its deadline is escalated once. Orders are answered and reviewed
// the same way (their escalation is TypeOrderEscalated). Subject: the
// notice's id (a draft has no number) or the order's number. No event
// names a person: the actors are in the service's step record.
const (
	TypeNoticeDrafted   = "cn.wuxiao.inspection.notice.drafted.v1"
	TypeNoticeDismissed = "cn.wuxiao.inspection.notice.dismissed.v1"
	TypeNoticeAnswered  = "cn.wuxiao.inspection.notice.answered.v1"
	TypeNoticeAccepted  = "cn.wuxiao.inspection.notice.accepted.v1"
	TypeNoticeReturned  = "cn.wuxiao.inspection.notice.returned.v1"
	TypeNoticeEscalated = "cn.wuxiao.inspection.notice.escalated.v1"
	TypeOrderAnswered   = "cn.wuxiao.inspection.order.answered.v1"
	TypeOrderAccepted   = "cn.wuxiao.inspection.order.accepted.v1"
	TypeOrderReturned   = "cn.wuxiao.inspection.order.returned.v1"
)

// NoticeDrafted: a change of grade drafted a notice, which waits for the
// town's discipline office to sign or dismiss it.
type NoticeDrafted struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"` // NoticeKindWarning or NoticeKindRectification
	Village   string    `json:"village"`
	Period    string    `json:"period"`
	Grade     string    `json:"grade"`
	Points    int       `json:"points"`
	DraftedAt time.Time `json:"draftedAt"`
}

// NoticeDismissed: the town's discipline office dismissed a draft, with
// the reason it recorded.
type NoticeDismissed struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	Village string    `json:"village"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// NoticeAnswered (and OrderAnswered): the village answered with a
// rectification report and evidence; Late when after the deadline.
type NoticeAnswered struct {
	ID       string    `json:"id,omitempty"` // the notice's id; empty for an order
	Number   string    `json:"number"`
	Village  string    `json:"village"`
	Evidence int       `json:"evidence"` // pieces of evidence given
	Late     bool      `json:"late"`
	Deadline time.Time `json:"deadline"`
	At       time.Time `json:"at"`
}

// NoticeReviewed is the data of TypeNoticeAccepted, TypeNoticeReturned,
// TypeOrderAccepted and TypeOrderReturned: the town's discipline office
// accepted the answer (closing the notice or order) or returned it with
// the reason (the village answers again).
type NoticeReviewed struct {
	ID      string    `json:"id,omitempty"` // the notice's id; empty for an order
	Number  string    `json:"number"`
	Village string    `json:"village"`
	Reason  string    `json:"reason,omitempty"` // a return's
	At      time.Time `json:"at"`
	// Deadline of the answer awaited again after a return (counted from
	// the return); unset for an acceptance.
	Deadline *time.Time `json:"deadline,omitempty"`
	// ActorRole reviewed it: town-discipline, or district-discipline for
	// an order (empty in events from before).
	ActorRole string `json:"actorRole,omitempty"`
}

// NoticeEscalated: an issued notice had no answer (or only a returned
// one) by its deadline; sent once per notice.
type NoticeEscalated struct {
	ID       string    `json:"id"`
	Number   string    `json:"number"`
	Kind     string    `json:"kind"`
	Village  string    `json:"village"`
	Deadline time.Time `json:"deadline"`
	At       time.Time `json:"at"`
}
