package disclosure

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// boardFixture is a village's notice board: one current posting and one
// that ended early (short), with the events that make them.
type boardFixture struct {
	current, past eventsv1.PostingPublished
	ended         eventsv1.PostingEnded
	events        []eventsv1.Event
}

func seedBoard(t testing.TB, villageCode string) *boardFixture {
	t.Helper()
	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, tz.Shanghai) }
	ref := func(tracking string) eventsv1.InstanceRef {
		return eventsv1.InstanceRef{InstanceID: uuid.NewString(), TrackingNumber: tracking, ItemID: "decision-major-matters",
			ItemName: "村级重大事项决策", Category: "decision", CatalogVersion: "2020.1"}
	}
	b := &boardFixture{}
	b.past = eventsv1.PostingPublished{InstanceRef: ref(villageCode + "-20260301-PAST1"), PostingID: uuid.NewString(),
		StepID: "plan-posting", StepName: "方案公示", What: "决策方案及公示期间的村民意见", Section: "notice-board",
		Title: "新建文化礼堂", Text: "“村级重大事项决策”事项进入“方案公示”环节，现予公示。", MinDays: 15, Calendar: "calendar",
		StartAt: day(1, 9), PlannedEndAt: ptr(day(16, 0))}
	b.ended = eventsv1.PostingEnded{InstanceRef: b.past.InstanceRef, PostingID: b.past.PostingID, StepID: "plan-posting",
		Reason: eventsv1.PostingEndedStepCompleted, EndedAt: day(11, 9), Days: 10, Short: true}
	b.current = eventsv1.PostingPublished{InstanceRef: ref(villageCode + "-20260312-CUR01"), PostingID: uuid.NewString(),
		StepID: "plan-posting", StepName: "方案公示", What: "决策方案及公示期间的村民意见", Section: "notice-board",
		// The workflow masks before publishing; the portal scrubs again.
		Title: "村道硬化（联系人 13812345678）", Text: "对象：" + personal.MaskName(hhOuyang.name) + "，身份证 " + hhOuyang.id + "。",
		MinDays: 15, Calendar: "calendar", StartAt: day(12, 9), PlannedEndAt: ptr(day(27, 0))}
	for _, e := range []struct {
		typ  string
		data any
	}{{eventsv1.TypePostingPublished, b.past}, {eventsv1.TypePostingEnded, b.ended}, {eventsv1.TypePostingPublished, b.current}} {
		b.events = append(b.events, workflowEvent(t, villageCode, e.typ, e.data))
	}
	return b
}

