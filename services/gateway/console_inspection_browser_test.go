package gateway

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestInspectionConsoleBrowser: in a real Chromium on a phone viewport,
// without any JavaScript of ours, the town's discipline office plans a
// tour, records a visit and a finding with its rectification task, issues
// a three-colour order and reads the grades; the village's supervision
// chair then sees the village's warning, the rectification task and a
// complaint on the 村务监督 page. District discipline reads the tour and
// is offered the form to plan one in the town. Every page is screenshot and checked for accessibility.
func TestInspectionConsoleBrowser(t *testing.T) {
	env := startInspectionConsole(t)
	discipline := signIn(t, env.URL, "town-discipline", conTown, "")
	chair := signIn(t, env.URL, "supervision-chair", conTown, conVillage)
	district := signIn(t, env.URL, "district-discipline", "", "")
	env.outOfOrder(t)
	env.report(t, conVillage, "funds", "村里修路的 12 万元去向不明，账上没有公开")

	p := testinfra.Browser(t)
	go_ := func(path string) {
		t.Helper()
		if st := p.Navigate(env.URL + path); st != 200 {
			t.Fatalf("%s: HTTP %d: %.500s", path, st, p.Text("main"))
		}
	}
	submit := func(sel string) {
		t.Helper()
		if st := p.ClickAndWait(sel); st != 200 {
			t.Fatalf("submitting %s: HTTP %d: %.800s", sel, st, p.Text("main"))
		}
		if p.Exists(".error") {
			t.Fatalf("after %s: %s", sel, p.Text(".error"))
		}
	}

	as(t, p, env.URL, discipline)
	go_("/console")
	if st := p.ClickAndWait(`nav.tabs a[href="/console/inspection"]`); st != 200 {
		t.Fatalf("the 巡察监督 tab: %d", st)
	}
	consoleCheck(t, p, "01-tours-empty")
	p.SetValue("#tour-name", "2026年第二轮村级巡察")
	p.SetValue("#tour-team", "王明 组长\n李红 组员")
	p.Click(`input[name=village][value="` + conVillage + `"]`)
	p.Click(`input[name=village][value="` + conVillageB + `"]`)
	submit(`form[action="/console/inspection/tours"] button[type=submit]`)
	if !strings.Contains(p.Text(".flash"), "巡察已安排") {
		t.Fatalf("after planning: %s", p.Text("main"))
	}
	consoleCheck(t, p, "02-tour")
	p.SetValue("#visit-village", conVillage)
	p.SetValue("#visit-date", yesterday())
	submit(`form[action$="/visits"] button[type=submit]`)
	if !strings.Contains(p.Text(".flash"), "走访已记录") || !strings.Contains(p.Text("main table"), yesterday()) {
		t.Fatalf("after the visit: %s", p.Text("main"))
	}
	p.SetValue("#finding-village", conVillage)
	p.SetValue("#finding-category", "财务公开")
	p.SetValue("#finding-description", "2026 年第一季度村务公开栏未公开工程款支出")
	p.Click(`input[name=severity][value=major]`)
	p.SetValue("#finding-action", "补充公开并建立公开台账")
	p.SetValue("#finding-owner", "村股份经济合作社")
	p.SetValue("#finding-deadline", inAMonth())
	consoleCheck(t, p, "03-finding-form")
	submit(`form[action$="/findings"] button[type=submit]`)
	if main := p.Text("main"); !strings.Contains(p.Text(".flash"), "问题已记录") || !strings.Contains(main, "补充公开并建立公开台账") || !strings.Contains(main, "待整改") {
		t.Fatalf("after the finding: %s", main)
	}
	consoleCheck(t, p, "04-finding")

	if st := p.ClickAndWait(`ul.chips a[href="/console/inspection/orders"]`); st != 200 {
		t.Fatalf("orders: %d", st)
	}
	p.SetValue("#order-village", conVillage)
	p.SetValue("#order-situation", "duty-07")
	p.SetValue("#order-detail", "巡察发现的财务公开问题未按期整改")
	consoleCheck(t, p, "05-order-form")
	submit(`form[action="/console/inspection/orders"] button[type=submit]`)
	if !strings.Contains(p.Text(".flash"), "督查令已签发") || !strings.Contains(p.Text("ul.cards"), "黄色督查令") {
		t.Fatalf("after the order: %s", p.Text("main"))
	}
	consoleCheck(t, p, "06-orders")
	go_("/console/inspection/grades")
	p.Click("details summary")
	if !strings.Contains(p.Text("main"), "财务公开") || !strings.Contains(p.Text("main"), "B") {
		t.Fatalf("grades: %s", p.Text("main"))
	}
	consoleCheck(t, p, "07-grades")
	// A cadre's integrity file, a record in it; cross-checks and the overview.
	go_("/console/inspection/integrity")
	p.SetValue("#file-village", conVillage)
	p.SetValue("#file-name", "张三")
	p.SetValue("#file-post", "村党组织书记")
	submit(`form[method=post][action="/console/inspection/integrity"] button[type=submit]`)
	if !p.Exists("#rec-section") {
		t.Fatalf("after creating the file: %s", p.Text("main"))
	}
	p.SetValue("#rec-section", "dispositions")
	p.SetValue("#rec-date", "2025-03")
	p.SetValue("#rec-kind", "诫勉谈话")
	p.SetValue("#rec-summary", "村务公开不及时")
	submit(`form[action$="/records"] button[type=submit]`)
	if !strings.Contains(p.Text(".flash"), "记录已加入档案") || !strings.Contains(p.Text("main"), "诫勉谈话") {
		t.Fatalf("the file after a record: %s", p.Text("main"))
	}
	consoleCheck(t, p, "07b-file")
	go_("/console/inspection/crosschecks")
	consoleCheck(t, p, "07c-crosschecks")
	go_("/console/inspection/overview")
	if !strings.Contains(p.Text("main"), "岩头村") {
		t.Fatalf("overview: %s", p.Text("main"))
	}
	consoleCheck(t, p, "07d-overview")

	// District discipline reads the town's tour, and may plan one there.
	as(t, p, env.URL, district)
	go_("/console/inspection")
	if !p.Exists(`main form[method=post][action="/console/inspection/tours"]`) || !strings.Contains(p.Text("main"), "在溪口镇安排一轮巡察") {
		t.Fatalf("district discipline is not offered the tour form of the town chosen: %s", p.Text("main"))
	}
	consoleCheck(t, p, "08-district-tours")

	// The chair: the village's warning, the rectification task, the complaint.
	as(t, p, env.URL, chair)
	go_("/console")
	if st := p.ClickAndWait(`nav.tabs a[href="/console/supervision"]`); st != 200 {
		t.Fatalf("the 村务监督 tab: %d", st)
	}
	main := p.Text("main")
	for _, want := range []string{"未按顺序办理", "补充公开并建立公开台账", "村里修路的 12 万元去向不明"} {
		if !strings.Contains(main, want) {
			t.Fatalf("the chair's page lacks %q: %s", want, main)
		}
	}
	consoleCheck(t, p, "09-chair")
}

