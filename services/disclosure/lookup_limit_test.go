package disclosure

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
)

// TestLookupRateLimit drives the JSON and HTML lookups through the real
// server behind a trusted ingress (the test client at 127.0.0.1 plays it,
// X-Forwarded-For names the villager), on a clock the test moves.
func TestLookupRateLimit(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	var clock atomic.Int64
	clock.Store(serviceNow.UnixNano())
	s.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	s.LookupLimits = LookupLimits{ClientEvery: time.Minute, ClientBurst: 2, VillageEvery: 30 * time.Second, VillageBurst: 3}
	base := httpapitest.APIBase(testTown)
	base.TrustedProxies = []string{"127.0.0.0/8", "::1/128"}
	ts := httpapitest.ServeAPI(t, base, s.Routes)

	village := emptyVillage
	lookup := func(kind, client, village, id string) page {
		t.Helper()
		var req *http.Request
		if kind == "json" {
			b, _ := json.Marshal(map[string]string{"idNumber": id, "name": "张小明", "lookupCode": "AAAA-0000"})
			req, _ = http.NewRequest("POST", ts.URL+"/v1/public/villages/"+village+"/subsidies/lookup", strings.NewReader(string(b)))
			req.Header.Set("Content-Type", "application/json")
		} else {
			form := url.Values{"idNumber": {id}, "name": {"张小明"}, "lookupCode": {"AAAA-0000"}}
			req, _ = http.NewRequest("POST", ts.URL+"/v/"+village+"/subsidies/lookup", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("X-Forwarded-For", client)
		return do(t, req)
	}
	const (
		alice, bob, carol = "203.0.113.1", "203.0.113.2", "203.0.113.3"
	)
	for i, step := range []struct {
		name                 string
		advance              time.Duration
		kind, client, target string
		id                   string
		status               int
		retryAfter           string // expected on a 429
	}{
		{"first JSON lookup", 0, "json", alice, village, idZhang, 200, ""},
		{"first page lookup", 0, "html", alice, village, idAyi, 200, ""},
		{"client over its budget (JSON)", 0, "json", alice, village, "110105194912310021", 429, "60"},
		{"client over its budget (page)", 0, "html", alice, village, idZhang, 429, "60"},
		{"client budget spans villages", 0, "json", alice, otherVillage, idZhang, 429, "60"},
		{"a forged X-Forwarded-For entry does not help", 0, "json", "198.51.100.7, " + alice, village, idZhang, 429, "60"},
		{"another villager", 0, "json", bob, village, idZhang, 200, ""},
		{"village over its budget", 0, "json", carol, village, idZhang, 429, "30"},
		{"village over its budget (page)", 0, "html", carol, village, idZhang, 429, "30"},
		{"other village unaffected", 0, "json", carol, otherVillage, idZhang, 200, ""},
		{"budgets refill", time.Minute, "json", alice, village, idZhang, 200, ""},
	} {
		clock.Add(int64(step.advance))
		p := lookup(step.kind, step.client, step.target, step.id)
		if p.status != step.status {
			t.Fatalf("step %d (%s): HTTP %d, want %d: %s", i, step.name, p.status, step.status, p.body)
		}
		if step.status != 429 {
			continue
		}
		if got := p.header.Get("Retry-After"); got != step.retryAfter {
			t.Errorf("step %d (%s): Retry-After %q, want %q", i, step.name, got, step.retryAfter)
		}
		if p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("step %d (%s): Cache-Control %q", i, step.name, p.header.Get("Cache-Control"))
		}
		if step.kind == "json" {
			var prob struct{ Type string }
			_ = json.Unmarshal([]byte(p.body), &prob)
			if prob.Type != httpapi.TypeTooManyRequests || !strings.HasPrefix(p.header.Get("Content-Type"), "application/problem+json") {
				t.Errorf("step %d (%s): not a 429 problem: %s %s", i, step.name, p.header.Get("Content-Type"), p.body)
			}
		} else {
			checkHTML(t, p.body)
			if !strings.Contains(p.body, "查询太频繁") || !strings.Contains(p.body, "请在") {
				t.Errorf("step %d (%s): page lacks the Chinese explanation: %s", i, step.name, p.body)
			}
		}
	}
}

// TestLookupBruteForceIsSlow: one client trying ID numbers in a loop gets
// its burst and then nothing until its bucket refills, whatever it tries.
func TestLookupBruteForceIsSlow(t *testing.T) {
	l := newLookupLimiter(LookupLimits{})
	now := serviceNow
	allowed := 0
	for range 1000 {
		if ok, wait := l.allow("203.0.113.1", village, "", now); ok {
			allowed++
		} else if wait <= 0 || wait > time.Minute {
			t.Fatalf("refusal with wait %s", wait)
		}
	}
	if allowed != 10 {
		t.Errorf("%d of 1000 attempts allowed at once, want the burst of 10", allowed)
	}
	// An hour later, 60 more at most.
	allowed = 0
	for i := range 3600 {
		if ok, _ := l.allow("203.0.113.1", village, "", now.Add(time.Duration(i+1)*time.Second)); ok {
			allowed++
		}
	}
	if allowed > 60 {
		t.Errorf("%d attempts allowed in the next hour, want at most 60", allowed)
	}
	// Many clients together are held by the village's bucket.
	allowed = 0
	for i := range 1000 {
		if ok, _ := l.allow("client-"+string(rune('a'+i%26))+string(rune('a'+i/26)), otherVillage, "", now); ok {
			allowed++
		}
	}
	if allowed != 120 {
		t.Errorf("%d attempts of 1000 clients allowed at once in a village, want its burst of 120", allowed)
	}
}
