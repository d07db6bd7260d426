package gateway

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// pubPod is a town service's pod in tests: it answers every request with
// its own name and what it received, and knows some tracking codes
// (/r/track/<code>, /v1/public/complaints/<code>, Open311) like a complaint
// service.
type pubPod struct {
	name  string // e.g. xikou/complaint
	srv   *httptest.Server
	hits  atomic.Int64
	mu    sync.Mutex
	last  *http.Request
	body  string
	codes []string
}

func newPubPod(t testing.TB, name string, codes ...string) *pubPod {
	t.Helper()
	p := &pubPod{name: name, codes: codes}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pubPod) serve(w http.ResponseWriter, r *http.Request) {
	p.hits.Add(1)
	b, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.last, p.body = r.Clone(r.Context()), string(b)
	p.mu.Unlock()
	w.Header().Set("X-Pod", p.name)
	code := ""
	for _, prefix := range []string{"/r/track/", "/v1/public/complaints/", "/open311/v2/requests/"} {
		if c, ok := strings.CutPrefix(r.URL.Path, prefix); ok {
			code = strings.TrimSuffix(strings.TrimSuffix(c, "/feedback"), ".json")
		}
	}
	switch {
	case r.URL.Path == "/open311/v2/requests.json" && r.Method == http.MethodGet:
		out := []map[string]string{}
		for _, id := range strings.Split(r.URL.Query().Get("service_request_id"), ",") {
			if slices.Contains(p.codes, id) {
				out = append(out, map[string]string{"service_request_id": id, "town": p.name})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	case code != "" && !slices.Contains(p.codes, code):
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "没有找到这个查询码 at "+p.name)
	default:
		_, _ = io.WriteString(w, p.name+" "+r.Method+" "+r.URL.RequestURI()+" "+string(b))
	}
}

func (p *pubPod) lastRequest() (*http.Request, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, p.body
}

// pubEnv is a gateway over a static table of two towns, xikou (330213100)
// and jinping (330213001), whose pods are pubPods.
type pubEnv struct {
	url  string
	pods map[string]*pubPod // "<town>/<service>"
	log  *strings.Builder
	mu   *sync.Mutex
}

const (
	xikouVillage   = "330213100201"
	jinpingVillage = "330213001007"
	xikouCode      = "TS-100-ABCD-EFGH" // a complaint in xikou
	jinpingOldCode = "TS-WXYZ-2345"     // issued before codes named their town, in jinping
)

type lockedBuilder struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (l lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (e *pubEnv) logText() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.log.String()
}

// startPubGateway serves a gateway over the towns; services missing from
// pods have no ready pod. cfg's KratosPublicURL and district are filled in.
func startPubGateway(t testing.TB, cfg Config, pods map[string]*pubPod) *pubEnv {
	t.Helper()
	env := &pubEnv{pods: pods, log: &strings.Builder{}, mu: &sync.Mutex{}}
	backends := NewStaticBackends()
	for _, town := range []Town{{Name: "xikou", Code: "330213100000", DisplayName: "溪口镇"}, {Name: "jinping", Code: "330213001000", DisplayName: "锦屏街道"}} {
		urls := map[string]string{}
		for key, p := range pods {
			if tn, service, _ := strings.Cut(key, "/"); tn == town.Name {
				urls[service] = p.srv.URL
			}
		}
		if err := backends.AddTown(town, urls); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(lockedBuilder{env.mu, env.log}, nil))
	cfg.District, cfg.DistrictName, cfg.KratosPublicURL = "fenghua", "奉化区", "http://127.0.0.1:1"
	g, err := New(cfg, backends, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.New(config.Base{Service: "gateway"}, log, nil)
	g.Register(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	env.url = ts.URL
	return env
}

func allPods(t testing.TB) map[string]*pubPod {
	pods := map[string]*pubPod{}
	for _, town := range []string{"xikou", "jinping"} {
		for _, s := range []string{ServiceDisclosure, ServiceComplaint, ServiceWorkflow} {
			var codes []string
			if s == ServiceComplaint && town == "xikou" {
				codes = []string{xikouCode}
			}
			if s == ServiceComplaint && town == "jinping" {
				codes = []string{jinpingOldCode}
			}
			pods[town+"/"+s] = newPubPod(t, town+"/"+s, codes...)
		}
	}
	return pods
}

type pubAnswer struct {
	status int
	header http.Header
	body   string
}

func pubDo(t testing.TB, method, u, contentType, body string, header ...string) pubAnswer {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return pubAnswer{resp.StatusCode, resp.Header, string(b)}
}

// Every public route reaches the right town's right service, with its
// path, query and body unchanged.
func TestPublicRouting(t *testing.T) {
	env := startPubGateway(t, Config{}, allPods(t))
	tests := []struct {
		name, method, path, ctype, body string
		pod                             string // X-Pod of the answer
	}{
		{"portal", "GET", "/v/" + xikouVillage, "", "", "xikou/disclosure"},
		{"portal of the other town", "GET", "/v/" + jinpingVillage + "?year=2025", "", "", "jinping/disclosure"},
		{"portal subpage", "GET", "/v/" + xikouVillage + "/processes/abc", "", "", "xikou/disclosure"},
		{"portal trailing slash", "GET", "/v/" + xikouVillage + "/", "", "", "xikou/disclosure"},
		{"subsidy lookup", "POST", "/v/" + jinpingVillage + "/subsidies/lookup", "application/x-www-form-urlencoded", "name=x", "jinping/disclosure"},
		{"wallet API", "GET", "/v1/public/villages/" + xikouVillage + "/wallet", "", "", "xikou/disclosure"},
		{"lookup API", "POST", "/v1/public/villages/" + xikouVillage + "/subsidies/lookup", "application/json", `{}`, "xikou/disclosure"},
		{"export", "GET", "/v1/public/villages/" + jinpingVillage + "/export/2025/ledger.csv", "", "", "jinping/disclosure"},
		{"process tracking", "GET", "/v1/public/track/" + jinpingVillage + "-20260101-ABCDE", "", "", "jinping/workflow"},
		{"report page", "GET", "/r/" + jinpingVillage, "", "", "jinping/complaint"},
		{"report submit", "POST", "/r/" + xikouVillage, "multipart/form-data; boundary=x", "--x--", "xikou/complaint"},
		{"complaint API", "POST", "/v1/public/villages/" + jinpingVillage + "/complaints", "application/json", `{"category":"funds"}`, "jinping/complaint"},
		{"application pages", "GET", "/a/" + jinpingVillage, "", "", "jinping/workflow"},
		{"application form", "GET", "/a/" + xikouVillage + "/duty-homestead", "", "", "xikou/workflow"},
		{"application submit", "POST", "/a/" + jinpingVillage + "/duty-homestead", "multipart/form-data; boundary=x", "--x--", "jinping/workflow"},
		{"supplement page", "POST", "/a/" + xikouVillage + "/supplement", "multipart/form-data; boundary=x", "--x--", "xikou/workflow"},
		{"application API", "POST", "/v1/public/villages/" + xikouVillage + "/applications", "multipart/form-data; boundary=x", "--x--", "xikou/workflow"},
		{"supplement API", "POST", "/v1/public/applications/" + jinpingVillage + "-20260101-ABCDE/supplement", "multipart/form-data; boundary=x", "--x--", "jinping/workflow"},
		{"follow-up by new code", "GET", "/r/track/" + xikouCode, "", "", "xikou/complaint"},
		{"feedback by new code", "POST", "/r/track/" + xikouCode, "application/x-www-form-urlencoded", "verdict=satisfied", "xikou/complaint"},
		{"follow-up API", "GET", "/v1/public/complaints/" + xikouCode, "", "", "xikou/complaint"},
		{"follow-up by old code", "GET", "/r/track/" + jinpingOldCode, "", "", "jinping/complaint"},
		{"feedback by old code", "POST", "/v1/public/complaints/" + jinpingOldCode + "/feedback", "application/json", `{"secret":"s"}`, "jinping/complaint"},
		{"open311 services", "GET", "/open311/v2/services.json?jurisdiction_id=jinping", "", "", "jinping/complaint"},
		{"open311 definition", "GET", "/open311/v2/services/funds.json?jurisdiction_id=xikou", "", "", "xikou/complaint"},
		{"open311 create, form jurisdiction", "POST", "/open311/v2/requests.json", "application/x-www-form-urlencoded", "jurisdiction_id=jinping&service_code=funds&address_id=" + xikouVillage, "jinping/complaint"},
		{"open311 create, query jurisdiction", "POST", "/open311/v2/requests.json?jurisdiction_id=xikou", "application/x-www-form-urlencoded", "service_code=funds", "xikou/complaint"},
		{"open311 create, JSON jurisdiction", "POST", "/open311/v2/requests.json", "application/json", `{"jurisdiction_id":"jinping","service_code":"funds"}`, "jinping/complaint"},
		{"open311 create by village attribute", "POST", "/open311/v2/requests.json", "application/x-www-form-urlencoded", "service_code=funds&attribute%5Bvillage%5D=" + jinpingVillage, "jinping/complaint"},
		{"open311 create by JSON village", "POST", "/open311/v2/requests.json", "application/json", `{"service_code":"funds","attribute":{"village":"` + xikouVillage + `"}}`, "xikou/complaint"},
		{"open311 create by address_id", "POST", "/open311/v2/requests.json", "application/x-www-form-urlencoded", "service_code=funds&address_id=" + jinpingVillage, "jinping/complaint"},
		{"open311 request by new code", "GET", "/open311/v2/requests/" + xikouCode + ".json", "", "", "xikou/complaint"},
		{"open311 request by old code", "GET", "/open311/v2/requests/" + jinpingOldCode + ".json", "", "", "jinping/complaint"},
		{"open311 query of one town", "GET", "/open311/v2/requests.json?service_request_id=" + xikouCode, "", "", "xikou/complaint"},
		{"open311 query with jurisdiction", "GET", "/open311/v2/requests.json?jurisdiction_id=jinping&service_request_id=" + jinpingOldCode, "", "", "jinping/complaint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := pubDo(t, tc.method, env.url+tc.path, tc.ctype, tc.body)
			if a.status != http.StatusOK || a.header.Get("X-Pod") != tc.pod {
				t.Fatalf("%s %s: %d from %q: %s; want 200 from %s", tc.method, tc.path, a.status, a.header.Get("X-Pod"), a.body, tc.pod)
			}
			req, body := env.pods[tc.pod].lastRequest()
			if req.URL.RequestURI() != tc.path || req.Method != tc.method || body != tc.body {
				t.Errorf("the pod got %s %s %q; want %s %s %q", req.Method, req.URL.RequestURI(), body, tc.method, tc.path, tc.body)
			}
		})
	}
}

// A code naming its town is one request to that town: the other town
// never hears of it, and the code is never logged.
func TestTrackingCodeOneLookup(t *testing.T) {
	pods := allPods(t)
	env := startPubGateway(t, Config{}, pods)
	for _, path := range []string{"/r/track/" + xikouCode, "/v1/public/complaints/" + xikouCode, "/open311/v2/requests/" + xikouCode + ".json"} {
		if a := pubDo(t, "GET", env.url+path, "", ""); a.status != 200 {
			t.Fatalf("GET %s: %d %s", path, a.status, a.body)
		}
	}
	if n := pods["xikou/complaint"].hits.Load(); n != 3 {
		t.Errorf("xikou's complaint service got %d requests, want 3", n)
	}
	if n := pods["jinping/complaint"].hits.Load(); n != 0 {
		t.Errorf("jinping's complaint service was asked %d times about xikou's codes", n)
	}
	// A code of a town this district does not have goes to one town,
	// which answers it as it answers any unknown code.
	a := pubDo(t, "GET", env.url+"/r/track/TS-555-ABCD-EFGH", "", "")
	if a.status != http.StatusNotFound || !strings.Contains(a.body, "没有找到这个查询码") {
		t.Errorf("code of no town: %d %s", a.status, a.body)
	}
	if n := pods["xikou/complaint"].hits.Load() + pods["jinping/complaint"].hits.Load(); n != 4 {
		t.Errorf("a code of no town reached %d complaint services, want 1", n-3)
	}
	if strings.Contains(env.logText(), "ABCD") {
		t.Errorf("the gateway logged a tracking code:\n%s", env.logText())
	}
}

// An old code: every town is asked; the one that knows it answers, a code
// no town knows is 404, and when a town does not answer the gateway says
// it cannot tell (502), never "no such code". The code is never logged.
func TestTrackingCodeOldFallback(t *testing.T) {
	pods := allPods(t)
	env := startPubGateway(t, Config{}, pods)
	a := pubDo(t, "POST", env.url+"/r/track/"+jinpingOldCode, "application/x-www-form-urlencoded", "verdict=satisfied", "Sec-Fetch-Site", "same-origin")
	if a.status != 200 || a.header.Get("X-Pod") != "jinping/complaint" || !strings.Contains(a.body, "verdict=satisfied") {
		t.Fatalf("old code known by jinping: %d %q %s", a.status, a.header.Get("X-Pod"), a.body)
	}
	if req, _ := pods["jinping/complaint"].lastRequest(); req.Header.Get("Sec-Fetch-Site") != "same-origin" || req.Header.Get("X-Forwarded-For") == "" {
		t.Errorf("end-to-end headers not forwarded: %v", req.Header)
	}
	if pods["xikou/complaint"].hits.Load() != 1 {
		t.Errorf("xikou was asked %d times, want once", pods["xikou/complaint"].hits.Load())
	}
	a = pubDo(t, "GET", env.url+"/r/track/TS-QQQQ-RRRR", "", "")
	if a.status != http.StatusNotFound || !strings.Contains(a.body, "没有找到这个查询码") {
		t.Errorf("old code nobody knows: %d %s", a.status, a.body)
	}
	// Open311 ids of several towns: each town lists its own, joined in the
	// order asked.
	a = pubDo(t, "GET", env.url+"/open311/v2/requests.json?service_request_id="+jinpingOldCode+","+xikouCode+",TS-QQQQ-RRRR", "", "")
	var list []map[string]string
	if err := json.Unmarshal([]byte(a.body), &list); err != nil || a.status != 200 || len(list) != 2 ||
		list[0]["town"] != "jinping/complaint" || list[1]["town"] != "xikou/complaint" {
		t.Errorf("Open311 query over two towns: %d %s", a.status, a.body)
	}

	pods["xikou/complaint"].srv.Close() // xikou's pod is gone
	for _, tc := range []struct{ path, want string }{
		{"/r/track/TS-QQQQ-RRRR", "无法确认这个查询码"},
		{"/v1/public/complaints/TS-QQQQ-RRRR", `"status":502`},
		{"/open311/v2/requests/TS-QQQQ-RRRR.json", `"code":502`},
		{"/open311/v2/requests.json?service_request_id=TS-QQQQ-RRRR", `"code":502`},
	} {
		a = pubDo(t, "GET", env.url+tc.path, "", "")
		if a.status != http.StatusBadGateway || !strings.Contains(a.body, tc.want) {
			t.Errorf("GET %s with a town down: %d %s, want 502 with %q", tc.path, a.status, a.body, tc.want)
		}
	}
	// jinping still answers for its own code.
	if a = pubDo(t, "GET", env.url+"/r/track/"+jinpingOldCode, "", ""); a.status != 200 {
		t.Errorf("old code known by jinping with xikou down: %d %s", a.status, a.body)
	}
	if log := env.logText(); strings.Contains(log, "QQQQ") || strings.Contains(log, "WXYZ") {
		t.Errorf("the gateway logged a tracking code:\n%s", log)
	}
}

// The gateway's own answers: unknown villages 404 (a page in Chinese, a
// problem, an Open311 list), a town without ready pods 503 with
// Retry-After, a pod that fails 502.
func TestPublicErrors(t *testing.T) {
	pods := allPods(t)
	delete(pods, "jinping/disclosure") // no ready pod
	down := newPubPod(t, "xikou/complaint")
	down.srv.Close()
	pods["xikou/complaint"] = down
	env := startPubGateway(t, Config{}, pods)
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		ctypeWant, want                 string
	}{
		{"unknown village page", "GET", "/v/330299999001", "", "", 404, "text/html", "本区没有这个村（社区）"},
		{"malformed village page", "GET", "/v/12345", "", "", 404, "text/html", "没有找到这个页面"},
		{"unknown village report", "POST", "/r/330299999001", "", "", 404, "text/html", "本区没有这个村"},
		{"unknown village API", "GET", "/v1/public/villages/330299999001/wallet", "", "", 404, "application/problem+json", `"status":404`},
		{"unknown jurisdiction", "GET", "/open311/v2/services.json?jurisdiction_id=atlantis", "", "", 404, "application/json", `"code":404`},
		{"Open311 create for an unknown village", "POST", "/open311/v2/requests.json", "application/x-www-form-urlencoded", "address_id=330299999001", 404, "application/json", `"code":404`},
		{"no ready pod page", "GET", "/v/" + jinpingVillage, "", "", 503, "text/html", "请稍后再试"},
		{"no ready pod API", "GET", "/v1/public/villages/" + jinpingVillage + "/wallet", "", "", 503, "application/problem+json", `"status":503`},
		{"pod fails page", "GET", "/r/" + xikouVillage, "", "", 502, "text/html", "暂时无法连接"},
		{"pod fails API", "POST", "/v1/public/villages/" + xikouVillage + "/complaints", "application/json", "{}", 502, "application/problem+json", `"status":502`},
		{"pod fails Open311", "GET", "/open311/v2/services.json?jurisdiction_id=xikou", "", "", 502, "application/json", `"code":502`},
		{"not a public route", "GET", "/workflow/v1/instances", "", "", 404, "application/problem+json", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := pubDo(t, tc.method, env.url+tc.path, tc.ctype, tc.body)
			if a.status != tc.status || !strings.HasPrefix(a.header.Get("Content-Type"), tc.ctypeWant) || !strings.Contains(a.body, tc.want) {
				t.Fatalf("%s %s: %d %s %s; want %d %s with %q", tc.method, tc.path, a.status, a.header.Get("Content-Type"), a.body, tc.status, tc.ctypeWant, tc.want)
			}
			if (a.status == 503) != (a.header.Get("Retry-After") != "") {
				t.Errorf("Retry-After %q with status %d", a.header.Get("Retry-After"), a.status)
			}
			if tc.ctypeWant == "text/html" && !strings.Contains(a.body, `lang="zh-CN"`) {
				t.Errorf("not a page of the layout: %s", a.body)
			}
		})
	}
}

