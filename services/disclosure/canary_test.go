package disclosure

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/workflow"
)

// The canaries: personal data no public output may show whole.
var (
	canaryID    = func() string { f := "33028319880715123"; return f + string(personal.IDCheckChar(f)) }()
	canaryPhone = "13912348765"
	canaryName  = "龚金丝雀"
)

// canaryWritings are the ways cadres write the canary numbers in free text.
func canaryWritings() (idSpaced, idFullWidth, phoneDashed, phonePlus string) {
	id := canaryID
	idSpaced = id[:4] + " " + id[4:8] + " " + id[8:12] + " " + id[12:16] + " " + id[16:]
	var fw strings.Builder
	for _, r := range id {
		fw.WriteRune(r + 0xFEE0)
	}
	p := canaryPhone
	return idSpaced, fw.String(), p[:3] + "-" + p[3:7] + "-" + p[7:], "+86 " + p[:3] + " " + p[3:7] + " " + p[7:]
}

// flatten folds a response body and drops what may stand between the
// digits of a number, so that a canary written in groups is found too.
var betweenDigits = regexp.MustCompile(`[\s\-.\x{3000}\x{FF0D}\x{2010}-\x{2015}\x{200B}-\x{200D}\x{FEFF}]`)

func flatten(body string) string {
	return strings.ToUpper(betweenDigits.ReplaceAllString(personal.Fold(body), ""))
}

