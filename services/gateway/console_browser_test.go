package gateway

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// consoleCheck fails for accessibility problems, console errors and failed
// requests of the page shown, for a page wider than the phone, and saves
// the page's screenshot at the phone viewport.
func consoleCheck(t *testing.T, p *testinfra.Page, name string) {
	t.Helper()
	p.ExpectAccessible()
	p.ExpectClean()
	p.Screenshot(name)
	if w := testinfra.Eval[float64](p, "document.documentElement.scrollWidth"); w > testinfra.PhoneWidth {
		t.Errorf("%s: the page is %.0f px wide on a %d px phone", name, w, testinfra.PhoneWidth)
	}
}

// as makes the browser the signed-in person: their Kratos session cookie
// (from the browser login flow) set for the gateway's host through CDP.
func as(t *testing.T, p *testinfra.Page, base string, s *staff) {
	t.Helper()
	u, _ := url.Parse(base)
	ctx, cancel := context.WithTimeout(p.Context(), 10*time.Second)
	defer cancel()
	_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
	if err == nil {
		httpOnly := true
		_, err = chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: s.cookie.Name, Value: s.cookie.Value,
			Domain: u.Hostname(), Path: "/", HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteLax})
	}
	if err != nil {
		t.Fatalf("setting the session cookie of %s: %v", s.role, err)
	}
}

