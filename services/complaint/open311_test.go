package complaint

import (
	"net/url"
	"strings"
	"testing"
)

func TestOpen311(t *testing.T) {
	ts, a := apiServer(t, generous)
	base := "/open311/v2/"

	// Discovery: the five categories as services, each defined with its
	// village attribute.
	svcs := client(ts).Call(t, "GET", base+"services.json", "", "", "")
	if svcs.Status != 200 || len(svcs.List) != len(Categories) || svcs.List[3]["service_code"] != "cadre-conduct" || svcs.List[0]["service_name"] != "村级资金" {
		t.Fatalf("services: %d %s", svcs.Status, svcs.Raw)
	}
	def := client(ts).Call(t, "GET", base+"services/subsidy.json", "", "", "")
	if def.Status != 200 || def.Body["service_code"] != "subsidy" || !strings.Contains(def.Raw, `"code":"village"`) {
		t.Fatalf("definition: %d %s", def.Status, def.Raw)
	}
	for _, p := range []string{"services/gossip.json", "services/subsidy.xml", "services.json?jurisdiction_id=jinping"} {
		if r := client(ts).Call(t, "GET", base+p, "", "", ""); r.Status != 404 || len(r.List) != 1 || r.List[0]["code"].(float64) != 404 {
			t.Errorf("%s: %d %s", p, r.Status, r.Raw)
		}
	}

	// POST (form): a tracking code as the id, the secret as the token.
	form := url.Values{"jurisdiction_id": {testTown}, "service_code": {"subsidy"}, "description": {"低保名单里有村干部亲属，请核查"},
		"attribute[village]": {testVillage}}
	created := client(ts).Call(t, "POST", base+"requests.json", "", "application/x-www-form-urlencoded", form.Encode())
	if created.Status != 200 || len(created.List) != 1 {
		t.Fatalf("create: %d %s", created.Status, created.Raw)
	}
	id, _ := created.List[0]["service_request_id"].(string)
	token, _ := created.List[0]["token"].(string)
	if !ValidTrackingCode(id) || token == "" || created.List[0]["service_notice"] == "" {
		t.Fatalf("create: %s", created.Raw)
	}

	// POST (JSON, address_id).
	js := client(ts).Call(t, "POST", base+"requests.json", "", "application/json", `{"service_code":"service","description":"村便民服务中心经常无人值班","address_id":"`+testVillage+`"}`)
	if js.Status != 200 || len(js.List) != 1 {
		t.Fatalf("create (JSON): %d %s", js.Status, js.Raw)
	}
	id2 := js.List[0]["service_request_id"].(string)

	// Refusals in Open311's error format.
	refused := []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{"other jurisdiction", url.Values{"jurisdiction_id": {"jinping"}, "service_code": {"subsidy"}, "description": {"低保名单里有村干部亲属，请核查"}, "address_id": {testVillage}}, 404, "jinping"},
		{"no village", url.Values{"service_code": {"subsidy"}, "description": {"低保名单里有村干部亲属，请核查"}}, 400, "attribute[village]"},
		{"unknown service", url.Values{"service_code": {"gossip"}, "description": {"低保名单里有村干部亲属，请核查"}, "address_id": {testVillage}}, 400, "service_code"},
		{"short description", url.Values{"service_code": {"subsidy"}, "description": {"短"}, "address_id": {testVillage}}, 400, "description"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			r := client(ts).Call(t, "POST", base+"requests.json", "", "application/x-www-form-urlencoded", tc.form.Encode())
			if r.Status != tc.status || len(r.List) == 0 || r.List[0]["code"].(float64) != float64(tc.status) ||
				!strings.Contains(r.List[0]["description"].(string), tc.want) {
				t.Fatalf("got %d %s", r.Status, r.Raw)
			}
		})
	}

	// GET one: open, then closed with the public notes once resolved.
	one := client(ts).Call(t, "GET", base+"requests/"+id+".json", "", "", "")
	if one.Status != 200 || len(one.List) != 1 || one.List[0]["status"] != "open" || one.List[0]["service_code"] != "subsidy" ||
		one.List[0]["expected_datetime"] == nil || one.List[0]["requested_datetime"] == nil || one.List[0]["address_id"] != testVillage {
		t.Fatalf("get: %d %s", one.Status, one.Raw)
	}
	if strings.Contains(one.Raw, "低保名单") {
		t.Errorf("the description is public: %s", one.Raw)
	}
	ctx := t.Context()
	liaison := Actor{ID: "liaison-1", Role: RoleLiaisonOfficer, Town: testTown, Village: testVillage}
	pv, _ := a.Service.Track(ctx, id)
	cs, err := a.Service.List(ctx, liaison, testVillage, 10)
	if err != nil {
		t.Fatal(err)
	}
	var cid string
	for _, c := range cs {
		if c.TrackingCode == pv.TrackingCode {
			cid = c.ID
		}
	}
	for _, act := range []Action{{Type: ActionAccept}, {Type: ActionInvestigate}, {Type: ActionResolve, Reason: "已核实并纠正", Outcome: OutcomeSubstantiated}} {
		if _, err := a.Service.Act(ctx, liaison, cid, act); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Service.AddNote(ctx, liaison, cid, "已将不符合条件的人员移出名单", true); err != nil {
		t.Fatal(err)
	}
	one = client(ts).Call(t, "GET", base+"requests/"+id+".json", "", "", "")
	if one.Status != 200 || one.List[0]["status"] != "closed" || one.List[0]["status_notes"] != "已将不符合条件的人员移出名单" {
		t.Fatalf("get after resolving: %d %s", one.Status, one.Raw)
	}
	if r := client(ts).Call(t, "GET", base+"requests/TS-2222-2222.json", "", "", ""); r.Status != 404 || r.List[0]["code"].(float64) != 404 {
		t.Errorf("unknown request: %d %s", r.Status, r.Raw)
	}

	// GET several by id.
	many := client(ts).Call(t, "GET", base+"requests.json?service_request_id="+id+","+id2+",TS-2222-2222", "", "", "")
	if many.Status != 200 || len(many.List) != 2 || many.List[1]["service_request_id"] != id2 || many.List[1]["status"] != "open" {
		t.Fatalf("query: %d %s", many.Status, many.Raw)
	}
	if r := client(ts).Call(t, "GET", base+"requests.json", "", "", ""); r.Status != 400 {
		t.Errorf("query without ids: %d %s", r.Status, r.Raw)
	}
	if r := client(ts).Call(t, "GET", base+"requests.json?jurisdiction_id=jinping&service_request_id="+id, "", "", ""); r.Status != 404 {
		t.Errorf("query in another jurisdiction: %d %s", r.Status, r.Raw)
	}

	// The token is the feedback secret of the complaint.
	fb := client(ts).JSON(t, "POST", "/v1/public/complaints/"+id+"/feedback", "", feedbackRequest{Secret: token, Satisfied: true})
	if fb.Status != 200 || fb.Body["status"] != "closed" {
		t.Fatalf("feedback with the token: %d %s", fb.Status, fb.Raw)
	}
}

func TestOpen311RateLimit(t *testing.T) {
	ts, _ := apiServer(t, RateLimitConfig{ClientBurst: 1, VillageBurst: 100, FloodThreshold: 100})
	form := url.Values{"service_code": {"funds"}, "description": {"村里修路的钱去向不明，请核查"}, "address_id": {testVillage}}.Encode()
	if r := client(ts).Call(t, "POST", "/open311/v2/requests.json", "", "application/x-www-form-urlencoded", form); r.Status != 200 {
		t.Fatalf("first: %d %s", r.Status, r.Raw)
	}
	r := client(ts).Call(t, "POST", "/open311/v2/requests.json", "", "application/x-www-form-urlencoded", form)
	if r.Status != 429 || r.Header.Get("Retry-After") == "" || len(r.List) != 1 || r.List[0]["code"].(float64) != 429 {
		t.Fatalf("second: %d %s", r.Status, r.Raw)
	}
}
