package inspection

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/notifications"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// anEvent is an event of this town carrying data.
func anEvent(t testing.TB, typ, village string, data any) eventsv1.Event {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + svcTown + "/test", Type: typ, Time: time.Now().UTC(),
		Town: svcTown, Village: village, Data: raw}
}

// TestNotificationMessages: each event that concerns people becomes one
// message of the right kind, for the right roles, with a console link and
// Chinese text; events that concern nobody make none.
func TestNotificationMessages(t *testing.T) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	due := time.Date(2026, 4, 12, 0, 0, 0, 0, Shanghai)
	ref := eventsv1.InstanceRef{InstanceID: "11111111-2222-3333-4444-555555555555", TrackingNumber: svcVillage + "-20260402-ABCDE", ItemName: "重大事项决策"}
	leaders := []identity.Role{identity.RoleSecretary, identity.RoleDirector, identity.RoleSupervisionChair}
	disc := []identity.Role{identity.RoleTownDiscipline}
	for _, tc := range []struct {
		name    string
		ev      eventsv1.Event
		kind    notifications.Kind // "": no message
		roles   []identity.Role
		link    string
		village string
		says    []string
	}{
		{"task", anEvent(t, eventsv1.TypeStepCompleted, svcVillage, eventsv1.StepCompleted{InstanceRef: ref, StepID: "propose",
			NextStep: "joint-meeting", NextStepName: "两委联席会议商议", NextRole: "director"}),
			notifications.KindTask, []identity.Role{identity.RoleDirector}, "/console/processes/" + ref.InstanceID, svcVillage, []string{"待办", "两委联席会议商议", "岩头村"}},
		{"last step: no task", anEvent(t, eventsv1.TypeStepCompleted, svcVillage, eventsv1.StepCompleted{InstanceRef: ref, StepID: "publish"}),
			"", nil, "", "", nil},
		{"reminder", stepEvent(t, eventsv1.TypeStepReminder, svcVillage, "cashier", due),
			notifications.KindReminder, []identity.Role{identity.RoleCashier}, "/console/processes/", svcVillage, []string{"即将到期", "2026年4月12日"}},
		{"overdue", stepEvent(t, eventsv1.TypeStepEscalated, svcVillage, "cashier", due),
			notifications.KindOverdue, []identity.Role{identity.RoleCashier, identity.RoleTownOfficial}, "/console/processes/", svcVillage, []string{"已超期", "村党组织提议"}},
		{"overdue of an old event without the role", stepEvent(t, eventsv1.TypeStepEscalated, svcVillage, "", due),
			notifications.KindOverdue, []identity.Role{identity.RoleSecretary, identity.RoleTownOfficial}, "/console/processes/", svcVillage, []string{"已超期"}},
		{"complaint escalated", anEvent(t, eventsv1.TypeComplaintEscalated, svcVillage, eventsv1.ComplaintEscalated{
			ComplaintRef: eventsv1.ComplaintRef{ComplaintID: "c-1", Category: "funds"}, Stage: "received", DueAt: due, At: due}),
			notifications.KindEscalation, []identity.Role{identity.RoleTownDiscipline, identity.RoleDistrictDiscipline}, "/console/complaints/c-1", svcVillage,
			[]string{"举报超期", "村级资金"}},
		{"notice drafted", anEvent(t, eventsv1.TypeNoticeDrafted, svcVillage, eventsv1.NoticeDrafted{ID: "n-1", Kind: "warning", Village: svcVillage,
			Period: "2026", Grade: "C", Points: 70}), notifications.KindNotice, disc, "/console/notices", svcVillage, []string{"待签发", "预警通知书", "70分"}},
		{"notice issued", anEvent(t, eventsv1.TypeNoticeIssued, svcVillage, eventsv1.NoticeIssued{ID: "n-1", Number: "奉纪预〔2026〕1号", Kind: "warning",
			Village: svcVillage, Deadline: due}), notifications.KindNotice, leaders, "/console/notices/%E5%A5%89%E7%BA%AA%E9%A2%84%E3%80%942026%E3%80%951%E5%8F%B7",
			svcVillage, []string{"奉纪预〔2026〕1号", "2026年4月11日前"}},
		{"notice answered", anEvent(t, eventsv1.TypeNoticeAnswered, svcVillage, eventsv1.NoticeAnswered{ID: "n-1", Number: "奉纪预〔2026〕1号",
			Village: svcVillage, Evidence: 2, Late: true}), notifications.KindNotice, disc, "/console/notices/", svcVillage, []string{"逾期", "2份"}},
		{"notice returned", anEvent(t, eventsv1.TypeNoticeReturned, svcVillage, eventsv1.NoticeReviewed{Number: "奉纪预〔2026〕1号",
			Village: svcVillage, Reason: "材料不全"}), notifications.KindNotice, leaders, "/console/notices/", svcVillage, []string{"退回", "材料不全"}},
		{"notice escalated", anEvent(t, eventsv1.TypeNoticeEscalated, svcVillage, eventsv1.NoticeEscalated{ID: "n-1", Number: "奉纪整〔2026〕1号",
			Kind: "rectification", Village: svcVillage, Deadline: due}), notifications.KindEscalation,
			[]identity.Role{identity.RoleTownDiscipline, identity.RoleDistrictDiscipline, identity.RoleSecretary, identity.RoleDirector},
			"/console/notices/", svcVillage, []string{"逾期未答复", "整改通知书"}},
		{"order issued", anEvent(t, eventsv1.TypeOrderIssued, svcVillage, eventsv1.OrderIssued{Number: "奉纪督〔2026〕1号", Colour: "yellow",
			Village: svcVillage, Deadline: due}), notifications.KindOrder, leaders, "/console/inspection/orders/", svcVillage, []string{"黄色督查令"}},
		{"order answered", anEvent(t, eventsv1.TypeOrderAnswered, svcVillage, eventsv1.NoticeAnswered{Number: "奉纪督〔2026〕1号", Village: svcVillage}),
			notifications.KindOrder, disc, "/console/inspection/orders/", svcVillage, []string{"督查令"}},
		{"order escalated", anEvent(t, eventsv1.TypeOrderEscalated, svcVillage, eventsv1.OrderEscalated{Number: "奉纪督〔2026〕1号", Colour: "red",
			Village: svcVillage, Deadline: due, Referred: true}), notifications.KindEscalation,
			[]identity.Role{identity.RoleTownDiscipline, identity.RoleDistrictDiscipline, identity.RoleSecretary, identity.RoleDirector},
			"/console/inspection/orders/", svcVillage, []string{"移送纪律审查"}},
		{"warning: nobody", warningEvent(t, svcTown, svcVillage, "conflict-of-interest", due), "", nil, "", "", nil},
		{"complaint filed: nobody", anEvent(t, eventsv1.TypeComplaintFiled, svcVillage, eventsv1.ComplaintFiled{}), "", nil, "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			notifyOf(t, s, tc.ev)
			notifyOf(t, s, tc.ev) // a redelivery adds nothing
			m, ok := messageOf(t, s, tc.ev.ID)
			if tc.kind == "" {
				if ok {
					t.Fatalf("a message for %s: %+v", tc.ev.Type, m)
				}
				return
			}
			if !ok {
				t.Fatalf("no message for %s", tc.ev.Type)
			}
			if m.Kind != tc.kind || !slices.Equal(m.Roles, tc.roles) || !strings.HasPrefix(m.Link, tc.link) || m.Village != tc.village || m.Town != svcTown {
				t.Fatalf("message %+v, want kind %s roles %v link %s… village %s", m, tc.kind, tc.roles, tc.link, tc.village)
			}
			for _, w := range tc.says {
				if !strings.Contains(m.Title+m.Body, w) {
					t.Errorf("message %q / %q does not say %q", m.Title, m.Body, w)
				}
			}
		})
	}
	if n := count(t, s.Pool, `SELECT count(*) - count(DISTINCT event_id) FROM notify_messages`); n != 0 {
		t.Fatalf("%d duplicate messages", n)
	}
}

