// The complaint and its vocabulary: categories, statuses, outcomes, roles,
// the people who act on it and the records it keeps. Like the other
// domain files (intake.go, lifecycle.go, views.go, statistics.go) it is
// pure: no I/O, no clock.

package complaint

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
)

// Category of a complaint.
type Category string

const (
	CategoryFunds        Category = "funds"
	CategoryProject      Category = "project"
	CategorySubsidy      Category = "subsidy"
	CategoryCadreConduct Category = "cadre-conduct"
	CategoryService      Category = "service"
)

// Categories in a stable order.
var Categories = []Category{CategoryFunds, CategoryProject, CategorySubsidy, CategoryCadreConduct, CategoryService}

var categoryLabels = map[Category]string{
	CategoryFunds:        "村级资金",
	CategoryProject:      "工程项目",
	CategorySubsidy:      "惠农补贴",
	CategoryCadreConduct: "干部作风",
	CategoryService:      "便民服务",
}

// Label is the category's Chinese label.
func (c Category) Label() string { return categoryLabels[c] }

// Valid reports whether c is one of Categories.
func (c Category) Valid() bool { return slices.Contains(Categories, c) }

// Status of a complaint.
type Status string

const (
	StatusReceived      Status = "received"
	StatusAccepted      Status = "accepted"
	StatusRejected      Status = "rejected"
	StatusInvestigating Status = "investigating"
	StatusResolved      Status = "resolved"
	StatusClosed        Status = "closed"
)

// Outcome of an investigation, given with a resolution. The values are the
// wire values of eventsv1.ComplaintDecided.Outcome.
type Outcome string

const (
	OutcomeSubstantiated   Outcome = eventsv1.ComplaintOutcomeSubstantiated   // 属实
	OutcomePartly          Outcome = eventsv1.ComplaintOutcomePartly          // 部分属实
	OutcomeUnsubstantiated Outcome = eventsv1.ComplaintOutcomeUnsubstantiated // 不属实
)

// Outcomes in a stable order.
var Outcomes = []Outcome{OutcomeSubstantiated, OutcomePartly, OutcomeUnsubstantiated}

var outcomeLabels = map[Outcome]string{
	OutcomeSubstantiated:   "属实",
	OutcomePartly:          "部分属实",
	OutcomeUnsubstantiated: "不属实",
}

// Label is the outcome's Chinese label.
func (o Outcome) Label() string { return outcomeLabels[o] }

// Valid reports whether o is one of Outcomes.
func (o Outcome) Valid() bool { return slices.Contains(Outcomes, o) }

// Roles, as services/internal/identity names them.
const (
	RoleSecretary          = "secretary"
	RoleDirector           = "director"
	RoleCommitteeMember    = "committee-member"
	RoleAccountant         = "accountant"
	RoleCashier            = "cashier"
	RoleSupervisionChair   = "supervision-chair"
	RoleLiaisonOfficer     = "liaison-officer"
	RoleTownOfficial       = "town-official"
	RoleTownFinance        = "town-finance"
	RoleTownDiscipline     = "town-discipline"
	RoleDistrictDiscipline = "district-discipline"
	RoleDistrictAdmin      = "district-admin"
	// RoleReporter is the person who filed, proven by the follow-up secret.
	RoleReporter = "reporter"
)

// Attachment limits: the intake limits of intakelimits.go, defined once.
const (
	MaxAttachments    = IntakeMaxFiles
	MaxAttachmentSize = IntakeMaxFileBytes
)

// AttachmentTypes are the accepted content types.
var AttachmentTypes = IntakeFileTypes

// Actor is who acts or views, as the identity layer resolved them.
type Actor struct {
	ID      string
	Role    string
	Town    string
	Village string
}

// IsDiscipline: discipline staff (town or district) see reporters' identities.
func (a Actor) IsDiscipline() bool {
	return a.Role == RoleTownDiscipline || a.Role == RoleDistrictDiscipline
}

