package complaint

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// generous lets the tests file as often as they like.
var generous = RateLimitConfig{ClientBurst: 1000, VillageBurst: 1000, FloodThreshold: 1000}

// apiServer runs the complaint HTTP API on the real PostgreSQL and Kratos,
// with the given intake limits and an easy proof of work.
func apiServer(t *testing.T, limits RateLimitConfig) (*httptest.Server, *API) {
	t.Helper()
	return apiServerBehind(t, limits, nil)
}

// apiServerBehind is apiServer configured to trust X-Forwarded-For from
// the reverse proxies in trustedProxies (CIDRs).
func apiServerBehind(t *testing.T, limits RateLimitConfig, trustedProxies []string) (*httptest.Server, *API) {
	t.Helper()
	s, _ := newService(t)
	auth := httpapitest.Auth(t)
	limits.MinDifficulty, limits.MaxDifficulty = 8, 8
	a := &API{Service: s, Limiter: NewRateLimiter(limits),
		Challenger: NewChallenger(ChallengerConfig{MinDifficulty: 8, MaxDifficulty: 8}), Optional: auth.Optional}
	base := httpapitest.APIBase(testTown)
	base.TrustedProxies = trustedProxies
	return httpapitest.Serve(t, base, auth, a.Routes), a
}

// client calls ts as the services' clients do.
func client(ts *httptest.Server) httpapitest.Client { return httpapitest.Client{URL: ts.URL} }

func file(t *testing.T, ts *httptest.Server, token string, cat Category) httpapitest.Response {
	t.Helper()
	return client(ts).JSON(t, "POST", "/v1/public/villages/"+testVillage+"/complaints", token, intakeRequest{Category: cat, Description: "村里修路的钱去向不明，请核查"})
}

