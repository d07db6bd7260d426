package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"sigs.k8s.io/yaml"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/disclosure"
	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/workflow"
)

// The console's tests run the town's real workflow, disclosure and
// inspection services (each on its own PostgreSQL database, all behind the
// shared test Kratos) and the gateway in front of them, and sign people in
// through Kratos' browser login flow, as a browser would.

const (
	conTown     = "xikou"
	conTownCode = "330283100000"
	conVillage  = "330283100201"
	conVillageB = "330283100202"
)

type consoleEnv struct {
	URL  string // the gateway
	WF   *workflow.Service
	DS   *disclosure.Service
	Insp *inspection.Service
}

// serve runs register's routes on a loopback listener until the test ends.
func serve(t testing.TB, name string, auth func(http.Handler) http.Handler, maxBody int64, register func(*httpapi.Server)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.New(config.Base{Service: name, Town: conTown, HTTPAddr: ln.Addr().String(), MaxBodyBytes: maxBody},
		slog.New(slog.DiscardHandler), nil)
	srv.SetDrainDelay(0)
	if auth != nil {
		srv.WithAuthenticator(auth)
	}
	register(srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
	return "http://" + ln.Addr().String()
}

func openPool(t testing.TB, schema string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, testinfra.Postgres(t), schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := events.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

func sampleCatalog(t testing.TB) *workflow.Catalog {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testinfra.RepoRoot(), "config", "samples", "powercatalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc wuxiaov1.PowerCatalog
	if err := yaml.Unmarshal(data, &pc); err != nil {
		t.Fatal(err)
	}
	return &workflow.Catalog{ResolvedCatalog: wuxiaov1.ResolvedCatalog{Name: pc.Name, PowerCatalogSpec: pc.Spec}}
}

// startConsole starts the town's services and the gateway.
func startConsole(t testing.TB) *consoleEnv { t.Helper(); return startConsoleWith(t, "", nil) }

// startConsoleWith is startConsole with the town in the 片组 townGroup (as
// the operator's WUXIAO_TOWN_GROUP tells its services), letting more change
// the gateway's configuration and towns (urls: the town's services) before
// it starts.
func startConsoleWith(t testing.TB, townGroup string, more func(cfg *Config, b *StaticBackends, urls map[string]string)) *consoleEnv {
	t.Helper()
	ctx := context.Background()
	kratosURL := testinfra.Require(t, testinfra.EnvKratosPublicURL)
	auth := identity.New(kratosURL, identity.WithErrorWriter(httpapi.WriteStatusProblem), identity.WithTownGroup(conTown, townGroup))
	env := &consoleEnv{}

	wfPool := openPool(t, "workflow")
	if err := workflow.Migrate(ctx, wfPool); err != nil {
		t.Fatal(err)
	}
	cal, err := workflow.NewCalendar(workflow.CalendarFile{})
	if err != nil {
		t.Fatal(err)
	}
	env.WF = &workflow.Service{Engine: &workflow.Engine{Catalog: sampleCatalog(t), Calendar: cal}, Pool: wfPool, Town: conTown,
		IDHashKey: []byte("console-test-key-console-test-key"), AuditKey: []byte("console-audit-key-console-audit-"), Log: slog.New(slog.DiscardHandler)}
	for _, v := range []struct{ code, name string }{{conVillage, "岩头村"}, {conVillageB, "畸山村"}} {
		if err := env.WF.SetVillage(ctx, v.code, v.name, workflow.Thresholds{RepresentativesResolutionAboveYuan: 5000, TownApprovalAboveYuan: 8000}); err != nil {
			t.Fatal(err)
		}
	}
	wfURL := serve(t, "workflow", auth.Require, 64<<10, env.WF.Routes)

	dsPool := openPool(t, "disclosure")
	if err := disclosure.Migrate(ctx, dsPool); err != nil {
		t.Fatal(err)
	}
	env.DS = &disclosure.Service{Pool: dsPool, Town: conTown, TownCode: conTownCode, IDHashKey: []byte("console-test-key-console-test-key"),
		Log: slog.New(slog.DiscardHandler)}
	dsURL := serve(t, "disclosure", auth.Require, 64<<10, env.DS.Routes)

	inPool := openPool(t, "inspection")
	if err := inspection.Migrate(ctx, inPool); err != nil {
		t.Fatal(err)
	}
	env.Insp = &inspection.Service{Rules: inspection.DefaultRules(), Notices: inspection.DefaultNoticeConfig(), Pool: inPool,
		Town: conTown, TownName: "溪口镇", VillageNames: map[string]string{conVillage: "岩头村", conVillageB: "畸山村"},
		Log: slog.New(slog.DiscardHandler)}
	inURL := serve(t, "inspection", auth.Require, 64<<10, env.Insp.Routes)

	backends := NewStaticBackends()
	urls := map[string]string{ServiceWorkflow: wfURL, ServiceDisclosure: dsURL, ServiceInspection: inURL}
	if err := backends.AddTown(Town{Name: conTown, Code: conTownCode, DisplayName: "溪口镇"}, urls); err != nil {
		t.Fatal(err)
	}
	cfg := Config{District: "fenghua", DistrictName: "奉化区", KratosPublicURL: kratosURL}
	if more != nil {
		more(&cfg, backends, urls)
	}
	g, err := New(cfg, backends, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	env.URL = serve(t, "gateway", nil, 0, g.Register)
	return env
}

// staff is a signed-in person: a Kratos identity and a cookie jar holding
// the session cookie of a browser login flow.
type staff struct {
	t      testing.TB
	role   string
	id     string
	cookie *http.Cookie // wuxiao_session
	http   *http.Client
	base   string
}

// signIn creates an identity and signs it in through Kratos' browser login
// flow over plain HTTP: GET the flow as JSON, POST the password method with
// the flow's CSRF token, keep the session cookie. Kratos' cookies are per
// host, not per port, so the jar sends it to the gateway on 127.0.0.1 too.
func signIn(t testing.TB, base, role, town, village string) *staff {
	t.Helper()
	_, u := testinfra.KratosUser(t, role, town, village)
	return signInAs(t, base, role, u.ID, u.Email, u.Password)
}

func signInAs(t testing.TB, base, role, id, email, password string) *staff {
	t.Helper()
	kratosURL := strings.TrimRight(testinfra.Require(t, testinfra.EnvKratosPublicURL), "/")
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", kratosURL+"/self-service/login/browser", nil)
	req.Header.Set("Accept", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var flow struct {
		UI struct {
			Action string `json:"action"`
			Nodes  []struct {
				Attributes struct {
					Name  string `json:"name"`
					Value any    `json:"value"`
				} `json:"attributes"`
			} `json:"nodes"`
		} `json:"ui"`
	}
	err = json.NewDecoder(res.Body).Decode(&flow)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("login flow: %d %v", res.StatusCode, err)
	}
	csrf := ""
	for _, n := range flow.UI.Nodes {
		if n.Attributes.Name == "csrf_token" {
			csrf, _ = n.Attributes.Value.(string)
		}
	}
	form := url.Values{"method": {"password"}, "identifier": {email}, "password": {password}, "csrf_token": {csrf}}
	req, _ = http.NewRequest("POST", flow.UI.Action, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("signing in %s: %d %s", email, res.StatusCode, body)
	}
	s := &staff{t: t, role: role, id: id, http: hc, base: base}
	ku, _ := url.Parse(kratosURL)
	for _, c := range jar.Cookies(ku) {
		if c.Name == "wuxiao_session" {
			s.cookie = c
		}
	}
	if s.cookie == nil {
		t.Fatalf("signing in %s: no wuxiao_session cookie", email)
	}
	return s
}

type conPage struct {
	status   int
	location string
	header   http.Header
	body     string
}

func (s *staff) do(req *http.Request) conPage {
	s.t.Helper()
	res, err := s.http.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return conPage{status: res.StatusCode, location: res.Header.Get("Location"), header: res.Header, body: string(b)}
}

func (s *staff) get(path string) conPage {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	return s.do(req)
}

// post submits a form as a browser on this origin would.
func (s *staff) post(path string, form url.Values) conPage {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.base)
	return s.do(req)
}

// upload submits the evidence form: csrf first, then step, kind and file.
func (s *staff) upload(path, csrf, step, kind, name string, data []byte) conPage {
	s.t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		if csrf != "-" {
			_ = mw.WriteField("csrf", csrf)
		}
		_ = mw.WriteField("stepId", step)
		_ = mw.WriteField("kind", kind)
		fw, _ := mw.CreateFormFile("file", name)
		_, _ = fw.Write(data)
		_ = mw.Close()
		_ = pw.Close()
	}()
	req, _ := http.NewRequest("POST", s.base+path, pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", s.base)
	return s.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the form token from a page.
func csrfOf(t testing.TB, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%.2000s", body)
	}
	return m[1]
}

// raiseWarning feeds inspection the warning event the workflow published,
// as its Kafka consumer would.
func (e *consoleEnv) raiseWarning(t testing.TB, village, rule string, at time.Time) {
	t.Helper()
	data, _ := json.Marshal(eventsv1.WarningRaised{
		InstanceRef: eventsv1.InstanceRef{InstanceID: uuid.NewString(), TrackingNumber: village + "-20260302-ABCDE",
			ItemID: "funds-expenditure", ItemName: "村级财务支出审批"},
		WarningID: uuid.NewString(), StepID: "apply", Rule: rule, Message: "步骤未按时办理", Public: true, RaisedAt: at})
	ev := eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + conTown + "/workflow", Type: eventsv1.TypeWarningRaised,
		Time: at.UTC(), Town: conTown, Village: village, Data: data}
	if err := store.InTx(context.Background(), e.Insp.Pool, func(tx pgx.Tx) error {
		return e.Insp.HandleWorkflowEvent(context.Background(), tx, ev)
	}); err != nil {
		t.Fatal(err)
	}
}

func workflowFilter(village string) workflow.InstanceFilter {
	return workflow.InstanceFilter{Village: village, Limit: 50}
}
