package eventsv1

import "time"

// Event types published by the workflow service on the town's workflow stream.
const (
	TypeInstanceStarted   = "cn.wuxiao.workflow.instance.started.v1"
	TypeStepCompleted     = "cn.wuxiao.workflow.step.completed.v1"
	TypeInstanceCompleted = "cn.wuxiao.workflow.instance.completed.v1"
	TypeInstanceWithdrawn = "cn.wuxiao.workflow.instance.withdrawn.v1"
	TypeWarningRaised     = "cn.wuxiao.workflow.warning.raised.v1"
	TypeStepReminder      = "cn.wuxiao.workflow.step.reminder.v1"
	TypeStepEscalated     = "cn.wuxiao.workflow.step.escalated.v1"
)

// InstanceRef identifies a process instance in every workflow event.
type InstanceRef struct {
	InstanceID     string `json:"instanceId"`
	TrackingNumber string `json:"trackingNumber"`
	ItemID         string `json:"itemId"`
	ItemName       string `json:"itemName"`
	Category       string `json:"category"`
	CatalogVersion string `json:"catalogVersion"`
}

// InstanceStarted: a cadre started a listed power's process.
type InstanceStarted struct {
	InstanceRef
	Title     string    `json:"title"`
	AmountFen int64     `json:"amountFen,omitempty"`
	StartedBy string    `json:"startedBy"`
	StartedAt time.Time `json:"startedAt"`
}

// StepCompleted: a step was recorded as done.
type StepCompleted struct {
	InstanceRef
	StepID      string    `json:"stepId"`
	StepName    string    `json:"stepName"`
	ActorID     string    `json:"actorId"`
	ActorRole   string    `json:"actorRole"`
	CompletedAt time.Time `json:"completedAt"`
	OutOfOrder  bool      `json:"outOfOrder,omitempty"`
	// NextStep is empty when the process ended.
	NextStep string `json:"nextStep,omitempty"`
	// NextStepName and NextRole name the next step and the role that
	// records it (who has a new task); empty when the process ended and on
	// events published before the fields existed.
	NextStepName string `json:"nextStepName,omitempty"`
	NextRole     string `json:"nextRole,omitempty"`
}

// InstanceCompleted: the process reached an end step. Disclosure links
// ledger entries to it.
type InstanceCompleted struct {
	InstanceRef
	Title       string    `json:"title"`
	AmountFen   int64     `json:"amountFen,omitempty"`
	PayeeName   string    `json:"payeeName,omitempty"`
	CompletedAt time.Time `json:"completedAt"`
}

// InstanceWithdrawn: the process was withdrawn with a (published) reason.
type InstanceWithdrawn struct {
	InstanceRef
	Reason      string    `json:"reason"`
	WithdrawnBy string    `json:"withdrawnBy"`
	WithdrawnAt time.Time `json:"withdrawnAt"`
}

// WarningRaised: a control raised a violation warning (违规预警). Inspection
// counts them in the village's rating; disclosure shows the public ones.
type WarningRaised struct {
	InstanceRef
	WarningID string    `json:"warningId"`
	StepID    string    `json:"stepId"`
	ControlID string    `json:"controlId,omitempty"`
	Rule      string    `json:"rule"`
	Message   string    `json:"message"`
	Norm      string    `json:"norm,omitempty"`
	Basis     string    `json:"basis,omitempty"`
	ActorID   string    `json:"actorId,omitempty"`
	Public    bool      `json:"public"`
	RaisedAt  time.Time `json:"raisedAt"`
}

// StepDeadline: a reminder before, or an escalation at, a step's deadline.
type StepDeadline struct {
	InstanceRef
	StepID string    `json:"stepId"`
	DueAt  time.Time `json:"dueAt"`
	// StepName and Role (the role that records the step, who is reminded)
	// are empty on events published before the fields existed.
	StepName string `json:"stepName,omitempty"`
	Role     string `json:"role,omitempty"`
}