func TestAPIIntakeTrackAndStaff(t *testing.T) {
	ts, _ := apiServer(t, generous)
	villager, villagerID := testinfra.KratosUser(t, "villager", testTown, testVillage)
	secretary, _ := testinfra.KratosUser(t, "secretary", testTown, testVillage)
	liaison, _ := testinfra.KratosUser(t, "liaison-officer", testTown, testVillage)
	discipline, _ := testinfra.KratosUser(t, "town-discipline", testTown, "")

	// Anonymous intake: a tracking code and a secret.
	anon := file(t, ts, "", CategoryFunds)
	code, _ := anon.Body["trackingCode"].(string)
	secret, _ := anon.Body["secret"].(string)
	if anon.Status != 201 || !ValidTrackingCode(code) || secret == "" {
		t.Fatalf("anonymous intake: %d %s", anon.Status, anon.Raw)
	}
	// A signed-in villager's complaint about the village's cadres.
	signed := file(t, ts, villager, CategoryCadreConduct)
	if signed.Status != 201 {
		t.Fatalf("signed-in intake: %d %s", signed.Status, signed.Raw)
	}
	cadreCode := signed.Body["trackingCode"].(string)
	if r := file(t, ts, "not-a-session-token", CategoryFunds); r.Status != 401 {
		t.Fatalf("intake with a bad token: %d %s", r.Status, r.Raw)
	}

	// The public status: no reporter, no description.
	pub := client(ts).Call(t, "GET", "/v1/public/complaints/"+cadreCode, "", "", "")
	if pub.Status != 200 || pub.Body["status"] != "received" || pub.Body["dueAt"] == nil {
		t.Fatalf("public status: %d %s", pub.Status, pub.Raw)
	}
	for _, secret := range []string{"reporter", villagerID.ID, "修路"} {
		if strings.Contains(pub.Raw, secret) {
			t.Errorf("the public status shows %q: %s", secret, pub.Raw)
		}
	}
	if r := client(ts).Call(t, "GET", "/v1/public/complaints/TS-2222-2222", "", "", ""); r.Status != 404 {
		t.Errorf("unknown code: %d", r.Status)
	}

	// The secretary sees the funds complaint, not the cadre-conduct one,
	// and never a reporter.
	sec := client(ts).Call(t, "GET", "/v1/villages/"+testVillage+"/complaints", secretary, "", "")
	items, _ := sec.Body["items"].([]any)
	if sec.Status != 200 || len(items) != 1 || items[0].(map[string]any)["trackingCode"] != code ||
		strings.Contains(sec.Raw, "reporter") || strings.Contains(sec.Raw, cadreCode) {
		t.Fatalf("secretary's list: %d %s", sec.Status, sec.Raw)
	}
	if r := client(ts).Call(t, "GET", "/v1/villages/"+testVillage+"/complaints", "", "", ""); r.Status != 401 {
		t.Errorf("list without a session: %d", r.Status)
	}
	if r := client(ts).Call(t, "GET", "/v1/villages/"+testVillage+"/complaints", villager, "", ""); r.Status != 403 {
		t.Errorf("list as a villager: %d", r.Status)
	}

	// The town's discipline office sees both, and who filed the signed one.
	dis := client(ts).Call(t, "GET", "/v1/villages/"+testVillage+"/complaints", discipline, "", "")
	items, _ = dis.Body["items"].([]any)
	if dis.Status != 200 || len(items) != 2 {
		t.Fatalf("discipline's list: %d %s", dis.Status, dis.Raw)
	}
	var cadreID string
	for _, it := range items {
		c := it.(map[string]any)
		if c["trackingCode"] == cadreCode {
			cadreID = c["id"].(string)
			rep, _ := c["reporter"].(map[string]any)
			if rep == nil || rep["id"] != villagerID.ID {
				t.Errorf("discipline does not see the reporter: %v", c)
			}
		} else if c["reporter"] != nil {
			t.Errorf("an anonymous complaint has a reporter: %v", c)
		}
	}
	if r := client(ts).Call(t, "GET", "/v1/complaints/"+cadreID, secretary, "", ""); r.Status != 404 {
		t.Errorf("secretary reads the cadre-conduct complaint: %d %s", r.Status, r.Raw)
	}
	if r := client(ts).Call(t, "GET", "/v1/complaints/"+cadreID, discipline, "", ""); r.Status != 200 || r.Body["reporter"] == nil {
		t.Errorf("discipline reads the complaint: %d %s", r.Status, r.Raw)
	}

	// The liaison officer handles the funds complaint.
	ids := map[string]string{}
	for _, it := range items {
		c := it.(map[string]any)
		ids[c["trackingCode"].(string)] = c["id"].(string)
	}
	id := ids[code]
	if r := client(ts).JSON(t, "POST", "/v1/complaints/"+id+"/actions", secretary, actionRequest{Action: ActionAccept}); r.Status != 403 {
		t.Fatalf("secretary accepts: %d %s", r.Status, r.Raw)
	}
	if r := client(ts).JSON(t, "POST", "/v1/complaints/"+id+"/actions", liaison, actionRequest{Action: ActionResolve, Summary: "x"}); r.Status != 409 {
		t.Fatalf("resolving a received complaint: %d %s", r.Status, r.Raw)
	}
	for _, act := range []actionRequest{{Action: ActionAccept}, {Action: ActionInvestigate}} {
		if r := client(ts).JSON(t, "POST", "/v1/complaints/"+id+"/actions", liaison, act); r.Status != 200 || r.Body["reporter"] != nil {
			t.Fatalf("%s: %d %s", act.Action, r.Status, r.Raw)
		}
	}
	if r := client(ts).JSON(t, "POST", "/v1/complaints/"+id+"/notes", liaison, noteRequest{Body: "已约谈村会计", Public: true}); r.Status != 201 {
		t.Fatalf("note: %d %s", r.Status, r.Raw)
	}
	if r := client(ts).JSON(t, "POST", "/v1/complaints/"+id+"/notes", liaison, noteRequest{Body: "内部备注：账目复印件在档案室"}); r.Status != 201 {
		t.Fatalf("internal note: %d %s", r.Status, r.Raw)
	}
	// The outcome is required, and the refusal names the allowed values.
	for _, bad := range []string{`{"action":"resolve","summary":"已退回多收款项"}`, `{"action":"resolve","summary":"已退回多收款项","outcome":"yes"}`} {
		r := client(ts).Call(t, "POST", "/v1/complaints/"+id+"/actions", liaison, "application/json", bad)
		if r.Status != 400 || !strings.Contains(r.Raw, "substantiated, partly-substantiated, unsubstantiated") ||
			!strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("resolve %s: %d %s", bad, r.Status, r.Raw)
		}
	}
	if r := client(ts).Call(t, "POST", "/v1/complaints/"+id+"/actions", liaison, "application/json", `{"action":"resolve","summary":"已退回多收款项","outcome":"partly-substantiated"}`); r.Status != 200 || r.Body["status"] != "resolved" || r.Body["outcome"] != "partly-substantiated" {
		t.Fatalf("resolve: %d %s", r.Status, r.Raw)
	}
	pub = client(ts).Call(t, "GET", "/v1/public/complaints/"+code, "", "", "")
	if pub.Status != 200 || pub.Body["status"] != "resolved" || !strings.Contains(pub.Raw, "已约谈村会计") || strings.Contains(pub.Raw, "内部备注") {
		t.Fatalf("public status after resolving: %s", pub.Raw)
	}

	// Feedback needs the secret.
	if r := client(ts).JSON(t, "POST", "/v1/public/complaints/"+code+"/feedback", "", feedbackRequest{Secret: "WRONG", Satisfied: true}); r.Status != 404 {
		t.Fatalf("feedback with a wrong secret: %d %s", r.Status, r.Raw)
	}
	if r := client(ts).JSON(t, "POST", "/v1/public/complaints/"+code+"/feedback", "", feedbackRequest{Secret: secret, Satisfied: true}); r.Status != 200 || r.Body["status"] != "closed" {
		t.Fatalf("feedback: %d %s", r.Status, r.Raw)
	}

	// Statistics count what the caller sees.
	st := client(ts).Call(t, "GET", "/v1/statistics?year=2026", discipline, "", "")
	if st.Status != 200 || st.Body["stats"].(map[string]any)["total"].(float64) != 2 {
		t.Fatalf("statistics: %d %s", st.Status, st.Raw)
	}
	st = client(ts).Call(t, "GET", "/v1/statistics?year=2026", secretary, "", "")
	if st.Status != 200 || st.Body["stats"].(map[string]any)["total"].(float64) != 1 {
		t.Fatalf("secretary's statistics: %d %s", st.Status, st.Raw)
	}
	if r := client(ts).Call(t, "GET", "/v1/statistics?year=26", discipline, "", ""); r.Status != 422 {
		t.Errorf("bad year: %d", r.Status)
	}

	doc := client(ts).Call(t, "GET", "/openapi.yaml", "", "", "")
	if doc.Status != 200 || !strings.Contains(doc.Raw, "/v1/public/villages/{village}/complaints:") {
		t.Fatalf("openapi: %d", doc.Status)
	}
	var spec struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := yaml.Unmarshal([]byte(doc.Raw), &spec); err != nil || spec.OpenAPI != "3.1.0" || len(spec.Paths) != 17 {
		t.Fatalf("openapi: %v %q %d paths", err, spec.OpenAPI, len(spec.Paths))
	}
}

