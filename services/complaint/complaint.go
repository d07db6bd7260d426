// The complaint's lifecycle (drawn in doc.go). This file is pure: no I/O,
// no clock. The service loads a complaint, applies an action with Apply and
// stores the result in one transaction.

package complaint

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
)

// Shanghai is the time zone of deadlines and statistics.
var Shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}()

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

// Actions applied to a complaint.
const (
	ActionAccept              = "accept"
	ActionReject              = "reject"
	ActionInvestigate         = "investigate"
	ActionResolve             = "resolve"
	ActionFeedbackSatisfied   = "feedback-satisfied"
	ActionFeedbackUnsatisfied = "feedback-unsatisfied"
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

// villageCadreRoles never see cadre-conduct complaints of their own village.
var villageCadreRoles = []string{RoleSecretary, RoleDirector, RoleCommitteeMember, RoleAccountant, RoleCashier, RoleSupervisionChair}

// Deadlines per stage, in calendar days.
const (
	AcceptWithin      = 3 * 24 * time.Hour
	InvestigateWithin = 30 * 24 * time.Hour
	FeedbackWithin    = 15 * 24 * time.Hour
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
	ID           string       `json:"id"`
	TrackingCode string       `json:"trackingCode"`
	Town         string       `json:"town"`
	Village      string       `json:"village"`
	Category     Category     `json:"category"`
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

// Error is a refusal, rendered as problem+json by the API.
type Error struct {
	Status int
	Type   string
	Title  string
	Detail string
}

func (e *Error) Error() string { return e.Title + ": " + e.Detail }

func refuse(status int, typ, title, format string, args ...any) *Error {
	return &Error{Status: status, Type: typ, Title: title, Detail: fmt.Sprintf(format, args...)}
}

var villageCode = regexp.MustCompile(`^[0-9]{12}$`)

// Intake is what the QR page sends.
type Intake struct {
	Village     string       `json:"village"`
	Category    Category     `json:"category"`
	Description string       `json:"description"`
	Attachments []Attachment `json:"attachments,omitempty"`
}

// Validate checks an intake.
func (in Intake) Validate() error {
	var problems []string
	if !villageCode.MatchString(in.Village) {
		problems = append(problems, "village must be a 12-digit village code")
	}
	if !in.Category.Valid() {
		problems = append(problems, fmt.Sprintf("category must be one of %v", Categories))
	}
	if n := len([]rune(strings.TrimSpace(in.Description))); n < IntakeMinDescriptionRunes || n > IntakeMaxDescriptionRunes {
		problems = append(problems, fmt.Sprintf("description needs %d to %d characters", IntakeMinDescriptionRunes, IntakeMaxDescriptionRunes))
	}
	if len(in.Attachments) > MaxAttachments {
		problems = append(problems, fmt.Sprintf("at most %d attachments", MaxAttachments))
	}
	for i, a := range in.Attachments {
		if a.Size <= 0 || a.Size > MaxAttachmentSize {
			problems = append(problems, fmt.Sprintf("attachment %d: size must be 1 to %d bytes", i+1, MaxAttachmentSize))
		}
		if !slices.Contains(AttachmentTypes, a.ContentType) {
			problems = append(problems, fmt.Sprintf("attachment %d: type %q is not one of %v", i+1, a.ContentType, AttachmentTypes))
		}
		if b, err := hex.DecodeString(a.SHA256); err != nil || len(b) != sha256.Size {
			problems = append(problems, fmt.Sprintf("attachment %d: sha256 must be 64 hexadecimal characters", i+1))
		}
		if a.Stored && a.staged != "" {
			// Streamed to the database: size, hash and type were taken from
			// the bytes as they were staged, and the database checks size
			// and hash again when it moves them (insertAttachments).
		} else if a.Stored {
			// Uploaded bytes: what is recorded must be what was received.
			sum := sha256.Sum256(a.Content)
			if int64(len(a.Content)) != a.Size || hex.EncodeToString(sum[:]) != a.SHA256 || sniffIntakeType(a.Content) != a.ContentType {
				problems = append(problems, fmt.Sprintf("attachment %d: size, hash or type do not match the content", i+1))
			}
		} else if !strings.HasPrefix(a.URL, "https://") {
			problems = append(problems, fmt.Sprintf("attachment %d: url must be an https link", i+1))
		}
		if a.Name == "" || len(a.Name) > 200 {
			problems = append(problems, fmt.Sprintf("attachment %d: name needs 1 to 200 characters", i+1))
		}
	}
	if len(problems) > 0 {
		return refuse(400, "invalid-request", "Invalid complaint", "%s", strings.Join(problems, "; "))
	}
	return nil
}

// New makes a received complaint from an intake. The caller sets ID,
// TrackingCode and SecretHash.
func New(town string, in Intake, reporter *Reporter, now time.Time) (*Complaint, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	due := now.Add(AcceptWithin)
	return &Complaint{Town: town, Village: in.Village, Category: in.Category, Description: strings.TrimSpace(in.Description),
		Attachments: in.Attachments, Reporter: reporter, Status: StatusReceived, FiledAt: now, UpdatedAt: now, DueAt: &due}, nil
}

// Action is a request to move a complaint on.
type Action struct {
	Type string `json:"type"`
	// Reason of a rejection, summary of a resolution, comment of feedback.
	Reason string `json:"reason,omitempty"`
	// Outcome of a resolution (required then, refused with other actions).
	Outcome Outcome `json:"outcome,omitempty"`
}

// staffMayAct: the town's discipline office and the village's liaison officer.
func staffMayAct(a Actor, c *Complaint) bool {
	switch a.Role {
	case RoleTownDiscipline:
		return a.Town == c.Town
	case RoleLiaisonOfficer:
		return a.Town == c.Town && a.Village == c.Village
	}
	return false
}

// Apply applies act by actor at now, or refuses it leaving c unchanged.
// Feedback is the reporter's (role RoleReporter) and is checked against the
// secret by the caller.
func Apply(c *Complaint, act Action, actor Actor, now time.Time) (Transition, error) {
	reason := strings.TrimSpace(act.Reason)
	from := c.Status
	var to Status
	var due *time.Time
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	feedback := act.Type == ActionFeedbackSatisfied || act.Type == ActionFeedbackUnsatisfied
	if feedback {
		if actor.Role != RoleReporter {
			return Transition{}, refuse(403, "forbidden", "Not allowed", "only the reporter gives feedback")
		}
	} else if !staffMayAct(actor, c) {
		return Transition{}, refuse(403, "forbidden", "Not allowed", "only the village's liaison officer and the town's discipline office handle complaints")
	}
	if act.Outcome != "" && act.Type != ActionResolve {
		return Transition{}, refuse(400, "outcome-unexpected", "Outcome not expected", "only a resolution has an outcome, not %s", act.Type)
	}
	wrong := func() (Transition, error) {
		return Transition{}, refuse(409, "wrong-status", "Not possible now", "cannot %s a complaint that is %s", act.Type, from)
	}
	switch act.Type {
	case ActionAccept:
		if from != StatusReceived {
			return wrong()
		}
		to, due = StatusAccepted, at(InvestigateWithin)
	case ActionReject:
		if from != StatusReceived {
			return wrong()
		}
		if reason == "" {
			return Transition{}, refuse(400, "reason-required", "Reason required", "a rejection needs a reason")
		}
		to = StatusRejected
	case ActionInvestigate:
		if from != StatusAccepted {
			return wrong()
		}
		to, due = StatusInvestigating, c.DueAt
	case ActionResolve:
		if from != StatusInvestigating {
			return wrong()
		}
		if reason == "" {
			return Transition{}, refuse(400, "summary-required", "Summary required", "a resolution needs a summary")
		}
		if act.Outcome == "" {
			return Transition{}, refuse(400, "outcome-required", "Outcome required", "a resolution needs an outcome, one of %s", outcomeList())
		}
		if !act.Outcome.Valid() {
			return Transition{}, refuse(400, "outcome-invalid", "Unknown outcome", "outcome %q is not one of %s", act.Outcome, outcomeList())
		}
		to, due = StatusResolved, at(FeedbackWithin)
	case ActionFeedbackSatisfied, ActionFeedbackUnsatisfied:
		if from != StatusResolved {
			return wrong()
		}
		if c.DueAt != nil && now.After(*c.DueAt) {
			return Transition{}, refuse(409, "feedback-closed", "Feedback window closed", "feedback was due by %s", c.DueAt.In(Shanghai).Format("2006-01-02"))
		}
		to = StatusClosed
		if act.Type == ActionFeedbackUnsatisfied && c.Reopened == 0 {
			to, due = StatusInvestigating, at(InvestigateWithin)
		}
	default:
		return Transition{}, refuse(400, "unknown-action", "Unknown action", "action %q is not one of accept, reject, investigate, resolve, feedback-satisfied, feedback-unsatisfied", act.Type)
	}
	actorID := actor.ID
	if actor.Role == RoleReporter {
		actorID = RoleReporter // the reporter's identity stays out of the history
	}
	tr := Transition{At: now, ActorID: actorID, Role: actor.Role, Action: act.Type, From: from, To: to, Reason: reason}
	switch act.Type {
	case ActionReject:
		c.Reason = reason
	case ActionResolve:
		c.Summary, c.Outcome = reason, act.Outcome
		tr.Outcome = act.Outcome
	case ActionFeedbackSatisfied, ActionFeedbackUnsatisfied:
		s := act.Type == ActionFeedbackSatisfied
		c.Satisfied = &s
		if to == StatusInvestigating {
			c.Reopened++
			c.Summary, c.Outcome = "", ""
		}
	}
	c.Status, c.DueAt, c.UpdatedAt = to, due, now
	c.History = append(c.History, tr)
	return tr, nil
}

func outcomeList() string {
	s := make([]string, len(Outcomes))
	for i, o := range Outcomes {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}

// Overdue reports the stage whose deadline has passed at now and that has
// not been escalated yet in this round (reopening starts a new round).
// Resolved complaints are not overdue: a reporter who gives no feedback in
// time simply closes the matter.
func Overdue(c *Complaint, now time.Time) (Escalation, bool) {
	switch c.Status {
	case StatusReceived, StatusAccepted, StatusInvestigating:
	default:
		return Escalation{}, false
	}
	if c.DueAt == nil || !now.After(*c.DueAt) {
		return Escalation{}, false
	}
	e := Escalation{Stage: c.Status, Round: c.Reopened, DueAt: *c.DueAt, At: now}
	for _, done := range c.Escalated {
		if done.Stage == e.Stage && done.Round == e.Round && done.DueAt.Equal(e.DueAt) {
			return Escalation{}, false
		}
	}
	return e, true
}

// ViewFor returns what viewer may see of c, or false when c is hidden from
// them entirely:
//   - discipline staff (town-discipline of the town, district-discipline)
//     see everything, the reporter included;
//   - the village's liaison officer, town-official and town-finance of the
//     town and district-admin see everything but the reporter;
//   - the village's other officials see their village's complaints but the
//     reporter, and never those about cadre conduct;
//   - anyone else sees nothing (the public view is PublicViewOf).
func ViewFor(viewer Actor, c *Complaint) (*Complaint, bool) {
	visible := false
	switch viewer.Role {
	case RoleTownDiscipline:
		visible = viewer.Town == c.Town
	case RoleDistrictDiscipline, RoleDistrictAdmin:
		visible = true
	case RoleTownOfficial, RoleTownFinance:
		visible = viewer.Town == c.Town
	case RoleLiaisonOfficer:
		visible = viewer.Town == c.Town && viewer.Village == c.Village
	default:
		if slices.Contains(villageCadreRoles, viewer.Role) {
			visible = viewer.Town == c.Town && viewer.Village == c.Village && c.Category != CategoryCadreConduct
		}
	}
	if !visible {
		return nil, false
	}
	v := *c
	v.Attachments = slices.Clone(c.Attachments)
	v.Notes = slices.Clone(c.Notes)
	v.History = slices.Clone(c.History)
	v.Escalated = slices.Clone(c.Escalated)
	v.SecretHash = ""
	if c.Reporter != nil && viewer.IsDiscipline() {
		r := *c.Reporter
		v.Reporter = &r
	} else {
		v.Reporter = nil
	}
	return &v, true
}

// PublicView is what anyone holding the tracking code sees.
type PublicView struct {
	TrackingCode  string       `json:"trackingCode"`
	Category      Category     `json:"category"`
	CategoryLabel string       `json:"categoryLabel"`
	Village       string       `json:"village"`
	Status        Status       `json:"status"`
	Notes         []StatusNote `json:"notes"`
	FiledAt       time.Time    `json:"filedAt"`
	UpdatedAt     time.Time    `json:"updatedAt"`
	DueAt         *time.Time   `json:"dueAt,omitempty"`
}

// PublicViewOf is c's public view: no description, reporter, reasons or
// internal notes.
func PublicViewOf(c *Complaint) PublicView {
	p := PublicView{TrackingCode: c.TrackingCode, Category: c.Category, CategoryLabel: c.Category.Label(), Village: c.Village,
		Status: c.Status, Notes: []StatusNote{}, FiledAt: c.FiledAt, UpdatedAt: c.UpdatedAt, DueAt: c.DueAt}
	for _, n := range c.Notes {
		if n.Public {
			p.Notes = append(p.Notes, StatusNote{At: n.At, Body: n.Body, Public: true})
		}
	}
	return p
}

// NewSecret returns a follow-up secret (shown once to the reporter) and its
// hash (the only thing stored).
func NewSecret() (secret, hash string) {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	secret = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
	return secret, HashSecret(secret)
}

// HashSecret is the stored form of a secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(strings.ToUpper(strings.TrimSpace(secret))))
	return hex.EncodeToString(sum[:])
}

// CheckSecret compares a presented secret with a stored hash in constant time.
func CheckSecret(hash, secret string) bool {
	if hash == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(hash), []byte(HashSecret(secret))) == 1
}

// Statistics counts complaints by year (Asia/Shanghai), town, village and category.
type Statistics struct {
	Total      int              `json:"total"`
	ByYear     map[int]int      `json:"byYear"`
	ByTown     map[string]int   `json:"byTown"`
	ByVillage  map[string]int   `json:"byVillage"`
	ByCategory map[Category]int `json:"byCategory"`
}

// Stats counts complaints.
func Stats(cs []*Complaint) Statistics {
	s := Statistics{ByYear: map[int]int{}, ByTown: map[string]int{}, ByVillage: map[string]int{}, ByCategory: map[Category]int{}}
	for _, c := range cs {
		s.Total++
		s.ByYear[c.FiledAt.In(Shanghai).Year()]++
		s.ByTown[c.Town]++
		s.ByVillage[c.Village]++
		s.ByCategory[c.Category]++
	}
	return s
}

// Recurrence is a village and category with many complaints close together.
type Recurrence struct {
	Town     string    `json:"town"`
	Village  string    `json:"village"`
	Category Category  `json:"category"`
	Count    int       `json:"count"` // the most within one window
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
}

// Recurring finds the villages×categories with at least threshold
// complaints within some window of the given length, ordered by count
// (highest first), then village and category.
func Recurring(cs []*Complaint, window time.Duration, threshold int) []Recurrence {
	type key struct {
		town, village string
		cat           Category
	}
	times := map[key][]time.Time{}
	for _, c := range cs {
		k := key{c.Town, c.Village, c.Category}
		times[k] = append(times[k], c.FiledAt)
	}
	var out []Recurrence
	for k, ts := range times {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		best, bi, bj := 0, 0, 0
		i := 0
		for j := range ts {
			for ts[j].Sub(ts[i]) > window {
				i++
			}
			if n := j - i + 1; n > best {
				best, bi, bj = n, i, j
			}
		}
		if threshold > 0 && best >= threshold {
			out = append(out, Recurrence{Town: k.town, Village: k.village, Category: k.cat, Count: best, From: ts[bi], To: ts[bj]})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Village != b.Village {
			return a.Village < b.Village
		}
		return a.Category < b.Category
	})
	return out
}

// SampleCounts are the seed's complaint counts per year.
var SampleCounts = map[int]int{2017: 259, 2018: 165, 2019: 153}

// SampleTown and SampleVillages are the illustrative town and villages of SampleYears.
const SampleTown = "xikou"

// SampleVillages are twelve illustrative village codes.
var SampleVillages = func() []string {
	v := make([]string, 12)
	for i := range v {
		v[i] = fmt.Sprintf("3302131002%02d", i+1)
	}
	return v
}()

// SampleYears generates deterministic, ILLUSTRATIVE complaints reproducing
// only the seed's yearly totals (259, 165 and 153 for 2017–2019); villages,
// categories, dates and texts are made up and spread evenly.
func SampleYears() []*Complaint {
	var out []*Complaint
	for _, year := range []int{2017, 2018, 2019} {
		n := SampleCounts[year]
		start := time.Date(year, 1, 1, 9, 0, 0, 0, Shanghai)
		for i := 0; i < n; i++ {
			filed := start.Add(time.Duration(i*364/n)*24*time.Hour + time.Duration(i%8)*time.Hour)
			cat := Categories[(i+i/len(Categories))%len(Categories)]
			village := SampleVillages[(i*7+year)%len(SampleVillages)]
			closed := filed.Add(20 * 24 * time.Hour)
			satisfied := i%9 != 0
			out = append(out, &Complaint{
				ID: fmt.Sprintf("sample-%d-%03d", year, i+1), TrackingCode: fmt.Sprintf("TS-S%03d-%04d", year%1000, i+1),
				Town: SampleTown, Village: village, Category: cat,
				Description: fmt.Sprintf("示例举报（虚构）：%s问题 #%d", cat.Label(), i+1),
				Status:      StatusClosed, FiledAt: filed, UpdatedAt: closed, Satisfied: &satisfied,
				Summary: "示例办结（虚构）", Illustrative: true,
			})
		}
	}
	return out
}
