package complaint

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wuxiao/wuxiao/api/divcode"
	"github.com/wuxiao/wuxiao/api/openapi"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// Headers a client retries a flooded intake with, after solving the
// challenge of the 428 answer (see SolvePoW).
const (
	HeaderChallenge = "X-Wuxiao-Challenge"
	HeaderNonce     = "X-Wuxiao-Nonce"
)

// API is the HTTP face of a Service: the public intake (QR page and
// Open311), the public tracking page and the staff routes.
type API struct {
	Service *Service
	// Limiter and Challenger guard the anonymous intake; NewAPI makes them.
	Limiter    *RateLimiter
	Challenger *Challenger
	// Optional, when set (identity's Authenticator.Optional), lets a
	// signed-in villager file with their identity; without it every intake
	// is anonymous.
	Optional func(http.Handler) http.Handler
	// BodyLimit caps request bodies of every route but the report page's
	// upload (default config.DefaultMaxBodyBytes). The server's own limit
	// (MAX_BODY_BYTES) must be at least IntakeMaxBodyBytes for the uploads;
	// the command raises it.
	BodyLimit int64
	// MaxUploads bounds the report-page submissions read at once (default
	// DefaultMaxUploads); one more is a 503 with Retry-After before its
	// body is read. Their files are streamed to the database, so each
	// holds about one chunk (uploadChunkBytes) in memory.
	MaxUploads int

	uploadsOnce sync.Once
	uploads     chan struct{}
}

// DefaultMaxUploads is API.MaxUploads when unset.
const DefaultMaxUploads = 8

// uploadRetryAfter is the Retry-After (seconds) of a submission refused
// because MaxUploads are being read.
const uploadRetryAfter = 10

// acquireUpload takes one of the MaxUploads slots without waiting.
func (a *API) acquireUpload() (release func(), ok bool) {
	a.uploadsOnce.Do(func() {
		n := a.MaxUploads
		if n <= 0 {
			n = DefaultMaxUploads
		}
		a.uploads = make(chan struct{}, n)
	})
	select {
	case a.uploads <- struct{}{}:
		return func() { <-a.uploads }, true
	default:
		return nil, false
	}
}

// limit applies BodyLimit.
func (a *API) limit(h http.Handler) http.Handler {
	n := a.BodyLimit
	if n <= 0 {
		n = config.DefaultMaxBodyBytes
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, n)
		}
		h.ServeHTTP(w, r)
	})
}

// NewAPI returns an API with default rate limits and a challenger signing
// with key (random per process when empty; share it between replicas).
func NewAPI(s *Service, key []byte) *API {
	return &API{Service: s, Limiter: NewRateLimiter(RateLimitConfig{}), Challenger: NewChallenger(ChallengerConfig{Key: key})}
}

// Routes registers the complaint API and the Open311 GeoReport v2 endpoint.
func (a *API) Routes(srv *httpapi.Server) {
	srv.Handle("GET /openapi.yaml", httpapi.Public(openapi.Handler(openapi.Complaint))) // api/openapi/complaint.yaml
	optional := func(h http.HandlerFunc) http.Handler {
		if a.Optional != nil {
			return a.Optional(h)
		}
		return h
	}
	public := func(pattern string, h http.Handler) { srv.Handle(pattern, httpapi.Public(a.limit(h))) }
	staff := func(pattern string, h http.HandlerFunc) { srv.Handle(pattern, a.limit(a.ownTown(h))) }

	public("POST /v1/public/villages/{village}/complaints", optional(a.intake))
	public("GET /v1/public/complaints/{code}", http.HandlerFunc(a.track))
	public("POST /v1/public/complaints/{code}/feedback", http.HandlerFunc(a.feedback))

	// The report page (page.go); its upload has its own limit, IntakeMaxBodyBytes.
	public("GET /r/{village}", optional(a.reportForm))
	srv.Handle("POST /r/{village}", httpapi.Public(optional(a.reportSubmit)))
	public("GET /r/track", http.HandlerFunc(a.trackForm))
	public("GET /r/track/{code}", http.HandlerFunc(a.trackStatus))
	public("POST /r/track/{code}", http.HandlerFunc(a.trackFeedback))

	staff("GET /v1/villages/{village}/complaints", a.list)
	staff("GET /v1/complaints/{id}", a.get)
	staff("POST /v1/complaints/{id}/actions", a.act)
	staff("POST /v1/complaints/{id}/notes", a.note)
	staff("GET /v1/complaints/{id}/attachments/{n}", a.attachment)
	staff("GET /v1/statistics", a.statistics)

	a.open311Routes(srv)
}

