package workflow

// HTTP of villagers' applications: the public intake (JSON API and the
// portal's pages, application_pages.go) under rate limits and upload
// limits, and the cadres' staff API (代办, the one materials request, the
// appointment).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/pow"
	"github.com/wuxiao/wuxiao/services/internal/ratelimit"
)

// ApplicationLimits are the abuse limits of the public intake; zero
// values take the defaults.
type ApplicationLimits struct {
	// One application per ClientEvery per client (an IPv6 client counted by
	// its /64), up to ClientBurst at once (default 10m, 5).
	ClientEvery time.Duration
	ClientBurst int
	// The village's applications together (default 20s, 60).
	VillageEvery time.Duration
	VillageBurst int
	// Access-code attempts on one tracking number (default 10m, 10) and
	// by one client (default 1m, 20).
	CodeEvery       time.Duration
	CodeBurst       int
	LookupEvery     time.Duration
	LookupBurst     int
	ConcurrentFiles int // requests reading uploads at once (default 16); others wait up to 10s, then 503
	// ChallengeKey signs the proof-of-work challenges demanded once the
	// village's bucket is empty (like the complaint report page's); the same
	// on every replica. Empty: a random key per process.
	ChallengeKey []byte
}

func (l ApplicationLimits) withDefaults() ApplicationLimits {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&l.ClientEvery, 10*time.Minute)
	defInt(&l.ClientBurst, 5)
	def(&l.VillageEvery, 20*time.Second)
	defInt(&l.VillageBurst, 60)
	def(&l.CodeEvery, 10*time.Minute)
	defInt(&l.CodeBurst, 10)
	def(&l.LookupEvery, time.Minute)
	defInt(&l.LookupBurst, 20)
	defInt(&l.ConcurrentFiles, 16)
	return l
}

// applicationGuard holds the intake's buckets and upload slots.
type applicationGuard struct {
	clients, villages, codes, lookups *ratelimit.Limiter
	slots                             chan struct{}
	challenger                        *pow.Challenger
	known                             knownVillages
}

func newApplicationGuard(l ApplicationLimits) *applicationGuard {
	l = l.withDefaults()
	const maxKeys = 100_000
	return &applicationGuard{
		clients:  ratelimit.NewLimiter(ratelimit.Rate{Every: l.ClientEvery, Burst: l.ClientBurst}, maxKeys, 0),
		villages: ratelimit.NewLimiter(ratelimit.Rate{Every: l.VillageEvery, Burst: l.VillageBurst}, maxKeys, 0),
		codes:    ratelimit.NewLimiter(ratelimit.Rate{Every: l.CodeEvery, Burst: l.CodeBurst}, maxKeys, 0),
		lookups:  ratelimit.NewLimiter(ratelimit.Rate{Every: l.LookupEvery, Burst: l.LookupBurst}, maxKeys, 0),
		slots:    make(chan struct{}, l.ConcurrentFiles),
		// Its own signature domain: a complaint challenge (same town key)
		// is not a proof here.
		challenger: pow.NewChallenger(pow.ChallengerConfig{Key: l.ChallengeKey, Domain: "wuxiao-workflow-application-pow-v1"}),
	}
}

// errRateLimited carries how long to wait.
type errRateLimited struct{ wait time.Duration }

func (e errRateLimited) Error() string { return "rate limited" }

// Headers carrying a solved proof of work (the complaint intake's names).
const (
	HeaderChallenge = "X-Wuxiao-Challenge"
	HeaderNonce     = "X-Wuxiao-Nonce"
)

// errChallengeRequired: the village's bucket is empty (a flood); a solved
// proof of work of this challenge passes it (428).
type errChallengeRequired struct{ challenge pow.Challenge }

func (e errChallengeRequired) Error() string { return "proof of work required" }

// errChallengeRefused: the proof sent is not valid (403), e.g. spent.
type errChallengeRefused struct{ fe *domainerr.FieldError }

func (e errChallengeRefused) Error() string { return e.fe.Message }

