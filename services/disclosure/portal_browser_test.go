package disclosure

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// The village portal in a real Chromium (testinfra.Browser, a phone-sized
// window): every section renders, runs clean (no console errors, no failed
// requests), passes the accessibility checks, fits the phone's width and
// never shows a household's full name or ID number in the rendered DOM; the
// own-payments lookup, the tracking-number form, the flowchart's current
// step and the tab bar work by clicking, as a villager would.

// household is a subsidy recipient whose full data the test knows.
type household struct{ name, id string }

// idWithCheck completes 17 digits with their GB 11643 check character.
func idWithCheck(first17 string) string { return first17 + string(personal.IDCheckChar(first17)) }

var (
	hhZhang   = household{"张小明", idZhang}
	hhOuyang  = household{"欧阳小锋", idOuyang}
	hhLi      = household{"李娜", idWithCheck("33021319850715654")}
	hhZhangDa = household{"张大明", idWithCheck("33021319720303441")} // masked like 张小明: 张*明
	// browserSecrets must never be in a rendered page: full names and ID
	// numbers (and their birth dates, the masked middle), a counterparty's
	// and a payee's full names, a mobile number.
	browserSecrets = []string{hhZhang.name, hhZhang.id, hhOuyang.name, hhOuyang.id, hhLi.name, hhLi.id, hhZhangDa.name, hhZhangDa.id,
		"19900101", "19491231", "19850715", "19720303", "张三丰", "王小五", "13812345678"}
)

// browserVillage is the seeded village: its base path and its processes.
type browserVillage struct {
	base                string
	completed, running  string // tracking numbers
	privateWarningText  string
	publicWarningMasked string
}

