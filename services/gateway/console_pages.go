package gateway

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wuxiao/wuxiao/api/divcode"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// consoleNow is the console's clock (tests move it).
var consoleNow = time.Now

// task is a process as a work list shows it.
type task struct {
	Inst        *wfInstance
	VillageName string
	StepName    string
	Handler     string
	Deadline    deadline
	Status      string
}

func (c *consoleReq) task(inst *wfInstance, cat *wuxiaov1.ResolvedCatalog, names map[string]string, now time.Time) task {
	t := task{Inst: inst, VillageName: names[inst.Village], Status: label(statusNames, inst.Status)}
	if t.VillageName == "" {
		t.VillageName = inst.Village
	}
	if it := cat.Item(inst.ItemID); it != nil && inst.Current != "" {
		if st := it.Step(inst.Current); st != nil {
			t.StepName, t.Handler = st.Name, st.Handler
		}
	}
	if rec := inst.open(); rec != nil && inst.Status == "running" {
		t.Deadline = deadlineOf(rec.DueAt, now)
	}
	return t
}

func villageNames(vs []wfVillage) map[string]string {
	m := make(map[string]string, len(vs))
	for _, v := range vs {
		m[v.Code] = v.Name
	}
	return m
}

// parallel runs fs at once (a page's independent service calls) and
// returns the first error of a call marked required.
func parallel(fs ...func()) {
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	wg.Wait()
}

// tasksPage (待办): the steps waiting for my role — in my village, or in
// every village of my town — most urgent first; a liaison cadre's
// villages' running processes; district staff's overdue ones.
func (g *Gateway) tasksPage(c *consoleReq) {
	ctx := c.r.Context()
	q := url.Values{"status": {"running"}, "limit": {"200"}}
	if !c.p.Role.IsDistrictRole() && !c.p.Role.IsLiaisonCadre() {
		q.Set("waitingFor", string(c.p.Role))
	}
	// A liaison cadre (联村干部) records no step: it follows every running
	// process of its villages (the workflow lists those only).
	var list items[*wfInstance]
	var cat *wuxiaov1.ResolvedCatalog
	var vs []wfVillage
	var errList, errCat error
	parallel(
		func() { errList = c.svc(ServiceWorkflow).get(ctx, "/v1/instances?"+q.Encode(), &list) },
		func() { cat, errCat = c.catalog(ctx) },
		func() { vs = c.villages(ctx) },
	)
	if err := errors.Join(errList, errCat); err != nil {
		c.failAPI(err)
		return
	}
	now := consoleNow()
	names := villageNames(vs)
	var tasks []task
	overdue := 0
	for _, inst := range list.Items {
		t := c.task(inst, cat, names, now)
		if c.p.Role.IsDistrictRole() && !t.Deadline.Overdue {
			continue // district staff: what is overdue across the town
		}
		if t.Deadline.Overdue {
			overdue++
		}
		tasks = append(tasks, t)
	}
	sort.SliceStable(tasks, func(i, j int) bool {
		a, b := tasks[i].Deadline.Due, tasks[j].Deadline.Due
		switch {
		case a == nil:
			return false
		case b == nil:
			return true
		}
		return a.Before(*b)
	})
	flash := ""
	if c.r.URL.Query().Get("ok") == "town" {
		flash = "已切换到" + c.town.DisplayName
	}
	c.page(http.StatusOK, "console_tasks", "待办", "tasks", flash, struct {
		Tasks   []task
		Overdue int
	}{tasks, overdue})
}

// startable lists the items whose first step my role records.
func startable(cat *wuxiaov1.ResolvedCatalog, role identity.Role) []wuxiaov1.PowerItem {
	var out []wuxiaov1.PowerItem
	for _, it := range cat.Items {
		if len(it.Steps) > 0 && string(it.Steps[0].Role) == string(role) {
			out = append(out, it)
		}
	}
	return out
}

type categoryGroup struct {
	Name  string
	Items []wuxiaov1.PowerItem
}