// TestPostingsConsumed: the posting events, applied by the real consumer
// handler on PostgreSQL, make one current and one past posting; a
// redelivery (under a new event id) and an ended event arriving before
// its published one converge to the same board; another village's
// posting id is refused.
func TestPostingsConsumed(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	ctx := context.Background()
	b := seedBoard(t, village)
	// The ended event first, then everything, then everything again.
	order := append([]eventsv1.Event{b.events[1]}, b.events...)
	for _, ev := range b.events {
		again := ev
		again.ID = uuid.NewString()
		order = append(order, again)
	}
	for _, ev := range order {
		if err := applyEvent(t, s, ev); err != nil {
			t.Fatalf("%s: %v", ev.Type, err)
		}
	}
	cur, err := s.Postings(ctx, village, true, serviceNow, 10)
	if err != nil {
		t.Fatal(err)
	}
	past, err := s.Postings(ctx, village, false, serviceNow, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(cur) != 1 || cur[0].ID != b.current.PostingID || !cur[0].StartAt.Equal(b.current.StartAt) ||
		!cur[0].PlannedEndAt.Equal(*b.current.PlannedEndAt) || cur[0].EndedAt != nil {
		t.Errorf("current postings %+v", cur)
	}
	if strings.Contains(cur[0].Title, "13812345678") || strings.Contains(cur[0].Text, hhOuyang.id) {
		t.Errorf("a posting keeps personal data: %q %q", cur[0].Title, cur[0].Text)
	}
	if len(past) != 1 || past[0].ID != b.past.PostingID || past[0].EndedAt == nil || !past[0].EndedAt.Equal(b.ended.EndedAt) ||
		past[0].Days != 10 || !past[0].Short || past[0].What != b.past.What || past[0].Title != "新建文化礼堂" {
		t.Errorf("past postings %+v", past)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM postings`); n != 2 {
		t.Errorf("%d posting rows, want 2", n)
	}

	// The same posting id under another village never moves it.
	other := b.events[2]
	other.ID, other.Village = uuid.NewString(), "330213100202"
	if err := applyEvent(t, s, other); err == nil {
		t.Error("another village's event took over a posting")
	}
}

// TestPortalPostingsPage: the 公示栏 lists the current posting with its
// start and end dates and the objection link to the report page, and the
// past one apart with its real duration; personal data masked; the tab bar
// links to it.
func TestPortalPostingsPage(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	ts := serve(t, s)
	b := seedBoard(t, village)
	for _, ev := range b.events {
		if err := applyEvent(t, s, ev); err != nil {
			t.Fatal(err)
		}
	}
	pg := get(t, ts, "/v/"+village+"/postings")
	if pg.status != 200 {
		t.Fatalf("HTTP %d: %s", pg.status, pg.body)
	}
	curAt, pastAt := strings.Index(pg.body, "正在公示"), strings.Index(pg.body, "往期公示")
	for _, want := range []struct {
		text  string
		after int // the text must come after this offset
	}{
		{"村道硬化", curAt}, {"2026-03-12</b> 至 <b>2026-03-26", curAt}, {"不少于15天", curAt},
		{`href="/r/` + village + `?posting=` + b.current.PostingID + `"`, curAt},
		{"新建文化礼堂", pastAt}, {"2026-03-01</b> 至 <b>2026-03-11</b>，共10天", pastAt}, {"少于规定天数", pastAt},
		{`href="/v/` + village + `/processes/` + b.current.TrackingNumber + `"`, curAt},
	} {
		i := strings.Index(pg.body, want.text)
		if i < 0 || i < want.after {
			t.Errorf("the board lacks %q in its place", want.text)
		}
	}
	if strings.Contains(pg.body, "?posting="+b.past.PostingID) {
		t.Error("a past posting offers an objection")
	}
	for _, secret := range []string{"13812345678", hhOuyang.id, hhOuyang.name} {
		if strings.Contains(pg.body, secret) {
			t.Errorf("the board shows %q", secret)
		}
	}
	home := get(t, ts, "/v/"+village)
	if !strings.Contains(home.body, `href="/v/`+village+`/postings"`) {
		t.Error("the portal's home does not link to the 公示栏")
	}
	// The process's own page lists its posting, linked to the board.
	started := workflowEvent(t, village, eventsv1.TypeInstanceStarted, eventsv1.InstanceStarted{InstanceRef: b.current.InstanceRef,
		Title: "村道硬化", StartedBy: "c1", StartedAt: b.current.StartAt.Add(-72 * time.Hour)})
	if err := applyEvent(t, s, started); err != nil {
		t.Fatal(err)
	}
	proc := get(t, ts, "/v/"+village+"/processes/"+b.current.TrackingNumber)
	if proc.status != 200 || !strings.Contains(proc.body, `href="/v/`+village+`/postings#p-`+b.current.PostingID+`"`) ||
		!strings.Contains(proc.body, "2026-03-12 至 2026-03-26") {
		t.Errorf("the process page does not list its posting: HTTP %d", proc.status)
	}
	empty := get(t, ts, "/v/"+emptyVillage+"/postings")
	if empty.status != 200 || !strings.Contains(empty.body, "目前没有正在公示的事项") {
		t.Errorf("an empty board: HTTP %d", empty.status)
	}
}

func ptr[T any](v T) *T { return &v }

// TestPortalResultPostings: a result posting (posted when a process
// completed, no ended event) is current until its planned end, then past;
// one without a planned end stays for good.
func TestPortalResultPostings(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	ts := serve(t, s)
	day := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, tz.Shanghai) }
	ref := eventsv1.InstanceRef{InstanceID: uuid.NewString(), TrackingNumber: village + "-20260301-RES01", ItemID: "organisation-committee-election",
		ItemName: "村民委员会换届选举", Category: "organisation", CatalogVersion: "2020.1"}
	for _, d := range []eventsv1.PostingPublished{
		{What: "选举结果（已期满）", StartAt: day(1).Add(9 * time.Hour), PlannedEndAt: ptr(day(8)), MinDays: 7},
		{What: "选举结果（公开中）", StartAt: day(13).Add(9 * time.Hour), PlannedEndAt: ptr(day(20)), MinDays: 7},
		{What: "村规民约全文", StartAt: day(2).Add(9 * time.Hour)},
	} {
		d.InstanceRef, d.PostingID, d.Kind, d.Section, d.Text = ref, uuid.NewString(), eventsv1.PostingKindResult, "notice-board", "已办结，现予公开。"
		if err := applyEvent(t, s, workflowEvent(t, village, eventsv1.TypePostingPublished, d)); err != nil {
			t.Fatal(err)
		}
	}
	body := get(t, ts, "/v/"+village+"/postings").body
	curAt, pastAt := strings.Index(body, "正在公示"), strings.Index(body, "往期公示")
	for _, want := range []struct {
		text    string
		current bool
	}{
		{"选举结果（公开中）", true}, {"公开期：<b>2026-03-13</b> 至 <b>2026-03-19</b>（7天）", true},
		{"村规民约全文", true}, {"公开期：<b>2026-03-02</b> 起长期公开", true},
		{"选举结果（已期满）", false}, {"公开期：<b>2026-03-01</b> 至 <b>2026-03-07</b>，共7天，公开期满", false},
	} {
		i := strings.Index(body, want.text)
		if i < 0 || (i > curAt && i < pastAt) != want.current || i < curAt {
			t.Errorf("%q not where it belongs (current %v)", want.text, want.current)
		}
	}
	if n := strings.Count(body, `class="object"`); n != 2 {
		t.Errorf("%d objection links, want 2 (the current postings)", n)
	}
}

// TestPostingsThroughKafka: the posting events, written to the town's
// workflow topic on the real Kafka (ended before published, then every
// event again under a new id), reach the board through the service's
// real consumer (inbox, transaction) and converge to one current and one
// past posting; nothing is dead-lettered.
func TestPostingsThroughKafka(t *testing.T) {
	town := testinfra.UniqueName("t")
	s := newService(t, town)
	brokers := testinfra.KafkaBrokers(t)
	topic := eventsv1.Topic(town, eventsv1.StreamWorkflow)
	testinfra.CreateTopics(t, brokers, 1, topic, eventsv1.DeadLetterTopic(topic))
	ctx := context.Background()

	b := seedBoard(t, village)
	order := append([]eventsv1.Event{b.events[1]}, b.events...)
	for _, ev := range b.events {
		again := ev
		again.ID = uuid.NewString()
		order = append(order, again)
	}
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
	cur, err := s.Postings(ctx, village, true, serviceNow, 10)
	if err != nil {
		t.Fatal(err)
	}
	past, err := s.Postings(ctx, village, false, serviceNow, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(cur) != 1 || cur[0].ID != b.current.PostingID || len(past) != 1 || past[0].ID != b.past.PostingID || past[0].Days != 10 {
		t.Errorf("current %+v, past %+v", cur, past)
	}
}
