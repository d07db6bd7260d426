package complaint

// The report page (码上举报) that every village's QR code and disclosure
// page link to: /r/{village} on the complaint service's host. The
// submission goes through the same abuse guard (admitWith) and validation
// (checkIntake, ValidateIntakeFiles) as the JSON intake, and its uploads are
// stored with the complaint in one transaction (Service.File).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wuxiao/wuxiao/api/divcode"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/media"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

type categoryChoice struct {
	Value   Category
	Label   string
	Checked bool
}

type reportPage struct {
	Title, Village string
	// VillageName is the name the operator registered for Village ("" if
	// none yet: the page shows the code).
	VillageName string
	Categories  []categoryChoice
	Description string
	Errors      map[string][]string
	General     []string
	Challenge   *Challenge
	HadFiles    bool
	SignedIn    bool
	Name        string
	Identified  bool
	// Posting is the notice-board posting objected to (objection.go),
	// PostingLabel what was posted (when known), PostingEnded the day its
	// posting period ended ("" while it is up).
	Posting, PostingLabel, PostingEnded string

	MinDescription, MaxDescription, MaxFiles, MaxFileMB int
}

func (a *API) newReportPage(r *http.Request, village string, sub *reportSubmission) *reportPage {
	p := &reportPage{Title: "码上举报", Village: village, Errors: map[string][]string{},
		MinDescription: IntakeMinDescriptionRunes, MaxDescription: IntakeMaxDescriptionRunes,
		MaxFiles: IntakeMaxFiles, MaxFileMB: IntakeMaxFileBytes >> 20}
	if name, err := a.Service.VillageName(r.Context(), village); err != nil {
		a.Service.logError(r, "reading the village's name", err) // the page shows the code instead
	} else {
		p.VillageName = name
	}
	if pr, ok := identity.FromContext(r.Context()); ok && pr.IdentityID != "" {
		p.SignedIn, p.Name = true, pr.Name
		if p.Name == "" {
			p.Name = "已登录用户"
		}
	}
	if sub != nil {
		p.Description, p.Identified, p.HadFiles = sub.Description, sub.Identified, sub.FileCount > 0
		p.Posting = sub.Posting
	} else {
		p.Posting = postingParam(r)
	}
	if p.Posting != "" {
		p.Title = "对公示提出异议"
		post, err := a.Service.Posting(r.Context(), village, p.Posting)
		switch {
		case errors.Is(err, errOtherVillagePosting) && sub == nil:
			p.Posting, p.Title = "", "码上举报" // a link naming another village's posting: an ordinary report
		case errors.Is(err, errOtherVillagePosting):
		case err != nil:
			a.Service.logError(r, "reading the posting objected to", err) // the page names it by its id
		case post != nil:
			p.PostingLabel = post.Label()
			if post.EndedAt != nil {
				p.PostingEnded = post.EndedAt.In(tz.Shanghai).Format("2006-01-02")
			}
		}
	}
	for _, c := range Categories {
		p.Categories = append(p.Categories, categoryChoice{c, c.Label(), sub != nil && string(c) == sub.Category})
	}
	return p
}

func (p *reportPage) addErrors(errs domainerr.FieldErrors) {
	for _, e := range errs {
		field := e.Field
		if strings.HasPrefix(field, "attachments") {
			field = "attachments" // attachments[i] are shown together, each naming its file
		}
		p.Errors[field] = append(p.Errors[field], e.Message)
	}
}

// reportForm is GET /r/{village}.
func (a *API) reportForm(w http.ResponseWriter, r *http.Request) {
	village := r.PathValue("village")
	if !divcode.Valid(village) {
		pageError(w, http.StatusNotFound, "找不到该村", "链接中的村代码不正确，请重新扫描村务公开栏上的二维码。")
		return
	}
	if !a.pageVillageOpen(w, r, village) {
		return
	}
	renderPage(w, http.StatusOK, "report", a.newReportPage(r, village, nil))
}

