package complaint

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// The report page in a real Chromium (testinfra.Browser): it loads without
// errors, passes the accessibility checks, files a complaint with a photo,
// shows field errors, and gets through a flood's proof of work by itself.

var browserCodeRE = regexp.MustCompile(`^TS-[0-9]{3}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$`)

func TestReportPageBrowserFiles(t *testing.T) {
	ts, a := pageServer(t, generous)
	photo := filepath.Join(t.TempDir(), "路灯.png")
	if err := os.WriteFile(photo, samplePNG(t), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testinfra.Browser(t)
	if st := p.Navigate(ts.URL + "/r/" + testVillage); st != 200 {
		t.Fatalf("form: HTTP %d", st)
	}
	if got := p.Text("header h1"); got != "码上举报" {
		t.Errorf("title %q", got)
	}
	p.ExpectClean()
	p.ExpectAccessible()
	p.Screenshot("form")

	p.Click(`input[name=category][value=service]`)
	p.SetValue("#description", "村口路灯坏了三个月，多次反映没人修")
	if got := p.Text("#description-count"); got != "已输入17字" {
		t.Errorf("character count %q", got)
	}
	p.Upload("#attachments", photo)
	p.Click("#submit")
	p.WaitFor("#tracking-code")
	code, secret := p.Text("#tracking-code"), p.Text("#secret")
	if !browserCodeRE.MatchString(code) || len(secret) != 32 || !strings.Contains(p.Text("body"), "密码只显示这一次") {
		t.Fatalf("receipt: %q %q %s", code, secret, p.Text("body"))
	}
	p.ExpectClean()
	p.ExpectAccessible()
	p.Screenshot("receipt")
	id := idOf(t, a.Service, code)
	if n := count(t, a.Service, `SELECT count(*) FROM attachments WHERE complaint_id = $1 AND name = '路灯.png' AND content_type = 'image/png'`, id); n != 1 {
		t.Errorf("the photo was not stored (%d)", n)
	}
	if !CheckSecret(hashOf(t, a.Service, id), secret) {
		t.Error("the secret shown does not match")
	}

	// The follow-up link shows the status.
	if st := p.ClickAndWait("#track-link"); st != 200 {
		t.Fatalf("status page: HTTP %d", st)
	}
	if got := p.Text("#status"); got != "已收到，等待受理" {
		t.Errorf("status %q", got)
	}
	p.ExpectClean()
	p.ExpectAccessible()
	p.Screenshot("status")

	// Resolved, the page asks for the reporter's verdict, with the secret.
	liaison := Actor{ID: "liaison-1", Role: RoleLiaisonOfficer, Town: testTown, Village: testVillage}
	for _, act := range []Action{{Type: ActionAccept}, {Type: ActionInvestigate}, {Type: ActionResolve, Reason: "路灯已修复", Outcome: OutcomeSubstantiated}} {
		if _, err := a.Service.Act(context.Background(), liaison, id, act); err != nil {
			t.Fatal(err)
		}
	}
	p.Navigate(ts.URL + "/r/track/" + code)
	p.ExpectAccessible()
	p.Click(`input[name=satisfied][value=yes]`)
	p.SetValue("#secret", secret)
	if st := p.ClickAndWait("#feedback-submit"); st != 200 {
		t.Fatalf("feedback: HTTP %d: %s", st, p.Text("body"))
	}
	if got := p.Text("#status"); got != "已办结" || !strings.Contains(p.Text("body"), "感谢您的评价") {
		t.Errorf("after feedback: %q %s", got, p.Text("body"))
	}
	p.ExpectClean()
	p.Screenshot("feedback")
}

func TestReportPageBrowserFieldErrors(t *testing.T) {
	ts, a := pageServer(t, generous)
	p := testinfra.Browser(t)
	p.Navigate(ts.URL + "/r/" + testVillage)
	p.SetValue("#description", "路灯坏了")
	p.Click("#submit")
	p.WaitFor("#description-error")
	if got := p.Text("#description-error"); !strings.Contains(got, "问题描述至少需要10个字（当前4个字）") {
		t.Errorf("description error %q", got)
	}
	if got := p.Text("#category-error"); !strings.Contains(got, "请选择举报类别") {
		t.Errorf("category error %q", got)
	}
	// What was typed is kept, and the page's script runs again.
	if got := testinfra.Eval[string](p, `document.getElementById("description").value`); got != "路灯坏了" {
		t.Errorf("description kept as %q", got)
	}
	if got := p.Text("#description-count"); got != "已输入4字" {
		t.Errorf("character count after the error %q", got)
	}
	if errs := p.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("console: %v", errs)
	}
	if failed := p.FailedRequests(); len(failed) != 1 || !strings.Contains(failed[0], "POST "+ts.URL+"/r/"+testVillage+": HTTP 422") {
		t.Errorf("requests: %v", failed)
	}
	p.ExpectAccessible()
	p.Screenshot("errors")

	// Corrected, it goes through.
	p.ResetProblems()
	p.Click(`input[name=category][value=funds]`)
	p.SetValue("#description", "路灯坏了三个月，维修费却已经报销了")
	p.Click("#submit")
	p.WaitFor("#tracking-code")
	p.ExpectClean()
	if n := count(t, a.Service, `SELECT count(*) FROM complaints WHERE category = 'funds'`); n != 1 {
		t.Errorf("%d complaints", n)
	}
}