// Forwarded requests keep the client's Host and say who the client is:
// its address as the gateway sees it (a client's own X-Forwarded-For is not
// believed when it is not a trusted proxy), scheme and host.
func TestPublicForwardedHeaders(t *testing.T) {
	pods := allPods(t)
	env := startPubGateway(t, Config{}, pods)
	a := pubDo(t, "GET", env.url+"/v/"+xikouVillage, "", "", "X-Forwarded-For", "203.0.113.9", "X-Forwarded-Host", "evil.example",
		"Cookie", "a=b", "Accept-Language", "zh-CN", "Connection", "X-Drop-Me", "X-Drop-Me", "1")
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	req, _ := pods["xikou/disclosure"].lastRequest()
	host := strings.TrimPrefix(env.url, "http://")
	for h, want := range map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": host, "X-Forwarded-Proto": "http",
		"Cookie": "a=b", "Accept-Language": "zh-CN", "X-Drop-Me": ""} {
		if got := strings.Join(req.Header.Values(h), ","); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if req.Host != host {
		t.Errorf("Host %q, want the client's %q", req.Host, host)
	}
}

// With PublicHosts set, public pages answer on those hosts only.
func TestPublicHosts(t *testing.T) {
	env := startPubGateway(t, Config{PublicHosts: []string{"jiandu.example.cn"}, StaffHosts: []string{"ganbu.example.cn"}}, allPods(t))
	for _, tc := range []struct {
		host   string
		status int
	}{{"jiandu.example.cn", 200}, {"JIANDU.example.cn:8443", 200}, {"ganbu.example.cn", 404}, {"127.0.0.1", 404}} {
		req, _ := http.NewRequest("GET", env.url+"/v/"+xikouVillage, nil)
		req.Host = tc.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("Host %s: %d, want %d", tc.host, resp.StatusCode, tc.status)
		}
	}
}

