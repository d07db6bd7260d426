package inspection

import (
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// api runs the inspection HTTP API on the real PostgreSQL and Kratos, with
// the village svcVillage at C (two conflicts of interest under steepRules)
// and its warning notice issued.
func api(t *testing.T) (*httptest.Server, *Service) {
	t.Helper()
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	handle(t, s, warningEvent(t, svcTown, svcVillage, "conflict-of-interest", day))
	handle(t, s, warningEvent(t, svcTown, svcVillage, "conflict-of-interest", day.AddDate(0, 0, 1)))
	signDrafts(t, s)
	auth := identity.New(testinfra.Require(t, testinfra.EnvKratosPublicURL), identity.WithCacheTTL(0),
		identity.WithErrorWriter(httpapi.WriteStatusProblem))
	srv := httpapi.New(config.Base{Town: svcTown, MaxBodyBytes: 64 << 10}, slog.New(slog.DiscardHandler), nil).WithAuthenticator(auth.Require)
	s.Routes(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, s
}

type response struct {
	status      int
	contentType string
	body        map[string]any
	raw         string
}

func get(t *testing.T, ts *httptest.Server, path, token string) response {
	t.Helper()
	return responseOf(httpapitest.Client{URL: ts.URL}.Get(t, path, token))
}

// responseOf is the shared test client's response as these tests read it.
func responseOf(r httpapitest.Response) response {
	return response{status: r.Status, contentType: r.ContentType(), body: r.Body, raw: r.Raw}
}

func TestAPIScopes(t *testing.T) {
	ts, _ := api(t)
	const number = "奉纪预〔2026〕1号"
	disc, _ := testinfra.KratosUser(t, "town-discipline", svcTown, "")
	otherDisc, _ := testinfra.KratosUser(t, "town-discipline", "jinping", "")
	district, _ := testinfra.KratosUser(t, "district-discipline", "", "")
	official, _ := testinfra.KratosUser(t, "town-official", svcTown, "")
	secA, _ := testinfra.KratosUser(t, "secretary", svcTown, svcVillage)
	secB, _ := testinfra.KratosUser(t, "secretary", svcTown, svcVillage2)
	villager, _ := testinfra.KratosUser(t, "villager", svcTown, svcVillage)

	rating := "/v1/villages/" + svcVillage + "/rating"
	changes := "/v1/villages/" + svcVillage + "/grade-changes"
	noticeJSON := "/v1/notices/" + url.PathEscape(number)
	noticeHTML := noticeJSON + "/html"
	cases := []struct {
		name, token, path string
		status            int
	}{
		{"no session rating", "", rating, 401},
		{"discipline rating", disc, rating, 200},
		{"district rating", district, rating, 200},
		{"own village rating", secA, rating, 200},
		{"other town's discipline rating", otherDisc, rating, 403},
		{"other village rating", secB, rating, 403},
		{"villager rating", villager, rating, 403},
		{"town official rating", official, rating, 403},
		{"discipline changes", disc, changes, 200},
		{"own village changes", secA, changes, 200},
		{"other village changes", secB, changes, 403},
		{"villager changes", villager, changes, 403},
		{"no session changes", "", changes, 401},
		{"discipline district ratings", disc, "/v1/district/ratings", 200},
		{"district district ratings", district, "/v1/district/ratings", 200},
		{"other town's discipline district ratings", otherDisc, "/v1/district/ratings", 403},
		{"village district ratings", secA, "/v1/district/ratings", 403},
		{"no session district ratings", "", "/v1/district/ratings", 401},
		{"discipline notice", disc, noticeJSON, 200},
		{"district notice", district, noticeJSON, 200},
		{"addressed village notice", secA, noticeJSON, 200},
		{"other village notice", secB, noticeJSON, 404},
		{"villager notice", villager, noticeJSON, 404},
		{"town official notice", official, noticeJSON, 404},
		{"other town's discipline notice", otherDisc, noticeJSON, 404},
		{"no session notice", "", noticeJSON, 401},
		{"no such notice", disc, "/v1/notices/" + url.PathEscape("奉纪预〔2026〕9号"), 404},
		{"discipline notice html", disc, noticeHTML, 200},
		{"addressed village notice html", secA, noticeHTML, 200},
		{"other village notice html", secB, noticeHTML, 404},
		{"villager notice html", villager, noticeHTML, 404},
		{"other town's discipline notice html", otherDisc, noticeHTML, 404},
		{"no session notice html", "", noticeHTML, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if r := get(t, ts, tc.path, tc.token); r.status != tc.status {
				t.Fatalf("got %d %.300s, want %d", r.status, r.raw, tc.status)
			}
		})
	}

	// Discipline sees both warnings; the secretary's view is TestCadresDoNotSeeHiddenFacts'.
	r := get(t, ts, rating, disc)
	if r.body["grade"] != "C" || r.body["points"].(float64) != 70 || len(r.body["contributions"].([]any)) != 2 {
		t.Fatalf("rating: %s", r.raw)
	}
	r = get(t, ts, changes, disc)
	items := r.body["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("grade changes: %s", r.raw)
	}
	latest := items[0].(map[string]any)
	if latest["from"] != "B" || latest["to"] != "C" || latest["notice"] != number || len(latest["because"].([]any)) != 1 {
		t.Fatalf("latest change: %v", latest)
	}
	r = get(t, ts, "/v1/district/ratings", district)
	if r.body["period"] != "2026" {
		t.Fatalf("district ratings: %s", r.raw)
	}
	grades := map[string]any{}
	for _, it := range r.body["items"].([]any) {
		m := it.(map[string]any)
		grades[m["village"].(string)] = m["grade"]
	}
	// svcVillage has a name (so it is listed) and a rating; no other village does.
	if len(grades) != 1 || grades[svcVillage] != "C" {
		t.Fatalf("district ratings: %v", grades)
	}
	r = get(t, ts, noticeJSON, secA)
	if r.body["number"] != number || r.body["village"] != svcVillage || r.body["kind"] != "warning" {
		t.Fatalf("notice: %.500s", r.raw)
	}
	r = get(t, ts, noticeHTML, disc)
	if r.contentType != "text/html; charset=utf-8" || !strings.HasPrefix(r.raw, "<!DOCTYPE html>") ||
		!strings.Contains(r.raw, number) || !strings.Contains(r.raw, "岩头村") {
		t.Fatalf("notice html: %s %.500s", r.contentType, r.raw)
	}
	doc := get(t, ts, "/openapi.yaml", "")
	if doc.status != 200 || !strings.Contains(doc.raw, "/v1/notices/{number}/html") {
		t.Fatalf("openapi: %d", doc.status)
	}
}
