package workflow

// Villagers' applications (一跑, "run at most once"): a villager applies
// from the village portal for an item whose first step is the villager's
// (宅基地, 低保, 村级证明…), or a cadre or the town's service desk files the
// application for them (代办). Either way the process starts with the
// villager's step recorded as done by the applicant, never by a staff
// account. When materials are missing the cadre asks once, listing all of
// them; the applicant supplements online with the tracking number and a
// private access code; the cadre then says when and where to come, or that
// no visit is needed, and the public tracker shows it.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/media"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// Application channels.
const (
	ChannelPortal   = "portal"
	ChannelOnBehalf = "on-behalf"
)

// ApplicantActorID is the actor id under which the applicant's own steps
// are recorded: not a staff account, and nothing personal (the name is
// in the application, never in events or the audit's actor).
const ApplicantActorID = "applicant"

// EvidenceApplicationMaterial is the evidence kind of the files an
// applicant provided.
const EvidenceApplicationMaterial = "application-material"

// Limits of an application's uploads and text.
const (
	MaxApplicationFiles     = 6
	MaxApplicationFileBytes = 5 << 20
	// applicationBodyLimit bounds the whole multipart request.
	applicationBodyLimit     = MaxApplicationFiles*MaxApplicationFileBytes + 64<<10
	maxApplicationDescRunes  = 2000
	maxApplicantNameRunes    = 30
	maxMissingMaterials      = 20
	maxMaterialNameRunes     = 100
	maxApplicationNoteRunes  = 500
	accessCodeLen            = 8
	accessCodeAlphabet       = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
	applicationAccessCodeTag = "wuxiao/workflow/application-access-code/v1\x00"
)

// Application is what only the applicant and the village's cadres see of
// an applied process. The ID number is never kept, only its keyed hash.
type Application struct {
	InstanceID     string `json:"instanceId"`
	TrackingNumber string `json:"trackingNumber"`
	Village        string `json:"village"`
	ItemID         string `json:"itemId"`
	ItemName       string `json:"itemName"`
	ApplicantName  string `json:"applicantName"`
	ApplicantPhone string `json:"applicantPhone"`
	// ApplicantIDHash is personal.HashID of the ID number.
	ApplicantIDHash string `json:"applicantIdHash"`
	Description     string `json:"description,omitempty"`
	Channel         string `json:"channel"`
	// FiledBy, FiledByName and FiledByRole name the official who filed on
	// the villager's behalf (代办); empty for the portal.
	FiledBy     string    `json:"filedBy,omitempty"`
	FiledByName string    `json:"filedByName,omitempty"`
	FiledByRole string    `json:"filedByRole,omitempty"`
	FiledAt     time.Time `json:"filedAt"`
	// Provided lists the files the applicant gave, at filing and later.
	Provided []ProvidedMaterial `json:"provided"`
	// MissingAtFiling are the required materials without a file when
	// the application was filed.
	MissingAtFiling []string           `json:"missingAtFiling,omitempty"`
	Request         *MaterialsRequest  `json:"materialsRequest,omitempty"`
	Supplements     []SupplementRecord `json:"supplements,omitempty"`
	Appointment     *Appointment       `json:"appointment,omitempty"`
}

// ProvidedMaterial is one file an applicant gave for a material.
type ProvidedMaterial struct {
	Material string    `json:"material"`
	FileID   string    `json:"fileId"`
	FileName string    `json:"fileName"`
	Size     int64     `json:"size"`
	At       time.Time `json:"at"`
}

// MaterialsRequest is the cadre's one request for everything missing.
type MaterialsRequest struct {
	Missing         []string  `json:"missing"`
	Note            string    `json:"note,omitempty"`
	RequestedBy     string    `json:"requestedBy"`
	RequestedByName string    `json:"requestedByName,omitempty"`
	RequestedAt     time.Time `json:"requestedAt"`
}

// SupplementRecord is one online supplement by the applicant.
type SupplementRecord struct {
	Files int       `json:"files"`
	Note  string    `json:"note,omitempty"`
	At    time.Time `json:"at"`
}

// Appointment says when and where the applicant comes, or that they need
// not come at all.
type Appointment struct {
	VisitNeeded    bool       `json:"visitNeeded"`
	At             *time.Time `json:"at,omitempty"`
	Place          string     `json:"place,omitempty"`
	Note           string     `json:"note,omitempty"`
	RecordedBy     string     `json:"recordedBy"`
	RecordedByName string     `json:"recordedByName,omitempty"`
	RecordedAt     time.Time  `json:"recordedAt"`
}

