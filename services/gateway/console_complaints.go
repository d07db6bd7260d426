package gateway

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wuxiao/wuxiao/api/divcode"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// The discipline side of the console: the complaint inbox (码上举报 as the
// village's liaison officer and the town's discipline office handle it)
// and the complaint statistics. Everything shown is the complaint
// service's staff API answer to the signed-in user: the service decides
// who sees which complaint and whether the reporter is named (only
// discipline staff ever get the reporter); the console never adds to it.

// What the console reads of the complaint service's staff answers
// (api/openapi/complaint.yaml; only the fields shown).

type cpAttachment struct {
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	URL         string `json:"url"`
	Stored      bool   `json:"stored,omitempty"`
}

type cpNote struct {
	At     time.Time `json:"at"`
	Role   string    `json:"role"`
	Body   string    `json:"body"`
	Public bool      `json:"public"`
}

type cpTransition struct {
	At      time.Time `json:"at"`
	Role    string    `json:"role"`
	Action  string    `json:"action"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Reason  string    `json:"reason,omitempty"`
	Outcome string    `json:"outcome,omitempty"`
}

type cpEscalation struct {
	Stage string    `json:"stage"`
	Round int       `json:"round"`
	DueAt time.Time `json:"dueAt"`
	At    time.Time `json:"at"`
}

type cpComplaint struct {
	ID           string         `json:"id"`
	TrackingCode string         `json:"trackingCode"`
	Town         string         `json:"town"`
	Village      string         `json:"village"`
	Category     string         `json:"category"`
	Description  string         `json:"description"`
	Attachments  []cpAttachment `json:"attachments,omitempty"`
	// Reporter is present only in the answers to discipline staff, and
	// only for a named report.
	Reporter *struct {
		Name  string `json:"name,omitempty"`
		Phone string `json:"phone,omitempty"`
	} `json:"reporter,omitempty"`
	Status    string         `json:"status"`
	FiledAt   time.Time      `json:"filedAt"`
	UpdatedAt time.Time      `json:"updatedAt"`
	DueAt     *time.Time     `json:"dueAt,omitempty"`
	Reason    string         `json:"reason,omitempty"`
	Summary   string         `json:"summary,omitempty"`
	Outcome   string         `json:"outcome,omitempty"`
	Reopened  int            `json:"reopened"`
	Satisfied *bool          `json:"satisfied,omitempty"`
	Notes     []cpNote       `json:"notes,omitempty"`
	History   []cpTransition `json:"history,omitempty"`
	Escalated []cpEscalation `json:"escalated,omitempty"`
	// Illustrative marks the service's generated sample data.
	Illustrative bool `json:"illustrative,omitempty"`
}

// open reports whether the complaint still waits for the staff.
func (c *cpComplaint) open() bool {
	return c.Status == "received" || c.Status == "accepted" || c.Status == "investigating"
}

type cpReport struct {
	Stats struct {
		Total      int            `json:"total"`
		ByCategory map[string]int `json:"byCategory"`
		ByVillage  map[string]int `json:"byVillage"`
	} `json:"stats"`
	Recurring []struct {
		Village  string    `json:"village"`
		Category string    `json:"category"`
		Count    int       `json:"count"`
		From     time.Time `json:"from"`
		To       time.Time `json:"to"`
	} `json:"recurring"`
}

// Labels in Chinese (the complaint service's own, complaint.go).

// cpCategories are the complaint categories in the service's order.
var cpCategories = []struct{ ID, Name string }{
	{"funds", "村级资金"}, {"project", "工程项目"}, {"subsidy", "惠农补贴"}, {"cadre-conduct", "干部作风"}, {"service", "便民服务"},
}

func cpCategoryName(id string) string {
	for _, c := range cpCategories {
		if c.ID == id {
			return c.Name
		}
	}
	return id
}

var cpStatusNames = map[string]string{
	"received": "待受理", "accepted": "已受理", "investigating": "调查中", "resolved": "已办结",
	"closed": "已关闭", "rejected": "不予受理",
}

// cpFilters are the inbox's status filters; "open" (the default) is what
// still waits for the staff.
var cpFilters = []struct{ ID, Name string }{
	{"open", "待处理"}, {"received", "待受理"}, {"accepted", "已受理"}, {"investigating", "调查中"},
	{"resolved", "已办结"}, {"closed", "已关闭"}, {"rejected", "不予受理"}, {"all", "全部"},
}

var cpOutcomes = []struct{ ID, Name string }{
	{"substantiated", "属实"}, {"partly-substantiated", "部分属实"}, {"unsubstantiated", "不属实"},
}

func cpOutcomeName(id string) string {
	for _, o := range cpOutcomes {
		if o.ID == id {
			return o.Name
		}
	}
	return id
}

var cpActionNames = map[string]string{
	"accept": "受理", "reject": "不予受理", "investigate": "开始调查", "resolve": "办结",
	"feedback-satisfied": "举报人反馈：满意", "feedback-unsatisfied": "举报人反馈：不满意",
}

func cpRoleName(r string) string {
	if r == "reporter" {
		return "举报人"
	}
	return roleLabel(r)
}

// explainComplaint is explain with the complaint service's refusals in
// Chinese.
func explainComplaint(err error) (int, string) {
	var e *apiError
	if errors.As(err, &e) && e.Status >= 400 && e.Status < 500 {
		if msg, ok := map[string]string{
			"reason-required":    "不予受理须填写理由。",
			"summary-required":   "办结须填写处理结果。",
			"outcome-required":   "办结须选择调查结论：属实、部分属实或不属实。",
			"outcome-invalid":    "调查结论须为属实、部分属实或不属实。",
			"outcome-unexpected": "只有办结时才填写调查结论。",
			"wrong-status":       "该举报当前的状态不能这样办理，可能刚被他人办理过，请看下方记录。",
			"forbidden":          "只有本村监察联络员和镇（街道）纪委可以办理举报。",
			"invalid-request":    "意见须为 1 至 2000 字。",
			"unknown-action":     "没有这种办理方式。",
		}[e.Type[strings.LastIndex(e.Type, "/")+1:]]; ok {
			return e.Status, msg
		}
	}
	return explain(err)
}

// complaintsShown is how many complaints the inbox lists (the newest of
// the filter); the counts cover up to complaintsPerVillage per village.
const (
	complaintsShown      = 100
	complaintsPerVillage = 500
	// complaintFanOut bounds the calls a town-wide inbox makes at once
	// (the staff API lists one village per call).
	complaintFanOut = 8
)

// complaintRow is a complaint as the inbox lists it.
type complaintRow struct {
	C           *cpComplaint
	VillageName string
	Category    string
	Status      string
	Deadline    deadline
	Excerpt     string
}

func excerpt(s string, n int) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n]) + "…"
}

// complaintsPage (举报): the complaints of my village, or of my town's
// villages, newest first, by status, with counts.
func (g *Gateway) complaintsPage(c *consoleReq) {
	ctx := c.r.Context()
	qs := c.r.URL.Query()
	filter := qs.Get("status")
	if _, ok := cpStatusNames[filter]; !ok && filter != "all" {
		filter = "open"
	}
	vs := c.villages(ctx)
	names := villageNames(vs)
	village := ""
	var ask []string
	if c.p.Role.IsVillageRole() {
		village = c.p.Village
		ask = []string{village}
	} else {
		village = qs.Get("village")
		if !divcode.Valid(village) {
			village = ""
		}
		if village != "" {
			ask = []string{village}
		} else {
			for _, v := range vs {
				ask = append(ask, v.Code)
			}
		}
	}

	// One call per village, a few at once.
	lists := make([][]*cpComplaint, len(ask))
	errs := make([]error, len(ask))
	sem := make(chan struct{}, complaintFanOut)
	var wg sync.WaitGroup
	for i, v := range ask {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var out items[*cpComplaint]
			errs[i] = c.svc(ServiceComplaint).get(ctx, "/v1/villages/"+v+"/complaints?limit="+itoa(complaintsPerVillage), &out)
			lists[i] = out.Items
		}()
	}
	wg.Wait()
	var all []*cpComplaint
	var failed []string
	capped := false
	var firstErr error
	for i, err := range errs {
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			failed = append(failed, label(names, ask[i]))
			continue
		}
		all = append(all, lists[i]...)
		capped = capped || len(lists[i]) >= complaintsPerVillage
	}
	// Nothing could be read: show why (a refusal, the service down).
	if firstErr != nil && len(failed) == len(ask) {
		var e *apiError
		if errors.As(firstErr, &e) && e.Status == http.StatusUnauthorized {
			c.failAPI(firstErr)
			return
		}
		status, msg := explainComplaint(firstErr)
		c.fail(status, msg)
		return
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].FiledAt.After(all[j].FiledAt) })

	now := consoleNow()
	counts := map[string]int{}
	var rows []complaintRow
	more := 0
	for _, cp := range all {
		counts[cp.Status]++
		counts["all"]++
		if cp.open() {
			counts["open"]++
		}
		if filter != "all" && filter != cp.Status && (filter != "open" || !cp.open()) {
			continue
		}
		if len(rows) == complaintsShown {
			more++
			continue
		}
		row := complaintRow{C: cp, VillageName: label(names, cp.Village), Category: cpCategoryName(cp.Category),
			Status: label(cpStatusNames, cp.Status), Excerpt: excerpt(cp.Description, 60)}
		if cp.open() && cp.DueAt != nil {
			row.Deadline = deadlineOf(cp.DueAt, now)
		}
		rows = append(rows, row)
	}
	type filterView struct {
		ID, Name string
		Count    int
		Href     string
	}
	var filters []filterView
	for _, f := range cpFilters {
		q := url.Values{"status": {f.ID}}
		if village != "" && !c.p.Role.IsVillageRole() {
			q.Set("village", village)
		}
		filters = append(filters, filterView{ID: f.ID, Name: f.Name, Count: counts[f.ID], Href: "/console/complaints?" + q.Encode()})
	}
	cappedAt := 0 // the per-village count shown when a village's list was cut there
	if capped {
		cappedAt = complaintsPerVillage
	}
	title := "举报"
	if village != "" {
		title += " · " + label(names, village)
	}
	c.page(http.StatusOK, "console_complaints", title, "complaints", "", struct {
		Rows       []complaintRow
		More       int
		Filter     string
		FilterName string
		Filters    []filterView
		Village    string
		Villages   []wfVillage
		Failed     []string
		NoVillages bool
		Capped     int
	}{rows, more, filter, label(map[string]string{"open": "待处理", "all": "全部"}, label(cpStatusNames, filter)),
		filters, village, vs, failed, len(ask) == 0, cappedAt})
}

// complaintView is everything a complaint's page shows.
type complaintView struct {
	C           *cpComplaint
	VillageName string
	Category    string
	Status      string
	Outcome     string
	Deadline    deadline
	// Reporter says who filed, as far as the service told this user.
	Reporter    string
	Attachments []cpAttachmentView
	History     []cpTransitionView
	Notes       []cpNoteView
	Escalated   []cpEscalationView
	// What the user may do (the service decides; these choose the forms).
	MayAct         bool
	MayNote        bool
	CanDecide      bool // accept or reject
	CanInvestigate bool
	CanResolve     bool
	Outcomes       []struct{ ID, Name string }
	Error          string
	Form           struct{ Reason, Summary, Outcome, Note string }
}

type cpAttachmentView struct {
	cpAttachment
	N    int
	Href string // the console's route to the stored file; "" for a link the reporter gave
	Size string
}

type cpTransitionView struct {
	cpTransition
	ActionName  string
	RoleName    string
	OutcomeName string
}

type cpNoteView struct {
	cpNote
	RoleName string
}

type cpEscalationView struct {
	cpEscalation
	StageName string
}

func (g *Gateway) loadComplaint(c *consoleReq, errMsg string) (*complaintView, bool) {
	ctx := c.r.Context()
	id := c.r.PathValue("id")
	if !validID(id) {
		c.fail(http.StatusNotFound, "没有找到这件举报。")
		return nil, false
	}
	var cp cpComplaint
	var vs []wfVillage
	var err error
	parallel(
		func() { err = c.svc(ServiceComplaint).get(ctx, "/v1/complaints/"+id, &cp) },
		func() { vs = c.villages(ctx) },
	)
	if err != nil {
		var e *apiError
		if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
			c.failAPI(err)
			return nil, false
		}
		status, msg := explainComplaint(err)
		if status == http.StatusNotFound {
			msg = "没有找到这件举报，或您无权查看。"
		}
		c.fail(status, msg)
		return nil, false
	}
	v := &complaintView{C: &cp, VillageName: label(villageNames(vs), cp.Village), Category: cpCategoryName(cp.Category),
		Status: label(cpStatusNames, cp.Status), Outcome: cpOutcomeName(cp.Outcome), Error: errMsg, Outcomes: cpOutcomes}
	if cp.open() && cp.DueAt != nil {
		v.Deadline = deadlineOf(cp.DueAt, consoleNow())
	}
	switch {
	case cp.Reporter != nil:
		v.Reporter = "实名举报：" + cp.Reporter.Name
		if cp.Reporter.Name == "" {
			v.Reporter = "实名举报（未留姓名）"
		}
		if cp.Reporter.Phone != "" {
			v.Reporter += "，电话 " + cp.Reporter.Phone
		}
	case c.p.Role == identity.RoleTownDiscipline || c.p.Role == identity.RoleDistrictDiscipline:
		// Discipline staff are given the reporter of every named report.
		v.Reporter = "匿名举报"
	default:
		v.Reporter = "举报人信息只向纪检监察人员显示"
	}
	for i, a := range cp.Attachments {
		av := cpAttachmentView{cpAttachment: a, N: i + 1, Size: sizeLabel(a.Size)}
		if a.Stored {
			av.Href = "/console/complaints/" + cp.ID + "/attachments/" + itoa(i+1)
		}
		v.Attachments = append(v.Attachments, av)
	}
	for k := len(cp.History) - 1; k >= 0; k-- {
		t := cp.History[k]
		v.History = append(v.History, cpTransitionView{cpTransition: t, ActionName: label(cpActionNames, t.Action),
			RoleName: cpRoleName(t.Role), OutcomeName: cpOutcomeName(t.Outcome)})
	}
	// The filing itself is not a transition; it opens the record.
	v.History = append(v.History, cpTransitionView{cpTransition: cpTransition{At: cp.FiledAt}, ActionName: "收到举报", RoleName: "码上举报"})
	for k := len(cp.Notes) - 1; k >= 0; k-- {
		n := cp.Notes[k]
		v.Notes = append(v.Notes, cpNoteView{cpNote: n, RoleName: cpRoleName(n.Role)})
	}
	for _, e := range cp.Escalated {
		v.Escalated = append(v.Escalated, cpEscalationView{cpEscalation: e, StageName: label(cpStatusNames, e.Stage)})
	}
	// The service's rule (lifecycle.go staffMayAct, service.go AddNote):
	// the village's liaison officer and the town's discipline office act;
	// discipline staff also add notes.
	v.MayAct = (c.p.Role == identity.RoleTownDiscipline && c.p.Town == cp.Town) ||
		(c.p.Role == identity.RoleLiaisonOfficer && c.p.Town == cp.Town && c.p.Village == cp.Village)
	v.MayNote = v.MayAct || c.p.Role == identity.RoleDistrictDiscipline
	v.CanDecide = v.MayAct && cp.Status == "received"
	v.CanInvestigate = v.MayAct && cp.Status == "accepted"
	v.CanResolve = v.MayAct && cp.Status == "investigating"
	return v, true
}

func (g *Gateway) complaintPage(c *consoleReq) {
	v, ok := g.loadComplaint(c, "")
	if !ok {
		return
	}
	flash := map[string]string{
		"accept": "已受理，请在 30 天内调查办结", "reject": "已作出不予受理决定", "investigate": "已开始调查",
		"resolve": "已办结，举报人可在查询页看到办结状态并反馈是否满意", "note": "意见已记录",
	}[c.r.URL.Query().Get("ok")]
	c.page(http.StatusOK, "console_complaint", "举报 "+v.C.TrackingCode, "complaints", flash, v)
}

// complaintError shows the complaint again with the service's refusal
// above the forms and the user's input kept.
func (g *Gateway) complaintError(c *consoleReq, err error, form func(v *complaintView)) {
	var e *apiError
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		c.failAPI(err)
		return
	}
	status, msg := explainComplaint(err)
	v, ok := g.loadComplaint(c, msg)
	if !ok {
		return
	}
	if form != nil {
		form(v)
	}
	if status < 400 || status >= 500 {
		status = http.StatusBadGateway
	}
	c.page(status, "console_complaint", "举报 "+v.C.TrackingCode, "complaints", "", v)
}

// actComplaint accepts, rejects, investigates or resolves, as the form
// says; the complaint service checks role, status, reason and outcome.
func (g *Gateway) actComplaint(c *consoleReq) {
	if !c.form() {
		return
	}
	id := c.r.PathValue("id")
	if !validID(id) {
		c.fail(http.StatusNotFound, "没有找到这件举报。")
		return
	}
	pf := c.r.PostForm
	action := pf.Get("action")
	reason := strings.TrimSpace(pf.Get("reason"))
	summary := strings.TrimSpace(pf.Get("summary"))
	outcome := pf.Get("outcome")
	req := map[string]string{"action": action}
	switch action {
	case "accept", "reject", "investigate":
		if reason != "" {
			req["reason"] = reason
		}
	case "resolve":
		req["summary"] = summary
		req["outcome"] = outcome
	default:
		c.fail(http.StatusBadRequest, "没有这种办理方式。")
		return
	}
	if err := c.svc(ServiceComplaint).postJSON(c.r.Context(), "/v1/complaints/"+id+"/actions", req, nil); err != nil {
		g.complaintError(c, err, func(v *complaintView) {
			v.Form.Reason, v.Form.Summary, v.Form.Outcome = reason, summary, outcome
		})
		return
	}
	http.Redirect(c.w, c.r, "/console/complaints/"+id+"?ok="+action, http.StatusSeeOther)
}

// noteComplaint adds a note (internal, or public on the reporter's
// status page).
func (g *Gateway) noteComplaint(c *consoleReq) {
	if !c.form() {
		return
	}
	id := c.r.PathValue("id")
	if !validID(id) {
		c.fail(http.StatusNotFound, "没有找到这件举报。")
		return
	}
	body := strings.TrimSpace(c.r.PostForm.Get("body"))
	public := c.r.PostForm.Get("public") == "1"
	req := map[string]any{"body": body, "public": public}
	if err := c.svc(ServiceComplaint).postJSON(c.r.Context(), "/v1/complaints/"+id+"/notes", req, nil); err != nil {
		g.complaintError(c, err, func(v *complaintView) { v.Form.Note = body })
		return
	}
	http.Redirect(c.w, c.r, "/console/complaints/"+id+"?ok=note", http.StatusSeeOther)
}

// inlineImages shows photos in the browser instead of downloading them:
// the complaint service answers every file as an attachment; the console
// displays JPEG and PNG (sniffed by the service at intake, nosniff and a
// sandboxing CSP kept) and leaves PDFs as downloads (Chromium does not
// render a PDF in a sandboxed document).
type inlineImages struct{ http.ResponseWriter }

func (w inlineImages) WriteHeader(status int) {
	h := w.Header()
	switch h.Get("Content-Type") {
	case "image/jpeg", "image/png":
		if d := h.Get("Content-Disposition"); strings.HasPrefix(d, "attachment") {
			h.Set("Content-Disposition", "inline"+strings.TrimPrefix(d, "attachment"))
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

// complaintAttachment relays a stored file through the complaint
// service's audited route: each opening is recorded there as a read by
// this user.
func (g *Gateway) complaintAttachment(c *consoleReq) {
	id, n := c.r.PathValue("id"), c.r.PathValue("n")
	k, err := strconv.Atoi(n)
	if !validID(id) || err != nil || k < 1 || k > 99 || strconv.Itoa(k) != n {
		c.fail(http.StatusNotFound, "没有找到这个附件。")
		return
	}
	call := c.svc(ServiceComplaint)
	if err := call.stream(inlineImages{c.w}, c.r, "/v1/complaints/"+id+"/attachments/"+n); err != nil {
		var e *apiError
		if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
			c.failAPI(err)
			return
		}
		status, msg := explainComplaint(err)
		if status == http.StatusNotFound {
			msg = "没有找到这个附件，或您无权查看。"
		}
		c.fail(status, msg)
	}
}

// statsYears is the most years the statistics page compares.
const statsYears = 15

// complaintStatsPage (举报统计): complaints by year and category, from the
// complaint service's statistics (what this user may see of the town),
// and the recurring problems of the latest year.
func (g *Gateway) complaintStatsPage(c *consoleReq) {
	ctx := c.r.Context()
	thisYear := consoleNow().In(tz.Shanghai).Year()
	// Ten years by default: the seed's yearly figures (2017-2019) are
	// within reach of a town's first years on the platform.
	to, from := thisYear, thisYear-9
	errMsg := ""
	qs := c.r.URL.Query()
	year := func(k string, def int) int {
		raw := qs.Get(k)
		if raw == "" {
			return def
		}
		y, err := strconv.Atoi(raw)
		if err != nil || y < 2000 || y > thisYear {
			errMsg = "年份应在 2000 年至今年之间。"
			return def
		}
		return y
	}
	from, to = year("from", from), year("to", to)
	if from > to {
		from, to = to, from
	}
	if to-from >= statsYears {
		from = to - statsYears + 1
		errMsg = "一次最多比较 " + itoa(statsYears) + " 年。"
	}
	n := to - from + 1
	reports := make([]cpReport, n)
	errs := make([]error, n)
	var vs []wfVillage
	calls := []func(){func() { vs = c.villages(ctx) }}
	for i := range n {
		calls = append(calls, func() {
			errs[i] = c.svc(ServiceComplaint).get(ctx, "/v1/statistics?year="+itoa(from+i), &reports[i])
		})
	}
	parallel(calls...)
	if err := errors.Join(errs...); err != nil {
		var e *apiError
		for _, one := range errs {
			if errors.As(one, &e) && e.Status == http.StatusUnauthorized {
				c.failAPI(one)
				return
			}
		}
		for _, one := range errs {
			if one != nil {
				status, msg := explainComplaint(one)
				c.fail(status, msg)
				return
			}
		}
	}
	type row struct {
		Year   int
		Counts []int
		Total  int
	}
	names := villageNames(vs)
	d := struct {
		Categories []struct{ ID, Name string }
		Rows       []row
		Totals     []int
		Total      int
		From, To   int
		Years      []int
		Error      string
		LastYear   int
		Recurring  []struct {
			VillageName, Category string
			Count                 int
			From, To              time.Time
		}
		ByVillage []struct {
			Name  string
			Count int
		}
	}{Categories: cpCategories, Totals: make([]int, len(cpCategories)), From: from, To: to, Error: errMsg, LastYear: to}
	for y := thisYear; y >= 2000 && y > thisYear-30; y-- {
		d.Years = append(d.Years, y)
	}
	for i, rep := range reports {
		r := row{Year: from + i, Total: rep.Stats.Total}
		for k, cat := range cpCategories {
			r.Counts = append(r.Counts, rep.Stats.ByCategory[cat.ID])
			d.Totals[k] += rep.Stats.ByCategory[cat.ID]
		}
		d.Total += r.Total
		d.Rows = append(d.Rows, r)
	}
	// Newest year first, as the inbox.
	sort.Slice(d.Rows, func(i, j int) bool { return d.Rows[i].Year > d.Rows[j].Year })
	last := reports[n-1]
	for _, rc := range last.Recurring {
		d.Recurring = append(d.Recurring, struct {
			VillageName, Category string
			Count                 int
			From, To              time.Time
		}{label(names, rc.Village), cpCategoryName(rc.Category), rc.Count, rc.From, rc.To})
	}
	for code, cnt := range last.Stats.ByVillage {
		d.ByVillage = append(d.ByVillage, struct {
			Name  string
			Count int
		}{label(names, code), cnt})
	}
	sort.Slice(d.ByVillage, func(i, j int) bool {
		if d.ByVillage[i].Count != d.ByVillage[j].Count {
			return d.ByVillage[i].Count > d.ByVillage[j].Count
		}
		return d.ByVillage[i].Name < d.ByVillage[j].Name
	})
	status := http.StatusOK
	if errMsg != "" {
		status = http.StatusUnprocessableEntity
	}
	c.page(status, "console_complaint_stats", "举报统计", "complaints", "", d)
}
