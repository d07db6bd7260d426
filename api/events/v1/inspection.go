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
