package disclosure

import (
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestPortalBrowserPostings: the 公示栏 in a real Chromium on a phone,
// reached from the portal's home by its tab: the current posting with its
// dates and the objection button, the past one apart with its real
// duration; clean, accessible, masked, no sideways scrolling. The
// objection button leads to the complaint service's report page for the
// posting (its half is complaint.TestObjectionBrowser).
func TestPortalBrowserPostings(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	ts := serve(t, s)
	bv := seedBrowserVillage(t, s)
	b := seedBoard(t, village)
	for _, ev := range b.events {
		if err := applyEvent(t, s, ev); err != nil {
			t.Fatal(err)
		}
	}
	p := testinfra.Browser(t)
	p.Navigate(ts.URL + bv.base)
	if st := p.ClickAndWait(`nav.tabs a[href$="/postings"]`); st != 200 {
		t.Fatalf("公示栏: HTTP %d", st)
	}
	expectSection(t, p, "postings", "公示栏", "正在公示", "往期公示", "村道硬化", "新建文化礼堂",
		"公示期：2026-03-12 至 2026-03-26（不少于15天）", "共10天（规定不少于15天）", "少于规定天数")
	expectMasked(t, p, personal.MaskName(hhOuyang.name))
	if got := p.Text(`nav.tabs a[aria-current=page]`); got != "公示栏" {
		t.Errorf("current tab %q", got)
	}
	cur := testinfra.Eval[[]string](p, `[...document.querySelectorAll("#current ~ ul.board:not(.past) a.object")].map(a => a.getAttribute("href"))`)
	if len(cur) != 1 || cur[0] != "/r/"+village+"?posting="+b.current.PostingID {
		t.Errorf("objection links %q", cur)
	}
	if n := testinfra.Eval[int](p, `document.querySelectorAll("ul.board.past a.object").length`); n != 0 {
		t.Errorf("%d objection links on past postings", n)
	}
	// The button is big enough to hit with a thumb.
	if h := testinfra.Eval[int](p, `Math.round(document.querySelector("a.object").getBoundingClientRect().height)`); h < 36 {
		t.Errorf("the objection button is %dpx high", h)
	}
	if !strings.Contains(p.Text("main"), "异议将送村务监督委员会和镇（街道）办理") {
		t.Error("the board does not say where objections go")
	}
}