// admitApplication takes a token of the client's and the village's bucket.
// As on the complaint report page, a client within its own limit passes an
// empty village bucket (a flood) with a solved proof of work (token and
// nonce, from the headers or the page's pow_token/pow_nonce fields); without
// one it gets a challenge.
func (g *applicationGuard) admitApplication(r *http.Request, village string, now time.Time, token, nonce string) error {
	client := httpapi.ClientRateKey(r)
	if ok, _ := ratelimit.AllowAll(now, ratelimit.Key{Limiter: g.clients, Key: client},
		ratelimit.Key{Limiter: g.villages, Key: village}); ok {
		return nil
	}
	if ok, wait := g.clients.Peek(client, now); !ok {
		return errRateLimited{wait} // the client's own limit: no proof helps
	}
	if token == "" {
		return errChallengeRequired{g.challenger.IssueChallenge(village, 0, now)}
	}
	if err := g.challenger.VerifyPoWForVillage(token, nonce, village, now); err != nil {
		var fe *domainerr.FieldError
		if !errors.As(err, &fe) {
			fe = &domainerr.FieldError{Field: "pow_token", Code: "challenge_failed", Message: "验证未通过，请刷新页面后重试"}
		}
		return errChallengeRefused{fe}
	}
	if ok, wait := g.clients.Allow(client, now); !ok {
		return errRateLimited{wait}
	}
	return nil
}

// admitCode takes a token of the client's and the tracking number's
// access-code bucket: guessing a code is slow whoever guesses.
func (g *applicationGuard) admitCode(r *http.Request, number string, now time.Time) error {
	ok, wait := ratelimit.AllowAll(now, ratelimit.Key{Limiter: g.lookups, Key: httpapi.ClientRateKey(r)},
		ratelimit.Key{Limiter: g.codes, Key: number})
	if !ok {
		return errRateLimited{wait}
	}
	return nil
}

// uploadSlot waits (up to 10s) for a slot to read an upload in: bounds
// the memory all uploads hold at once.
func (g *applicationGuard) uploadSlot(r *http.Request) (func(), bool) {
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, true
	case <-t.C:
	case <-r.Context().Done():
	}
	return nil, false
}

func (s *Service) applicationRoutes(srv *httpapi.Server) {
	s.appGuard = newApplicationGuard(s.ApplicationLimits)
	upload := func(h http.HandlerFunc) http.Handler {
		return httpapi.WithBodyLimit(applicationBodyLimit, httpapi.Public(h))
	}
	srv.Handle("POST /v1/public/villages/{village}/applications", upload(s.publicApply))
	srv.Handle("POST /v1/public/applications/{number}/supplement", upload(s.publicSupplement))
	srv.HandleFunc("POST /v1/villages/{village}/applications", s.applyOnBehalf)
	srv.HandleFunc("GET /v1/instances/{id}/application", s.getApplication)
	srv.HandleFunc("POST /v1/instances/{id}/materials-request", applicationAction(s, s.RequestMaterials))
	srv.HandleFunc("POST /v1/instances/{id}/appointment", applicationAction(s, s.SetAppointment))
	s.applicationPageRoutes(srv, upload) // application_pages.go
}

// applicationForm is a multipart form as read: its fields and files.
type applicationForm struct {
	Fields map[string]string
	Files  []MaterialUpload
}

var (
	errAppFormTooLarge  = errors.New("the form is larger than an application allows")
	errAppFormMalformed = errors.New("malformed form")
)