// seedBrowserVillage records, through the service's own write paths, a
// wallet across January to March (a named counterparty, a reversed entry,
// an entry booked by a completed process), subsidy payments of four
// households (one payment reversed), and processes fed through the real
// workflow-event handler: a completed one and a running one with a public
// and a private warning.
func seedBrowserVillage(t *testing.T, s *Service) browserVillage {
	t.Helper()
	ctx := context.Background()
	bv := browserVillage{base: "/v/" + village, privateWarningText: "内部预警：亲属关系待核", publicWarningMasked: personal.MaskIDNumber(hhOuyang.id)}
	for _, in := range []EntryInput{
		{Village: village, Kind: KindIncome, Category: CategoryContractIncome, AmountFen: 1_200_000, Date: "2026-01-10",
			Description: "鱼塘发包收入", Counterparty: "张三丰"},
		{Village: village, Kind: KindSpending, Category: CategoryManagementExpenses, AmountFen: 30_000, Date: "2026-02-03",
			Description: "办公用品（联系人 13812345678）"},
		{Village: village, Kind: KindSpending, Category: CategoryManagementExpenses, AmountFen: 3_000, Date: "2026-02-04",
			Description: "办公用品"},
	} {
		e, err := s.RecordEntry(ctx, "finance-1", in)
		if err != nil {
			t.Fatal(err)
		}
		if in.AmountFen == 30_000 {
			if _, err := s.ReverseEntry(ctx, e.ID, "金额录错，应为 30 元", "finance-1"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range []struct {
		hh        household
		programme string
		fen       int64
		paidOn    string
		reverse   string
	}{
		{hhZhang, "耕地地力保护补贴", 52_300, "2026-02-20", ""},
		{hhOuyang, "耕地地力保护补贴", 61_000, "2026-02-20", ""},
		{hhLi, "耕地地力保护补贴", 48_800, "2026-02-20", ""},
		{hhZhangDa, "耕地地力保护补贴", 39_900, "2026-02-20", ""},
		{hhZhang, "高龄津贴", 20_000, "2026-03-05", ""},
		{hhOuyang, "高龄津贴", 8_000, "2026-03-05", "重复发放，已追回"},
	} {
		paid, err := s.RecordPayment(ctx, "finance-1", PaymentRequest{Village: village, Programme: p.programme, HouseholdName: p.hh.name,
			IDNumber: p.hh.id, AmountFen: p.fen, PaidOn: p.paidOn})
		if err != nil {
			t.Fatal(err)
		}
		if p.reverse != "" {
			if _, err := s.ReversePayment(ctx, paid.ID, p.reverse, "finance-1"); err != nil {
				t.Fatal(err)
			}
		}
	}

	completed := expenditure(t, village, village+"-20260301-DONE1")
	completed.add(t, village, eventsv1.TypeInstanceStarted, eventsv1.InstanceStarted{InstanceRef: completed.ref, Title: "购买保洁工具",
		AmountFen: 88_000, StartedBy: "c1", StartedAt: at(1, 9)})
	for i, st := range []struct{ id, next string }{{"apply", "supervision-review"}, {"supervision-review", "approval"},
		{"approval", "payment"}, {"payment", "bookkeeping"}, {"bookkeeping", "disclosure"}, {"disclosure", ""}} {
		completed.add(t, village, eventsv1.TypeStepCompleted, eventsv1.StepCompleted{InstanceRef: completed.ref, StepID: st.id,
			ActorID: "c1", ActorRole: "secretary", CompletedAt: at(2+i, 10), NextStep: st.next})
	}
	completed.add(t, village, eventsv1.TypeInstanceCompleted, eventsv1.InstanceCompleted{InstanceRef: completed.ref, Title: "购买保洁工具",
		AmountFen: 88_000, PayeeName: "王小五", CompletedAt: at(8, 16)})

	running := expenditure(t, village, village+"-20260310-RUN01")
	running.add(t, village, eventsv1.TypeInstanceStarted, eventsv1.InstanceStarted{InstanceRef: running.ref, Title: "修缮村道",
		StartedBy: "c1", StartedAt: at(10, 9)})
	running.add(t, village, eventsv1.TypeStepCompleted, eventsv1.StepCompleted{InstanceRef: running.ref, StepID: "apply",
		StepName: "经办人提出支出申请", CompletedAt: at(10, 10), NextStep: "supervision-review"})
	running.add(t, village, eventsv1.TypeWarningRaised, eventsv1.WarningRaised{InstanceRef: running.ref, WarningID: uuid.NewString(),
		StepID: "apply", Rule: "evidence-required", Message: "缺少报价单（经办人身份证 " + hhOuyang.id + "）", Norm: "支出须附三家报价",
		Basis: "村级财务管理办法", Public: true, RaisedAt: at(10, 11)})
	running.add(t, village, eventsv1.TypeWarningRaised, eventsv1.WarningRaised{InstanceRef: running.ref, WarningID: uuid.NewString(),
		StepID: "apply", Rule: "conflict-of-interest", Message: bv.privateWarningText, Public: false, RaisedAt: at(10, 12)})

	for _, p := range []*processFixture{completed, running} {
		for _, ev := range p.events {
			if err := applyEvent(t, s, ev); err != nil {
				t.Fatalf("%s: %v", ev.Type, err)
			}
		}
	}
	bv.completed, bv.running = completed.ref.TrackingNumber, running.ref.TrackingNumber
	return bv
}

// browserPortal is a served, seeded portal and a fresh browser tab with a
// phone's viewport (the harness emulates it; checked here, as the layout
// checks depend on it).
func browserPortal(t *testing.T) (*httptest.Server, browserVillage, *testinfra.Page) {
	t.Helper()
	s := portalService(t, newService(t, testTown))
	ts := serve(t, s)
	bv := seedBrowserVillage(t, s)
	p := testinfra.Browser(t)
	p.Navigate(ts.URL + bv.base)
	if w := testinfra.Eval[int](p, `window.innerWidth`); w != testinfra.PhoneWidth {
		t.Fatalf("the page is laid out %dpx wide, want the phone's %dpx", w, testinfra.PhoneWidth)
	}
	return ts, bv, p
}

// expectMasked fails if the rendered page (its text as shown, and its whole
// markup) holds any full personal data, or lacks the masked forms wanted.
func expectMasked(t *testing.T, p *testinfra.Page, masked ...string) {
	t.Helper()
	text := strings.ToUpper(testinfra.Eval[string](p, `document.body.innerText`))
	markup := strings.ToUpper(testinfra.Eval[string](p, `document.documentElement.outerHTML`))
	for _, secret := range browserSecrets {
		s := strings.ToUpper(secret)
		if strings.Contains(text, s) {
			t.Errorf("the page's text shows %q in full", secret)
		}
		if strings.Contains(markup, s) {
			t.Errorf("the page's markup holds %q in full", secret)
		}
	}
	for _, m := range masked {
		if !strings.Contains(text, strings.ToUpper(m)) {
			t.Errorf("the page's text lacks the masked %q", m)
		}
	}
}

// expectSection checks what every section promises: its title, texts,
// no horizontal scrolling of the page at the phone's width, no script
// error or failed request, the accessibility checks, and a screenshot.
func expectSection(t *testing.T, p *testinfra.Page, shot, title string, want ...string) string {
	t.Helper()
	if got := p.Text("header h1"); got != title {
		t.Errorf("title %q, want %q", got, title)
	}
	body := p.Text("body")
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("the page lacks %q", w)
		}
	}
	// Wide tables and the flowchart scroll inside their own box; the page
	// itself must not scroll sideways on a phone.
	if w := testinfra.Eval[[]int](p, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
		t.Errorf("the page is %dpx wide in a %dpx window", w[0], w[1])
	}
	for _, problem := range testinfra.Eval[[]string](p, layoutJS) {
		t.Errorf("layout: %s", problem)
	}
	p.ExpectClean()
	p.ExpectAccessible()
	return p.Screenshot(shot)
}

// layoutJS finds what a phone's narrow screen breaks and the page-width
// check misses: content spilling out of its box (outside the boxes meant
// to scroll sideways, tables and the flowchart), and table text squeezed
// into a column narrower than three characters.
const layoutJS = `(() => {
	const problems = [];
	const describe = (e) => e.tagName.toLowerCase() + (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\s+/).join(".") : "");
	for (const e of document.body.querySelectorAll("*")) {
		if (e.closest("svg") || (e.parentElement && e.parentElement.closest(".scroll, .flow"))) continue;
		if (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1 && !e.matches(".scroll, .flow")) {
			problems.push(describe(e) + " overflows its box: " + e.scrollWidth + "px of content in " + e.clientWidth + "px (" + e.innerText.slice(0, 40) + ")");
		}
	}
	for (const c of document.querySelectorAll("main td, main th")) {
		const s = getComputedStyle(c);
		const width = c.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
		if (c.innerText.trim().length >= 4 && width < 3 * parseFloat(s.fontSize)) {
			problems.push("table cell squeezed to " + Math.round(width) + "px: " + c.innerText.trim().slice(0, 40));
		}
	}
	return problems;
})()`

// headings are the texts of the page's h2 elements.
func headings(p *testinfra.Page) []string {
	return testinfra.Eval[[]string](p, `[...document.querySelectorAll("main h2")].map(h => h.innerText.trim())`)
}

func expectHeadings(t *testing.T, p *testinfra.Page, want ...string) {
	t.Helper()
	got := headings(p)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("headings %q lack %q", got, w)
		}
	}
}

