package disclosure

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// appDay is a time of March 2026 in the town's zone.
func appDay(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, tz.Shanghai) }

// applicationFixture is a villager's homestead application filed on their
// behalf: the process started, materials asked for, supplemented, first
// "no visit" and then a visit (the later appointment replaces it).
type applicationFixture struct {
	ref    eventsv1.InstanceRef
	events []eventsv1.Event
}

func seedApplication(t testing.TB, villageCode, tracking string) *applicationFixture {
	t.Helper()
	a := &applicationFixture{ref: eventsv1.InstanceRef{InstanceID: uuid.NewString(), TrackingNumber: tracking,
		ItemID: "duty-homestead", ItemName: "农村建房（宅基地）申请审核", Category: "duty", CatalogVersion: "2020.1"}}
	for _, e := range []struct {
		typ  string
		data any
	}{
		{eventsv1.TypeInstanceStarted, eventsv1.InstanceStarted{InstanceRef: a.ref, Title: "翻建住房申请", StartedBy: "desk-1", StartedAt: appDay(2, 9)}},
		{eventsv1.TypeApplicationFiled, eventsv1.ApplicationFiled{InstanceRef: a.ref, Channel: "on-behalf", FiledBy: "desk-1", Materials: 1, FiledAt: appDay(2, 9)}},
		// The workflow lists material names; the portal scrubs anyway.
		{eventsv1.TypeApplicationMaterialsAsked, eventsv1.ApplicationMaterialsRequested{InstanceRef: a.ref,
			Missing: []string{"身份证", "户口簿", "四邻签字（联系 13812345678）"}, RequestedBy: "cadre-1", RequestedAt: appDay(3, 10)}},
		{eventsv1.TypeApplicationSupplemented, eventsv1.ApplicationSupplemented{InstanceRef: a.ref, Materials: 3, SupplementedAt: appDay(4, 15)}},
		{eventsv1.TypeApplicationAppointmentMade, eventsv1.ApplicationAppointment{InstanceRef: a.ref, VisitNeeded: false,
			RecordedBy: "cadre-1", RecordedAt: appDay(5, 9)}},
		{eventsv1.TypeApplicationAppointmentMade, eventsv1.ApplicationAppointment{InstanceRef: a.ref, VisitNeeded: true,
			At: ptr(appDay(10, 9)), Place: "村便民服务中心一楼", RecordedBy: "cadre-1", RecordedAt: appDay(6, 9)}},
	} {
		a.events = append(a.events, workflowEvent(t, villageCode, e.typ, e.data))
	}
	return a
}

// reorderedWithRedeliveries is the events backwards, then forwards, then
// forwards again under new event ids.
func reorderedWithRedeliveries(evs []eventsv1.Event) []eventsv1.Event {
	out := slices.Clone(evs)
	slices.Reverse(out)
	out = append(out, evs...)
	for _, ev := range evs {
		ev.ID = uuid.NewString()
		out = append(out, ev)
	}
	return out
}

func checkApplication(t *testing.T, s *Service, a *applicationFixture) {
	t.Helper()
	got, err := s.loadApplication(context.Background(), a.ref.InstanceID)
	if err != nil || got == nil {
		t.Fatalf("application: %v %v", got, err)
	}
	if got.Channel != "on-behalf" || got.FiledAt == nil || !got.FiledAt.Equal(appDay(2, 9)) ||
		got.RequestedAt == nil || !got.RequestedAt.Equal(appDay(3, 10)) || len(got.Missing) != 3 ||
		got.SupplementedAt == nil || !got.SupplementedAt.Equal(appDay(4, 15)) ||
		!got.VisitNeeded || got.AppointmentAt == nil || !got.AppointmentAt.Equal(appDay(10, 9)) ||
		got.AppointmentPlace != "村便民服务中心一楼" || !got.AppointmentRecordedAt.Equal(appDay(6, 9)) {
		t.Errorf("application %+v", got)
	}
	if strings.Contains(strings.Join(got.Missing, ","), "13812345678") {
		t.Errorf("missing materials keep a phone number: %q", got.Missing)
	}
}

