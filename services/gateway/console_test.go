package gateway

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/disclosure"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

func TestCSRFTokenAndYuan(t *testing.T) {
	a, b := csrfToken("wuxiao_session=aaa"), csrfToken("wuxiao_session=bbb")
	if a == b || len(a) < 40 || a != csrfToken("wuxiao_session=aaa") {
		t.Fatalf("tokens %q %q", a, b)
	}
	c := &consoleReq{cookie: "wuxiao_session=aaa", csrf: a}
	for _, tc := range []struct {
		token string
		ok    bool
	}{{a, true}, {b, false}, {"", false}, {a[:len(a)-1], false}} {
		if c.csrfOK(tc.token) != tc.ok {
			t.Errorf("csrfOK(%q) = %v", tc.token, !tc.ok)
		}
	}
	if (&consoleReq{}).csrfOK(csrfToken("")) {
		t.Error("a request without a session cookie accepted a token")
	}
	for _, tc := range []struct {
		in  string
		fen int64
		ok  bool
	}{{"860", 86000, true}, {"860.5", 86050, true}, {"8,600.05", 860005, true}, {"", 0, true},
		{"-1", 0, false}, {"1.234", 0, false}, {"1e5", 0, false}, {"八百", 0, false}} {
		fen, ok := parseYuan(tc.in)
		if fen != tc.fen || ok != tc.ok {
			t.Errorf("parseYuan(%q) = %d, %v", tc.in, fen, ok)
		}
	}
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, tz.Shanghai)
	for _, tc := range []struct {
		due   time.Time
		label string
	}{{now.Add(-49 * time.Hour), "已超期 2 天"}, {now.Add(-72 * time.Hour), "已超期 3 天"}, {now.Add(-time.Hour), "已超期 1 天"}, {now.Add(3 * time.Hour), "今天到期"},
		{now.Add(50 * time.Hour), "剩余 2 天"}} {
		if got := deadlineOf(&tc.due, now); got.Label != tc.label || got.Overdue != strings.HasPrefix(tc.label, "已超期") {
			t.Errorf("due %s: %+v, want %s", tc.due, got, tc.label)
		}
	}
}