// startListPage (发起): the power list items my role may start.
func (g *Gateway) startListPage(c *consoleReq) {
	cat, err := c.catalog(c.r.Context())
	if err != nil {
		c.failAPI(err)
		return
	}
	var groups []categoryGroup
	for _, it := range startable(cat, c.p.Role) {
		name := label(categoryNames, string(it.Category))
		if n := len(groups); n == 0 || groups[n-1].Name != name {
			groups = append(groups, categoryGroup{Name: name})
		}
		groups[len(groups)-1].Items = append(groups[len(groups)-1].Items, it)
	}
	c.page(http.StatusOK, "console_start", "发起事项", "start", "", struct {
		Groups  []categoryGroup
		Catalog *wuxiaov1.ResolvedCatalog
		Total   int
	}{groups, cat, len(cat.Items)})
}

// stepView is a catalog step with what the start page says about it.
type stepView struct {
	wuxiaov1.Step
	N         int
	Limit     string
	Role      string
	Evidence  []string // required documents
	Controls  []string // other checks
	NextNames []string
}

func stepViews(it *wuxiaov1.PowerItem) []stepView {
	out := make([]stepView, len(it.Steps))
	for i, s := range it.Steps {
		v := stepView{Step: s, N: i + 1, Limit: timeLimitLabel(s), Role: roleLabel(string(s.Role))}
		for _, ctl := range it.Controls {
			if ctl.Step != s.ID {
				continue
			}
			if ctl.Type == wuxiaov1.ControlEvidenceRequired {
				v.Evidence = append(v.Evidence, ctl.Description)
			} else {
				v.Controls = append(v.Controls, ctl.Description)
			}
		}
		for _, n := range s.Next {
			if ns := it.Step(n); ns != nil {
				v.NextNames = append(v.NextNames, ns.Name)
			}
		}
		out[i] = v
	}
	return out
}

// hasAmount: items about money carry an amount (and a payee).
func hasAmount(it *wuxiaov1.PowerItem) bool {
	if it.Category == "funds" || it.Category == "project" {
		return true
	}
	return slices.ContainsFunc(it.Controls, func(c wuxiaov1.Control) bool {
		return c.Type == wuxiaov1.ControlAmountThreshold || c.Type == wuxiaov1.ControlConflictOfInterest
	})
}

type startForm struct {
	Title, Amount, PayeeName, PayeeID, Village string
}

type startPageData struct {
	Item      *wuxiaov1.PowerItem
	Category  string
	Steps     []stepView
	CanStart  bool
	HasAmount bool
	FirstRole string
	Form      startForm
	Error     string
	Villages  []wfVillage // town roles choose the village
}

func (g *Gateway) startItemData(c *consoleReq, f startForm, errMsg string) (startPageData, bool) {
	cat, err := c.catalog(c.r.Context())
	if err != nil {
		c.failAPI(err)
		return startPageData{}, false
	}
	it := cat.Item(c.r.PathValue("item"))
	if it == nil || len(it.Steps) == 0 {
		c.fail(http.StatusNotFound, "权力清单上没有这个事项。")
		return startPageData{}, false
	}
	d := startPageData{Item: it, Category: label(categoryNames, string(it.Category)), Steps: stepViews(it),
		CanStart:  string(it.Steps[0].Role) == string(c.p.Role) && !c.p.Role.IsDistrictRole(),
		HasAmount: hasAmount(it), FirstRole: roleLabel(string(it.Steps[0].Role)), Form: f, Error: errMsg}
	if d.CanStart && c.p.Role.IsTownRole() {
		d.Villages = c.villages(c.r.Context())
	}
	return d, true
}

func (g *Gateway) startItemPage(c *consoleReq) {
	d, ok := g.startItemData(c, startForm{}, "")
	if !ok {
		return
	}
	c.page(http.StatusOK, "console_item", d.Item.Name, "start", "", d)
}

