package workflow

// The portal's application pages, served by the workflow service under
// /a/{village} (the district gateway routes them by village code): the
// items villagers apply for, the application form built from the catalog,
// the receipt with the tracking number and access code, and the
// supplement page. Plain HTML forms, no script, phone-first, Chinese.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	_ "embed"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/pow"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

var (
	//go:embed web/application.html
	applicationHTML string
	//go:embed web/application.css
	applicationCSS string
)

type fieldMessages struct {
	ID       string
	Messages []string
}

var applicationPages = template.Must(template.New("pages").Funcs(template.FuncMap{
	"css":   func() template.CSS { return template.CSS(applicationCSS) }, //nolint:gosec // G203: our own stylesheet, embedded at build time
	"powjs": func() template.JS { return template.JS(pow.FormScript) },   //nolint:gosec // G203: our own script, embedded at build time
	"ferr":  func(errs map[string][]string, field string) fieldMessages { return fieldMessages{field, errs[field]} },
	"date": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.In(tz.Shanghai).Format("2006年1月2日 15:04")
		case *time.Time:
			if v != nil {
				return v.In(tz.Shanghai).Format("2006年1月2日 15:04")
			}
		}
		return ""
	},
}).Parse(applicationHTML))

// applicationCSP allows the page's own inline style, its one script (the
// proof-of-work form script, pow.FormScript: the form page submits by fetch
// and solves a challenge when the village is flooded) and same-origin form
// posts, nothing else.
var applicationCSP = "default-src 'none'; style-src '" + styleHash(applicationCSS) + "'; script-src '" + styleHash(pow.FormScript) +
	"'; img-src data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func styleHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// pageBase is what every page shows.
type pageBase struct {
	Title, Village, VillageName string
	General                     []string
	Errors                      map[string][]string
}

