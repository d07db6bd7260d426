package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/api/divcode"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// The discipline side of the console beyond the complaint inbox: inspection
// tours (巡察) with their visits, findings and rectification tasks,
// three-colour supervision orders (三色督查令) and interviews (约谈),
// integrity files (廉情档案), cross-check flags, village grades with their
// reasons, and the district overview; and, for the village's supervision
// committee chair, one page of what the committee watches. Everything is
// the inspection (and workflow, complaint) service's answer to the
// signed-in user: the console hides the forms a role cannot use (the
// service's rules, access.go and integrity.go there) but never decides.

// What the console reads of the inspection service's staff answers
// (api/openapi/inspection.yaml; only the fields shown).

type inTourVillage struct {
	Village   string  `json:"village"`
	Name      string  `json:"name,omitempty"`
	VisitedOn *string `json:"visitedOn,omitempty"`
}

type inTour struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Period string `json:"period"`
	Team   []struct {
		Name string `json:"name"`
		Role string `json:"role"`
	} `json:"team"`
	Villages      []inTourVillage `json:"villages"`
	Visited       int             `json:"visited"`
	CreatedAt     time.Time       `json:"createdAt"`
	CreatedByRole string          `json:"createdByRole"`
}

type inCoverage struct {
	Total     int      `json:"total"`
	Covered   int      `json:"covered"`
	Percent   float64  `json:"percent"`
	Uncovered []string `json:"uncovered"`
}

type inTask struct {
	ID                 string     `json:"id"`
	FindingID          string     `json:"findingId"`
	Village            string     `json:"village"`
	Owner              string     `json:"owner"`
	Action             string     `json:"action"`
	Deadline           time.Time  `json:"deadline"`
	Status             string     `json:"status"`
	OverdueAt          *time.Time `json:"overdueAt,omitempty"`
	FindingCategory    string     `json:"findingCategory"`
	FindingSeverity    string     `json:"findingSeverity"`
	FindingDescription string     `json:"findingDescription"`
	Evidence           []struct {
		Text string `json:"text,omitempty"`
		URL  string `json:"url,omitempty"`
	} `json:"evidence"`
	History []struct {
		At     time.Time `json:"at"`
		Action string    `json:"action"`
		Note   string    `json:"note,omitempty"`
	} `json:"history"`
}

type inFinding struct {
	ID          string    `json:"id"`
	TourID      string    `json:"tourId"`
	Village     string    `json:"village"`
	Category    string    `json:"category"`
	Description string    `json:"description"`
	Severity    string    `json:"severity"`
	RaisedAt    time.Time `json:"raisedAt"`
	Tasks       []inTask  `json:"tasks"`
}

type inOrder struct {
	Number        string     `json:"number"`
	AnswerDue     *time.Time `json:"answerDue,omitempty"`
	IssuedByRole  string     `json:"issuedByRole,omitempty"`
	Colour        string     `json:"colour"`
	ClassName     string     `json:"className"`
	SituationName string     `json:"situationName"`
	Village       string     `json:"village"`
	Detail        string     `json:"detail,omitempty"`
	IssuedAt      time.Time  `json:"issuedAt"`
	Deadline      time.Time  `json:"deadline"`
	Status        string     `json:"status"`
	EscalatedFrom string     `json:"escalatedFrom,omitempty"`
	EscalatedTo   string     `json:"escalatedTo,omitempty"`
	Response      string     `json:"response,omitempty"`
}

type inInterview struct {
	ID           string    `json:"id"`
	Village      string    `json:"village"`
	CadreName    string    `json:"cadreName"`
	CadrePost    string    `json:"cadrePost,omitempty"`
	HeldAt       time.Time `json:"heldAt"`
	Interviewers []string  `json:"interviewers"`
	Reason       string    `json:"reason"`
	Outcome      string    `json:"outcome"`
	OrderNumber  string    `json:"orderNumber,omitempty"`
}