// tableRows are the cell texts of the body rows of the main part's n-th
// table (from 0).
func tableRows(p *testinfra.Page, n int) [][]string {
	return testinfra.Eval[[][]string](p, fmt.Sprintf(`(() => {
		const t = document.querySelectorAll("main table")[%d];
		return t ? [...t.tBodies[0].rows].map(r => [...r.cells].map(c => c.innerText.trim())) : [];
	})()`, n))
}

func TestPortalBrowserWallet(t *testing.T) {
	ts, bv, p := browserPortal(t)
	if st := p.Navigate(ts.URL + bv.base); st != 200 {
		t.Fatalf("wallet: HTTP %d", st)
	}
	expectSection(t, p, "wallet", "我们的钱包 · 2026年", "12000.00 元", "910.00 元", "11090.00 元",
		"鱼塘发包收入", "购买保洁工具", "金额录错，应为 30 元", "已被第3笔冲销")
	expectHeadings(t, p, "2026年收支概况", "按月", "按科目", "每一笔账", "下载数据")
	expectMasked(t, p, "张*丰", "王*五", "138****5678")

	// Per month, the reversal netted out in February where its original is.
	months := tableRows(p, 0)
	if len(months) != 12 {
		t.Fatalf("%d month rows: %q", len(months), months)
	}
	for i, want := range [][]string{
		{"1月", "12000.00", "0.00", "12000.00", "12000.00"},
		{"2月", "0.00", "30.00", "-30.00", "11970.00"},
		{"3月", "0.00", "880.00", "-880.00", "11090.00"},
	} {
		if !slices.Equal(months[i], want) {
			t.Errorf("month row %d: %q, want %q", i+1, months[i], want)
		}
	}
	// Both charts are drawn, at a size that fits the phone.
	charts := testinfra.Eval[[]float64](p, `[...document.querySelectorAll("svg.chart")].map(s => s.getBoundingClientRect().width)`)
	if len(charts) != 2 || charts[0] < 300 || charts[0] > testinfra.PhoneWidth || charts[1] < 300 || charts[1] > testinfra.PhoneWidth {
		t.Errorf("chart widths %v, want two between 300px and the phone's width", charts)
	}
	if !p.Exists(`svg.chart rect title`) || !strings.Contains(p.OuterHTML("svg.chart"), "1月收入 12000.00元") {
		t.Error("the monthly chart lacks January's income bar")
	}

	// The reversed entry and its reversal are both listed, flagged, and
	// link to each other.
	for _, tc := range []struct{ sel, want string }{
		{"li.entry.reversed", "已被第3笔冲销"},
		{"li.entry.reversal", "冲销第2笔。原因：金额录错，应为 30 元"},
	} {
		if got := p.Text(tc.sel); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q lacks %q", tc.sel, got, tc.want)
		}
	}
	if !p.Exists(`li.entry.reversed a[href="#seq-3"]`) || !p.Exists(`li.entry.reversal a[href="#seq-2"]`) {
		t.Error("the reversal and its original do not link to each other")
	}

	// The entry booked by the completed process links to it.
	link := fmt.Sprintf(`li.entry a[href="%s/processes/%s"]`, bv.base, bv.completed)
	if got := p.Text(link); got != bv.completed {
		t.Fatalf("link to the process: %q", got)
	}
	if st := p.ClickAndWait(link); st != 200 {
		t.Fatalf("process page: HTTP %d", st)
	}
	expectSection(t, p, "process-completed", "流程到哪了 · "+bv.completed, "购买保洁工具", "已办结", "出纳支付", "2026-03-08 16:00")
	expectMasked(t, p)
	if n := testinfra.Eval[int](p, `document.querySelectorAll(".flow svg g.step.current").length`); n != 0 {
		t.Errorf("a completed process marks %d current steps", n)
	}
}

