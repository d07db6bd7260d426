package eventsv1

import "time"

// Event types published by the complaint service on the town's complaint
// stream. No complaint event ever carries the reporter's identity.
const (
	TypeComplaintFiled     = "cn.wuxiao.complaint.filed.v1"
	TypeComplaintAccepted  = "cn.wuxiao.complaint.accepted.v1"
	TypeComplaintRejected  = "cn.wuxiao.complaint.rejected.v1"
	TypeComplaintResolved  = "cn.wuxiao.complaint.resolved.v1"
	TypeComplaintEscalated = "cn.wuxiao.complaint.escalated.v1"
	TypeComplaintReopened  = "cn.wuxiao.complaint.reopened.v1"
)

// ComplaintRef identifies a complaint in every complaint event. The
// reporter's tracking code is never in an event: it is the reporter's key to
// the case, and what consumers derive from events (a rating's reasons, a
// notice sent to the village) must not hand it to the people complained about.
type ComplaintRef struct {
	ComplaintID string `json:"complaintId"`
	Category    string `json:"category"` // funds, project, subsidy, cadre-conduct, service
}

// ComplaintFiled: a complaint was received. It names neither the reporter
// nor whether they signed in, and carries no description: consumers that
// need more read it from the complaint service under its access rules.
type ComplaintFiled struct {
	ComplaintRef
	FiledAt time.Time `json:"filedAt"`
	DueAt   time.Time `json:"dueAt"` // of acceptance
	// PostingID: the complaint is an objection (异议) to this posting on the
	// village's notice board (cn.wuxiao.workflow.posting.published.v1).
	PostingID string `json:"postingId,omitempty"`
}

// Outcomes of an investigation, carried by complaint.resolved.
const (
	ComplaintOutcomeSubstantiated   = "substantiated"        // 属实
	ComplaintOutcomePartly          = "partly-substantiated" // 部分属实
	ComplaintOutcomeUnsubstantiated = "unsubstantiated"      // 不属实
)

// ComplaintOutcomes lists the outcomes in a stable order.
var ComplaintOutcomes = []string{ComplaintOutcomeSubstantiated, ComplaintOutcomePartly, ComplaintOutcomeUnsubstantiated}

// ComplaintDecided: a complaint was accepted, rejected (Reason) or resolved
// (Reason holds the summary, Outcome the finding) by staff.
type ComplaintDecided struct {
	ComplaintRef
	ActorID   string `json:"actorId"`
	ActorRole string `json:"actorRole"`
	Reason    string `json:"reason,omitempty"`
	// Outcome is one of ComplaintOutcomes on complaint.resolved; empty on
	// other decisions and on resolutions published before the field
	// existed (consumers then read the summary, or leave it unrated).
	Outcome string     `json:"outcome,omitempty"`
	At      time.Time  `json:"at"`
	DueAt   *time.Time `json:"dueAt,omitempty"` // of the next stage
}

// ComplaintEscalated: a stage's deadline passed.
type ComplaintEscalated struct {
	ComplaintRef
	Stage string    `json:"stage"` // received, accepted, investigating
	Round int       `json:"round"` // 0, or 1 after a reopening
	DueAt time.Time `json:"dueAt"`
	At    time.Time `json:"at"`
}

// ComplaintReopened: the reporter was not satisfied with the resolution;
// the investigation reopens (once).
type ComplaintReopened struct {
	ComplaintRef
	At    time.Time `json:"at"`
	DueAt time.Time `json:"dueAt"`
}