// ownTown refuses, before any staff handler, a principal whose scope does
// not cover this service's town (staff and cadres of another town; district
// roles cover every town): 403, or 404 on a route naming a complaint, as
// for a complaint hidden from the caller. The handlers' own checks compare the caller's
// claimed town with the complaint's, which is this town's: without this an
// official of another town got empty lists and statistics (200) instead of
// a refusal.
func (a *API) ownTown(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := identity.FromContext(r.Context()); ok && !p.InTown(a.Service.Town) {
			if r.PathValue("id") != "" {
				// As for a complaint hidden from the caller: its id is not
				// even confirmed.
				problems.Write(w, r, ErrNotFound)
				return
			}
			httpapi.WriteProblem(w, r, httpapi.Forbidden("this service holds the complaints of town "+a.Service.Town+" only"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// problems answers the domain's refusals, field errors and not-found as
// problem details.
var problems = domainerr.Problems{NotFound: ErrNotFound, NotFoundDetail: "no such complaint"}

// checkIntake validates an intake field by field (Intake.Validate only
// says what is wrong in one sentence).
func checkIntake(in Intake) domainerr.FieldErrors {
	var errs domainerr.FieldErrors
	if !divcode.Valid(in.Village) {
		errs = append(errs, &domainerr.FieldError{Field: "village", Code: "village_invalid", Message: "村代码应为12位数字"})
	}
	if !in.Category.Valid() {
		errs = append(errs, &domainerr.FieldError{Field: "category", Code: "category_invalid", Message: fmt.Sprintf("举报类别应为 %v 之一", Categories)})
	}
	if e := ValidateIntakeDescription(in.Description); e != nil {
		errs = append(errs, e)
	}
	if in.Posting != "" && !ValidPostingID(in.Posting) {
		errs = append(errs, &domainerr.FieldError{Field: "posting", Code: "posting_invalid", Message: "异议针对的公示编号不正确，请从公示栏重新进入"})
	}
	if len(in.Attachments) > MaxAttachments {
		errs = append(errs, &domainerr.FieldError{Field: "attachments", Code: "too_many_attachments", Message: fmt.Sprintf("最多只能上传%d个附件", MaxAttachments)})
	}
	if len(errs) == 0 {
		if err := in.Validate(); err != nil { // the attachments' details
			msg := err.Error()
			if de := (*domainerr.Error)(nil); errors.As(err, &de) {
				msg = de.Detail
			}
			errs = append(errs, &domainerr.FieldError{Field: "attachments", Code: "attachment_invalid", Message: msg})
		}
	}
	return errs
}

// refusal is why the intake guard turned a submission away.
type refusal struct {
	status     int
	code       string
	message    string
	retryAfter time.Duration
	challenge  *Challenge
}

// admit runs the abuse guard (ratelimit.go, flood.go, services/internal/pow) for one
// submission to village, with the proof of work of the request's headers.
func (a *API) admit(r *http.Request, village string) *refusal {
	return a.admitWith(httpapi.ClientIP(r), village, r.Header.Get(HeaderChallenge), r.Header.Get(HeaderNonce))
}

// admitWith is admit for a client address and a proof of work (token and
// nonce, empty when none) however they came (headers or form fields).
func (a *API) admitWith(addr, village, token, nonce string) *refusal {
	now := a.Service.now()
	d := a.Limiter.Allow(addr, village, now)
	if !d.Allowed && d.ChallengeRequired && token != "" {
		if err := a.Challenger.VerifyPoWForVillage(token, nonce, village, now); err != nil {
			var fe *domainerr.FieldError
			if errors.As(err, &fe) {
				return &refusal{status: http.StatusForbidden, code: fe.Code, message: fe.Message}
			}
			return &refusal{status: http.StatusForbidden, code: "challenge_failed", message: err.Error()}
		}
		d = a.Limiter.AllowWithProof(addr, village, now)
	}
	if d.Allowed {
		return nil
	}
	if d.ChallengeRequired {
		ch := a.Challenger.IssueChallenge(village, d.Difficulty, now)
		return &refusal{status: http.StatusPreconditionRequired, code: "challenge_required", message: d.Message, challenge: &ch}
	}
	return &refusal{status: http.StatusTooManyRequests, code: "rate_limited", message: d.Message, retryAfter: d.RetryAfter}
}

func (f *refusal) problem() *httpapi.Problem {
	p := &httpapi.Problem{Type: httpapi.ProblemBase + strings.ReplaceAll(f.code, "_", "-"), Status: f.status, Detail: f.message}
	switch f.status {
	case http.StatusTooManyRequests:
		p.Title = "Too many requests"
	case http.StatusPreconditionRequired:
		p.Title = "Proof of work required"
		p = p.With("challenge", f.challenge).With("retryHeaders", []string{HeaderChallenge, HeaderNonce})
	default:
		p.Title = "Challenge not accepted"
		p = p.With("code", f.code)
	}
	return p
}

func (f *refusal) setRetryAfter(w http.ResponseWriter) {
	if f.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((f.retryAfter+time.Second-1)/time.Second)))
	}
}

// reporterOf is the signed-in caller filing, or nil (anonymous).
func reporterOf(r *http.Request) *Reporter {
	p, ok := identity.FromContext(r.Context())
	if !ok || p.IdentityID == "" {
		return nil
	}
	return &Reporter{ID: p.IdentityID, Name: p.Name}
}

type intakeRequest struct {
	Category    Category     `json:"category"`
	Description string       `json:"description"`
	Attachments []Attachment `json:"attachments,omitempty"`
	Posting     string       `json:"posting,omitempty"` // an objection (objection.go)
}

func (a *API) intake(w http.ResponseWriter, r *http.Request) {
	village, ok := publicVillage(w, r)
	if !ok || !a.villageOpen(w, r, village) {
		return
	}
	var req intakeRequest
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	if f := a.admit(r, village); f != nil {
		a.refused(r, channelAPI, f.reason())
		f.setRetryAfter(w)
		httpapi.WriteProblem(w, r, f.problem())
		return
	}
	for i := range req.Attachments {
		req.Attachments[i].Stored = false // JSON only links files; uploads go through the report page
	}
	in := Intake{Village: village, Category: req.Category, Description: req.Description, Attachments: req.Attachments, Posting: req.Posting}
	if errs := checkIntake(in); len(errs) > 0 {
		a.refused(r, channelAPI, reasonIntakeLimits)
		problems.Write(w, r, errs)
		return
	}
	rc, err := a.Service.File(r.Context(), in, reporterOf(r))
	if err != nil {
		problems.Write(w, r, err)
		return
	}
	a.Service.metrics.filed(r.Context(), channelAPI, in.Category)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", "/v1/public/complaints/"+rc.TrackingCode)
	_ = httpapi.WriteJSON(w, http.StatusCreated, map[string]string{"trackingCode": rc.TrackingCode, "secret": rc.Secret})
}

// villageOpen refuses, with a 404 problem, a village this town's registry
// does not hold (Service.VillageOpen), before the body is read and before
// the abuse guard sees the village.
func (a *API) villageOpen(w http.ResponseWriter, r *http.Request, village string) bool {
	open, err := a.Service.VillageOpen(r.Context(), village)
	if err != nil {
		a.Service.logError(r, "checking the village registry", err)
		httpapi.WriteProblem(w, r, &httpapi.Problem{Type: httpapi.TypeInternal, Title: "Service unavailable",
			Status: http.StatusServiceUnavailable, Detail: "the village registry cannot be read; try again later"})
		return false
	}
	if !open {
		a.refused(r, channelAPI, reasonUnknownVillage)
		httpapi.WriteProblem(w, r, &httpapi.Problem{Type: httpapi.ProblemBase + "unknown-village", Title: "Unknown village",
			Status: http.StatusNotFound, Detail: unknownVillageDetail + " (" + unknownVillageMessage + ")"})
		return false
	}
	return true
}

// publicVillage reads the village of a public route; a malformed code is 404.
func publicVillage(w http.ResponseWriter, r *http.Request) (string, bool) {
	v := r.PathValue("village")
	if !divcode.Valid(v) {
		httpapi.WriteProblem(w, r, httpapi.NotFound("no such village: village codes have 12 digits"))
		return "", false
	}
	return v, true
}

func (a *API) track(w http.ResponseWriter, r *http.Request) {
	pv, err := a.Service.Track(r.Context(), r.PathValue("code"))
	if err != nil {
		problems.Write(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	_ = httpapi.WriteJSON(w, http.StatusOK, pv)
}

type feedbackRequest struct {
	Secret    string `json:"secret"`
	Satisfied bool   `json:"satisfied"`
	Comment   string `json:"comment,omitempty"`
}

func (a *API) feedback(w http.ResponseWriter, r *http.Request) {
	var req feedbackRequest
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	pv, err := a.Service.Feedback(r.Context(), r.PathValue("code"), req.Secret, req.Satisfied, req.Comment)
	if err != nil {
		problems.Write(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	_ = httpapi.WriteJSON(w, http.StatusOK, pv)
}

// staffRoles may read complaints at all (ViewFor narrows further).
var staffRoles = []string{RoleSecretary, RoleDirector, RoleCommitteeMember, RoleAccountant, RoleCashier, RoleSupervisionChair,
	RoleLiaisonOfficer, RoleTownOfficial, RoleTownFinance, RoleTownDiscipline, RoleDistrictDiscipline, RoleDistrictAdmin}

// actor returns the caller as an Actor if they are staff who may read
// complaints; anyone else gets 403 (or 401 without a session).
func actor(w http.ResponseWriter, r *http.Request) (Actor, bool) {
	p, ok := identity.FromContext(r.Context())
	if !ok {
		httpapi.WriteProblem(w, r, httpapi.Unauthenticated("sign in first"))
		return Actor{}, false
	}
	if !slices.Contains(staffRoles, string(p.Role)) {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("only village officials and town and district staff read complaints"))
		return Actor{}, false
	}
	return Actor{ID: p.IdentityID, Role: string(p.Role), Town: p.Town, Village: p.Village}, true
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	act, ok := actor(w, r)
	if !ok {
		return
	}
	village, ok := publicVillage(w, r)
	if !ok {
		return
	}
	limit := 100
	if raw := r.URL.Query().Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 1000 {
			httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "limit", Detail: "must be 1 to 1000"}))
			return
		}
		limit = n
	}
	cs, err := a.Service.List(r.Context(), act, village, limit)
	if err != nil {
		problems.Write(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, cs)
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	act, ok := actor(w, r)
	if !ok {
		return
	}
	c, err := a.Service.Get(r.Context(), act, r.PathValue("id"))
	if err != nil {
		problems.Write(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, c)
}

type actionRequest struct {
	Action  string `json:"action"`
	Reason  string `json:"reason,omitempty"`
	Summary string `json:"summary,omitempty"`
	// Outcome of a resolve: substantiated, partly-substantiated or unsubstantiated.
	Outcome Outcome `json:"outcome,omitempty"`
}

func (a *API) act(w http.ResponseWriter, r *http.Request) {
	act, ok := actor(w, r)
	if !ok {
		return
	}
	var req actionRequest
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	if req.Action == ActionFeedbackSatisfied || req.Action == ActionFeedbackUnsatisfied {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "action", Detail: "feedback is the reporter's, with the tracking code and secret"}))
		return
	}
	reason := req.Reason
	if req.Summary != "" {
		reason = req.Summary
	}
	c, err := a.Service.Act(r.Context(), act, r.PathValue("id"), Action{Type: req.Action, Reason: reason, Outcome: req.Outcome})
	if err != nil {
		problems.Write(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, c)
}

