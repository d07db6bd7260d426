package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/complaint"
	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
	"github.com/wuxiao/wuxiao/services/workflow"
)

// The discipline pages' tests run the town's real workflow, inspection and
// complaint services (each on its own PostgreSQL database, behind the test
// Kratos) with the gateway in front, and act through the console's forms
// as signed-in staff.

type inspectionEnv struct {
	URL  string
	WF   *workflow.Service
	Insp *inspection.Service
	CP   *complaint.Service
}

func startInspectionConsole(t testing.TB) *inspectionEnv {
	t.Helper()
	ctx := context.Background()
	kratosURL := testinfra.Require(t, testinfra.EnvKratosPublicURL)
	auth := identity.New(kratosURL, identity.WithErrorWriter(httpapi.WriteStatusProblem))
	env := &inspectionEnv{}

	wfPool := openPool(t, "workflow")
	if err := workflow.Migrate(ctx, wfPool); err != nil {
		t.Fatal(err)
	}
	cal, err := workflow.NewCalendar(workflow.CalendarFile{})
	if err != nil {
		t.Fatal(err)
	}
	env.WF = &workflow.Service{Engine: &workflow.Engine{Catalog: sampleCatalog(t), Calendar: cal}, Pool: wfPool, Town: conTown,
		IDHashKey: []byte("console-test-key-console-test-key"), AuditKey: []byte("console-audit-key-console-audit-"), Log: slog.New(slog.DiscardHandler)}
	for _, v := range []struct{ code, name string }{{conVillage, "岩头村"}, {conVillageB, "畸山村"}} {
		if err := env.WF.SetVillage(ctx, v.code, v.name, workflow.Thresholds{RepresentativesResolutionAboveYuan: 5000, TownApprovalAboveYuan: 8000}); err != nil {
			t.Fatal(err)
		}
	}
	wfURL := serve(t, "workflow", auth.Require, 64<<10, env.WF.Routes)

	inPool := openPool(t, "inspection")
	if err := inspection.Migrate(ctx, inPool); err != nil {
		t.Fatal(err)
	}
	env.Insp = &inspection.Service{Rules: inspection.DefaultRules(), Notices: inspection.DefaultNoticeConfig(), Pool: inPool,
		Town: conTown, TownName: "溪口镇", VillageNames: map[string]string{conVillage: "岩头村", conVillageB: "畸山村"},
		Log: slog.New(slog.DiscardHandler)}
	inURL := serve(t, "inspection", auth.Require, 64<<10, env.Insp.Routes)

	cpPool := openPool(t, "complaint")
	if err := complaint.Migrate(ctx, cpPool); err != nil {
		t.Fatal(err)
	}
	env.CP = &complaint.Service{Pool: cpPool, Town: conTown, Log: slog.New(slog.DiscardHandler)}
	api := complaint.NewAPI(env.CP, []byte("complaint-console-test-challenge-key"))
	api.Limiter = complaint.NewRateLimiter(complaint.RateLimitConfig{ClientBurst: 1000, VillageBurst: 1000, FloodThreshold: 1000})
	api.Optional = auth.Optional
	cpURL := serve(t, "complaint", auth.Require, complaint.IntakeMaxBodyBytes, api.Routes)

	backends := NewStaticBackends()
	if err := backends.AddTown(Town{Name: conTown, Code: conTownCode, DisplayName: "溪口镇"}, map[string]string{
		ServiceWorkflow: wfURL, ServiceInspection: inURL, ServiceComplaint: cpURL}); err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{District: "fenghua", DistrictName: "奉化区", KratosPublicURL: kratosURL}, backends, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	env.URL = serve(t, "gateway", nil, 0, g.Register)
	return env
}

// report files a complaint through the gateway's public report page.
func (e *inspectionEnv) report(t testing.TB, village, category, description string) string {
	t.Helper()
	return (&complaintEnv{URL: e.URL}).report(t, village, category, description, nil)
}