// A report with photos (up to 15 MiB) and an application with its
// materials (up to 30 MiB) pass; the gateway's own limit is above every
// town's.
func TestPublicLargeUpload(t *testing.T) {
	pods := allPods(t)
	env := startPubGateway(t, Config{}, pods)
	body := strings.Repeat("x", 15<<20)
	a := pubDo(t, "POST", env.url+"/r/"+xikouVillage, "multipart/form-data; boundary=x", body)
	if a.status != 200 {
		t.Fatalf("15 MiB report: %d %.200s", a.status, a.body)
	}
	if _, got := pods["xikou/complaint"].lastRequest(); len(got) != len(body) {
		t.Errorf("the pod got %d bytes, want %d", len(got), len(body))
	}
	// An application with six 5 MiB materials passes too; beyond
	// ProxyMaxBodyBytes nothing does.
	app := strings.Repeat("x", 30<<20)
	if a = pubDo(t, "POST", env.url+"/a/"+xikouVillage+"/duty-homestead", "multipart/form-data; boundary=x", app); a.status != 200 {
		t.Fatalf("30 MiB application: %d %.200s", a.status, a.body)
	}
	a = pubDo(t, "POST", env.url+"/r/"+xikouVillage, "multipart/form-data; boundary=x", strings.Repeat("x", ProxyMaxBodyBytes+1<<20))
	if a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("%d MiB report: %d %.200s, want 413", ProxyMaxBodyBytes>>20+1, a.status, a.body)
	}
}

