//go:build e2e

package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"math/bits"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const wait = 90 * time.Second

type instance struct {
	ID             string `json:"id"`
	TrackingNumber string `json:"trackingNumber"`
	Status         string `json:"status"`
	Current        string `json:"current"`
}

// stepRoles of the sample catalog's funds-non-productive-spending
// (非生产性开支), in order; its completion is booked in the village wallet.
var stepRoles = []struct{ step, role string }{
	{"apply", "committee-member"},
	{"approval", "director"},
	{"reimburse", "accountant"},
	{"supervision-review", "supervision-chair"},
	{"disclosure", "accountant"},
}

// A process started and completed by the village's officials in the
// workflow service becomes a wallet entry on the village's public portal
// (disclosure, through Kafka), in one trace from the workflow request to the
// disclosure consumer.
func TestCompletedProcessReachesThePortal(t *testing.T) {
	v := villageOf(t, 0, "committee-member", "supervision-chair")
	wf := func(p string) string { return svcURL("workflow", p) }

	// The operator-created secretary can start a process of the list in
	// their village, and not in another village.
	var major instance
	mustJSON(t, http.StatusCreated, http.MethodPost, wf("/v1/villages/"+v.code+"/instances"), v.tokens["secretary"],
		map[string]any{"itemId": "decision-major-matters", "title": "端到端测试：村道硬化"}, &major)
	if major.TrackingNumber == "" || major.Status != "running" {
		t.Fatalf("started process: %+v", major)
	}
	other := villageOf(t, 1)
	if code, body := call(t, http.MethodPost, wf("/v1/villages/"+other.code+"/instances"), v.tokens["secretary"],
		map[string]any{"itemId": "decision-major-matters", "title": "越权"}); code != http.StatusForbidden {
		t.Fatalf("secretary of %s starting in %s: status %d, want 403: %s", v.code, other.code, code, body)
	}

	// A spending process, every step by its role; one trace for all of it.
	traceID := newTraceID()
	title := "端到端测试开支 " + randomSuffix()
	amount := int64(123456)
	var inst instance
	traced := func(method, u, token string, in any, want int, out any) {
		t.Helper()
		code, body := callTraced(t, method, u, token, in, traceID)
		if code != want {
			t.Fatalf("%s %s: status %d, want %d: %s", method, u, code, want, bytes.TrimSpace(body))
		}
		if out != nil {
			if err := json.Unmarshal(body, out); err != nil {
				t.Fatal(err)
			}
		}
	}
	traced(http.MethodPost, wf("/v1/villages/"+v.code+"/instances"), v.tokens["committee-member"],
		map[string]any{"itemId": "funds-non-productive-spending", "title": title, "amountFen": amount}, http.StatusCreated, &inst)
	for _, s := range stepRoles {
		if inst.Status != "running" {
			t.Fatalf("process ended before step %s: %+v", s.step, inst)
		}
		var res struct {
			Instance instance `json:"instance"`
		}
		traced(http.MethodPost, wf("/v1/instances/"+inst.ID+"/steps/"+s.step+"/complete"), v.tokens[s.role],
			map[string]any{"note": "端到端测试"}, http.StatusOK, &res)
		inst = res.Instance
	}
	if inst.Status != "completed" {
		t.Fatalf("after every step: %+v", inst)
	}

	// The wallet entry, in the public JSON and on the portal page.
	year := time.Now().In(time.FixedZone("CST", 8*3600)).Year()
	eventually(t, "wallet entry of "+inst.TrackingNumber, wait, func() error {
		var w struct {
			Entries []struct {
				TrackingNumber string `json:"trackingNumber"`
				AmountFen      int64  `json:"amountFen"`
				Description    string `json:"description"`
			} `json:"entries"`
		}
		code, body := call(t, http.MethodGet, svcURL("disclosure", fmt.Sprintf("/v1/public/villages/%s/wallet?year=%d", v.code, year)), "", nil)
		if code != http.StatusOK {
			return fmt.Errorf("status %d: %s", code, body)
		}
		if err := json.Unmarshal(body, &w); err != nil {
			return err
		}
		for _, e := range w.Entries {
			if e.TrackingNumber == inst.TrackingNumber {
				if e.AmountFen != amount {
					t.Fatalf("entry %+v: amount %d, want %d", e, e.AmountFen, amount)
				}
				return nil
			}
		}
		return fmt.Errorf("%d entries, none for %s", len(w.Entries), inst.TrackingNumber)
	})
	code, page := call(t, http.MethodGet, svcURL("disclosure", "/v/"+v.code), "", nil)
	if code != http.StatusOK || !strings.Contains(string(page), title) || !strings.Contains(string(page), "1234.56") {
		t.Fatalf("portal /v/%s: status %d, title %q or 1234.56 missing", v.code, code, title)
	}

	// One trace: the workflow requests, the relay's publish, and
	// disclosure's consumer, whose span is a child of a workflow span (the
	// traceparent travelled in the Kafka message's headers).
	eventually(t, "trace "+traceID+" spanning workflow and disclosure", wait, func() error {
		spans := env.traces.trace(traceID)
		workflowSpans := map[string]span{}
		for _, s := range spans {
			if s.Service == "wuxiao-workflow" {
				workflowSpans[s.SpanID] = s
			}
		}
		for _, s := range spans {
			if p, ok := workflowSpans[s.Parent]; ok && s.Service == "wuxiao-disclosure" && strings.HasPrefix(s.Name, "process ") {
				t.Logf("trace %s: %d spans; hop %s %q -> %s %q", traceID, len(spans), p.Service, p.Name, s.Service, s.Name)
				return nil
			}
		}
		return fmt.Errorf("%d spans, %d of workflow, no disclosure consumer span under one", len(spans), len(workflowSpans))
	})
}

