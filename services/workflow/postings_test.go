package workflow

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// TestPostingDurationMeasuresPostedAt: the engine measures a posting from
// PostedAt when the service gives it, not from the step's entry.
func TestPostingDurationMeasuresPostedAt(t *testing.T) {
	e := newEngine(t)
	entered := time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai)
	for _, tc := range []struct {
		name     string
		postedAt time.Time
		done     time.Time
		warn     string // "" for none
	}{
		{"posted at entry, 19 days", time.Time{}, entered.AddDate(0, 0, 19), ""},
		{"posted 6 days after entry, 13 days up", entered.AddDate(0, 0, 6), entered.AddDate(0, 0, 19), "自2026-03-08起实际公示13天（至2026-03-21），少于规定的15天"},
		{"posted at entry, 15 days", entered, entered.AddDate(0, 0, 15), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst, _, err := e.Start(cadre("secretary"), StartInput{ItemID: "decision-major-matters", Village: village, Title: "村道硬化", Now: entered})
			if err != nil {
				t.Fatal(err)
			}
			// Stand at plan-posting, entered at `entered`.
			inst.Steps = []StepRecord{{StepID: "plan-posting", EnteredAt: entered}}
			inst.Current = "plan-posting"
			ws, _, err := e.Complete(inst, cadre("director"), CompleteInput{StepID: "plan-posting", Now: tc.done, PostedAt: tc.postedAt, Thresholds: DefaultThresholds})
			if err != nil {
				t.Fatal(err)
			}
			var got string
			for _, w := range ws {
				if w.Rule == "posting-duration" {
					got = w.Message
				}
			}
			if (tc.warn == "") != (got == "") || !strings.Contains(got, tc.warn) {
				t.Errorf("warning %q, want %q", got, tc.warn)
			}
		})
	}
}

func TestPostingRuleOf(t *testing.T) {
	cat := sampleCatalog(t)
	for _, tc := range []struct {
		item, step string
		ok         bool
		minDays    int
		what       string
	}{
		{"decision-major-matters", "plan-posting", true, 15, "决策方案及公示期间的村民意见"},
		{"decision-major-matters", "result-posting", true, 3, "决议公开"}, // no 3-day notice-board rule: the step's name
		{"decision-major-matters", "propose", false, 0, ""},
		{"decision-major-matters", "no-such-step", false, 0, ""},
	} {
		r, ok := PostingRuleOf(cat.Item(tc.item), tc.step)
		if ok != tc.ok || r.MinDays != tc.minDays || r.What != tc.what || (ok && r.Section != "notice-board") {
			t.Errorf("%s/%s: %+v %v", tc.item, tc.step, r, ok)
		}
	}
	start := time.Date(2026, 3, 4, 16, 30, 0, 0, tz.Shanghai)
	if end := PlannedEnd(start, 15); !end.Equal(time.Date(2026, 3, 19, 0, 0, 0, 0, tz.Shanghai)) || DaysBetween(start, end) != 15 {
		t.Errorf("planned end %v", end)
	}
}