type inSituations struct {
	Situations struct {
		Classes []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"classes"`
		Situations []struct {
			ID     string `json:"id"`
			Class  string `json:"class"`
			Name   string `json:"name"`
			Colour string `json:"colour"`
		} `json:"situations"`
	} `json:"situations"`
}

type inRecord struct {
	Date    string `json:"date,omitempty"`
	Until   string `json:"until,omitempty"`
	Kind    string `json:"kind,omitempty"`
	Summary string `json:"summary"`
	Ref     string `json:"ref,omitempty"`
	Outcome string `json:"outcome,omitempty"`
}

type inSectionContent struct {
	Status string     `json:"status,omitempty"`
	Items  []inRecord `json:"items"`
	Note   string     `json:"note,omitempty"`
}

type inFile struct {
	ID            string    `json:"id"`
	Village       string    `json:"village"`
	CadreName     string    `json:"cadreName"`
	CadrePost     string    `json:"cadrePost"`
	CadreIDMasked string    `json:"cadreIdMasked,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
	Sections      map[string]struct {
		Version      int              `json:"version"`
		Content      inSectionContent `json:"content"`
		RecordedAt   time.Time        `json:"recordedAt"`
		RecordedRole string           `json:"recordedRole"`
	} `json:"sections,omitempty"`
	Relatives []struct {
		Name     string `json:"name"`
		Relation string `json:"relation"`
		IDMasked string `json:"idMasked"`
	} `json:"relatives,omitempty"`
}

type inFlag struct {
	ID              string    `json:"id"`
	Kind            string    `json:"kind"`
	Village         string    `json:"village"`
	Programme       string    `json:"programme"`
	PayeeNameMasked string    `json:"payeeNameMasked"`
	AmountFen       int64     `json:"amountFen"`
	PaidOn          string    `json:"paidOn"`
	FlaggedAt       time.Time `json:"flaggedAt"`
}

type inYearCount struct {
	Year   int `json:"year"`
	Total  int `json:"total"`
	Blue   int `json:"blue,omitempty"`
	Yellow int `json:"yellow,omitempty"`
	Red    int `json:"red,omitempty"`
}

type inDistrict struct {
	Period       string         `json:"period"`
	AsOf         time.Time      `json:"asOf"`
	DistrictWide bool           `json:"districtWide"`
	Grades       map[string]int `json:"grades"`
	Coverage     inCoverage     `json:"coverage"`
	Towns        []struct {
		Town     string         `json:"town"`
		TownName string         `json:"townName"`
		Grades   map[string]int `json:"grades"`
		Coverage inCoverage     `json:"coverage"`
		Villages []struct {
			Village   string `json:"village"`
			Name      string `json:"name,omitempty"`
			Grade     string `json:"grade"`
			Points    int    `json:"points"`
			Covered   bool   `json:"covered"`
			LastVisit string `json:"lastVisit,omitempty"`
		} `json:"villages"`
		Orders     []inYearCount `json:"orders"`
		Interviews []inYearCount `json:"interviews"`
	} `json:"towns"`
}

// Labels in Chinese.

var inSeverities = []struct{ ID, Name string }{{"minor", "一般"}, {"major", "较重"}, {"serious", "严重"}}

var inSeverityNames = map[string]string{"minor": "一般", "major": "较重", "serious": "严重"}

var inTaskStatusNames = map[string]string{"open": "待整改", "submitted": "已提交整改", "accepted": "整改已验收", "returned": "已退回"}

var inOrderStatusNames = map[string]string{"issued": "待答复", "responded": "已答复", "closed": "已办结", "overdue": "已超期",
	"returned": "已退回", "escalated": "已升级", "referred": "已移送"}

var inColourNames = map[string]string{"blue": "蓝色", "yellow": "黄色", "red": "红色"}

var inFlagKindNames = map[string]string{"payee-relative": "领款人是村干部或其亲属", "payee-deceased": "死亡后仍领取补贴"}

var inSectionNames = []struct{ ID, Name string }{
	{"resume", "履历"}, {"marital", "婚姻状况"}, {"homestead", "宅基地"}, {"businesses", "经商办企业"},
	{"ceremonies", "婚丧喜庆"}, {"handovers", "离任交接"}, {"petitions", "信访"}, {"dispositions", "第一种形态处置"},
	{"sanctions", "党纪政务处分"}, {"penalties", "行政处罚"}, {"crimes", "违法犯罪"},
}

// Who may use which part (the inspection service's rules; the service
// decides, these only choose links and forms).

// inspReader reads tours, findings, orders, interviews and integrity files.
func inspReader(r identity.Role) bool {
	return r == identity.RoleTownDiscipline || r == identity.RoleDistrictDiscipline
}

// inspWriter keeps integrity files (the town's office only).
func (c *consoleReq) inspWriter() bool {
	return c.p.Role == identity.RoleTownDiscipline && c.p.Town == c.town.Name
}

// inspRunner plans tours, records visits and findings, reviews
// rectifications, issues orders and reviews their answers, records
// interviews: the town's office, and the district's discipline staff in
// the town they chose (the service checks that they cover it).
func (c *consoleReq) inspRunner() bool {
	return c.inspWriter() || c.p.Role == identity.RoleDistrictDiscipline
}

// overviewReader reads the district overview and the tours' coverage.
func overviewReader(r identity.Role) bool {
	return r.IsDistrictRole() || r == identity.RoleTownDiscipline
}

// InspWriter and InspReader are for templates.
func (c *consoleReq) InspWriter() bool { return c.inspWriter() }
func (c *consoleReq) InspRunner() bool { return c.inspRunner() }
func (c *consoleReq) InspReader() bool { return inspReader(c.p.Role) }

// inspTabs are the section links of the discipline pages for this role.
type inspTab struct {
	Href, Name string
	Current    bool
}

func (c *consoleReq) inspTabs(current string) []inspTab {
	var tabs []inspTab
	add := func(href, name string) {
		tabs = append(tabs, inspTab{href, name, href == current})
	}
	if inspReader(c.p.Role) {
		add("/console/inspection", "巡察")
		add("/console/inspection/orders", "督查令和约谈")
	}
	if overviewReader(c.p.Role) {
		add("/console/inspection/grades", "村级评级")
	}
	if inspReader(c.p.Role) {
		// The notices' sign-off and reply (console_notices.go).
		add("/console/notices", "通知书")
		add("/console/inspection/integrity", "廉情档案")
		add("/console/inspection/crosschecks", "交叉比对")
	}
	if overviewReader(c.p.Role) {
		add("/console/inspection/overview", "全区概况")
	}
	return tabs
}

// inspPage renders a discipline page with its section links.
func (c *consoleReq) inspPage(status int, tmpl, title, current, flash string, data any) {
	c.page(status, tmpl, title, "inspection", flash, inspData{Tabs: c.inspTabs(current), D: data})
}

type inspData struct {
	Tabs []inspTab
	D    any
}

// inspFail shows a service's refusal (a revoked session signs in again).
func (c *consoleReq) inspFail(err error, notFound string) {
	var e *apiError
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		c.failAPI(err)
		return
	}
	status, msg := explain(err)
	if status == http.StatusNotFound && notFound != "" {
		msg = notFound
	}
	if status == http.StatusForbidden {
		msg = "这部分由镇（街道）纪委和区纪委查看，您的角色不能查看。"
	}
	c.fail(status, msg)
}

// needRole answers a page saying who uses it when the role is not one of
// them (the service would refuse anyway; this says it in the console's
// words before any call).
func (c *consoleReq) needRole(ok bool, who string) bool {
	if !ok {
		c.fail(http.StatusForbidden, "此页面供"+who+"使用。")
	}
	return ok
}

func (c *consoleReq) put(ctx context.Context, service, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.svc(service).do(ctx, http.MethodPut, path, "application/json", bytes.NewReader(b), out)
}

func today() string { return consoleNow().In(tz.Shanghai).Format(time.DateOnly) }

