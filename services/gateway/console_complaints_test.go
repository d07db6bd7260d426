package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/complaint"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
	"github.com/wuxiao/wuxiao/services/workflow"
)

// The complaint inbox's tests run the town's real complaint service (and
// the workflow service, the console's list of villages) on PostgreSQL
// behind the test Kratos, with the gateway in front; complaints are filed
// through the gateway's public report routes, as a villager's phone does.

type complaintEnv struct {
	URL string
	CP  *complaint.Service
	WF  *workflow.Service
}

func startComplaintConsole(t testing.TB) *complaintEnv {
	t.Helper()
	ctx := context.Background()
	kratosURL := testinfra.Require(t, testinfra.EnvKratosPublicURL)
	auth := identity.New(kratosURL, identity.WithErrorWriter(httpapi.WriteStatusProblem))
	env := &complaintEnv{}

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
		if err := env.WF.SetVillage(ctx, v.code, v.name, workflow.Thresholds{}); err != nil {
			t.Fatal(err)
		}
	}
	wfURL := serve(t, "workflow", auth.Require, 64<<10, env.WF.Routes)

	cpPool := openPool(t, "complaint")
	if err := complaint.Migrate(ctx, cpPool); err != nil {
		t.Fatal(err)
	}
	env.CP = &complaint.Service{Pool: cpPool, Town: conTown, Log: slog.New(slog.DiscardHandler)}
	api := complaint.NewAPI(env.CP, []byte("complaint-console-test-challenge-key"))
	// Every report of the tests comes from 127.0.0.1.
	api.Limiter = complaint.NewRateLimiter(complaint.RateLimitConfig{ClientBurst: 1000, VillageBurst: 1000, FloodThreshold: 1000})
	api.Optional = auth.Optional
	cpURL := serve(t, "complaint", auth.Require, complaint.IntakeMaxBodyBytes, api.Routes)

	backends := NewStaticBackends()
	if err := backends.AddTown(Town{Name: conTown, Code: conTownCode, DisplayName: "溪口镇"}, map[string]string{
		ServiceWorkflow: wfURL, ServiceComplaint: cpURL}); err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{District: "fenghua", DistrictName: "奉化区", KratosPublicURL: kratosURL}, backends, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	env.URL = serve(t, "gateway", nil, 0, g.Register)
	return env
}

