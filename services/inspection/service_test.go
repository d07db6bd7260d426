package inspection

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

const (
	svcTown     = "xikou"
	svcVillage  = "330283100201"
	svcVillage2 = "330283100202"
)

// testClock is a settable clock.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) Now() time.Time  { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// steepRules make a conflict of interest cost 15 points, so that one
// warning can take a village from A straight to C.
func steepRules() Rules {
	r := DefaultRules()
	r.Kinds[FactWarning].Subkinds["conflict-of-interest"] = SubkindRule{Label: "利益冲突未回避", Points: -15}
	return r
}

func newService(t testing.TB, url, town string, clk *testClock) *Service {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, url, "inspection")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := events.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return &Service{Rules: steepRules(), Notices: DefaultNoticeConfig(), Pool: pool, Town: town, TownName: "溪口镇",
		VillageNames: map[string]string{svcVillage: "岩头村"}, Log: slog.New(slog.DiscardHandler), Now: clk.Now}
}

// warningEvent is a workflow warning as the workflow service publishes it.
func warningEvent(t testing.TB, town, village, rule string, at time.Time) eventsv1.Event {
	t.Helper()
	data, err := json.Marshal(eventsv1.WarningRaised{
		InstanceRef: eventsv1.InstanceRef{InstanceID: uuid.NewString(), TrackingNumber: village + "-" + at.In(Shanghai).Format("20060102") + "-ABCDE",
			ItemID: "decision-major-matters", ItemName: "重大事项决策"},
		WarningID: uuid.NewString(), StepID: "plan-posting", Rule: rule, Message: "规则 " + rule + " 未满足", Public: true, RaisedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + town + "/workflow", Type: eventsv1.TypeWarningRaised,
		Time: at.UTC(), Town: town, Village: village, Data: data}
}

func handle(t testing.TB, s *Service, ev eventsv1.Event) {
	t.Helper()
	if err := store.InTx(context.Background(), s.Pool, func(tx pgx.Tx) error {
		return s.HandleWorkflowEvent(context.Background(), tx, ev)
	}); err != nil {
		t.Fatalf("handling %s: %v", ev.ID, err)
	}
}

func count(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// outbox returns the types and data of the events enqueued, in order.
func outbox(t testing.TB, pool *pgxpool.Pool) (types []string, data []json.RawMessage) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT headers->>'ce_type', payload FROM outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var typ string
		var payload []byte
		if err := rows.Scan(&typ, &payload); err != nil {
			t.Fatal(err)
		}
		types = append(types, typ)
		data = append(data, payload)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return types, data
}

func TestWarningsLowerGradeAndIssueNotice(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)

	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	// 100 → 95 → 90: still A, nothing announced.
	handle(t, s, warningEvent(t, svcTown, svcVillage, "posting-duration", day))
	handle(t, s, warningEvent(t, svcTown, svcVillage, "posting-duration", day.AddDate(0, 0, 7)))
	// Other workflow events are ignored.
	other := warningEvent(t, svcTown, svcVillage, "", day)
	other.Type = eventsv1.TypeInstanceStarted
	handle(t, s, other)
	if n := count(t, s.Pool, `SELECT count(*) FROM facts`); n != 2 {
		t.Fatalf("%d facts, want 2", n)
	}
	r, err := s.RatingOf(ctx, svcVillage, Period{Year: 2026})
	if err != nil || r.Points != 90 || r.Grade != GradeA {
		t.Fatalf("rating %d %s (%v), want 90 A", r.Points, r.Grade, err)
	}
	if types, _ := outbox(t, s.Pool); len(types) != 0 {
		t.Fatalf("outbox %v before any change of grade", types)
	}

	// A conflict of interest: 90 → 75, from A to C at once.
	coi := warningEvent(t, svcTown, svcVillage, "conflict-of-interest", day.AddDate(0, 0, 14))
	handle(t, s, coi)
	r, err = s.RatingOf(ctx, svcVillage, Period{Year: 2026})
	if err != nil || r.Points != 75 || r.Grade != GradeC || len(r.Contributions) != 3 {
		t.Fatalf("rating %+v (%v), want 75 C from 3 facts", r, err)
	}

	var from, to string
	var fromPoints, toPoints int
	var because []Contribution
	if err := s.Pool.QueryRow(ctx, `SELECT from_grade, to_grade, from_points, to_points, because FROM grade_changes WHERE village = $1`, svcVillage).
		Scan(&from, &to, &fromPoints, &toPoints, &because); err != nil {
		t.Fatalf("the grade change: %v", err)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM grade_changes`); n != 1 {
		t.Fatalf("%d grade changes, want 1", n)
	}
	if from != "A" || to != "C" || fromPoints != 90 || toPoints != 75 {
		t.Errorf("change %s(%d) → %s(%d), want A(90) → C(75)", from, fromPoints, to, toPoints)
	}
	// Explained by the fact that moved it, not by the earlier deductions.
	if len(because) != 1 || because[0].Fact.ID != coi.ID || because[0].Points != -15 {
		t.Errorf("because %+v, want only the conflict of interest (-15)", because)
	}

	// The change drafts the notice; the office signs it (on 10 April).
	if types, _ := outbox(t, s.Pool); strings.Join(types, " ") != eventsv1.TypeRatingChanged+" "+eventsv1.TypeNoticeDrafted {
		t.Fatalf("outbox %v, want rating.changed then notice.drafted", types)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM notices WHERE status = 'draft' AND number IS NULL`); n != 1 {
		t.Fatalf("%d unnumbered drafts, want 1", n)
	}
	signDrafts(t, s)
	var number, kind, html string
	var deadline time.Time
	if err := s.Pool.QueryRow(ctx, `SELECT number, kind, deadline, html FROM notices WHERE village = $1`, svcVillage).
		Scan(&number, &kind, &deadline, &html); err != nil {
		t.Fatalf("the notice: %v", err)
	}
	if number != "奉纪预〔2026〕1号" || kind != "warning" {
		t.Errorf("notice %s %s, want warning 奉纪预〔2026〕1号", number, kind)
	}
	if want := time.Date(2026, 4, 26, 0, 0, 0, 0, Shanghai); !deadline.Equal(want) {
		t.Errorf("deadline %v, want %v (15 days after the issue)", deadline, want)
	}
	for _, s := range []string{"预警通知书", "岩头村", "溪口镇纪委", "奉纪预〔2026〕1号", "由A档降为C档"} {
		if !strings.Contains(html, s) {
			t.Errorf("the notice's HTML lacks %q", s)
		}
	}

	types, data := outbox(t, s.Pool)
	if strings.Join(types, " ") != eventsv1.TypeRatingChanged+" "+eventsv1.TypeNoticeDrafted+" "+eventsv1.TypeNoticeIssued {
		t.Fatalf("outbox %v, want rating.changed, notice.drafted then notice.issued", types)
	}
	var rc eventsv1.RatingChanged
	if err := json.Unmarshal(data[0], &rc); err != nil {
		t.Fatal(err)
	}
	if rc.Village != svcVillage || rc.Period != "2026" || rc.From != "A" || rc.To != "C" || rc.Points != 75 ||
		len(rc.Because) != 1 || rc.Because[0].FactID != coi.ID || rc.Because[0].Kind != "warning" ||
		rc.Because[0].Subkind != "conflict-of-interest" || rc.Because[0].Points != -15 || rc.Because[0].Ref == "" {
		t.Errorf("rating.changed %+v", rc)
	}
	var ni eventsv1.NoticeIssued
	if err := json.Unmarshal(data[2], &ni); err != nil {
		t.Fatal(err)
	}
	if ni.Number != number || ni.Kind != eventsv1.NoticeKindWarning || ni.Village != svcVillage || ni.Grade != "C" ||
		ni.Points != 75 || !ni.Deadline.Equal(deadline) {
		t.Errorf("notice.issued %+v", ni)
	}

	// Numbers go on per series: another village's warning is number 2, and
	// a fall to D starts the rectification series.
	for i := range 3 {
		handle(t, s, warningEvent(t, svcTown, svcVillage2, "conflict-of-interest", day.AddDate(0, 1, i)))
	}
	signDrafts(t, s)
	rows, err := s.Pool.Query(ctx, `SELECT number FROM notices WHERE village = $1 ORDER BY kind DESC`, svcVillage2)
	if err != nil {
		t.Fatal(err)
	}
	numbers, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	// 100 → 85 (B) → 70 (C) → 55 (D).
	if strings.Join(numbers, " ") != "奉纪预〔2026〕2号 奉纪整〔2026〕1号" {
		t.Errorf("second village's notices %v", numbers)
	}
}