// MaterialUpload is one file of an application or a supplement, as the
// handler read it.
type MaterialUpload struct {
	Material string // the catalog material's name, or 其他材料
	Name     string // the file's name as sent
	Data     []byte
}

// ApplyInput is an application, from the portal or filed on behalf.
type ApplyInput struct {
	ItemID      string
	Name        string
	Phone       string
	IDNumber    string
	Description string
	Files       []MaterialUpload
}

// ApplyReceipt is what the applicant takes home: the tracking number and
// the access code, shown once (only its hash is kept).
type ApplyReceipt struct {
	Instance    *Instance    `json:"-"`
	Application *Application `json:"-"`
	// TrackingNumber is public: the portal's 流程到哪了 shows the process.
	TrackingNumber string `json:"trackingNumber"`
	// AccessCode is private: with the number it lets the applicant
	// supplement materials.
	AccessCode string `json:"accessCode"`
	ItemName   string `json:"itemName"`
	// MissingRequired are required materials given no file.
	MissingRequired []string `json:"missingRequired"`
}

// FieldProblem is one invalid field of an application, in Chinese for
// the pages and the API alike.
type FieldProblem struct {
	Field   string
	Message string
}

// ApplicationInvalid is an application refused for its fields (422).
type ApplicationInvalid struct{ Problems []FieldProblem }

func (e *ApplicationInvalid) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Field + ": " + p.Message
	}
	return "invalid application: " + strings.Join(msgs, "; ")
}

// OtherMaterial is the material name of files not for a listed material.
const OtherMaterial = "其他材料"

// ApplicationItem returns the item an application may be made for: on the
// list, and its first step the villager's.
func (c *Catalog) ApplicationItem(id string) (*wuxiaov1.PowerItem, error) {
	item := c.Item(id)
	if item == nil {
		return nil, domainerr.Refuse(422, "not-on-the-list", "Not on the power list",
			"item %q is not on power list %s@%s: no power outside the list (清单之外无权力)", id, c.Name, c.Version)
	}
	if !VillagerFirst(item) {
		first := item.Steps[0]
		return nil, domainerr.Refuse(422, "not-a-villager-item", "Not applied for by villagers",
			"item %s (%s) begins with step %s done by the role %s, not by the villager: only items whose first step is the villager's take applications",
			item.ID, item.Name, first.ID, first.Role)
	}
	return item, nil
}

// VillagerFirst reports whether an item's first step is the villager's.
func VillagerFirst(item *wuxiaov1.PowerItem) bool {
	return len(item.Steps) > 0 && string(item.Steps[0].Role) == string(identity.RoleVillager)
}

// VillagerItems lists the items villagers apply for, in catalog order.
func (c *Catalog) VillagerItems() []*wuxiaov1.PowerItem {
	var out []*wuxiaov1.PowerItem
	for i := range c.Items {
		if VillagerFirst(&c.Items[i]) {
			out = append(out, &c.Items[i])
		}
	}
	return out
}

var phonePattern = regexp.MustCompile(`^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$`)

// normalizePhone drops spaces and dashes a villager may type in a mobile
// number (a landline keeps its dash).
func normalizePhone(s string) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' {
			return '0' + (r - '０')
		}
		if r == ' ' {
			return -1
		}
		return r
	}, s))
	if d := strings.ReplaceAll(s, "-", ""); len(d) == 11 && strings.HasPrefix(d, "1") {
		return d
	}
	return s
}

// validate checks an application's fields against the item and returns
// every problem at once.
func (in *ApplyInput) validate(item *wuxiaov1.PowerItem, needID bool) error {
	in.Name, in.Phone = strings.TrimSpace(in.Name), normalizePhone(in.Phone)
	in.Description = strings.TrimSpace(strings.ReplaceAll(in.Description, "\r\n", "\n"))
	var ps []FieldProblem
	if n := utf8.RuneCountInString(in.Name); n == 0 || n > maxApplicantNameRunes || !utf8.ValidString(in.Name) {
		ps = append(ps, FieldProblem{"name", fmt.Sprintf("请填写申请人姓名（不超过%d个字）", maxApplicantNameRunes)})
	}
	if !phonePattern.MatchString(in.Phone) {
		ps = append(ps, FieldProblem{"phone", "请填写正确的联系电话：11位手机号码，或带区号的固定电话"})
	}
	if needID || in.IDNumber != "" {
		if !personal.ValidIDNumber(in.IDNumber) {
			ps = append(ps, FieldProblem{"idNumber", "请填写正确的18位居民身份证号码"})
		}
	}
	if !utf8.ValidString(in.Description) || utf8.RuneCountInString(in.Description) > maxApplicationDescRunes {
		ps = append(ps, FieldProblem{"description", fmt.Sprintf("申请说明最多%d个字", maxApplicationDescRunes)})
	}
	ps = append(ps, checkUploads(item, in.Files)...)
	if len(ps) > 0 {
		return &ApplicationInvalid{Problems: ps}
	}
	return nil
}