// inspectionPage (巡察): the town's tours with their coverage; town
// discipline plans a new one here.
func (g *Gateway) inspectionPage(c *consoleReq) {
	if c.p.Role == identity.RoleSupervisionChair {
		http.Redirect(c.w, c.r, "/console/supervision", http.StatusSeeOther)
		return
	}
	if c.p.Role == identity.RoleDistrictAdmin {
		http.Redirect(c.w, c.r, "/console/inspection/overview", http.StatusSeeOther)
		return
	}
	if !c.needRole(inspReader(c.p.Role), "镇（街道）纪委、区纪委") {
		return
	}
	g.renderInspection(c, http.StatusOK, "", tourForm{Period: itoa(consoleNow().In(tz.Shanghai).Year())})
}

type tourForm struct {
	Name, Period, Team string
	Villages           []string
}

func (f tourForm) Has(v string) bool { return slices.Contains(f.Villages, v) }

func (g *Gateway) renderInspection(c *consoleReq, status int, errMsg string, form tourForm) {
	ctx := c.r.Context()
	var tours struct {
		Items []inTour `json:"items"`
	}
	var cov inCoverage
	var vs []wfVillage
	var errTours, errCov error
	year := itoa(consoleNow().In(tz.Shanghai).Year())
	parallel(
		func() { errTours = c.svc(ServiceInspection).get(ctx, "/v1/tours", &tours) },
		func() { errCov = c.svc(ServiceInspection).get(ctx, "/v1/tours/coverage?year="+year, &cov) },
		func() { vs = c.villages(ctx) },
	)
	if errTours != nil {
		c.inspFail(errTours, "")
		return
	}
	names := villageNames(vs)
	d := struct {
		Tours     []inTour
		Coverage  *inCoverage
		Uncovered []string
		Year      string
		Villages  []wfVillage
		Error     string
		Form      tourForm
		Today     string
	}{Tours: tours.Items, Year: year, Villages: vs, Error: errMsg, Form: form}
	if errCov == nil {
		d.Coverage = &cov
		for _, v := range cov.Uncovered {
			d.Uncovered = append(d.Uncovered, label(names, v))
		}
	}
	sort.SliceStable(d.Tours, func(i, j int) bool { return d.Tours[i].CreatedAt.After(d.Tours[j].CreatedAt) })
	flash := map[string]string{"tour": "巡察已安排"}[c.r.URL.Query().Get("ok")]
	c.inspPage(status, "console_inspection", "巡察", "/console/inspection", flash, d)
}

// planTour (town discipline) plans a tour: name, period, team (one member
// a line: name and role), villages.
func (g *Gateway) planTour(c *consoleReq) {
	if !c.form() {
		return
	}
	pf := c.r.PostForm
	f := tourForm{Name: strings.TrimSpace(pf.Get("name")), Period: strings.TrimSpace(pf.Get("period")),
		Team: strings.TrimSpace(pf.Get("team")), Villages: pf["village"]}
	type member struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	team := []member{}
	for _, line := range strings.Split(f.Team, "\n") {
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		m := member{Name: fs[0], Role: "组员"}
		if len(fs) > 1 {
			m.Role = strings.Join(fs[1:], " ")
		}
		team = append(team, m)
	}
	req := map[string]any{"name": f.Name, "period": f.Period, "team": team, "villages": append([]string{}, f.Villages...)}
	var t inTour
	if err := c.svc(ServiceInspection).postJSON(c.r.Context(), "/v1/tours", req, &t); err != nil {
		status, msg := explainInspection(err)
		if status == http.StatusUnauthorized {
			c.failAPI(err)
			return
		}
		g.renderInspection(c, status, msg, f)
		return
	}
	http.Redirect(c.w, c.r, "/console/inspection/tours/"+t.ID+"?ok=tour", http.StatusSeeOther)
}

// explainInspection is explain with the inspection service's validation
// fields in Chinese.
func explainInspection(err error) (int, string) {
	var e *apiError
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		return e.Status, ""
	}
	status, msg := explain(err)
	if errors.As(err, &e) && (e.Status == http.StatusUnprocessableEntity || e.Status == http.StatusBadRequest) {
		var hints []string
		for _, f := range []struct{ field, name string }{
			{"name", "名称"}, {"period", "期间（如 2026 或 2026Q2）"}, {"team", "巡察组成员"}, {"villages", "巡察的村"},
			{"village", "村"}, {"date", "日期"}, {"category", "问题类别"}, {"description", "问题描述"}, {"severity", "严重程度"},
			{"owner", "整改责任人"}, {"action", "整改措施"}, {"deadline", "期限"}, {"situation", "负面情形"}, {"colour", "颜色"},
			{"cadreName", "被约谈人"}, {"heldAt", "约谈时间"}, {"interviewers", "约谈人"}, {"reason", "约谈事由"},
			{"outcome", "约谈结果"}, {"orderNumber", "督查令编号"}, {"cadrePost", "职务"}, {"summary", "内容摘要"},
		} {
			if strings.Contains(e.Detail, f.field+":") || strings.Contains(e.Detail, "."+f.field+":") ||
				strings.Contains(e.Detail, f.field+"[") || strings.Contains(e.Detail, "\""+f.field+"\"") {
				hints = append(hints, f.name)
			}
		}
		if len(hints) > 0 {
			msg = "请检查：" + strings.Join(hints, "、") + "。" + msg
		}
	}
	return status, msg
}

// tourView is a tour's page.
type tourView struct {
	T        inTour
	Villages []struct {
		inTourVillage
		Label string
	}
	Findings []findingView
	Error    string
	Visit    struct{ Village, Date string }
	Finding  findingForm
	Today    string
	Sev      []struct{ ID, Name string }
}

type findingView struct {
	inFinding
	VillageName, SeverityName string
	Tasks                     []taskView
}

type taskView struct {
	inTask
	StatusName string
	Deadline   deadline
}

type findingForm struct {
	Village, Category, Description, Severity, Owner, Action, Deadline string
}