func TestSameEventTwiceChangesNothing(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	handle(t, s, warningEvent(t, svcTown, svcVillage, "posting-duration", day))
	handle(t, s, warningEvent(t, svcTown, svcVillage, "posting-duration", day))
	ev := warningEvent(t, svcTown, svcVillage, "conflict-of-interest", day.AddDate(0, 0, 1))
	handle(t, s, ev)

	snapshot := func() string {
		var b strings.Builder
		for _, q := range []string{
			`SELECT count(*)::text FROM facts`, `SELECT count(*)::text FROM grade_changes`, `SELECT count(*)::text FROM notices`,
			`SELECT count(*)::text FROM outbox`, `SELECT string_agg(points || grade || computed_at::text, ',') FROM ratings`,
			`SELECT coalesce(string_agg(series || year || '=' || next, ','), '') FROM notice_numbers`,
		} {
			var v string
			if err := s.Pool.QueryRow(ctx, q).Scan(&v); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			b.WriteString(v + ";")
		}
		return b.String()
	}
	before := snapshot()
	if !strings.HasPrefix(before, "3;1;1;2;75C") {
		t.Fatalf("state after three warnings %q, want 3 facts, 1 change, 1 draft notice, 2 events, 75 C", before)
	}

	clk.Set(time.Date(2026, 4, 11, 9, 0, 0, 0, Shanghai)) // a later redelivery
	var got Applied
	if err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		got, err = s.ApplyFact(ctx, tx, WarningFact(ev.ID, ev.Village, eventsv1.WarningRaised{Rule: "conflict-of-interest", RaisedAt: day.AddDate(0, 0, 1)}))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got.New || got.Change != nil || got.Notice != nil {
		t.Errorf("applying a known fact again: %+v", got)
	}
	handle(t, s, ev)
	if after := snapshot(); after != before {
		t.Errorf("the same event applied again changed the state:\n before %s\n after  %s", before, after)
	}
}