// checkUploads checks the files' count, size and kind; what is stored is
// checked again (and cleaned) by cleanUploads.
func checkUploads(item *wuxiaov1.PowerItem, files []MaterialUpload) []FieldProblem {
	var ps []FieldProblem
	if len(files) > MaxApplicationFiles {
		ps = append(ps, FieldProblem{"files", fmt.Sprintf("最多上传%d个文件（当前%d个）", MaxApplicationFiles, len(files))})
	}
	for i, f := range files {
		if f.Material != OtherMaterial && !slices.ContainsFunc(item.Materials, func(m wuxiaov1.Material) bool { return m.Name == f.Material }) {
			ps = append(ps, FieldProblem{"files", fmt.Sprintf("第%d个文件所属的材料“%s”不在本事项的材料清单中", i+1, f.Material)})
			continue
		}
		switch {
		case len(f.Data) == 0:
			ps = append(ps, FieldProblem{"files", fmt.Sprintf("“%s”的文件是空文件", f.Material)})
		case len(f.Data) > MaxApplicationFileBytes:
			ps = append(ps, FieldProblem{"files", fmt.Sprintf("“%s”的文件超过%dMB", f.Material, MaxApplicationFileBytes>>20)})
		default:
			if ct, _, _ := SniffEvidenceType(f.Data, f.Name); ct != "image/jpeg" && ct != "image/png" && ct != "application/pdf" {
				ps = append(ps, FieldProblem{"files", fmt.Sprintf("“%s”的文件格式不支持，只能上传JPG、PNG图片或PDF文件", f.Material)})
			}
		}
	}
	return ps
}

// cleanUploads removes the files' metadata (a photo's GPS position, a
// PDF's author): what is stored is the cleaned file, in memory lent by bufs
// (nil: fresh).
func cleanUploads(files []MaterialUpload, bufs *uploadBuffers) ([]MaterialUpload, error) {
	out := make([]MaterialUpload, len(files))
	for i, f := range files {
		var dst []byte
		if k := media.Sniff(f.Data); k == media.JPEG || k == media.PNG {
			dst = bufs.get(len(f.Data))
		}
		clean, err := media.CleanInto(dst, f.Data)
		if err != nil {
			return nil, &ApplicationInvalid{Problems: []FieldProblem{{"files", fmt.Sprintf(
				"“%s”的文件无法去除其中的拍摄位置、作者等信息，请换一个文件（例如截图后上传，或将PDF另存为新文件）", f.Material)}}}
		}
		out[i] = MaterialUpload{Material: f.Material, Name: cleanFileName(f.Name), Data: clean}
	}
	return out, nil
}

// missingRequired are the item's required materials without a file.
func missingRequired(item *wuxiaov1.PowerItem, provided []ProvidedMaterial) []string {
	var out []string
	for _, m := range item.Materials {
		if m.Required && !slices.ContainsFunc(provided, func(p ProvidedMaterial) bool { return p.Material == m.Name }) {
			out = append(out, m.Name)
		}
	}
	return out
}

// newAccessCode is eight characters that cannot be confused, shown as
// XXXX-XXXX (40 bits; guessing is rate limited per number and client).
func newAccessCode() string {
	b := make([]byte, accessCodeLen)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = accessCodeAlphabet[int(b[i])%len(accessCodeAlphabet)]
	}
	return string(b[:4]) + "-" + string(b[4:])
}

// normalizeAccessCode accepts the code as typed: any case, with or
// without the dash and spaces.
func normalizeAccessCode(s string) string {
	s = strings.ToUpper(strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, s))
	if len(s) != accessCodeLen {
		return ""
	}
	return s[:4] + "-" + s[4:]
}

// accessCodeHash is the keyed hash under which the access code is kept,
// bound to its instance.
func (s *Service) accessCodeHash(instanceID, code string) string {
	m := hmac.New(sha256.New, s.IDHashKey)
	m.Write([]byte(applicationAccessCodeTag + instanceID + "\x00" + code))
	return hex.EncodeToString(m.Sum(nil))
}

// applicantActor is the villager as the engine sees them.
func (s *Service) applicantActor(village, name string) Actor {
	return Actor{ID: ApplicantActorID, Name: personal.MaskName(name), Role: string(identity.RoleVillager), Town: s.Town, Village: village}
}

