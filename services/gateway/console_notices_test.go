package gateway

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// signAllDrafts signs every draft notice of the inspection service as its
// town's discipline office: a grade change only drafts a notice, and the
// village sees it once signed.
func signAllDrafts(t testing.TB, s *inspection.Service) {
	t.Helper()
	ctx := context.Background()
	drafts, err := s.ListNotices(ctx, inspection.NoticeFilter{Status: inspection.NoticeDraft}, 200)
	if err != nil {
		t.Fatal(err)
	}
	disc := identity.Principal{IdentityID: "console-test-discipline", Role: identity.RoleTownDiscipline, Town: s.Town}
	for _, d := range drafts {
		if _, err := s.SignNotice(ctx, disc, d.ID); err != nil {
			t.Fatalf("signing notice %s: %v", d.ID, err)
		}
	}
}

// TestConsoleNoticesBrowser: in a real Chromium on a phone viewport, a fall
// of the village to C drafts a 预警通知书 that only town discipline sees; it
// signs it; the village's cashier reads it but has no answer form; the
// secretary answers with the report and evidence; discipline returns the
// answer with a reason and a new last day; the secretary answers again
// with a photo, which discipline opens; discipline accepts, closing the
// notice. Every page is checked and screenshot.
func TestConsoleNoticesBrowser(t *testing.T) {
	env := startConsole(t)
	for _, rule := range []string{"deadline", "amount-threshold", "amount-threshold", "conflict-of-interest"} {
		env.raiseWarning(t, conVillage, rule, time.Now())
	}
	disc := signIn(t, env.URL, "town-discipline", conTown, "")
	sec := signIn(t, env.URL, "secretary", conTown, conVillage)
	cashier := signIn(t, env.URL, "cashier", conTown, conVillage)
	p := testinfra.Browser(t)
	go_ := func(path string) {
		t.Helper()
		if st := p.Navigate(env.URL + path); st != 200 {
			t.Fatalf("%s: HTTP %d: %.500s", path, st, p.Text("main"))
		}
	}
	submit := func(form, flash string) {
		t.Helper()
		if st := p.ClickAndWait(form + " button[type=submit]"); st != 200 {
			t.Fatalf("submitting %s: HTTP %d: %.800s", form, st, p.Text("main"))
		}
		if !strings.Contains(p.Text(".flash"), flash) {
			t.Fatalf("after %s: flash %q, want %q: %.800s", form, p.Text(".flash"), flash, p.Text("main"))
		}
	}

	// The village does not see the draft.
	as(t, p, env.URL, sec)
	go_("/console/notices")
	if !strings.Contains(p.Text("main"), "没有办理中的通知书") {
		t.Fatalf("the village sees the draft: %s", p.Text("main"))
	}
	as(t, p, env.URL, disc)
	go_("/console/notices")
	if !strings.Contains(p.Text("main"), "草稿（待签发）") || !p.Exists(`form[action$="/sign"]`) {
		t.Fatalf("discipline's drafts: %s", p.Text("main"))
	}
	consoleCheck(t, p, "n1-notice-draft")
	submit(`form[action$="/sign"]`, "已签发")
	if !strings.Contains(p.Text("main"), "奉纪预〔") || !strings.Contains(p.Text("main"), "已签发，待村回复") {
		t.Fatalf("after signing: %s", p.Text("main"))
	}

	as(t, p, env.URL, cashier)
	go_("/console/notices")
	if !strings.Contains(p.Text("main"), "已签发，待村回复") || p.Exists(`form[action$="/answer"]`) {
		t.Fatalf("the cashier's page: %s", p.Text("main"))
	}
	as(t, p, env.URL, sec)
	go_("/console/notices")
	consoleCheck(t, p, "n1-notice-to-answer")
	answer := func(report, photo string) {
		t.Helper()
		p.SetValue(`form[action$="/answer"] textarea[name=report]`, report)
		if photo == "" {
			p.SetValue(`form[action$="/answer"] textarea[name=evidence]`, "村两委会议纪要、公开栏照片已存档")
		} else {
			p.Upload(`form[action$="/answer"] input[type=file]`, photo)
		}
		submit(`form[action$="/answer"]`, "回复已提交")
	}
	answer("已召开村两委会议，对扣分事项逐项整改。", "")

	as(t, p, env.URL, disc)
	go_("/console/notices")
	if !strings.Contains(p.Text("main"), "已召开村两委会议") {
		t.Fatalf("discipline does not see the answer: %s", p.Text("main"))
	}
	consoleCheck(t, p, "n1-notice-answered")
	p.SetValue(`form[action$="/return"] textarea[name=reason]`, "未明确整改责任人")
	newDue := time.Now().In(tz.Shanghai).AddDate(0, 0, 7).Format(time.DateOnly)
	p.SetValue(`form[action$="/return"] input[name=deadline]`, newDue)
	submit(`form[action$="/return"]`, "已退回")

	as(t, p, env.URL, sec)
	go_("/console/notices")
	if main := p.Text("main"); !strings.Contains(main, "未明确整改责任人") || !strings.Contains(main, "回复期限 "+newDue+"（退回后重新计算）") {
		t.Fatalf("the village does not see why, or by when: %s", main)
	}
	// The second answer carries a photo of the notice board, uploaded.
	photo := filepath.Join(t.TempDir(), "公开栏.png")
	if err := os.WriteFile(photo, grayPNG(t), 0o600); err != nil {
		t.Fatal(err)
	}
	answer("整改责任人：村委会主任；已于本周完成整改。", photo)

	as(t, p, env.URL, disc)
	go_("/console/notices")
	if !p.Exists(`a[href*="/files/"]`) {
		t.Fatalf("discipline does not see the photo: %s", p.Text("main"))
	}
	href := testinfra.Eval[string](p, `document.querySelector('a[href*="/files/"]').getAttribute('href')`)
	if st := p.Navigate(env.URL + href); st != 200 || testinfra.Eval[string](p, "document.contentType") != "image/png" {
		t.Fatalf("the photo: HTTP %d", st)
	}
	go_("/console/notices")
	submit(`form[action$="/accept"]`, "办结")
	if !strings.Contains(p.Text("main"), "已通过，办结") || !strings.Contains(p.Text("main"), "没有办理中的通知书") {
		t.Fatalf("after accepting: %s", p.Text("main"))
	}
	consoleCheck(t, p, "n1-notice-accepted")
}