// startProcess starts the item in my village (or, for town roles, the
// village chosen) and shows the new process.
func (g *Gateway) startProcess(c *consoleReq) {
	if !c.form() {
		return
	}
	pf := c.r.PostForm
	f := startForm{Title: strings.TrimSpace(pf.Get("title")), Amount: pf.Get("amount"),
		PayeeName: strings.TrimSpace(pf.Get("payeeName")), PayeeID: strings.TrimSpace(pf.Get("payeeIdNumber")), Village: pf.Get("village")}
	again := func(status int, msg string) {
		d, ok := g.startItemData(c, f, msg)
		if ok {
			c.page(status, "console_item", d.Item.Name, "start", "", d)
		}
	}
	fen, ok := parseYuan(f.Amount)
	switch {
	case f.Title == "":
		again(http.StatusUnprocessableEntity, "请填写事由（标题）。")
		return
	case len([]rune(f.Title)) > 200:
		again(http.StatusUnprocessableEntity, "事由不能超过 200 个字。")
		return
	case !ok:
		again(http.StatusUnprocessableEntity, "金额请填写数字（元），最多两位小数，例如 860.50。")
		return
	case f.PayeeID != "" && len(f.PayeeID) != 18:
		again(http.StatusUnprocessableEntity, "收款人身份证号应为 18 位。")
		return
	}
	village := c.p.Village
	if c.p.Role.IsTownRole() {
		village = f.Village
	}
	if !divcode.Valid(village) {
		again(http.StatusUnprocessableEntity, "请选择村。")
		return
	}
	req := map[string]any{"itemId": c.r.PathValue("item"), "title": f.Title}
	if fen > 0 {
		req["amountFen"] = fen
	}
	if f.PayeeName != "" {
		req["payeeName"] = f.PayeeName
	}
	if f.PayeeID != "" {
		req["payeeIdNumber"] = f.PayeeID
	}
	var inst wfInstance
	if err := c.svc(ServiceWorkflow).postJSON(c.r.Context(), "/v1/villages/"+village+"/instances", req, &inst); err != nil {
		status, msg := explain(err)
		again(status, msg)
		return
	}
	http.Redirect(c.w, c.r, "/console/processes/"+inst.ID+"?ok=started", http.StatusSeeOther)
}

func (g *Gateway) itemFlowchart(c *consoleReq) {
	if err := c.svc(ServiceWorkflow).stream(c.w, c.r, "/v1/catalog/items/"+url.PathEscape(c.r.PathValue("item"))+"/flowchart.svg"); err != nil {
		status, _ := explain(err)
		http.Error(c.w, "流程图暂不可用", status)
	}
}

// processesShown is how many processes the 流程 page lists (the newest);
// the per-village figures count up to 200.
const processesShown = 50

// processesPage (流程): the processes of my village, or of my town by
// village and state.
func (g *Gateway) processesPage(c *consoleReq) {
	ctx := c.r.Context()
	qs := c.r.URL.Query()
	status := qs.Get("status")
	if _, ok := statusNames[status]; !ok {
		status = ""
	}
	village := qs.Get("village")
	if !divcode.Valid(village) || c.p.Role.IsVillageRole() {
		village = ""
	}
	q := url.Values{"limit": {"200"}}
	if village != "" {
		q.Set("village", village)
	}
	var all items[*wfInstance]
	var cat *wuxiaov1.ResolvedCatalog
	var vs []wfVillage
	var errList, errCat error
	parallel(
		func() { errList = c.svc(ServiceWorkflow).get(ctx, "/v1/instances?"+q.Encode(), &all) },
		func() { cat, errCat = c.catalog(ctx) },
		func() { vs = c.villages(ctx) },
	)
	if err := errors.Join(errList, errCat); err != nil {
		c.failAPI(err)
		return
	}
	names := villageNames(vs)
	now := consoleNow()
	type villageRow struct {
		Code, Name                    string
		Running, Completed, Withdrawn int
		Overdue                       int
	}
	rows := map[string]*villageRow{}
	var tasks []task
	more := 0
	for _, inst := range all.Items {
		t := c.task(inst, cat, names, now)
		row := rows[inst.Village]
		if row == nil {
			row = &villageRow{Code: inst.Village, Name: t.VillageName}
			rows[inst.Village] = row
		}
		switch inst.Status {
		case "running":
			row.Running++
			if t.Deadline.Overdue {
				row.Overdue++
			}
		case "completed":
			row.Completed++
		case "withdrawn":
			row.Withdrawn++
		}
		if (status == "" || inst.Status == status) && len(tasks) < processesShown {
			tasks = append(tasks, t)
		} else if status == "" || inst.Status == status {
			more++
		}
	}
	var summary []villageRow
	for _, r := range rows {
		summary = append(summary, *r)
	}
	sort.Slice(summary, func(i, j int) bool { return summary[i].Code < summary[j].Code })
	c.page(http.StatusOK, "console_processes", "流程", "processes", "", struct {
		More     int
		Tasks    []task
		Summary  []villageRow
		Status   string
		Village  string
		Villages []wfVillage
		Statuses []struct{ ID, Name string }
	}{more, tasks, summary, status, village, vs, []struct{ ID, Name string }{
		{"", "全部"}, {"running", "办理中"}, {"completed", "已办结"}, {"withdrawn", "已撤回"}}})
}