// mayFileOnBehalf: the village's cadres who serve villagers, and the town
// officials (the service desk), of this town; supervision and discipline
// roles watch the process and do not file or handle it.
func (s *Service) mayHandleApplications(a Actor, village string) error {
	if a.Town != s.Town {
		return domainerr.Refuse(403, "other-town", "Other town", "this process belongs to another town")
	}
	switch identity.Role(a.Role) {
	case identity.RoleTownOfficial:
		return nil
	case identity.RoleSecretary, identity.RoleDirector, identity.RoleCommitteeMember, identity.RoleAccountant, identity.RoleCashier:
		if a.Village == village {
			return nil
		}
		return domainerr.Refuse(403, "other-village", "Other village", "you act for village %s, not %s", a.Village, village)
	}
	return domainerr.Refuse(403, "forbidden", "Not allowed",
		"applications are filed and handled by the village's cadres or the town's service desk (town-official); you are %s", a.Role)
}

// Apply files an application in village: from the portal when filer is
// nil, else on the villager's behalf by filer (代办). The process starts
// and its first step, the villager's, is recorded as the applicant's.
func (s *Service) Apply(ctx context.Context, village string, in ApplyInput, filer *Actor) (*ApplyReceipt, error) {
	return s.apply(ctx, village, in, filer, nil)
}

// apply is Apply with the cleaned files in memory lent by bufs (nil:
// fresh), which the caller releases once it returns.
func (s *Service) apply(ctx context.Context, village string, in ApplyInput, filer *Actor, bufs *uploadBuffers) (*ApplyReceipt, error) {
	item, err := s.Engine.Catalog.ApplicationItem(in.ItemID)
	if err != nil {
		return nil, err
	}
	if filer != nil {
		if err := s.mayHandleApplications(*filer, village); err != nil {
			return nil, err
		}
	}
	// The portal needs the ID number (the cadres check who applies); a
	// cadre filing for someone may not have it at hand.
	if err := in.validate(item, filer == nil); err != nil {
		return nil, err
	}
	files, err := cleanUploads(in.Files, bufs)
	if err != nil {
		return nil, err
	}
	now := s.now()
	applicant := s.applicantActor(village, in.Name)
	inst, _, err := s.Engine.Start(applicant, StartInput{ItemID: item.ID, Village: village, Title: "村民申请：" + item.Name, Now: now})
	if err != nil {
		return nil, err
	}
	inst.ID, inst.TrackingNumber, inst.Version = uuid.NewString(), trackingNumber(village, now), 1
	app := &Application{InstanceID: inst.ID, TrackingNumber: inst.TrackingNumber, Village: village, ItemID: item.ID,
		ItemName: item.Name, ApplicantName: in.Name, ApplicantPhone: in.Phone, Description: in.Description,
		Channel: ChannelPortal, FiledAt: now, Provided: []ProvidedMaterial{}}
	if in.IDNumber != "" {
		app.ApplicantIDHash = s.HashID(in.IDNumber)
	}
	auditActor, note := applicant, "村民通过村务公开平台在线申请"
	if filer != nil {
		app.Channel, app.FiledBy, app.FiledByName, app.FiledByRole = ChannelOnBehalf, filer.ID, filer.Name, filer.Role
		inst.StartedBy, auditActor = filer.ID, *filer
		note = fmt.Sprintf("由%s（%s）代办", filer.Name, filer.Role)
	}
	first := item.Steps[0]
	stored := s.provide(inst, app, first.ID, files, now)
	app.MissingAtFiling = missingRequired(item, app.Provided)
	code := newAccessCode()
	next := ""
	if len(first.Next) > 1 {
		next = first.Next[0] // the catalog's first choice; a cadre records another out of order
	}
	started := inst
	villages := s.knownVillages()
	// A tracking number drawn twice the same day in a village (5 random
	// characters) is drawn again rather than answered with an error; a
	// registry changed since it was remembered is read again.
	fresh := false
	for attempt := 0; ; attempt++ {
		var st villageState
		if st, err = villages.state(ctx, s, village, fresh); err == nil {
			err = s.fileApplication(ctx, village, st, started, &inst, app, applicant, auditActor, first, next, note, stored, code, now)
		}
		var pgErr *pgconn.PgError
		if attempt < 3 && errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "instances_tracking_number_key" {
			started.TrackingNumber = trackingNumber(village, now)
			app.TrackingNumber = started.TrackingNumber
			continue
		}
		if attempt < 3 && isVillageChanged(err) {
			villages.forget(village)
			fresh = true
			continue
		}
		break
	}
	if err != nil {
		return nil, fmtErr("filing application", err)
	}
	return &ApplyReceipt{Instance: inst, Application: app, TrackingNumber: inst.TrackingNumber, AccessCode: code,
		ItemName: item.Name, MissingRequired: app.MissingAtFiling}, nil
}

