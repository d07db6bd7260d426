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

			// The process page leads to the application; the cadre asks
			// once for what is missing, then gives the appointment.
			proc := tc.who.get("/console/processes/" + inst.ID)
			if !strings.Contains(proc.body, `href="/console/processes/`+inst.ID+`/application"`) {
				t.Fatalf("process page lacks the application link: %.2000s", mainOf(proc.body))
			}
			page := tc.who.get("/console/processes/" + inst.ID + "/application")
			if page.status != 200 || !strings.Contains(page.body, "13900139000") || !strings.Contains(page.body, `value="书面申请"`) {
				t.Fatalf("application page: %d %.3000s", page.status, mainOf(page.body))
			}
			token := csrfOf(t, page.body)
			ask := url.Values{"csrf": {token}, "missing": {"书面申请", "身份证"}, "other": {"房产证复印件"}}
			if p := tc.who.post("/console/processes/"+inst.ID+"/materials-request", ask); p.status != 303 {
				t.Fatalf("materials request: %d %.2000s", p.status, mainOf(p.body))
			}
			if p := tc.who.post("/console/processes/"+inst.ID+"/materials-request", ask); p.status != 409 || !strings.Contains(p.body, "只能一次性告知") {
				t.Fatalf("second request: %d %.2000s", p.status, mainOf(p.body))
			}
			appt := url.Values{"csrf": {token}, "visit": {"yes"}, "at": {"2026-03-09T09:30"}, "place": {"村便民服务中心"}}
			if p := tc.who.post("/console/processes/"+inst.ID+"/appointment", appt); p.status != 303 {
				t.Fatalf("appointment: %d %.2000s", p.status, mainOf(p.body))
			}
			page = tc.who.get("/console/processes/" + inst.ID + "/application")
			if !strings.Contains(page.body, "书面申请、身份证、房产证复印件") || !strings.Contains(page.body, "2026-03-09 09:30") {
				t.Errorf("after: %.3000s", mainOf(page.body))
			}
		})
	}
}