// processView is everything the 办理 page shows.
type processView struct {
	Inst        *wfInstance
	Item        *wuxiaov1.PowerItem
	VillageName string
	Status      string
	Steps       []processStep
	Current     *processStep
	Evidence    []evidenceView
	Warnings    []warningView
	Audit       []auditView
	AuditValid  bool
	AuditReason string
	AuditCount  int
	// What the user may do here (the services decide; these only choose
	// which forms to show).
	MayComplete bool
	MayAttach   bool
	MayComment  bool
	MayWithdraw bool
	StepChoices []stepView // for evidence: the item's steps
	Kinds       []struct{ ID, Name string }
	Error       string
	Form        struct{ Note, Comment, Reason string }
}

type processStep struct {
	stepView
	State string // done, current, todo
	// OutOfOrder: the user may record this step although it is not the
	// current one (done on paper, say), with a reason; the service raises
	// an order warning.
	OutOfOrder bool
	Records    []wfStepRecord
	Deadline   deadline
	Next       []wuxiaov1.Step // choices when the step has several next steps
}

type evidenceView struct {
	wfEvidence
	StepName string
	KindName string
	Size     string
	Href     string
}

type warningView struct {
	wfWarning
	RuleName string
	StepName string
}

type auditView struct {
	wfAuditEntry
	ActionName string
	RoleName   string
	Summary    string
}