// readApplicationForm reads a multipart form (or an urlencoded one, which
// has no files). Files are in parts named material-<i> (the item's i-th
// material, see numberFiles) or material-other; empty file inputs are
// skipped. A file over
// the limit is kept one byte too long, for checkUploads to say so. The
// files' bytes are in memory lent by bufs (nil: fresh).
func readApplicationForm(r *http.Request, bufs *uploadBuffers) (*applicationForm, error) {
	f := &applicationForm{Fields: map[string]string{}}
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err != nil {
			return f, formError(err)
		}
		for k := range r.PostForm {
			f.Fields[k] = r.PostForm.Get(k)
		}
		return f, nil
	}
	if ct != "multipart/form-data" || err != nil || params["boundary"] == "" {
		return f, errAppFormMalformed
	}
	// A large buffer under the multipart reader (which reads through its
	// own 4 KiB one): the body is read in 64 KiB system calls instead of
	// 4 KiB ones.
	body := &countingReader{r: r.Body}
	br := bufio.NewReaderSize(body, 64<<10)
	mr := multipart.NewReader(br, params["boundary"])
	for parts := 0; ; parts++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return f, nil
		}
		if err != nil {
			return f, formError(err)
		}
		if parts >= 64 {
			return f, errAppFormMalformed
		}
		name := part.FormName()
		if strings.HasPrefix(name, "material-") {
			// Sized once from what the body has left (read or not, in
			// either buffer) rather than grown by doubling (a photo would
			// be copied a dozen times).
			left := r.ContentLength - body.n + int64(br.Buffered()) + multipartBuffer
			data, err := readAllHint(io.LimitReader(part, MaxApplicationFileBytes+1), bufs, left, MaxApplicationFileBytes+1)
			if err != nil {
				return f, formError(err)
			}
			if _, err := io.Copy(io.Discard, part); err != nil {
				return f, formError(err)
			}
			if part.FileName() == "" && len(data) == 0 {
				continue // an input left empty
			}
			// Named by numberFiles once the item is known; a name left
			// with "?" is no material of the item (checkUploads says so).
			material := "?" + name
			if name == "material-other" {
				material = OtherMaterial
			}
			f.Files = append(f.Files, MaterialUpload{Material: material, Name: part.FileName(), Data: data})
			continue
		}
		v, err := io.ReadAll(io.LimitReader(part, 16<<10))
		if err != nil {
			return f, formError(err)
		}
		if _, err := io.Copy(io.Discard, part); err != nil {
			return f, formError(err)
		}
		f.Fields[name] = string(v)
	}
}

// multipartBuffer is the size of mime/multipart's own read buffer.
const multipartBuffer = 4096

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readAllHint is io.ReadAll of r, which ends within limit bytes, into a
// buffer of hint bytes (at most limit) lent by bufs, grown only if the
// hint was short.
func readAllHint(r io.Reader, bufs *uploadBuffers, hint, limit int64) ([]byte, error) {
	// One byte more than the data, for the read that sees the end.
	b := bufs.get(int(max(min(hint, limit), 511) + 1))
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return b, nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

func formError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errAppFormTooLarge
	}
	return errAppFormMalformed
}

// numberFiles names the files of a form read before its item was known
// (material-<i> is the item's i-th material).
func (f *applicationForm) numberFiles(item *wuxiaov1.PowerItem) {
	if item == nil {
		return
	}
	for i := range f.Files {
		idx, err := strconv.Atoi(strings.TrimPrefix(f.Files[i].Material, "?material-"))
		if strings.HasPrefix(f.Files[i].Material, "?material-") && err == nil && idx >= 0 && idx < len(item.Materials) {
			f.Files[i].Material = item.Materials[idx].Name
		}
	}
}

// applyInput is the form's application.
func (f *applicationForm) applyInput(itemID string) ApplyInput {
	return ApplyInput{ItemID: itemID, Name: f.Fields["name"], Phone: f.Fields["phone"], IDNumber: f.Fields["idNumber"],
		Description: f.Fields["description"], Files: f.Files}
}