func TestConsoleNeedsASession(t *testing.T) {
	env := startConsole(t)
	anon := &staff{t: t, base: env.URL, http: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	id := "0b7d2a1c-1111-4222-8333-944455556666"
	cases := []struct {
		method, path, want string
	}{
		{"GET", "/console", "/auth/login?return_to=%2Fconsole"},
		{"GET", "/console/processes?status=running", "/auth/login?return_to=%2Fconsole%2Fprocesses%3Fstatus%3Drunning"},
		{"GET", "/console/processes/" + id, "/auth/login?return_to=%2Fconsole%2Fprocesses%2F" + id},
		{"POST", "/console/processes/" + id + "/complete", "/auth/login?return_to=%2Fconsole%2Fprocesses%2F" + id},
		{"POST", "/console/start/funds-expenditure", "/auth/login?return_to=%2Fconsole"},
	}
	for _, tc := range cases {
		for _, cookie := range []string{"", "wuxiao_session=not-a-session"} {
			req, _ := http.NewRequest(tc.method, env.URL+tc.path, strings.NewReader("csrf=x"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if cookie != "" {
				req.Header.Set("Cookie", cookie)
			}
			p := anon.do(req)
			if p.status != http.StatusSeeOther || p.location != tc.want {
				t.Errorf("%s %s (cookie %q): %d → %q, want 303 → %q", tc.method, tc.path, cookie, p.status, p.location, tc.want)
			}
		}
	}
	// Accounts that have no console: a villager and town IT get a page
	// saying so, never the data.
	for _, role := range []struct{ role, town, village string }{{"villager", conTown, conVillage}, {"town-it", conTown, ""}} {
		s := signIn(t, env.URL, role.role, role.town, role.village)
		if p := s.get("/console"); p.status != http.StatusForbidden || !strings.Contains(p.body, "此账号不能使用工作台") {
			t.Errorf("%s: %d %.300s", role.role, p.status, p.body)
		}
	}
}

var processPath = regexp.MustCompile(`^/console/processes/([0-9a-f-]{36})\?ok=started$`)

// TestConsoleCadresAndTown runs a funds expenditure from the console as a
// village's cadres and the town's finance office would, over HTTP, against
// the real services: what each sees, what they may submit, and that the
// services' answers (not the gateway) decide.
func TestConsoleCadresAndTown(t *testing.T) {
	env := startConsole(t)
	member := signIn(t, env.URL, "committee-member", conTown, conVillage)
	chair := signIn(t, env.URL, "supervision-chair", conTown, conVillage)
	director := signIn(t, env.URL, "director", conTown, conVillage)
	finance := signIn(t, env.URL, "town-finance", conTown, "")
	otherVillage := signIn(t, env.URL, "secretary", conTown, conVillageB)

	// 待办 is empty, 发起 lists what a committee member starts.
	if p := member.get("/console"); p.status != 200 || !strings.Contains(p.body, "暂无待办事项") {
		t.Fatalf("empty work list: %d %.500s", p.status, p.body)
	}
	start := member.get("/console/start")
	if start.status != 200 || !strings.Contains(start.body, `href="/console/start/funds-expenditure"`) ||
		!strings.Contains(start.body, `href="/console/start/funds-non-productive-spending"`) ||
		strings.Contains(start.body, `href="/console/start/decision-major-matters"`) {
		t.Fatalf("start list: %d %.2000s", start.status, start.body)
	}
	item := member.get("/console/start/funds-expenditure")
	for _, want := range []string{"村级财务支出审批", `name="amount"`, `name="payeeName"`, "经办人提出支出申请", "3 个工作日",
		"支出须附发票、合同、验收单等原始凭证", `src="/console/items/funds-expenditure/flowchart.svg"`} {
		if !strings.Contains(item.body, want) {
			t.Fatalf("item page lacks %q:\n%.3000s", want, item.body)
		}
	}
	if svg := member.get("/console/items/funds-expenditure/flowchart.svg"); svg.status != 200 ||
		svg.header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(svg.body, "<svg") {
		t.Fatalf("flowchart: %d %s", svg.status, svg.header)
	}
	// The director reads the item but does not start it.
	if p := director.get("/console/start/funds-expenditure"); p.status != 200 || strings.Contains(p.body, `name="title"`) {
		t.Fatalf("director sees a start form: %d", p.status)
	}
	token := csrfOf(t, item.body)

	// Forged submissions change nothing.
	form := url.Values{"title": {"购买办公用品"}, "amount": {"8600.50"}, "payeeName": {"溪口文具店"}}
	forged := []struct {
		name  string
		token string
		hdr   func(*http.Request)
	}{
		{"no token", "", nil},
		{"another session's token", csrfToken("wuxiao_session=someone-else"), nil},
		{"cross-site origin", token, func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }},
		{"cross-site fetch", token, func(r *http.Request) { r.Header.Del("Origin"); r.Header.Set("Sec-Fetch-Site", "cross-site") }},
	}
	for _, f := range forged {
		v := url.Values{"csrf": {f.token}}
		for k, x := range form {
			v[k] = x
		}
		req, _ := http.NewRequest("POST", env.URL+"/console/start/funds-expenditure", strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", env.URL)
		if f.hdr != nil {
			f.hdr(req)
		}
		if p := member.do(req); p.status != http.StatusForbidden {
			t.Fatalf("%s: %d %.300s", f.name, p.status, p.body)
		}
	}
	if list, err := env.WF.ListTown(context.Background(), workflowFilter(conVillage)); err != nil || len(list) != 0 {
		t.Fatalf("a forged form started %d processes (%v)", len(list), err)
	}
	// A malformed amount is explained on the form, which keeps the input.
	bad := member.post("/console/start/funds-expenditure", url.Values{"csrf": {token}, "title": {"购买办公用品"}, "amount": {"八千"}})
	if bad.status != http.StatusUnprocessableEntity || !strings.Contains(bad.body, "金额请填写数字") || !strings.Contains(bad.body, `value="购买办公用品"`) {
		t.Fatalf("bad amount: %d %.1000s", bad.status, bad.body)
	}

	form.Set("csrf", token)
	started := member.post("/console/start/funds-expenditure", form)
	m := processPath.FindStringSubmatch(started.location)
	if started.status != http.StatusSeeOther || m == nil {
		t.Fatalf("start: %d → %q %.500s", started.status, started.location, started.body)
	}
	id := m[1]
	inst, err := env.WF.Get(context.Background(), id)
	if err != nil || inst.AmountFen != 860050 || inst.Payee == nil || inst.Payee.Name != "溪口文具店" || inst.Village != conVillage || inst.StartedBy != member.id {
		t.Fatalf("the started process: %+v %v", inst, err)
	}
	proc := member.get(started.location)
	for _, want := range []string{"已发起，流程编号 " + inst.TrackingNumber, "当前步骤：经办人提出支出申请", "8600.50 元",
		`action="/console/processes/` + id + `/complete"`, `enctype="multipart/form-data"`, "须上传", "哈希链校验通过"} {
		if !strings.Contains(proc.body, want) {
			t.Fatalf("process page lacks %q:\n%.4000s", want, proc.body)
		}
	}
	ptoken := csrfOf(t, proc.body)

	// Evidence: the file goes to the workflow service, which hashes and
	// types it; without the token nothing is sent on.
	pdf := []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
	if p := member.upload("/console/processes/"+id+"/evidence", "-", "apply", "voucher", "发票.pdf", pdf); p.status != http.StatusForbidden {
		t.Fatalf("upload without a token: %d", p.status)
	}
	if p := member.upload("/console/processes/"+id+"/evidence", ptoken, "apply", "voucher", "note.pdf", []byte("not a pdf at all")); p.status != http.StatusUnsupportedMediaType ||
		!strings.Contains(p.body, "文件类型不支持") {
		t.Fatalf("upload of a text file: %d %.500s", p.status, p.body)
	}
	if p := member.upload("/console/processes/"+id+"/evidence", ptoken, "apply", "voucher", "发票.pdf", pdf); p.status != http.StatusSeeOther ||
		p.location != "/console/processes/"+id+"?ok=evidence" {
		t.Fatalf("upload: %d %q %.500s", p.status, p.location, p.body)
	}
	proc = member.get("/console/processes/" + id)
	dl := regexp.MustCompile(`href="(/console/processes/` + id + `/evidence/[0-9a-f-]{36})">发票.pdf<`).FindStringSubmatch(proc.body)
	if dl == nil || !strings.Contains(proc.body, "原始凭证（发票、收据）") {
		t.Fatalf("the evidence is not listed:\n%.4000s", proc.body)
	}
	file := director.get(dl[1])
	if file.status != 200 || !bytes.Equal([]byte(file.body), pdf) || !strings.HasPrefix(file.header.Get("Content-Disposition"), "attachment") ||
		file.header.Get("X-Content-Type-Options") != "nosniff" || file.header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("download: %d %v", file.status, file.header)
	}
	if p := otherVillage.get(dl[1]); p.status != http.StatusNotFound {
		t.Fatalf("another village downloads: %d", p.status)
	}

	// Not mine to complete: the form is not shown, and the service refuses
	// a hand-made submission.
	if p := director.get("/console/processes/" + id); strings.Contains(p.body, `name="step" value="apply"`) {
		t.Fatal("the director sees the committee member's step form")
	}
	dtoken := csrfOf(t, director.get("/console/processes/"+id).body)
	if p := director.post("/console/processes/"+id+"/complete", url.Values{"csrf": {dtoken}, "step": {"apply"}}); p.status != http.StatusForbidden ||
		!strings.Contains(p.body, "这一步不由您的角色办理") {
		t.Fatalf("director completes apply: %d %.500s", p.status, p.body)
	}
	if p := otherVillage.get("/console/processes/" + id); p.status != http.StatusNotFound {
		t.Fatalf("another village reads the process: %d", p.status)
	}

	// The member completes apply; the chair reviews read-only but for his step.
	if p := member.post("/console/processes/"+id+"/complete", url.Values{"csrf": {ptoken}, "step": {"apply"}, "note": {"附发票 1 张"}}); p.status != http.StatusSeeOther ||
		p.location != "/console/processes/"+id+"?ok=completed" {
		t.Fatalf("complete apply: %d %q %.500s", p.status, p.location, p.body)
	}
	tasks := chair.get("/console")
	if !strings.Contains(tasks.body, `href="/console/processes/`+id+`"`) || !strings.Contains(tasks.body, "村务监督委员会审核") {
		t.Fatalf("the chair's work list: %.2000s", tasks.body)
	}
	cp := chair.get("/console/processes/" + id)
	if !strings.Contains(cp.body, `name="step" value="supervision-review"`) || strings.Contains(cp.body, "/comment\"") || strings.Contains(cp.body, "/withdraw\"") {
		t.Fatalf("the chair's process page:\n%.4000s", cp.body)
	}
	ctoken := csrfOf(t, cp.body)
	if p := chair.post("/console/processes/"+id+"/complete", url.Values{"csrf": {ctoken}, "step": {"supervision-review"}, "note": {"凭证真实"}}); p.status != http.StatusSeeOther {
		t.Fatalf("review: %d %.500s", p.status, p.body)
	}
	if p := chair.post("/console/processes/"+id+"/comment", url.Values{"csrf": {ctoken}, "body": {"监督意见"}}); p.status != http.StatusSeeOther {
		// Comments are the service's to refuse or accept; the console
		// only hides the form from supervisors.
		t.Logf("a supervisor's hand-made comment: %d", p.status)
	}

	// The director must choose the next step; the amount is above both
	// thresholds, so: the representatives' resolution, then the town.
	dp := director.get("/console/processes/" + id)
	if !strings.Contains(dp.body, `name="next" value="representatives-resolution"`) || !strings.Contains(dp.body, `name="next" value="payment"`) {
		t.Fatalf("next-step choice missing:\n%.4000s", dp.body)
	}
	for _, st := range []struct{ step, next string }{{"approval", "representatives-resolution"}, {"representatives-resolution", "town-approval"}} {
		if p := director.post("/console/processes/"+id+"/complete", url.Values{"csrf": {dtoken}, "step": {st.step}, "next": {st.next}}); p.status != http.StatusSeeOther {
			t.Fatalf("%s: %d %.500s", st.step, p.status, p.body)
		}
	}

	// Town finance: the approval waits in its town-wide list, named by village.
	ft := finance.get("/console")
	if !strings.Contains(ft.body, `href="/console/processes/`+id+`"`) || !strings.Contains(ft.body, "岩头村") || !strings.Contains(ft.body, "镇（街道）审批（超限额）") {
		t.Fatalf("town finance's work list:\n%.3000s", ft.body)
	}
	ftoken := csrfOf(t, finance.get("/console/processes/"+id).body)
	if p := finance.post("/console/processes/"+id+"/complete", url.Values{"csrf": {ftoken}, "step": {"town-approval"}, "note": {"同意"}}); p.status != http.StatusSeeOther ||
		!strings.HasSuffix(p.location, "?ok=completed") {
		t.Fatalf("town approval: %d %q %.500s", p.status, p.location, p.body)
	}

	// Overdue stands out: thirty days later the cashier's step is late.
	consoleNow = func() time.Time { return time.Now().Add(30 * 24 * time.Hour) }
	defer func() { consoleNow = time.Now }()
	cashier := signIn(t, env.URL, "cashier", conTown, conVillage)
	late := cashier.get("/console")
	if !strings.Contains(late.body, `class="card overdue"`) || !regexp.MustCompile(`已超期 \d+ 天`).MatchString(late.body) || !strings.Contains(late.body, "1 项已超期") {
		t.Fatalf("overdue work list:\n%.3000s", late.body)
	}
	consoleNow = time.Now

	// The town's processes by village and state.
	fp := finance.get("/console/processes")
	if !strings.Contains(fp.body, "各村流程") || !strings.Contains(fp.body, "岩头村") || !strings.Contains(fp.body, "购买办公用品") {
		t.Fatalf("town processes:\n%.3000s", fp.body)
	}

	// 我的村: grade and points with reasons; the ledger for the town.
	env.raiseWarning(t, conVillage, "deadline", time.Now())
	if _, err := env.DS.RecordEntry(context.Background(), finance.id, disclosure.EntryInput{Village: conVillage, Kind: disclosure.KindSpending,
		Category: disclosure.CategoryManagementExpenses, AmountFen: 860050, Date: time.Now().In(tz.Shanghai).Format("2006-01-02"), Description: "购买办公用品",
		Counterparty: "溪口文具店"}); err != nil {
		t.Fatalf("recording a ledger entry: %v", err)
	}
	vp := member.get("/console/village")
	if vp.status != 200 || !regexp.MustCompile(`评级 <strong class="grade-[A-D]">[A-D]</strong> · \d+ 分`).MatchString(vp.body) || !strings.Contains(vp.body, "违规预警") {
		t.Fatalf("the village page:\n%.4000s", vp.body)
	}
	if strings.Contains(vp.body, "· 100 分") {
		t.Fatalf("the warning did not lower the points:\n%.3000s", vp.body)
	}
	fv := finance.get("/console/village?village=" + conVillage)
	if fv.status != 200 || !strings.Contains(fv.body, "购买办公用品") || !strings.Contains(fv.body, "8600.50") || !strings.Contains(fv.body, "评级和积分由村干部本人") {
		t.Fatalf("the town's village page:\n%.4000s", fv.body)
	}
}

// TestConsoleCommentWithdrawAndReadOnly: a cadre comments and withdraws
// with a reason from the console; supervisors (the liaison officer) and
// district staff see the process and its warnings without action forms;
// district staff switch between towns and see what is overdue.
func TestConsoleCommentWithdrawAndReadOnly(t *testing.T) {
	env := startConsole(t)
	member := signIn(t, env.URL, "committee-member", conTown, conVillage)
	chair := signIn(t, env.URL, "supervision-chair", conTown, conVillage)
	liaison := signIn(t, env.URL, "liaison-officer", conTown, conVillage)
	district := signIn(t, env.URL, "district-discipline", "", "")

	item := member.get("/console/start/funds-non-productive-spending")
	started := member.post("/console/start/funds-non-productive-spending", url.Values{"csrf": {csrfOf(t, item.body)},
		"title": {"村民代表会议误餐费"}, "amount": {"860"}})
	m := processPath.FindStringSubmatch(started.location)
	if m == nil {
		t.Fatalf("start: %d %q %.500s", started.status, started.location, started.body)
	}
	id := m[1]
	token := csrfOf(t, member.get("/console/processes/"+id).body)
	if p := member.post("/console/processes/"+id+"/comment", url.Values{"csrf": {token}, "body": {"人数 12 人，标准 70 元"}}); p.status != http.StatusSeeOther ||
		!strings.HasSuffix(p.location, "?ok=comment") {
		t.Fatalf("comment: %d %q %.500s", p.status, p.location, p.body)
	}
	// The accountant records the reimbursement out of order (done on
	// paper), with a reason: the service raises an order warning.
	accountant := signIn(t, env.URL, "accountant", conTown, conVillage)
	ap := accountant.get("/console/processes/" + id)
	if !strings.Contains(ap.body, `name="step" value="reimburse"`) || !strings.Contains(ap.body, `name="outOfOrder" value="1"`) {
		t.Fatalf("no out-of-order form for the accountant:\n%.3000s", ap.body)
	}
	atoken := csrfOf(t, ap.body)
	if p := accountant.post("/console/processes/"+id+"/complete", url.Values{"csrf": {atoken}, "step": {"reimburse"}, "outOfOrder": {"1"}, "reason": {""}}); p.status != http.StatusConflict {
		t.Fatalf("out of order without a reason: %d %.500s", p.status, p.body)
	}
	if p := accountant.post("/console/processes/"+id+"/complete", url.Values{"csrf": {atoken}, "step": {"reimburse"}, "outOfOrder": {"1"},
		"reason": {"纸质报销单已于上周办理"}}); p.status != http.StatusSeeOther || !strings.HasSuffix(p.location, "?ok=warned") {
		t.Fatalf("out of order: %d %q %.500s", p.status, p.location, p.body)
	}
	if p := member.get("/console/processes/" + id); !strings.Contains(p.body, "未按顺序办理") || !strings.Contains(p.body, "纸质报销单已于上周办理") {
		t.Fatalf("the order warning is not shown:\n%.4000s", p.body)
	}

	// An empty reason is the service's refusal, shown on the page with the form kept.
	if p := member.post("/console/processes/"+id+"/withdraw", url.Values{"csrf": {token}, "reason": {""}}); p.status != http.StatusBadRequest ||
		!strings.Contains(p.body, `class="error"`) {
		t.Fatalf("withdraw without a reason: %d %.500s", p.status, p.body)
	}

	// The supervisors: the process and its trail, no forms (the chair
	// records only the review steps the power list gives him); the
	// liaison officer starts what the list gives his role (petitions).
	for _, s := range []*staff{chair, liaison} {
		lp := s.get("/console/processes/" + id)
		if lp.status != 200 || !strings.Contains(lp.body, "人数 12 人，标准 70 元") || strings.Contains(mainOf(lp.body), `method="post"`) {
			t.Fatalf("the %s's process page: %d\n%.3000s", s.role, lp.status, lp.body)
		}
	}
	if p := chair.get("/console/start"); !strings.Contains(p.body, "没有可以发起的事项") {
		t.Fatalf("the chair's start page: %.1000s", p.body)
	}
	if p := liaison.get("/console/start"); !strings.Contains(p.body, `href="/console/start/duty-petition-handling"`) {
		t.Fatalf("the liaison officer's start page: %.1000s", p.body)
	}

	if p := member.post("/console/processes/"+id+"/withdraw", url.Values{"csrf": {token}, "reason": {"会议取消"}}); p.status != http.StatusSeeOther ||
		!strings.HasSuffix(p.location, "?ok=withdrawn") {
		t.Fatalf("withdraw: %d %q %.500s", p.status, p.location, p.body)
	}
	wp := member.get("/console/processes/" + id)
	if !strings.Contains(wp.body, "已撤回") || !strings.Contains(wp.body, "会议取消") || strings.Contains(wp.body, `action="/console/processes/`+id+`/complete"`) {
		t.Fatalf("the withdrawn process:\n%.3000s", wp.body)
	}

	// District staff: the town switcher, overdue steps, no forms.
	second := signIn(t, env.URL, "committee-member", conTown, conVillage)
	st := second.get("/console/start/funds-expenditure")
	late := second.post("/console/start/funds-expenditure", url.Values{"csrf": {csrfOf(t, st.body)}, "title": {"修缮会议室"}, "amount": {"1200"}})
	lm := processPath.FindStringSubmatch(late.location)
	if lm == nil {
		t.Fatalf("start: %d %.300s", late.status, late.body)
	}
	consoleNow = func() time.Time { return time.Now().Add(20 * 24 * time.Hour) }
	defer func() { consoleNow = time.Now }()
	dt := district.get("/console")
	if dt.status != 200 || !strings.Contains(dt.body, `name="town"`) || !strings.Contains(dt.body, "溪口镇超期未办的步骤") ||
		!strings.Contains(dt.body, `href="/console/processes/`+lm[1]+`"`) || strings.Contains(dt.body, `href="/console/processes/`+id+`"`) {
		t.Fatalf("the district's work list:\n%.3000s", dt.body)
	}
	if p := district.get("/console/town?town=" + conTown); p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Set-Cookie"), consoleTownCookie+"="+conTown) {
		t.Fatalf("choosing a town: %d %v", p.status, p.header)
	}
	dp := district.get("/console/processes/" + lm[1])
	if dp.status != 200 || strings.Contains(mainOf(dp.body), `method="post"`) {
		t.Fatalf("the district's process page: %d\n%.2000s", dp.status, dp.body)
	}
}

// A service that no longer accepts the session sends the browser to sign in
// again, back to the page it was on.
func TestConsoleServiceRefusesTheSession(t *testing.T) {
	for _, tc := range []struct {
		method, target, want string
	}{
		{"GET", "/console/village?village=" + conVillage, "/auth/login?return_to=%2Fconsole%2Fvillage%3Fvillage%3D" + conVillage},
		{"POST", "/console/processes/0b7d2a1c-1111-4222-8333-944455556666/complete", "/auth/login?return_to=%2Fconsole%2Fprocesses%2F0b7d2a1c-1111-4222-8333-944455556666"},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		r.SetPathValue("id", "0b7d2a1c-1111-4222-8333-944455556666")
		w := httptest.NewRecorder()
		(&consoleReq{w: w, r: r}).failAPI(&apiError{Status: http.StatusUnauthorized, Title: "Authentication required"})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != tc.want {
			t.Errorf("%s %s: %d %q", tc.method, tc.target, w.Code, w.Header().Get("Location"))
		}
	}
}

// mainOf is a page's <main>: the header's sign-out form is on every page.
func mainOf(body string) string {
	if i := strings.Index(body, "<main>"); i >= 0 {
		body = body[i:]
	}
	if i := strings.Index(body, "</main>"); i >= 0 {
		body = body[:i]
	}
	return body
}
