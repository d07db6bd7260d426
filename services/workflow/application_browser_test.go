package workflow

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/media/mediatest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// TestApplicationPagesBrowser: in a real Chromium on a phone viewport, a
// villager picks an item, applies with a photo, keeps the receipt's
// number and code; the cadre asks once for the missing materials; the
// villager supplements on the page; the cadre records the appointment and
// the page (and the public tracker) shows it. Every page loads clean and
// passes the accessibility checks.
func TestApplicationPagesBrowser(t *testing.T) {
	ts, s := api(t)
	photo := filepath.Join(t.TempDir(), "身份证.jpg")
	if err := os.WriteFile(photo, mediatest.JPEG(16, 16), 0o644); err != nil {
		t.Fatal(err)
	}
	book := filepath.Join(t.TempDir(), "户口簿.pdf")
	if err := os.WriteFile(book, samplePDF(), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testinfra.Browser(t)
	if st := p.Navigate(ts.URL + "/a/" + village); st != 200 {
		t.Fatalf("items: HTTP %d", st)
	}
	if got := len(s.Engine.Catalog.VillagerItems()); got != 13 || !strings.Contains(p.Text("main"), "农村建房（宅基地）申请审核") {
		t.Fatalf("items page lists %d items: %s", got, p.Text("main"))
	}
	p.ExpectClean()
	p.ExpectAccessible()
	p.Screenshot("items")

	if st := p.ClickAndWait(`a[href="/a/` + village + `/duty-homestead"]`); st != 200 {
		t.Fatalf("form: HTTP %d", st)
	}
	body := p.Text("main")
	for _, want := range []string{"建房书面申请", "现有住房情况证明", "村级资格审查", "10个工作日内办结", "《中华人民共和国土地管理法》第六十二条"} {
		if !strings.Contains(body, want) {
			t.Errorf("the form lacks %q", want)
		}
	}
	p.ExpectClean()
	p.ExpectAccessible()
	p.Screenshot("form")

	// A wrong ID number keeps what was typed, but not the ID number.
	p.SetValue("#name", "王大伟")
	p.SetValue("#phone", "13912345678")
	p.SetValue("#idNumber", "110105194912310021")
	p.Upload("#material-1", photo)
	// The form submits by fetch (pow.FormScript, to solve a challenge when
	// the village is flooded) and shows the answer page.
	p.Click("#submit")
	p.WaitFor("#idNumber-error")
	if got := p.Text("#idNumber-error"); !strings.Contains(got, "18位居民身份证号码") {
		t.Errorf("ID error %q", got)
	}
	if got := testinfra.Eval[string](p, `document.getElementById("name").value`); got != "王大伟" {
		t.Errorf("name kept as %q", got)
	}
	p.ExpectAccessible()
	p.ResetProblems() // the 422 is the point

	p.SetValue("#idNumber", applicantID)
	p.Upload("#material-1", photo)
	p.Click("#submit")
	p.WaitFor("#tracking-number")
	number, code := p.Text("#tracking-number"), p.Text("#access-code")
	if !strings.HasPrefix(number, village+"-") || len(code) != 9 || !strings.Contains(p.Text("main"), "查询码只显示这一次") {
		t.Fatalf("receipt: %s", p.Text("main"))
	}
	p.ExpectClean()
	p.ExpectAccessible()
	p.Screenshot("receipt")

	// The cadre asks once for everything missing.
	inst, err := s.ByTrackingNumber(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	director := Actor{ID: "director-1", Name: "赵主任", Role: "director", Town: town, Village: village}
	if _, err := s.RequestMaterials(context.Background(), director, inst.ID,
		MaterialsRequestInput{Missing: []string{"户口簿", "建房书面申请"}, Note: "户口簿请拍全家每一页"}); err != nil {
		t.Fatal(err)
	}

	// The villager opens the supplement page with the number and code.
	p.Navigate(ts.URL + "/a/" + village + "/supplement")
	p.ExpectAccessible()
	p.SetValue("#number", number)
	p.SetValue("#accessCode", strings.ToLower(code))
	if st := p.ClickAndWait(`button[type=submit]`); st != 200 {
		t.Fatalf("lookup: HTTP %d: %s", st, p.Text("main"))
	}
	if got := p.Text("#missing"); !strings.Contains(got, "户口簿") || !strings.Contains(got, "建房书面申请") {
		t.Errorf("missing list %q", got)
	}
	if strings.Contains(p.Text("main"), "王大伟") || strings.Contains(p.Text("main"), "13912345678") {
		t.Error("the status page shows the name or phone unmasked")
	}
	p.ExpectClean()
	p.ExpectAccessible()
	p.Screenshot("requested")
	p.Upload("#material-2", book)
	if st := p.ClickAndWait(`button[type=submit]`); st != 200 {
		t.Fatalf("supplement: HTTP %d: %s", st, p.Text("main"))
	}
	if !strings.Contains(p.Text("main"), "补充材料已提交") {
		t.Errorf("after supplementing: %s", p.Text("main"))
	}
	p.ExpectClean()

	// The cadre records the appointment; the page shows it.
	at := time.Date(2026, 3, 6, 9, 30, 0, 0, tz.Shanghai)
	if _, err := s.SetAppointment(context.Background(), director, inst.ID,
		AppointmentInput{VisitNeeded: true, At: &at, Place: "村便民服务中心一号窗口", Note: "请带户口簿原件"}); err != nil {
		t.Fatal(err)
	}
	p.Navigate(ts.URL + "/a/" + village + "/supplement")
	p.SetValue("#number", number)
	p.SetValue("#accessCode", code)
	if st := p.ClickAndWait(`button[type=submit]`); st != 200 {
		t.Fatalf("lookup: HTTP %d", st)
	}
	if got := p.Text("#appointment"); !strings.Contains(got, "2026年3月6日 09:30") || !strings.Contains(got, "村便民服务中心一号窗口") {
		t.Errorf("appointment %q", got)
	}
	if p.Exists("#material-2") {
		t.Error("the page still offers to supplement after the appointment")
	}
	p.ExpectClean()
	p.ExpectAccessible()
	p.Screenshot("appointment")

	track := call(t, ts, "GET", "/v1/public/track/"+number, "", "", "")
	if !strings.Contains(track.Raw, "村便民服务中心一号窗口") || strings.Contains(track.Raw, "王大伟") {
		t.Errorf("tracker: %s", track.Raw)
	}
}

// TestApplicationPageSolvesChallenge: when the village's limit is used up
// (a flood), the form page, like the complaint report page, solves the
// 428's proof of work in the browser and files the application, photo
// included, on the second request.
func TestApplicationPageSolvesChallenge(t *testing.T) {
	ts, s := api(t)
	for ok := true; ok; { // a flood has emptied the village's bucket
		ok, _ = s.appGuard.villages.Allow(village, s.now())
	}
	photo := filepath.Join(t.TempDir(), "身份证.jpg")
	if err := os.WriteFile(photo, mediatest.JPEG(16, 16), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testinfra.Browser(t)
	if st := p.Navigate(ts.URL + "/a/" + village + "/service-certificate"); st != 200 {
		t.Fatalf("form: HTTP %d", st)
	}
	p.SetValue("#name", "王大伟")
	p.SetValue("#phone", "13912345678")
	p.SetValue("#idNumber", applicantID)
	p.Upload("#material-0", photo)
	p.Click("#submit")
	p.WaitFor("#tracking-number")
	if failed := p.FailedRequests(); len(failed) != 1 || !strings.HasSuffix(failed[0], ": HTTP 428") {
		t.Errorf("requests: %v", failed)
	}
	if errs := p.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("console: %v", errs)
	}
	if _, err := s.ByTrackingNumber(context.Background(), p.Text("#tracking-number")); err != nil {
		t.Fatal(err)
	}
	if n := s.appGuard.challenger.SpentCount(); n != 1 {
		t.Errorf("%d challenges spent", n)
	}
	// The upload (书面申请) survived the second request: only 身份证 is missing.
	if main := p.Text("main"); strings.Contains(main, "书面申请") || !strings.Contains(main, "身份证") {
		t.Errorf("receipt: %s", main)
	}
	p.Screenshot("after-challenge")
}