type noteRequest struct {
	Body   string `json:"body"`
	Public bool   `json:"public"`
}

func (a *API) note(w http.ResponseWriter, r *http.Request) {
	act, ok := actor(w, r)
	if !ok {
		return
	}
	var req noteRequest
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	if err := a.Service.AddNote(r.Context(), act, id, req.Body, req.Public); err != nil {
		problems.Write(w, r, err)
		return
	}
	c, err := a.Service.Get(r.Context(), act, id)
	if err != nil {
		problems.Write(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusCreated, c)
}

// Recurrence detection of the statistics route: three complaints about one
// village and category within 30 days.
const (
	recurrenceWindow    = 30 * 24 * time.Hour
	recurrenceThreshold = 3
)

func (a *API) statistics(w http.ResponseWriter, r *http.Request) {
	act, ok := actor(w, r)
	if !ok {
		return
	}
	year := a.Service.now().In(tz.Shanghai).Year()
	if raw := r.URL.Query().Get("year"); raw != "" {
		y, err := strconv.Atoi(raw)
		if err != nil || len(raw) != 4 || y < 1949 {
			httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "year", Detail: "must be a four-digit year"}))
			return
		}
		year = y
	}
	from := time.Date(year, 1, 1, 0, 0, 0, 0, tz.Shanghai)
	rep, err := a.Service.Statistics(r.Context(), act, from, from.AddDate(1, 0, 0), recurrenceWindow, recurrenceThreshold)
	if err != nil {
		problems.Write(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, rep)
}

// attachment is GET /v1/complaints/{id}/attachments/{n}: a stored file,
// for staff who may see the complaint (ViewFor), audited.
func (a *API) attachment(w http.ResponseWriter, r *http.Request) {
	act, ok := actor(w, r)
	if !ok {
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		problems.Write(w, r, ErrNotFound)
		return
	}
	att, err := a.Service.Attachment(r.Context(), act, r.PathValue("id"), n)
	if err != nil {
		problems.Write(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", att.ContentType)
	h.Set("Content-Length", strconv.FormatInt(att.Size, 10))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": att.Name}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "private, no-store")
	h.Set("ETag", `"`+att.SHA256+`"`)
	_, _ = w.Write(att.Content)
}