func TestPortalBrowserSubsidies(t *testing.T) {
	ts, bv, p := browserPortal(t)
	if st := p.Navigate(ts.URL + bv.base + "/subsidies"); st != 200 {
		t.Fatalf("subsidies: HTTP %d", st)
	}
	expectSection(t, p, "subsidies", "补贴去哪了 · 2026年", "耕地地力保护补贴", "高龄津贴", "重复发放，已追回",
		"为保护个人信息，姓名和身份证号只显示部分。")
	expectHeadings(t, p, "2026年各项补贴", "发放明细", "查询我家的补贴")
	expectMasked(t, p, "张*明", "欧**锋", "李*", "330283********1238", "110105********002X",
		personal.MaskIDNumber(hhLi.id), personal.MaskIDNumber(hhZhangDa.id))

	// Every detail row shows a masked name and ID number, nothing more.
	rows := tableRows(p, 1)
	if len(rows) != 7 { // six payments and one reversal
		t.Fatalf("%d detail rows: %q", len(rows), rows)
	}
	masked := map[string]bool{}
	for _, hh := range []household{hhZhang, hhOuyang, hhLi, hhZhangDa} {
		masked[personal.MaskName(hh.name)+" "+personal.MaskIDNumber(hh.id)] = true
	}
	for _, r := range rows {
		if !masked[r[2]+" "+r[3]] {
			t.Errorf("detail row not masked as a household's: %q", r)
		}
	}

	// Table-driven: the own-payments form, filled in and submitted.
	for _, tc := range []struct {
		name     string
		id, who  string
		status   int64
		amounts  []string // the rows' amounts, sorted (the test's clock records a reversal at its original's instant)
		total    string
		message  string
		problems []string // failed requests expected
	}{
		{name: "own payments", id: hhZhang.id, who: hhZhang.name, status: 200, amounts: []string{"200.00", "523.00"}, total: "723.00"},
		{name: "another household", id: hhLi.id, who: hhLi.name, status: 200, amounts: []string{"488.00"}, total: "488.00"},
		{name: "reversal included, lower-case x", id: strings.ToLower(hhOuyang.id), who: hhOuyang.name, status: 200,
			amounts: []string{"-80.00", "610.00", "80.00"}, total: "610.00"},
		{name: "right ID, wrong name", id: hhZhang.id, who: hhZhangDa.name, status: 200,
			message: "没有找到与您填写的身份证号、姓名和查询码相符的发放记录"},
		{name: "name of the ID's holder misspelt", id: hhLi.id, who: "李那", status: 200,
			message: "没有找到与您填写的身份证号、姓名和查询码相符的发放记录"},
		{name: "malformed ID", id: "33028319900101123", who: hhZhang.name, status: 400,
			message: "身份证号格式不正确", problems: []string{"HTTP 400"}},
	} {
		p.ResetProblems()
		p.Navigate(ts.URL + bv.base + "/subsidies")
		p.SetValue("#idNumber", tc.id)
		p.SetValue("#name", tc.who)
		p.SetValue("#lookupCode", strings.ToLower(codeOf(tc.id))) // as typed from the payment notice
		if st := p.ClickAndWait(`form[action$="/subsidies/lookup"] button[type=submit]`); st != tc.status {
			t.Errorf("%s: HTTP %d, want %d", tc.name, st, tc.status)
		}
		if got := p.Text("header h1"); got != "我的补贴查询结果" {
			t.Errorf("%s: title %q", tc.name, got)
		}
		body := p.Text("main")
		if tc.message != "" && !strings.Contains(body, tc.message) {
			t.Errorf("%s: no message %q in %q", tc.name, tc.message, body)
		}
		got := tableRows(p, 0)
		var amounts []string
		for _, r := range got {
			amounts = append(amounts, r[4])
			// Exactly that person: every row carries their masked name and ID.
			if want := []string{personal.MaskName(tc.who), personal.MaskIDNumber(tc.id)}; !slices.Equal(r[2:4], want) {
				t.Errorf("%s: row %q is not %q's", tc.name, r, want)
			}
		}
		slices.Sort(amounts)
		if !slices.Equal(amounts, tc.amounts) {
			t.Errorf("%s: amounts %q, want %q", tc.name, amounts, tc.amounts)
		}
		if tc.total != "" && !strings.Contains(body, fmt.Sprintf("共找到 %d 条记录，合计 %s 元", len(tc.amounts), tc.total)) {
			t.Errorf("%s: summary missing in %q", tc.name, body)
		}
		// What was typed is not written back into the page.
		if v := testinfra.Eval[[]string](p, `[document.getElementById("idNumber").value, document.getElementById("name").value, document.getElementById("lookupCode").value]`); v[0] != "" || v[1] != "" || v[2] != "" {
			t.Errorf("%s: the form is refilled with %q", tc.name, v)
		}
		expectMasked(t, p)
		failed := p.FailedRequests()
		if len(failed) != len(tc.problems) {
			t.Errorf("%s: failed requests %q, want %q", tc.name, failed, tc.problems)
		}
		for i := range min(len(failed), len(tc.problems)) {
			if !strings.Contains(failed[i], "/subsidies/lookup: "+tc.problems[i]) {
				t.Errorf("%s: failed request %q, want %q", tc.name, failed[i], tc.problems[i])
			}
		}
		if errs := p.ConsoleErrors(); len(errs) != 0 {
			t.Errorf("%s: console: %q", tc.name, errs)
		}
		for _, problem := range testinfra.Eval[[]string](p, layoutJS) {
			t.Errorf("%s: layout: %s", tc.name, problem)
		}
		p.ExpectAccessible()
		p.Screenshot("lookup-" + tc.name)
	}

	// The browser itself refuses an empty form (required fields).
	p.Navigate(ts.URL + bv.base + "/subsidies")
	if testinfra.Eval[bool](p, `document.querySelector('form[action$="/subsidies/lookup"]').checkValidity()`) {
		t.Error("an empty lookup form is valid")
	}
}