func TestAPIMalformedIntake(t *testing.T) {
	ts, _ := apiServer(t, generous)
	r := client(ts).JSON(t, "POST", "/v1/public/villages/"+testVillage+"/complaints", "", intakeRequest{Category: "gossip", Description: "短"})
	if r.Status != 422 || !strings.HasSuffix(r.ProblemType(), "/validation") {
		t.Fatalf("invalid intake: %d %s", r.Status, r.Raw)
	}
	var fields []string
	for _, e := range r.Body["errors"].([]any) {
		fields = append(fields, e.(map[string]any)["field"].(string))
	}
	if !slices.Equal(fields, []string{"category", "description"}) {
		t.Errorf("fields %v", fields)
	}
	if r := client(ts).Call(t, "POST", "/v1/public/villages/"+testVillage+"/complaints", "", "application/json", "{"); r.Status != 400 {
		t.Errorf("malformed JSON: %d %s", r.Status, r.Raw)
	}
	if r := file(t, ts, "", CategoryFunds); r.Status != 201 {
		t.Errorf("valid intake after: %d %s", r.Status, r.Raw)
	}
	if r := client(ts).JSON(t, "POST", "/v1/public/villages/123/complaints", "", intakeRequest{Category: CategoryFunds, Description: "村里修路的钱去向不明"}); r.Status != 404 {
		t.Errorf("bad village: %d", r.Status)
	}
}

