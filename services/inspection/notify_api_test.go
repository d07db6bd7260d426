package inspection

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// inboxTitles lists the titles of a caller's inbox, and its unread count.
func inboxTitles(t *testing.T, ts *httptest.Server, query, token string) ([]string, []string, int) {
	t.Helper()
	r := httpapitest.Client{URL: ts.URL}.Get(t, "/v1/inbox"+query, token)
	if r.Status != 200 {
		t.Fatalf("inbox%s: %d %.300s", query, r.Status, r.Raw)
	}
	var titles, ids []string
	for _, it := range r.Body["items"].([]any) {
		m := it.(map[string]any)
		titles = append(titles, m["title"].(string))
		ids = append(ids, m["id"].(string))
		if m["link"] == "" || m["kind"] == "" || m["createdAt"] == "" {
			t.Fatalf("item %v", m)
		}
	}
	return titles, ids, int(r.Body["unread"].(float64))
}

// TestInboxScopesAndReads: with real Kratos identities, each caller sees
// the messages addressed to their role in this town (a village role: of
// their own village only), marks them read for themselves only, and cannot
// touch anyone else's; villagers and other towns' officials have no inbox
// here.
func TestInboxScopesAndReads(t *testing.T) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	due := time.Date(2026, 4, 12, 0, 0, 0, 0, Shanghai)
	issued := anEvent(t, eventsv1.TypeNoticeIssued, svcVillage, eventsv1.NoticeIssued{ID: "n-1", Number: "奉纪预〔2026〕1号",
		Kind: "warning", Village: svcVillage, Deadline: due})
	drafted := anEvent(t, eventsv1.TypeNoticeDrafted, svcVillage2, eventsv1.NoticeDrafted{ID: "n-2", Kind: "warning", Village: svcVillage2,
		Period: "2026", Grade: "C", Points: 70})
	overdue := stepEvent(t, eventsv1.TypeStepEscalated, svcVillage, "cashier", due)
	escalated := anEvent(t, eventsv1.TypeComplaintEscalated, svcVillage, eventsv1.ComplaintEscalated{
		ComplaintRef: eventsv1.ComplaintRef{ComplaintID: "c-1", Category: "funds"}, Stage: "received", DueAt: due, At: due})
	for _, ev := range []eventsv1.Event{issued, drafted, overdue, escalated} {
		notifyOf(t, s, ev)
	}
	auth := identity.New(testinfra.Require(t, testinfra.EnvKratosPublicURL), identity.WithCacheTTL(0),
		identity.WithErrorWriter(httpapi.WriteStatusProblem))
	srv := httpapi.New(config.Base{Town: svcTown, MaxBodyBytes: 64 << 10}, slog.New(slog.DiscardHandler), nil).WithAuthenticator(auth.Require)
	s.Routes(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	api := httpapitest.Client{URL: ts.URL}

	secA, _ := testinfra.KratosUser(t, "secretary", svcTown, svcVillage)
	secA2, _ := testinfra.KratosUser(t, "secretary", svcTown, svcVillage) // the same office, another person
	chairA, _ := testinfra.KratosUser(t, "supervision-chair", svcTown, svcVillage)
	cashierA, _ := testinfra.KratosUser(t, "cashier", svcTown, svcVillage)
	secB, _ := testinfra.KratosUser(t, "secretary", svcTown, svcVillage2)
	cashierB, _ := testinfra.KratosUser(t, "cashier", svcTown, svcVillage2)
	disc, _ := testinfra.KratosUser(t, "town-discipline", svcTown, "")
	official, _ := testinfra.KratosUser(t, "town-official", svcTown, "")
	district, _ := testinfra.KratosUser(t, "district-discipline", "", "")
	otherDisc, _ := testinfra.KratosUser(t, "town-discipline", "jinping", "")
	otherSec, _ := testinfra.KratosUser(t, "secretary", "jinping", "330283200101")
	villager, _ := testinfra.KratosUser(t, "villager", svcTown, svcVillage)

	const (
		tIssued    = "收到预警通知书 奉纪预〔2026〕1号"
		tOverdue   = "已超期：村党组织提议"
		tEscalated = "举报超期未处理"
	)
	// svcVillage2 has no name: the message names it by its code.
	tDraftedNamed := "待签发：" + svcVillage2 + "预警通知书"
	for _, tc := range []struct {
		name, token string
		want        []string // newest first
	}{
		{"secretary of the village", secA, []string{tIssued}},
		{"supervision chair of the village", chairA, []string{tIssued}},
		{"cashier holding the overdue step", cashierA, []string{tOverdue}},
		{"secretary of another village", secB, nil},
		{"cashier of another village", cashierB, nil},
		{"town discipline", disc, []string{tEscalated, tDraftedNamed}},
		{"town official", official, []string{tOverdue}},
		{"district discipline: escalations", district, []string{tEscalated}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			titles, _, unread := inboxTitles(t, ts, "", tc.token)
			if fmt.Sprint(titles) != fmt.Sprint(tc.want) || unread != len(tc.want) {
				t.Fatalf("inbox %q (unread %d), want %q", titles, unread, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"no session", "", 401}, {"villager", villager, 403}, {"another town's discipline", otherDisc, 403},
		{"another town's secretary", otherSec, 403},
	} {
		t.Run("refused "+tc.name, func(t *testing.T) {
			for _, r := range []httpapitest.Response{api.Get(t, "/v1/inbox", tc.token),
				api.JSON(t, "POST", "/v1/inbox/read-all", tc.token, nil)} {
				if r.Status != tc.status || (r.Status >= 400 && r.ContentType() != "application/problem+json") {
					t.Fatalf("%d %s %.200s, want %d problem details", r.Status, r.ContentType(), r.Raw, tc.status)
				}
			}
		})
	}

	// Reads are per identity.
	_, ids, _ := inboxTitles(t, ts, "", secA)
	if r := api.JSON(t, "POST", "/v1/inbox/"+ids[0]+"/read", secA, nil); r.Status != 204 {
		t.Fatalf("read: %d %s", r.Status, r.Raw)
	}
	if r := api.JSON(t, "POST", "/v1/inbox/"+ids[0]+"/read", secA, nil); r.Status != 204 {
		t.Fatalf("read again: %d %s", r.Status, r.Raw)
	}
	if titles, _, unread := inboxTitles(t, ts, "?state=unread", secA); len(titles) != 0 || unread != 0 {
		t.Fatalf("after reading: unread %q (%d)", titles, unread)
	}
	if titles, _, unread := inboxTitles(t, ts, "?state=all", secA); len(titles) != 1 || unread != 0 {
		t.Fatalf("after reading, all: %q (%d)", titles, unread)
	}
	if titles, _, unread := inboxTitles(t, ts, "?state=unread", secA2); len(titles) != 1 || unread != 1 {
		t.Fatalf("the other secretary: unread %q (%d)", titles, unread)
	}
	// A message the caller cannot see is a 404, as is one that does not exist.
	_, discIDs, _ := inboxTitles(t, ts, "", disc)
	for _, tc := range []struct{ token, id string }{{secA, discIDs[0]}, {secB, ids[0]}, {district, discIDs[1]}, {disc, "999999999"}, {disc, "x"}} {
		if r := api.JSON(t, "POST", "/v1/inbox/"+tc.id+"/read", tc.token, nil); r.Status != 404 || r.ContentType() != "application/problem+json" {
			t.Fatalf("reading %s: %d %s", tc.id, r.Status, r.Raw)
		}
	}
	if _, _, unread := inboxTitles(t, ts, "", disc); unread != 2 {
		t.Fatalf("refused reads changed discipline's unread count: %d", unread)
	}
	// read-all, and paging.
	if r := api.JSON(t, "POST", "/v1/inbox/read-all", disc, nil); r.Status != 204 {
		t.Fatalf("read-all: %d %s", r.Status, r.Raw)
	}
	if _, _, unread := inboxTitles(t, ts, "", disc); unread != 0 {
		t.Fatalf("after read-all: %d unread", unread)
	}
	if _, _, unread := inboxTitles(t, ts, "", district); unread != 1 {
		t.Fatalf("district's read state moved with discipline's: %d unread", unread)
	}
	if titles, _, _ := inboxTitles(t, ts, "?limit=1", disc); fmt.Sprint(titles) != fmt.Sprint([]string{tEscalated}) {
		t.Fatalf("first page %q", titles)
	}
	if titles, _, _ := inboxTitles(t, ts, "?limit=1&before="+discIDs[0], disc); fmt.Sprint(titles) != fmt.Sprint([]string{tDraftedNamed}) {
		t.Fatalf("second page %q", titles)
	}
	for _, q := range []string{"?state=new", "?before=abc", "?before=-1"} {
		if r := api.Get(t, "/v1/inbox"+q, disc); r.Status != 422 {
			t.Fatalf("%s: %d %s", q, r.Status, r.Raw)
		}
	}
}