// fileApplication is Apply's transaction: *inst is set to the instance as
// stored (a retried transaction starts again from started). Everything is
// built before a pooled connection is taken, from what the registry said
// of the village (st, remembered: application_villages.go). The
// connection is then held for two round trips: each file's COPY (the
// first one opening the transaction: "BEGIN; COPY ...") and the writes as
// one batch ending in COMMIT (one more only when the step warns, since
// which warnings are new decides which events to enqueue). The batch's
// first statement checks the registry still says st, else nothing is
// written and Apply files again with what it reads. It was three round
// trips (the reads first), with the batch built while the connection
// waited; under load each round trip is a wake-up of this process and of
// the server while the pool's other applicants queue for the connection.
// The bytes go by COPY: as a bytea[] parameter of a queued INSERT, pgx
// copied them three times while encoding (2 ms more CPU here and in
// PostgreSQL per MiB, measured). The guarantees are the same: one
// transaction, so a 201 means the process, the application, its files,
// the audit entries and the events are all committed, or nothing is.
func (s *Service) fileApplication(ctx context.Context, village string, st villageState, started *Instance, out **Instance, app *Application,
	applicant, auditActor Actor, first wuxiaov1.Step, next, note string, stored []storedMaterial, code string, now time.Time) error {
	if err := villageRefusal(village, st.Known, st.Archived, st.Closed); err != nil {
		return err
	}
	inst := cloneInstance(started)
	*out = inst
	warnings, timers, err := s.Engine.Complete(inst, applicant, CompleteInput{StepID: first.ID, Next: next, Note: note, Now: now, Thresholds: st.Thresholds})
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	w := batchWriter{b}
	if len(stored) == 0 {
		b.Queue(`BEGIN`) // else with the first file's COPY
	}
	b.Queue(villageGuardSQL, villageGuardArgs(village, st)...)
	if err := insertInstanceTo(ctx, w, inst); err != nil {
		return err
	}
	_ = insertTimersTo(ctx, w, inst.ID, timers) // queueing cannot fail
	queueMaterialFiles(b, inst.ID, first.ID, stored)
	var fresh []Warning
	for i := range warnings {
		warnings[i].ID = uuid.NewString()
		wr := warnings[i]
		b.Queue(insertWarningSQL, warningArgs(wr, 1)...).Exec(func(ct pgconn.CommandTag) error {
			if ct.RowsAffected() == 1 {
				fresh = append(fresh, wr)
			}
			return nil
		})
	}
	if err := queueApplication(b, app, s.accessCodeHash(inst.ID, code)); err != nil {
		return err
	}
	// A new instance's chain starts here: the first entry has no
	// predecessor, the second follows the first.
	filed, err := s.queueAudit(ctx, w, inst, nil, now, auditActor, "application.filed", app.audited())
	if err != nil {
		return err
	}
	if _, err := s.queueAudit(ctx, w, inst, &filed, now, applicant, "step.completed", map[string]any{"step": first.ID, "note": note}); err != nil {
		return err
	}
	if err := s.publishTo(ctx, w, inst, eventsv1.TypeInstanceStarted, eventsv1.InstanceStarted{InstanceRef: ref(inst),
		Title: inst.Title, StartedBy: inst.StartedBy, StartedAt: now}); err != nil {
		return err
	}
	// The next step's name and role tell its holders they have a new
	// task (the inspection service's notifications).
	nextName, nextRole := s.stepWho(inst, inst.Current)
	if err := s.publishTo(ctx, w, inst, eventsv1.TypeStepCompleted, eventsv1.StepCompleted{InstanceRef: ref(inst),
		StepID: first.ID, StepName: first.Name, ActorID: ApplicantActorID, ActorRole: applicant.Role, CompletedAt: now,
		NextStep: inst.Current, NextStepName: nextName, NextRole: nextRole}); err != nil {
		return err
	}
	// The rest, after the new warnings' events when the step warns.
	rest := func(w batchWriter) error {
		if err := s.publishTo(ctx, w, inst, eventsv1.TypeApplicationFiled, eventsv1.ApplicationFiled{InstanceRef: ref(inst),
			Channel: app.Channel, FiledBy: app.FiledBy, Materials: len(stored), FiledAt: now}); err != nil {
			return err
		}
		// The step entered may require a posting (postings.go); a new
		// instance has none open.
		if err := s.syncPostingsTo(ctx, w, inst, nil, now); err != nil {
			return err
		}
		w.b.Queue(`COMMIT`)
		return nil
	}
	if len(warnings) == 0 {
		if err := rest(w); err != nil {
			return err
		}
	}
	return inConnTx(ctx, s.Pool, func(conn *pgx.Conn) error {
		// The files' bytes first (their chunks name no other row), the
		// first COPY opening the transaction.
		begin := "BEGIN; "
		for _, f := range stored {
			if err := copyFileData(ctx, conn, begin, f.ID, f.Data); err != nil {
				return err
			}
			begin = ""
		}
		if err := conn.SendBatch(ctx, b).Close(); err != nil || len(warnings) == 0 {
			return err
		}
		w := batchWriter{&pgx.Batch{}}
		if err := s.publishWarningsTo(ctx, w, inst, fresh); err != nil {
			return err
		}
		if err := rest(w); err != nil {
			return err
		}
		return conn.SendBatch(ctx, w.b).Close()
	})
}

