package workflow

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/pow"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// postFormWith is postForm with extra headers (the proof of work's).
func postFormWith(t *testing.T, ts *httptest.Server, path string, header map[string]string, fields map[string]string) response {
	t.Helper()
	ct, body := multipartBody(t, fields)
	req, err := http.NewRequest("POST", ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// TestApplicationProofOfWork: as on the complaint report page, once the
// village's bucket is empty (a flood) an application passes only with a
// solved proof of work: without one the API answers 428 with a challenge
// and the page says so in Chinese (and carries the challenge for its
// script); a wrong or spent proof is refused (403); a solved one is filed,
// by the API (headers) and by the page (its form fields).
func TestApplicationProofOfWork(t *testing.T) {
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(t, testinfra.Postgres(t), clk)
	// The client's own limit out of the way; the village's: two, no refill
	// within the test (the clock stands still).
	s.ApplicationLimits = ApplicationLimits{ClientEvery: time.Nanosecond, ClientBurst: 1 << 20, VillageEvery: time.Hour, VillageBurst: 2}
	ts := httpapitest.ServeAPI(t, httpapitest.APIBase(town), s.Routes)
	path := "/v1/public/villages/" + village + "/applications"
	for i := range 2 {
		if r := postForm(t, ts, path, applyFields("service-certificate")); r.Status != 201 {
			t.Fatalf("application %d within the limit: %d %s", i, r.Status, r.Raw)
		}
	}

	challenge := func(r response) (token, nonce string) {
		t.Helper()
		ch, _ := r.Body["challenge"].(map[string]any)
		token, _ = ch["token"].(string)
		seed, _ := ch["seed"].(string)
		d, _ := ch["difficulty"].(float64)
		if r.Status != 428 || r.Body["type"] != "https://wuxiao.dev/problems/workflow/challenge-required" || token == "" || seed == "" || d < 16 {
			t.Fatalf("without a proof: %d %s", r.Status, r.Raw)
		}
		return token, pow.SolvePoW(seed, int(d))
	}
	token, nonce := challenge(postForm(t, ts, path, applyFields("service-certificate")))

	for _, c := range []struct {
		name, token, nonce, code string
	}{
		{"no work", token, "x", "insufficient_work"},
		{"forged token", "e30.AAAA", nonce, "challenge_bad_signature"},
	} {
		r := postFormWith(t, ts, path, map[string]string{HeaderChallenge: c.token, HeaderNonce: c.nonce}, applyFields("service-certificate"))
		if r.Status != 403 || r.Body["code"] != c.code || r.Body["type"] != "https://wuxiao.dev/problems/workflow/challenge-failed" {
			t.Fatalf("%s: %d %s", c.name, r.Status, r.Raw)
		}
	}
	proof := map[string]string{HeaderChallenge: token, HeaderNonce: nonce}
	if r := postFormWith(t, ts, path, proof, applyFields("service-certificate")); r.Status != 201 {
		t.Fatalf("with a solved proof: %d %s", r.Status, r.Raw)
	}
	if r := postFormWith(t, ts, path, proof, applyFields("service-certificate")); r.Status != 403 || r.Body["code"] != "challenge_reused" {
		t.Fatalf("the proof again: %d %s", r.Status, r.Raw)
	}

	// The page: the same policy, in Chinese; the proof in the form's fields
	// (what the page's script adds to the form data it resends).
	page := "/a/" + village + "/service-certificate"
	r := postFormWith(t, ts, page, nil, applyFields("service-certificate"))
	if r.Status != 428 || !strings.Contains(r.Raw, "当前提交量较大") || !strings.Contains(r.Raw, `id="pow"`) || !strings.Contains(r.Raw, "<noscript>") {
		t.Fatalf("page without a proof: %d %s", r.Status, r.Raw)
	}
	if !strings.Contains(r.Header.Get("Content-Security-Policy"), "script-src 'sha256-") {
		t.Fatalf("page CSP: %q", r.Header.Get("Content-Security-Policy"))
	}
	token, nonce = challenge(postForm(t, ts, path, applyFields("service-certificate")))
	fields := applyFields("service-certificate")
	fields["pow_token"], fields["pow_nonce"] = token, nonce
	if r := postForm(t, ts, page, fields); r.Status != 201 || !strings.Contains(r.Raw, "申请已提交") {
		t.Fatalf("page with a solved proof: %d %s", r.Status, r.Raw)
	}
	if r := postForm(t, ts, page, fields); r.Status != 403 || !strings.Contains(r.Raw, "该验证已使用过") {
		t.Fatalf("page with the proof again: %d %s", r.Status, r.Raw)
	}
}