// A complaint about the village's cadres (干部作风) filed on the village's
// report page (码上举报) reaches the town's discipline office; the village's
// own cadres can neither list it nor open it.
func TestComplaintIsVisibleToDisciplineNotToCadres(t *testing.T) {
	v := villageOf(t, 0)
	discipline := env.kratos.signInNew(t, t.Context(), "town-discipline", env.town, "")
	desc := "端到端测试举报：村干部优亲厚友，补贴发放不公，请核查。" + randomSuffix()
	page := submitReport(t, v.code, url.Values{"category": {"cadre-conduct"}, "description": {desc}})
	if !strings.Contains(string(page), "举报已提交") {
		t.Fatalf("receipt page lacks 举报已提交")
	}
	list := svcURL("complaint", "/v1/villages/"+v.code+"/complaints")
	id := findComplaint(t, list, discipline, desc)
	for _, role := range []string{"secretary", "director", "accountant"} {
		code, body := call(t, http.MethodGet, list, v.tokens[role], nil)
		if code != http.StatusOK && code != http.StatusForbidden {
			t.Errorf("the village's %s listing: status %d: %s", role, code, body)
		}
		if strings.Contains(string(body), desc) || strings.Contains(string(body), id) {
			t.Errorf("the village's %s sees the complaint in the list", role)
		}
		code, body = call(t, http.MethodGet, svcURL("complaint", "/v1/complaints/"+id), v.tokens[role], nil)
		if code != http.StatusNotFound && code != http.StatusForbidden {
			t.Errorf("the village's %s opening it: status %d, want 404 or 403: %s", role, code, body)
		}
	}
	if code, body := call(t, http.MethodGet, svcURL("complaint", "/v1/complaints/"+id), discipline, nil); code != http.StatusOK {
		t.Errorf("discipline opening it: status %d: %s", code, body)
	}
}

// A violation warning raised in the workflow service (a step recorded out of
// order) changes the village's rating in the inspection service.
func TestWarningChangesTheRating(t *testing.T) {
	v := villageOf(t, 2)
	discipline := env.kratos.signInNew(t, t.Context(), "town-discipline", env.town, "")
	ratingURL := svcURL("inspection", "/v1/villages/"+v.code+"/rating")
	var before ratingView
	mustJSON(t, http.StatusOK, http.MethodGet, ratingURL, discipline, nil, &before)

	var inst instance
	mustJSON(t, http.StatusCreated, http.MethodPost, svcURL("workflow", "/v1/villages/"+v.code+"/instances"), v.tokens["secretary"],
		map[string]any{"itemId": "decision-major-matters", "title": "端到端测试：跳过程序"}, &inst)
	var res struct {
		Warnings []struct {
			Rule string `json:"rule"`
		} `json:"warnings"`
	}
	mustJSON(t, http.StatusOK, http.MethodPost, svcURL("workflow", "/v1/instances/"+inst.ID+"/steps/members-review/complete"),
		v.tokens["secretary"], map[string]any{"outOfOrder": true, "reason": "端到端测试：先开党员大会"}, &res)
	if !slices.ContainsFunc(res.Warnings, func(w struct {
		Rule string `json:"rule"`
	}) bool {
		return w.Rule == "order"
	}) {
		t.Fatalf("no order warning raised: %+v", res.Warnings)
	}
	eventually(t, "rating of "+v.code+" reflecting the warning", wait, func() error {
		var now ratingView
		code, body := call(t, http.MethodGet, ratingURL, discipline, nil)
		if code != http.StatusOK {
			return fmt.Errorf("status %d: %s", code, body)
		}
		if err := json.Unmarshal(body, &now); err != nil {
			return err
		}
		// The step also lacked its required evidence: the process raises
		// two warnings, each rated (or capped) on its own.
		order, ours, capped := false, 0, false
		for _, c := range now.Contributions {
			if c.Fact.Kind != "warning" || c.Fact.Ref != inst.TrackingNumber {
				continue
			}
			order = order || c.Fact.Subkind == "order"
			ours += c.Points
			capped = capped || c.Capped
			if c.Points > 0 || (c.Points == 0 && !c.Capped && c.Fact.Subkind == "order") {
				t.Fatalf("warning %s/%s counts %d points (capped: %v)", c.Fact.Kind, c.Fact.Subkind, c.Points, c.Capped)
			}
		}
		if !order {
			return fmt.Errorf("no contribution of the order warning of %s yet (points %d)", inst.TrackingNumber, now.Points)
		}
		if now.Points != before.Points+ours {
			return fmt.Errorf("points %d, want %d%+d", now.Points, before.Points, ours)
		}
		t.Logf("rating of %s: %d (%s) -> %d (%s); this process's warnings count %d", v.code, before.Points, before.Grade, now.Points, now.Grade, ours)
		if ours == 0 && !capped {
			t.Fatalf("the warnings changed nothing and were not capped")
		}
		if ours == 0 {
			// This period's caps are used up by earlier runs against the
			// same database: the warnings are rated, the score cannot move.
			t.Logf("the period's caps on these warnings are reached; the score does not move")
		}
		return nil
	})
	// A village's cadres may read their own village's rating only.
	other := villageOf(t, 0)
	if code, body := call(t, http.MethodGet, ratingURL, other.tokens["secretary"], nil); code != http.StatusForbidden {
		t.Errorf("secretary of %s reading the rating of %s: status %d, want 403: %s", other.code, v.code, code, body)
	}
}