// outOfOrder starts a process as a committee member and has the accountant
// record the reimbursement out of order: the workflow raises an order
// warning in the village.
func (e *inspectionEnv) outOfOrder(t testing.TB) string {
	t.Helper()
	member := signIn(t, e.URL, "committee-member", conTown, conVillage)
	item := member.get("/console/start/funds-non-productive-spending")
	started := member.post("/console/start/funds-non-productive-spending", url.Values{"csrf": {csrfOf(t, item.body)},
		"title": {"村民代表会议误餐费"}, "amount": {"860"}})
	m := processPath.FindStringSubmatch(started.location)
	if m == nil {
		t.Fatalf("start: %d %q %.500s", started.status, started.location, started.body)
	}
	accountant := signIn(t, e.URL, "accountant", conTown, conVillage)
	ap := accountant.get("/console/processes/" + m[1])
	if p := accountant.post("/console/processes/"+m[1]+"/complete", url.Values{"csrf": {csrfOf(t, ap.body)}, "step": {"reimburse"},
		"outOfOrder": {"1"}, "reason": {"纸质报销单已于上周办理"}}); p.status != http.StatusSeeOther {
		t.Fatalf("out of order: %d %.500s", p.status, p.body)
	}
	return m[1]
}

var (
	tourPath  = regexp.MustCompile(`^/console/inspection/tours/([0-9a-f-]{36})\?ok=tour$`)
	filePath  = regexp.MustCompile(`^/console/inspection/integrity/([0-9a-f-]{36})\?ok=file$`)
	orderPath = regexp.MustCompile(`^/console/inspection/orders\?ok=order&number=(.+)$`)
)

// planTourAs plans a tour of both villages through the console's form.
func (e *inspectionEnv) planTourAs(t testing.TB, s *staff) string {
	t.Helper()
	hub := s.get("/console/inspection")
	p := s.post("/console/inspection/tours", url.Values{"csrf": {csrfOf(t, hub.body)}, "name": {"2026年第二轮村级巡察"},
		"period": {"2026"}, "team": {"王明 组长\n李红"}, "village": {conVillage, conVillageB}})
	m := tourPath.FindStringSubmatch(p.location)
	if p.status != http.StatusSeeOther || m == nil {
		t.Fatalf("planning a tour: %d %q %.2000s", p.status, p.location, mainOf(p.body))
	}
	return m[1]
}

func yesterday() string {
	return time.Now().In(tz.Shanghai).AddDate(0, 0, -1).Format(time.DateOnly)
}

func inAMonth() string {
	return time.Now().In(tz.Shanghai).AddDate(0, 1, 0).Format(time.DateOnly)
}