func (g *Gateway) loadTour(c *consoleReq, errMsg string) (*tourView, bool) {
	ctx := c.r.Context()
	id := c.r.PathValue("id")
	if !validID(id) {
		c.fail(http.StatusNotFound, "没有找到这轮巡察。")
		return nil, false
	}
	v := &tourView{Error: errMsg, Today: today(), Sev: inSeverities}
	var fs items[inFinding]
	var vs []wfVillage
	var err, errF error
	parallel(
		func() { err = c.svc(ServiceInspection).get(ctx, "/v1/tours/"+id, &v.T) },
		func() { errF = c.svc(ServiceInspection).get(ctx, "/v1/findings?tour="+id, &fs) },
		func() { vs = c.villages(ctx) },
	)
	if err == nil {
		err = errF
	}
	if err != nil {
		c.inspFail(err, "没有找到这轮巡察，或您无权查看。")
		return nil, false
	}
	names := villageNames(vs)
	for _, tv := range v.T.Villages {
		n := tv.Name
		if n == "" {
			n = label(names, tv.Village)
		}
		v.Villages = append(v.Villages, struct {
			inTourVillage
			Label string
		}{tv, n})
	}
	now := consoleNow()
	for _, f := range fs.Items {
		fv := findingView{inFinding: f, VillageName: label(names, f.Village), SeverityName: label(inSeverityNames, f.Severity)}
		for _, t := range f.Tasks {
			tv := taskView{inTask: t, StatusName: label(inTaskStatusNames, t.Status)}
			if t.Status != "accepted" {
				due := t.Deadline
				tv.Deadline = deadlineOf(&due, now)
			}
			if t.OverdueAt != nil && t.Status != "accepted" {
				tv.StatusName += "（已超期）"
			}
			fv.Tasks = append(fv.Tasks, tv)
		}
		v.Findings = append(v.Findings, fv)
	}
	sort.SliceStable(v.Findings, func(i, j int) bool { return v.Findings[i].RaisedAt.After(v.Findings[j].RaisedAt) })
	v.Visit.Date = v.Today
	return v, true
}

func (g *Gateway) tourPage(c *consoleReq) {
	if !c.needRole(inspReader(c.p.Role), "镇（街道）纪委、区纪委") {
		return
	}
	v, ok := g.loadTour(c, "")
	if !ok {
		return
	}
	flash := map[string]string{"tour": "巡察已安排，可在下方记录走访和发现的问题", "visit": "走访已记录",
		"finding": "问题已记录，整改任务已交村里办理，问题计入该村评级", "task-accept": "整改已验收", "task-return": "整改已退回，村里需重新提交"}[c.r.URL.Query().Get("ok")]
	c.inspPage(http.StatusOK, "console_inspection_tour", "巡察 · "+v.T.Name, "/console/inspection", flash, v)
}

func (g *Gateway) tourError(c *consoleReq, err error, form func(v *tourView)) {
	status, msg := explainInspection(err)
	if status == http.StatusUnauthorized {
		c.failAPI(err)
		return
	}
	v, ok := g.loadTour(c, msg)
	if !ok {
		return
	}
	form(v)
	c.inspPage(status, "console_inspection_tour", "巡察 · "+v.T.Name, "/console/inspection", "", v)
}

// recordVisit (town discipline) records a village's visit on its day.
func (g *Gateway) recordVisit(c *consoleReq) {
	if !c.form() {
		return
	}
	id := c.r.PathValue("id")
	if !validID(id) {
		c.fail(http.StatusNotFound, "没有找到这轮巡察。")
		return
	}
	village, date := c.r.PostForm.Get("village"), strings.TrimSpace(c.r.PostForm.Get("date"))
	if err := c.svc(ServiceInspection).postJSON(c.r.Context(), "/v1/tours/"+id+"/visits",
		map[string]string{"village": village, "date": date}, nil); err != nil {
		g.tourError(c, err, func(v *tourView) { v.Visit.Village, v.Visit.Date = village, date })
		return
	}
	http.Redirect(c.w, c.r, "/console/inspection/tours/"+id+"?ok=visit", http.StatusSeeOther)
}

// raiseFinding (town discipline) records a finding with one
// rectification task (more tasks: the API takes a list; the form keeps to
// the common case of one).
func (g *Gateway) raiseFinding(c *consoleReq) {
	if !c.form() {
		return
	}
	id := c.r.PathValue("id")
	if !validID(id) {
		c.fail(http.StatusNotFound, "没有找到这轮巡察。")
		return
	}
	pf := c.r.PostForm
	f := findingForm{Village: pf.Get("village"), Category: strings.TrimSpace(pf.Get("category")),
		Description: strings.TrimSpace(pf.Get("description")), Severity: pf.Get("severity"),
		Owner: strings.TrimSpace(pf.Get("owner")), Action: strings.TrimSpace(pf.Get("action")), Deadline: strings.TrimSpace(pf.Get("deadline"))}
	req := map[string]any{"village": f.Village, "category": f.Category, "description": f.Description, "severity": f.Severity,
		"tasks": []map[string]string{{"owner": f.Owner, "action": f.Action, "deadline": f.Deadline}}}
	if err := c.svc(ServiceInspection).postJSON(c.r.Context(), "/v1/tours/"+id+"/findings", req, nil); err != nil {
		g.tourError(c, err, func(v *tourView) { v.Finding = f })
		return
	}
	http.Redirect(c.w, c.r, "/console/inspection/tours/"+id+"?ok=finding", http.StatusSeeOther)
}

// Orders and interviews.

// Due is when the awaited answer is due: a returned answer's new
// deadline, else the order's.
func (o inOrder) Due() time.Time {
	if o.AnswerDue != nil {
		return *o.AnswerDue
	}
	return o.Deadline
}

type orderView struct {
	inOrder
	VillageName, ColourName, StatusName string
	Left                                deadline // time left to answer
}

type orderForm struct {
	Village, Situation, Colour, Deadline, Detail string
}

type interviewForm struct {
	Village, CadreName, CadrePost, HeldAt, Interviewers, Reason, Outcome, OrderNumber string
}

type ordersData struct {
	Orders     []orderView
	Interviews []struct {
		inInterview
		VillageName string
	}
	Classes []struct {
		Name       string
		Situations []struct{ ID, Name, Colour string }
	}
	Villages   []wfVillage
	Status     string
	Filters    []inspTab
	Error      string
	OrderForm  orderForm
	IntForm    interviewForm
	Colours    []struct{ ID, Name string }
	Now        string
	ErrorOrder bool // the error belongs to the order form (else the interview form)
}

