package disclosure

import (
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestPortalBrowserApplication: a villager on a phone types the tracking
// number of their application into 流程到哪了 and sees its 办理进度: filed
// on their behalf, the materials asked for (phone number masked),
// supplemented, and when and where to come as the current line; clean,
// accessible, no sideways scrolling.
func TestPortalBrowserApplication(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	ts := serve(t, s)
	bv := seedBrowserVillage(t, s)
	tracking := village + "-20260302-APPB1"
	a := seedApplication(t, village, tracking)
	for _, ev := range a.events {
		if err := applyEvent(t, s, ev); err != nil {
			t.Fatal(err)
		}
	}
	p := testinfra.Browser(t)
	p.Navigate(ts.URL + bv.base + "/processes")
	p.SetValue("#tracking", tracking)
	if st := p.ClickAndWait(`form[action$="/processes"] button[type=submit]`); st != 200 {
		t.Fatalf("process: HTTP %d", st)
	}
	shot := expectSection(t, p, "process-application", "流程到哪了 · "+tracking, "农村建房（宅基地）申请审核", "翻建住房申请",
		"办理进度", "已受理（由村（社区）干部代办提交）", "需补充材料（共3项，请凭受理回执在线补充）", "身份证", "户口簿",
		"四邻签字（联系 138****5678）", "已补充", "办理安排：请于 2026-03-10 09:00 到村便民服务中心一楼办理")
	t.Logf("screenshot %s", shot)
	expectHeadings(t, p, "办理进度", "办理经过", "流程图")
	if body := p.Text("main"); strings.Contains(body, "13812345678") || strings.Contains(body, "无需到场") {
		t.Error("the page shows a full phone number or the replaced appointment")
	}
	if got := p.Text(`ol.progress li[aria-current=step] b`); got != "办理安排" {
		t.Errorf("current line %q, want 办理安排", got)
	}
	// The current line stands out from the others (not by colour alone:
	// a thicker border).
	if w := testinfra.Eval[string](p, `getComputedStyle(document.querySelector("ol.progress li.current")).borderTopWidth`); w != "2px" {
		t.Errorf("current line border %s", w)
	}
}