// TestConsoleBrowser: in a real Chromium on a phone viewport, without any
// JavaScript of ours, a committee member runs the 小资金 item 村级财务支出
// 审批 to the end: starts it with amount and payee, uploads the voucher
// (a PDF) and hands it on; the supervision chair reviews, the director
// approves and records the representatives' resolution, the town finance
// office approves in its town-wide list and books it, the cashier pays,
// the accountant publishes. Every console page is screenshot and checked.
func TestConsoleBrowser(t *testing.T) {
	env := startConsole(t)
	people := map[string]*staff{}
	for _, r := range []struct{ role, village string }{{"committee-member", conVillage}, {"supervision-chair", conVillage},
		{"director", conVillage}, {"cashier", conVillage}, {"accountant", conVillage}, {"town-finance", ""}} {
		people[r.role] = signIn(t, env.URL, r.role, conTown, r.village)
	}
	voucher := filepath.Join(t.TempDir(), "发票-办公用品.pdf")
	if err := os.WriteFile(voucher, []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testinfra.Browser(t)
	go_ := func(path string) {
		t.Helper()
		if st := p.Navigate(env.URL + path); st != 200 {
			t.Fatalf("%s: HTTP %d: %.500s", path, st, p.Text("main"))
		}
	}
	submit := func(form string) {
		t.Helper()
		if st := p.ClickAndWait(form + " button[type=submit]"); st != 200 {
			t.Fatalf("submitting %s: HTTP %d: %.800s", form, st, p.Text("main"))
		}
	}

	as(t, p, env.URL, people["committee-member"])
	go_("/console")
	if !strings.Contains(p.Text("main"), "暂无待办事项") {
		t.Fatalf("work list: %s", p.Text("main"))
	}
	consoleCheck(t, p, "01-tasks-empty")
	go_("/console/start")
	consoleCheck(t, p, "02-start-list")
	if st := p.ClickAndWait(`a[href="/console/start/funds-expenditure"]`); st != 200 {
		t.Fatalf("item page: %d", st)
	}
	if !testinfra.Eval[bool](p, `document.querySelector(".flow img").complete && document.querySelector(".flow img").naturalWidth > 0`) {
		t.Fatal("the item's flowchart did not load")
	}
	consoleCheck(t, p, "03-start-item")
	p.SetValue("#title", "购买办公用品（打印纸、墨盒）")
	p.SetValue("#amount", "8600.50")
	p.SetValue("#payeeName", "溪口文具店")
	submit(`form[action="/console/start/funds-expenditure"]`)
	if !strings.Contains(p.Text(".flash"), "已发起") || !strings.Contains(p.Text("main"), "8600.50 元") {
		t.Fatalf("after starting: %s", p.Text("main"))
	}
	id := regexp.MustCompile(`/console/processes/([0-9a-f-]{36})`).FindStringSubmatch(testinfra.Eval[string](p, "location.pathname"))[1]
	consoleCheck(t, p, "04-process-started")

	p.SetValue("#ev-kind", "voucher")
	p.Upload("#ev-file", voucher)
	submit(`form[enctype="multipart/form-data"]`)
	if !strings.Contains(p.Text(".flash"), "佐证材料已上传") || !p.Exists(`a[href^="/console/processes/`+id+`/evidence/"]`) {
		t.Fatalf("after the upload: %s", p.Text("main"))
	}
	consoleCheck(t, p, "05-evidence-uploaded")
	p.SetValue("#note", "附发票 1 张")
	submit(`form[action$="/complete"]`)

	// Each next person opens their 待办 and records their step.
	record := func(role, shot string, next ...string) {
		t.Helper()
		as(t, p, env.URL, people[role])
		go_("/console")
		if !p.Exists(`a[href="/console/processes/` + id + `"]`) {
			t.Fatalf("%s: the process is not in the work list: %s", role, p.Text("main"))
		}
		if shot != "" {
			consoleCheck(t, p, shot+"-tasks")
		}
		go_("/console/processes/" + id)
		for i, n := range next {
			if i > 0 {
				go_("/console/processes/" + id)
			}
			p.Click(`input[name="next"][value="` + n + `"]`)
			if shot != "" && i == 0 {
				consoleCheck(t, p, shot+"-process")
			}
			submit(`form[action$="/complete"]`)
		}
		if len(next) == 0 {
			if shot != "" {
				consoleCheck(t, p, shot+"-process")
			}
			p.SetValue("#note", "同意")
			submit(`form[action$="/complete"]`)
		}
		if p.Exists(".error") {
			t.Fatalf("%s: %s", role, p.Text(".error"))
		}
	}
	record("supervision-chair", "06-chair")
	if p.Exists(`form[action$="/comment"]`) || p.Exists(`form[action$="/withdraw"]`) {
		t.Fatal("the supervision chair has action forms beyond his review")
	}
	record("director", "07-director", "representatives-resolution", "town-approval")
	record("town-finance", "08-town-finance")
	go_("/console/processes")
	consoleCheck(t, p, "09-town-processes")
	go_("/console/village?village=" + conVillage)
	consoleCheck(t, p, "10-town-village")
	record("cashier", "")
	record("town-finance", "")
	record("accountant", "11-accountant")
	if !strings.Contains(p.Text(".flash"), "已办理") || !strings.Contains(p.Text("dl.facts"), "已办结") {
		t.Fatalf("the end: %s", p.Text("main"))
	}
	consoleCheck(t, p, "12-process-completed")
	inst, err := env.WF.Get(context.Background(), id)
	if err != nil || inst.Status != "completed" || len(inst.Evidence) != 1 {
		t.Fatalf("the process in the workflow service: %+v %v", inst, err)
	}

	// 我的村 for the cadre, after a warning lowered the points.
	// Enough of them bring a grade change and a notice to the village.
	for _, rule := range []string{"deadline", "amount-threshold", "amount-threshold", "conflict-of-interest"} {
		env.raiseWarning(t, conVillage, rule, time.Now())
	}
	signAllDrafts(t, env.Insp) // the change drafts the notice; town discipline signs it
	as(t, p, env.URL, people["committee-member"])
	go_("/console/village")
	if !strings.Contains(p.Text("main"), "评级") || !p.Exists(`a[href^="/console/notices/"]`) {
		t.Fatalf("village page: %s", p.Text("main"))
	}
	consoleCheck(t, p, "13-my-village")
	if st := p.ClickAndWait(`a[href^="/console/notices/"]`); st != 200 || !strings.Contains(p.Text("main"), "通知书") {
		t.Fatalf("notice: %d %s", st, p.Text("main"))
	}
	consoleCheck(t, p, "15-notice")
	go_("/console/processes")
	consoleCheck(t, p, "14-my-processes")
}