// TestInspectionConsoleTownDiscipline: the town's discipline office plans
// a tour, records a visit and a finding with its rectification task,
// issues an order, records an interview, opens an integrity file and adds
// a record, and reads cross-checks, grades and the overview; the services
// hold what the forms sent, and a bad form comes back with the service's
// refusal and the input kept.
func TestInspectionConsoleTownDiscipline(t *testing.T) {
	env := startInspectionConsole(t)
	ctx := context.Background()
	d := signIn(t, env.URL, "town-discipline", conTown, "")

	if p := d.get("/console"); !strings.Contains(p.body, `href="/console/inspection"`) {
		t.Fatalf("no 巡察监督 tab for town discipline:\n%.2000s", p.body)
	}
	tour := env.planTourAs(t, d)
	tp := d.get("/console/inspection/tours/" + tour + "?ok=tour")
	if tp.status != 200 || !strings.Contains(tp.body, "巡察已安排") || !strings.Contains(tp.body, "王明（组长）、李红（组员）") ||
		!strings.Contains(tp.body, `action="/console/inspection/tours/`+tour+`/visits"`) {
		t.Fatalf("tour page: %d\n%.3000s", tp.status, mainOf(tp.body))
	}
	token := csrfOf(t, tp.body)

	// A visit in the future is the service's refusal, shown with the date kept.
	future := time.Now().In(tz.Shanghai).AddDate(0, 0, 3).Format(time.DateOnly)
	if p := d.post("/console/inspection/tours/"+tour+"/visits", url.Values{"csrf": {token}, "village": {conVillage}, "date": {future}}); p.status != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, `class="error"`) || !strings.Contains(p.body, `value="`+future+`"`) || !strings.Contains(p.body, "日期") {
		t.Fatalf("a visit in the future: %d\n%.3000s", p.status, mainOf(p.body))
	}
	if p := d.post("/console/inspection/tours/"+tour+"/visits", url.Values{"csrf": {token}, "village": {conVillage}, "date": {yesterday()}}); p.status != http.StatusSeeOther {
		t.Fatalf("visit: %d %.2000s", p.status, mainOf(p.body))
	}
	finding := url.Values{"csrf": {token}, "village": {conVillage}, "category": {"财务公开"}, "description": {"2026 年第一季度村务公开栏未公开工程款支出"},
		"severity": {"major"}, "action": {"补充公开并建立公开台账"}, "owner": {"村股份经济合作社"}, "deadline": {inAMonth()}}
	// Without a severity the service refuses; the description is kept.
	bad := url.Values{}
	for k, v := range finding {
		bad[k] = v
	}
	bad.Del("severity")
	if p := d.post("/console/inspection/tours/"+tour+"/findings", bad); p.status != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, "严重程度") || !strings.Contains(p.body, "2026 年第一季度村务公开栏未公开工程款支出") {
		t.Fatalf("a finding without severity: %d\n%.3000s", p.status, mainOf(p.body))
	}
	if p := d.post("/console/inspection/tours/"+tour+"/findings", finding); p.status != http.StatusSeeOther || !strings.HasSuffix(p.location, "?ok=finding") {
		t.Fatalf("finding: %d %q %.2000s", p.status, p.location, mainOf(p.body))
	}
	tp = d.get("/console/inspection/tours/" + tour)
	if !strings.Contains(tp.body, "补充公开并建立公开台账") || !strings.Contains(tp.body, "待整改") || !strings.Contains(tp.body, "较重") ||
		!strings.Contains(tp.body, yesterday()) {
		t.Fatalf("the tour after the visit and finding:\n%.4000s", mainOf(tp.body))
	}
	fs, err := env.Insp.FindingsOf(ctx, conVillage, "")
	if err != nil || len(fs) != 1 || fs[0].Severity != "major" || len(fs[0].Tasks) != 1 || fs[0].Tasks[0].Owner != "村股份经济合作社" {
		t.Fatalf("findings in the service: %+v %v", fs, err)
	}

	// An order, then an interview following it.
	op := d.get("/console/inspection/orders")
	if op.status != 200 || !strings.Contains(op.body, `<optgroup label="履职不力">`) || !strings.Contains(op.body, `action="/console/inspection/orders"`) {
		t.Fatalf("orders page: %d\n%.3000s", op.status, mainOf(op.body))
	}
	p := d.post("/console/inspection/orders", url.Values{"csrf": {token}, "village": {conVillage}, "situation": {"duty-02"}, "colour": {""},
		"deadline": {""}, "detail": {"工程款支出未公开"}})
	m := orderPath.FindStringSubmatch(p.location)
	if p.status != http.StatusSeeOther || m == nil {
		t.Fatalf("issuing an order: %d %q %.2000s", p.status, p.location, mainOf(p.body))
	}
	number, _ := url.QueryUnescape(m[1])
	if p := d.post("/console/inspection/orders", url.Values{"csrf": {token}, "village": {conVillage}, "situation": {"no-such"}}); p.status != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, `class="error"`) {
		t.Fatalf("an unknown situation: %d\n%.2000s", p.status, p.body)
	}
	held := time.Now().In(tz.Shanghai).Add(-2 * time.Hour).Format("2006-01-02T15:04")
	if p := d.post("/console/inspection/interviews", url.Values{"csrf": {token}, "village": {conVillage}, "cadreName": {"张三"},
		"cadrePost": {"村党组织书记"}, "heldAt": {held}, "interviewers": {"王明、李红"}, "reason": {"村务公开不及时"},
		"outcome": {"已表态整改"}, "orderNumber": {number}}); p.status != http.StatusSeeOther {
		t.Fatalf("interview: %d %.2000s", p.status, mainOf(p.body))
	}
	op = d.get("/console/inspection/orders")
	if !strings.Contains(op.body, number) || !strings.Contains(op.body, "蓝色督查令") || !strings.Contains(op.body, "张三") ||
		!strings.Contains(op.body, "王明、李红") {
		t.Fatalf("orders page after issuing:\n%.4000s", mainOf(op.body))
	}
	if p := d.get("/console/inspection/orders?status=closed"); strings.Contains(p.body[:strings.Index(p.body, "<h2>约谈</h2>")], number) {
		t.Fatalf("the closed filter lists an issued order")
	}

	// An integrity file and a record in it; the reads are audited.
	ip := d.get("/console/inspection/integrity")
	p = d.post("/console/inspection/integrity", url.Values{"csrf": {csrfOf(t, ip.body)}, "village": {conVillage}, "cadreName": {"张三"}, "cadrePost": {"村党组织书记"}})
	fm := filePath.FindStringSubmatch(p.location)
	if p.status != http.StatusSeeOther || fm == nil {
		t.Fatalf("creating a file: %d %q %.2000s", p.status, p.location, mainOf(p.body))
	}
	for range 2 {
		if p := d.post("/console/inspection/integrity/"+fm[1]+"/records", url.Values{"csrf": {token}, "section": {"dispositions"},
			"date": {"2025-03"}, "kind": {"诫勉谈话"}, "summary": {"村务公开不及时"}}); p.status != http.StatusSeeOther {
			t.Fatalf("adding a record: %d %.2000s", p.status, mainOf(p.body))
		}
	}
	fp := d.get("/console/inspection/integrity/" + fm[1])
	if fp.status != 200 || strings.Count(fp.body, "诫勉谈话</strong>") != 2 || !strings.Contains(fp.body, "第 2 版") {
		t.Fatalf("file page: %d\n%.4000s", fp.status, mainOf(fp.body))
	}
	var reads int
	if err := env.Insp.Pool.QueryRow(ctx, `SELECT count(*) FROM integrity_audit WHERE file_id = $1 AND action = 'read' AND actor_id = $2`, fm[1], d.id).Scan(&reads); err != nil || reads < 3 {
		t.Fatalf("audited reads of the file: %d %v", reads, err)
	}

	for _, path := range []string{"/console/inspection/crosschecks", "/console/inspection/grades", "/console/inspection/overview", "/console/inspection"} {
		if p := d.get(path); p.status != 200 {
			t.Fatalf("%s: %d\n%.2000s", path, p.status, mainOf(p.body))
		}
	}
	// The finding (−8) and the order (−5) are the village's reasons.
	gp := d.get("/console/inspection/grades")
	if !strings.Contains(gp.body, "87 分") || !strings.Contains(gp.body, "财务公开") {
		t.Fatalf("grades:\n%.4000s", mainOf(gp.body))
	}
	if p := d.get("/console/inspection"); !strings.Contains(p.body, "已巡察 <strong>1</strong> 个村，共 2 个村") || !strings.Contains(p.body, "尚未巡察：畸山村") {
		t.Fatalf("coverage:\n%.3000s", mainOf(p.body))
	}
}

