package complaint

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestObjectionBrowser: a villager follows the 公示栏's objection link
// (/r/{village}?posting=<id>) in a real Chromium on a phone: the report page
// says it is an objection to that posting, files it through the usual
// intake and gives the tracking code; the complaint keeps the posting id,
// its filed event carries it, and it reaches the village's liaison officer
// and the town's discipline office but not the village's other cadres when
// it is about cadre conduct, like any complaint.
func TestObjectionBrowser(t *testing.T) {
	ts, a := pageServer(t, generous)
	posting := uuid.NewString()
	p := testinfra.Browser(t)
	if st := p.Navigate(ts.URL + "/r/" + testVillage + "?posting=" + posting); st != 200 {
		t.Fatalf("form: HTTP %d", st)
	}
	if got := p.Text("header h1"); got != "对公示提出异议" {
		t.Errorf("title %q", got)
	}
	if got := p.Text("#posting-ref"); got != posting {
		t.Errorf("posting shown %q, want %q", got, posting)
	}
	p.ExpectClean()
	p.ExpectAccessible()
	p.Screenshot("objection-form")

	p.Click(`input[name=category][value=cadre-conduct]`)
	p.SetValue("#description", "公示的分配名单里有村主任的亲属，但没有标注说明")
	p.Click("#submit")
	p.WaitFor("#tracking-code")
	code := p.Text("#tracking-code")
	if !browserCodeRE.MatchString(code) || !strings.Contains(p.Text("body"), "您的异议已提交") {
		t.Fatalf("receipt: %q %s", code, p.Text("body"))
	}
	p.ExpectClean()
	p.ExpectAccessible()
	p.Screenshot("objection-receipt")

	ctx := context.Background()
	id := idOf(t, a.Service, code)
	if n := count(t, a.Service, `SELECT count(*) FROM complaints WHERE id = $1 AND posting_id = $2`, id, posting); n != 1 {
		t.Errorf("the complaint does not keep the posting (%d)", n)
	}
	if n := count(t, a.Service, `SELECT count(*) FROM outbox WHERE headers->>'ce_type' = 'cn.wuxiao.complaint.filed.v1' AND convert_from(payload, 'UTF8') LIKE '%' || $1 || '%'`, posting); n != 1 {
		t.Errorf("%d filed events name the posting, want 1", n)
	}
	for _, tc := range []struct {
		viewer Actor
		sees   bool
	}{
		{Actor{ID: "l", Role: RoleLiaisonOfficer, Town: testTown, Village: testVillage}, true},
		{Actor{ID: "d", Role: RoleTownDiscipline, Town: testTown}, true},
		{Actor{ID: "s", Role: RoleSecretary, Town: testTown, Village: testVillage}, false},
	} {
		c, err := a.Service.Get(ctx, tc.viewer, id)
		if (err == nil) != tc.sees {
			t.Errorf("%s: %v", tc.viewer.Role, err)
		}
		if err == nil && (!c.IsObjection() || c.PostingID != posting) {
			t.Errorf("%s sees %+v", tc.viewer.Role, c)
		}
	}
}

// TestObjectionPostingChecked: a malformed posting in the link gives an
// ordinary report page (nothing shown back); a malformed one in the form or
// the JSON intake is refused, field by field.
func TestObjectionPostingChecked(t *testing.T) {
	ts, _ := pageServer(t, generous)
	for _, tc := range []struct {
		name, query string
		objection   bool
	}{
		{"a posting", "?posting=" + uuid.NewString(), true},
		{"malformed", "?posting=%3Cscript%3E", false},
		{"nil uuid", "?posting=" + uuid.Nil.String(), false},
		{"none", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(ts.URL + "/r/" + testVillage + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b strings.Builder
			buf := make([]byte, 1<<16)
			for {
				n, err := resp.Body.Read(buf)
				b.Write(buf[:n])
				if err != nil {
					break
				}
			}
			body := b.String()
			if resp.StatusCode != 200 || strings.Contains(body, `name="posting"`) != tc.objection || strings.Contains(body, "<script>alert") {
				t.Errorf("HTTP %d, objection form %v", resp.StatusCode, strings.Contains(body, `name="posting"`))
			}
		})
	}
	for _, tc := range []struct {
		posting string
		ok      bool
	}{{uuid.NewString(), true}, {"not-a-uuid", false}, {"", true}} {
		errs := checkIntake(Intake{Village: testVillage, Category: CategoryFunds, Description: "公示的金额与实际不符，请核实", Posting: tc.posting})
		if (len(errs) == 0) != tc.ok {
			t.Errorf("posting %q: %v", tc.posting, errs)
		}
	}
}
