package gateway

import (
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestConsoleInboxBrowser: in a real Chromium on a phone viewport, without
// any JavaScript of ours, town discipline sees its unread messages (made by
// the real inspection service from the events it consumed) with the count
// in the header, opens one (marked read, on to its console page), finds it
// under 全部, marks the rest read; a district account sees every town's
// count and switches town. Every page is screenshot and checked
// (accessibility, console errors, width).
func TestConsoleInboxBrowser(t *testing.T) {
	env := startInbox(t)
	disc := signIn(t, env.URL, "town-discipline", conTown, "")
	district := signIn(t, env.URL, "district-discipline", "", "")
	env.escalateComplaint(t, conTown, conVillage)
	env.escalateComplaint(t, inboxTownB, inboxVillageB)
	env.draftNotice(t, conTown, conVillageB)

	p := testinfra.Browser(t)
	go_ := func(path string) {
		t.Helper()
		if st := p.Navigate(env.URL + path); st != 200 {
			t.Fatalf("%s: HTTP %d: %.500s", path, st, p.Text("main"))
		}
	}
	click := func(sel string) {
		t.Helper()
		if st := p.ClickAndWait(sel); st != 200 {
			t.Fatalf("%s: HTTP %d: %.800s", sel, st, p.Text("main"))
		}
	}
	path := func() string { return testinfra.Eval[string](p, "location.pathname + location.search") }

	as(t, p, env.URL, disc)
	go_("/console/inbox")
	if h := p.Text("header"); !strings.Contains(h, "未读 2") {
		t.Fatalf("header: %s", h)
	}
	if n := testinfra.Eval[float64](p, `document.querySelectorAll(".card.unread").length`); n != 2 {
		t.Fatalf("%v unread cards: %s", n, p.Text("main"))
	}
	consoleCheck(t, p, "01-unread")

	// The newest, the drafted notice: open it.
	click(`.card.unread button[name="next"][value="/console/notices"]`)
	if got := path(); got != "/console/notices" {
		t.Fatalf("opening the message went to %s", got)
	}
	if h := p.Text("header"); !strings.Contains(h, "未读 1") {
		t.Fatalf("header after opening one: %s", h)
	}
	click(`header a.inbox`)
	click(`a[href="/console/inbox?state=all"]`)
	if !p.Exists(`.card:not(.unread) a[href="/console/notices"]`) || !p.Exists(".card.unread") {
		t.Fatalf("全部: %s", p.Text("main"))
	}
	consoleCheck(t, p, "02-all")
	click(`form[action="/console/inbox/read-all"] button`)
	if !strings.Contains(p.Text(".flash"), "已全部标为已读") || p.Exists(".card.unread") || strings.Contains(p.Text("header"), "未读") {
		t.Fatalf("after 全部标为已读: %s / %s", p.Text("header"), p.Text("main"))
	}
	if got := path(); got != "/console/inbox?ok=all&state=all" {
		t.Errorf("after 全部标为已读 at %s", got)
	}
	consoleCheck(t, p, "03-all-read")

	as(t, p, env.URL, district)
	go_("/console/inbox")
	if h := p.Text("header"); !strings.Contains(h, "未读 2") {
		t.Fatalf("district header: %s", h)
	}
	consoleCheck(t, p, "04-district")
	click(`a[href="/console/inbox?town=xikou"]`)
	if !strings.Contains(p.Text("main"), "溪口镇的消息") || !strings.Contains(p.Text("main"), "岩头村") {
		t.Fatalf("district, 溪口镇: %s", p.Text("main"))
	}
	consoleCheck(t, p, "05-district-town")
}