// TestNotificationsCarryNoReporterData: whatever a complaint event
// carried about its reporter (a producer that leaked it), no message says
// it; and no message anywhere holds a phone or ID number.
func TestNotificationsCarryNoReporterData(t *testing.T) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	due := time.Date(2026, 4, 12, 0, 0, 0, 0, Shanghai)
	personal := []string{"张小红", "13912345678", "330283199001011234", "TRK-7Q2M", "reporter@example.cn"}
	leaky := map[string]any{"complaintId": "c-9", "category": "cadre-conduct", "stage": "accepted", "dueAt": due, "at": due,
		"reporterName": personal[0], "reporterPhone": personal[1], "reporterIdNumber": personal[2], "trackingCode": personal[3],
		"reporterEmail": personal[4], "description": "举报人" + personal[0] + "反映，电话" + personal[1]}
	for _, typ := range []string{eventsv1.TypeComplaintEscalated, eventsv1.TypeComplaintFiled, eventsv1.TypeComplaintAccepted,
		eventsv1.TypeComplaintResolved, eventsv1.TypeComplaintReopened} {
		notifyOf(t, s, anEvent(t, typ, svcVillage, leaky))
	}
	// The notices' own lifecycle too: a grade change drafts, signing issues.
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	handle(t, s, warningEvent(t, svcTown, svcVillage, "conflict-of-interest", day))
	handle(t, s, warningEvent(t, svcTown, svcVillage, "conflict-of-interest", day.AddDate(0, 0, 1)))
	signDrafts(t, s)

	rows, err := s.Pool.Query(t.Context(), `SELECT event_type, title || ' ' || body || ' ' || link FROM notify_messages`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	numbers := regexp.MustCompile(`1[3-9][0-9]{9}|[0-9]{17}[0-9Xx]`)
	types := map[string]int{}
	for rows.Next() {
		var typ, text string
		if err := rows.Scan(&typ, &text); err != nil {
			t.Fatal(err)
		}
		types[typ]++
		for _, p := range personal {
			if strings.Contains(text, p) {
				t.Errorf("%s message holds the reporter's %q: %s", typ, p, text)
			}
		}
		if n := numbers.FindString(text); n != "" {
			t.Errorf("%s message holds the number %s: %s", typ, n, text)
		}
	}
	if types[eventsv1.TypeComplaintEscalated] != 1 || types[eventsv1.TypeNoticeDrafted] != 1 || types[eventsv1.TypeNoticeIssued] != 1 || len(types) != 3 {
		t.Fatalf("messages by event: %v, want one escalation, one draft and one issued notice", types)
	}
}

