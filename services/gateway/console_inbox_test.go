package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// The inbox's tests run two towns' real inspection services (each on its
// own database, behind the shared test Kratos), whose messages are made by
// the service's own notification code from the events it consumes, and the
// gateway in front of them.

const (
	inboxTownB     = "jinping"
	inboxTownBCode = "330283001000"
	inboxVillageB  = "330283001001"
)

type inboxEnv struct {
	URL  string
	Insp map[string]*inspection.Service
}

func startInbox(t testing.TB) *inboxEnv {
	t.Helper()
	ctx := context.Background()
	kratosURL := testinfra.Require(t, testinfra.EnvKratosPublicURL)
	auth := identity.New(kratosURL, identity.WithErrorWriter(httpapi.WriteStatusProblem))
	env := &inboxEnv{Insp: map[string]*inspection.Service{}}
	backends := NewStaticBackends()
	for _, town := range []struct {
		name, code, display string
		villages            map[string]string
	}{
		{conTown, conTownCode, "溪口镇", map[string]string{conVillage: "岩头村", conVillageB: "畸山村"}},
		{inboxTownB, inboxTownBCode, "锦屏街道", map[string]string{inboxVillageB: "南山社区"}},
	} {
		pool := openPool(t, "inspection")
		if err := inspection.Migrate(ctx, pool); err != nil {
			t.Fatal(err)
		}
		svc := &inspection.Service{Rules: inspection.DefaultRules(), Notices: inspection.DefaultNoticeConfig(), Pool: pool,
			Town: town.name, TownName: town.display, VillageNames: town.villages, Log: slog.New(slog.DiscardHandler)}
		env.Insp[town.name] = svc
		u := serve(t, "inspection", auth.Require, 64<<10, svc.Routes)
		if err := backends.AddTown(Town{Name: town.name, Code: town.code, DisplayName: town.display},
			map[string]string{ServiceInspection: u}); err != nil {
			t.Fatal(err)
		}
	}
	g, err := New(Config{District: "fenghua", DistrictName: "奉化区", KratosPublicURL: kratosURL}, backends, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	env.URL = serve(t, "gateway", nil, 0, g.Register)
	return env
}

// notify feeds town's inspection service an event, as its consumer would:
// the service makes the event's message (if any) in the transaction.
func (e *inboxEnv) notify(t testing.TB, town, village, typ string, data any) {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	ev := eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + town + "/test", Type: typ, Time: time.Now().UTC(),
		Town: town, Village: village, Data: raw}
	svc := e.Insp[town]
	if err := store.InTx(context.Background(), svc.Pool, func(tx pgx.Tx) error {
		return svc.HandleNotifyEvent(context.Background(), tx, ev)
	}); err != nil {
		t.Fatal(err)
	}
}

// escalateComplaint: a complaint of village went unhandled past its
// deadline (town and district discipline are told).
func (e *inboxEnv) escalateComplaint(t testing.TB, town, village string) {
	t.Helper()
	e.notify(t, town, village, eventsv1.TypeComplaintEscalated, eventsv1.ComplaintEscalated{
		ComplaintRef: eventsv1.ComplaintRef{ComplaintID: uuid.NewString(), Category: "funds"}, Stage: "received",
		DueAt: time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC), At: time.Now()})
}

// draftNotice: a grade change drafted a notice (town discipline is told).
func (e *inboxEnv) draftNotice(t testing.TB, town, village string) {
	t.Helper()
	e.notify(t, town, village, eventsv1.TypeNoticeDrafted, eventsv1.NoticeDrafted{ID: uuid.NewString(),
		Kind: eventsv1.NoticeKindWarning, Village: village, Period: "2026Q1", Grade: "C", Points: 72, DraftedAt: time.Now()})
}

// task: a process step waits for role in village.
func (e *inboxEnv) task(t testing.TB, town, village, role, step string) {
	t.Helper()
	e.notify(t, town, village, eventsv1.TypeStepCompleted, eventsv1.StepCompleted{
		InstanceRef: eventsv1.InstanceRef{InstanceID: uuid.NewString(), TrackingNumber: village + "-20260402-ABCDE", ItemName: "重大事项决策"},
		StepID:      "propose", NextStep: "joint-meeting", NextStepName: step, NextRole: role})
}

var (
	inboxReadForm = regexp.MustCompile(`action="/console/inbox/([0-9]+)/read"`)
	headerUnread  = regexp.MustCompile(`<span class="unread-count">未读 ([0-9]+)</span>`)
)

// headerCount is the header's unread count (0 without one).
func headerCount(body string) int {
	m := headerUnread.FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	var n int
	_, _ = fmt.Sscan(m[1], &n)
	return n
}