func TestPortalBrowserProcesses(t *testing.T) {
	ts, bv, p := browserPortal(t)
	if st := p.Navigate(ts.URL + bv.base + "/processes"); st != 200 {
		t.Fatalf("process form: HTTP %d", st)
	}
	expectSection(t, p, "processes", "流程到哪了", "输入办件编号")
	if got := p.Text(`label[for=tracking]`); got != "办件编号" {
		t.Errorf("label %q", got)
	}

	// The tracking number typed into the form leads to the process.
	p.SetValue("#tracking", bv.running)
	if st := p.ClickAndWait(`form[action$="/processes"] button[type=submit]`); st != 200 {
		t.Fatalf("process: HTTP %d", st)
	}
	if got := testinfra.Eval[string](p, `location.pathname`); got != bv.base+"/processes/"+bv.running {
		t.Errorf("landed on %s", got)
	}
	expectSection(t, p, "process-running", "流程到哪了 · "+bv.running, "村级财务支出审批", "修缮村道", "办理中",
		"当前步骤", "村务监督委员会审核", "违规预警", "缺少报价单", "支出须附三家报价", "村级财务管理办法", "2026-03-10 10:00")
	expectHeadings(t, p, "办理经过", "流程图")
	expectMasked(t, p, bv.publicWarningMasked)
	if body := testinfra.Eval[string](p, `document.documentElement.outerHTML`); strings.Contains(body, bv.privateWarningText) ||
		strings.Contains(body, "亲属关系") {
		t.Error("the private warning is on the public page")
	}
	if n := testinfra.Eval[int](p, `document.querySelectorAll(".warning[role=note]").length`); n != 1 {
		t.Errorf("%d warnings shown, want the public one only", n)
	}

	// The flowchart marks the current step, and the browser draws it so.
	flow := testinfra.Eval[struct {
		Current []string
		Done    []string
		Steps   int
		Marker  string
		Stroke  string
		Width   float64
	}](p, `(() => {
		const svg = document.querySelector(".flow svg");
		if (!svg) return {Current: [], Done: [], Steps: 0, Marker: "", Stroke: "", Width: 0};
		const cur = [...svg.querySelectorAll("g.step.current")];
		return {
			Current: cur.map(g => g.dataset.step),
			Done: [...svg.querySelectorAll("g.step.done")].map(g => g.dataset.step),
			Steps: svg.querySelectorAll("g.step").length,
			Marker: cur.length ? [...cur[0].querySelectorAll("text")].map(e => e.textContent).join("|") : "",
			Stroke: cur.length ? getComputedStyle(cur[0].querySelector("rect")).stroke : "",
			Width: svg.getBoundingClientRect().width,
		};
	})()`)
	if !slices.Equal(flow.Current, []string{"supervision-review"}) || !slices.Equal(flow.Done, []string{"apply"}) || flow.Steps != 8 {
		t.Errorf("flowchart: current %q, done %q, %d steps", flow.Current, flow.Done, flow.Steps)
	}
	if !strings.Contains(flow.Marker, "村务监督委员会审核") || !strings.Contains(flow.Marker, "● 当前步骤") {
		t.Errorf("current step box says %q", flow.Marker)
	}
	if flow.Stroke != "rgb(194, 94, 0)" { // #c25e00, the chart's own style for the current step
		t.Errorf("current step drawn with stroke %q", flow.Stroke)
	}
	if flow.Width <= 0 || flow.Width > testinfra.PhoneWidth {
		t.Errorf("flowchart %.0fpx wide on a %dpx phone", flow.Width, testinfra.PhoneWidth)
	}

	// The item's name links to its page in the power list.
	if st := p.ClickAndWait(`main h2 a[href$="/powers/funds-expenditure"]`); st != 200 {
		t.Fatalf("power item: HTTP %d", st)
	}
	if got := p.Text("header h1"); got != "村级财务支出审批" {
		t.Errorf("power item title %q", got)
	}

	// An unknown number: a clear page, not a crash.
	p.Navigate(ts.URL + bv.base + "/processes")
	p.ResetProblems()
	p.SetValue("#tracking", village+"-20260101-NOPE1")
	if st := p.ClickAndWait(`form[action$="/processes"] button[type=submit]`); st != 404 {
		t.Errorf("unknown tracking number: HTTP %d", st)
	}
	if body := p.Text("main"); !strings.Contains(body, "本村没有办件编号为“"+village+"-20260101-NOPE1”的流程，请核对编号。") {
		t.Errorf("unknown tracking number: %q", body)
	}
	if got := p.Text("header h1"); got != "没有找到这个流程" {
		t.Errorf("unknown tracking number: title %q", got)
	}
	if errs := p.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("console: %q", errs)
	}
	p.ExpectAccessible()
	p.Screenshot("process-unknown")
}

