package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/complaint"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestComplaintConsoleBrowser: in a real Chromium on a phone viewport,
// without any JavaScript of ours, the village's liaison officer takes a
// complaint filed through the public report page (with a photo) from
// intake to resolution: finds it in the inbox, opens the photo, accepts
// it, starts the investigation, records a public note, resolves it with
// an outcome; town discipline then reads it (anonymous) and the
// statistics. Every console page is screenshot and checked.
func TestComplaintConsoleBrowser(t *testing.T) {
	env := startComplaintConsole(t)
	liaison := signIn(t, env.URL, "liaison-officer", conTown, conVillage)
	discipline := signIn(t, env.URL, "town-discipline", conTown, "")
	code := env.report(t, conVillage, "funds", "村里修路的 12 万元去向不明，账上没有公开。村口的公示栏已经三个月没有更新。", samplePhoto(t))
	env.report(t, conVillageB, "service", "便民服务中心经常没人值班", nil)
	id := env.idOf(t, code)

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

	as(t, p, env.URL, liaison)
	go_("/console")
	if st := p.ClickAndWait(`nav.tabs a[href="/console/complaints"]`); st != 200 {
		t.Fatalf("the 举报 tab: %d", st)
	}
	if !strings.Contains(p.Text("main"), code) || strings.Contains(p.Text("main"), "没人值班") {
		t.Fatalf("inbox: %s", p.Text("main"))
	}
	consoleCheck(t, p, "01-inbox")
	if st := p.ClickAndWait(`a[href="/console/complaints/` + id + `"]`); st != 200 {
		t.Fatalf("the complaint: %d", st)
	}
	if !strings.Contains(p.Text("dl.facts"), "待受理") || !strings.Contains(p.Text("dl.facts"), "举报人信息只向纪检监察人员显示") {
		t.Fatalf("complaint page: %s", p.Text("main"))
	}
	consoleCheck(t, p, "02-received")

	// The photo opens in the browser; the complaint service records the read.
	if st := p.ClickAndWait(`a[href="/console/complaints/` + id + `/attachments/1"]`); st != 200 {
		t.Fatalf("the photo: %d", st)
	}
	if w := testinfra.Eval[float64](p, `document.images.length ? document.images[0].naturalWidth : 0`); w != 48 {
		t.Fatalf("the photo is not shown (width %v)", w)
	}
	p.Screenshot("03-photo")
	p.ExpectClean()
	if n := env.reads(t, id, liaison.id); n != 1 {
		t.Fatalf("reads recorded: %d, want 1", n)
	}

	go_("/console/complaints/" + id)
	p.SetValue("#reason", "属于本站受理范围，转调查")
	submit(`button[name=action][value=accept]`)
	if !strings.Contains(p.Text(".flash"), "已受理") || !strings.Contains(p.Text("dl.facts"), "已受理") {
		t.Fatalf("after accepting: %s", p.Text("main"))
	}
	consoleCheck(t, p, "04-accepted")
	p.SetValue("#reason", "调取 2026 年村道工程的支出凭证和公示照片")
	submit(`form[action$="/actions"] button[type=submit]`)
	if !strings.Contains(p.Text("dl.facts"), "调查中") {
		t.Fatalf("after starting the investigation: %s", p.Text("main"))
	}
	p.SetValue("#note", "已调取凭证，正在核对")
	p.Click(`input[name=public]`)
	submit(`form[action$="/notes"] button[type=submit]`)
	if !strings.Contains(p.Text(".flash"), "意见已记录") {
		t.Fatalf("after the note: %s", p.Text("main"))
	}
	consoleCheck(t, p, "05-investigating")
	p.Click(`input[name=outcome][value=partly-substantiated]`)
	p.SetValue("#summary", "经查，工程款支出有凭证，但未按时公示；已责令村委会补充公示。")
	consoleCheck(t, p, "06-resolve-form")
	submit(`form[action$="/actions"] button[type=submit]`)
	facts := p.Text("dl.facts")
	if !strings.Contains(p.Text(".flash"), "已办结") || !strings.Contains(facts, "已办结") || !strings.Contains(facts, "部分属实") {
		t.Fatalf("after resolving: %s", p.Text("main"))
	}
	if p.Exists(`form[action$="/actions"]`) {
		t.Fatal("a resolved complaint still offers actions")
	}
	consoleCheck(t, p, "07-resolved")
	c, err := env.CP.Get(context.Background(), complaint.Actor{Role: complaint.RoleTownDiscipline, Town: conTown}, id)
	if err != nil || c.Status != "resolved" || c.Outcome != "partly-substantiated" || len(c.History) != 3 || len(c.Notes) != 1 || !c.Notes[0].Public {
		t.Fatalf("the complaint in the complaint service: %+v %v", c, err)
	}
	go_("/console/complaints?status=resolved")
	consoleCheck(t, p, "08-inbox-resolved")
	go_("/console/complaints/statistics")
	consoleCheck(t, p, "09-statistics-liaison")

	// Town discipline: every village, the reporter (anonymous here), the
	// town's statistics.
	as(t, p, env.URL, discipline)
	go_("/console/complaints?status=all")
	if !strings.Contains(p.Text("main"), "没人值班") {
		t.Fatalf("discipline inbox: %s", p.Text("main"))
	}
	consoleCheck(t, p, "10-discipline-inbox")
	go_("/console/complaints/" + id)
	if !strings.Contains(p.Text("dl.facts"), "匿名举报") {
		t.Fatalf("discipline's view: %s", p.Text("dl.facts"))
	}
	consoleCheck(t, p, "11-discipline-complaint")
	go_("/console/complaints/statistics")
	consoleCheck(t, p, "12-statistics-town")
}
