package complaint

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/telemetry/metricstest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

func refusals(channel, reason string) map[string]string {
	return map[string]string{"channel": channel, "reason": reason}
}

func stage(st Status) map[string]string { return map[string]string{"stage": string(st)} }

// instrumented is a pageServer whose service reports to its own /metrics.
func instrumented(t *testing.T, limits RateLimitConfig) (*httptest.Server, *API, func() metricstest.Page) {
	t.Helper()
	ts, a := pageServer(t, limits)
	mp, scrape := metricstest.Endpoint(t, testTown, "fenghua")
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
		want   []metricstest.Want
	}{
		{"filed on every channel", generous, func(t *testing.T, ts *httptest.Server, _ *API) {
			wantStatus(t, "json", jsonIntake(t, ts, testVillage, goodDescription, nil), 201)
			receiptOf(t, report(t, ts, validForm("service", formFile{"p.png", "image/png", samplePNG(t)}), nil))
			wantStatus(t, "open311", open311Intake(t, ts, testVillage, goodDescription), 200)
		}, []metricstest.Want{
			{Name: "wuxiao_complaint_intakes_total", Labels: map[string]string{"channel": "api", "category": "funds"}, Value: 1},
			{Name: "wuxiao_complaint_intakes_total", Labels: map[string]string{"channel": "page", "category": "service"}, Value: 1},
			{Name: "wuxiao_complaint_intakes_total", Labels: map[string]string{"channel": "open311", "category": "project"}, Value: 1},
			{Name: "wuxiao_complaint_intakes_total", Labels: map[string]string{"channel": "api", "category": "cadre-conduct"}, Value: 0},
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("page", "intake-limits"), Value: 0},
			{Name: "wuxiao_complaint_open", Labels: stage(StatusReceived), Value: 3},
		}},
		{"intake limits", generous, func(t *testing.T, ts *httptest.Server, _ *API) {
			wantStatus(t, "json", jsonIntake(t, ts, testVillage, "太短", nil), 422)
			wantStatus(t, "page", report(t, ts, form{fields: [][2]string{{"category", "funds"}, {"description", "太短"}}}, nil), 422)
			wantStatus(t, "page", report(t, ts, validForm("funds", formFile{"notes.txt", "image/png", []byte("这不是图片")}), nil), 422)
			wantStatus(t, "open311", open311Intake(t, ts, testVillage, "太短"), 400)
		}, []metricstest.Want{
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("api", "intake-limits"), Value: 1},
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("page", "intake-limits"), Value: 2},
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("open311", "intake-limits"), Value: 1},
			{Name: "wuxiao_complaint_intakes_total", Labels: map[string]string{"channel": "page", "category": "funds"}, Value: 0},
		}},
		{"unknown village", generous, func(t *testing.T, ts *httptest.Server, a *API) {
			registerVillage(t, a.Service, testVillage, "岩头村")
			const unknown = "330213100999"
			wantStatus(t, "json", jsonIntake(t, ts, unknown, goodDescription, nil), 404)
			ct, body := validForm("funds").encode()
			wantStatus(t, "page", postPage(t, ts, "/r/"+unknown, nil, ct, body), 404)
			wantStatus(t, "page form", getPage(t, ts, "/r/"+unknown, nil), 404) // not a submission
			wantStatus(t, "open311", open311Intake(t, ts, unknown, goodDescription), 404)
		}, []metricstest.Want{
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("api", "unknown-village"), Value: 1},
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("page", "unknown-village"), Value: 1},
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("open311", "unknown-village"), Value: 1},
		}},
		{"client rate limit", RateLimitConfig{ClientBurst: 1, VillageBurst: 100, FloodThreshold: 100}, func(t *testing.T, ts *httptest.Server, _ *API) {
			wantStatus(t, "json", jsonIntake(t, ts, testVillage, goodDescription, nil), 201)
			wantStatus(t, "json again", jsonIntake(t, ts, testVillage, goodDescription, nil), 429)
			wantStatus(t, "page", report(t, ts, validForm("funds"), nil), 429)
			wantStatus(t, "open311", open311Intake(t, ts, testVillage, goodDescription), 429)
		}, []metricstest.Want{
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("api", "rate-limit"), Value: 1},
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("page", "rate-limit"), Value: 1},
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("open311", "rate-limit"), Value: 1},
			{Name: "wuxiao_complaint_intakes_total", Labels: map[string]string{"channel": "api", "category": "funds"}, Value: 1},
		}},
		{"flood and proof of work", RateLimitConfig{ClientBurst: 100, VillageBurst: 1, FloodThreshold: 100}, func(t *testing.T, ts *httptest.Server, _ *API) {
			receiptOf(t, report(t, ts, validForm("project"), nil))
			wantStatus(t, "page", report(t, ts, validForm("project"), nil), 428)
			wantStatus(t, "page, wrong proof", report(t, ts, validForm("project"), badProof), 403)
			wantStatus(t, "json", jsonIntake(t, ts, testVillage, goodDescription, nil), 428)
			wantStatus(t, "json, wrong proof", jsonIntake(t, ts, testVillage, goodDescription, badProof), 403)
			wantStatus(t, "open311", open311Intake(t, ts, testVillage, goodDescription), 428)
		}, []metricstest.Want{
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("page", "flood"), Value: 1},
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("page", "proof-of-work"), Value: 1},
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("api", "flood"), Value: 1},
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("api", "proof-of-work"), Value: 1},
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("open311", "flood"), Value: 1},
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("page", "rate-limit"), Value: 0},
		}},
		{"byte budget", RateLimitConfig{ClientBurst: 100, VillageBurst: 100, FloodThreshold: 100, ClientDailyBytes: 1024}, func(t *testing.T, ts *httptest.Server, _ *API) {
			wantStatus(t, "page", report(t, ts, validForm("funds", formFile{"p.png", "image/png", padded(samplePNG(t), 4096)}), nil), 429)
		}, []metricstest.Want{
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("page", "byte-budget"), Value: 1},
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("page", "rate-limit"), Value: 0},
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
		}, []metricstest.Want{
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("page", "upload-slots"), Value: 1},
			{Name: "wuxiao_complaint_intake_refusals_total", Labels: refusals("page", "too-large"), Value: 1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, a, scrape := instrumented(t, tc.limits)
			tc.drive(t, ts, a)
			metricstest.Check(t, tc.name, scrape(), tc.want)
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
	mp, scrape := metricstest.Endpoint(t, testTown, "fenghua")
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
		want []metricstest.Want
	}{
		{"filed", func(*testing.T) {}, []metricstest.Want{
			{Name: "wuxiao_complaint_open", Labels: stage(StatusReceived), Value: 3},
			{Name: "wuxiao_complaint_overdue", Labels: stage(StatusReceived), Value: 0},
			{Name: "wuxiao_complaint_open", Labels: stage(StatusAccepted), Value: 0},
			{Name: "wuxiao_complaint_sla_breaches_total", Labels: stage(StatusReceived), Value: 0},
			{Name: "wuxiao_complaint_escalations_total", Labels: stage(StatusReceived), Value: 0},
		}},
		{"past the acceptance deadline", func(*testing.T) { clk.Advance(AcceptWithin + time.Hour) }, []metricstest.Want{
			{Name: "wuxiao_complaint_overdue", Labels: stage(StatusReceived), Value: 3},
			{Name: "wuxiao_complaint_sla_breaches_total", Labels: stage(StatusReceived), Value: 0},
		}},
		{"accepted late, before the job", func(t *testing.T) {
			if _, err := s.Act(ctx, staff, ids[0], Action{Type: ActionAccept}); err != nil {
				t.Fatal(err)
			}
		}, []metricstest.Want{
			{Name: "wuxiao_complaint_open", Labels: stage(StatusReceived), Value: 2},
			{Name: "wuxiao_complaint_overdue", Labels: stage(StatusReceived), Value: 2},
			{Name: "wuxiao_complaint_open", Labels: stage(StatusAccepted), Value: 1},
			{Name: "wuxiao_complaint_overdue", Labels: stage(StatusAccepted), Value: 0},
			{Name: "wuxiao_complaint_sla_breaches_total", Labels: stage(StatusReceived), Value: 1},
			{Name: "wuxiao_complaint_escalations_total", Labels: stage(StatusReceived), Value: 0},
		}},
		{"the job escalates the others", escalate(2), []metricstest.Want{
			{Name: "wuxiao_complaint_overdue", Labels: stage(StatusReceived), Value: 2},
			{Name: "wuxiao_complaint_sla_breaches_total", Labels: stage(StatusReceived), Value: 3},
			{Name: "wuxiao_complaint_escalations_total", Labels: stage(StatusReceived), Value: 2},
		}},
		{"escalated ones accepted late count no more", func(t *testing.T) {
			escalate(0)(t)
			if _, err := s.Act(ctx, staff, ids[1], Action{Type: ActionAccept}); err != nil {
				t.Fatal(err)
			}
		}, []metricstest.Want{
			{Name: "wuxiao_complaint_overdue", Labels: stage(StatusReceived), Value: 1},
			{Name: "wuxiao_complaint_sla_breaches_total", Labels: stage(StatusReceived), Value: 3},
			{Name: "wuxiao_complaint_escalations_total", Labels: stage(StatusReceived), Value: 2},
		}},
		{"past the investigation deadline", func(t *testing.T) {
			clk.Advance(InvestigateWithin + time.Hour)
			escalate(2)(t)
		}, []metricstest.Want{
			{Name: "wuxiao_complaint_open", Labels: stage(StatusAccepted), Value: 2},
			{Name: "wuxiao_complaint_overdue", Labels: stage(StatusAccepted), Value: 2},
			{Name: "wuxiao_complaint_sla_breaches_total", Labels: stage(StatusAccepted), Value: 2},
			{Name: "wuxiao_complaint_escalations_total", Labels: stage(StatusAccepted), Value: 2},
			{Name: "wuxiao_complaint_sla_breaches_total", Labels: stage(StatusReceived), Value: 3},
		}},
		{"rejected: no longer open", func(t *testing.T) {
			if _, err := s.Act(ctx, staff, ids[2], Action{Type: ActionReject, Reason: "不属于受理范围"}); err != nil {
				t.Fatal(err)
			}
		}, []metricstest.Want{
			{Name: "wuxiao_complaint_open", Labels: stage(StatusReceived), Value: 0},
			{Name: "wuxiao_complaint_overdue", Labels: stage(StatusReceived), Value: 0},
			{Name: "wuxiao_complaint_sla_breaches_total", Labels: stage(StatusReceived), Value: 3},
		}},
	} {
		st.act(t)
		metricstest.Check(t, st.name, scrape(), st.want)
	}
}

// A scrape at rest gives its connection back to the server afterwards
// (store.Background): scraped every 15-30 s, a pool would otherwise keep a
// connection open for good in every replica.
func TestMetricsScrapeHoldsNoConnection(t *testing.T) {
	_, a, scrape := instrumented(t, RateLimitConfig{ClientBurst: 100, VillageBurst: 100, FloodThreshold: 100})
	opened, held := testinfra.AtRest(t, a.Service.Pool, func() {
		metricstest.Check(t, "at rest", scrape(), []metricstest.Want{{Name: "wuxiao_complaint_open", Labels: stage(StatusReceived), Value: 0}})
	})
	if opened != 1 || held != 0 {
		t.Errorf("a scrape at rest opened %d connections and left %d open, want 1 and 0", opened, held)
	}
}