// TestPostingRecordedAndPublished runs 村级重大事项决策 on PostgreSQL and
// Kafka: entering 方案公示 records a posting at that moment (masked text,
// planned end 15 days on) and publishes it; completing the step early
// raises the warning with the real posting's figures and ends the posting;
// a full posting raises nothing; a withdrawn process takes its posting
// down. The events on the topic carry no personal data.
func TestPostingRecordedAndPublished(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	s := replica(t, testinfra.Postgres(t), clk)
	s.Town = testinfra.UniqueName("t")
	brokers := testinfra.KafkaBrokers(t)
	topic := eventsv1.Topic(s.Town, eventsv1.StreamWorkflow)
	testinfra.CreateTopics(t, brokers, 1, topic)
	as := func(role string) Actor {
		a := cadre(role)
		a.Town = s.Town
		return a
	}
	const payee, payeeID = "张小明", "330213199001011234"
	postedAt := time.Date(2026, 3, 4, 9, 30, 0, 0, tz.Shanghai)
	for _, tc := range []struct {
		name     string
		up       time.Duration // how long 方案公示 stays up
		withdraw bool
		warning  string
		reason   string
		days     int
	}{
		{"completed after 10 days", 10 * 24 * time.Hour, false, "公示“方案公示”自2026-03-04起实际公示10天（至2026-03-14），少于规定的15天", eventsv1.PostingEndedStepCompleted, 10},
		{"completed after 15 days", 15 * 24 * time.Hour, false, "", eventsv1.PostingEndedStepCompleted, 15},
		{"withdrawn after 2 days", 2 * 24 * time.Hour, true, "", eventsv1.PostingEndedWithdrawn, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk.Set(postedAt.Add(-49 * time.Hour))
			inst, err := s.Start(ctx, as("secretary"), village, StartRequest{ItemID: "decision-major-matters",
				Title: "村道硬化（" + payee + "，身份证 " + payeeID + "）", PayeeName: payee, PayeeIDNumber: payeeID})
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range []struct {
				step, role string
				after      time.Duration
			}{{"propose", "secretary", time.Hour}, {"joint-meeting", "secretary", 48 * time.Hour}} {
				clk.Advance(st.after)
				if _, _, err := s.Complete(ctx, as(st.role), inst.ID, st.step, CompleteRequest{}); err != nil {
					t.Fatalf("%s: %v", st.step, err)
				}
			}
			// Posted the moment the process entered 方案公示.
			cur, err := s.Postings(ctx, village, true, 100)
			if err != nil {
				t.Fatal(err)
			}
			var p *Posting
			for i := range cur {
				if cur[i].InstanceID == inst.ID {
					p = &cur[i]
				}
			}
			if p == nil {
				t.Fatalf("no current posting of %s among %+v", inst.TrackingNumber, cur)
			}
			if p.StepID != "plan-posting" || p.Kind != eventsv1.PostingKindStep || !p.StartAt.Equal(postedAt) || p.PlannedEndAt == nil ||
				!p.PlannedEndAt.Equal(time.Date(2026, 3, 19, 0, 0, 0, 0, tz.Shanghai)) ||
				p.MinDays != 15 || p.What != "决策方案及公示期间的村民意见" || p.Section != "notice-board" {
				t.Errorf("posting %+v", p)
			}
			for _, text := range []string{p.Title, p.Text} {
				if strings.Contains(text, payee) || strings.Contains(text, payeeID) || strings.Contains(text, "19900101") {
					t.Errorf("posting text keeps personal data: %q", text)
				}
			}
			if !strings.Contains(p.Title, personal.MaskName(payee)) || !strings.Contains(p.Text, "2026年3月4日起至2026年3月18日止") {
				t.Errorf("posting title %q text %q", p.Title, p.Text)
			}

			clk.Advance(tc.up)
			var warned string
			if tc.withdraw {
				if _, err := s.Withdraw(ctx, as("secretary"), inst.ID, "方案调整"); err != nil {
					t.Fatal(err)
				}
			} else {
				_, ws, err := s.Complete(ctx, as("director"), inst.ID, "plan-posting", CompleteRequest{})
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range ws {
					if w.Rule == "posting-duration" {
						warned = w.Message
					}
				}
			}
			if warned != tc.warning {
				t.Errorf("warning %q, want %q", warned, tc.warning)
			}
			past, err := s.Postings(ctx, village, false, 100)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, q := range past {
				if q.ID == p.ID {
					found = true
					if q.EndedAt == nil || !q.EndedAt.Equal(clk.Now()) || q.EndReason != tc.reason {
						t.Errorf("ended posting %+v", q)
					}
				}
			}
			if !found {
				t.Errorf("posting %s did not end", p.ID)
			}
			// A later step that needs no posting posts nothing.
			if cur, _ := s.Postings(ctx, village, true, 100); len(cur) != 0 {
				t.Errorf("postings still up: %+v", cur)
			}
		})
	}

	// The events, relayed to the real Kafka: each posting published once
	// and ended once, with the real figures and no personal data.
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan error, 1)
	go func() { relayDone <- events.NewRelay(s.Pool, brokers, events.RelayOptions{}).Run(relayCtx) }()
	t.Cleanup(func() {
		stopRelay()
		if err := <-relayDone; err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	var total int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE topic = $1`, topic).Scan(&total); err != nil {
		t.Fatal(err)
	}
	readCtx, stop := context.WithTimeout(ctx, 2*time.Minute)
	defer stop()
	msgs, err := testinfra.ReadTopic(readCtx, brokers, topic, total)
	if err != nil {
		t.Fatal(err)
	}
	published, ended := map[string]eventsv1.PostingPublished{}, map[string]eventsv1.PostingEnded{}
	for _, m := range msgs {
		ev, err := events.Decode(m)
		if err != nil {
			t.Fatal(err)
		}
		all := string(m.Value)
		for _, secret := range []string{payee, payeeID, "19900101"} {
			if strings.Contains(all, secret) && (ev.Type == eventsv1.TypePostingPublished || ev.Type == eventsv1.TypePostingEnded) {
				t.Errorf("%s carries %q", ev.Type, secret)
			}
		}
		switch ev.Type {
		case eventsv1.TypePostingPublished:
			var d eventsv1.PostingPublished
			if err := ev.Decode(&d); err != nil {
				t.Fatal(err)
			}
			if ev.Village != village || string(m.Key) != village || d.StepID != "plan-posting" || d.MinDays != 15 || !d.StartAt.Equal(postedAt) {
				t.Errorf("published %+v", d)
			}
			published[d.PostingID] = d
		case eventsv1.TypePostingEnded:
			var d eventsv1.PostingEnded
			if err := ev.Decode(&d); err != nil {
				t.Fatal(err)
			}
			ended[d.PostingID] = d
		}
	}
	if len(published) != 3 || len(ended) != 3 {
		t.Fatalf("%d postings published, %d ended on the topic, want 3 and 3", len(published), len(ended))
	}
	var days []int
	for id, d := range ended {
		if _, ok := published[id]; !ok {
			t.Errorf("posting %s ended, never published", id)
		}
		if d.Short != (d.Days < 15 && d.Reason == eventsv1.PostingEndedStepCompleted) {
			t.Errorf("ended %+v", d)
		}
		days = append(days, d.Days)
	}
	if sum := days[0] + days[1] + days[2]; sum != 10+15+2 {
		t.Errorf("days up %v, want 10, 15 and 2", days)
	}
}

// TestResultPostings: the notice-board disclosure rules no posting step
// carries are posted when the process completes, on PostgreSQL: for their
// forDays (up until the planned end, then among the past postings, with
// no event) or for good (forDays 0).
func TestResultPostings(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	s := replica(t, testinfra.Postgres(t), clk)
	as := func(role string) Actor {
		a := cadre(role)
		a.Town = s.Town
		return a
	}
	for _, tc := range []struct {
		item    string
		what    string
		forDays int
	}{
		{"organisation-party-member-appraisal", "民主评议结果", 15},
		{"decision-village-rules", "村规民约全文", 0},
	} {
		t.Run(tc.item, func(t *testing.T) {
			if rules := ResultRules(s.Engine.Catalog.Item(tc.item)); len(rules) != 1 || rules[0].What != tc.what {
				t.Fatalf("result rules %+v", rules)
			}
			clk.Set(time.Date(2026, 4, 1, 9, 0, 0, 0, tz.Shanghai))
			item := s.Engine.Catalog.Item(tc.item)
			inst, err := s.Start(ctx, as(string(item.Steps[0].Role)), village, StartRequest{ItemID: tc.item, Title: tc.what})
			if err != nil {
				t.Fatal(err)
			}
			for st := &item.Steps[0]; st != nil; {
				// Long enough for every posting step on the way.
				clk.Advance(20 * 24 * time.Hour)
				if _, _, err := s.Complete(ctx, as(string(st.Role)), inst.ID, st.ID, CompleteRequest{}); err != nil {
					t.Fatalf("%s: %v", st.ID, err)
				}
				if len(st.Next) == 0 {
					break
				}
				st = item.Step(st.Next[0])
			}
			completedAt := clk.Now()
			find := func(current bool) *Posting {
				ps, err := s.Postings(ctx, village, current, 100)
				if err != nil {
					t.Fatal(err)
				}
				for i := range ps {
					if ps[i].InstanceID == inst.ID && ps[i].Kind == eventsv1.PostingKindResult {
						return &ps[i]
					}
				}
				return nil
			}
			p := find(true)
			if p == nil || p.What != tc.what || !p.StartAt.Equal(completedAt) || p.MinDays != tc.forDays || p.EndedAt != nil {
				t.Fatalf("result posting %+v", p)
			}
			if tc.forDays == 0 {
				if p.PlannedEndAt != nil || !strings.Contains(p.Text, "长期公开") {
					t.Errorf("a posting for good: %+v", p)
				}
				clk.Advance(400 * 24 * time.Hour)
				if find(true) == nil {
					t.Error("a posting for good came down")
				}
				return
			}
			if p.PlannedEndAt == nil || !p.PlannedEndAt.Equal(PlannedEnd(completedAt, tc.forDays)) {
				t.Errorf("planned end %v", p.PlannedEndAt)
			}
			clk.Set(p.PlannedEndAt.Add(-time.Second))
			if find(true) == nil {
				t.Error("down before its planned end")
			}
			clk.Set(*p.PlannedEndAt)
			if find(true) != nil || find(false) == nil {
				t.Error("still up at its planned end, or not among the past postings")
			}
		})
	}
}

// TestPostingRevisited: a process sent back to a posting step (a rework
// loop) posts again, once per visit, and each posting ends with its visit;
// the control measures each visit's own posting.
func TestPostingRevisited(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	s := replica(t, testinfra.Postgres(t), clk)
	minDays := int32(3)
	s.Engine.Catalog.Items = append(s.Engine.Catalog.Items, wuxiaov1.PowerItem{ID: "test-rework", Name: "返工测试", Category: wuxiaov1.CategoryDecision,
		Basis: []string{"测试"},
		Steps: []wuxiaov1.Step{
			{ID: "draft", Name: "起草", Handler: "村委会", Role: "secretary", Method: "起草", Next: []string{"posting"}},
			{ID: "posting", Name: "方案公示", Handler: "村委会", Role: "director", Method: "公示", Next: []string{"review"}},
			{ID: "review", Name: "审议", Handler: "村委会", Role: "secretary", Method: "审议", Next: []string{"posting", "done"}},
			{ID: "done", Name: "办结", Handler: "村委会", Role: "secretary", Method: "办结"},
		},
		Controls:   []wuxiaov1.Control{{ID: "posting-3", Step: "posting", Type: wuxiaov1.ControlPostingDuration, Description: "公示不少于3天", Norm: "n", MinDays: &minDays}},
		Norms:      []wuxiaov1.Norm{{ID: "n", Text: "公示", Basis: "测试"}},
		Disclosure: []wuxiaov1.DisclosureRule{{What: "方案", Section: "notice-board", ForDays: 3}},
	})
	clk.Set(time.Date(2026, 5, 4, 9, 0, 0, 0, tz.Shanghai))
	inst, err := s.Start(ctx, cadre("secretary"), village, StartRequest{ItemID: "test-rework", Title: "返工"})
	if err != nil {
		t.Fatal(err)
	}
	var warned []string
	for _, st := range []struct {
		step, role, next string
		after            time.Duration
	}{
		{"draft", "secretary", "", time.Hour},
		{"posting", "director", "", 24 * time.Hour}, // first visit: 1 day, short
		{"review", "secretary", "posting", time.Hour},
		{"posting", "director", "", 4 * 24 * time.Hour}, // second visit: 4 days
		{"review", "secretary", "done", time.Hour},
		{"done", "secretary", "", time.Hour},
	} {
		clk.Advance(st.after)
		_, ws, err := s.Complete(ctx, cadre(st.role), inst.ID, st.step, CompleteRequest{Next: st.next})
		if err != nil {
			t.Fatalf("%s: %v", st.step, err)
		}
		for _, w := range ws {
			if w.Rule == "posting-duration" {
				warned = append(warned, w.Message)
			}
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "实际公示1天") {
		t.Errorf("warnings %q, want one for the first visit's 1 day", warned)
	}
	rows, err := s.Pool.Query(ctx, `SELECT visit, end_reason, (ended_at - start_at) > interval '3 days'
		FROM postings WHERE instance_id = $1 AND kind = 'step' ORDER BY visit`, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	type visitRow struct {
		Visit  int
		Reason string
		Long   bool
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[visitRow])
	if err != nil {
		t.Fatal(err)
	}
	want := []visitRow{{1, eventsv1.PostingEndedStepCompleted, false}, {2, eventsv1.PostingEndedStepCompleted, true}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("postings by visit %+v, want %+v", got, want)
	}
	// The disclosure rule is carried by the posting step: nothing more is
	// posted when the process completes.
	var results int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM postings WHERE instance_id = $1 AND kind = 'result'`, inst.ID).Scan(&results); err != nil || results != 0 {
		t.Errorf("%d result postings (%v), want 0", results, err)
	}
}