func TestAPIRateLimit(t *testing.T) {
	ts, _ := apiServer(t, RateLimitConfig{ClientBurst: 2, VillageBurst: 100, FloodThreshold: 100})
	for i := range 2 {
		if r := file(t, ts, "", CategoryService); r.Status != 201 {
			t.Fatalf("intake %d: %d %s", i, r.Status, r.Raw)
		}
	}
	r := file(t, ts, "", CategoryService)
	if r.Status != 429 || r.Header.Get("Retry-After") == "" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("after the burst: %d %v %s", r.Status, r.Header, r.Raw)
	}
}

// TestAPIRateLimitBehindProxy: behind a trusted ingress (the test client
// at 127.0.0.1 plays it) each villager has their own budget, keyed on the
// address the ingress saw; without trusted proxies a client cannot escape
// its budget by inventing X-Forwarded-For addresses.
func TestAPIRateLimitBehindProxy(t *testing.T) {
	limits := RateLimitConfig{ClientBurst: 1, VillageBurst: 100, FloodThreshold: 100}
	body := `{"category":"service","description":"村里修路的钱去向不明，请核查"}`
	path := "/v1/public/villages/" + testVillage + "/complaints"
	from := func(ts *httptest.Server, xff string) int {
		h := http.Header{}
		h.Set("X-Forwarded-For", xff)
		return client(ts).Do(t, httpapitest.Request{Method: "POST", Path: path, Token: "", Header: h, ContentType: "application/json", Body: body}).Status
	}
	behind, _ := apiServerBehind(t, limits, []string{"127.0.0.0/8", "::1/128"})
	for _, step := range []struct {
		xff  string
		want int
	}{
		{"203.0.113.1", 201},
		{"203.0.113.1", 429},               // same villager: over budget
		{"203.0.113.2", 201},               // another villager behind the same ingress
		{"198.51.100.9, 203.0.113.1", 429}, // a forged left-most entry does not help
		{"203.0.113.1, 127.0.0.1", 429},    // nor a trusted hop appended by the client
		{"203.0.113.3, 127.0.0.5", 201},    // two trusted hops: the client is left of them
		{"2001:db8:5:6::1", 201},           // an IPv6 client...
		{"2001:db8:5:6:a:b:c:d", 429},      // ...is its /64: another address of it is no new client
		{"[2001:db8:5:6::2]:443", 429},     // nor with a port
		{"2001:db8:5:7::1", 201},           // the next /64 is another villager
	} {
		if got := from(behind, step.xff); got != step.want {
			t.Errorf("behind the ingress, X-Forwarded-For %q: %d, want %d", step.xff, got, step.want)
		}
	}
	direct, _ := apiServer(t, limits)
	for i, want := range []int{201, 429, 429} {
		if got := from(direct, fmt.Sprintf("203.0.113.%d", 10+i)); got != want {
			t.Errorf("untrusted peer, forged address %d: %d, want %d", i, got, want)
		}
	}
}