func (g *Gateway) loadProcess(c *consoleReq, errMsg string) (*processView, bool) {
	ctx := c.r.Context()
	id := c.r.PathValue("id")
	if !validID(id) {
		c.fail(http.StatusNotFound, "没有找到这个流程。")
		return nil, false
	}
	wf := c.svc(ServiceWorkflow)
	var inst wfInstance
	var audit wfAudit
	var cat *wuxiaov1.ResolvedCatalog
	var ws items[wfWarning]
	var vs []wfVillage
	var errInst, errAudit, errCat error
	warnings := func(village string) { _ = wf.get(ctx, "/v1/villages/"+village+"/warnings?limit=200", &ws) }
	calls := []func(){
		func() { errInst = wf.get(ctx, "/v1/instances/"+id, &inst) },
		func() { errAudit = wf.get(ctx, "/v1/instances/"+id+"/audit", &audit) },
		func() { cat, errCat = c.catalog(ctx) },
		func() { vs = c.villages(ctx) },
	}
	// A cadre reads only their own village's processes: its warnings can
	// be asked for at once; town staff learn the village from the process.
	if c.p.Role.IsVillageRole() {
		calls = append(calls, func() { warnings(c.p.Village) })
	}
	parallel(calls...)
	if err := errors.Join(errInst, errAudit, errCat); err != nil {
		c.failAPI(err)
		return nil, false
	}
	if !c.p.Role.IsVillageRole() {
		warnings(inst.Village)
	}
	now := consoleNow()
	v := &processView{Inst: &inst, Item: cat.Item(inst.ItemID), VillageName: villageNames(vs)[inst.Village],
		Status: label(statusNames, inst.Status), AuditValid: audit.Verification.Valid, AuditReason: audit.Verification.Reason,
		AuditCount: audit.Verification.Entries, Error: errMsg, Kinds: evidenceKinds}
	if v.VillageName == "" {
		v.VillageName = inst.Village
	}
	stepName := func(id string) string {
		if v.Item != nil {
			if s := v.Item.Step(id); s != nil {
				return s.Name
			}
		}
		return id
	}
	if v.Item != nil {
		views := stepViews(v.Item)
		v.StepChoices = views
		for _, sv := range views {
			ps := processStep{stepView: sv, State: "todo"}
			for _, rec := range inst.Steps {
				if rec.StepID == sv.ID {
					ps.Records = append(ps.Records, rec)
					if rec.CompletedAt != nil {
						ps.State = "done"
					}
				}
			}
			if inst.Status == "running" && inst.Current == sv.ID {
				ps.State = "current"
				if rec := inst.open(); rec != nil {
					ps.Deadline = deadlineOf(rec.DueAt, now)
				}
				if len(sv.Next) > 1 {
					for _, n := range sv.Next {
						if s := v.Item.Step(n); s != nil {
							ps.Next = append(ps.Next, *s)
						}
					}
				}
			}
			v.Steps = append(v.Steps, ps)
		}
		for i := range v.Steps {
			if v.Steps[i].State == "current" {
				v.Current = &v.Steps[i]
			}
		}
	}
	for _, e := range inst.Evidence {
		ev := evidenceView{wfEvidence: e, StepName: stepName(e.StepID), KindName: evidenceKindName(e.Kind), Size: sizeLabel(e.Size), Href: e.URL}
		if e.File() {
			ev.Href = "/console/processes/" + inst.ID + "/evidence/" + e.FileID()
		} else if !strings.HasPrefix(e.URL, "https://") && !strings.HasPrefix(e.URL, "http://") {
			ev.Href = ""
		}
		v.Evidence = append(v.Evidence, ev)
	}
	for _, w := range ws.Items {
		if w.InstanceID == inst.ID {
			v.Warnings = append(v.Warnings, warningView{wfWarning: w, RuleName: label(ruleNames, w.Rule), StepName: stepName(w.StepID)})
		}
	}
	for k := len(audit.Entries) - 1; k >= 0; k-- {
		e := audit.Entries[k]
		v.Audit = append(v.Audit, auditView{wfAuditEntry: e, ActionName: label(actionNames, e.Action), RoleName: roleLabel(e.ActorRole),
			Summary: auditSummary(e, stepName)})
	}
	running := inst.Status == "running"
	actsHere := c.p.CanActInVillage(inst.Town, inst.Village) || (c.p.Role.IsTownRole() && c.p.Role != identity.RoleTownIT && c.p.Town == inst.Town)
	mine := v.Current != nil && string(v.Current.Step.Role) == string(c.p.Role)
	for i := range v.Steps {
		st := &v.Steps[i]
		st.OutOfOrder = running && actsHere && !readOnlyRole(c.p.Role) && st.State == "todo" && string(st.Step.Role) == string(c.p.Role)
	}
	v.MayComplete = running && actsHere && mine
	v.MayAttach = running && actsHere && (!readOnlyRole(c.p.Role) || mine)
	v.MayComment = running && actsHere && !readOnlyRole(c.p.Role)
	v.MayWithdraw = running && c.p.Village == inst.Village && c.p.Role.IsVillageRole() &&
		(c.p.IdentityID == inst.StartedBy || c.p.Role == identity.RoleSecretary || c.p.Role == identity.RoleDirector)
	return v, true
}

