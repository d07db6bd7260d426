package inspection

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// publish writes events to a topic of the real Kafka, as the operator (or
// a replaying relay) would.
func publishEvents(t testing.TB, brokers []string, topic string, evs ...eventsv1.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msgs := make([]kafka.Message, len(evs))
	for i, ev := range evs {
		m, err := events.Encode(ctx, topic, ev)
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = m
	}
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Transport: tr, Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("writing to %s: %v", topic, err)
	}
}

// eventually polls cond (every 100 ms, for up to two minutes: the consumer
// joins its group and the relay publishes in the background).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A district of two towns on the real Kafka and PostgreSQL. Town B's
// instance (its own database) records visits, orders, interviews and a
// change of grade; its outbox relay publishes them on B's real inspection
// topic, and the operator announces B's villages on B's tenant topic. Town
// A's instance discovers B's topics from the Kafka metadata after it
// started, projects them under its own group, and shows district staff
// both towns (A from its own tables), town A's discipline office only A,
// and B's office nothing. Redelivered and republished events count once.
func TestDistrictOverviewAcrossTowns(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	brokers := testinfra.KafkaBrokers(t)
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	townA, townB := testinfra.UniqueName("dta"), testinfra.UniqueName("dtb")
	const (
		a1, a2     = "330283100101", "330283100102"
		b1, b2, b3 = "330283200101", "330283200102", "330283200103"
	)
	// One partition per topic: a sentinel event written last is projected
	// last, which tells when the events before it were.
	topic := func(town, stream string) string { return eventsv1.Topic(town, stream) }
	testinfra.CreateTopics(t, brokers, 1, topic(townA, eventsv1.StreamInspection), topic(townA, eventsv1.StreamTenant),
		topic(townA, eventsv1.StreamTenantAcks)) // where the town acknowledges registrations

	// Town A: two announced villages, one visited, run with the projection.
	sA := newService(t, testinfra.Postgres(t), townA, clk)
	sA.VillageNames, sA.TownName, sA.DistrictWide = nil, "甲镇", true
	for _, ev := range []eventsv1.Event{tenantEvent(t, townA, a1, "甲一村", 1), tenantEvent(t, townA, a2, "甲二村", 1)} {
		if err := apply(sA, sA.HandleTenantEvent, ev); err != nil {
			t.Fatal(err)
		}
	}
	discA, _ := testinfra.KratosUser(t, "town-discipline", townA, "")
	tourA, err := sA.PlanTour(ctx, identity.Principal{IdentityID: "a"}, TourInput{Name: "甲镇巡察", Period: "2026",
		Team: []TeamMember{{Name: "李"}}, Villages: []string{a1, a2}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sA.RecordVisit(ctx, identity.Principal{IdentityID: "a"}, tourA.ID, a1, clk.Now().AddDate(0, 0, -1)); err != nil {
		t.Fatal(err)
	}
	feed := &DistrictFeed{Service: sA, Brokers: brokers, Group: DistrictGroup(townA), Refresh: 300 * time.Millisecond,
		Match:   func(town string) bool { return town == townA || town == townB },
		Options: events.ConsumerOptions{MaxWait: time.Second, SessionTimeout: 6 * time.Second}}
	feedDone := make(chan error, 1)
	go func() { feedDone <- feed.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-feedDone; err != nil {
			t.Errorf("feed: %v", err)
		}
	})

	// Town B appears later: its topics, villages, and its instance's
	// records published by its relay.
	testinfra.CreateTopics(t, brokers, 1, topic(townB, eventsv1.StreamInspection), topic(townB, eventsv1.StreamTenant),
		topic(townB, eventsv1.StreamTenantAcks))
	sB := newService(t, testinfra.Postgres(t), townB, clk)
	sB.VillageNames = nil
	tenantB := []eventsv1.Event{tenantEvent(t, townB, b1, "乙一村", 1), tenantEvent(t, townB, b2, "乙二村", 1), tenantEvent(t, townB, b3, "乙三村", 1)}
	for _, ev := range tenantB {
		if err := apply(sB, sB.HandleTenantEvent, ev); err != nil {
			t.Fatal(err)
		}
	}
	publishEvents(t, brokers, topic(townB, eventsv1.StreamTenant), tenantB...)
	office := identity.Principal{IdentityID: "b", Role: identity.RoleTownDiscipline, Town: townB}
	tourB, err := sB.PlanTour(ctx, office, TourInput{Name: "乙镇巡察", Period: "2026", Team: []TeamMember{{Name: "赵"}}, Villages: []string{b1, b2, b3}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{b1, b2} {
		if err := sB.RecordVisit(ctx, office, tourB.ID, v, clk.Now().AddDate(0, 0, -2)); err != nil {
			t.Fatal(err)
		}
	}
	order, err := sB.IssueOrder(ctx, office, OrderRequest{Village: b3, Situation: "duty-02"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sB.RecordInterview(ctx, office, Interview{Village: b3, CadreName: "钱某", HeldAt: clk.Now().Add(-time.Hour),
		Interviewers: []string{"镇纪委书记"}, Reason: "督查令逾期", Outcome: "批评教育", OrderNumber: order.Number}); err != nil {
		t.Fatal(err)
	}
	// Two conflicts of interest take b1 from A to B to C (steep rules).
	for _, ago := range []time.Duration{2 * time.Hour, time.Hour} {
		if err := apply(sB, sB.HandleWorkflowEvent, warningEvent(t, townB, b1, "conflict-of-interest", clk.Now().Add(-ago))); err != nil {
			t.Fatal(err)
		}
	}
	rB, err := sB.RatingOf(ctx, b1, Period{Year: 2026})
	if err != nil || rB.Grade != GradeC {
		t.Fatalf("b1's rating %+v %v", rB, err)
	}
	types, _ := outbox(t, sB.Pool)
	for _, want := range []string{eventsv1.TypeVisitRecorded, eventsv1.TypeOrderIssued, eventsv1.TypeInterviewRecorded, eventsv1.TypeRatingChanged} {
		if !slices.Contains(types, want) {
			t.Fatalf("town B's outbox %v has no %s", types, want)
		}
	}
	relay := events.NewRelay(sB.Pool, brokers, events.RelayOptions{PollInterval: 100 * time.Millisecond})
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() { _ = relay.Run(relayCtx); close(relayDone) }()
	defer func() { stopRelay(); <-relayDone }()

	// Sentinels, last on each of B's topics.
	sentinel := func(code string) {
		publishEvents(t, brokers, topic(townB, eventsv1.StreamTenant), tenantEvent(t, townB, code, "哨兵村", 1))
	}
	projected := func(sql string, args ...any) int { return count(t, sA.Pool, sql, args...) }
	eventually(t, "town B's records in A's projection", func() bool {
		return projected(`SELECT count(*) FROM district_orders WHERE town = $1`, townB) == 1 &&
			projected(`SELECT count(*) FROM district_interviews WHERE town = $1`, townB) == 1 &&
			projected(`SELECT count(*) FROM district_visits WHERE town = $1`, townB) == 2 &&
			projected(`SELECT count(*) FROM district_grades WHERE town = $1 AND village = $2 AND grade = 'C'`, townB, b1) == 1 &&
			projected(`SELECT count(*) FROM district_villages WHERE town = $1`, townB) == 3
	})

	// Redelivery: every message of B's topics again (same event ids), the
	// order republished under a new event id, and an older name of b1; then
	// sentinels on both topics.
	for _, s := range []string{eventsv1.StreamInspection, eventsv1.StreamTenant} {
		msgs, err := testinfra.ReadTopic(ctx, brokers, topic(townB, s), 0)
		if err != nil {
			t.Fatal(err)
		}
		var again []eventsv1.Event
		for _, m := range msgs {
			ev, err := events.Decode(m)
			if err != nil {
				t.Fatal(err)
			}
			again = append(again, ev)
			if ev.Type == eventsv1.TypeOrderIssued {
				re := ev
				re.ID = uuid.NewString()
				again = append(again, re)
			}
		}
		publishEvents(t, brokers, topic(townB, s), again...)
	}
	publishEvents(t, brokers, topic(townB, eventsv1.StreamTenant), tenantEvent(t, townB, b1, "乙一旧名", 1))
	sentinel("330283200199")
	data, _ := json.Marshal(eventsv1.InterviewRecorded{InterviewID: uuid.NewString(), Village: b2, HeldAt: clk.Now().Add(-time.Minute)})
	publishEvents(t, brokers, topic(townB, eventsv1.StreamInspection), eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + townB + "/inspection",
		Type: eventsv1.TypeInterviewRecorded, Time: clk.Now().UTC(), Town: townB, Village: b2, Data: data})
	eventually(t, "the sentinels", func() bool {
		return projected(`SELECT count(*) FROM district_villages WHERE town = $1`, townB) == 4 &&
			projected(`SELECT count(*) FROM district_interviews WHERE town = $1`, townB) == 2
	})
	for _, c := range []struct {
		what string
		sql  string
		want int
	}{
		{"orders", `SELECT count(*) FROM district_orders WHERE town = $1`, 1},
		{"visits", `SELECT count(*) FROM district_visits WHERE town = $1`, 2},
		{"grades", `SELECT count(*) FROM district_grades WHERE town = $1`, 1},
		{"b1 keeps its name", `SELECT count(*) FROM district_villages WHERE town = $1 AND name = '乙一村'`, 1},
	} {
		if got := projected(c.sql, townB); got != c.want {
			t.Errorf("after redelivery, %s: %d, want %d", c.what, got, c.want)
		}
	}

	// Over HTTP, with real Kratos users.
	ts := apiServer(t, sA)
	districtDisc, _ := testinfra.KratosUser(t, "district-discipline", "", "")
	districtAdmin, _ := testinfra.KratosUser(t, "district-admin", "", "")
	groupedDisc, _ := testinfra.KratosUserWithMetadata(t, map[string]any{"role": "district-discipline", "group": "pian-1"})
	discB, _ := testinfra.KratosUser(t, "town-discipline", townB, "")
	secA, _ := testinfra.KratosUser(t, "secretary", townA, a1)
	for _, tc := range []struct {
		name   string
		token  string
		status int
		towns  []string
		// covered/total/percent of the view's coverage
		covered, total int
		percent        float64
	}{
		{"district discipline", districtDisc, 200, []string{townA, townB}, 1 + 2, 2 + 4, 50},
		{"district admin", districtAdmin, 200, []string{townA, townB}, 3, 6, 50},
		{"town A's discipline office", discA, 200, []string{townA}, 1, 2, 50},
		// a 片组's official: this service knows no other town's group
		{"district discipline of a 片组", groupedDisc, 200, []string{townA}, 1, 2, 50},
		{"town B's discipline office on A's instance", discB, 403, nil, 0, 0, 0},
		{"a village secretary", secA, 403, nil, 0, 0, 0},
		{"no session", "", 401, nil, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, ts, "GET", "/v1/district/overview", tc.token, nil)
			if r.status != tc.status {
				t.Fatalf("got %d %.400s, want %d", r.status, r.raw, tc.status)
			}
			if tc.status != 200 {
				return
			}
			var v DistrictView
			if err := json.Unmarshal([]byte(r.raw), &v); err != nil {
				t.Fatal(err)
			}
			var towns []string
			for _, tw := range v.Towns {
				towns = append(towns, tw.Town)
			}
			if !slices.Equal(towns, tc.towns) || v.Coverage.Covered != tc.covered || v.Coverage.Total != tc.total ||
				v.Coverage.Percent != tc.percent || v.DistrictWide != (len(tc.towns) > 1) {
				t.Fatalf("towns %v coverage %+v wide %v, want %v %d/%d %.1f%%", towns, v.Coverage, v.DistrictWide, tc.towns, tc.covered, tc.total, tc.percent)
			}
			if len(tc.towns) == 1 && strings.Contains(r.raw, townB) {
				t.Fatalf("town A's office sees town B: %.600s", r.raw)
			}
			if len(tc.towns) < 2 {
				return
			}
			b := v.Towns[1]
			byCode := map[string]DistrictVillage{}
			for _, dv := range b.Villages {
				byCode[dv.Village] = dv
			}
			// The sentinel village is announced, so B has 4 villages.
			if b.Coverage.Total != 4 || b.Coverage.Covered != 2 || byCode[b1].Grade != GradeC || byCode[b1].Name != "乙一村" ||
				!byCode[b2].Covered || byCode[b3].Covered || byCode[b3].Grade != GradeA ||
				len(b.Orders) != 1 || b.Orders[0].Blue+b.Orders[0].Yellow+b.Orders[0].Red != 1 || b.Orders[0].Year != 2026 ||
				len(b.Interviews) != 1 || b.Interviews[0].Total != 2 || v.Grades["C"] != 1 {
				t.Fatalf("town B: %+v; grades %v", b, v.Grades)
			}
		})
	}
	// The heat map groups by town, in Chinese.
	r := send(t, ts, "GET", "/v1/district/overview/html", districtDisc, nil)
	if r.status != 200 || !strings.Contains(r.raw, "甲镇") || !strings.Contains(r.raw, `data-town="`+townB+`"`) || !strings.Contains(r.raw, "乙一村") ||
		!strings.Contains(r.raw, "全区巡察覆盖：3 / 6 个村（社区），覆盖率 50.0%") || !strings.Contains(r.raw, `<tr class="C"><td>乙一村`) {
		t.Fatalf("district page: %d %.3000s", r.status, r.raw)
	}
	r = send(t, ts, "GET", "/v1/district/overview/html", discA, nil)
	if r.status != 200 || strings.Contains(r.raw, townB) || strings.Contains(r.raw, "乙一村") || !strings.Contains(r.raw, "甲一村") {
		t.Fatalf("town A's page shows another town: %.3000s", r.raw)
	}
	// Visits counted per year: none in 2025.
	r = send(t, ts, "GET", "/v1/district/overview?year=2025", districtDisc, nil)
	if r.status != 200 || r.body["coverage"].(map[string]any)["covered"].(float64) != 0 {
		t.Fatalf("2025 coverage: %.600s", r.raw)
	}
}

// The district's towns are discovered from the topics: every town with an
// inspection topic, with its tenant topic when there is one; dead-letter
// and other streams' topics are not towns.
func TestDistrictTopicsDiscovery(t *testing.T) {
	brokers := testinfra.KafkaBrokers(t)
	x, y := testinfra.UniqueName("dtx"), testinfra.UniqueName("dty")
	testinfra.CreateTopics(t, brokers, 1, eventsv1.Topic(x, eventsv1.StreamInspection), eventsv1.Topic(x, eventsv1.StreamTenant),
		eventsv1.DeadLetterTopic(eventsv1.Topic(x, eventsv1.StreamInspection)), eventsv1.Topic(y, eventsv1.StreamTenant),
		eventsv1.Topic(y, eventsv1.StreamWorkflow))
	got, err := DistrictTopics(context.Background(), brokers, func(town string) bool { return town == x || town == y })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{eventsv1.Topic(x, eventsv1.StreamInspection), eventsv1.Topic(x, eventsv1.StreamTenant)}
	if !slices.Equal(got, want) {
		t.Fatalf("topics %v, want %v", got, want)
	}
}

// Only one instance of a district runs the projection (the operator names
// its town in WUXIAO_DISTRICT_VIEW_TOWN). The others answer district staff
// with a 409 problem naming that town, and a Chinese page on the HTML
// route, never this town passed off as the district; the town's discipline
// office still sees its own town everywhere, and other towns' staff get 403
// as before. With NoDistrictView the 409 says that no town builds it and
// to ask the platform team. A standalone instance (nothing named) shows its
// town only.
func TestDistrictOverviewWithoutTheProjection(t *testing.T) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	townA, townB := testinfra.UniqueName("dva"), testinfra.UniqueName("dvb")
	const a1, b1 = "330283100101", "330283200101"
	s := newService(t, testinfra.Postgres(t), townA, clk)
	s.VillageNames = nil
	if err := apply(s, s.HandleTenantEvent, tenantEvent(t, townA, a1, "甲一村", 1)); err != nil {
		t.Fatal(err)
	}
	// A row of town B as the projection would hold it.
	if _, err := s.Pool.Exec(context.Background(), `INSERT INTO district_villages (town, code, name, kind, generation) VALUES ($1, $2, '乙一村', 'village', 1)`,
		townB, b1); err != nil {
		t.Fatal(err)
	}
	ts := apiServer(t, s)
	districtDisc, _ := testinfra.KratosUser(t, "district-discipline", "", "")
	districtAdmin, _ := testinfra.KratosUser(t, "district-admin", "", "")
	discA, _ := testinfra.KratosUser(t, "town-discipline", townA, "")
	discB, _ := testinfra.KratosUser(t, "town-discipline", townB, "")

	type want struct {
		status int
		towns  []string
		scope  string
	}
	elsewhere := want{status: 409}
	for _, cfg := range []struct {
		name     string
		wide     bool
		viewTown string
		byToken  map[string]want
	}{
		{"the view runs in town B", false, townB, map[string]want{
			districtDisc: elsewhere, districtAdmin: elsewhere,
			discA: {200, []string{townA}, districtTownScope}, discB: {status: 403}}},
		{"this instance runs the view", true, townA, map[string]want{
			districtDisc: {200, []string{townA, townB}, districtWideScope}, districtAdmin: {200, []string{townA, townB}, districtWideScope},
			discA: {200, []string{townA}, districtTownScope}, discB: {status: 403}}},
		{"no town builds the view", false, NoDistrictView, map[string]want{
			districtDisc: elsewhere, districtAdmin: elsewhere,
			discA: {200, []string{townA}, districtTownScope}, discB: {status: 403}}},
		{"standalone, nothing named", false, "", map[string]want{
			districtDisc: {200, []string{townA}, districtScope}, discA: {200, []string{townA}, districtScope}, discB: {status: 403}}},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			s.DistrictWide, s.DistrictViewTown = cfg.wide, cfg.viewTown
			for token, w := range cfg.byToken {
				r := send(t, ts, "GET", "/v1/district/overview", token, nil)
				if r.status != w.status {
					t.Fatalf("got %d %.400s, want %d", r.status, r.raw, w.status)
				}
				switch {
				case w.status == 409 && cfg.viewTown == NoDistrictView:
					// No town to send staff to: say so, and whom to ask.
					if _, named := r.body["districtViewTown"]; r.body["type"] != TypeDistrictViewElsewhere || named ||
						!strings.Contains(r.body["detail"].(string), "no town's inspection service builds the district overview") ||
						!strings.Contains(r.body["detail"].(string), "platform team") || strings.Contains(r.raw, "乙一村") {
						t.Fatalf("problem %s %.600s", r.contentType, r.raw)
					}
					page := send(t, ts, "GET", "/v1/district/overview/html", token, nil)
					if page.status != 409 || !strings.Contains(page.raw, "目前没有任何镇（街道）的监督评级服务生成全区概览") ||
						!strings.Contains(page.raw, "请联系平台运维团队") || strings.Contains(page.raw, "“-”") || strings.Contains(page.raw, "甲一村") {
						t.Fatalf("page %d %s %.600s", page.status, page.contentType, page.raw)
					}
				case w.status == 409:
					if r.contentType != "application/problem+json" || r.body["type"] != TypeDistrictViewElsewhere ||
						r.body["districtViewTown"] != townB || !strings.Contains(r.body["detail"].(string), "town "+townB) ||
						strings.Contains(r.raw, "乙一村") {
						t.Fatalf("problem %s %.600s", r.contentType, r.raw)
					}
					page := send(t, ts, "GET", "/v1/district/overview/html", token, nil)
					if page.status != 409 || !strings.HasPrefix(page.contentType, "text/html") ||
						!strings.Contains(page.raw, "全区概览由镇（街道）“"+townB+"”的监督评级服务统一生成") || strings.Contains(page.raw, "甲一村") {
						t.Fatalf("page %d %s %.600s", page.status, page.contentType, page.raw)
					}
				case w.status == 200:
					var v DistrictView
					if err := json.Unmarshal([]byte(r.raw), &v); err != nil {
						t.Fatal(err)
					}
					var towns []string
					for _, tw := range v.Towns {
						towns = append(towns, tw.Town)
					}
					if !slices.Equal(towns, w.towns) || v.Scope != w.scope || v.DistrictWide != (len(w.towns) > 1) {
						t.Fatalf("towns %v scope %q wide %v, want %v %q", towns, v.Scope, v.DistrictWide, w.towns, w.scope)
					}
					page := send(t, ts, "GET", "/v1/district/overview/html", token, nil)
					if page.status != 200 || !strings.Contains(page.raw, "甲一村") || strings.Contains(page.raw, "全区概览由镇") {
						t.Fatalf("page %d %.600s", page.status, page.raw)
					}
				}
			}
		})
	}
}

func TestRunsDistrictView(t *testing.T) {
	for _, tc := range []struct {
		viewTown, town string
		want           bool
	}{
		{"jinping", "jinping", true},
		{"jinping", "xikou", false},
		{"", "xikou", true},
		{"xikou-2", "xikou", false},
		// The operator's "nobody": never every instance, unlike unset.
		{NoDistrictView, "xikou", false},
		{NoDistrictView, NoDistrictView, false},
	} {
		if got := RunsDistrictView(tc.viewTown, tc.town); got != tc.want {
			t.Errorf("RunsDistrictView(%q, %q) = %v, want %v", tc.viewTown, tc.town, got, tc.want)
		}
	}
}