func TestAPIFloodChallenge(t *testing.T) {
	ts, _ := apiServer(t, RateLimitConfig{ClientBurst: 100, VillageBurst: 1, FloodThreshold: 100})
	if r := file(t, ts, "", CategoryProject); r.Status != 201 {
		t.Fatalf("first: %d %s", r.Status, r.Raw)
	}
	r := file(t, ts, "", CategoryProject)
	ch, _ := r.Body["challenge"].(map[string]any)
	if r.Status != 428 || ch == nil || ch["token"] == "" || ch["difficulty"].(float64) != 8 {
		t.Fatalf("flood: %d %s", r.Status, r.Raw)
	}
	nonce := SolvePoW(ch["seed"].(string), int(ch["difficulty"].(float64)))
	h := http.Header{}
	h.Set(HeaderChallenge, ch["token"].(string))
	h.Set(HeaderNonce, nonce)
	body := `{"category":"project","description":"村里修路的钱去向不明，请核查"}`
	path := "/v1/public/villages/" + testVillage + "/complaints"
	if r := client(ts).Do(t, httpapitest.Request{Method: "POST", Path: path, Token: "", Header: h, ContentType: "application/json", Body: body}); r.Status != 201 {
		t.Fatalf("with the proof: %d %s", r.Status, r.Raw)
	}
	if r := client(ts).Do(t, httpapitest.Request{Method: "POST", Path: path, Token: "", Header: h, ContentType: "application/json", Body: body}); r.Status != 403 || r.Body["code"] != "challenge_reused" {
		t.Fatalf("proof reused: %d %s", r.Status, r.Raw)
	}
	h.Set(HeaderNonce, "not-a-solution")
	if r := client(ts).Do(t, httpapitest.Request{Method: "POST", Path: path, Token: "", Header: h, ContentType: "application/json", Body: body}); r.Status != 403 {
		t.Fatalf("bad nonce: %d %s", r.Status, r.Raw)
	}
}

// TestAPIOtherTownIsRefused: staff and cadres of another town are refused
// on every staff route (403, or 404 for a complaint), where they used to get this town's empty
// lists and statistics (200); district staff still read.
func TestAPIOtherTownIsRefused(t *testing.T) {
	ts, _ := apiServer(t, generous)
	filed := file(t, ts, "", CategoryFunds)
	if filed.Status != 201 {
		t.Fatalf("intake: %d %s", filed.Status, filed.Raw)
	}
	discipline, _ := testinfra.KratosUser(t, "town-discipline", testTown, "")
	list := client(ts).Call(t, "GET", "/v1/villages/"+testVillage+"/complaints", discipline, "", "")
	items, _ := list.Body["items"].([]any)
	if list.Status != 200 || len(items) != 1 {
		t.Fatalf("this town's discipline office lists: %d %s", list.Status, list.Raw)
	}
	id := items[0].(map[string]any)["id"].(string)

	for _, role := range []string{"town-discipline", "town-official", "town-finance", "secretary", "liaison-officer"} {
		village := ""
		if role == "secretary" || role == "liaison-officer" {
			village = testVillage // the same code, claimed in another town
		}
		token, _ := testinfra.KratosUser(t, role, "jinping", village)
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/v1/villages/" + testVillage + "/complaints", ""},
			{"GET", "/v1/statistics", ""},
			{"GET", "/v1/complaints/" + id, ""},
			{"POST", "/v1/complaints/" + id + "/actions", `{"action":"accept"}`},
			{"POST", "/v1/complaints/" + id + "/notes", `{"body":"看看"}`},
			{"GET", "/v1/complaints/" + id + "/attachments/0", ""},
		} {
			ct := ""
			if c.body != "" {
				ct = "application/json"
			}
			want := 403 // a list or the statistics
			if strings.Contains(c.path, id) {
				want = 404 // a complaint: its id is not even confirmed
			}
			if r := client(ts).Call(t, c.method, c.path, token, ct, c.body); r.Status != want {
				t.Errorf("%s of jinping: %s %s: %d %s, want %d", role, c.method, c.path, r.Status, r.Raw, want)
			}
		}
	}
	district, _ := testinfra.KratosUser(t, "district-discipline", "", "")
	if r := client(ts).Call(t, "GET", "/v1/complaints/"+id, district, "", ""); r.Status != 200 || r.Body["status"] != "received" {
		t.Errorf("district discipline reads: %d %s", r.Status, r.Raw)
	}
}