// Reporter is who filed a signed-in complaint. Stored apart from the
// complaint and shown to discipline staff only.
type Reporter struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// Attachment is a file sent with a complaint. Files uploaded through the
// report page carry their bytes in Content: they are stored with the
// complaint (table attachments) and URL is then the staff route reading
// them back. The JSON intake only links files (an https URL and the hash).
type Attachment struct {
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	URL         string `json:"url"`
	// Stored marks an uploaded file kept in the database.
	Stored bool `json:"stored,omitempty"`
	// Content is the uploaded file; never part of the JSON document.
	Content []byte `json:"-"`
	// staged is the upload_chunks id of a file the report page streamed
	// to the database (instead of Content).
	staged string
}

// NewStoredAttachment describes an uploaded file by its sniffed type and
// hash. The caller has checked it with ValidateIntakeFile.
func NewStoredAttachment(name string, content []byte) Attachment {
	sum := sha256.Sum256(content)
	return Attachment{Name: name, ContentType: sniffIntakeType(content), Size: int64(len(content)),
		SHA256: hex.EncodeToString(sum[:]), Stored: true, Content: content}
}

// AttachmentURL is the staff route of the n-th (1-based) stored attachment.
func AttachmentURL(id string, n int) string {
	return fmt.Sprintf("/v1/complaints/%s/attachments/%d", id, n)
}

// StatusNote is a note on a complaint's progress; public ones show on the
// tracking page.
type StatusNote struct {
	At     time.Time `json:"at"`
	Role   string    `json:"role"`
	Body   string    `json:"body"`
	Public bool      `json:"public"`
}

// Transition records one applied action.
type Transition struct {
	At      time.Time `json:"at"`
	ActorID string    `json:"actorId"`
	Role    string    `json:"role"`
	Action  string    `json:"action"`
	From    Status    `json:"from"`
	To      Status    `json:"to"`
	Reason  string    `json:"reason,omitempty"`
	Outcome Outcome   `json:"outcome,omitempty"` // of a resolution
}

// Escalation records that a stage's deadline passed.
type Escalation struct {
	Stage Status    `json:"stage"`
	Round int       `json:"round"`
	DueAt time.Time `json:"dueAt"`
	At    time.Time `json:"at"`
}

// Complaint is one complaint.
type Complaint struct {
	ID           string   `json:"id"`
	TrackingCode string   `json:"trackingCode"`
	Town         string   `json:"town"`
	Village      string   `json:"village"`
	Category     Category `json:"category"`
	// PostingID makes the complaint an objection (异议) to a posting on
	// the village's notice board (公示栏): the workflow's posting id, from
	// the portal's objection link (objection.go).
	PostingID string `json:"postingId,omitempty"`
	// PostingTitle names what was posted, when the posting was known at
	// filing (objection.go).
	PostingTitle string       `json:"postingTitle,omitempty"`
	Description  string       `json:"description"`
	Attachments  []Attachment `json:"attachments,omitempty"`
	// Reporter is nil for anonymous complaints and in every view but a
	// discipline one.
	Reporter *Reporter `json:"reporter,omitempty"`
	// SecretHash is the SHA-256 of the follow-up secret; never shown.
	SecretHash string       `json:"-"`
	Status     Status       `json:"status"`
	FiledAt    time.Time    `json:"filedAt"`
	UpdatedAt  time.Time    `json:"updatedAt"`
	DueAt      *time.Time   `json:"dueAt,omitempty"`
	Reason     string       `json:"reason,omitempty"`  // of a rejection
	Summary    string       `json:"summary,omitempty"` // of the resolution
	Outcome    Outcome      `json:"outcome,omitempty"` // of the resolution
	Reopened   int          `json:"reopened"`
	Satisfied  *bool        `json:"satisfied,omitempty"`
	Notes      []StatusNote `json:"notes,omitempty"`
	History    []Transition `json:"history,omitempty"`
	Escalated  []Escalation `json:"escalated,omitempty"`
	// Illustrative marks generated sample data (SampleYears).
	Illustrative bool  `json:"illustrative,omitempty"`
	Version      int64 `json:"version"`
	// TraceParent is the W3C traceparent of the intake request (column
	// trace_parent, never shown): later transitions are traced under it.
	TraceParent string `json:"-"`
}