func (g *Gateway) ordersPage(c *consoleReq) {
	if !c.needRole(inspReader(c.p.Role), "镇（街道）纪委、区纪委") {
		return
	}
	g.renderOrders(c, http.StatusOK, "", func(*ordersData) {})
}

func (g *Gateway) renderOrders(c *consoleReq, status int, errMsg string, form func(*ordersData)) {
	ctx := c.r.Context()
	filter := c.r.URL.Query().Get("status")
	if _, ok := inOrderStatusNames[filter]; !ok {
		filter = ""
	}
	q := ""
	if filter != "" {
		q = "?status=" + filter
	}
	var orders items[inOrder]
	var ivs items[inInterview]
	var sits inSituations
	var vs []wfVillage
	var errO, errI, errS error
	parallel(
		func() { errO = c.svc(ServiceInspection).get(ctx, "/v1/orders"+q, &orders) },
		func() { errI = c.svc(ServiceInspection).get(ctx, "/v1/interviews", &ivs) },
		func() { errS = c.svc(ServiceInspection).get(ctx, "/v1/order-situations", &sits) },
		func() { vs = c.villages(ctx) },
	)
	if err := errors.Join(errO, errI, errS); err != nil {
		for _, one := range []error{errO, errI, errS} {
			if one != nil {
				c.inspFail(one, "")
				return
			}
		}
	}
	names := villageNames(vs)
	now := consoleNow()
	d := &ordersData{Villages: vs, Status: filter, Error: errMsg, Now: now.In(tz.Shanghai).Format("2006-01-02T15:04"),
		Colours: []struct{ ID, Name string }{{"blue", "蓝色"}, {"yellow", "黄色"}, {"red", "红色"}}}
	for _, o := range orders.Items {
		ov := orderView{inOrder: o, VillageName: label(names, o.Village), ColourName: label(inColourNames, o.Colour),
			StatusName: label(inOrderStatusNames, o.Status)}
		if o.Status == "issued" {
			due := o.Due()
			ov.Left = deadlineOf(&due, now)
		}
		d.Orders = append(d.Orders, ov)
	}
	for _, iv := range ivs.Items {
		d.Interviews = append(d.Interviews, struct {
			inInterview
			VillageName string
		}{iv, label(names, iv.Village)})
	}
	for _, cl := range sits.Situations.Classes {
		group := struct {
			Name       string
			Situations []struct{ ID, Name, Colour string }
		}{Name: cl.Name}
		for _, s := range sits.Situations.Situations {
			if s.Class == cl.ID {
				group.Situations = append(group.Situations, struct{ ID, Name, Colour string }{s.ID, s.Name, label(inColourNames, s.Colour)})
			}
		}
		d.Classes = append(d.Classes, group)
	}
	all := []struct{ id, name string }{{"", "全部"}, {"issued", "待答复"}, {"responded", "已答复"}, {"closed", "已办结"}, {"overdue", "已超期"}}
	for _, f := range all {
		href := "/console/inspection/orders"
		if f.id != "" {
			href += "?status=" + f.id
		}
		d.Filters = append(d.Filters, inspTab{Href: href, Name: f.name, Current: f.id == filter})
	}
	form(d)
	flash := map[string]string{"order": "督查令已签发，计入该村评级", "interview": "约谈已记录"}[c.r.URL.Query().Get("ok")]
	if n := c.r.URL.Query().Get("number"); flash != "" && n != "" {
		flash += "：" + n
	}
	c.inspPage(status, "console_inspection_orders", "督查令和约谈", "/console/inspection/orders", flash, d)
}

// issueOrder (town discipline) issues a three-colour order to a village.
func (g *Gateway) issueOrder(c *consoleReq) {
	if !c.form() {
		return
	}
	pf := c.r.PostForm
	f := orderForm{Village: pf.Get("village"), Situation: pf.Get("situation"), Colour: pf.Get("colour"),
		Deadline: strings.TrimSpace(pf.Get("deadline")), Detail: strings.TrimSpace(pf.Get("detail"))}
	req := map[string]string{"village": f.Village, "situation": f.Situation}
	if f.Colour != "" {
		req["colour"] = f.Colour
	}
	if f.Deadline != "" {
		req["deadline"] = f.Deadline
	}
	if f.Detail != "" {
		req["detail"] = f.Detail
	}
	var o inOrder
	if err := c.svc(ServiceInspection).postJSON(c.r.Context(), "/v1/orders", req, &o); err != nil {
		status, msg := explainInspection(err)
		if status == http.StatusUnauthorized {
			c.failAPI(err)
			return
		}
		g.renderOrders(c, status, msg, func(d *ordersData) { d.OrderForm, d.ErrorOrder = f, true })
		return
	}
	http.Redirect(c.w, c.r, "/console/inspection/orders?ok=order&number="+url.QueryEscape(o.Number), http.StatusSeeOther)
}

