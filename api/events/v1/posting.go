package eventsv1

import "time"

// Postings on a village's notice board (四务公开 / 公示栏), published by the
// workflow service on the town's workflow stream: a process that enters a
// step with a posting-duration control posts it at that moment, and the
// posting ends when the step is recorded or the process withdrawn. The
// disclosure service shows them on the village portal's 公示栏. A process
// that completes also posts the notice-board disclosure rules of its item
// that no posting step carries (kind result).
const (
	TypePostingPublished = "cn.wuxiao.workflow.posting.published.v1"
	TypePostingEnded     = "cn.wuxiao.workflow.posting.ended.v1"
)

// Reasons a posting ended (PostingEnded.Reason).
const (
	PostingEndedStepCompleted = "step-completed"
	PostingEndedWithdrawn     = "withdrawn"
)

// Kinds of posting (PostingPublished.Kind).
const (
	// PostingKindStep: posted while a step with a posting-duration control
	// is open; it ends with PostingEnded.
	PostingKindStep = "step"
	// PostingKindResult: a notice-board disclosure rule no posting step
	// carries, posted when the process completes; it comes down by itself
	// at PlannedEndAt (no PostingEnded), or never when PlannedEndAt is
	// absent (the rule's forDays is 0: posted for good).
	PostingKindResult = "result"
)

// PostingPublished: a posting went up on the village's notice board. Text
// is public: no ID or phone numbers, a person's name masked (张*明).
type PostingPublished struct {
	InstanceRef
	PostingID string `json:"postingId"`
	Kind      string `json:"kind"`
	// StepID is the step posted (kind step) or the step that completed
	// the process (kind result).
	StepID   string `json:"stepId"`
	StepName string `json:"stepName"`
	// What is posted (the item's notice-board disclosure rule, or the
	// step's name), and the portal section (notice-board).
	What    string `json:"what"`
	Section string `json:"section"`
	Title   string `json:"title"`
	Text    string `json:"text"`
	// MinDays the posting must stay up, counted on Calendar
	// ("calendar" or "working").
	MinDays  int       `json:"minDays"`
	Calendar string    `json:"calendar"`
	StartAt  time.Time `json:"startAt"`
	// PlannedEndAt is StartAt plus MinDays: the earliest the posting may
	// come down (the start of that day, Shanghai); absent for a result
	// posting posted for good.
	PlannedEndAt *time.Time `json:"plannedEndAt,omitempty"`
}

// PostingEnded: the posting came down, because its step was recorded or
// its process withdrawn. Days is how long it was really up (calendar days,
// Shanghai); Short says its step was recorded before MinDays (the
// posting-duration control's warning).
type PostingEnded struct {
	InstanceRef
	PostingID string    `json:"postingId"`
	StepID    string    `json:"stepId"`
	Reason    string    `json:"reason"`
	EndedAt   time.Time `json:"endedAt"`
	Days      int       `json:"days"`
	Short     bool      `json:"short,omitempty"`
}
