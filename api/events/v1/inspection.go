package eventsv1

import "time"

// Event types published by the inspection service on the town's inspection
// stream.
const (
	TypeRatingChanged = "cn.wuxiao.inspection.rating.changed.v1"
	TypeNoticeIssued  = "cn.wuxiao.inspection.notice.issued.v1"
)

// RatingChanged: a village's grade for an assessment period changed
// (动态预警). Because lists the facts that moved it, largest first.
type RatingChanged struct {
	Village string `json:"village"`
	// Period is "2026" (a year) or "2026Q1" (a quarter).
	Period     string          `json:"period"`
	From       string          `json:"from"`
	To         string          `json:"to"`
	FromPoints int             `json:"fromPoints"`
	Points     int             `json:"points"`
	At         time.Time       `json:"at"`
	Because    []RatingFactRef `json:"because"`
}

// RatingFactRef is one fact that moved a grade.
type RatingFactRef struct {
	FactID  string `json:"factId"`
	Kind    string `json:"kind"`
	Subkind string `json:"subkind,omitempty"`
	// Points applied to the score, after caps.
	Points int `json:"points"`
	// Ref is what the fact is about: a process tracking number, a complaint
	// number, a finding id, an order number.
	Ref string `json:"ref,omitempty"`
}

// Kinds of notices.
const (
	NoticeKindWarning       = "warning"       // 预警通知书, on a fall to C
	NoticeKindRectification = "rectification" // 整改通知书, on a fall to D
)

// NoticeIssued: a warning or rectification notice was issued to a village.
type NoticeIssued struct {
	// ID is the notice's id, given when it was drafted (notices.go in this
	// package); empty on notices issued before drafts existed.
	ID string `json:"id,omitempty"`
	// Number is the document number, e.g. 奉纪预〔2026〕3号.
	Number   string    `json:"number"`
	Kind     string    `json:"kind"`
	Village  string    `json:"village"`
	Period   string    `json:"period"`
	Grade    string    `json:"grade"`
	Points   int       `json:"points"`
	IssuedAt time.Time `json:"issuedAt"`
	// Deadline to answer (warning) or rectify: midnight ending the last day.
	Deadline time.Time `json:"deadline"`
}

// Event types of inspection tours (巡察) and supervision orders (督查令).
const (
	TypeFindingRaised        = "cn.wuxiao.inspection.finding.raised.v1"
	TypeRectificationOverdue = "cn.wuxiao.inspection.rectification.overdue.v1"
	TypeOrderIssued          = "cn.wuxiao.inspection.order.issued.v1"
	TypeOrderEscalated       = "cn.wuxiao.inspection.order.escalated.v1"
)

// FindingRaised: an inspection tour raised a finding (问题) on a village.
// It carries no description: consumers read it under the service's rules.
type FindingRaised struct {
	FindingID string    `json:"findingId"`
	TourID    string    `json:"tourId"`
	Village   string    `json:"village"`
	Category  string    `json:"category"`
	Severity  string    `json:"severity"` // minor, major, serious
	Tasks     int       `json:"tasks"`    // rectification tasks set
	RaisedAt  time.Time `json:"raisedAt"`
	// ActorRole raised it: town-discipline, or district-discipline running
	// a round in the town (empty in events from before).
	ActorRole string `json:"actorRole,omitempty"`
}

// RectificationOverdue: a rectification task of a finding was not
// submitted (or was returned and not resubmitted) by its deadline.
type RectificationOverdue struct {
	TaskID    string    `json:"taskId"`
	FindingID string    `json:"findingId"`
	Village   string    `json:"village"`
	Deadline  time.Time `json:"deadline"`
	At        time.Time `json:"at"`
}

// OrderIssued: a three-colour supervision order (三色督查令) was issued to
// a village or one of its cadres (named by id only).
type OrderIssued struct {
	Number    string    `json:"number"`
	Colour    string    `json:"colour"` // blue, yellow, red
	Situation string    `json:"situation"`
	Village   string    `json:"village"`
	ToCadre   bool      `json:"toCadre"`
	IssuedAt  time.Time `json:"issuedAt"`
	Deadline  time.Time `json:"deadline"`
	// EscalatedFrom is the overdue order this one replaces, if any.
	EscalatedFrom string `json:"escalatedFrom,omitempty"`
	// ActorRole issued it: town-discipline or district-discipline; empty
	// for an order the escalation issued (and in events from before).
	ActorRole string `json:"actorRole,omitempty"`
}

// OrderEscalated: an order went unanswered past its deadline. To is the
// order of the next colour replacing it; a red order has none and is
// Referred for disciplinary handling instead.
type OrderEscalated struct {
	Number   string    `json:"number"`
	Colour   string    `json:"colour"`
	Village  string    `json:"village"`
	Deadline time.Time `json:"deadline"`
	To       string    `json:"to,omitempty"`
	ToColour string    `json:"toColour,omitempty"`
	Referred bool      `json:"referred,omitempty"`
	At       time.Time `json:"at"`
}

// Event types of inspection coverage and interviews, which the district
// view counts across towns.
const (
	TypeVisitRecorded     = "cn.wuxiao.inspection.visit.recorded.v1"
	TypeInterviewRecorded = "cn.wuxiao.inspection.interview.recorded.v1"
)

// VisitRecorded: a tour's visit to one of its villages was recorded (or
// its day corrected: the latest event per tour and village wins).
type VisitRecorded struct {
	TourID  string `json:"tourId"`
	Village string `json:"village"`
	// Date of the visit, 2026-04-12 (Shanghai).
	Date string `json:"date"`
	// Period of the tour, 2026 or 2026Q2.
	Period string `json:"period"`
	// ActorRole recorded it: town-discipline or district-discipline
	// (empty in events from before).
	ActorRole string `json:"actorRole,omitempty"`
}

// InterviewRecorded: an interview (约谈) of a village's cadre was recorded.
// It names nobody: consumers count interviews, and read them under the
// service's rules.
type InterviewRecorded struct {
	InterviewID string    `json:"interviewId"`
	Village     string    `json:"village"`
	HeldAt      time.Time `json:"heldAt"`
	// OrderNumber is the supervision order the interview followed, if any.
	OrderNumber string `json:"orderNumber,omitempty"`
	// ActorRole recorded it: town-discipline or district-discipline
	// (empty in events from before).
	ActorRole string `json:"actorRole,omitempty"`
}