// TestInspectionConsoleVisibility: who sees which discipline page and which
// forms, and what the services refuse when a form is posted anyway.
func TestInspectionConsoleVisibility(t *testing.T) {
	env := startInspectionConsole(t)
	ctx := context.Background()
	d := signIn(t, env.URL, "town-discipline", conTown, "")
	tour := env.planTourAs(t, d)
	dd := signIn(t, env.URL, "district-discipline", "", "")
	admin := signIn(t, env.URL, "district-admin", "", "")
	official := signIn(t, env.URL, "town-official", conTown, "")
	chair := signIn(t, env.URL, "supervision-chair", conTown, conVillage)
	secretary := signIn(t, env.URL, "secretary", conTown, conVillage)

	type want struct {
		status   int
		location string // a redirect's target
		forms    bool   // POST forms of the discipline pages
	}
	for _, tc := range []struct {
		who  *staff
		path string
		want want
	}{
		// District discipline runs rounds and orders in the town chosen
		// (console_inspection_district_test.go); files stay the town's.
		{dd, "/console/inspection", want{status: 200, forms: true}},
		{dd, "/console/inspection/tours/" + tour, want{status: 200, forms: true}},
		{dd, "/console/inspection/orders", want{status: 200, forms: true}},
		{dd, "/console/inspection/integrity", want{status: 200}},
		{dd, "/console/inspection/crosschecks", want{status: 200}},
		{dd, "/console/inspection/grades", want{status: 200}},
		{dd, "/console/inspection/overview", want{status: 200}},
		{admin, "/console/inspection", want{status: 303, location: "/console/inspection/overview"}},
		{admin, "/console/inspection/overview", want{status: 200}},
		{admin, "/console/inspection/grades", want{status: 200}},
		{admin, "/console/inspection/orders", want{status: 403}},
		{admin, "/console/inspection/integrity", want{status: 403}},
		{official, "/console/inspection", want{status: 403}},
		{official, "/console/inspection/tours/" + tour, want{status: 403}},
		{official, "/console/inspection/integrity", want{status: 403}},
		{official, "/console/inspection/overview", want{status: 403}},
		{official, "/console/supervision", want{status: 403}},
		{chair, "/console/inspection", want{status: 303, location: "/console/supervision"}},
		{chair, "/console/supervision", want{status: 200}},
		{chair, "/console/inspection/integrity", want{status: 403}},
		{secretary, "/console/inspection/grades", want{status: 403}},
		{secretary, "/console/supervision", want{status: 200}},
		{d, "/console/inspection/tours/00000000-0000-4000-8000-000000000000", want{status: 404}},
		{d, "/console/inspection/tours/x", want{status: 404}},
		{d, "/console/supervision", want{status: 403}},
	} {
		p := tc.who.get(tc.path)
		if p.status != tc.want.status || (tc.want.location != "" && p.location != tc.want.location) {
			t.Errorf("%s %s: %d %q, want %d %q\n%.600s", tc.who.role, tc.path, p.status, p.location, tc.want.status, tc.want.location, mainOf(p.body))
			continue
		}
		if p.status == 200 && strings.Contains(mainOf(p.body), `method="post"`) != tc.want.forms {
			t.Errorf("%s %s: POST forms shown: %v, want %v", tc.who.role, tc.path, !tc.want.forms, tc.want.forms)
		}
	}
	// Tabs follow the role.
	for _, tc := range []struct {
		who       *staff
		tab       string
		shown     bool
		otherTabs []string
	}{
		{d, `href="/console/inspection"`, true, nil},
		{dd, `href="/console/inspection"`, true, nil},
		{admin, `href="/console/inspection"`, true, nil},
		{official, `href="/console/inspection"`, false, nil},
		{chair, `href="/console/supervision"`, true, nil},
		{secretary, `href="/console/supervision"`, false, nil},
	} {
		if got := strings.Contains(tc.who.get("/console").body, tc.tab); got != tc.shown {
			t.Errorf("%s: tab %s shown %v, want %v", tc.who.role, tc.tab, got, tc.shown)
		}
	}

	// Forms posted anyway: the services refuse and nothing is recorded.
	token := func(s *staff) string { return csrfOf(t, s.get("/console").body) }
	for _, tc := range []struct {
		who    *staff
		path   string
		form   url.Values
		status int
	}{
		{admin, "/console/inspection/tours", url.Values{"name": {"区里的巡察"}, "period": {"2026"}, "team": {"赵六 组长"}, "village": {conVillage}}, 403},
		{admin, "/console/inspection/orders", url.Values{"village": {conVillage}, "situation": {"duty-02"}}, 403},
		{official, "/console/inspection/orders", url.Values{"village": {conVillage}, "situation": {"duty-02"}}, 403},
		{official, "/console/inspection/tours/" + tour + "/findings", url.Values{"village": {conVillage}, "category": {"x"}, "description": {"x"},
			"severity": {"minor"}, "action": {"x"}, "owner": {"x"}, "deadline": {inAMonth()}}, 404},
		{dd, "/console/inspection/integrity", url.Values{"village": {conVillage}, "cadreName": {"李四"}, "cadrePost": {"村委会主任"}}, 403},
		{chair, "/console/inspection/interviews", url.Values{"village": {conVillage}, "cadreName": {"李四"}, "heldAt": {"2026-01-02T10:00"},
			"interviewers": {"x"}, "reason": {"x"}, "outcome": {"x"}}, 403},
	} {
		tc.form.Set("csrf", token(tc.who))
		if p := tc.who.post(tc.path, tc.form); p.status != tc.status || !strings.Contains(p.body, `class="error"`) {
			t.Errorf("%s POST %s: %d, want %d\n%.600s", tc.who.role, tc.path, p.status, tc.status, mainOf(p.body))
		}
	}
	// Without the form token nothing reaches the service.
	if p := d.post("/console/inspection/orders", url.Values{"village": {conVillage}, "situation": {"duty-02"}}); p.status != http.StatusForbidden {
		t.Errorf("an order without the CSRF token: %d", p.status)
	}
	orders, err := env.Insp.ListOrders(ctx, inspection.ListFilter{})
	if err != nil || len(orders) != 0 {
		t.Fatalf("orders recorded by refused forms: %d %v", len(orders), err)
	}
	fs, err := env.Insp.FindingsOf(ctx, conVillage, "")
	if err != nil || len(fs) != 0 {
		t.Fatalf("findings recorded by refused forms: %d %v", len(fs), err)
	}
	var files int
	if err := env.Insp.Pool.QueryRow(ctx, `SELECT count(*) FROM integrity_files`).Scan(&files); err != nil || files != 0 {
		t.Fatalf("integrity files recorded by refused forms: %d %v", files, err)
	}
	// The district's refused attempt at the files is in their audit.
	var refused int
	if err := env.Insp.Pool.QueryRow(ctx, `SELECT count(*) FROM integrity_audit WHERE actor_id = $1 AND NOT allowed`, dd.id).Scan(&refused); err != nil || refused != 1 {
		t.Fatalf("refused integrity attempts audited: %d %v", refused, err)
	}
}