// storedMaterial is an upload about to be stored as evidence.
type storedMaterial struct {
	Evidence
	ContentType string
	Data        []byte
}

// provide lists uploads as the application's materials and as evidence of
// the step; the caller stores them (insertMaterialFiles).
func (s *Service) provide(inst *Instance, app *Application, stepID string, files []MaterialUpload, now time.Time) []storedMaterial {
	out := make([]storedMaterial, 0, len(files))
	for _, f := range files {
		sum := sha256.Sum256(f.Data)
		fid := uuid.NewString()
		ct, _, _ := SniffEvidenceType(f.Data, f.Name)
		ev := Evidence{ID: fid, StepID: stepID, Kind: EvidenceApplicationMaterial, Name: f.Material + "：" + f.Name,
			URL: evidenceFilePath(inst.ID, fid), SHA256: hex.EncodeToString(sum[:]), Size: int64(len(f.Data)),
			AddedBy: ApplicantActorID, AddedAt: now}
		inst.Evidence = append(inst.Evidence, ev)
		app.Provided = append(app.Provided, ProvidedMaterial{Material: f.Material, FileID: fid, FileName: f.Name, Size: ev.Size, At: now})
		out = append(out, storedMaterial{Evidence: ev, ContentType: ct, Data: f.Data})
	}
	return out
}

// audited is what the audit chain keeps of an application: nothing that
// identifies the applicant beyond the keyed hash of the ID number.
func (a *Application) audited() map[string]any {
	files := make([]map[string]any, len(a.Provided))
	for i, p := range a.Provided {
		files[i] = map[string]any{"material": p.Material, "fileId": p.FileID, "size": p.Size}
	}
	return map[string]any{"item": a.ItemID, "channel": a.Channel, "filedBy": a.FiledBy, "applicantIdHash": a.ApplicantIDHash,
		"materials": files, "missingAtFiling": a.MissingAtFiling}
}

// MaterialsRequestInput is the cadre's request for what is missing.
type MaterialsRequestInput struct {
	Missing []string `json:"missing"`
	Note    string   `json:"note,omitempty"`
}

// RequestMaterials records the cadre's one request for every missing
// material. A second request is refused: "run at most once" means the
// villager is told everything at once.
func (s *Service) RequestMaterials(ctx context.Context, actor Actor, instanceID string, in MaterialsRequestInput) (*Application, error) {
	var missing []string
	for _, m := range in.Missing {
		if m = strings.TrimSpace(m); m != "" && !slices.Contains(missing, m) {
			missing = append(missing, m)
		}
	}
	note := strings.TrimSpace(in.Note)
	switch {
	case len(missing) == 0:
		return nil, domainerr.Refuse(400, "invalid-request", "Nothing listed", "list every missing material in missing (at least one)")
	case len(missing) > maxMissingMaterials:
		return nil, domainerr.Refuse(400, "invalid-request", "Too many materials", "at most %d missing materials", maxMissingMaterials)
	case utf8.RuneCountInString(note) > maxApplicationNoteRunes:
		return nil, domainerr.Refuse(400, "invalid-request", "Note too long", "the note may have at most %d characters", maxApplicationNoteRunes)
	}
	for _, m := range missing {
		if utf8.RuneCountInString(m) > maxMaterialNameRunes {
			return nil, domainerr.Refuse(400, "invalid-request", "Material name too long", "a material's name may have at most %d characters", maxMaterialNameRunes)
		}
	}
	app, err := s.cadreAction(ctx, actor, instanceID, func(tx pgx.Tx, inst *Instance, a *Application, now time.Time) error {
		if a.Request != nil {
			return domainerr.Refuse(409, "materials-already-requested", "Materials already requested",
				"missing materials were already requested on %s by %s: run at most once (最多跑一次) allows one request, listing everything missing at once; record an appointment instead",
				a.Request.RequestedAt.In(tz.Shanghai).Format("2006-01-02 15:04"), a.Request.RequestedByName)
		}
		a.Request = &MaterialsRequest{Missing: missing, Note: note, RequestedBy: actor.ID, RequestedByName: actor.Name, RequestedAt: now}
		if err := updateApplication(ctx, tx, a, true); err != nil {
			return err
		}
		if err := s.appendAudit(ctx, tx, inst, now, actor, "application.materials-requested", a.Request); err != nil {
			return err
		}
		return s.publish(ctx, tx, inst, eventsv1.TypeApplicationMaterialsAsked, eventsv1.ApplicationMaterialsRequested{
			InstanceRef: ref(inst), Missing: missing, RequestedBy: actor.ID, RequestedAt: now})
	})
	return app, fmtErr("requesting materials", err)
}