// TestApplicationsConsumed: the application events, applied by the real
// consumer handler on PostgreSQL backwards, forwards and redelivered under
// new ids, converge to one application whose latest appointment wins; a
// redelivery does not bump the village's version (the portal cache keeps);
// another village's event for the process is refused.
func TestApplicationsConsumed(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	a := seedApplication(t, village, village+"-20260302-APP01")
	for _, ev := range reorderedWithRedeliveries(a.events) {
		if err := applyEvent(t, s, ev); err != nil {
			t.Fatalf("%s: %v", ev.Type, err)
		}
	}
	checkApplication(t, s, a)
	if n := count(t, s.Pool, `SELECT count(*) FROM applications`); n != 1 {
		t.Errorf("%d application rows, want 1", n)
	}

	version := count(t, s.Pool, `SELECT version FROM villages WHERE code = $1`, village)
	again := a.events[3]
	again.ID = uuid.NewString()
	if err := applyEvent(t, s, again); err != nil {
		t.Fatal(err)
	}
	if v := count(t, s.Pool, `SELECT version FROM villages WHERE code = $1`, village); v != version {
		t.Errorf("a redelivery bumped the village's version %d -> %d", version, v)
	}
	// A new fact does bump it: the cached pages go stale at once.
	later := workflowEvent(t, village, eventsv1.TypeApplicationAppointmentMade, eventsv1.ApplicationAppointment{InstanceRef: a.ref,
		VisitNeeded: false, RecordedBy: "cadre-1", RecordedAt: appDay(7, 9)})
	if err := applyEvent(t, s, later); err != nil {
		t.Fatal(err)
	}
	if v := count(t, s.Pool, `SELECT version FROM villages WHERE code = $1`, village); v <= version {
		t.Errorf("a new appointment left the village's version at %d", v)
	}

	other := a.events[1]
	other.ID, other.Village = uuid.NewString(), "330213100202"
	if err := applyEvent(t, s, other); err == nil || !strings.Contains(err.Error(), "belongs to village") {
		t.Errorf("another village's event for the process: %v", err)
	}
	foreign := a.events[1]
	foreign.ID, foreign.Town = uuid.NewString(), "jinping"
	if err := applyEvent(t, s, foreign); err == nil || !strings.Contains(err.Error(), "not \""+testTown) {
		t.Errorf("another town's event: %v", err)
	}
}

// TestApplicationsThroughKafka: the events on the town's workflow topic on
// the real Kafka, reordered and redelivered, reach the portal's tables
// through the service's real consumer; nothing is dead-lettered.
func TestApplicationsThroughKafka(t *testing.T) {
	town := testinfra.UniqueName("t")
	s := newService(t, town)
	brokers := testinfra.KafkaBrokers(t)
	topic := eventsv1.Topic(town, eventsv1.StreamWorkflow)
	testinfra.CreateTopics(t, brokers, 1, topic, eventsv1.DeadLetterTopic(topic))
	ctx := context.Background()

	a := seedApplication(t, village, village+"-20260302-APP02")
	order := reorderedWithRedeliveries(a.events)
	var msgs []kafka.Message
	for _, ev := range order {
		ev.Town, ev.Source = town, "/towns/"+town+"/workflow"
		m, err := events.Encode(ctx, topic, ev)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	last := order[len(order)-1].ID
	tr := &kafka.Transport{}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Transport: tr, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer tr.CloseIdleConnections()
	defer w.Close()
	for _, m := range msgs { // in this order on the one partition
		if err := w.WriteMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	group := testinfra.UniqueName("disclosure-")
	c := events.NewConsumer(s.Pool, brokers, group, []string{topic}, s.HandleWorkflowEvent, events.ConsumerOptions{MaxWait: time.Second})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	}()
	// The deadline only keeps a broken test from hanging.
	deadline := time.Now().Add(4 * time.Minute)
	for count(t, s.Pool, `SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = $2`, group, last) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the consumer did not reach the last event; inbox holds %d rows", count(t, s.Pool, `SELECT count(*) FROM inbox`))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM inbox WHERE consumer = $1 AND outcome <> 'applied'`, group); n != 0 {
		t.Errorf("%d events dead-lettered, want none", n)
	}
	checkApplication(t, s, a)
}

