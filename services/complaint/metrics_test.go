package complaint

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// metricsEndpoint is a /metrics endpoint as telemetry.Setup builds it (the
// OpenTelemetry Prometheus exporter on a private registry, the town and
// district as labels of every series), without installing global
// providers; scrape reads it as Prometheus would.
func metricsEndpoint(t *testing.T) (*sdkmetric.MeterProvider, func() promSamples) {
	t.Helper()
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg),
		otelprom.WithResourceAsConstantLabels(attribute.NewAllowKeysFilter(telemetry.TownKey, telemetry.DistrictKey)))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp),
		sdkmetric.WithResource(resource.NewSchemaless(telemetry.TownKey.String(testTown), telemetry.DistrictKey.String("fenghua"))))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	ts := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	t.Cleanup(ts.Close)
	return mp, func() promSamples {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(res.Body)
			t.Fatalf("GET /metrics: %d %s", res.StatusCode, b)
		}
		return parseSamples(t, res.Body)
	}
}

// promSample is one line of the text exposition format.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

type promSamples []promSample

var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func parseSamples(t *testing.T, r io.Reader) promSamples {
	t.Helper()
	var out promSamples
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		s := promSample{labels: map[string]string{}, value: v}
		head := line[:sp]
		if i := strings.IndexByte(head, '{'); i >= 0 {
			s.name = head[:i]
			for _, m := range labelPair.FindAllStringSubmatch(head[i:], -1) {
				s.labels[m[1]] = m[2]
			}
		} else {
			s.name = head
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// get is the value of the one series of name with labels (others may be
// more), and whether there is one. Every series must carry the town.
func (ss promSamples) get(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	var found []promSample
	for _, s := range ss {
		if s.name != name {
			continue
		}
		if s.labels["wuxiao_town"] != testTown || s.labels["wuxiao_district"] != "fenghua" {
			t.Errorf("%s%v lacks the town and district labels", name, s.labels)
		}
		match := true
		for k, v := range labels {
			match = match && s.labels[k] == v
		}
		if match {
			found = append(found, s)
		}
	}
	if len(found) > 1 {
		t.Fatalf("%s%v: %d series, want one", name, labels, len(found))
	}
	if len(found) == 0 {
		return 0, false
	}
	return found[0].value, true
}

// metricWant is the value a series should have.
type metricWant struct {
	name   string
	labels map[string]string
	want   float64
}

func checkMetrics(t *testing.T, stage string, ss promSamples, wants []metricWant) {
	t.Helper()
	for _, w := range wants {
		got, ok := ss.get(t, w.name, w.labels)
		if !ok {
			t.Errorf("%s: no series %s%v", stage, w.name, w.labels)
		} else if got != w.want {
			t.Errorf("%s: %s%v = %v, want %v", stage, w.name, w.labels, got, w.want)
		}
	}
}

func refusals(channel, reason string) map[string]string {
	return map[string]string{"channel": channel, "reason": reason}
}

func stage(st Status) map[string]string { return map[string]string{"stage": string(st)} }

// instrumented is a pageServer whose service reports to its own /metrics.
func instrumented(t *testing.T, limits RateLimitConfig) (*httptest.Server, *API, func() promSamples) {
	t.Helper()
	ts, a := pageServer(t, limits)
	mp, scrape := metricsEndpoint(t)
	if err := a.Service.Instrument(mp); err != nil {
		t.Fatal(err)
	}
	return ts, a, scrape
}

func jsonIntake(t *testing.T, ts *httptest.Server, village, description string, header http.Header) httpapitest.Response {
	t.Helper()
	return client(ts).Do(t, httpapitest.Request{Method: http.MethodPost, Path: "/v1/public/villages/" + village + "/complaints",
		Header: header, Body: intakeRequest{Category: CategoryFunds, Description: description}})
}

func open311Intake(t *testing.T, ts *httptest.Server, village, description string) httpapitest.Response {
	t.Helper()
	f := url.Values{"jurisdiction_id": {testTown}, "service_code": {"project"}, "description": {description}, "address_id": {village}}
	return client(ts).Call(t, http.MethodPost, "/open311/v2/requests.json", "", "application/x-www-form-urlencoded", f.Encode())
}

func wantStatus(t *testing.T, what string, r httpapitest.Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: %d, want %d: %.300s", what, r.Status, status, r.Raw)
	}
}

// Every intake channel counts what it files and every guard what it
// refuses, by reason, in the /metrics output; the other series stay 0.
func TestComplaintIntakeMetrics(t *testing.T) {
	badProof := http.Header{HeaderChallenge: {"not-a-challenge"}, HeaderNonce: {"1"}}
	for _, tc := range []struct {
		name   string
		limits RateLimitConfig
		drive  func(t *testing.T, ts *httptest.Server, a *API)
		want   []metricWant
	}{
		{"filed on every channel", generous, func(t *testing.T, ts *httptest.Server, _ *API) {
			wantStatus(t, "json", jsonIntake(t, ts, testVillage, goodDescription, nil), 201)
			receiptOf(t, report(t, ts, validForm("service", formFile{"p.png", "image/png", samplePNG(t)}), nil))
			wantStatus(t, "open311", open311Intake(t, ts, testVillage, goodDescription), 200)
		}, []metricWant{
			{"wuxiao_complaint_intakes_total", map[string]string{"channel": "api", "category": "funds"}, 1},
			{"wuxiao_complaint_intakes_total", map[string]string{"channel": "page", "category": "service"}, 1},
			{"wuxiao_complaint_intakes_total", map[string]string{"channel": "open311", "category": "project"}, 1},
			{"wuxiao_complaint_intakes_total", map[string]string{"channel": "api", "category": "cadre-conduct"}, 0},
			{"wuxiao_complaint_intake_refusals_total", refusals("page", "intake-limits"), 0},
			{"wuxiao_complaint_open", stage(StatusReceived), 3},
		}},
		{"intake limits", generous, func(t *testing.T, ts *httptest.Server, _ *API) {
			wantStatus(t, "json", jsonIntake(t, ts, testVillage, "太短", nil), 422)
			wantStatus(t, "page", report(t, ts, form{fields: [][2]string{{"category", "funds"}, {"description", "太短"}}}, nil), 422)
			wantStatus(t, "page", report(t, ts, validForm("funds", formFile{"notes.txt", "image/png", []byte("这不是图片")}), nil), 422)
			wantStatus(t, "open311", open311Intake(t, ts, testVillage, "太短"), 400)
		}, []metricWant{
			{"wuxiao_complaint_intake_refusals_total", refusals("api", "intake-limits"), 1},
			{"wuxiao_complaint_intake_refusals_total", refusals("page", "intake-limits"), 2},
			{"wuxiao_complaint_intake_refusals_total", refusals("open311", "intake-limits"), 1},
			{"wuxiao_complaint_intakes_total", map[string]string{"channel": "page", "category": "funds"}, 0},
		}},
		{"unknown village", generous, func(t *testing.T, ts *httptest.Server, a *API) {
			registerVillage(t, a.Service, testVillage, "岩头村")
			const unknown = "330213100999"
			wantStatus(t, "json", jsonIntake(t, ts, unknown, goodDescription, nil), 404)
			ct, body := validForm("funds").encode()
			wantStatus(t, "page", postPage(t, ts, "/r/"+unknown, nil, ct, body), 404)
			wantStatus(t, "page form", getPage(t, ts, "/r/"+unknown, nil), 404) // not a submission
			wantStatus(t, "open311", open311Intake(t, ts, unknown, goodDescription), 404)
		}, []metricWant{
			{"wuxiao_complaint_intake_refusals_total", refusals("api", "unknown-village"), 1},
			{"wuxiao_complaint_intake_refusals_total", refusals("page", "unknown-village"), 1},
			{"wuxiao_complaint_intake_refusals_total", refusals("open311", "unknown-village"), 1},
		}},
		{"client rate limit", RateLimitConfig{ClientBurst: 1, VillageBurst: 100, FloodThreshold: 100}, func(t *testing.T, ts *httptest.Server, _ *API) {
			wantStatus(t, "json", jsonIntake(t, ts, testVillage, goodDescription, nil), 201)
			wantStatus(t, "json again", jsonIntake(t, ts, testVillage, goodDescription, nil), 429)
			wantStatus(t, "page", report(t, ts, validForm("funds"), nil), 429)
			wantStatus(t, "open311", open311Intake(t, ts, testVillage, goodDescription), 429)
		}, []metricWant{
			{"wuxiao_complaint_intake_refusals_total", refusals("api", "rate-limit"), 1},
			{"wuxiao_complaint_intake_refusals_total", refusals("page", "rate-limit"), 1},
			{"wuxiao_complaint_intake_refusals_total", refusals("open311", "rate-limit"), 1},
			{"wuxiao_complaint_intakes_total", map[string]string{"channel": "api", "category": "funds"}, 1},
		}},
		{"flood and proof of work", RateLimitConfig{ClientBurst: 100, VillageBurst: 1, FloodThreshold: 100}, func(t *testing.T, ts *httptest.Server, _ *API) {
			receiptOf(t, report(t, ts, validForm("project"), nil))
			wantStatus(t, "page", report(t, ts, validForm("project"), nil), 428)
			wantStatus(t, "page, wrong proof", report(t, ts, validForm("project"), badProof), 403)
			wantStatus(t, "json", jsonIntake(t, ts, testVillage, goodDescription, nil), 428)
			wantStatus(t, "json, wrong proof", jsonIntake(t, ts, testVillage, goodDescription, badProof), 403)
			wantStatus(t, "open311", open311Intake(t, ts, testVillage, goodDescription), 428)
		}, []metricWant{
			{"wuxiao_complaint_intake_refusals_total", refusals("page", "flood"), 1},
			{"wuxiao_complaint_intake_refusals_total", refusals("page", "proof-of-work"), 1},
			{"wuxiao_complaint_intake_refusals_total", refusals("api", "flood"), 1},
			{"wuxiao_complaint_intake_refusals_total", refusals("api", "proof-of-work"), 1},
			{"wuxiao_complaint_intake_refusals_total", refusals("open311", "flood"), 1},
			{"wuxiao_complaint_intake_refusals_total", refusals("page", "rate-limit"), 0},
		}},
		{"byte budget", RateLimitConfig{ClientBurst: 100, VillageBurst: 100, FloodThreshold: 100, ClientDailyBytes: 1024}, func(t *testing.T, ts *httptest.Server, _ *API) {
			wantStatus(t, "page", report(t, ts, validForm("funds", formFile{"p.png", "image/png", padded(samplePNG(t), 4096)}), nil), 429)
		}, []metricWant{
			{"wuxiao_complaint_intake_refusals_total", refusals("page", "byte-budget"), 1},
			{"wuxiao_complaint_intake_refusals_total", refusals("page", "rate-limit"), 0},
		}},
		{"upload slots and size", generous, func(t *testing.T, ts *httptest.Server, a *API) {
			a.MaxUploads = 1
			release, ok := a.acquireUpload() // an upload being read
			if !ok {
				t.Fatal("no upload slot")
			}
			wantStatus(t, "page, busy", report(t, ts, validForm("funds"), nil), 503)
			release()
			big := padded(samplePNG(t), IntakeMaxFileBytes)
			wantStatus(t, "page, too large", report(t, ts, validForm("funds", formFile{"1.png", "image/png", big},
				formFile{"2.png", "image/png", big}, formFile{"3.png", "image/png", big}, formFile{"4.png", "image/png", big[:200<<10]}), nil), 413)
		}, []metricWant{
			{"wuxiao_complaint_intake_refusals_total", refusals("page", "upload-slots"), 1},
			{"wuxiao_complaint_intake_refusals_total", refusals("page", "too-large"), 1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, a, scrape := instrumented(t, tc.limits)
			tc.drive(t, ts, a)
			checkMetrics(t, tc.name, scrape(), tc.want)
		})
	}
}

// Complaints past their deadline show in the overdue gauge while open;
// each missed deadline counts once as a breach, whether the escalation job
// or a late staff action sees it first, and the job's escalations count
// apart.
func TestComplaintSLAMetrics(t *testing.T) {
	ctx := context.Background()
	s, clk := newService(t)
	mp, scrape := metricsEndpoint(t)
	if err := s.Instrument(mp); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 3 {
		rc, err := s.File(ctx, Intake{Village: testVillage, Category: CategoryFunds, Description: goodDescription}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rc.ID)
	}
	staff := Actor{ID: "disc", Role: RoleTownDiscipline, Town: testTown}
	escalate := func(want int) func(t *testing.T) {
		return func(t *testing.T) {
			if n, err := s.Escalate(ctx, 100); err != nil || n != want {
				t.Fatalf("escalated %d (%v), want %d", n, err, want)
			}
		}
	}
	for _, st := range []struct {
		name string
		act  func(t *testing.T)
		want []metricWant
	}{
		{"filed", func(*testing.T) {}, []metricWant{
			{"wuxiao_complaint_open", stage(StatusReceived), 3},
			{"wuxiao_complaint_overdue", stage(StatusReceived), 0},
			{"wuxiao_complaint_open", stage(StatusAccepted), 0},
			{"wuxiao_complaint_sla_breaches_total", stage(StatusReceived), 0},
			{"wuxiao_complaint_escalations_total", stage(StatusReceived), 0},
		}},
		{"past the acceptance deadline", func(*testing.T) { clk.Advance(AcceptWithin + time.Hour) }, []metricWant{
			{"wuxiao_complaint_overdue", stage(StatusReceived), 3},
			{"wuxiao_complaint_sla_breaches_total", stage(StatusReceived), 0},
		}},
		{"accepted late, before the job", func(t *testing.T) {
			if _, err := s.Act(ctx, staff, ids[0], Action{Type: ActionAccept}); err != nil {
				t.Fatal(err)
			}
		}, []metricWant{
			{"wuxiao_complaint_open", stage(StatusReceived), 2},
			{"wuxiao_complaint_overdue", stage(StatusReceived), 2},
			{"wuxiao_complaint_open", stage(StatusAccepted), 1},
			{"wuxiao_complaint_overdue", stage(StatusAccepted), 0},
			{"wuxiao_complaint_sla_breaches_total", stage(StatusReceived), 1},
			{"wuxiao_complaint_escalations_total", stage(StatusReceived), 0},
		}},
		{"the job escalates the others", escalate(2), []metricWant{
			{"wuxiao_complaint_overdue", stage(StatusReceived), 2},
			{"wuxiao_complaint_sla_breaches_total", stage(StatusReceived), 3},
			{"wuxiao_complaint_escalations_total", stage(StatusReceived), 2},
		}},
		{"escalated ones accepted late count no more", func(t *testing.T) {
			escalate(0)(t)
			if _, err := s.Act(ctx, staff, ids[1], Action{Type: ActionAccept}); err != nil {
				t.Fatal(err)
			}
		}, []metricWant{
			{"wuxiao_complaint_overdue", stage(StatusReceived), 1},
			{"wuxiao_complaint_sla_breaches_total", stage(StatusReceived), 3},
			{"wuxiao_complaint_escalations_total", stage(StatusReceived), 2},
		}},
		{"past the investigation deadline", func(t *testing.T) {
			clk.Advance(InvestigateWithin + time.Hour)
			escalate(2)(t)
		}, []metricWant{
			{"wuxiao_complaint_open", stage(StatusAccepted), 2},
			{"wuxiao_complaint_overdue", stage(StatusAccepted), 2},
			{"wuxiao_complaint_sla_breaches_total", stage(StatusAccepted), 2},
			{"wuxiao_complaint_escalations_total", stage(StatusAccepted), 2},
			{"wuxiao_complaint_sla_breaches_total", stage(StatusReceived), 3},
		}},
		{"rejected: no longer open", func(t *testing.T) {
			if _, err := s.Act(ctx, staff, ids[2], Action{Type: ActionReject, Reason: "不属于受理范围"}); err != nil {
				t.Fatal(err)
			}
		}, []metricWant{
			{"wuxiao_complaint_open", stage(StatusReceived), 0},
			{"wuxiao_complaint_overdue", stage(StatusReceived), 0},
			{"wuxiao_complaint_sla_breaches_total", stage(StatusReceived), 3},
		}},
	} {
		st.act(t)
		checkMetrics(t, st.name, scrape(), st.want)
	}
}