func TestPortalBrowserPowers(t *testing.T) {
	ts, bv, p := browserPortal(t)
	if st := p.Navigate(ts.URL + bv.base + "/powers"); st != 200 {
		t.Fatalf("powers: HTTP %d", st)
	}
	expectSection(t, p, "powers", "权力清单", "清单之外无权力")
	expectHeadings(t, p, "小决策", "小资金（资产、资源）", "小项目", "便民服务（最多跑一次）")
	links := testinfra.Eval[int](p, `document.querySelectorAll("main li a[href*='/powers/']").length`)
	if !strings.Contains(p.Text("main"), fmt.Sprintf("共 %d 项", links)) || links < 10 {
		t.Errorf("%d items linked; the page says %q", links, p.Text("main p"))
	}
	expectMasked(t, p)

	if st := p.ClickAndWait(fmt.Sprintf(`main a[href="%s/powers/funds-expenditure"]`, bv.base)); st != 200 {
		t.Fatalf("power item: HTTP %d", st)
	}
	expectSection(t, p, "power-funds-expenditure", "村级财务支出审批", "经办人提出支出申请", "村务监督委员会审核", "出纳支付")
	expectHeadings(t, p, "流程图", "办理步骤", "法律法规依据")
	flow := testinfra.Eval[struct {
		Title   string
		Steps   int
		Current int
		Rows    int
		Width   float64
	}](p, `(() => {
		const svg = document.querySelector(".flow svg");
		if (!svg) return {Title: "", Steps: 0, Current: 0, Rows: 0, Width: 0};
		return {
			Title: svg.querySelector("title").textContent,
			Steps: svg.querySelectorAll("g.step").length,
			Current: svg.querySelectorAll("g.step.current, g.step.done").length,
			Rows: document.querySelectorAll(".flow + h2 + .scroll tbody tr").length,
			Width: svg.getBoundingClientRect().width,
		};
	})()`)
	if flow.Title != "村级财务支出审批流程图" || flow.Steps != 8 || flow.Rows != flow.Steps || flow.Current != 0 {
		t.Errorf("flowchart %+v: want its title, 8 steps as in the steps table, none marked", flow)
	}
	if flow.Width <= 0 || flow.Width > testinfra.PhoneWidth {
		t.Errorf("flowchart %.0fpx wide on a %dpx phone", flow.Width, testinfra.PhoneWidth)
	}
	expectMasked(t, p)
}