// TestPortalApplicationPage: the process page's 办理进度 block at each
// point of an application, phone number scrubbed; a process without an
// application has no block.
func TestPortalApplicationPage(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	ts := serve(t, s)
	base := "/v/" + village + "/processes/"
	for _, tc := range []struct {
		name    string
		applied int // how many of the fixture's events
		extra   []eventsv1.Event
		want    []string
		absent  []string
	}{
		{name: "started only", applied: 1, absent: []string{`id="progress"`}},
		{name: "filed", applied: 2, want: []string{"办理进度", "<b>已受理</b>（由村（社区）干部代办提交）", "2026-03-02 09:00", `aria-current="step"`},
			absent: []string{"需补充材料"}},
		{name: "materials requested", applied: 3, want: []string{"<b>需补充材料</b>（共3项，请凭受理回执在线补充）",
			"<li>身份证</li>", "<li>户口簿</li>", "2026-03-03 10:00", "138****5678"}, absent: []string{"13812345678", "已补充"}},
		{name: "supplemented", applied: 4, want: []string{"<b>已补充</b>", "2026-03-04 15:00"}, absent: []string{"办理安排"}},
		{name: "no visit", applied: 5, want: []string{"<b>办理安排</b>：无需到场，办结后可在本页查看办理结果。"}},
		{name: "visit", applied: 6, want: []string{"<b>办理安排</b>：请于 2026-03-10 09:00 到村便民服务中心一楼办理"},
			absent: []string{"无需到场"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tracking := village + "-20260302-P" + strings.ReplaceAll(tc.name, " ", "")
			a := seedApplication(t, village, tracking)
			for _, ev := range a.events[:tc.applied] {
				if err := applyEvent(t, s, ev); err != nil {
					t.Fatal(err)
				}
			}
			p := get(t, ts, base+tracking)
			if p.status != http.StatusOK {
				t.Fatalf("HTTP %d", p.status)
			}
			for _, w := range tc.want {
				if !strings.Contains(p.body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tc.absent {
				if strings.Contains(p.body, w) {
					t.Errorf("page shows %q", w)
				}
			}
		})
	}
}

// TestApplicationStages: which line is current, and a supplement older
// than the latest request (it answered an earlier one) is not shown as
// the answer.
func TestApplicationStages(t *testing.T) {
	at := func(d, h int) *time.Time { return ptr(appDay(d, h)) }
	for _, tc := range []struct {
		name    string
		app     *Application
		status  string
		labels  []string
		current bool
	}{
		{"none", nil, ProcessRunning, nil, false},
		{"filed, portal", &Application{Channel: "portal", FiledAt: at(2, 9)}, ProcessRunning, []string{"已受理"}, true},
		{"supplement before request", &Application{Channel: "portal", FiledAt: at(2, 9), RequestedAt: at(5, 9), Missing: []string{"身份证"},
			SupplementedAt: at(4, 9)}, ProcessRunning, []string{"已受理", "需补充材料"}, true},
		{"completed", &Application{Channel: "portal", FiledAt: at(2, 9), AppointmentRecordedAt: at(3, 9)}, ProcessCompleted,
			[]string{"已受理", "办理安排"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := applicationStages(tc.app, tc.status)
			var labels []string
			for _, st := range got {
				labels = append(labels, st.Label)
			}
			if !slices.Equal(labels, tc.labels) {
				t.Errorf("stages %q, want %q", labels, tc.labels)
			}
			if len(got) > 0 && got[len(got)-1].Current != tc.current {
				t.Errorf("last stage current = %v", !tc.current)
			}
		})
	}
}