// TestCanaryCrawl seeds every personal field with canaries through the
// services' own APIs (disclosure's finance API, workflow's process API,
// workflow's events into disclosure's consumer), then requests every
// public route of disclosure and workflow, as their route tables list them,
// and fails if any response shows a canary.
func TestCanaryCrawl(t *testing.T) {
	ctx := context.Background()
	now := serviceNow
	clock := func() time.Time { return now }

	// Disclosure: the JSON API and the portal.
	ds := portalService(t, newService(t, testTown))
	ds.LookupLimits = LookupLimits{ClientBurst: 1000, VillageBurst: 1000, HouseholdBurst: 1000}
	auth := httpapitest.Auth(t)
	dsrv := httpapitest.NewServer(httpapitest.APIBase(testTown), auth)
	ds.Routes(dsrv)
	dts := httpapitest.Start(t, dsrv)

	// Workflow, on its own database, with the sample power list.
	pool, err := store.Open(ctx, testinfra.Postgres(t), "workflow")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := events.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := workflow.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	cat, err := workflow.LoadCatalog(testinfra.CatalogFile(t))
	if err != nil {
		t.Fatal(err)
	}
	cal, err := workflow.NewCalendar(workflow.CalendarFile{})
	if err != nil {
		t.Fatal(err)
	}
	ws := &workflow.Service{Engine: &workflow.Engine{Catalog: cat, Calendar: cal}, Pool: pool, Town: testTown, IDHashKey: testKey,
		AuditKey: []byte("canary-audit-key-canary-audit-ke"), Log: slog.New(slog.DiscardHandler), Now: clock}
	wsrv := httpapitest.NewServer(httpapitest.APIBase(testTown), auth)
	ws.Routes(wsrv)
	wts := httpapitest.Start(t, wsrv)

	finance, _ := testinfra.KratosUser(t, "town-finance", testTown, "")
	secretary, _ := testinfra.KratosUser(t, "secretary", testTown, village)
	member, _ := testinfra.KratosUser(t, "committee-member", testTown, village)
	idSpaced, idFullWidth, phoneDashed, phonePlus := canaryWritings()
	must := func(r apiResponse, what string) apiResponse {
		t.Helper()
		if r.Status != 200 && r.Status != 201 {
			t.Fatalf("%s: %d %s", what, r.Status, r.Raw)
		}
		return r
	}

	// Workflow: a payment process with the canary payee, titled with the
	// canary numbers, and a withdrawn one with them in its reason.
	running := must(apiJSON(t, wts, "POST", "/v1/villages/"+village+"/instances", member, workflow.StartRequest{ItemID: "funds-expenditure",
		Title: "垫付款报销 身份证" + canaryID + " 电话" + canaryPhone, AmountFen: 86_000, PayeeName: canaryName, PayeeIDNumber: canaryID}), "start")
	withdrawn := must(apiJSON(t, wts, "POST", "/v1/villages/"+village+"/instances", secretary, workflow.StartRequest{ItemID: "decision-major-matters",
		Title: "村道硬化（联系人电话" + phoneDashed + "，身份证" + idSpaced + "）"}), "start")
	must(apiJSON(t, wts, "POST", "/v1/instances/"+withdrawn.Body["id"].(string)+"/withdraw", secretary,
		map[string]string{"reason": "申请人" + idFullWidth + "撤回，电话" + phonePlus}), "withdraw")
	tracking := running.Body["trackingNumber"].(string)
	withdrawnTracking := withdrawn.Body["trackingNumber"].(string)

	// Workflow's events, as the relay would publish them, into disclosure's
	// consumer (its 流程到哪了 projection).
	rows, err := pool.Query(ctx, `SELECT topic, key, headers, payload FROM outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []kafka.Message
	for rows.Next() {
		var topic, key string
		var headers map[string]string
		var payload []byte
		if err := rows.Scan(&topic, &key, &headers, &payload); err != nil {
			t.Fatal(err)
		}
		m := kafka.Message{Topic: topic, Key: []byte(key), Value: payload}
		for k, v := range headers {
			m.Headers = append(m.Headers, kafka.Header{Key: k, Value: []byte(v)})
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil || len(msgs) < 3 {
		t.Fatalf("%d workflow events (%v)", len(msgs), err)
	}
	for _, m := range msgs {
		ev, err := events.Decode(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := applyEvent(t, ds, ev); err != nil {
			t.Fatalf("event %s: %v", ev.Type, err)
		}
	}

	// Disclosure: wallet entries and a payment with the canaries in every
	// field that takes text, each reversed with them in the reason.
	entry := must(apiJSON(t, dts, "POST", "/v1/villages/"+village+"/ledger", finance, EntryInput{Kind: KindSpending,
		Category: CategoryPublicWelfareExpenses, AmountFen: 86_000, Date: "2026-03-02",
		Description: "报销垫付款，身份证" + canaryID + "，电话" + phoneDashed, Counterparty: canaryName + "（代收，电话" + canaryPhone + "）",
		TrackingNumber: tracking}), "entry")
	must(apiJSON(t, dts, "POST", "/v1/ledger/"+entry.Body["id"].(string)+"/reverse", finance,
		reverseRequest{Reason: "错登：身份证" + idSpaced + "，联系" + phonePlus}), "reverse entry")
	must(apiJSON(t, dts, "POST", "/v1/villages/"+village+"/ledger", finance, EntryInput{Kind: KindSpending,
		Category: CategoryPublicWelfareExpenses, AmountFen: 12_000, Date: "2026-03-03",
		Description: "材料费 身份证" + idFullWidth, Counterparty: "某某建筑有限公司（负责人" + canaryName + "）"}), "entry")
	pay := must(apiJSON(t, dts, "POST", "/v1/villages/"+village+"/subsidies", finance, PaymentRequest{Programme: "耕地地力保护补贴",
		HouseholdName: canaryName, IDNumber: canaryID, AmountFen: 52_300, PaidOn: "2026-03-01"}), "payment")
	must(apiJSON(t, dts, "POST", "/v1/subsidies/"+pay.Body["id"].(string)+"/reverse", finance,
		reverseRequest{Reason: "重复发放，户主身份证" + canaryID + "，电话" + canaryPhone}), "reverse payment")
	code := pay.Body["lookupCode"].(string)

	// Every public route, its wildcards filled in with what was seeded.
	year := "2026"
	fill := map[string]string{"village": village, "year": year, "file": FDPDataPath(village, 2026), "tracking": tracking,
		"number": tracking, "item": "funds-expenditure", "rest...": "nothing-here"}
	wildcard := regexp.MustCompile(`\{([^}]*)\}`)
	type request struct{ method, path, body, contentType string }
	crawled := 0
	for _, svc := range []struct {
		name   string
		ts     *httptest.Server
		routes []httpapi.RouteInfo
	}{{"disclosure", dts, dsrv.Routes()}, {"workflow", wts, wsrv.Routes()}} {
		for _, rt := range svc.routes {
			if !rt.Public {
				continue
			}
			method, pattern, ok := strings.Cut(rt.Pattern, " ")
			if !ok {
				method, pattern = "GET", rt.Pattern
			}
			var unknown []string
			path := wildcard.ReplaceAllStringFunc(pattern, func(w string) string {
				name := w[1 : len(w)-1]
				if name == "$" {
					return ""
				}
				v, ok := fill[name]
				if !ok {
					unknown = append(unknown, name)
				}
				return url.PathEscape(v)
			})
			if len(unknown) > 0 {
				t.Fatalf("%s %s: no canary value for %v: extend the crawl", svc.name, rt.Pattern, unknown)
			}
			var reqs []request
			switch {
			case method == "GET" && (strings.Contains(pattern, "{tracking}") || strings.Contains(pattern, "{number}")):
				// Both processes: the running one and the withdrawn one.
				reqs = append(reqs, request{method: "GET", path: path},
					request{method: "GET", path: strings.Replace(path, url.PathEscape(tracking), url.PathEscape(withdrawnTracking), 1)})
			case method == "GET":
				reqs = append(reqs, request{method: "GET", path: path}, request{method: "GET", path: path + "?year=" + year})
			case method == "POST" && strings.HasPrefix(pattern, "/v1/"):
				// The lookup, answered in full: the right ID, name and code.
				b, _ := json.Marshal(map[string]string{"idNumber": canaryID, "name": canaryName, "lookupCode": code})
				reqs = append(reqs, request{"POST", path, string(b), "application/json"})
			case method == "POST":
				form := url.Values{"idNumber": {canaryID}, "name": {canaryName}, "lookupCode": {code}}
				reqs = append(reqs, request{"POST", path, form.Encode(), "application/x-www-form-urlencoded"})
			default:
				t.Fatalf("%s %s: the crawl does not know how to call it", svc.name, rt.Pattern)
			}
			for _, rq := range reqs {
				r := apiCall(t, svc.ts, rq.method, rq.path, "", rq.contentType, rq.body)
				crawled++
				if r.Status >= 500 {
					t.Errorf("%s %s %s: HTTP %d", svc.name, rq.method, rq.path, r.Status)
				}
				flat := flatten(r.Raw)
				for _, canary := range []string{canaryID, canaryPhone, canaryName, canaryID[6:14] + canaryID[14:17]} {
					if strings.Contains(flat, canary) {
						i := strings.Index(flat, canary)
						t.Errorf("%s %s %s (HTTP %d) shows the canary %s: …%s…", svc.name, rq.method, rq.path, r.Status, canary,
							flat[max(0, i-80):min(len(flat), i+len(canary)+40)])
					}
				}
			}
		}
	}
	// The crawl reached the seeded data: the lookup and the pages found it.
	if crawled < 20 {
		t.Errorf("only %d requests", crawled)
	}
	lookup := apiJSON(t, dts, "POST", "/v1/public/villages/"+village+"/subsidies/lookup", "",
		map[string]string{"idNumber": canaryID, "name": canaryName, "lookupCode": code})
	if n := len(lookup.Body["items"].([]any)); n != 2 {
		t.Errorf("the lookup found %d records of the canary household: %s", n, lookup.Raw)
	}
	wallet := apiCall(t, dts, "GET", "/v1/public/villages/"+village+"/wallet?year=2026", "", "", "")
	if strings.Count(wallet.Raw, `"seq"`) != 3 || !strings.Contains(wallet.Raw, "龚**雀") {
		t.Errorf("the wallet lacks the seeded entries: %s", wallet.Raw)
	}
	process := apiCall(t, dts, "GET", "/v/"+village+"/processes/"+url.PathEscape(withdrawnTracking), "", "", "")
	if process.Status != 200 || !strings.Contains(process.Raw, "村道硬化") {
		t.Errorf("the withdrawn process page: %d", process.Status)
	}
	track := apiCall(t, wts, "GET", "/v1/public/track/"+url.PathEscape(withdrawnTracking), "", "", "")
	if track.Status != 200 || !strings.Contains(track.Raw, "村道硬化") || track.Body["withdrawReason"] == nil {
		t.Errorf("the tracker: %d %s", track.Status, track.Raw)
	}
}