func (s *Service) renderApplicationPage(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := applicationPages.ExecuteTemplate(&buf, name, data); err != nil {
		s.Log.Error("rendering an application page", "page", name, "error", err)
		http.Error(w, "页面生成失败，请稍后再试", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", applicationCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	// The receipt holds the access code, the forms what was typed.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type messagePage struct {
	pageBase
	Message string
}

func (s *Service) pageMessage(w http.ResponseWriter, status int, village, title, msg string) {
	s.renderApplicationPage(w, status, "message", messagePage{pageBase{Title: title, Village: village}, msg})
}

func (s *Service) applicationPageRoutes(srv *httpapi.Server, upload func(http.HandlerFunc) http.Handler) {
	srv.Handle("GET /a/{village}", httpapi.Public(http.HandlerFunc(s.itemsPage)))
	srv.Handle("GET /a/{village}/supplement", httpapi.Public(http.HandlerFunc(s.lookupPage)))
	srv.Handle("POST /a/{village}/supplement", upload(s.supplementPage))
	srv.Handle("GET /a/{village}/{item}", httpapi.Public(http.HandlerFunc(s.formPage)))
	srv.Handle("POST /a/{village}/{item}", upload(s.submitPage))
}

// pageVillage checks the path's village and returns the page's base, or
// answers with a page and false.
func (s *Service) pageVillage(w http.ResponseWriter, r *http.Request, title string) (pageBase, bool) {
	village := r.PathValue("village")
	b := pageBase{Title: title, Village: village, Errors: map[string][]string{}}
	here, err := s.villageHere(r.Context(), village)
	if err != nil {
		s.Log.ErrorContext(r.Context(), "checking the village registry", "error", err)
		s.pageMessage(w, http.StatusServiceUnavailable, village, "暂时无法办理", "系统暂时无法打开申请页面，请稍后再试。")
		return b, false
	}
	if !here {
		s.pageMessage(w, http.StatusNotFound, village, "找不到该村", "链接中的村代码不正确，请重新扫描村务公开栏上的二维码。")
		return b, false
	}
	b.VillageName, _ = villageName(r.Context(), s.Pool, village)
	return b, true
}

type itemsPageData struct {
	pageBase
	Items []*wuxiaov1.PowerItem
}

func (s *Service) itemsPage(w http.ResponseWriter, r *http.Request) {
	b, ok := s.pageVillage(w, r, "在线申请")
	if !ok {
		return
	}
	s.renderApplicationPage(w, http.StatusOK, "items", itemsPageData{b, s.Engine.Catalog.VillagerItems()})
}

type stepLine struct{ Name, Handler, Limit string }

type formPageData struct {
	pageBase
	Item                                *wuxiaov1.PowerItem
	Steps                               []stepLine
	Form                                map[string]string
	HadID, HadFiles                     bool
	MaxDescription, MaxFiles, MaxFileMB int
	// Challenge is set on a 428 answer: the page's script solves it and
	// resubmits (without JavaScript the page says to retry later).
	Challenge *pow.Challenge
}

func limitText(t *wuxiaov1.TimeLimit) string {
	if t == nil {
		return ""
	}
	if t.Calendar == "calendar" {
		return fmt.Sprintf("%d天内办结", t.Days)
	}
	return fmt.Sprintf("%d个工作日内办结", t.Days)
}

func (s *Service) newFormPage(b pageBase, item *wuxiaov1.PowerItem) *formPageData {
	p := &formPageData{pageBase: b, Item: item, Form: map[string]string{}, MaxDescription: maxApplicationDescRunes,
		MaxFiles: MaxApplicationFiles, MaxFileMB: MaxApplicationFileBytes >> 20}
	p.Title = item.Name
	for _, st := range item.Steps {
		p.Steps = append(p.Steps, stepLine{st.Name, st.Handler, limitText(st.TimeLimit)})
	}
	return p
}

// pageItem resolves the path's item, or answers with a page.
func (s *Service) pageItem(w http.ResponseWriter, r *http.Request) (pageBase, *wuxiaov1.PowerItem, bool) {
	b, ok := s.pageVillage(w, r, "在线申请")
	if !ok {
		return b, nil, false
	}
	item, err := s.Engine.Catalog.ApplicationItem(r.PathValue("item"))
	if err != nil {
		s.pageMessage(w, http.StatusNotFound, b.Village, "无法在线申请", "该事项不在本村可在线申请的事项中。")
		return b, nil, false
	}
	return b, item, true
}

func (s *Service) formPage(w http.ResponseWriter, r *http.Request) {
	b, item, ok := s.pageItem(w, r)
	if !ok {
		return
	}
	s.renderApplicationPage(w, http.StatusOK, "form", s.newFormPage(b, item))
}

// crossSite: a form posted from another site must not file applications
// (or flood the village's limit) from someone else's page.
func crossSite(r *http.Request) bool { return r.Header.Get("Sec-Fetch-Site") == "cross-site" }

type receiptPageData struct {
	pageBase
	ItemName, TrackingNumber, AccessCode string
	Missing                              []string
	NextStep, NextHandler, NextLimit     string
}

func (s *Service) submitPage(w http.ResponseWriter, r *http.Request) {
	b, item, ok := s.pageItem(w, r)
	if !ok {
		return
	}
	if crossSite(r) {
		s.pageMessage(w, http.StatusForbidden, b.Village, "无法提交", "请直接在本页面填写并提交申请。")
		return
	}
	receipt, form, err := s.intake(r, b.Village, item.ID)
	if err != nil {
		p := s.newFormPage(b, item)
		status := s.pageProblems(r, err, &p.pageBase)
		if ch := (errChallengeRequired{}); errors.As(err, &ch) {
			p.Challenge = &ch.challenge
		}
		if form != nil {
			p.Form["name"], p.Form["phone"], p.Form["description"] = form.Fields["name"], form.Fields["phone"], form.Fields["description"]
			p.HadID, p.HadFiles = form.Fields["idNumber"] != "", len(form.Files) > 0
		}
		s.renderApplicationPage(w, status, "form", p)
		return
	}
	d := receiptPageData{pageBase: b, ItemName: receipt.ItemName, TrackingNumber: receipt.TrackingNumber,
		AccessCode: receipt.AccessCode, Missing: receipt.MissingRequired}
	d.Title = "申请已提交"
	if st := item.Step(receipt.Instance.Current); st != nil {
		d.NextStep, d.NextHandler, d.NextLimit = st.Name, st.Handler, limitText(st.TimeLimit)
	}
	s.renderApplicationPage(w, http.StatusCreated, "receipt", d)
}

// pageProblems turns an intake or supplement error into the page's
// messages and returns the status.
func (s *Service) pageProblems(r *http.Request, err error, b *pageBase) int {
	var inv *ApplicationInvalid
	var rl errRateLimited
	var chBad errChallengeRefused
	var de *domainerr.Error
	switch {
	case errors.As(err, &errChallengeRequired{}):
		b.General = append(b.General, "当前提交量较大，需要完成自动验证后才能提交（开启JavaScript的浏览器会自动完成）；也可以稍后再试。")
		return http.StatusPreconditionRequired
	case errors.As(err, &chBad):
		b.General = append(b.General, chBad.fe.Message)
		return http.StatusForbidden
	case errors.As(err, &inv):
		b.General = append(b.General, "提交未成功，请按下面标出的提示修改后重新提交。")
		for _, p := range inv.Problems {
			b.Errors[p.Field] = append(b.Errors[p.Field], p.Message)
		}
		return http.StatusUnprocessableEntity
	case errors.As(err, &rl):
		b.General = append(b.General, fmt.Sprintf("提交过于频繁，请约%d分钟后再试。", int((rl.wait+time.Minute-1)/time.Minute)))
		return http.StatusTooManyRequests
	case errors.Is(err, errAppFormTooLarge):
		b.General = append(b.General, fmt.Sprintf("提交的内容过大：最多%d个文件，每个不超过%dMB。", MaxApplicationFiles, MaxApplicationFileBytes>>20))
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errAppFormMalformed):
		b.General = append(b.General, "提交的内容格式不正确，请刷新页面后重新填写。")
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		b.Errors["number"] = append(b.Errors["number"], "找不到该受理编号，请核对回执")
		return http.StatusNotFound
	case errors.As(err, &de) && de.Status < 500:
		if de.Type == ErrBadAccessCode.Type {
			b.Errors["accessCode"] = append(b.Errors["accessCode"], de.Detail)
		} else {
			b.General = append(b.General, chineseDetail(de))
		}
		return de.Status
	}
	s.Log.ErrorContext(r.Context(), "application page", "error", err.Error())
	b.General = append(b.General, "系统暂时无法保存，请稍后再试。")
	return http.StatusServiceUnavailable
}

// chineseDetail is a refusal's detail when it is written for villagers,
// else a general Chinese message.
func chineseDetail(e *domainerr.Error) string {
	for _, r := range e.Detail {
		if r >= 0x4e00 && r <= 0x9fff {
			return e.Detail
		}
	}
	switch e.Type {
	case "village-archived":
		return "该村已撤并或归档，不能再提交新的申请。"
	case "unknown-village":
		return "链接中的村代码不正确，请重新扫描村务公开栏上的二维码。"
	}
	return "提交未成功，请检查后重新提交。"
}

type lookupPageData struct {
	pageBase
	Number string
}

func (s *Service) lookupPage(w http.ResponseWriter, r *http.Request) {
	b, ok := s.pageVillage(w, r, "补充材料")
	if !ok {
		return
	}
	s.renderApplicationPage(w, http.StatusOK, "lookup", lookupPageData{pageBase: b})
}

type supplementInput struct{ Field, Label string }

type statusPageData struct {
	pageBase
	App           PrivateApplication
	AccessCode    string
	CanSupplement bool
	Inputs        []supplementInput
	Done          string
	MaxFileMB     int
}

// supplementPage is POST /a/{village}/supplement: with the number and
// access code alone it shows the application (what was asked for, the
// appointment); with action=supplement it stores the files.
func (s *Service) supplementPage(w http.ResponseWriter, r *http.Request) {
	b, ok := s.pageVillage(w, r, "补充材料")
	if !ok {
		return
	}
	if crossSite(r) {
		s.pageMessage(w, http.StatusForbidden, b.Village, "无法提交", "请直接在本页面填写并提交。")
		return
	}
	release, ok := s.appGuard.uploadSlot(r)
	if !ok {
		s.pageMessage(w, http.StatusServiceUnavailable, b.Village, "系统繁忙", "系统繁忙，请稍后再试。")
		return
	}
	defer release()
	form, err := readApplicationForm(r, nil)
	if err != nil {
		lookup := lookupPageData{pageBase: b}
		status := s.pageProblems(r, err, &lookup.pageBase)
		s.renderApplicationPage(w, status, "lookup", lookup)
		return
	}
	number, code := strings.TrimSpace(form.Fields["number"]), strings.TrimSpace(form.Fields["accessCode"])
	lookup := lookupPageData{pageBase: b, Number: number}
	if !strings.HasPrefix(number, b.Village+"-") {
		lookup.Errors["number"] = append(lookup.Errors["number"], "受理编号不正确，请核对回执（以本村代码开头）")
		s.renderApplicationPage(w, http.StatusNotFound, "lookup", lookup)
		return
	}
	if err := s.appGuard.admitCode(r, number, s.now()); err != nil {
		status := s.pageProblems(r, err, &lookup.pageBase)
		s.renderApplicationPage(w, status, "lookup", lookup)
		return
	}
	inst, app, err := s.ApplicationByCode(r.Context(), number, code)
	if err != nil {
		status := s.pageProblems(r, err, &lookup.pageBase)
		s.renderApplicationPage(w, status, "lookup", lookup)
		return
	}
	d := statusPageData{pageBase: b, AccessCode: normalizeAccessCode(code), MaxFileMB: MaxApplicationFileBytes >> 20}
	d.Title = "我的申请"
	if form.Fields["action"] == "supplement" {
		form.numberFiles(s.Engine.Catalog.Item(inst.ItemID))
		app, err = s.Supplement(r.Context(), number, code, form.Fields["note"], form.Files)
		if err != nil {
			status := s.pageProblems(r, err, &d.pageBase)
			if app2, err2 := s.ApplicationOf(r.Context(), inst.ID); err2 == nil {
				app = app2
			}
			s.fillStatus(&d, inst, app)
			s.renderApplicationPage(w, status, "status", d)
			return
		}
		d.Done = "补充材料已提交，村里将尽快办理，并告诉您办理安排。"
	}
	s.fillStatus(&d, inst, app)
	s.renderApplicationPage(w, http.StatusOK, "status", d)
}

func (s *Service) fillStatus(d *statusPageData, inst *Instance, app *Application) {
	d.App = s.privateView(app)
	d.Inputs = nil
	d.CanSupplement = inst.Status == StatusRunning && app.Request != nil && app.Appointment == nil
	if !d.CanSupplement {
		return
	}
	item := s.Engine.Catalog.Item(inst.ItemID)
	other := false
	for _, m := range app.Request.Missing {
		i := -1
		if item != nil {
			for j := range item.Materials {
				if item.Materials[j].Name == m {
					i = j
				}
			}
		}
		if i >= 0 {
			d.Inputs = append(d.Inputs, supplementInput{fmt.Sprintf("material-%d", i), m})
		} else if !other {
			other = true
		}
	}
	if other || len(d.Inputs) == 0 {
		d.Inputs = append(d.Inputs, supplementInput{"material-other", "其他补充材料"})
	}
}