// recordInterview (town discipline) records an interview held.
func (g *Gateway) recordInterview(c *consoleReq) {
	if !c.form() {
		return
	}
	pf := c.r.PostForm
	f := interviewForm{Village: pf.Get("village"), CadreName: strings.TrimSpace(pf.Get("cadreName")),
		CadrePost: strings.TrimSpace(pf.Get("cadrePost")), HeldAt: strings.TrimSpace(pf.Get("heldAt")),
		Interviewers: strings.TrimSpace(pf.Get("interviewers")), Reason: strings.TrimSpace(pf.Get("reason")),
		Outcome: strings.TrimSpace(pf.Get("outcome")), OrderNumber: strings.TrimSpace(pf.Get("orderNumber"))}
	fail := func(status int, msg string) {
		g.renderOrders(c, status, msg, func(d *ordersData) { d.IntForm = f })
	}
	held, err := time.ParseInLocation("2006-01-02T15:04", f.HeldAt, tz.Shanghai)
	if err != nil {
		fail(http.StatusUnprocessableEntity, "请填写约谈时间。")
		return
	}
	var interviewers []string
	for _, s := range strings.FieldsFunc(f.Interviewers, func(r rune) bool { return r == '、' || r == ',' || r == '，' || r == '\n' }) {
		if s = strings.TrimSpace(s); s != "" {
			interviewers = append(interviewers, s)
		}
	}
	req := map[string]any{"village": f.Village, "cadreName": f.CadreName, "cadrePost": f.CadrePost, "heldAt": held,
		"interviewers": interviewers, "reason": f.Reason, "outcome": f.Outcome}
	if f.OrderNumber != "" {
		req["orderNumber"] = f.OrderNumber
	}
	if err := c.svc(ServiceInspection).postJSON(c.r.Context(), "/v1/interviews", req, nil); err != nil {
		status, msg := explainInspection(err)
		if status == http.StatusUnauthorized {
			c.failAPI(err)
			return
		}
		fail(status, msg)
		return
	}
	http.Redirect(c.w, c.r, "/console/inspection/orders?ok=interview", http.StatusSeeOther)
}

// Integrity files.

type fileForm struct{ Village, CadreName, CadrePost string }

func (g *Gateway) integrityPage(c *consoleReq) {
	if !c.needRole(inspReader(c.p.Role), "镇（街道）纪委、区纪委") {
		return
	}
	g.renderIntegrity(c, http.StatusOK, "", fileForm{})
}

func (g *Gateway) renderIntegrity(c *consoleReq, status int, errMsg string, form fileForm) {
	ctx := c.r.Context()
	village := c.r.URL.Query().Get("village")
	if !divcode.Valid(village) {
		village = ""
	}
	q := "?limit=200"
	if village != "" {
		q += "&village=" + village
	}
	var files items[inFile]
	var vs []wfVillage
	var err error
	parallel(
		func() { err = c.svc(ServiceInspection).get(ctx, "/v1/integrity-files"+q, &files) },
		func() { vs = c.villages(ctx) },
	)
	if err != nil {
		c.inspFail(err, "")
		return
	}
	names := villageNames(vs)
	type row struct {
		F           inFile
		VillageName string
	}
	var rows []row
	for _, f := range files.Items {
		rows = append(rows, row{f, label(names, f.Village)})
	}
	flash := map[string]string{"file": "档案已建立"}[c.r.URL.Query().Get("ok")]
	c.inspPage(status, "console_inspection_integrity", "廉情档案", "/console/inspection/integrity", flash, struct {
		Files    []row
		Village  string
		Villages []wfVillage
		Error    string
		Form     fileForm
	}{rows, village, vs, errMsg, form})
}

// createFile (town discipline) opens a cadre's file. The console does not
// take the cadre's ID number: it would pass through the gateway's forms;
// the API's own clients may record it.
func (g *Gateway) createFile(c *consoleReq) {
	if !c.form() {
		return
	}
	pf := c.r.PostForm
	f := fileForm{Village: pf.Get("village"), CadreName: strings.TrimSpace(pf.Get("cadreName")), CadrePost: strings.TrimSpace(pf.Get("cadrePost"))}
	var out inFile
	if err := c.svc(ServiceInspection).postJSON(c.r.Context(), "/v1/integrity-files",
		map[string]string{"village": f.Village, "cadreName": f.CadreName, "cadrePost": f.CadrePost}, &out); err != nil {
		status, msg := explainInspection(err)
		if status == http.StatusUnauthorized {
			c.failAPI(err)
			return
		}
		g.renderIntegrity(c, status, msg, f)
		return
	}
	http.Redirect(c.w, c.r, "/console/inspection/integrity/"+out.ID+"?ok=file", http.StatusSeeOther)
}

type sectionView struct {
	ID, Name string
	Version  int
	Content  inSectionContent
	At       time.Time
}

type recordForm struct{ Section, Date, Until, Kind, Summary, Ref string }

func (g *Gateway) filePage(c *consoleReq) {
	if !c.needRole(inspReader(c.p.Role), "镇（街道）纪委、区纪委") {
		return
	}
	g.renderFile(c, http.StatusOK, "", recordForm{})
}

func (g *Gateway) loadFile(c *consoleReq) (*inFile, []wfVillage, bool) {
	ctx := c.r.Context()
	id := c.r.PathValue("id")
	if !validID(id) {
		c.fail(http.StatusNotFound, "没有找到这份档案。")
		return nil, nil, false
	}
	var f inFile
	var vs []wfVillage
	var err error
	parallel(
		func() { err = c.svc(ServiceInspection).get(ctx, "/v1/integrity-files/"+id, &f) },
		func() { vs = c.villages(ctx) },
	)
	if err != nil {
		c.inspFail(err, "没有找到这份档案，或您无权查看。")
		return nil, nil, false
	}
	return &f, vs, true
}

func (g *Gateway) renderFile(c *consoleReq, status int, errMsg string, form recordForm) {
	f, vs, ok := g.loadFile(c)
	if !ok {
		return
	}
	var secs []sectionView
	for _, s := range inSectionNames {
		sv := sectionView{ID: s.ID, Name: s.Name}
		if v, ok := f.Sections[s.ID]; ok {
			sv.Version, sv.Content, sv.At = v.Version, v.Content, v.RecordedAt
		}
		secs = append(secs, sv)
	}
	flash := map[string]string{"file": "档案已建立", "record": "记录已加入档案（新的版本，旧版本保留）"}[c.r.URL.Query().Get("ok")]
	c.inspPage(status, "console_inspection_file", "廉情档案 · "+f.CadreName, "/console/inspection/integrity", flash, struct {
		F           *inFile
		VillageName string
		Sections    []sectionView
		SectionList []struct{ ID, Name string }
		Error       string
		Form        recordForm
	}{f, label(villageNames(vs), f.Village), secs, inSectionNames, errMsg, form})
}