func TestOpen311Fields(t *testing.T) {
	tests := []struct {
		name, query, ctype, body string
		want                     map[string]string
	}{
		{"form", "", "application/x-www-form-urlencoded", "jurisdiction_id=xikou&attribute%5Bvillage%5D=1", map[string]string{"jurisdiction_id": "xikou", "attribute[village]": "1"}},
		{"JSON", "", "application/json; charset=utf-8", `{"jurisdiction_id":"xikou","attribute":{"village":"2"},"lat":1.5}`, map[string]string{"jurisdiction_id": "xikou", "attribute[village]": "2"}},
		{"query", "jurisdiction_id=jinping", "application/json", `{"address_id":"3"}`, map[string]string{"jurisdiction_id": "jinping", "address_id": "3"}},
		{"body wins over query", "jurisdiction_id=jinping", "application/x-www-form-urlencoded", "jurisdiction_id=xikou", map[string]string{"jurisdiction_id": "xikou"}},
		{"bad JSON", "", "application/json", `[`, map[string]string{"jurisdiction_id": ""}},
		{"multipart is not read", "", "multipart/form-data; boundary=x", "jurisdiction_id=xikou", map[string]string{"jurisdiction_id": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/open311/v2/requests.json?"+tc.query, nil)
			r.Header.Set("Content-Type", tc.ctype)
			got := open311Fields(r, []byte(tc.body))
			for k, v := range tc.want {
				if got.Get(k) != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, got.Get(k), v, got)
				}
			}
		})
	}
}