// TestInspectionConsoleSupervisionChair: the village's supervision chair
// sees the village's warnings, running processes, rectification tasks and
// complaints (not those about cadre conduct, not other villages').
func TestInspectionConsoleSupervisionChair(t *testing.T) {
	env := startInspectionConsole(t)
	d := signIn(t, env.URL, "town-discipline", conTown, "")
	chair := signIn(t, env.URL, "supervision-chair", conTown, conVillage)
	env.outOfOrder(t)
	tour := env.planTourAs(t, d)
	tp := d.get("/console/inspection/tours/" + tour)
	if p := d.post("/console/inspection/tours/"+tour+"/findings", url.Values{"csrf": {csrfOf(t, tp.body)}, "village": {conVillage},
		"category": {"财务公开"}, "description": {"工程款支出未公开"}, "severity": {"minor"}, "action": {"补充公开"},
		"owner": {"村委会"}, "deadline": {inAMonth()}}); p.status != http.StatusSeeOther {
		t.Fatalf("finding: %d %.1000s", p.status, mainOf(p.body))
	}
	env.report(t, conVillage, "funds", "村里修路的 12 万元去向不明，账上没有公开")
	env.report(t, conVillage, "cadre-conduct", "村干部上班时间在村委会办公室打牌")
	env.report(t, conVillageB, "service", "便民服务中心上班时间经常没人值班")

	p := chair.get("/console/supervision")
	body := mainOf(p.body)
	for _, want := range []string{"岩头村", "未按顺序办理", "村民代表会议误餐费", "补充公开", "工程款支出未公开", "村里修路的 12 万元去向不明，账上没有公开"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the chair's page lacks %q", want)
		}
	}
	for _, not := range []string{"打牌", "没人值班"} {
		if strings.Contains(body, not) {
			t.Errorf("the chair's page shows %q", not)
		}
	}
	if t.Failed() {
		t.Fatalf("%d\n%.5000s", p.status, body)
	}

	// The chair answers the rectification task; town discipline returns it
	// (a reason is required), the chair answers again, discipline accepts.
	tasks, err := env.Insp.Tasks(context.Background(), conVillage, "")
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks: %v %v", tasks, err)
	}
	task := tasks[0].ID
	submitPath := "/console/inspection/tasks/" + task + "/submit"
	if !strings.Contains(body, `action="`+submitPath+`"`) {
		t.Fatalf("no submit form on the chair's page:\n%.3000s", body)
	}
	ctoken := csrfOf(t, p.body)
	if p := chair.post(submitPath, url.Values{"csrf": {ctoken}, "text": {""}}); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "请写明整改情况") {
		t.Fatalf("an empty submission: %d %.800s", p.status, mainOf(p.body))
	}
	if p := chair.post(submitPath, url.Values{"csrf": {ctoken}, "text": {"已在公开栏补充公开工程款支出"}, "url": {"https://example.org/photo.jpg"}}); p.status != http.StatusSeeOther ||
		p.location != "/console/supervision?ok=task-submit" {
		t.Fatalf("submitting: %d %q %.800s", p.status, p.location, mainOf(p.body))
	}
	tp = d.get("/console/inspection/tours/" + tour)
	if !strings.Contains(tp.body, "已在公开栏补充公开工程款支出") || !strings.Contains(tp.body, `action="/console/inspection/tasks/`+task+`/accept"`) {
		t.Fatalf("the tour page after the submission:\n%.4000s", mainOf(tp.body))
	}
	dtoken := csrfOf(t, tp.body)
	back := "/console/inspection/tours/" + tour
	if p := chair.post("/console/inspection/tasks/"+task+"/accept", url.Values{"csrf": {ctoken}, "back": {back}}); p.status != http.StatusForbidden {
		t.Fatalf("the chair accepting: %d", p.status)
	}
	if p := d.post("/console/inspection/tasks/"+task+"/return", url.Values{"csrf": {dtoken}, "back": {back}}); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "退回须写明理由") {
		t.Fatalf("a return without a reason: %d %.800s", p.status, mainOf(p.body))
	}
	if p := d.post("/console/inspection/tasks/"+task+"/return", url.Values{"csrf": {dtoken}, "back": {back}, "note": {"请附公开栏照片"}}); p.status != http.StatusSeeOther || p.location != back+"?ok=task-return" {
		t.Fatalf("returning: %d %q", p.status, p.location)
	}
	if p := chair.get("/console/supervision"); !strings.Contains(p.body, "退回理由：请附公开栏照片") || !strings.Contains(p.body, `action="`+submitPath+`"`) {
		t.Fatalf("the chair's page after the return:\n%.3000s", mainOf(p.body))
	}
	if p := chair.post(submitPath, url.Values{"csrf": {ctoken}, "text": {"照片已上传"}}); p.status != http.StatusSeeOther {
		t.Fatalf("submitting again: %d", p.status)
	}
	if p := d.post("/console/inspection/tasks/"+task+"/accept", url.Values{"csrf": {dtoken}, "back": {back}}); p.status != http.StatusSeeOther || p.location != back+"?ok=task-accept" {
		t.Fatalf("accepting: %d %q", p.status, p.location)
	}
	got, err := env.Insp.TaskByID(context.Background(), task)
	if err != nil || got.Status != "accepted" || len(got.Evidence) != 3 {
		t.Fatalf("the task in the service: %+v %v", got, err)
	}
	if p := chair.get("/console/supervision"); strings.Contains(p.body, `action="`+submitPath+`"`) || !strings.Contains(p.body, "整改已验收") {
		t.Fatalf("the chair's page after the acceptance:\n%.3000s", mainOf(p.body))
	}
}