// upload is one file of the form, streamed to the database with its size
// limit: Staged.ID is empty when nothing was kept (a file larger than
// IntakeMaxFileBytes: Size still counts every byte, Head keeps the start
// for the type check).
type upload struct {
	Name    string
	Size    int64
	Head    []byte
	Staged  stagedUpload
	Unclean bool // its metadata could not be removed: refused, nothing kept
}

// reportSubmission is what the form sent.
type reportSubmission struct {
	Category, Description string
	Posting               string // objection.go
	Identified            bool
	PowToken, PowNonce    string
	Files                 []upload // at most IntakeMaxFiles
	FileCount             int      // every file part, for the "too many" message
}

// Limits of the form's parts besides the files.
const (
	formMaxFieldBytes = 16 << 10 // a description of 2000 characters is at most 8 KiB
	formMaxParts      = 32
)

var (
	errFormTooLarge  = errors.New("the form is larger than the intake allows")
	errFormMalformed = errors.New("malformed form")
)

// readReport reads a multipart (or urlencoded) form part by part, keeping
// every field's value for the page to show again and streaming each file
// to the database (Service.stageUpload; the caller drops sub.staged() when
// no complaint takes them). The body is already capped by
// http.MaxBytesReader; errFormTooLarge says it went over.
func (a *API) readReport(r *http.Request) (*reportSubmission, error) {
	sub := &reportSubmission{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err != nil {
			return sub, formErr(err)
		}
		for k := range r.PostForm {
			sub.set(k, r.PostForm.Get(k))
		}
		return sub, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return sub, errFormMalformed
	}
	for parts := 0; ; parts++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return sub, nil
		}
		if err != nil {
			return sub, formErr(err)
		}
		if parts >= formMaxParts {
			return sub, errFormMalformed
		}
		if part.FormName() == "attachments" && part.FileName() != "" {
			if err := a.readFile(r.Context(), sub, part); err != nil {
				return sub, err
			}
			continue
		}
		v, err := io.ReadAll(io.LimitReader(part, formMaxFieldBytes))
		if err != nil {
			return sub, formErr(err)
		}
		if _, err := io.Copy(io.Discard, part); err != nil {
			return sub, formErr(err)
		}
		sub.set(part.FormName(), string(v))
	}
}

func (sub *reportSubmission) set(name, v string) {
	switch name {
	case "category":
		sub.Category = v
	case "description":
		sub.Description = strings.ReplaceAll(v, "\r\n", "\n")
	case "identified":
		sub.Identified = v == "1"
	case "posting":
		sub.Posting = strings.TrimSpace(v)
	case "pow_token":
		sub.PowToken = v
	case "pow_nonce":
		sub.PowNonce = v
	}
}

func (a *API) readFile(ctx context.Context, sub *reportSubmission, part *multipart.Part) error {
	sub.FileCount++
	if sub.FileCount > IntakeMaxFiles {
		if _, err := io.Copy(io.Discard, part); err != nil { // counted, not kept
			return formErr(err)
		}
		return nil
	}
	// What is stored is the file without its metadata (EXIF GPS position,
	// XMP, PDF document information): a photo must not tell the cadres
	// where the reporter stood. A file that cannot be cleaned is refused.
	raw := &countingReader{r: part}
	clean := media.NewReader(raw, IntakeMaxFileBytes)
	defer clean.Close()
	st, err := a.Service.stageUpload(ctx, clean, IntakeMaxFileBytes)
	if errors.Is(err, media.ErrUnclean) {
		httpapi.Logger(ctx).InfoContext(ctx, "report upload refused: its metadata cannot be removed", "reason", err.Error())
		sub.Files = append(sub.Files, upload{Name: uploadName(part.FileName(), sub.FileCount), Unclean: true})
		return nil
	}
	if err != nil {
		var se errStaging
		if errors.As(err, &se) {
			return err
		}
		return formErr(err)
	}
	// The limit is on what was sent (a large file is refused whatever
	// cleaning would leave of it).
	if raw.n > IntakeMaxFileBytes && st.ID != "" {
		a.Service.dropUploads(ctx, st.ID)
		st.ID = ""
	}
	sub.Files = append(sub.Files, upload{Name: uploadName(part.FileName(), sub.FileCount), Size: max(st.Size, raw.n), Head: st.Head, Staged: st})
	return nil
}