// Supplement stores the materials the applicant supplies online, with
// the tracking number and access code, after the cadre asked for them
// and before the appointment is made.
func (s *Service) Supplement(ctx context.Context, number, code, note string, files []MaterialUpload) (*Application, error) {
	note = strings.TrimSpace(note)
	if utf8.RuneCountInString(note) > maxApplicationNoteRunes {
		return nil, &ApplicationInvalid{Problems: []FieldProblem{{"note", fmt.Sprintf("补充说明最多%d个字", maxApplicationNoteRunes)}}}
	}
	var app *Application
	err := s.onApplication(ctx, "tracking_number = $1", number, func(tx pgx.Tx, inst *Instance, a *Application, now time.Time) error {
		app = a
		if err := s.checkAccessCode(ctx, tx, inst.ID, code); err != nil {
			return err
		}
		switch {
		case inst.Status != StatusRunning:
			return domainerr.Refuse(409, "not-running", "Process not running", "申请已办结或已撤回，无需再补充材料")
		case a.Request == nil:
			return domainerr.Refuse(409, "nothing-requested", "Nothing requested", "村里尚未要求补充材料，无需补充")
		case a.Appointment != nil:
			return domainerr.Refuse(409, "appointment-made", "Appointment made", "村里已告知办理安排，请按安排办理；如需补充请联系村里")
		}
		item := s.Engine.Catalog.Item(inst.ItemID)
		if item == nil {
			return domainerr.Refuse(409, "item-withdrawn", "Item no longer listed", "该事项已不在权力清单上")
		}
		if len(files) == 0 {
			return &ApplicationInvalid{Problems: []FieldProblem{{"files", "请至少上传一个补充材料的文件"}}}
		}
		if ps := checkUploads(item, files); len(ps) > 0 {
			return &ApplicationInvalid{Problems: ps}
		}
		clean, err := cleanUploads(files, nil)
		if err != nil {
			return err
		}
		stored := s.provide(inst, a, item.Steps[0].ID, clean, now)
		if err := insertMaterialFiles(ctx, tx, inst.ID, item.Steps[0].ID, stored); err != nil {
			return err
		}
		if err := saveInstance(ctx, tx, inst, now); err != nil {
			return err
		}
		a.Supplements = append(a.Supplements, SupplementRecord{Files: len(stored), Note: note, At: now})
		if err := updateApplication(ctx, tx, a, false); err != nil {
			return err
		}
		ids := make([]string, len(stored))
		for i, f := range stored {
			ids[i] = f.ID
		}
		if err := s.appendAudit(ctx, tx, inst, now, s.applicantActor(inst.Village, a.ApplicantName), "application.supplemented",
			map[string]any{"files": ids, "note": note}); err != nil {
			return err
		}
		return s.publish(ctx, tx, inst, eventsv1.TypeApplicationSupplemented, eventsv1.ApplicationSupplemented{
			InstanceRef: ref(inst), Materials: len(stored), SupplementedAt: now})
	})
	return app, fmtErr("supplementing", err)
}

// AppointmentInput is the cadre's word on the visit.
type AppointmentInput struct {
	VisitNeeded bool       `json:"visitNeeded"`
	At          *time.Time `json:"at,omitempty"`
	Place       string     `json:"place,omitempty"`
	Note        string     `json:"note,omitempty"`
}