// TestInspectionConsoleDistrictOverview: district staff switch towns on
// the discipline pages; the overview is built by one town's instance (the
// district's seat, here jinping), and when they look at another town the
// console follows that town's 409 to the seat. Town discipline sees its own
// town's overview.
func TestInspectionConsoleDistrictOverview(t *testing.T) {
	ctx := context.Background()
	kratosURL := testinfra.Require(t, testinfra.EnvKratosPublicURL)
	auth := identity.New(kratosURL, identity.WithErrorWriter(httpapi.WriteStatusProblem))
	start := func(town, name string, wide bool, seat string) string {
		pool := openPool(t, "inspection")
		if err := inspection.Migrate(ctx, pool); err != nil {
			t.Fatal(err)
		}
		s := &inspection.Service{Rules: inspection.DefaultRules(), Notices: inspection.DefaultNoticeConfig(), Pool: pool,
			Town: town, TownName: name, DistrictWide: wide, DistrictViewTown: seat, Log: slog.New(slog.DiscardHandler)}
		return serve(t, "inspection-"+town, auth.Require, 64<<10, s.Routes)
	}
	backends := NewStaticBackends()
	if err := backends.AddTown(Town{Name: "jinping", Code: "330283101000", DisplayName: "锦屏街道"},
		map[string]string{ServiceInspection: start("jinping", "锦屏街道", true, "")}); err != nil {
		t.Fatal(err)
	}
	if err := backends.AddTown(Town{Name: conTown, Code: conTownCode, DisplayName: "溪口镇"},
		map[string]string{ServiceInspection: start(conTown, "溪口镇", false, "jinping")}); err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{District: "fenghua", DistrictName: "奉化区", KratosPublicURL: kratosURL}, backends, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, "gateway", nil, 0, g.Register)
	dd := signIn(t, base, "district-discipline", "", "")
	d := signIn(t, base, "town-discipline", conTown, "")

	// Look at 溪口镇: the switch comes back to the discipline pages.
	if p := dd.get("/console/inspection/town?town=" + conTown); p.status != http.StatusSeeOther || p.location != "/console/inspection" {
		t.Fatalf("switching towns: %d %q", p.status, p.location)
	}
	if p := dd.get("/console/inspection/town?town=nowhere"); p.status != http.StatusSeeOther {
		t.Fatalf("switching to an unknown town: %d", p.status)
	}
	if p := dd.get("/console/inspection"); p.status != 200 || !strings.Contains(p.body, `<option value="xikou" selected>溪口镇</option>`) {
		t.Fatalf("the switcher after choosing 溪口镇: %d\n%.2000s", p.status, mainOf(p.body))
	}
	p := dd.get("/console/inspection/overview")
	if p.status != 200 || !strings.Contains(p.body, "全区") {
		t.Fatalf("the district's overview from 溪口镇's console: %d\n%.2000s", p.status, mainOf(p.body))
	}
	if p := d.get("/console/inspection/overview"); p.status != 200 || !strings.Contains(p.body, "本镇（街道）") || !strings.Contains(p.body, "<h2>溪口镇</h2>") {
		t.Fatalf("town discipline's overview: %d\n%.2000s", p.status, mainOf(p.body))
	}
}