// TestUnansweredOrderEscalatesAndNotifies: the real order path — issued
// (the village's leaders told), unanswered past its deadline (escalated:
// discipline, the district and the village told, and the yellow order that
// replaces it told to the village) — one message per event, however often
// the escalation loop runs.
func TestUnansweredOrderEscalatesAndNotifies(t *testing.T) {
	ctx := t.Context()
	clk := &testClock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	blue, err := s.IssueOrder(ctx, testDisc, OrderRequest{Village: svcVillage, Situation: "duty-02", Detail: "2月财务公开未按时上墙"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(blue.Deadline.Add(time.Hour))
	for range 3 {
		if _, err := s.EscalateOrders(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := s.Pool.Query(ctx, `SELECT event_type, kind, title, roles FROM notify_messages WHERE village = $1 ORDER BY id`, svcVillage)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var typ, kind, title string
		var roles []string
		if err := rows.Scan(&typ, &kind, &title, &roles); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.TrimPrefix(typ, "cn.wuxiao.inspection.")+" "+kind+" "+title+" "+strings.Join(roles, ","))
	}
	want := []string{
		"order.issued.v1 order 收到蓝色督查令 奉纪督〔2026〕1号 secretary,director,supervision-chair",
		"order.issued.v1 order 收到黄色督查令 奉纪督〔2026〕2号 secretary,director,supervision-chair",
		"order.escalated.v1 escalation 督查令逾期未答复：奉纪督〔2026〕1号 town-discipline,district-discipline,secretary,director",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