// TestPortalBrowserTabs: the tab bar leads to every section, marking the
// current one, and fits the phone's width.
func TestPortalBrowserTabs(t *testing.T) {
	ts, bv, p := browserPortal(t)
	p.Navigate(ts.URL + bv.base)
	for _, tc := range []struct{ path, tab, title string }{
		{"/subsidies", "补贴去哪了", "补贴去哪了 · 2026年"},
		{"/processes", "流程到哪了", "流程到哪了"},
		{"/powers", "权力清单", "权力清单"},
		{"", "我们的钱包", "我们的钱包 · 2026年"},
	} {
		if st := p.ClickAndWait(fmt.Sprintf(`nav.tabs a[href="%s%s"]`, bv.base, tc.path)); st != 200 {
			t.Fatalf("tab %s: HTTP %d", tc.tab, st)
		}
		if got := testinfra.Eval[string](p, `location.pathname`); got != bv.base+tc.path {
			t.Errorf("tab %s: at %s", tc.tab, got)
		}
		if got := p.Text(`nav.tabs a[aria-current=page]`); got != tc.tab {
			t.Errorf("tab %s: marked tab %q", tc.tab, got)
		}
		if n := testinfra.Eval[int](p, `document.querySelectorAll("nav.tabs a[aria-current]").length`); n != 1 {
			t.Errorf("tab %s: %d tabs marked", tc.tab, n)
		}
		if got := p.Text("header h1"); got != tc.title {
			t.Errorf("tab %s: title %q", tc.tab, got)
		}
		// All four tabs are on screen, side by side, each a usable target.
		boxes := testinfra.Eval[[][]float64](p, `[...document.querySelectorAll("nav.tabs a")].map(a => { const r = a.getBoundingClientRect(); return [r.left, r.right, r.height]; })`)
		for i, b := range boxes {
			if b[0] < 0 || b[1] > testinfra.PhoneWidth || b[2] < 40 || (i > 0 && b[0] < boxes[i-1][1]-0.5) {
				t.Errorf("tab %s: tab %d at %v", tc.tab, i+1, b)
			}
		}
		p.ExpectClean()
	}
}