// TestConsoleInbox: the inbox page lists a person's messages from their
// town's inspection service (the service decides whose they are), marks
// unread ones, opens a message by marking it read and going to its console
// page (never off the site), marks all read, pages back through older
// messages, shows the unread count in the header; a district account sees
// each of its towns' unread counts and one town's messages at a time.
func TestConsoleInbox(t *testing.T) {
	env := startInbox(t)
	disc := signIn(t, env.URL, "town-discipline", conTown, "")
	director := signIn(t, env.URL, "director", conTown, conVillage)
	directorB := signIn(t, env.URL, "director", conTown, conVillageB)
	district := signIn(t, env.URL, "district-discipline", "", "")

	env.escalateComplaint(t, conTown, conVillage)
	env.draftNotice(t, conTown, conVillage)
	env.escalateComplaint(t, inboxTownB, inboxVillageB)
	for i := range inboxPage + 2 {
		env.task(t, conTown, conVillage, "director", fmt.Sprintf("第%d步", i+1))
	}

	var csrf string
	var ids []string
	steps := []struct {
		name     string
		who      *staff
		do       func(s *staff) conPage
		status   int
		location string   // the redirect, for a 303
		says     []string // on the page
		not      []string
		header   int // the header's unread count afterwards (-1: not checked)
	}{
		{"discipline's unread messages", disc, func(s *staff) conPage { return s.get("/console/inbox") }, 200, "",
			[]string{"举报超期未处理", "待签发：岩头村预警通知书", `未读 <span class="count">2</span>`, "全部标为已读", "查看并标为已读", `class="card unread"`},
			[]string{"锦屏街道", "待办："}, 2},
		{"opening one marks it read and goes to its page", disc, func(s *staff) conPage {
			p := s.get("/console/inbox")
			csrf, ids = csrfOf(t, p.body), nil
			for _, m := range inboxReadForm.FindAllStringSubmatch(p.body, -1) {
				ids = append(ids, m[1])
			}
			// The newest first: the drafted notice.
			return s.post("/console/inbox/"+ids[0]+"/read", url.Values{"csrf": {csrf}, "next": {"/console/notices"}})
		}, 303, "/console/notices", nil, nil, -1},
		{"one unread left", disc, func(s *staff) conPage { return s.get("/console/inbox") }, 200, "",
			[]string{"举报超期未处理", `未读 <span class="count">1</span>`}, []string{"待签发："}, 1},
		{"the read one under 全部, linked", disc, func(s *staff) conPage { return s.get("/console/inbox?state=all") }, 200, "",
			[]string{`<a href="/console/notices">待签发：岩头村预警通知书</a>`, `class="card unread"`, `aria-current="true">全部`}, nil, 1},
		{"never off the site", disc, func(s *staff) conPage {
			return s.post("/console/inbox/"+ids[1]+"/read", url.Values{"csrf": {csrf}, "next": {"https://evil.example/console/"}, "state": {"all"}})
		}, 303, "/console/inbox?ok=read&state=all", nil, nil, -1},
		{"no form token", disc, func(s *staff) conPage {
			return s.post("/console/inbox/"+ids[1]+"/read", url.Values{"next": {"/console"}})
		}, 403, "", []string{"页面已过期"}, nil, -1},
		{"not a message id", disc, func(s *staff) conPage {
			return s.post("/console/inbox/x1/read", url.Values{"csrf": {csrf}})
		}, 404, "", []string{"没有找到这条消息"}, nil, -1},
		{"nothing unread", disc, func(s *staff) conPage { return s.get("/console/inbox?ok=read") }, 200, "",
			[]string{"已标为已读", "没有未读消息"}, []string{"全部标为已读", `class="card unread"`}, 0},

		{"a village's own messages, twenty a page", director, func(s *staff) conPage { return s.get("/console/inbox") }, 200, "",
			[]string{"待办：第22步", "待办：第3步", "更早的消息"}, []string{"待办：第2步<", "举报超期未处理", "待签发"}, inboxPage + 2},
		{"older ones", director, func(s *staff) conPage {
			p := s.get("/console/inbox")
			older := regexp.MustCompile(`href="(/console/inbox\?before=[0-9]+)"`).FindStringSubmatch(p.body)
			if older == nil {
				t.Fatalf("no link to older messages:\n%.3000s", p.body)
			}
			return s.get(older[1])
		}, 200, "", []string{"待办：第2步", "待办：第1步"}, []string{"待办：第3步", "更早的消息"}, inboxPage + 2},
		{"all read at once", director, func(s *staff) conPage {
			return s.post("/console/inbox/read-all", url.Values{"csrf": {csrfOf(t, s.get("/console/inbox").body)}})
		}, 303, "/console/inbox?ok=all", nil, nil, -1},
		{"after all read", director, func(s *staff) conPage { return s.get("/console/inbox?ok=all") }, 200, "",
			[]string{"已全部标为已读", "没有未读消息"}, nil, 0},
		{"another village sees none of them", directorB, func(s *staff) conPage { return s.get("/console/inbox?state=all") }, 200, "",
			[]string{"还没有消息"}, []string{"待办："}, 0},

		// The towns in order of their codes: 锦屏街道 first.
		{"district: each town's count, one town's messages", district, func(s *staff) conPage { return s.get("/console/inbox") }, 200, "",
			[]string{`溪口镇 <span class="count">未读 1</span>`, `锦屏街道 <span class="count">未读 1</span>`, "锦屏街道的消息", "南山社区", "举报超期未处理"},
			[]string{"待签发", "岩头村"}, 2},
		{"district: another town", district, func(s *staff) conPage { return s.get("/console/inbox?town=" + conTown) }, 200, "",
			[]string{"溪口镇的消息", "岩头村", `name="town" value="xikou"`}, []string{"待签发", "南山社区"}, 2},
		{"district: one town read", district, func(s *staff) conPage {
			return s.post("/console/inbox/read-all", url.Values{"csrf": {csrfOf(t, s.get("/console/inbox").body)}, "town": {inboxTownB}})
		}, 303, "/console/inbox?ok=all&town=jinping", nil, nil, -1},
		{"district: the other town's still unread", district, func(s *staff) conPage { return s.get("/console/inbox?town=" + inboxTownB) }, 200, "",
			[]string{`溪口镇 <span class="count">未读 1</span>`, "锦屏街道的消息", "没有未读消息"}, []string{`锦屏街道 <span class="count">`}, 1},
		{"district: a town it cannot see is ignored", district, func(s *staff) conPage { return s.get("/console/inbox?town=elsewhere") }, 200, "",
			[]string{"锦屏街道的消息"}, nil, 1},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.who.t = t
			p := st.do(st.who)
			if p.status != st.status {
				t.Fatalf("HTTP %d, want %d:\n%.3000s", p.status, st.status, p.body)
			}
			if st.location != "" && p.location != st.location {
				t.Errorf("redirected to %q, want %q", p.location, st.location)
			}
			for _, s := range st.says {
				if !strings.Contains(p.body, s) {
					t.Errorf("the page does not say %q:\n%.4000s", s, p.body)
				}
			}
			for _, s := range st.not {
				if strings.Contains(p.body, s) {
					t.Errorf("the page says %q", s)
				}
			}
			if st.header >= 0 {
				if n := headerCount(p.body); n != st.header {
					t.Errorf("the header counts %d unread, want %d", n, st.header)
				}
			}
		})
	}
}