// writeApplicationErr answers the API's refusals as problem details.
func writeApplicationErr(w http.ResponseWriter, r *http.Request, err error) {
	var inv *ApplicationInvalid
	var rl errRateLimited
	var chReq errChallengeRequired
	var chBad errChallengeRefused
	switch {
	case errors.As(err, &inv):
		fes := make([]httpapi.FieldError, len(inv.Problems))
		for i, p := range inv.Problems {
			fes[i] = httpapi.FieldError{Field: p.Field, Detail: p.Message}
		}
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(fes...))
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.FormatInt(httpapi.RetryAfterSeconds(rl.wait), 10))
		httpapi.WriteProblem(w, r, &httpapi.Problem{Type: httpapi.ProblemBase + "workflow/rate-limited", Title: "Too many requests",
			Status: http.StatusTooManyRequests, Detail: "提交过于频繁，请稍后再试"})
	case errors.As(err, &chReq):
		httpapi.WriteProblem(w, r, (&httpapi.Problem{Type: httpapi.ProblemBase + "workflow/challenge-required", Title: "Proof of work required",
			Status: http.StatusPreconditionRequired, Detail: "当前提交量较大，请完成自动验证后再提交"}).
			With("challenge", chReq.challenge).With("retryHeaders", []string{HeaderChallenge, HeaderNonce}))
	case errors.As(err, &chBad):
		httpapi.WriteProblem(w, r, (&httpapi.Problem{Type: httpapi.ProblemBase + "workflow/challenge-failed", Title: "Challenge not accepted",
			Status: http.StatusForbidden, Detail: chBad.fe.Message}).With("code", chBad.fe.Code))
	case errors.Is(err, errAppFormTooLarge):
		httpapi.WriteProblem(w, r, &httpapi.Problem{Type: httpapi.ProblemBase + "workflow/too-large", Title: "Request too large",
			Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("at most %d files of %d MiB each", MaxApplicationFiles, MaxApplicationFileBytes>>20)})
	case errors.Is(err, errAppFormMalformed):
		httpapi.WriteProblem(w, r, httpapi.BadRequest("send the application as multipart/form-data"))
	default:
		writeErr(w, r, err)
	}
}

