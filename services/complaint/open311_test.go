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
	svcs := apiCall(t, ts, "GET", base+"services.json", "", nil, "", "")
	if svcs.status != 200 || len(svcs.list) != len(Categories) || svcs.list[3]["service_code"] != "cadre-conduct" || svcs.list[0]["service_name"] != "村级资金" {
		t.Fatalf("services: %d %s", svcs.status, svcs.raw)
	}
	def := apiCall(t, ts, "GET", base+"services/subsidy.json", "", nil, "", "")
	if def.status != 200 || def.body["service_code"] != "subsidy" || !strings.Contains(def.raw, `"code":"village"`) {
		t.Fatalf("definition: %d %s", def.status, def.raw)
	}
	for _, p := range []string{"services/gossip.json", "services/subsidy.xml", "services.json?jurisdiction_id=jinping"} {
		if r := apiCall(t, ts, "GET", base+p, "", nil, "", ""); r.status != 404 || len(r.list) != 1 || r.list[0]["code"].(float64) != 404 {
			t.Errorf("%s: %d %s", p, r.status, r.raw)
		}
	}

	// POST (form): a tracking code as the id, the secret as the token.
	form := url.Values{"jurisdiction_id": {testTown}, "service_code": {"subsidy"}, "description": {"低保名单里有村干部亲属，请核查"},
		"attribute[village]": {testVillage}}
	created := apiCall(t, ts, "POST", base+"requests.json", "", nil, "application/x-www-form-urlencoded", form.Encode())
	if created.status != 200 || len(created.list) != 1 {
		t.Fatalf("create: %d %s", created.status, created.raw)
	}
	id, _ := created.list[0]["service_request_id"].(string)
	token, _ := created.list[0]["token"].(string)
	if !ValidTrackingCode(id) || token == "" || created.list[0]["service_notice"] == "" {
		t.Fatalf("create: %s", created.raw)
	}

	// POST (JSON, address_id).
	js := apiCall(t, ts, "POST", base+"requests.json", "", nil, "application/json",
		`{"service_code":"service","description":"村便民服务中心经常无人值班","address_id":"`+testVillage+`"}`)
	if js.status != 200 || len(js.list) != 1 {
		t.Fatalf("create (JSON): %d %s", js.status, js.raw)
	}
	id2 := js.list[0]["service_request_id"].(string)

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
			r := apiCall(t, ts, "POST", base+"requests.json", "", nil, "application/x-www-form-urlencoded", tc.form.Encode())
			if r.status != tc.status || len(r.list) == 0 || r.list[0]["code"].(float64) != float64(tc.status) ||
				!strings.Contains(r.list[0]["description"].(string), tc.want) {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
		})
	}

	// GET one: open, then closed with the public notes once resolved.
	one := apiCall(t, ts, "GET", base+"requests/"+id+".json", "", nil, "", "")
	if one.status != 200 || len(one.list) != 1 || one.list[0]["status"] != "open" || one.list[0]["service_code"] != "subsidy" ||
		one.list[0]["expected_datetime"] == nil || one.list[0]["requested_datetime"] == nil || one.list[0]["address_id"] != testVillage {
		t.Fatalf("get: %d %s", one.status, one.raw)
	}
	if strings.Contains(one.raw, "低保名单") {
		t.Errorf("the description is public: %s", one.raw)
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
	one = apiCall(t, ts, "GET", base+"requests/"+id+".json", "", nil, "", "")
	if one.status != 200 || one.list[0]["status"] != "closed" || one.list[0]["status_notes"] != "已将不符合条件的人员移出名单" {
		t.Fatalf("get after resolving: %d %s", one.status, one.raw)
	}
	if r := apiCall(t, ts, "GET", base+"requests/TS-2222-2222.json", "", nil, "", ""); r.status != 404 || r.list[0]["code"].(float64) != 404 {
		t.Errorf("unknown request: %d %s", r.status, r.raw)
	}

	// GET several by id.
	many := apiCall(t, ts, "GET", base+"requests.json?service_request_id="+id+","+id2+",TS-2222-2222", "", nil, "", "")
	if many.status != 200 || len(many.list) != 2 || many.list[1]["service_request_id"] != id2 || many.list[1]["status"] != "open" {
		t.Fatalf("query: %d %s", many.status, many.raw)
	}
	if r := apiCall(t, ts, "GET", base+"requests.json", "", nil, "", ""); r.status != 400 {
		t.Errorf("query without ids: %d %s", r.status, r.raw)
	}
	if r := apiCall(t, ts, "GET", base+"requests.json?jurisdiction_id=jinping&service_request_id="+id, "", nil, "", ""); r.status != 404 {
		t.Errorf("query in another jurisdiction: %d %s", r.status, r.raw)
	}

	// The token is the feedback secret of the complaint.
	fb := apiJSON(t, ts, "POST", "/v1/public/complaints/"+id+"/feedback", "", feedbackRequest{Secret: token, Satisfied: true})
	if fb.status != 200 || fb.body["status"] != "closed" {
		t.Fatalf("feedback with the token: %d %s", fb.status, fb.raw)
	}
}

func TestOpen311RateLimit(t *testing.T) {
	ts, _ := apiServer(t, RateLimitConfig{ClientBurst: 1, VillageBurst: 100, FloodThreshold: 100})
	form := url.Values{"service_code": {"funds"}, "description": {"村里修路的钱去向不明，请核查"}, "address_id": {testVillage}}.Encode()
	if r := apiCall(t, ts, "POST", "/open311/v2/requests.json", "", nil, "application/x-www-form-urlencoded", form); r.status != 200 {
		t.Fatalf("first: %d %s", r.status, r.raw)
	}
	r := apiCall(t, ts, "POST", "/open311/v2/requests.json", "", nil, "application/x-www-form-urlencoded", form)
	if r.status != 429 || r.header.Get("Retry-After") == "" || len(r.list) != 1 || r.list[0]["code"].(float64) != 429 {
		t.Fatalf("second: %d %s", r.status, r.raw)
	}
}
