package gateway

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/workflow"
)

var consoleCodeRE = regexp.MustCompile(`id="access-code">([2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4})<`)

// TestConsoleOnBehalf: 代办 from the console's start page, by a village
// cadre and by the town's service desk (choosing the village); the record
// says it was filed on behalf and by whom; supervisors see no form.
func TestConsoleOnBehalf(t *testing.T) {
	env := startConsole(t)
	member := signIn(t, env.URL, "committee-member", conTown, conVillage)
	official := signIn(t, env.URL, "town-official", conTown, "")
	chair := signIn(t, env.URL, "supervision-chair", conTown, conVillage)

	start := member.get("/console/start")
	if start.status != 200 || !strings.Contains(start.body, `href="/console/apply/duty-homestead"`) ||
		strings.Contains(start.body, `href="/console/apply/funds-expenditure"`) {
		t.Fatalf("start page: %d %.3000s", start.status, start.body)
	}
	if p := chair.get("/console/start"); strings.Contains(p.body, "/console/apply/") {
		t.Error("a supervisor is offered 代办")
	}
	if p := member.get("/console/apply/funds-expenditure"); p.status != 404 {
		t.Errorf("代办 of a cadre-first item: %d", p.status)
	}

	cases := []struct {
		name    string
		who     *staff
		village string
	}{
		{"village cadre", member, ""},
		{"town service desk", official, conVillage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form := tc.who.get("/console/apply/service-certificate")
			if form.status != 200 || !strings.Contains(form.body, "书面申请（必需）") || !strings.Contains(form.body, `name="applicantName"`) {
				t.Fatalf("form: %d %.3000s", form.status, form.body)
			}
			v := url.Values{"csrf": {csrfOf(t, form.body)}, "applicantName": {"李四"}, "applicantPhone": {"13900139000"},
				"description": {"需要开具居住证明"}}
			if tc.village != "" {
				v.Set("village", tc.village)
			}
			bad := url.Values{}
			for k, x := range v {
				bad[k] = x
			}
			bad.Set("applicantPhone", "12")
			if p := tc.who.post("/console/apply/service-certificate", bad); p.status != 422 || !strings.Contains(p.body, "联系电话") {
				t.Fatalf("a wrong phone: %d %.2000s", p.status, mainOf(p.body))
			}
			p := tc.who.post("/console/apply/service-certificate", v)
			m := consoleCodeRE.FindStringSubmatch(p.body)
			if p.status != 201 || m == nil {
				t.Fatalf("filed: %d %.3000s", p.status, mainOf(p.body))
			}
			number := regexp.MustCompile(`id="tracking-number">([^<]+)<`).FindStringSubmatch(p.body)[1]
			inst, err := env.WF.ByTrackingNumber(context.Background(), number)
			if err != nil {
				t.Fatal(err)
			}
			app, err := env.WF.ApplicationOf(context.Background(), inst.ID)
			if err != nil {
				t.Fatal(err)
			}
			if app.Channel != workflow.ChannelOnBehalf || app.FiledBy != tc.who.id || app.ApplicantName != "李四" ||
				inst.Steps[0].ActorID != workflow.ApplicantActorID || !strings.Contains(inst.Steps[0].Note, "代办") {
				t.Errorf("record: %+v %+v", app, inst.Steps[0])
			}
		})
	}
}