// publicApply is POST /v1/public/villages/{village}/applications.
func (s *Service) publicApply(w http.ResponseWriter, r *http.Request) {
	village := r.PathValue("village")
	if here, err := s.appGuard.known.here(r.Context(), s, village); err != nil || !here {
		if err == nil {
			err = domainerr.Refuse(404, "unknown-village", "Unknown village", "village %s is not a village of this town", village)
		}
		writeErr(w, r, err)
		return
	}
	receipt, _, err := s.intake(r, village, "")
	if err != nil {
		writeApplicationErr(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/public/track/"+receipt.TrackingNumber)
	_ = httpapi.WriteJSON(w, http.StatusCreated, receipt)
}

// intake reads, checks, admits and files a public application; itemID is
// the page's (the API names it in the form's item field).
func (s *Service) intake(r *http.Request, village, itemID string) (*ApplyReceipt, *applicationForm, error) {
	now := s.now()
	if ok, wait := s.appGuard.clients.Peek(httpapi.ClientRateKey(r), now); !ok {
		return nil, nil, errRateLimited{wait} // before reading megabytes
	}
	release, ok := s.appGuard.uploadSlot(r)
	if !ok {
		return nil, nil, domainerr.Refuse(503, "busy", "Busy", "系统繁忙，请稍后再试")
	}
	defer release()
	bufs := &uploadBuffers{}
	form, err := readApplicationForm(r, bufs)
	// The files' memory goes back when the application is filed or
	// refused; the pages use the form's fields after, never the bytes.
	defer func() {
		if form != nil {
			for i := range form.Files {
				form.Files[i].Data = nil
			}
		}
		bufs.release()
	}()
	if err != nil {
		return nil, form, err
	}
	if itemID == "" {
		itemID = strings.TrimSpace(form.Fields["item"])
	}
	item, err := s.Engine.Catalog.ApplicationItem(itemID)
	if err != nil {
		return nil, form, err
	}
	form.numberFiles(item)
	in := form.applyInput(itemID)
	// Validation before the tokens: a villager correcting a typo must not
	// use up their applications.
	if err := in.validate(item, true); err != nil {
		return nil, form, err
	}
	token, nonce := r.Header.Get(HeaderChallenge), r.Header.Get(HeaderNonce)
	if token == "" { // the page without JavaScript's fetch: the form's fields
		token, nonce = form.Fields["pow_token"], form.Fields["pow_nonce"]
	}
	if err := s.appGuard.admitApplication(r, village, now, token, nonce); err != nil {
		return nil, form, err
	}
	receipt, err := s.apply(r.Context(), village, in, nil, bufs)
	return receipt, form, err
}

// publicSupplement is POST /v1/public/applications/{number}/supplement.
func (s *Service) publicSupplement(w http.ResponseWriter, r *http.Request) {
	app, err := s.supplementFrom(r, r.PathValue("number"))
	if err != nil {
		writeApplicationErr(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, s.privateView(app))
}

// supplementFrom reads a supplement form (accessCode, note, files) for
// number and stores it.
func (s *Service) supplementFrom(r *http.Request, number string) (*Application, error) {
	if err := s.appGuard.admitCode(r, number, s.now()); err != nil {
		return nil, err
	}
	inst, err := s.ByTrackingNumber(r.Context(), number)
	if err != nil {
		return nil, err
	}
	release, ok := s.appGuard.uploadSlot(r)
	if !ok {
		return nil, domainerr.Refuse(503, "busy", "Busy", "系统繁忙，请稍后再试")
	}
	defer release()
	form, err := readApplicationForm(r, nil)
	if err != nil {
		return nil, err
	}
	form.numberFiles(s.Engine.Catalog.Item(inst.ItemID))
	return s.Supplement(r.Context(), number, form.Fields["accessCode"], form.Fields["note"], form.Files)
}

// PrivateApplication is what the applicant sees with the access code:
// their own data masked all the same (the page may be read over a
// shoulder), what was asked for and the appointment.
type PrivateApplication struct {
	TrackingNumber string             `json:"trackingNumber"`
	ItemName       string             `json:"itemName"`
	Applicant      string             `json:"applicant"`
	Phone          string             `json:"phone"`
	Provided       []string           `json:"provided"`
	Request        *MaterialsRequest  `json:"materialsRequest,omitempty"`
	Supplements    []SupplementRecord `json:"supplements,omitempty"`
	Appointment    *PublicAppointment `json:"appointment,omitempty"`
}

func (s *Service) privateView(a *Application) PrivateApplication {
	v := PrivateApplication{TrackingNumber: a.TrackingNumber, ItemName: a.ItemName, Applicant: personal.MaskName(a.ApplicantName),
		Phone: personal.MaskPhone(a.ApplicantPhone), Provided: []string{}, Supplements: a.Supplements, Appointment: publicAppointment(a.Appointment)}
	for _, p := range a.Provided {
		v.Provided = append(v.Provided, p.Material)
	}
	if a.Request != nil {
		req := *a.Request
		req.RequestedBy, req.Note = "", personal.ScrubText(req.Note)
		v.Request = &req
	}
	return v
}

// PublicApplication is what the public tracker (流程到哪了) shows of an
// applied process: how it was filed, whether materials were asked for
// (how many, not which: they can say something of the household) and
// the appointment. Nothing personal but the masked name.
type PublicApplication struct {
	Applicant          string             `json:"applicant"`
	Channel            string             `json:"channel"`
	FiledAt            time.Time          `json:"filedAt"`
	MaterialsRequested *time.Time         `json:"materialsRequestedAt,omitempty"`
	MissingCount       int                `json:"missingCount,omitempty"`
	SupplementedAt     *time.Time         `json:"supplementedAt,omitempty"`
	Appointment        *PublicAppointment `json:"appointment,omitempty"`
}

// PublicAppointment is the appointment without who recorded it.
type PublicAppointment struct {
	VisitNeeded bool       `json:"visitNeeded"`
	At          *time.Time `json:"at,omitempty"`
	Place       string     `json:"place,omitempty"`
	Note        string     `json:"note,omitempty"`
}

func publicAppointment(a *Appointment) *PublicAppointment {
	if a == nil {
		return nil
	}
	return &PublicAppointment{VisitNeeded: a.VisitNeeded, At: a.At, Place: personal.ScrubText(a.Place), Note: personal.ScrubText(a.Note)}
}

// PublicApplicationOf is the tracker's view of an instance's application,
// nil when the process was not applied for.
func (s *Service) PublicApplicationOf(r *http.Request, inst *Instance) *PublicApplication {
	a, err := s.ApplicationOf(r.Context(), inst.ID)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			httpapi.Logger(r.Context()).ErrorContext(r.Context(), "reading an application for the tracker", "error", err.Error())
		}
		return nil
	}
	v := &PublicApplication{Applicant: personal.MaskName(a.ApplicantName), Channel: a.Channel, FiledAt: a.FiledAt,
		Appointment: publicAppointment(a.Appointment)}
	if a.Request != nil {
		v.MaterialsRequested, v.MissingCount = &a.Request.RequestedAt, len(a.Request.Missing)
	}
	if n := len(a.Supplements); n > 0 {
		v.SupplementedAt = &a.Supplements[n-1].At
	}
	return v
}

// OnBehalfRequest is a cadre's application for a villager (代办).
type OnBehalfRequest struct {
	ItemID         string `json:"itemId"`
	ApplicantName  string `json:"applicantName"`
	ApplicantPhone string `json:"applicantPhone"`
	// ApplicantIDNumber is hashed at once and never stored.
	ApplicantIDNumber string `json:"applicantIdNumber,omitempty"`
	Description       string `json:"description,omitempty"`
}

// TextLimits bounds the request's text (httpapi.DecodeJSON answers 422).
func (q OnBehalfRequest) TextLimits() []httpapi.TextLimit {
	return []httpapi.TextLimit{
		httpapi.Limit("itemId", q.ItemID, 128),
		httpapi.Limit("applicantName", q.ApplicantName, httpapi.MaxShortText),
		httpapi.Limit("applicantPhone", q.ApplicantPhone, 32),
		httpapi.Limit("applicantIdNumber", q.ApplicantIDNumber, 64),
		httpapi.Limit("description", q.Description, httpapi.MaxLongText),
	}
}

// applyOnBehalf is POST /v1/villages/{village}/applications (代办).
func (s *Service) applyOnBehalf(w http.ResponseWriter, r *http.Request) {
	a, p, _ := actor(r)
	village := r.PathValue("village")
	if !p.CanActInVillage(s.Town, village) {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("you cannot file applications in village "+village))
		return
	}
	var req OnBehalfRequest
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	receipt, err := s.Apply(r.Context(), village, ApplyInput{ItemID: req.ItemID, Name: req.ApplicantName, Phone: req.ApplicantPhone,
		IDNumber: req.ApplicantIDNumber, Description: req.Description}, &a)
	if err != nil {
		writeApplicationErr(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/instances/"+receipt.Instance.ID)
	_ = httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"instance": receipt.Instance, "application": receipt.Application,
		"trackingNumber": receipt.TrackingNumber, "accessCode": receipt.AccessCode, "missingRequired": nonNil(receipt.MissingRequired)})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// getApplication is GET /v1/instances/{id}/application: the applicant's
// contact for the village's officials.
func (s *Service) getApplication(w http.ResponseWriter, r *http.Request) {
	inst, _, ok := s.readable(w, r)
	if !ok {
		return
	}
	app, err := s.ApplicationOf(r.Context(), inst.ID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			httpapi.WriteProblem(w, r, httpapi.NotFound("this process was not applied for by a villager"))
			return
		}
		writeErr(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, app)
}

// applicationAction is a cadre's action on the path's process: decode a
// T, run do, answer the application.
func applicationAction[T any](s *Service, do func(context.Context, Actor, string, T) (*Application, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, a, ok := s.readable(w, r)
		if !ok {
			return
		}
		var req T
		if !httpapi.DecodeJSON(w, r, &req) {
			return
		}
		app, err := do(r.Context(), a, r.PathValue("id"), req)
		if err != nil {
			writeApplicationErr(w, r, err)
			return
		}
		_ = httpapi.WriteJSON(w, http.StatusOK, app)
	}
}

// TextLimits bound the requests' text (httpapi.DecodeJSON answers 422).
func (q MaterialsRequestInput) TextLimits() []httpapi.TextLimit {
	return []httpapi.TextLimit{httpapi.Limit("note", q.Note, httpapi.MaxLongText)}
}

// TextLimits bound the requests' text (httpapi.DecodeJSON answers 422).
func (q AppointmentInput) TextLimits() []httpapi.TextLimit {
	return []httpapi.TextLimit{httpapi.Limit("place", q.Place, httpapi.MaxShortText), httpapi.Limit("note", q.Note, httpapi.MaxLongText)}
}