// staged are the ids of the files streamed to the database.
func (sub *reportSubmission) staged() []string {
	var ids []string
	for _, u := range sub.Files {
		if u.Staged.ID != "" {
			ids = append(ids, u.Staged.ID)
		}
	}
	return ids
}

// uploadName is the file's base name, trimmed to 100 characters, or a
// generic name when the browser sent none usable.
func uploadName(name string, n int) string {
	name = strings.TrimSpace(path.Base(strings.ReplaceAll(name, `\`, "/")))
	if !utf8.ValidString(name) || name == "" || name == "." || name == "/" {
		return fmt.Sprintf("附件%d", n)
	}
	if r := []rune(name); len(r) > 100 {
		name = string(r[len(r)-100:])
	}
	return name
}

func formErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errFormTooLarge
	}
	return errFormMalformed
}

// pageVillageOpen is villageOpen for the report page: a Chinese page.
func (a *API) pageVillageOpen(w http.ResponseWriter, r *http.Request, village string) bool {
	open, err := a.Service.VillageOpen(r.Context(), village)
	if err != nil {
		a.Service.logError(r, "checking the village registry", err)
		pageError(w, http.StatusServiceUnavailable, "暂时无法举报", "系统暂时无法打开举报页面，请稍后再试。")
		return false
	}
	if !open {
		if r.Method == http.MethodPost { // a submission, not the form
			a.refused(r, channelPage, reasonUnknownVillage)
		}
		pageError(w, http.StatusNotFound, unknownVillageTitle, unknownVillageMessage)
		return false
	}
	return true
}

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

// reportSubmit is POST /r/{village}.
func (a *API) reportSubmit(w http.ResponseWriter, r *http.Request) {
	village := r.PathValue("village")
	if !divcode.Valid(village) {
		pageError(w, http.StatusNotFound, "找不到该村", "链接中的村代码不正确，请重新扫描村务公开栏上的二维码。")
		return
	}
	if crossSite(r) {
		pageError(w, http.StatusForbidden, "无法提交", "请直接在本页面填写并提交举报。")
		return
	}
	if !a.pageVillageOpen(w, r, village) {
		return
	}
	// Everything that can be decided without the body is decided before it
	// is read: its declared size, the client's rate limit, the bound on
	// concurrent uploads and the client's byte budget.
	if r.ContentLength > IntakeMaxBodyBytes {
		page := a.newReportPage(r, village, nil)
		msg := fmt.Sprintf("提交的内容过大：最多%d个附件，每个不超过%dMB。", IntakeMaxFiles, IntakeMaxFileBytes>>20)
		page.General, page.Errors["attachments"] = append(page.General, msg), []string{msg}
		page.HadFiles = true // only files make a form this large
		a.refused(r, channelPage, reasonTooLarge)
		renderPage(w, http.StatusRequestEntityTooLarge, "report", page)
		return
	}
	if d := a.Limiter.PeekClient(httpapi.ClientIP(r), a.Service.now()); !d.Allowed {
		f := &refusal{status: http.StatusTooManyRequests, code: "rate_limited", message: d.Message, retryAfter: d.RetryAfter}
		a.refusePage(w, r, village, nil, f)
		return
	}
	// During a flood the proof of work comes in headers (the page's script
	// sends it so): without one the guard issues the challenge, with a
	// wrong one it refuses, both before the upload.
	admitted := false
	if a.Limiter.VillageFlooded(village, a.Service.now()) {
		if token := r.Header.Get(HeaderChallenge); token == "" {
			f := a.admitWith(httpapi.ClientIP(r), village, "", "")
			if f != nil {
				a.refusePage(w, r, village, nil, f)
				return
			}
			admitted = true // the flood ended meanwhile: this took the tokens
		} else if err := a.Challenger.CheckPoWForVillage(token, r.Header.Get(HeaderNonce), village, a.Service.now()); err != nil {
			f := &refusal{status: http.StatusForbidden, code: "challenge_failed", message: err.Error()}
			var fe *domainerr.FieldError
			if errors.As(err, &fe) {
				f.code, f.message = fe.Code, fe.Message
			}
			a.refusePage(w, r, village, nil, f)
			return
		}
	}
	release, ok := a.acquireUpload()
	if !ok {
		a.refused(r, channelPage, reasonUploadSlots)
		w.Header().Set("Retry-After", strconv.Itoa(uploadRetryAfter))
		page := a.newReportPage(r, village, nil)
		page.General = append(page.General, "系统繁忙，正在处理其他举报，请稍等片刻后重新提交。")
		renderPage(w, http.StatusServiceUnavailable, "report", page)
		return
	}
	defer release()
	// The client's daily upload budget is taken before the body is read
	// (its Content-Length, or the most the body may be) and what the body
	// did not use is given back once it is read.
	client, reserved := httpapi.ClientIP(r), int64(IntakeMaxBodyBytes)
	if r.ContentLength >= 0 && r.ContentLength < reserved {
		reserved = r.ContentLength
	}
	if d := a.Limiter.ReserveBytes(client, reserved, a.Service.now()); !d.Allowed {
		a.refused(r, channelPage, reasonByteBudget)
		w.Header().Set("Retry-After", strconv.FormatInt(httpapi.RetryAfterSeconds(d.RetryAfter), 10))
		pageError(w, http.StatusTooManyRequests, "今日上传已达上限", d.Message+"。")
		return
	}
	body := &countingReader{r: r.Body}
	defer func() { a.Limiter.SettleBytes(client, reserved, body.n, a.Service.now()) }()
	r.Body = http.MaxBytesReader(w, struct {
		io.Reader
		io.Closer
	}{body, r.Body}, reserved)
	sub, err := a.readReport(r)
	// The files the complaint does not take (it deleted its own) are
	// deleted whatever happens below.
	defer func() { a.Service.dropUploads(r.Context(), sub.staged()...) }()
	var se errStaging
	if errors.As(err, &se) {
		a.Service.logError(r, "staging an upload", err)
		page := a.newReportPage(r, village, sub)
		page.General = append(page.General, "系统暂时无法保存您的举报，请稍后再试。您填写的内容仍在下方。")
		renderPage(w, http.StatusServiceUnavailable, "report", page)
		return
	}
	if err != nil {
		page := a.newReportPage(r, village, sub)
		status := http.StatusBadRequest
		msg := "提交的内容格式不正确，请刷新页面后重新填写。"
		if errors.Is(err, errFormTooLarge) {
			a.refused(r, channelPage, reasonTooLarge)
			status = http.StatusRequestEntityTooLarge
			msg = fmt.Sprintf("提交的内容过大：最多%d个附件，每个不超过%dMB。", IntakeMaxFiles, IntakeMaxFileBytes>>20)
			page.Errors["attachments"] = append(page.Errors["attachments"], msg)
		}
		page.General = append(page.General, msg)
		renderPage(w, status, "report", page)
		return
	}
	page := a.newReportPage(r, village, sub)
	in := Intake{Village: village, Category: Category(sub.Category), Description: sub.Description, Posting: sub.Posting}
	files := make([]IntakeFile, len(sub.Files))
	for i, u := range sub.Files {
		files[i] = IntakeFile{Name: u.Name, Size: u.Size, Head: u.Head, Unclean: u.Unclean}
	}
	fileErrs := ValidateIntakeFiles(files)
	if len(sub.Files) < sub.FileCount { // the extra files were only counted
		fileErrs = ValidateIntakeFiles(append(files, make([]IntakeFile, sub.FileCount-len(sub.Files))...))
	}
	if len(fileErrs) == 0 {
		for _, u := range sub.Files {
			in.Attachments = append(in.Attachments, NewStagedAttachment(u.Name, u.Staged))
		}
	}
	errs := checkIntake(in)
	for _, e := range errs {
		if e.Field == "category" {
			e.Message = "请选择举报类别"
		}
	}
	if errs = append(errs, fileErrs...); len(errs) > 0 {
		page.General = append(page.General, "提交未成功，请按下面标出的提示修改后重新提交。")
		page.addErrors(errs)
		a.refused(r, channelPage, reasonIntakeLimits)
		renderPage(w, http.StatusUnprocessableEntity, "report", page)
		return
	}
	// The guard comes after validation, unlike the JSON intake's: a villager
	// correcting a typo must not use up their submissions or meet a
	// challenge before the form is right.
	token, nonce := sub.PowToken, sub.PowNonce
	if h := r.Header.Get(HeaderChallenge); h != "" {
		token, nonce = h, r.Header.Get(HeaderNonce)
	}
	if !admitted {
		if f := a.admitWith(httpapi.ClientIP(r), village, token, nonce); f != nil {
			a.refusePage(w, r, village, sub, f)
			return
		}
	}

	var reporter *Reporter
	if sub.Identified {
		reporter = reporterOf(r)
	}
	rc, err := a.Service.File(r.Context(), in, reporter)
	if err != nil {
		var ce *domainerr.Error
		if errors.Is(err, errOtherVillagePosting) {
			page.General = append(page.General, "您要提出异议的公示不是本村的，请从本村公示栏重新进入。")
			page.Errors["posting"] = []string{"该公示不属于本村"}
			renderPage(w, http.StatusUnprocessableEntity, "report", page)
			return
		}
		if errors.As(err, &ce) && ce.Status < 500 {
			page.General = append(page.General, "提交的内容有误，请检查后重新提交。")
			renderPage(w, http.StatusUnprocessableEntity, "report", page)
			return
		}
		a.Service.logError(r, "filing a complaint from the report page", err)
		page.General = append(page.General, "系统暂时无法保存您的举报，请稍后再试。您填写的内容仍在下方。")
		renderPage(w, http.StatusServiceUnavailable, "report", page)
		return
	}
	a.Service.metrics.filed(r.Context(), channelPage, in.Category)
	receipt := receiptPage{Title: "举报已提交", TrackingCode: rc.TrackingCode, Secret: rc.Secret,
		Files: len(in.Attachments), AcceptDays: int(AcceptWithin / (24 * time.Hour))}
	if in.Posting != "" {
		receipt.Title, receipt.Objection = "异议已提交", true
	}
	renderPage(w, http.StatusCreated, "receipt", receipt)
}

// refusePage shows the abuse guard's refusal on the report page, with what
// was read of the form (nothing when it was refused before the body).
func (a *API) refusePage(w http.ResponseWriter, r *http.Request, village string, sub *reportSubmission, f *refusal) {
	a.refused(r, channelPage, f.reason())
	f.setRetryAfter(w)
	msg := f.message
	if f.retryAfter > 0 {
		msg += fmt.Sprintf("（约%d分钟后可再提交）", int((f.retryAfter+time.Minute-1)/time.Minute))
	}
	page := a.newReportPage(r, village, sub)
	page.General, page.Challenge = append(page.General, msg), f.challenge
	renderPage(w, f.status, "report", page)
}

type receiptPage struct {
	Title, TrackingCode, Secret string
	Files, AcceptDays           int
	Objection                   bool
}