func TestReportPageBrowserSolvesChallenge(t *testing.T) {
	ts, a := pageServer(t, RateLimitConfig{ClientBurst: 100, VillageBurst: 1, FloodThreshold: 100})
	receiptOf(t, report(t, ts, validForm("project"), nil)) // the village's only token
	photo := filepath.Join(t.TempDir(), "工地.jpg")
	if err := os.WriteFile(photo, sampleJPEG(t), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testinfra.Browser(t)
	p.Navigate(ts.URL + "/r/" + testVillage)
	// Record the progress note the script shows while it works.
	testinfra.Eval[bool](p, `(() => {
		window.__notes = [];
		const s = document.getElementById("pow-status");
		new MutationObserver(() => { if (!s.hidden) window.__notes.push(s.textContent); }).observe(s, {attributes: true, childList: true, characterData: true, subtree: true});
		return true;
	})()`)
	p.Click(`input[name=category][value=project]`)
	p.SetValue("#description", "工程款拨付了，但是路一直没有修")
	p.Upload("#attachments", photo)
	p.Click("#submit")
	p.WaitFor("#tracking-code")
	if !browserCodeRE.MatchString(p.Text("#tracking-code")) {
		t.Fatalf("receipt: %s", p.Text("body"))
	}
	notes := testinfra.Eval[[]string](p, `window.__notes || null`)
	if !slices.Contains(notes, "正在验证…") || !slices.Contains(notes, "验证完成，正在提交…") {
		t.Errorf("progress notes shown: %q", notes)
	}
	if errs := p.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("console: %v", errs)
	}
	if failed := p.FailedRequests(); !slices.Equal(failed, []string{"POST " + ts.URL + "/r/" + testVillage + ": HTTP 428"}) {
		t.Errorf("requests: %v", failed)
	}
	// The photo survived the second submission.
	if n := count(t, a.Service, `SELECT count(*) FROM attachments WHERE name = '工地.jpg' AND content_type = 'image/jpeg'`); n != 1 {
		t.Errorf("the photo was not stored (%d)", n)
	}
	if n := a.Challenger.SpentCount(); n != 1 {
		t.Errorf("%d challenges spent", n)
	}
}

// TestReportPageBrowserRefusedBeforeUpload: a villager over the client
// limit is refused before the upload is read (429); the page's script puts
// what they typed back into the form of the refusal page, with the message
// saying when to retry.
func TestReportPageBrowserRefusedBeforeUpload(t *testing.T) {
	ts, a := pageServer(t, RateLimitConfig{ClientBurst: 1, VillageBurst: 100, FloodThreshold: 100})
	receiptOf(t, report(t, ts, validForm("project"), nil)) // this client's only token
	photo := filepath.Join(t.TempDir(), "工地.jpg")
	if err := os.WriteFile(photo, sampleJPEG(t), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testinfra.Browser(t)
	p.Navigate(ts.URL + "/r/" + testVillage)
	p.Click(`input[name=category][value=project]`)
	p.SetValue("#description", "工程款拨付了，但是路一直没有修")
	p.Upload("#attachments", photo)
	p.Click("#submit")
	p.WaitFor(".alert")
	if body := p.Text("body"); !strings.Contains(body, "您提交得太频繁，请稍后再试") {
		t.Fatalf("refusal page: %s", body)
	}
	if got := testinfra.Eval[string](p, `document.getElementById("description").value`); got != "工程款拨付了，但是路一直没有修" {
		t.Errorf("description after the refusal: %q", got)
	}
	if !testinfra.Eval[bool](p, `document.querySelector("input[name=category][value=project]").checked`) {
		t.Error("the category was not kept")
	}
	if errs := p.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("console: %v", errs)
	}
	if n := count(t, a.Service, `SELECT count(*) FROM upload_chunks`) + count(t, a.Service, `SELECT count(*) FROM attachments`); n != 0 {
		t.Errorf("%d rows of the refused upload kept", n)
	}
}