// TestConsoleHeaderCountsUnread: every console page's header links to the
// inbox with the unread count, which follows a message marked read at once.
func TestConsoleHeaderCountsUnread(t *testing.T) {
	env := startInbox(t)
	disc := signIn(t, env.URL, "town-discipline", conTown, "")
	env.escalateComplaint(t, conTown, conVillage)
	env.draftNotice(t, conTown, conVillage)
	// Any console page: the count is there.
	p := disc.get("/console/notices")
	if n := headerCount(p.body); n != 2 || !strings.Contains(p.body, `href="/console/inbox"`) {
		t.Fatalf("the header counts %d unread, want 2 and a link to the inbox:\n%.2000s", n, p.body)
	}
	inbox := disc.get("/console/inbox")
	id := inboxReadForm.FindStringSubmatch(inbox.body)[1]
	if r := disc.post("/console/inbox/"+id+"/read", url.Values{"csrf": {csrfOf(t, inbox.body)}}); r.status != 303 {
		t.Fatalf("marking read: %d", r.status)
	}
	if n := headerCount(disc.get("/console/notices").body); n != 1 {
		t.Errorf("after one marked read the header counts %d, want 1", n)
	}
}

// Links a message may lead to: console paths of this site only.
func TestInboxConsolePath(t *testing.T) {
	for link, ok := range map[string]bool{
		"/console": true, "/console/notices/奉纪预〔2026〕3号": true, "/console/processes/1?x=y": true,
		"": false, "/auth/logout": false, "https://evil.example/console/": false, "//evil.example/console/": false,
		"/console//evil.example": false, `/console\evil`: false, "/consolex": false, "javascript:alert(1)": false,
	} {
		if consolePath(link) != ok {
			t.Errorf("consolePath(%q) = %v, want %v", link, !ok, ok)
		}
	}
}