func TestConsumeWorkflowWarningsFromKafka(t *testing.T) {
	ctx := context.Background()
	brokers := testinfra.KafkaBrokers(t)
	town := testinfra.UniqueName("t")
	topic := eventsv1.Topic(town, eventsv1.StreamWorkflow)
	testinfra.CreateTopics(t, brokers, 1, topic, eventsv1.DeadLetterTopic(topic))

	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), town, clk)

	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	evs := []eventsv1.Event{
		warningEvent(t, town, svcVillage, "posting-duration", day),
		warningEvent(t, town, svcVillage, "posting-duration", day.AddDate(0, 0, 1)),
	}
	started := warningEvent(t, town, svcVillage, "", day)
	started.Type = eventsv1.TypeInstanceStarted
	// The first warning again (same ce_id), then an ignored type, then the
	// warning that takes the village to C: once C is reached, the duplicate
	// has been consumed too (one partition keeps the order).
	evs = append(evs, evs[0], started, warningEvent(t, town, svcVillage, "conflict-of-interest", day.AddDate(0, 0, 2)))
	msgs := make([]kafka.Message, len(evs))
	for i, ev := range evs {
		m, err := events.Encode(ctx, topic, ev)
		if err != nil {
			t.Fatal(err)
		}
		m.Topic = ""
		msgs[i] = m
	}
	tr := &kafka.Transport{}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Transport: tr, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer tr.CloseIdleConnections()
	defer w.Close()
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	for {
		err := w.WriteMessages(wctx, msgs...)
		if err == nil {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("writing the workflow events: %v", err)
		}
		time.Sleep(200 * time.Millisecond) // a fresh topic's metadata may lag
	}

	group := testinfra.UniqueName("inspection-test-")
	c := events.NewConsumer(s.Pool, brokers, group, []string{topic}, s.HandleWorkflowEvent,
		events.ConsumerOptions{MaxWait: time.Second, SessionTimeout: 6 * time.Second})
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(cctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	}()

	deadline := time.Now().Add(2 * time.Minute)
	for {
		r, err := s.RatingOf(ctx, svcVillage, Period{Year: 2026})
		if err != nil {
			t.Fatal(err)
		}
		if r.Grade == GradeC {
			if r.Points != 75 || len(r.Contributions) != 3 {
				t.Fatalf("rating %d from %d facts, want 75 from 3", r.Points, len(r.Contributions))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the village never reached C: %d %s after %d facts", r.Points, r.Grade, len(r.Contributions))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM facts`); n != 3 {
		t.Errorf("%d facts, want 3 (the duplicate applied once)", n)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM inbox WHERE consumer = $1 AND outcome = 'applied'`, group); n != 4 {
		t.Errorf("%d events in the inbox, want 4 (3 warnings, 1 ignored event)", n)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM grade_changes WHERE from_grade = 'A' AND to_grade = 'C'`); n != 1 {
		t.Errorf("%d grade changes A → C, want 1", n)
	}
	signDrafts(t, s)
	var number string
	if err := s.Pool.QueryRow(ctx, `SELECT number FROM notices WHERE village = $1 AND kind = 'warning'`, svcVillage).Scan(&number); err != nil ||
		number != "奉纪预〔2026〕1号" {
		t.Errorf("notice %q (%v), want 奉纪预〔2026〕1号", number, err)
	}
	types, _ := outbox(t, s.Pool)
	if strings.Join(types, " ") != eventsv1.TypeRatingChanged+" "+eventsv1.TypeNoticeDrafted+" "+eventsv1.TypeNoticeIssued {
		t.Errorf("outbox %v", types)
	}
}

// Facts of one village applied concurrently are serialised: every change of
// grade is recorded once, and each notice gets its own number.
func TestConcurrentFactsOfOneVillage(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)

	// 7 × −5: 100 → 65, through B (85), C (75) and D (65).
	const n = 7
	errs := make(chan error, n)
	for i := range n {
		ev := warningEvent(t, svcTown, svcVillage, "posting-duration", day.AddDate(0, 0, i))
		go func() {
			errs <- store.InTx(ctx, s.Pool, func(tx pgx.Tx) error { return s.HandleWorkflowEvent(ctx, tx, ev) })
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.RatingOf(ctx, svcVillage, Period{Year: 2026})
	if err != nil || r.Points != 65 || r.Grade != GradeD {
		t.Fatalf("rating %d %s (%v), want 65 D", r.Points, r.Grade, err)
	}
	rows, err := s.Pool.Query(ctx, `SELECT from_grade || to_grade FROM grade_changes ORDER BY to_grade`)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(changes, " ") != "AB BC CD" {
		t.Errorf("grade changes %v, want A→B, B→C, C→D once each", changes)
	}
	signDrafts(t, s)
	rows, err = s.Pool.Query(ctx, `SELECT number FROM notices ORDER BY kind DESC`)
	if err != nil {
		t.Fatal(err)
	}
	numbers, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(numbers, " ") != "奉纪预〔2026〕1号 奉纪整〔2026〕1号" {
		t.Errorf("notices %v", numbers)
	}
	if types, _ := outbox(t, s.Pool); len(types) != 7 {
		t.Errorf("outbox %v, want 3 rating.changed, 2 notice.drafted and 2 notice.issued", types)
	}
}