// auditSummary is one line about an audit entry's data.
func auditSummary(e wfAuditEntry, stepName func(string) string) string {
	var d map[string]any
	if err := jsonUnmarshalString(e.Data, &d); err != nil {
		return ""
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	switch e.Action {
	case "instance.started":
		return str(d, "title")
	case "step.completed":
		s := stepName(str(d, "step"))
		if req, ok := d["request"].(map[string]any); ok && str(req, "note") != "" {
			s += "：" + str(req, "note")
		}
		return s
	case "evidence.added":
		return str(d, "name") + "（SHA-256 " + shortHash(str(d, "sha256")) + "）"
	case "comment.added":
		return str(d, "body")
	case "instance.withdrawn":
		return "理由：" + str(d, "reason")
	case "warning.raised":
		return str(d, "message")
	}
	return ""
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

func (g *Gateway) processPage(c *consoleReq) {
	v, ok := g.loadProcess(c, "")
	if !ok {
		return
	}
	flash := map[string]string{
		"started": "已发起，流程编号 " + v.Inst.TrackingNumber, "completed": "已办理，流程已进入下一步",
		"finished": "已办理，流程已办结", "warned": "已办理，但产生了违规预警，请查看下方预警",
		"evidence": "佐证材料已上传", "comment": "意见已发表", "withdrawn": "流程已撤回",
	}[c.r.URL.Query().Get("ok")]
	c.page(http.StatusOK, "console_process", v.Inst.Title, "processes", flash, v)
}

// processError shows the process again with a refusal above the forms.
func (g *Gateway) processError(c *consoleReq, err error, form func(v *processView)) {
	var e *apiError
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		c.failAPI(err) // sign in again
		return
	}
	status, msg := explain(err)
	v, ok := g.loadProcess(c, msg)
	if !ok {
		return
	}
	if form != nil {
		form(v)
	}
	c.page(status, "console_process", v.Inst.Title, "processes", "", v)
}

func (g *Gateway) completeStep(c *consoleReq) {
	if !c.form() {
		return
	}
	id, step := c.r.PathValue("id"), c.r.PostForm.Get("step")
	if !validID(id) || step == "" {
		c.fail(http.StatusBadRequest, "缺少要办理的步骤。")
		return
	}
	req := map[string]any{}
	note := strings.TrimSpace(c.r.PostForm.Get("note"))
	if note != "" {
		req["note"] = note
	}
	if next := c.r.PostForm.Get("next"); next != "" {
		req["next"] = next
	}
	if c.r.PostForm.Get("outOfOrder") == "1" {
		// The service insists on a reason and raises the order warning.
		req["outOfOrder"] = true
		req["reason"] = strings.TrimSpace(c.r.PostForm.Get("reason"))
	}
	var res struct {
		Instance wfInstance  `json:"instance"`
		Warnings []wfWarning `json:"warnings"`
	}
	if err := c.svc(ServiceWorkflow).postJSON(c.r.Context(), "/v1/instances/"+id+"/steps/"+url.PathEscape(step)+"/complete", req, &res); err != nil {
		g.processError(c, err, func(v *processView) { v.Form.Note = note })
		return
	}
	ok := "completed"
	switch {
	case len(res.Warnings) > 0:
		ok = "warned"
	case res.Instance.Status == "completed":
		ok = "finished"
	}
	http.Redirect(c.w, c.r, "/console/processes/"+id+"?ok="+ok, http.StatusSeeOther)
}

func (g *Gateway) commentProcess(c *consoleReq) {
	if !c.form() {
		return
	}
	id := c.r.PathValue("id")
	body := strings.TrimSpace(c.r.PostForm.Get("body"))
	if !validID(id) {
		c.fail(http.StatusNotFound, "没有找到这个流程。")
		return
	}
	if err := c.svc(ServiceWorkflow).postJSON(c.r.Context(), "/v1/instances/"+id+"/comments", map[string]string{"body": body}, nil); err != nil {
		g.processError(c, err, func(v *processView) { v.Form.Comment = body })
		return
	}
	http.Redirect(c.w, c.r, "/console/processes/"+id+"?ok=comment", http.StatusSeeOther)
}

func (g *Gateway) withdrawProcess(c *consoleReq) {
	if !c.form() {
		return
	}
	id := c.r.PathValue("id")
	reason := strings.TrimSpace(c.r.PostForm.Get("reason"))
	if !validID(id) {
		c.fail(http.StatusNotFound, "没有找到这个流程。")
		return
	}
	if err := c.svc(ServiceWorkflow).postJSON(c.r.Context(), "/v1/instances/"+id+"/withdraw", map[string]string{"reason": reason}, nil); err != nil {
		g.processError(c, err, func(v *processView) { v.Form.Reason = reason })
		return
	}
	http.Redirect(c.w, c.r, "/console/processes/"+id+"?ok=withdrawn", http.StatusSeeOther)
}

func (g *Gateway) processFlowchart(c *consoleReq) {
	id := c.r.PathValue("id")
	if !validID(id) {
		http.NotFound(c.w, c.r)
		return
	}
	if err := c.svc(ServiceWorkflow).stream(c.w, c.r, "/v1/instances/"+id+"/flowchart.svg"); err != nil {
		status, _ := explain(err)
		http.Error(c.w, "流程图暂不可用", status)
	}
}

func (g *Gateway) evidenceDownload(c *consoleReq) {
	id, file := c.r.PathValue("id"), c.r.PathValue("file")
	if !validID(id) || !validID(file) {
		c.fail(http.StatusNotFound, "没有找到这个文件。")
		return
	}
	if err := c.svc(ServiceWorkflow).stream(c.w, c.r, "/v1/instances/"+id+"/evidence/files/"+file); err != nil {
		c.failAPI(err)
	}
}

// villagePage (我的村 / 村情): grade and points with reasons, the notices
// received, warnings, the wallet and subsidies, the processes.
func (g *Gateway) villagePage(c *consoleReq) {
	ctx := c.r.Context()
	vs := c.villages(ctx)
	village := c.p.Village
	if !c.p.Role.IsVillageRole() {
		village = c.r.URL.Query().Get("village")
		if !divcode.Valid(village) {
			village = ""
			if len(vs) > 0 {
				village = vs[0].Code
			}
		}
	}
	type data struct {
		Village     string
		VillageName string
		Villages    []wfVillage
		Year        int
		Rating      *inspRating
		RatingNote  string
		Changes     []inspGradeChange
		Warnings    []warningView
		Wallet      *dsWallet
		Subsidies   *dsSubsidies
		Recent      []task // the latest processes
	}
	d := data{Village: village, Villages: vs, Year: consoleNow().In(tz.Shanghai).Year()}
	d.VillageName = villageNames(vs)[village]
	if village == "" {
		c.page(http.StatusOK, "console_village", "村情", "village", "", d)
		return
	}
	if d.VillageName == "" {
		d.VillageName = village
	}
	var rating inspRating
	var changes items[inspGradeChange]
	var ws items[wfWarning]
	var wallet dsWallet
	var subs dsSubsidies
	var procs items[*wfInstance]
	var errRating, errChanges, errWarn, errWallet, errSubs, errProcs error
	year := "?year=" + itoa(d.Year)
	parallel(
		func() { errRating = c.svc(ServiceInspection).get(ctx, "/v1/villages/"+village+"/rating", &rating) },
		func() {
			errChanges = c.svc(ServiceInspection).get(ctx, "/v1/villages/"+village+"/grade-changes?limit=50", &changes)
		},
		func() { errWarn = c.svc(ServiceWorkflow).get(ctx, "/v1/villages/"+village+"/warnings?limit=50", &ws) },
		func() {
			errWallet = c.svc(ServiceDisclosure).get(ctx, "/v1/public/villages/"+village+"/wallet"+year, &wallet)
		},
		func() {
			errSubs = c.svc(ServiceDisclosure).get(ctx, "/v1/public/villages/"+village+"/subsidies"+year, &subs)
		},
		func() {
			errProcs = c.svc(ServiceWorkflow).get(ctx, "/v1/instances?limit=5&village="+village, &procs)
		},
	)
	// Each part shows what its service allows this user; a refusal of one
	// (town officials do not read ratings) leaves the others.
	if errRating == nil {
		d.Rating = &rating
	} else if status, _ := explain(errRating); status == http.StatusForbidden {
		d.RatingNote = "评级和积分由村干部本人、镇（街道）纪委和区纪委查看。"
	} else {
		d.RatingNote = "评级暂不可用。"
	}
	if errChanges == nil {
		d.Changes = changes.Items
	}
	if errWarn == nil {
		for _, w := range ws.Items {
			d.Warnings = append(d.Warnings, warningView{wfWarning: w, RuleName: label(ruleNames, w.Rule)})
		}
	}
	if errWallet == nil {
		d.Wallet = &wallet
	}
	if errSubs == nil {
		d.Subsidies = &subs
	}
	if errProcs == nil {
		now := consoleNow()
		for _, p := range procs.Items {
			d.Recent = append(d.Recent, task{Inst: p, Status: label(statusNames, p.Status), Deadline: func() deadline {
				if rec := p.open(); rec != nil && p.Status == "running" {
					return deadlineOf(rec.DueAt, now)
				}
				return deadline{}
			}()})
		}
	}
	title := "我的村"
	if !c.p.Role.IsVillageRole() {
		title = "村情"
	}
	c.page(http.StatusOK, "console_village", title+" · "+d.VillageName, "village", "", d)
}

func (g *Gateway) noticePage(c *consoleReq) {
	number := c.r.PathValue("number")
	var n inspNotice
	if err := c.svc(ServiceInspection).get(c.r.Context(), "/v1/notices/"+url.PathEscape(number), &n); err != nil {
		c.failAPI(err)
		return
	}
	c.page(http.StatusOK, "console_notice", "通知书 "+n.Number, "village", "", n)
}
