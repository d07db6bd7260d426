package complaint

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
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
	auth := identity.New(testinfra.Require(t, testinfra.EnvKratosPublicURL), identity.WithCacheTTL(0),
		identity.WithErrorWriter(httpapi.WriteStatusProblem))
	limits.MinDifficulty, limits.MaxDifficulty = 8, 8
	a := &API{Service: s, Limiter: NewRateLimiter(limits),
		Challenger: NewChallenger(ChallengerConfig{MinDifficulty: 8, MaxDifficulty: 8}), Optional: auth.Optional}
	srv := httpapi.New(config.Base{Town: testTown, MaxBodyBytes: 64 << 10, TrustedProxies: trustedProxies},
		slog.New(slog.DiscardHandler), nil).WithAuthenticator(auth.Require)
	a.Routes(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, a
}

type apiResponse struct {
	status int
	header http.Header
	body   map[string]any
	list   []map[string]any
	raw    string
}

func apiCall(t *testing.T, ts *httptest.Server, method, path, token string, header http.Header, contentType, body string) apiResponse {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := apiResponse{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	_ = json.Unmarshal(raw, &r.list)
	return r
}

func apiJSON(t *testing.T, ts *httptest.Server, method, path, token string, body any) apiResponse {
	t.Helper()
	b, _ := json.Marshal(body)
	return apiCall(t, ts, method, path, token, nil, "application/json", string(b))
}

func problemType(r apiResponse) string {
	s, _ := r.body["type"].(string)
	return s
}

func file(t *testing.T, ts *httptest.Server, token string, cat Category) apiResponse {
	t.Helper()
	return apiJSON(t, ts, "POST", "/v1/public/villages/"+testVillage+"/complaints", token,
		intakeRequest{Category: cat, Description: "村里修路的钱去向不明，请核查"})
}

func TestAPIIntakeTrackAndStaff(t *testing.T) {
	ts, _ := apiServer(t, generous)
	villager, villagerID := testinfra.KratosUser(t, "villager", testTown, testVillage)
	secretary, _ := testinfra.KratosUser(t, "secretary", testTown, testVillage)
	liaison, _ := testinfra.KratosUser(t, "liaison-officer", testTown, testVillage)
	discipline, _ := testinfra.KratosUser(t, "town-discipline", testTown, "")

	// Anonymous intake: a tracking code and a secret.
	anon := file(t, ts, "", CategoryFunds)
	code, _ := anon.body["trackingCode"].(string)
	secret, _ := anon.body["secret"].(string)
	if anon.status != 201 || !ValidTrackingCode(code) || secret == "" {
		t.Fatalf("anonymous intake: %d %s", anon.status, anon.raw)
	}
	// A signed-in villager's complaint about the village's cadres.
	signed := file(t, ts, villager, CategoryCadreConduct)
	if signed.status != 201 {
		t.Fatalf("signed-in intake: %d %s", signed.status, signed.raw)
	}
	cadreCode := signed.body["trackingCode"].(string)
	if r := file(t, ts, "not-a-session-token", CategoryFunds); r.status != 401 {
		t.Fatalf("intake with a bad token: %d %s", r.status, r.raw)
	}

	// The public status: no reporter, no description.
	pub := apiCall(t, ts, "GET", "/v1/public/complaints/"+cadreCode, "", nil, "", "")
	if pub.status != 200 || pub.body["status"] != "received" || pub.body["dueAt"] == nil {
		t.Fatalf("public status: %d %s", pub.status, pub.raw)
	}
	for _, secret := range []string{"reporter", villagerID.ID, "修路"} {
		if strings.Contains(pub.raw, secret) {
			t.Errorf("the public status shows %q: %s", secret, pub.raw)
		}
	}
	if r := apiCall(t, ts, "GET", "/v1/public/complaints/TS-2222-2222", "", nil, "", ""); r.status != 404 {
		t.Errorf("unknown code: %d", r.status)
	}

	// The secretary sees the funds complaint, not the cadre-conduct one,
	// and never a reporter.
	sec := apiCall(t, ts, "GET", "/v1/villages/"+testVillage+"/complaints", secretary, nil, "", "")
	items, _ := sec.body["items"].([]any)
	if sec.status != 200 || len(items) != 1 || items[0].(map[string]any)["trackingCode"] != code ||
		strings.Contains(sec.raw, "reporter") || strings.Contains(sec.raw, cadreCode) {
		t.Fatalf("secretary's list: %d %s", sec.status, sec.raw)
	}
	if r := apiCall(t, ts, "GET", "/v1/villages/"+testVillage+"/complaints", "", nil, "", ""); r.status != 401 {
		t.Errorf("list without a session: %d", r.status)
	}
	if r := apiCall(t, ts, "GET", "/v1/villages/"+testVillage+"/complaints", villager, nil, "", ""); r.status != 403 {
		t.Errorf("list as a villager: %d", r.status)
	}

	// The town's discipline office sees both, and who filed the signed one.
	dis := apiCall(t, ts, "GET", "/v1/villages/"+testVillage+"/complaints", discipline, nil, "", "")
	items, _ = dis.body["items"].([]any)
	if dis.status != 200 || len(items) != 2 {
		t.Fatalf("discipline's list: %d %s", dis.status, dis.raw)
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
	if r := apiCall(t, ts, "GET", "/v1/complaints/"+cadreID, secretary, nil, "", ""); r.status != 404 {
		t.Errorf("secretary reads the cadre-conduct complaint: %d %s", r.status, r.raw)
	}
	if r := apiCall(t, ts, "GET", "/v1/complaints/"+cadreID, discipline, nil, "", ""); r.status != 200 || r.body["reporter"] == nil {
		t.Errorf("discipline reads the complaint: %d %s", r.status, r.raw)
	}

	// The liaison officer handles the funds complaint.
	ids := map[string]string{}
	for _, it := range items {
		c := it.(map[string]any)
		ids[c["trackingCode"].(string)] = c["id"].(string)
	}
	id := ids[code]
	if r := apiJSON(t, ts, "POST", "/v1/complaints/"+id+"/actions", secretary, actionRequest{Action: ActionAccept}); r.status != 403 {
		t.Fatalf("secretary accepts: %d %s", r.status, r.raw)
	}
	if r := apiJSON(t, ts, "POST", "/v1/complaints/"+id+"/actions", liaison, actionRequest{Action: ActionResolve, Summary: "x"}); r.status != 409 {
		t.Fatalf("resolving a received complaint: %d %s", r.status, r.raw)
	}
	for _, act := range []actionRequest{{Action: ActionAccept}, {Action: ActionInvestigate}} {
		if r := apiJSON(t, ts, "POST", "/v1/complaints/"+id+"/actions", liaison, act); r.status != 200 || r.body["reporter"] != nil {
			t.Fatalf("%s: %d %s", act.Action, r.status, r.raw)
		}
	}
	if r := apiJSON(t, ts, "POST", "/v1/complaints/"+id+"/notes", liaison, noteRequest{Body: "已约谈村会计", Public: true}); r.status != 201 {
		t.Fatalf("note: %d %s", r.status, r.raw)
	}
	if r := apiJSON(t, ts, "POST", "/v1/complaints/"+id+"/notes", liaison, noteRequest{Body: "内部备注：账目复印件在档案室"}); r.status != 201 {
		t.Fatalf("internal note: %d %s", r.status, r.raw)
	}
	// The outcome is required, and the refusal names the allowed values.
	for _, bad := range []string{`{"action":"resolve","summary":"已退回多收款项"}`, `{"action":"resolve","summary":"已退回多收款项","outcome":"yes"}`} {
		r := apiCall(t, ts, "POST", "/v1/complaints/"+id+"/actions", liaison, nil, "application/json", bad)
		if r.status != 400 || !strings.Contains(r.raw, "substantiated, partly-substantiated, unsubstantiated") ||
			!strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("resolve %s: %d %s", bad, r.status, r.raw)
		}
	}
	if r := apiCall(t, ts, "POST", "/v1/complaints/"+id+"/actions", liaison, nil, "application/json",
		`{"action":"resolve","summary":"已退回多收款项","outcome":"partly-substantiated"}`); r.status != 200 || r.body["status"] != "resolved" || r.body["outcome"] != "partly-substantiated" {
		t.Fatalf("resolve: %d %s", r.status, r.raw)
	}
	pub = apiCall(t, ts, "GET", "/v1/public/complaints/"+code, "", nil, "", "")
	if pub.status != 200 || pub.body["status"] != "resolved" || !strings.Contains(pub.raw, "已约谈村会计") || strings.Contains(pub.raw, "内部备注") {
		t.Fatalf("public status after resolving: %s", pub.raw)
	}

	// Feedback needs the secret.
	if r := apiJSON(t, ts, "POST", "/v1/public/complaints/"+code+"/feedback", "", feedbackRequest{Secret: "WRONG", Satisfied: true}); r.status != 404 {
		t.Fatalf("feedback with a wrong secret: %d %s", r.status, r.raw)
	}
	if r := apiJSON(t, ts, "POST", "/v1/public/complaints/"+code+"/feedback", "", feedbackRequest{Secret: secret, Satisfied: true}); r.status != 200 || r.body["status"] != "closed" {
		t.Fatalf("feedback: %d %s", r.status, r.raw)
	}

	// Statistics count what the caller sees.
	st := apiCall(t, ts, "GET", "/v1/statistics?year=2026", discipline, nil, "", "")
	if st.status != 200 || st.body["stats"].(map[string]any)["total"].(float64) != 2 {
		t.Fatalf("statistics: %d %s", st.status, st.raw)
	}
	st = apiCall(t, ts, "GET", "/v1/statistics?year=2026", secretary, nil, "", "")
	if st.status != 200 || st.body["stats"].(map[string]any)["total"].(float64) != 1 {
		t.Fatalf("secretary's statistics: %d %s", st.status, st.raw)
	}
	if r := apiCall(t, ts, "GET", "/v1/statistics?year=26", discipline, nil, "", ""); r.status != 422 {
		t.Errorf("bad year: %d", r.status)
	}

	doc := apiCall(t, ts, "GET", "/openapi.yaml", "", nil, "", "")
	if doc.status != 200 || !strings.Contains(doc.raw, "/v1/public/villages/{village}/complaints:") {
		t.Fatalf("openapi: %d", doc.status)
	}
	var spec struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := yaml.Unmarshal([]byte(doc.raw), &spec); err != nil || spec.OpenAPI != "3.1.0" || len(spec.Paths) != 14 {
		t.Fatalf("openapi: %v %q %d paths", err, spec.OpenAPI, len(spec.Paths))
	}
}

func TestAPIMalformedIntake(t *testing.T) {
	ts, _ := apiServer(t, generous)
	r := apiJSON(t, ts, "POST", "/v1/public/villages/"+testVillage+"/complaints", "",
		intakeRequest{Category: "gossip", Description: "短"})
	if r.status != 422 || !strings.HasSuffix(problemType(r), "/validation") {
		t.Fatalf("invalid intake: %d %s", r.status, r.raw)
	}
	var fields []string
	for _, e := range r.body["errors"].([]any) {
		fields = append(fields, e.(map[string]any)["field"].(string))
	}
	if !slices.Equal(fields, []string{"category", "description"}) {
		t.Errorf("fields %v", fields)
	}
	if r := apiCall(t, ts, "POST", "/v1/public/villages/"+testVillage+"/complaints", "", nil, "application/json", "{"); r.status != 400 {
		t.Errorf("malformed JSON: %d %s", r.status, r.raw)
	}
	if r := file(t, ts, "", CategoryFunds); r.status != 201 {
		t.Errorf("valid intake after: %d %s", r.status, r.raw)
	}
	if r := apiJSON(t, ts, "POST", "/v1/public/villages/123/complaints", "", intakeRequest{Category: CategoryFunds, Description: "村里修路的钱去向不明"}); r.status != 404 {
		t.Errorf("bad village: %d", r.status)
	}
}

func TestAPIRateLimit(t *testing.T) {
	ts, _ := apiServer(t, RateLimitConfig{ClientBurst: 2, VillageBurst: 100, FloodThreshold: 100})
	for i := range 2 {
		if r := file(t, ts, "", CategoryService); r.status != 201 {
			t.Fatalf("intake %d: %d %s", i, r.status, r.raw)
		}
	}
	r := file(t, ts, "", CategoryService)
	if r.status != 429 || r.header.Get("Retry-After") == "" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("after the burst: %d %v %s", r.status, r.header, r.raw)
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
		return apiCall(t, ts, "POST", path, "", h, "application/json", body).status
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
	if r := file(t, ts, "", CategoryProject); r.status != 201 {
		t.Fatalf("first: %d %s", r.status, r.raw)
	}
	r := file(t, ts, "", CategoryProject)
	ch, _ := r.body["challenge"].(map[string]any)
	if r.status != 428 || ch == nil || ch["token"] == "" || ch["difficulty"].(float64) != 8 {
		t.Fatalf("flood: %d %s", r.status, r.raw)
	}
	nonce := SolvePoW(ch["seed"].(string), int(ch["difficulty"].(float64)))
	h := http.Header{}
	h.Set(HeaderChallenge, ch["token"].(string))
	h.Set(HeaderNonce, nonce)
	body := `{"category":"project","description":"村里修路的钱去向不明，请核查"}`
	path := "/v1/public/villages/" + testVillage + "/complaints"
	if r := apiCall(t, ts, "POST", path, "", h, "application/json", body); r.status != 201 {
		t.Fatalf("with the proof: %d %s", r.status, r.raw)
	}
	if r := apiCall(t, ts, "POST", path, "", h, "application/json", body); r.status != 403 || r.body["code"] != "challenge_reused" {
		t.Fatalf("proof reused: %d %s", r.status, r.raw)
	}
	h.Set(HeaderNonce, "not-a-solution")
	if r := apiCall(t, ts, "POST", path, "", h, "application/json", body); r.status != 403 {
		t.Fatalf("bad nonce: %d %s", r.status, r.raw)
	}
}

// TestAPIOtherTownIsRefused: staff and cadres of another town are refused
// on every staff route (403, or 404 for a complaint), where they used to get this town's empty
// lists and statistics (200); district staff still read.
func TestAPIOtherTownIsRefused(t *testing.T) {
	ts, _ := apiServer(t, generous)
	filed := file(t, ts, "", CategoryFunds)
	if filed.status != 201 {
		t.Fatalf("intake: %d %s", filed.status, filed.raw)
	}
	discipline, _ := testinfra.KratosUser(t, "town-discipline", testTown, "")
	list := apiCall(t, ts, "GET", "/v1/villages/"+testVillage+"/complaints", discipline, nil, "", "")
	items, _ := list.body["items"].([]any)
	if list.status != 200 || len(items) != 1 {
		t.Fatalf("this town's discipline office lists: %d %s", list.status, list.raw)
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
			if r := apiCall(t, ts, c.method, c.path, token, nil, ct, c.body); r.status != want {
				t.Errorf("%s of jinping: %s %s: %d %s, want %d", role, c.method, c.path, r.status, r.raw, want)
			}
		}
	}
	district, _ := testinfra.KratosUser(t, "district-discipline", "", "")
	if r := apiCall(t, ts, "GET", "/v1/complaints/"+id, district, nil, "", ""); r.status != 200 || r.body["status"] != "received" {
		t.Errorf("district discipline reads: %d %s", r.status, r.raw)
	}
}
