package disclosure

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// lookupServer runs the service behind a trusted ingress (the test client
// at 127.0.0.1 plays it; X-Forwarded-For names the client).
func lookupServer(t *testing.T, limits LookupLimits) (*httptest.Server, *Service) {
	t.Helper()
	s := newService(t, testTown)
	s.LookupLimits = limits
	base := httpapitest.APIBase(testTown)
	base.TrustedProxies = []string{"127.0.0.0/8", "::1/128"}
	return httpapitest.ServeAPI(t, base, s.Routes), s
}

func lookupAs(t *testing.T, ts *httptest.Server, client string, body map[string]string) page {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", ts.URL+"/v1/public/villages/"+village+"/subsidies/lookup", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", client)
	return do(t, req)
}

// The attack of the security review: the public subsidies list shows the
// payee's masked ID number (330283********1008) and masked name; whoever
// knows the person (name, birth year) has about 33 candidate numbers, and
// the lookup must confirm none of them without the household's lookup
// code, answering every guess exactly like "no payments". The household's
// bucket then stops guessing at its code from many clients, and an IPv6
// client's bucket holds its whole /64.
func TestLookupGuessingDoesNotConfirm(t *testing.T) {
	ts, _ := lookupServer(t, LookupLimits{ClientEvery: time.Minute, ClientBurst: 1000, VillageBurst: 1000})
	finance, _ := testinfra.KratosUser(t, "town-finance", testTown, "")

	// The victim: born 1975-06-14, known by name.
	first17 := "33028319750614100"
	victim := first17 + string(personal.IDCheckChar(first17))
	const name = "王建国"
	pay := apiJSON(t, ts, "POST", "/v1/villages/"+village+"/subsidies", finance,
		PaymentRequest{Programme: "耕地地力保护补贴", HouseholdName: name, IDNumber: victim, AmountFen: 52_300, PaidOn: "2026-03-01"})
	if pay.Status != 201 {
		t.Fatalf("record payment: %d %s", pay.Status, pay.Raw)
	}
	subs := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/subsidies?year=2026", "", "", "")
	masked := personal.MaskIDNumber(victim)
	if !strings.Contains(subs.Raw, masked) {
		t.Fatalf("the public list lacks %s: %s", masked, subs.Raw)
	}

	// Every number of the masked form's shape born in 1975 with the right
	// check character.
	var candidates []string
	for d := time.Date(1975, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() == 1975; d = d.AddDate(0, 0, 1) {
		f := masked[:6] + d.Format("20060102") + masked[14:17]
		if c := personal.IDCheckChar(f); c == masked[17] {
			candidates = append(candidates, f+string(c))
		}
	}
	if len(candidates) < 20 || len(candidates) > 45 || !strings.Contains(strings.Join(candidates, " "), victim) {
		t.Fatalf("%d candidates", len(candidates))
	}
	var first string
	// One client, guessing: neither a missing code (the request of before
	// the code existed) nor a guessed one tells the right number from the
	// others.
	for _, code := range []string{"", "0000-0000"} {
		for i, c := range candidates {
			req := map[string]string{"idNumber": c, "name": name}
			if code != "" {
				req["lookupCode"] = code
			}
			p := lookupAs(t, ts, "203.0.113.9", req)
			if p.status != 200 {
				t.Fatalf("guess %d (%s): HTTP %d %s", i, c, p.status, p.body)
			}
			if first == "" {
				first = p.body
			}
			if p.body != first {
				t.Fatalf("guess %s answered %s, other guesses %s: the lookup confirms the ID number", c, p.body, first)
			}
		}
	}
	if !strings.Contains(first, `"items":[]`) {
		t.Fatalf("a miss answers %s, want no payments", first)
	}

	// The household itself, with the code from its payment notice; finance
	// staff (only they) can give the code again.
	code, _ := pay.Body["lookupCode"].(string)
	secretary, _ := testinfra.KratosUser(t, "secretary", testTown, village)
	again := apiJSON(t, ts, "POST", "/v1/villages/"+village+"/subsidies/lookup-code", finance, map[string]string{"idNumber": victim})
	if again.Status != 200 || again.Body["lookupCode"] != code || code == "" {
		t.Fatalf("the code again: %d %s, want %q", again.Status, again.Raw, code)
	}
	for token, want := range map[string]int{secretary: 403, "": 401} {
		if r := apiJSON(t, ts, "POST", "/v1/villages/"+village+"/subsidies/lookup-code", token, map[string]string{"idNumber": victim}); r.Status != want {
			t.Fatalf("the code for someone else than finance staff: %d %s, want %d", r.Status, r.Raw, want)
		}
	}
	own := lookupAs(t, ts, "198.51.100.1", map[string]string{"idNumber": victim, "name": name, "lookupCode": code})
	if own.status != 200 || !strings.Contains(own.body, "523.00") {
		t.Fatalf("own lookup with code %q: %d %s", code, own.status, own.body)
	}

	// The victim's household bucket (burst 5 by default) holds 2 more
	// attempts (3 were made above): after them, more clients, each fresh,
	// guessing its code are refused; another household's lookups are not.
	for i := range 5 {
		p := lookupAs(t, ts, fmt.Sprintf("198.51.100.%d", 10+i), map[string]string{"idNumber": victim, "name": name, "lookupCode": fmt.Sprintf("AAAA-%04d", i)})
		want := http.StatusOK
		if i >= 2 {
			want = http.StatusTooManyRequests
		}
		if p.status != want || (want == 429 && p.header.Get("Retry-After") == "") {
			t.Fatalf("attempt %d at the household from a fresh client: HTTP %d, want %d", i, p.status, want)
		}
	}
	if p := lookupAs(t, ts, "198.51.100.20", map[string]string{"idNumber": idZhang, "name": "张小明", "lookupCode": "AAAA-0000"}); p.status != 200 {
		t.Fatalf("another household: HTTP %d", p.status)
	}
}

// IPv6 clients are counted by their /64: another address of the same
// subnet shares the bucket, another subnet has its own.
func TestLookupLimitIPv6Per64(t *testing.T) {
	ts, _ := lookupServer(t, LookupLimits{ClientEvery: time.Hour, ClientBurst: 2, VillageBurst: 1000})
	for i, step := range []struct {
		client string
		status int
	}{
		{"2001:db8:1:2::1", 200},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 200},
		{"2001:db8:1:2::ffff", 429}, // same /64: its bucket is spent
		{"2001:db8:1:3::1", 200},    // another /64
		{"203.0.113.50", 200},
		{"::ffff:203.0.113.50", 200}, // the same IPv4 client, mapped
		{"203.0.113.50", 429},
	} {
		p := lookupAs(t, ts, step.client, map[string]string{"idNumber": fmt.Sprintf("33028319800101%03d", i), "name": "张三"})
		if p.status != step.status {
			t.Fatalf("step %d (%s): HTTP %d, want %d", i, step.client, p.status, step.status)
		}
	}
}
