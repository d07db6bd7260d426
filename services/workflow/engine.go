package workflow

import (
	"fmt"
	"slices"
	"time"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// Status of a process instance.
type Status string

const (
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusWithdrawn Status = "withdrawn"
)

// Actor is who performs an action, as the identity layer resolved them.
type Actor struct {
	ID      string
	Name    string
	Role    string
	Town    string
	Village string
}

// Payee of a money matter. The ID number is never stored: only a keyed hash
// of it, enough to match it against the cadres' recorded relatives.
type Payee struct {
	Name   string `json:"name"`
	IDHash string `json:"idHash,omitempty"`
}

// StepRecord is one visit of an instance to a step.
type StepRecord struct {
	StepID      string     `json:"stepId"`
	EnteredAt   time.Time  `json:"enteredAt"`
	DueAt       *time.Time `json:"dueAt,omitempty"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	ActorID     string     `json:"actorId,omitempty"`
	ActorName   string     `json:"actorName,omitempty"`
	ActorRole   string     `json:"actorRole,omitempty"`
	Note        string     `json:"note,omitempty"`
	// OutOfOrder marks a step recorded although it was not the current one.
	OutOfOrder bool   `json:"outOfOrder,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// Evidence is a document attached to an instance, by hash and link.
type Evidence struct {
	ID      string    `json:"id"`
	StepID  string    `json:"stepId"`
	Kind    string    `json:"kind"`
	Name    string    `json:"name"`
	URL     string    `json:"url"`
	SHA256  string    `json:"sha256"`
	Size    int64     `json:"size"`
	AddedBy string    `json:"addedBy"`
	AddedAt time.Time `json:"addedAt"`
}

// EvidenceResolution is the kind of evidence that records a villagers'
// representatives' resolution (村民代表会议决议), which large amounts need.
const EvidenceResolution = "representatives-resolution"

// ThresholdTownApproval names the town-approval threshold and the evidence
// kind (or step id) that satisfies it.
const ThresholdTownApproval = "town-approval"

// Instance is one run of a power item's process in one village.
type Instance struct {
	ID             string       `json:"id"`
	TrackingNumber string       `json:"trackingNumber"`
	Town           string       `json:"town"`
	Village        string       `json:"village"`
	ItemID         string       `json:"itemId"`
	ItemName       string       `json:"itemName"`
	Category       string       `json:"category"`
	CatalogVersion string       `json:"catalogVersion"`
	Title          string       `json:"title"`
	AmountFen      int64        `json:"amountFen,omitempty"`
	Payee          *Payee       `json:"payee,omitempty"`
	Status         Status       `json:"status"`
	Current        string       `json:"current,omitempty"`
	StartedBy      string       `json:"startedBy"`
	StartedAt      time.Time    `json:"startedAt"`
	EndedAt        *time.Time   `json:"endedAt,omitempty"`
	WithdrawReason string       `json:"withdrawReason,omitempty"`
	Steps          []StepRecord `json:"steps"`
	Evidence       []Evidence   `json:"evidence,omitempty"`
	// Version increases with every change; writes check it so that two
	// cadres acting at once cannot both advance the same step.
	Version int64 `json:"version"`
}

// Warning is a violation warning (违规预警) raised by a control.
type Warning struct {
	ID         string    `json:"id"`
	InstanceID string    `json:"instanceId"`
	Town       string    `json:"town"`
	Village    string    `json:"village"`
	ItemID     string    `json:"itemId"`
	StepID     string    `json:"stepId"`
	ControlID  string    `json:"controlId,omitempty"`
	Rule       string    `json:"rule"`
	Message    string    `json:"message"`
	Norm       string    `json:"norm,omitempty"`
	Basis      string    `json:"basis,omitempty"`
	ActorID    string    `json:"actorId,omitempty"`
	Public     bool      `json:"public"`
	RaisedAt   time.Time `json:"raisedAt"`
}

// Timer is a durable reminder or escalation for a step's deadline.
type Timer struct {
	InstanceID string
	StepID     string
	Kind       string // TimerReminder or TimerEscalation
	FireAt     time.Time
}

const (
	TimerReminder   = "reminder"
	TimerEscalation = "escalation"
	// ReminderBefore is how long before a deadline the reminder fires.
	ReminderBefore = 24 * time.Hour
)

// Thresholds of a village, in yuan (from the Village resource).
type Thresholds struct {
	RepresentativesResolutionAboveYuan int64
	TownApprovalAboveYuan              int64
}

// DefaultThresholds apply until a village registers its own.
var DefaultThresholds = Thresholds{RepresentativesResolutionAboveYuan: 50000, TownApprovalAboveYuan: 200000}

// Engine applies the catalog's processes and controls. It is pure: callers
// load the instance and the facts it needs, and persist what it returns.
type Engine struct {
	Catalog  *Catalog
	Calendar *Calendar
}

// StartInput asks to start a process.
type StartInput struct {
	ItemID    string
	Village   string
	Title     string
	AmountFen int64
	Payee     *Payee
	Now       time.Time
}

// Start opens an instance of an item in a village at its first step. The
// actor must be able to perform that first step.
func (e *Engine) Start(actor Actor, in StartInput) (*Instance, []Timer, error) {
	item := e.Catalog.Item(in.ItemID)
	if item == nil {
		return nil, nil, domainerr.Refuse(422, "not-on-the-list", "Not on the power list",
			"item %q is not on power list %s@%s: no power outside the list (清单之外无权力)", in.ItemID, e.Catalog.Name, e.Catalog.Version)
	}
	if in.Title == "" {
		return nil, nil, domainerr.Refuse(400, "invalid-request", "Missing title", "a process needs a title saying what it is about")
	}
	if in.AmountFen < 0 {
		return nil, nil, domainerr.Refuse(400, "invalid-request", "Negative amount", "amountFen must be zero or positive")
	}
	first := &item.Steps[0]
	if err := mayPerform(actor, first, actor.Town, in.Village); err != nil {
		return nil, nil, err
	}
	inst := &Instance{
		Town: actor.Town, Village: in.Village, ItemID: item.ID, ItemName: item.Name, Category: string(item.Category),
		CatalogVersion: e.Catalog.Version, Title: in.Title, AmountFen: in.AmountFen, Payee: in.Payee,
		Status: StatusRunning, StartedBy: actor.ID, StartedAt: in.Now,
	}
	timers := e.enter(inst, first, in.Now)
	return inst, timers, nil
}

// enter moves the instance to a step and schedules its deadline timers.
func (e *Engine) enter(inst *Instance, s *wuxiaov1.Step, now time.Time) []Timer {
	inst.Current = s.ID
	rec := StepRecord{StepID: s.ID, EnteredAt: now}
	var timers []Timer
	if s.TimeLimit != nil {
		due := e.Calendar.Due(now, int(s.TimeLimit.Days), s.TimeLimit.Calendar)
		rec.DueAt = &due
		if r := due.Add(-ReminderBefore); r.After(now) {
			timers = append(timers, Timer{StepID: s.ID, Kind: TimerReminder, FireAt: r})
		}
		timers = append(timers, Timer{StepID: s.ID, Kind: TimerEscalation, FireAt: due})
	}
	inst.Steps = append(inst.Steps, rec)
	return timers
}

// CompleteInput records that a step was done.
type CompleteInput struct {
	StepID string
	// Next chooses among several possible next steps.
	Next string
	Note string
	// OutOfOrder records a step that is not the current one (done on paper,
	// say); it is allowed only with a reason and raises a warning.
	OutOfOrder bool
	Reason     string
	Now        time.Time
	// Facts the caller looked up for the controls.
	ActorIsPayeeRelative bool
	Thresholds           Thresholds
	// PostedAt is when the step's posting went up on the notice board
	// (postings.go): a posting-duration control measures the real posting
	// from it. Zero: no posting was recorded (a step entered before
	// postings existed), and the step's entry stands in for it.
	PostedAt time.Time
}

// Complete records a step as done by actor, evaluates the step's controls
// and moves the instance on. It returns the warnings raised and the timers
// of the step entered next.
func (e *Engine) Complete(inst *Instance, actor Actor, in CompleteInput) ([]Warning, []Timer, error) {
	item := e.Catalog.Item(inst.ItemID)
	if item == nil {
		return nil, nil, domainerr.Refuse(409, "item-withdrawn", "Item no longer listed",
			"item %s was removed from the power list; the instance can only be withdrawn", inst.ItemID)
	}
	if inst.Status != StatusRunning {
		return nil, nil, domainerr.Refuse(409, "not-running", "Process not running", "instance %s is %s", inst.TrackingNumber, inst.Status)
	}
	step := item.Step(in.StepID)
	if step == nil {
		return nil, nil, domainerr.Refuse(404, "unknown-step", "Unknown step", "item %s has no step %q", item.ID, in.StepID)
	}
	if err := mayPerform(actor, step, inst.Town, inst.Village); err != nil {
		return nil, nil, err
	}
	var warnings []Warning
	warn := func(c *wuxiaov1.Control, rule, public string, format string, args ...any) {
		w := Warning{InstanceID: inst.ID, Town: inst.Town, Village: inst.Village, ItemID: inst.ItemID, StepID: step.ID,
			Rule: rule, Message: fmt.Sprintf(format, args...), ActorID: actor.ID, Public: public == "public", RaisedAt: in.Now}
		if c != nil {
			w.ControlID = c.ID
			if n := item.Norm(c.Norm); n != nil {
				w.Norm, w.Basis = n.Text, n.Basis
			}
		}
		warnings = append(warnings, w)
	}

	rec := inst.open(step.ID)
	if step.ID != inst.Current {
		if inst.done(step.ID) {
			return nil, nil, domainerr.Refuse(409, "step-done", "Step already done", "step %s of %s is already recorded", step.Name, inst.TrackingNumber)
		}
		if !in.OutOfOrder || in.Reason == "" {
			cur := item.Step(inst.Current)
			return nil, nil, domainerr.Refuse(409, "out-of-order", "Not the current step",
				"the current step is %s (%s); to record %s (%s) out of order, set outOfOrder with a reason: a violation warning will be raised",
				cur.Name, cur.ID, step.Name, step.ID)
		}
		warn(firstControl(item, wuxiaov1.ControlOrder), string(wuxiaov1.ControlOrder), "public",
			"步骤“%s”未按规定顺序办理（当前应办理“%s”），理由：%s", step.Name, item.Step(inst.Current).Name, in.Reason)
		inst.Steps = append(inst.Steps, StepRecord{StepID: step.ID, EnteredAt: in.Now, OutOfOrder: true, Reason: in.Reason})
		rec = &inst.Steps[len(inst.Steps)-1]
	}

	// Choose the next step before changing anything.
	var next *wuxiaov1.Step
	switch {
	case step.ID != inst.Current:
		// An out-of-order record does not move the process.
	case len(step.Next) == 1:
		next = item.Step(step.Next[0])
	case len(step.Next) > 1:
		if !slices.Contains(step.Next, in.Next) {
			return nil, nil, domainerr.Refuse(400, "choose-next", "Choose the next step",
				"step %s can be followed by %v: set next to one of them", step.ID, step.Next)
		}
		next = item.Step(in.Next)
	}

	done := in.Now
	rec.CompletedAt = &done
	rec.ActorID, rec.ActorName, rec.ActorRole, rec.Note = actor.ID, actor.Name, actor.Role, in.Note

	// The step's own controls.
	if rec.DueAt != nil && done.After(*rec.DueAt) {
		warn(controlOf(item, step.ID, wuxiaov1.ControlDeadline), string(wuxiaov1.ControlDeadline), "public",
			"步骤“%s”超过办理时限（应于%s前完成）", step.Name, rec.DueAt.In(tz.Shanghai).Format("2006-01-02"))
	}
	for _, c := range item.ControlsOn(step.ID) {
		c := c
		switch c.Type {
		case wuxiaov1.ControlPostingDuration:
			// A step recorded out of order has no known start: its order
			// warning already flags it, a duration would be invented.
			if c.MinDays != nil && !rec.OutOfOrder {
				posted := rec.EnteredAt
				if !in.PostedAt.IsZero() {
					posted = in.PostedAt
				}
				if days := DaysBetween(posted, done); days < int(*c.MinDays) {
					warn(&c, string(c.Type), "public", "公示“%s”自%s起实际公示%d天（至%s），少于规定的%d天", step.Name,
						posted.In(tz.Shanghai).Format("2006-01-02"), days, done.In(tz.Shanghai).Format("2006-01-02"), *c.MinDays)
				}
			}
		case wuxiaov1.ControlAmountThreshold:
			need, limit, what := EvidenceResolution, in.Thresholds.RepresentativesResolutionAboveYuan*100, "村民代表会议决议"
			if c.Threshold == ThresholdTownApproval {
				need, limit, what = ThresholdTownApproval, in.Thresholds.TownApprovalAboveYuan*100, "镇（街道）审批"
			}
			// Sending the sum on to that step (approval → 村民代表会议决议)
			// is what the norm asks: only going past it is a violation.
			routed := next != nil && next.ID == need
			if inst.AmountFen > limit && !inst.hasEvidence(need) && !inst.done(need) && !routed {
				warn(&c, string(c.Type), "public", "金额%s元超过%s元，未经%s", yuan(inst.AmountFen), yuan(limit), what)
			}
		case wuxiaov1.ControlConflictOfInterest:
			// Not public: it names a family relation of a person.
			if in.ActorIsPayeeRelative {
				warn(&c, string(c.Type), "internal", "办理人%s是收款人的登记亲属，应当回避", actor.Name)
			}
		case wuxiaov1.ControlEvidenceRequired:
			if !inst.hasEvidenceFor(step.ID) {
				warn(&c, string(c.Type), "public", "步骤“%s”未上传佐证材料", step.Name)
			}
		}
	}

	var timers []Timer
	switch {
	case step.ID != inst.Current:
	case next != nil:
		timers = e.enter(inst, next, in.Now)
	default:
		inst.Status, inst.Current, inst.EndedAt = StatusCompleted, "", &done
	}
	return warnings, timers, nil
}

// Overdue is what an escalation timer does: a warning if the step is still
// open past its deadline, nothing otherwise (it fires once, after restarts too).
func (e *Engine) Overdue(inst *Instance, t Timer) *Warning {
	if inst.Status != StatusRunning || inst.Current != t.StepID {
		return nil
	}
	rec := inst.open(t.StepID)
	if rec == nil || rec.CompletedAt != nil || rec.DueAt == nil || t.FireAt.Before(*rec.DueAt) {
		return nil
	}
	item := e.Catalog.Item(inst.ItemID)
	if item == nil {
		return nil
	}
	step := item.Step(t.StepID)
	w := &Warning{InstanceID: inst.ID, Town: inst.Town, Village: inst.Village, ItemID: inst.ItemID, StepID: t.StepID,
		Rule: string(wuxiaov1.ControlDeadline), Public: true, RaisedAt: t.FireAt,
		Message: fmt.Sprintf("步骤“%s”已超过办理时限（%s）仍未办结", step.Name, rec.DueAt.In(tz.Shanghai).Format("2006-01-02"))}
	if c := controlOf(item, t.StepID, wuxiaov1.ControlDeadline); c != nil {
		w.ControlID = c.ID
		if n := item.Norm(c.Norm); n != nil {
			w.Norm, w.Basis = n.Text, n.Basis
		}
	}
	return w
}

// Withdraw ends a running instance with a reason.
func (e *Engine) Withdraw(inst *Instance, actor Actor, reason string, now time.Time) error {
	if inst.Status != StatusRunning {
		return domainerr.Refuse(409, "not-running", "Process not running", "instance %s is %s", inst.TrackingNumber, inst.Status)
	}
	if reason == "" {
		return domainerr.Refuse(400, "invalid-request", "Missing reason", "withdrawing a process needs a reason; it is published")
	}
	mayWithdraw := actor.ID == inst.StartedBy ||
		(actor.Village == inst.Village && (actor.Role == string(wuxiaov1.RoleSecretary) || actor.Role == string(wuxiaov1.RoleDirector)))
	if !mayWithdraw {
		return domainerr.Refuse(403, "forbidden", "Not allowed", "only the cadre who started it, or the village's secretary or director, may withdraw it")
	}
	inst.Status, inst.Current, inst.WithdrawReason, inst.EndedAt = StatusWithdrawn, "", reason, &now
	return nil
}

// mayPerform checks that actor holds the step's role within the instance's
// town and village.
func mayPerform(a Actor, s *wuxiaov1.Step, town, village string) error {
	if a.Role != string(s.Role) {
		return domainerr.Refuse(403, "wrong-role", "Not your step", "step %s (%s) is done by the role %s; you are %s", s.Name, s.ID, s.Role, a.Role)
	}
	if a.Town != town {
		return domainerr.Refuse(403, "other-town", "Other town", "this process belongs to another town")
	}
	if isTownRole(a.Role) {
		return nil
	}
	if a.Village != village {
		return domainerr.Refuse(403, "other-village", "Other village", "you act for village %s, not %s", a.Village, village)
	}
	return nil
}

func isTownRole(r string) bool {
	switch r {
	case "town-official", "town-finance", "town-discipline":
		return true
	}
	return false
}

func (inst *Instance) open(step string) *StepRecord {
	for i := len(inst.Steps) - 1; i >= 0; i-- {
		if inst.Steps[i].StepID == step && inst.Steps[i].CompletedAt == nil {
			return &inst.Steps[i]
		}
	}
	return nil
}

func (inst *Instance) done(step string) bool {
	for _, r := range inst.Steps {
		if r.StepID == step && r.CompletedAt != nil {
			return true
		}
	}
	return false
}

func (inst *Instance) hasEvidence(kind string) bool {
	return slices.ContainsFunc(inst.Evidence, func(e Evidence) bool { return e.Kind == kind })
}

func (inst *Instance) hasEvidenceFor(step string) bool {
	return slices.ContainsFunc(inst.Evidence, func(e Evidence) bool { return e.StepID == step })
}

func controlOf(item *wuxiaov1.PowerItem, step string, t wuxiaov1.ControlType) *wuxiaov1.Control {
	for i := range item.Controls {
		if c := &item.Controls[i]; c.Step == step && c.Type == t {
			return c
		}
	}
	return nil
}

func firstControl(item *wuxiaov1.PowerItem, t wuxiaov1.ControlType) *wuxiaov1.Control {
	for i := range item.Controls {
		if item.Controls[i].Type == t {
			return &item.Controls[i]
		}
	}
	return nil
}

func yuan(fen int64) string {
	if fen%100 == 0 {
		return fmt.Sprintf("%d", fen/100)
	}
	return fmt.Sprintf("%d.%02d", fen/100, fen%100)
}