// SetAppointment records when and where the applicant comes, or that no
// visit is needed; a later call replaces it (audited each time).
func (s *Service) SetAppointment(ctx context.Context, actor Actor, instanceID string, in AppointmentInput) (*Application, error) {
	in.Place, in.Note = strings.TrimSpace(in.Place), strings.TrimSpace(in.Note)
	switch {
	case in.VisitNeeded && (in.At == nil || in.Place == ""):
		return nil, domainerr.Refuse(400, "invalid-request", "When and where", "a visit needs at (when) and place (where)")
	case !in.VisitNeeded && in.At != nil:
		return nil, domainerr.Refuse(400, "invalid-request", "No visit, no time", "at is for a visit; set visitNeeded")
	case utf8.RuneCountInString(in.Place) > 200 || utf8.RuneCountInString(in.Note) > maxApplicationNoteRunes:
		return nil, domainerr.Refuse(400, "invalid-request", "Text too long", "place at most 200, note at most %d characters", maxApplicationNoteRunes)
	}
	app, err := s.cadreAction(ctx, actor, instanceID, func(tx pgx.Tx, inst *Instance, a *Application, now time.Time) error {
		a.Appointment = &Appointment{VisitNeeded: in.VisitNeeded, At: in.At, Place: in.Place, Note: in.Note,
			RecordedBy: actor.ID, RecordedByName: actor.Name, RecordedAt: now}
		if err := updateApplication(ctx, tx, a, false); err != nil {
			return err
		}
		if err := s.appendAudit(ctx, tx, inst, now, actor, "application.appointment", a.Appointment); err != nil {
			return err
		}
		return s.publish(ctx, tx, inst, eventsv1.TypeApplicationAppointmentMade, eventsv1.ApplicationAppointment{
			InstanceRef: ref(inst), VisitNeeded: in.VisitNeeded, At: in.At, Place: in.Place, RecordedBy: actor.ID, RecordedAt: now})
	})
	return app, fmtErr("recording appointment", err)
}

// cadreAction runs fn on the locked running process and its application
// when actor may handle the village's applications.
func (s *Service) cadreAction(ctx context.Context, actor Actor, instanceID string, fn func(pgx.Tx, *Instance, *Application, time.Time) error) (*Application, error) {
	var app *Application
	err := s.onApplication(ctx, "id = $1", instanceID, func(tx pgx.Tx, inst *Instance, a *Application, now time.Time) error {
		app = a
		if err := s.mayHandleApplications(actor, inst.Village); err != nil {
			return err
		}
		if inst.Status != StatusRunning {
			return domainerr.Refuse(409, "not-running", "Process not running", "instance %s is %s", inst.TrackingNumber, inst.Status)
		}
		return fn(tx, inst, a, now)
	})
	return app, err
}

// onApplication runs fn on the locked instance and its application.
func (s *Service) onApplication(ctx context.Context, where string, arg any, fn func(pgx.Tx, *Instance, *Application, time.Time) error) error {
	if where == "id = $1" {
		if _, err := uuid.Parse(fmt.Sprint(arg)); err != nil {
			return ErrNotFound
		}
	}
	return store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		inst, err := loadInstance(ctx, tx, where, arg, true)
		if err != nil {
			return err
		}
		app, err := loadApplication(ctx, tx, inst.ID, true)
		if err != nil {
			return err
		}
		return fn(tx, inst, app, s.now())
	})
}

// ErrBadAccessCode: the tracking number and access code do not match.
var ErrBadAccessCode = domainerr.Refuse(403, "wrong-access-code", "Wrong access code", "受理编号或查询码不正确，请核对回执上的编号和查询码")

func (s *Service) checkAccessCode(ctx context.Context, tx pgx.Tx, instanceID, code string) error {
	code = normalizeAccessCode(code)
	want, err := applicationCodeHash(ctx, tx, instanceID)
	if err != nil {
		return err
	}
	if code == "" || !hmac.Equal([]byte(want), []byte(s.accessCodeHash(instanceID, code))) {
		return ErrBadAccessCode
	}
	return nil
}

// ApplicationOf returns an instance's application (ErrNotFound if the
// process was not applied for).
func (s *Service) ApplicationOf(ctx context.Context, instanceID string) (*Application, error) {
	var app *Application
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		app, err = loadApplication(ctx, tx, instanceID, false)
		return err
	})
	return app, fmtErr("reading application", err)
}

// ApplicationByCode returns the instance and application of a tracking
// number when the access code matches.
func (s *Service) ApplicationByCode(ctx context.Context, number, code string) (*Instance, *Application, error) {
	var inst *Instance
	var app *Application
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		if inst, err = loadInstance(ctx, tx, "tracking_number = $1", number, false); err != nil {
			return err
		}
		if app, err = loadApplication(ctx, tx, inst.ID, false); err != nil {
			return err
		}
		return s.checkAccessCode(ctx, tx, inst.ID, code)
	})
	return inst, app, fmtErr("reading application", err)
}

// cloneInstance copies an instance deeply enough for a retried
// transaction to start again from it.
func cloneInstance(in *Instance) *Instance {
	c := *in
	c.Steps = slices.Clone(in.Steps)
	c.Evidence = slices.Clone(in.Evidence)
	return &c
}