// samplePhoto is a small PNG made by the standard library's encoder.
func samplePhoto(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 48, 32))
	for x := range 48 {
		img.Set(x, x%32, color.RGBA{180, 20, 20, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var trackingCodeRE = regexp.MustCompile(`id="tracking-code">(TS-[0-9A-Z-]+)<`)

// report files a complaint through the gateway's public report page (the
// form a villager's phone posts), with a photo when given; it returns the
// tracking code.
func (e *complaintEnv) report(t testing.TB, village, category, description string, photo []byte) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("category", category)
	_ = mw.WriteField("description", description)
	if photo != nil {
		fw, _ := mw.CreateFormFile("attachments", "现场照片.png")
		_, _ = fw.Write(photo)
	}
	_ = mw.Close()
	res, err := http.Post(e.URL+"/r/"+village, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	page, _ := io.ReadAll(res.Body)
	m := trackingCodeRE.FindSubmatch(page)
	if res.StatusCode != http.StatusCreated || m == nil {
		t.Fatalf("filing through /r/%s: %d %.1500s", village, res.StatusCode, page)
	}
	return string(m[1])
}

// reportAs files through the gateway's public JSON intake with the
// client's session (a named report when it has one).
func (e *complaintEnv) reportAs(t testing.TB, hc *http.Client, village, category, description string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"category": category, "description": description})
	res, err := hc.Post(e.URL+"/v1/public/villages/"+village+"/complaints", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		TrackingCode string `json:"trackingCode"`
	}
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated || json.Unmarshal(raw, &out) != nil || out.TrackingCode == "" {
		t.Fatalf("JSON intake: %d %s", res.StatusCode, raw)
	}
	return out.TrackingCode
}

func (e *complaintEnv) idOf(t testing.TB, code string) string {
	t.Helper()
	var id string
	if err := e.CP.Pool.QueryRow(context.Background(), `SELECT id::text FROM complaints WHERE tracking_code = $1`, code).Scan(&id); err != nil {
		t.Fatalf("complaint %s: %v", code, err)
	}
	return id
}

func (e *complaintEnv) reads(t testing.TB, id, actor string) int {
	t.Helper()
	var n int
	if err := e.CP.Pool.QueryRow(context.Background(), `SELECT count(*) FROM attachment_reads WHERE complaint_id = $1 AND actor_id = $2`,
		id, actor).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *complaintEnv) status(t testing.TB, id string) string {
	t.Helper()
	var s string
	if err := e.CP.Pool.QueryRow(context.Background(), `SELECT status FROM complaints WHERE id = $1`, id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// pageHas fails unless every want is in the page and no unwanted is.
func pageHas(t *testing.T, what string, p conPage, status int, want, unwanted []string) {
	t.Helper()
	if p.status != status {
		t.Errorf("%s: HTTP %d, want %d:\n%.1500s", what, p.status, status, p.body)
		return
	}
	for _, w := range want {
		if !strings.Contains(p.body, w) {
			t.Errorf("%s: the page lacks %q:\n%.3000s", what, w, p.body)
		}
	}
	for _, u := range unwanted {
		if strings.Contains(p.body, u) {
			t.Errorf("%s: the page shows %q", what, u)
		}
	}
}

// TestComplaintConsoleInbox: the inbox of the village's liaison officer,
// the town's discipline office and a village cadre, over HTTP against the
// real complaint service: who sees which complaint, whether the reporter
// is named, the counts and filters, and the statistics.
func TestComplaintConsoleInbox(t *testing.T) {
	env := startComplaintConsole(t)
	liaison := signIn(t, env.URL, "liaison-officer", conTown, conVillage)
	discipline := signIn(t, env.URL, "town-discipline", conTown, "")
	secretary := signIn(t, env.URL, "secretary", conTown, conVillage)
	district := signIn(t, env.URL, "district-discipline", "", "")
	official := signIn(t, env.URL, "town-official", conTown, "")
	_, vu := testinfra.KratosUser(t, "villager", conTown, conVillage)
	villager := signInAs(t, env.URL, "villager", vu.ID, vu.Email, vu.Password)

	funds := env.report(t, conVillage, "funds", "村里修路的钱去向不明，账上没有公开", samplePhoto(t))
	cadre := env.reportAs(t, villager.http, conVillage, "cadre-conduct", "村主任在村道工程中优亲厚友，请纪委调查")
	other := env.report(t, conVillageB, "service", "便民服务中心经常没人值班", nil)
	fundsID, cadreID, otherID := env.idOf(t, funds), env.idOf(t, cadre), env.idOf(t, other)

	// The 举报 tab is the complaint handlers'.
	pageHas(t, "liaison's console", liaison.get("/console"), 200, []string{`href="/console/complaints"`}, nil)
	pageHas(t, "secretary's console", secretary.get("/console"), 200, nil, []string{`href="/console/complaints"`})
	pageHas(t, "town official's console", official.get("/console"), 200, nil, []string{`href="/console/complaints"`})
	pageHas(t, "district discipline's console", district.get("/console"), 200, []string{`href="/console/complaints"`}, nil)

	cases := []struct {
		name      string
		who       *staff
		path      string
		status    int
		want, not []string
	}{
		{"liaison: open complaints of the village", liaison, "/console/complaints", 200,
			[]string{funds, cadre, "待处理 <span class=\"count\">2</span>", "村级资金", "干部作风", "剩余 3 天"}, []string{other, "畸山村"}},
		{"liaison: rejected ones", liaison, "/console/complaints?status=rejected", 200, []string{"没有不予受理的举报"}, []string{funds}},
		{"discipline: every village", discipline, "/console/complaints", 200,
			[]string{funds, cadre, other, "岩头村", "畸山村", "待处理 <span class=\"count\">3</span>"}, nil},
		{"discipline: one village", discipline, "/console/complaints?village=" + conVillageB, 200, []string{other}, []string{funds, cadre}},
		{"secretary: no cadre-conduct complaint", secretary, "/console/complaints", 200, []string{funds}, []string{cadre}},
		{"secretary: the cadre-conduct complaint is hidden", secretary, "/console/complaints/" + cadreID, 404, []string{"没有找到这件举报"}, []string{"优亲厚友"}},
		{"liaison: another village's complaint is hidden", liaison, "/console/complaints/" + otherID, 404, nil, []string{"没人值班"}},
		{"liaison: named report, no name", liaison, "/console/complaints/" + cadreID, 200,
			[]string{"优亲厚友", "举报人信息只向纪检监察人员显示", `value="accept"`}, []string{vu.Name, "实名举报"}},
		{"discipline: named report with the name", discipline, "/console/complaints/" + cadreID, 200,
			[]string{"实名举报：" + vu.Name, `value="accept"`}, nil},
		{"discipline: anonymous report", discipline, "/console/complaints/" + fundsID, 200, []string{"匿名举报"}, nil},
		{"secretary: reads, no forms", secretary, "/console/complaints/" + fundsID, 200,
			[]string{"账上没有公开", "举报由本村监察联络员和镇（街道）纪委办理"}, []string{`action="/console/complaints/` + fundsID + `/actions"`, `/notes"`}},
		{"district discipline: the town's complaints", district, "/console/complaints", 200, []string{funds, cadre, other, "当前查看：溪口镇"}, nil},
		{"district discipline: the name, notes but no actions", district, "/console/complaints/" + cadreID, 200,
			[]string{"实名举报：" + vu.Name, `action="/console/complaints/` + cadreID + `/notes"`}, []string{`value="accept"`}},
		{"town official: no name, no forms", official, "/console/complaints/" + cadreID, 200,
			[]string{"优亲厚友", "举报人信息只向纪检监察人员显示"}, []string{vu.Name, `value="accept"`, `/notes"`}},
		{"malformed id", liaison, "/console/complaints/not-an-id", 404, nil, nil},
		{"statistics, liaison", liaison, "/console/complaints/statistics", 200,
			[]string{"按年份和类别", itoa(time.Now().In(tz.Shanghai).Year()), `<td class="num"><strong>2</strong></td>`}, []string{"畸山村"}},
		{"statistics, discipline", discipline, "/console/complaints/statistics", 200,
			[]string{`<td class="num"><strong>3</strong></td>`, "岩头村", "畸山村"}, nil},
		{"statistics, a bad year", discipline, "/console/complaints/statistics?from=1900", 422, []string{"年份应在 2000 年至今年之间"}, nil},
		{"statistics, too many years", discipline, "/console/complaints/statistics?from=2000", 422, []string{"一次最多比较 15 年"}, nil},
	}
	for _, tc := range cases {
		pageHas(t, tc.name, tc.who.get(tc.path), tc.status, tc.want, tc.not)
	}

	// The photo opens in the browser, through the audited route, as the
	// user: each opening is a read recorded by the complaint service.
	page := liaison.get("/console/complaints/" + fundsID)
	href := "/console/complaints/" + fundsID + "/attachments/1"
	pageHas(t, "the photo's link", page, 200, []string{`href="` + href + `"`, "现场照片.png"}, nil)
	img := liaison.get(href)
	if img.status != 200 || img.header.Get("Content-Type") != "image/png" || !strings.HasPrefix(img.header.Get("Content-Disposition"), "inline") ||
		img.header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(img.header.Get("Content-Security-Policy"), "sandbox") ||
		!bytes.HasPrefix([]byte(img.body), []byte("\x89PNG")) {
		t.Fatalf("the photo: %d %v", img.status, img.header)
	}
	if n := env.reads(t, fundsID, liaison.id); n != 1 {
		t.Errorf("reads recorded for the liaison officer: %d, want 1", n)
	}
	for _, p := range []string{"/attachments/2", "/attachments/01", "/attachments/0"} {
		if got := liaison.get("/console/complaints/" + fundsID + p); got.status != 404 {
			t.Errorf("%s: %d", p, got.status)
		}
	}
	if got := liaison.get("/console/complaints/" + otherID + "/attachments/1"); got.status != 404 {
		t.Errorf("another village's attachment: %d", got.status)
	}
	if n := env.reads(t, fundsID, liaison.id); n != 1 {
		t.Errorf("refused reads were recorded: %d", n)
	}
}

// TestComplaintConsoleLifecycle: the liaison officer takes a complaint
// from intake to resolution through the console's forms; the complaint
// service refuses what its rules refuse and the console says why in
// Chinese, keeping what was typed.
func TestComplaintConsoleLifecycle(t *testing.T) {
	env := startComplaintConsole(t)
	liaison := signIn(t, env.URL, "liaison-officer", conTown, conVillage)
	secretary := signIn(t, env.URL, "secretary", conTown, conVillage)
	code := env.report(t, conVillage, "subsidy", "低保名单里有村干部的亲属，请核查", nil)
	id := env.idOf(t, code)
	actions := "/console/complaints/" + id + "/actions"
	token := csrfOf(t, liaison.get("/console/complaints/"+id).body)

	steps := []struct {
		name     string
		who      *staff
		path     string
		form     url.Values
		status   int
		location string // on success
		want     []string
		after    string // the complaint's status afterwards
	}{
		{"a cadre cannot accept", secretary, actions, url.Values{"action": {"accept"}}, 403, "", []string{"只有本村监察联络员和镇（街道）纪委可以办理举报"}, "received"},
		{"a rejection needs a reason", liaison, actions, url.Values{"action": {"reject"}, "reason": {" "}}, 400, "", []string{"不予受理须填写理由"}, "received"},
		{"an unknown action", liaison, actions, url.Values{"action": {"close"}}, 400, "", []string{"没有这种办理方式"}, "received"},
		{"investigate before accepting", liaison, actions, url.Values{"action": {"investigate"}}, 409, "", []string{"当前的状态不能这样办理"}, "received"},
		{"accept", liaison, actions, url.Values{"action": {"accept"}, "reason": {"属于本站受理范围"}}, 303, "?ok=accept", nil, "accepted"},
		{"accept twice", liaison, actions, url.Values{"action": {"accept"}}, 409, "", []string{"当前的状态不能这样办理"}, "accepted"},
		{"investigate", liaison, actions, url.Values{"action": {"investigate"}, "reason": {"调取低保评议会议记录"}}, 303, "?ok=investigate", nil, "investigating"},
		{"resolve without an outcome", liaison, actions, url.Values{"action": {"resolve"}, "summary": {"经查属实，已取消其低保资格"}}, 400, "",
			[]string{"办结须选择调查结论", "经查属实，已取消其低保资格"}, "investigating"},
		{"resolve without a summary", liaison, actions, url.Values{"action": {"resolve"}, "outcome": {"substantiated"}}, 400, "", []string{"办结须填写处理结果"}, "investigating"},
		{"a public note", liaison, "/console/complaints/" + id + "/notes", url.Values{"body": {"已约谈相关村干部"}, "public": {"1"}}, 303, "?ok=note", nil, "investigating"},
		{"an empty note", liaison, "/console/complaints/" + id + "/notes", url.Values{"body": {""}}, 400, "", []string{"意见须为 1 至 2000 字"}, "investigating"},
		{"resolve", liaison, actions, url.Values{"action": {"resolve"}, "summary": {"经查属实，已取消其低保资格并追回资金"}, "outcome": {"substantiated"}}, 303, "?ok=resolve", nil, "resolved"},
	}
	for _, st := range steps {
		f := url.Values{"csrf": {csrfOf(t, st.who.get("/console/complaints").body)}}
		for k, v := range st.form {
			f[k] = v
		}
		p := st.who.post(st.path, f)
		if p.status != st.status {
			t.Fatalf("%s: HTTP %d, want %d: %.2000s", st.name, p.status, st.status, p.body)
		}
		if st.location != "" && p.location != "/console/complaints/"+id+st.location {
			t.Errorf("%s: redirected to %q", st.name, p.location)
		}
		for _, w := range st.want {
			if !strings.Contains(p.body, w) {
				t.Errorf("%s: the page lacks %q: %.2000s", st.name, w, p.body)
			}
		}
		if s := env.status(t, id); s != st.after {
			t.Fatalf("%s: the complaint is %s, want %s", st.name, s, st.after)
		}
	}
	page := liaison.get("/console/complaints/" + id + "?ok=resolve")
	pageHas(t, "the resolved complaint", page, 200, []string{"已办结，举报人可在查询页看到办结状态并反馈是否满意", "收到举报", "调查结论：属实", "经查属实，已取消其低保资格并追回资金",
		"调取低保评议会议记录", "属于本站受理范围", "已约谈相关村干部", "已向举报人公开", "监察联络员"}, []string{`value="accept"`, `name="outcome"`})

	// The reporter's status page shows the public note only.
	res, err := http.Get(env.URL + "/v1/public/complaints/" + code)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(pub), "已约谈相关村干部") || strings.Contains(string(pub), "调取低保评议会议记录") {
		t.Errorf("public view: %d %s", res.StatusCode, pub)
	}

	// Forged posts change nothing: no token, another session's token,
	// another site's page.
	forged := []struct {
		name   string
		form   url.Values
		origin string
	}{
		{"no token", url.Values{"body": {"伪造"}}, ""},
		{"another session's token", url.Values{"body": {"伪造"}, "csrf": {csrfToken("wuxiao_session=other")}}, ""},
		{"another site", url.Values{"body": {"伪造"}, "csrf": {token}}, "https://evil.example"},
	}
	for _, f := range forged {
		req, _ := http.NewRequest("POST", env.URL+"/console/complaints/"+id+"/notes", strings.NewReader(f.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", env.URL)
		if f.origin != "" {
			req.Header.Set("Origin", f.origin)
		}
		if p := liaison.do(req); p.status != http.StatusForbidden {
			t.Errorf("%s: HTTP %d", f.name, p.status)
		}
	}
	if p := liaison.get("/console/complaints/" + id); strings.Contains(p.body, "伪造") {
		t.Error("a forged note was recorded")
	}

	// Without a session: to sign-in, and back to the complaint.
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = anon.Post(env.URL+actions, "application/x-www-form-urlencoded", strings.NewReader("action=accept"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if want := "/auth/login?return_to=" + url.QueryEscape("/console/complaints/"+id); res.StatusCode != 303 || res.Header.Get("Location") != want {
		t.Errorf("anonymous post: %d → %q, want %q", res.StatusCode, res.Header.Get("Location"), want)
	}
}

// TestComplaintConsoleRecurring: three complaints of one village and
// category within 30 days are listed as a recurring problem.
func TestComplaintConsoleRecurring(t *testing.T) {
	env := startComplaintConsole(t)
	discipline := signIn(t, env.URL, "town-discipline", conTown, "")
	for _, d := range []string{"今年的低保名单一直没有在公示栏公示", "残疾人两项补贴少发了两个月，问了没人管", "耕地地力补贴面积与实际承包面积不符"} {
		env.report(t, conVillage, "subsidy", d, nil)
	}
	env.report(t, conVillageB, "subsidy", "高龄老人补贴发放不及时，拖了半年", nil)
	year := itoa(time.Now().In(tz.Shanghai).Year())
	pageHas(t, "statistics", discipline.get("/console/complaints/statistics?from="+year+"&to="+year), 200,
		[]string{"岩头村 · 惠农补贴</strong>：3 件", `<th scope="row">岩头村</th><td class="num">3</td>`, `<th scope="row">畸山村</th><td class="num">1</td>`},
		[]string{"畸山村 · 惠农补贴"})
}

func TestComplaintConsoleLabels(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		msg    string
	}{
		{&apiError{Status: 400, Type: "https://wuxiao.dev/problems/reason-required", Detail: "a rejection needs a reason"}, 400, "不予受理须填写理由。"},
		{&apiError{Status: 400, Type: "https://wuxiao.dev/problems/outcome-required"}, 400, "办结须选择调查结论：属实、部分属实或不属实。"},
		{&apiError{Status: 409, Type: "https://wuxiao.dev/problems/wrong-status"}, 409, "该举报当前的状态不能这样办理，可能刚被他人办理过，请看下方记录。"},
		{&apiError{Status: 403, Type: "https://wuxiao.dev/problems/forbidden"}, 403, "只有本村监察联络员和镇（街道）纪委可以办理举报。"},
		// Anything else is the console's general explanation.
		{&apiError{Status: 404, Type: "https://wuxiao.dev/problems/not-found", Detail: "no such complaint"}, 404, "没有找到，或您无权查看。（no such complaint）"},
		{&apiError{Status: 500, Type: "https://wuxiao.dev/problems/wrong-status"}, 502, "业务系统出错，请稍后再试。"},
		{errUnavailable, 502, "镇（街道）的业务系统暂时无法访问，请稍后再试。"},
	} {
		if status, msg := explainComplaint(tc.err); status != tc.status || msg != tc.msg {
			t.Errorf("%v: %d %q, want %d %q", tc.err, status, msg, tc.status, tc.msg)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"短", "短"}, {"村里\n修路  的钱", "村里 修路 的钱"}, {strings.Repeat("钱", 61), strings.Repeat("钱", 60) + "…"},
	} {
		if got := excerpt(tc.in, 60); got != tc.want {
			t.Errorf("excerpt(%q) = %q", tc.in, got)
		}
	}
}