// addRecord (town discipline) appends a record to a section: the section's
// next version is the current one plus the record, written with the
// current version so that a concurrent change is refused (409), not lost.
func (g *Gateway) addRecord(c *consoleReq) {
	if !c.form() {
		return
	}
	pf := c.r.PostForm
	f := recordForm{Section: pf.Get("section"), Date: strings.TrimSpace(pf.Get("date")), Until: strings.TrimSpace(pf.Get("until")),
		Kind: strings.TrimSpace(pf.Get("kind")), Summary: strings.TrimSpace(pf.Get("summary")), Ref: strings.TrimSpace(pf.Get("ref"))}
	if !slices.ContainsFunc(inSectionNames, func(s struct{ ID, Name string }) bool { return s.ID == f.Section }) {
		g.renderFile(c, http.StatusUnprocessableEntity, "请选择档案的栏目。", f)
		return
	}
	file, _, ok := g.loadFile(c)
	if !ok {
		return
	}
	cur := file.Sections[f.Section]
	content := cur.Content
	content.Items = append(slices.Clone(content.Items), inRecord{Date: f.Date, Until: f.Until, Kind: f.Kind, Summary: f.Summary, Ref: f.Ref})
	if f.Section == "marital" && content.Status == "" {
		content.Status = "married"
	}
	req := map[string]any{"content": content, "version": cur.Version}
	if err := c.put(c.r.Context(), ServiceInspection, "/v1/integrity-files/"+file.ID+"/sections/"+f.Section, req, nil); err != nil {
		status, msg := explainInspection(err)
		if status == http.StatusUnauthorized {
			c.failAPI(err)
			return
		}
		if status == http.StatusConflict {
			msg = "该栏目刚被他人修改，请查看最新内容后重新填写。"
		}
		g.renderFile(c, status, msg, f)
		return
	}
	http.Redirect(c.w, c.r, "/console/inspection/integrity/"+file.ID+"?ok=record#"+f.Section, http.StatusSeeOther)
}

// crosschecksPage (交叉比对): payments flagged against the files' relatives
// and the deceased register (reads audited by the service).
func (g *Gateway) crosschecksPage(c *consoleReq) {
	if !c.needRole(inspReader(c.p.Role), "镇（街道）纪委、区纪委") {
		return
	}
	ctx := c.r.Context()
	var flags items[inFlag]
	var vs []wfVillage
	var err error
	parallel(
		func() { err = c.svc(ServiceInspection).get(ctx, "/v1/crosscheck-flags?limit=200", &flags) },
		func() { vs = c.villages(ctx) },
	)
	if err != nil {
		c.inspFail(err, "")
		return
	}
	names := villageNames(vs)
	type row struct {
		F                 inFlag
		VillageName, Kind string
	}
	var rows []row
	for _, f := range flags.Items {
		rows = append(rows, row{f, label(names, f.Village), label(inFlagKindNames, f.Kind)})
	}
	c.inspPage(http.StatusOK, "console_inspection_crosschecks", "交叉比对", "/console/inspection/crosschecks", "", rows)
}

// gradesPage (村级评级): every village's grade and points this period with
// the reasons (one rating call per village, a few at once).
func (g *Gateway) gradesPage(c *consoleReq) {
	if !c.needRole(overviewReader(c.p.Role), "镇（街道）纪委、区纪委和区级管理人员") {
		return
	}
	ctx := c.r.Context()
	vs := c.villages(ctx)
	ratings := make([]inspRating, len(vs))
	errs := make([]error, len(vs))
	calls := make([]func(), 0, len(vs))
	sem := make(chan struct{}, complaintFanOut)
	for i, v := range vs {
		calls = append(calls, func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = c.svc(ServiceInspection).get(ctx, "/v1/villages/"+v.Code+"/rating", &ratings[i])
		})
	}
	parallel(calls...)
	type row struct {
		Code, Name string
		R          *inspRating
	}
	var rows []row
	var failed []string
	var firstErr error
	for i, v := range vs {
		if errs[i] != nil {
			if firstErr == nil {
				firstErr = errs[i]
			}
			failed = append(failed, v.Name)
			continue
		}
		rows = append(rows, row{v.Code, v.Name, &ratings[i]})
	}
	// Nothing could be read: say why (a refusal, the service down).
	if len(rows) == 0 && firstErr != nil {
		c.inspFail(firstErr, "")
		return
	}
	// Worst first: those are the villages to look at.
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].R.Grade != rows[j].R.Grade {
			return rows[i].R.Grade > rows[j].R.Grade
		}
		return rows[i].R.Points < rows[j].R.Points
	})
	counts := map[string]int{}
	for _, r := range rows {
		counts[r.R.Grade]++
	}
	c.inspPage(http.StatusOK, "console_inspection_grades", "村级评级", "/console/inspection/grades", "", struct {
		Rows   []row
		Failed []string
		Counts map[string]int
	}{rows, failed, counts})
}

// overviewPage (全区概况): the district overview. District staff are
// answered by the town whose inspection service builds it; another town's
// instance answers 409 naming that town, which the console then asks.
func (g *Gateway) overviewPage(c *consoleReq) {
	if !c.needRole(overviewReader(c.p.Role), "镇（街道）纪委、区纪委和区级管理人员") {
		return
	}
	ctx := c.r.Context()
	var d inDistrict
	err := c.svc(ServiceInspection).get(ctx, "/v1/district/overview", &d)
	var e *apiError
	if errors.As(err, &e) && e.Status == http.StatusConflict && c.p.Role.IsDistrictRole() {
		// The seat is named in the problem's districtViewTown member; the
		// console's problem reader keeps only the common members, so ask
		// the towns this user may switch to, each once, until one answers.
		for _, t := range c.towns {
			if t.Name == c.town.Name {
				continue
			}
			call := townCall{g: c.g, town: t.Name, cookie: c.cookie, service: ServiceInspection}
			if err = call.get(ctx, "/v1/district/overview", &d); err == nil || !errors.As(err, &e) || e.Status != http.StatusConflict {
				break
			}
		}
	}
	if err != nil {
		if errors.As(err, &e) && e.Status == http.StatusConflict {
			c.fail(http.StatusConflict, "目前没有镇（街道）的系统汇总全区概况，请联系平台管理员在区的配置中指定一个镇（街道）。")
			return
		}
		c.inspFail(err, "")
		return
	}
	type town struct {
		Name      string
		Grades    map[string]int
		Coverage  inCoverage
		Villages  any
		Orders    []inYearCount
		Interview []inYearCount
	}
	var towns []town
	for _, t := range d.Towns {
		n := t.TownName
		if n == "" {
			n = t.Town
			for _, k := range c.towns {
				if k.Name == t.Town {
					n = k.DisplayName
				}
			}
			if t.Town == c.town.Name {
				n = c.town.DisplayName
			}
		}
		towns = append(towns, town{n, t.Grades, t.Coverage, t.Villages, t.Orders, t.Interviews})
	}
	c.inspPage(http.StatusOK, "console_inspection_overview", "全区概况", "/console/inspection/overview", "", struct {
		D     inDistrict
		Towns []town
	}{d, towns})
}