// TestOrderAnswerBrowser: in a real Chromium on a phone viewport, the
// village's secretary opens a three-colour order from the notices page and
// answers it with the rectification report and a photo chosen in the file
// input; the town's discipline office opens the order, sees the answer,
// opens the photo and accepts the answer. Every page is screenshot and
// checked for accessibility.
func TestOrderAnswerBrowser(t *testing.T) {
	env := startInspectionConsole(t)
	discipline := signIn(t, env.URL, "town-discipline", conTown, "")
	sec := signIn(t, env.URL, "secretary", conTown, conVillage)
	op := discipline.get("/console/inspection/orders")
	issued := discipline.post("/console/inspection/orders", url.Values{"csrf": {csrfOf(t, op.body)}, "village": {conVillage},
		"situation": {"duty-02"}, "detail": {"村务公开栏三个月未更新"}})
	m := orderPath.FindStringSubmatch(issued.location)
	if m == nil {
		t.Fatalf("issuing the order: %d %q", issued.status, issued.location)
	}
	number, _ := url.QueryUnescape(m[1])
	photo := filepath.Join(t.TempDir(), "公示栏.png")
	if err := os.WriteFile(photo, grayPNG(t), 0o600); err != nil {
		t.Fatal(err)
	}

	p := testinfra.Browser(t)
	go_ := func(path string) {
		t.Helper()
		if st := p.Navigate(env.URL + path); st != 200 {
			t.Fatalf("%s: HTTP %d: %.500s", path, st, p.Text("main"))
		}
	}
	as(t, p, env.URL, sec)
	go_("/console/supervision")
	if st := p.ClickAndWait(`a[href="/console/notices"]`); st != 200 {
		t.Fatalf("the notices page: %d", st)
	}
	if !strings.Contains(p.Text("main"), number) {
		t.Fatalf("the village's page lacks the order: %s", p.Text("main"))
	}
	consoleCheck(t, p, "01-village-orders")
	if st := p.ClickAndWait(`main a[href^="/console/inspection/orders/"]`); st != 200 {
		t.Fatalf("the order: %d", st)
	}
	p.SetValue("#report", "已更新村务公开栏，补公开 1-3 月财务收支")
	p.Upload("#file", photo)
	consoleCheck(t, p, "02-answer-form")
	if st := p.ClickAndWait(`form[enctype="multipart/form-data"] button[type=submit]`); st != 200 {
		t.Fatalf("answering: %d %.800s", st, p.Text("main"))
	}
	if p.Exists(".error") || !strings.Contains(p.Text(".flash"), "答复已提交") || !strings.Contains(p.Text("main"), "查看佐证文件") {
		t.Fatalf("after answering: %s", p.Text("main"))
	}
	consoleCheck(t, p, "03-answered")

	as(t, p, env.URL, discipline)
	go_("/console/inspection/orders")
	if st := p.ClickAndWait(`ul.cards a[href^="/console/inspection/orders/"]`); st != 200 {
		t.Fatalf("the office's order page: %d", st)
	}
	if !strings.Contains(p.Text("main"), "已更新村务公开栏") || !p.Exists(`a[href*="/files/"]`) {
		t.Fatalf("the office's order page: %s", p.Text("main"))
	}
	consoleCheck(t, p, "04-office-order")
	href := testinfra.Eval[string](p, `document.querySelector('a[href*="/files/"]').getAttribute('href')`)
	if st := p.Navigate(env.URL + href); st != 200 {
		t.Fatalf("the photo: HTTP %d", st)
	}
	if ct := testinfra.Eval[string](p, "document.contentType"); ct != "image/png" {
		t.Fatalf("the photo opens as %q", ct)
	}
	go_(orderURL(number))
	if st := p.ClickAndWait(`form[action$="/close"] button[type=submit]`); st != 200 {
		t.Fatalf("accepting: %d", st)
	}
	if !strings.Contains(p.Text(".flash"), "办结") || !strings.Contains(p.Text("main"), "已办结") {
		t.Fatalf("after accepting: %s", p.Text("main"))
	}
	consoleCheck(t, p, "05-closed")
}