// submitReport posts the report form as the page's script does: solving the
// proof-of-work challenge when answered 428, and waiting out a 429 (all
// requests come from the API server's address, so reruns within a minute
// meet the per-client limit).
func submitReport(t *testing.T, villageCode string, form url.Values) []byte {
	t.Helper()
	return submitReportURL(t, svcURL("complaint", "/r/"+villageCode), form)
}

// submitReportURL is submitReport for the report page at u.
func submitReportURL(t *testing.T, u string, form url.Values) []byte {
	t.Helper()
	for attempt := 0; attempt < 4; attempt++ {
		code, hdr, page := do(t, http.MethodPost, u, "", form)
		switch code {
		case http.StatusCreated:
			return page
		case http.StatusPreconditionRequired:
			m := powRe.FindSubmatch(page)
			if m == nil {
				t.Fatalf("428 without a challenge: %s", page)
			}
			d, _ := strconv.Atoi(string(m[3]))
			form.Set("pow_token", html.UnescapeString(string(m[1])))
			form.Set("pow_nonce", solvePoW(html.UnescapeString(string(m[2])), d))
		case http.StatusTooManyRequests:
			secs, _ := strconv.Atoi(hdr.Get("Retry-After"))
			if secs <= 0 || secs > 180 {
				secs = 60
			}
			t.Logf("report page: 429, retrying after %ds", secs)
			time.Sleep(time.Duration(secs) * time.Second)
		default:
			t.Fatalf("POST %s: status %d: %s", u, code, page)
		}
	}
	t.Fatalf("POST %s: not accepted after 4 attempts", u)
	return nil
}

var powRe = regexp.MustCompile(`id="pow"[^>]*data-token="([^"]+)"[^>]*data-seed="([^"]+)"[^>]*data-difficulty="([0-9]+)"`)

// solvePoW finds the decimal nonce whose SHA-256(seed+nonce) starts with
// difficulty zero bits, as report.js does.
func solvePoW(seed string, difficulty int) string {
	for i := 0; ; i++ {
		n := strconv.Itoa(i)
		sum := sha256.Sum256([]byte(seed + n))
		zeros := 0
		for _, b := range sum {
			if b == 0 {
				zeros += 8
				continue
			}
			zeros += bits.LeadingZeros8(b)
			break
		}
		if zeros >= difficulty {
			return n
		}
	}
}

// callTraced is call with a W3C traceparent of traceID (sampled), so that
// the services' spans join the test's trace.
func callTraced(t *testing.T, method, u, token string, in any, traceID string) (int, []byte) {
	t.Helper()
	tracedHeader.Store(traceID)
	defer tracedHeader.Store("")
	return call(t, method, u, token, in)
}

func newTraceID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// findComplaint waits until the complaint with description desc is in the
// list at u as token sees it, and returns its id.
func findComplaint(t *testing.T, u, token, desc string) string {
	t.Helper()
	var id string
	eventually(t, "the complaint in the list of "+u, wait, func() error {
		var out struct {
			Items []struct {
				ID          string `json:"id"`
				Description string `json:"description"`
			} `json:"items"`
		}
		code, body := call(t, http.MethodGet, u, token, nil)
		if code != http.StatusOK {
			return fmt.Errorf("status %d: %s", code, body)
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return err
		}
		for _, c := range out.Items {
			if c.Description == desc {
				id = c.ID
				return nil
			}
		}
		return fmt.Errorf("not among %d listed", len(out.Items))
	})
	return id
}