// chooseInspectionTown (district roles) switches the town looked at and
// comes back to the discipline pages (the console's own switch goes to
// the task list).
func (g *Gateway) chooseInspectionTown(c *consoleReq) {
	name := c.r.URL.Query().Get("town")
	if !c.p.Role.IsDistrictRole() || !slices.ContainsFunc(c.towns, func(t Town) bool { return t.Name == name }) {
		http.Redirect(c.w, c.r, "/console/inspection", http.StatusSeeOther)
		return
	}
	http.SetCookie(c.w, &http.Cookie{Name: consoleTownCookie, Value: name, Path: "/console", HttpOnly: true, //nolint:gosec // as chooseTown: Secure over TLS, the cookie names a town the user may see anyway
		SameSite: http.SameSiteLaxMode, Secure: c.r.TLS != nil})
	http.Redirect(c.w, c.r, "/console/inspection", http.StatusSeeOther)
}

// consoleInspectionRoutes registers the discipline pages (called from
// consoleRoutes).
func (g *Gateway) consoleInspectionRoutes(srv *httpapi.Server) {
	h := func(pattern string, f consoleHandler) {
		srv.Handle(pattern, httpapi.Public(g.console(f)))
	}
	h("GET /console/inspection", g.inspectionPage)
	h("GET /console/inspection/town", g.chooseInspectionTown)
	h("POST /console/inspection/tours", g.planTour)
	h("GET /console/inspection/tours/{id}", g.tourPage)
	h("POST /console/inspection/tours/{id}/visits", g.recordVisit)
	h("POST /console/inspection/tours/{id}/findings", g.raiseFinding)
	h("GET /console/inspection/orders", g.ordersPage)
	h("POST /console/inspection/orders", g.issueOrder)
	h("POST /console/inspection/interviews", g.recordInterview)
	h("GET /console/inspection/integrity", g.integrityPage)
	h("POST /console/inspection/integrity", g.createFile)
	h("GET /console/inspection/integrity/{id}", g.filePage)
	h("POST /console/inspection/integrity/{id}/records", g.addRecord)
	h("GET /console/inspection/crosschecks", g.crosschecksPage)
	h("GET /console/inspection/grades", g.gradesPage)
	h("GET /console/inspection/overview", g.overviewPage)
	h("GET /console/supervision", g.supervisionPage)
	h("POST /console/inspection/tasks/{id}/{action}", g.actOnTask)
	// Orders' and notices' answers with their files
	// (console_inspection_answers.go): the answer forms are uploads,
	// streamed through under their own body limit.
	h("GET /console/inspection/orders/{number}", g.orderPage)
	h("GET /console/inspection/orders/{number}/files/{file}", g.orderFile)
	h("POST /console/inspection/orders/{number}/{action}", g.reviewOrder)
	h("GET /console/notices/{id}/files/{file}", g.noticeFile)
	upload := func(pattern string, f consoleHandler) {
		srv.Handle(pattern, httpapi.WithBodyLimit(answerUploadLimit, httpapi.Public(g.console(f))))
	}
	upload("POST /console/inspection/orders/{number}/answer", g.answerOrder)
	upload("POST /console/notices/{id}/answer", g.answerNotice)
}

// actOnTask moves a rectification task: the village's officials submit it
// with evidence (a text, an optional link), the town's discipline office
// accepts it or returns it with the reason. The service checks who and
// when; the console goes back to the page the form was on.
func (g *Gateway) actOnTask(c *consoleReq) {
	if !c.form() {
		return
	}
	id, action := c.r.PathValue("id"), c.r.PathValue("action")
	if !validID(id) {
		c.fail(http.StatusNotFound, "没有找到这项整改任务。")
		return
	}
	pf := c.r.PostForm
	note := strings.TrimSpace(pf.Get("note"))
	req := map[string]any{}
	switch action {
	case "submit":
		ev := []map[string]string{}
		if text := strings.TrimSpace(pf.Get("text")); text != "" {
			ev = append(ev, map[string]string{"text": text})
		}
		if link := strings.TrimSpace(pf.Get("url")); link != "" {
			ev = append(ev, map[string]string{"url": link})
		}
		req["evidence"] = ev
	case "accept", "return":
		if note != "" {
			req["note"] = note
		}
	default:
		c.fail(http.StatusNotFound, "没有这种办理方式。")
		return
	}
	if err := c.svc(ServiceInspection).postJSON(c.r.Context(), "/v1/rectifications/"+id+"/"+action, req, nil); err != nil {
		status, msg := explainInspection(err)
		if status == http.StatusUnauthorized {
			c.failAPI(err)
			return
		}
		if action == "return" && status == http.StatusUnprocessableEntity {
			msg = "退回须写明理由。"
		}
		if action == "submit" && status == http.StatusUnprocessableEntity {
			msg = "请写明整改情况（可附链接）。"
		}
		c.fail(status, msg)
		return
	}
	back := pf.Get("back")
	if m := strings.TrimPrefix(back, "/console/inspection/tours/"); m == back || !validID(m) {
		back = "/console/supervision"
	}
	http.Redirect(c.w, c.r, back+"?ok=task-"+action, http.StatusSeeOther)
}
