package inspection

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
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

// TestBatchSameAsOneAtATime consumes one mixed stream of events from a
// real Kafka topic twice, into two databases in the same state: one at a
// time (BatchSize 1) and in batches with the stream's batch handler, both
// with notifications (as the service runs). The workflow stream has
// warnings for six villages over two rating periods (steep rules: grades
// fall to C and D, notices are drafted), steps completed (which notify
// people) and ignored events between them, and malformed warnings; the
// complaint stream has complaints accepted and resolved with every outcome
// (grades rise too), decisions published again under another event id
// (the same fact), escalations (which notify) and an outcome this version
// does not know. Both have copies of events within a batch and across
// batches, and a fact recorded before (its inbox row lost). Every table
// the consumer writes ends up the same in both databases: facts, ratings,
// grade changes, notices and their steps, the outbox in order (same
// events, same order), the messages in order, the inbox's outcomes. Ids
// the service makes (changes', notices', its events') are random and
// compared by their order of appearance.
func TestBatchSameAsOneAtATime(t *testing.T) {
	villages := []string{svcVillage, svcVillage2, "330283100203", "330283100204", "330283100205", "330283100206"}
	start := time.Date(2025, 7, 1, 9, 0, 0, 0, Shanghai)
	for _, tc := range []struct {
		name string
		// event is the stream's i-th event (in village v at at), and
		// again one published again under another id, if any.
		event   func(t *testing.T, rng *rand.Rand, i int, v string, at time.Time) (ev eventsv1.Event, again *eventsv1.Event)
		handler func(s *Service) (events.Handler, events.BatchHandler)
		rules   func(r Rules) // changes to steepRules
		// at least this many rows, or the stream does not exercise them
		atLeast    map[string]int
		rises      int // grade changes for the better, at least
		deadLetter int
	}{{
		name: "workflow",
		event: func(t *testing.T, rng *rand.Rand, i int, v string, at time.Time) (eventsv1.Event, *eventsv1.Event) {
			rules := []string{"deadline", "evidence-required", "posting-duration", "conflict-of-interest", "order"}
			ev := warningEvent(t, svcTown, v, rules[rng.IntN(len(rules))], at)
			switch {
			case i%7 == 3: // a step done: its next role is told
				ev.Type = eventsv1.TypeStepCompleted
				ev.Data, _ = json.Marshal(eventsv1.StepCompleted{InstanceRef: eventsv1.InstanceRef{InstanceID: uuid.NewString(),
					TrackingNumber: fmt.Sprintf("%s-%d", v, i), ItemName: "重大事项决策"},
					StepID: "review", NextStep: "approve", NextStepName: "审批", NextRole: "secretary", CompletedAt: ev.Time})
			case i%11 == 5: // nothing for inspection
				ev.Type = eventsv1.TypeInstanceStarted
			case i == 250 || i == 420: // malformed: dead-lettered
				ev.Data = json.RawMessage(`{"rule": 7}`)
			}
			return ev, nil
		},
		handler: func(s *Service) (events.Handler, events.BatchHandler) {
			return s.Notifying(s.HandleWorkflowEvent), s.WorkflowBatch(true)
		},
		atLeast:    map[string]int{"grade_changes": 12, "notices": 8, "messages": 60, "outbox": 20, "ratings": 10},
		deadLetter: 2,
	}, {
		name: "complaint",
		event: func(t *testing.T, rng *rand.Rand, i int, v string, at time.Time) (eventsv1.Event, *eventsv1.Event) {
			id := fmt.Sprintf("c-%d", i/2)
			if i%2 == 0 {
				ev := complaintEvent(t, eventsv1.TypeComplaintAccepted, id, v, "", at)
				if i%9 == 4 {
					ev.Type = eventsv1.TypeComplaintEscalated
					ev.Data, _ = json.Marshal(eventsv1.ComplaintEscalated{ComplaintRef: eventsv1.ComplaintRef{ComplaintID: id, Category: "funds"},
						Stage: "accepted", DueAt: at, At: at})
				}
				return ev, nil
			}
			ev := complaintEvent(t, eventsv1.TypeComplaintResolved, id, v, "经查", at)
			var d eventsv1.ComplaintDecided
			if err := ev.Decode(&d); err != nil {
				t.Fatal(err)
			}
			d.Outcome = eventsv1.ComplaintOutcomes[rng.IntN(len(eventsv1.ComplaintOutcomes))]
			if i == 301 {
				d.Outcome = "withdrawn" // not known: dead-lettered
			}
			ev.Data, _ = json.Marshal(d)
			if i%8 == 1 {
				again := ev
				again.ID = uuid.NewString()
				return ev, &again
			}
			return ev, nil
		},
		handler: func(s *Service) (events.Handler, events.BatchHandler) {
			return s.Notifying(s.HandleComplaintEvent), s.ComplaintBatch(true)
		},
		rules: func(r Rules) { // grades rise again
			r.Kinds[FactComplaint].Subkinds[ComplaintUnsubstantiated] = SubkindRule{Label: "经查不属实", Points: 9}
		},
		atLeast:    map[string]int{"grade_changes": 6, "messages": 20, "outbox": 6, "ratings": 10},
		rises:      3,
		deadLetter: 1,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			brokers := testinfra.KafkaBrokers(t)
			topic := testinfra.Topic(t, 1) // one partition: both runs see one order
			testinfra.CreateTopics(t, brokers, 1, eventsv1.DeadLetterTopic(topic))
			clk := &testClock{}
			clk.Set(time.Date(2026, 6, 30, 9, 0, 0, 0, Shanghai))
			rng := rand.New(rand.NewPCG(18, 2000))
			var evs []eventsv1.Event
			var msgs []kafka.Message
			add := func(ev eventsv1.Event) {
				m, err := events.Encode(ctx, topic, ev)
				if err != nil {
					t.Fatal(err)
				}
				msgs = append(msgs, m)
			}
			for i := range 600 {
				// Nanoseconds too: PostgreSQL keeps microseconds, and the
				// batch must rate with the facts as recorded.
				at := start.Add(time.Duration(rng.Int64N(int64(360 * 24 * time.Hour))))
				ev, again := tc.event(t, rng, i, villages[rng.IntN(len(villages))], at)
				evs = append(evs, ev)
				add(ev)
				if i%45 == 9 {
					add(ev) // a copy right behind it: the same batch
				}
				if again != nil {
					evs = append(evs, *again)
					add(*again)
				}
			}
			for _, i := range []int{0, 17, 300} {
				add(evs[i]) // copies much later: another batch
			}
			w := &kafka.Writer{Addr: kafka.TCP(brokers...), RequiredAcks: kafka.RequireAll, BatchSize: 1000, BatchTimeout: time.Millisecond}
			defer w.Close()
			wctx, wcancel := context.WithTimeout(ctx, time.Minute)
			defer wcancel()
			for {
				err := w.WriteMessages(wctx, msgs...)
				if err == nil {
					break
				}
				if wctx.Err() != nil {
					t.Fatalf("writing the events: %v", err)
				}
				time.Sleep(200 * time.Millisecond) // a fresh topic's metadata may lag
			}

			run := func(batched bool) (*pgxpool.Pool, int64) {
				s := newService(t, testinfra.Postgres(t), svcTown, clk)
				if tc.rules != nil {
					tc.rules(s.Rules)
				}
				if _, err := s.Pool.Exec(ctx, `INSERT INTO villages (code, town, name) VALUES ($1, $2, '登记村')`, villages[2], svcTown); err != nil {
					t.Fatal(err)
				}
				handler, bh := tc.handler(s)
				// Recorded before, as if its inbox row had been lost.
				if err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error { return handler(ctx, tx, evs[1]) }); err != nil {
					t.Fatal(err)
				}
				group := testinfra.UniqueName("same-")
				opts := events.ConsumerOptions{MaxWait: time.Second, SessionTimeout: 6 * time.Second, BackoffMin: 10 * time.Millisecond,
					BackoffMax: 100 * time.Millisecond, BatchSize: 1, Telemetry: events.Telemetry{Logger: benchLogger()}}
				var inBatches atomic.Int64
				if batched {
					opts.BatchSize = 0
					opts.Batch = func(ctx context.Context, tx pgx.Tx, evs []events.BatchEvent) error {
						err := bh(ctx, tx, evs)
						if err == nil {
							inBatches.Add(int64(len(evs)))
						}
						return err
					}
				}
				c := events.NewConsumer(s.Pool, brokers, group, []string{topic}, handler, opts)
				cctx, stop := context.WithCancel(ctx)
				done := make(chan error, 1)
				go func() { done <- c.Run(cctx) }()
				deadline := time.Now().Add(3 * time.Minute)
				for count(t, s.Pool, `SELECT count(*) FROM inbox WHERE consumer = $1`, group) < len(evs) {
					if time.Now().After(deadline) {
						t.Fatalf("batched %v: %d of %d events consumed", batched, count(t, s.Pool, `SELECT count(*) FROM inbox WHERE consumer = $1`, group), len(evs))
					}
					time.Sleep(50 * time.Millisecond)
				}
				stop()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				return s.Pool, inBatches.Load()
			}
			onePool, _ := run(false)
			batchPool, inBatches := run(true)
			if inBatches < int64(len(evs))/2 {
				t.Errorf("%d of %d events applied by the batch handler, want most", inBatches, len(evs))
			}

			known := map[string]bool{}
			for _, ev := range evs {
				known[ev.ID] = true
			}
			one, batch := tableSnapshot(t, onePool, known), tableSnapshot(t, batchPool, known)
			for _, table := range snapshotTables {
				a, b := one[table.name], batch[table.name]
				if len(a) != len(b) {
					t.Errorf("%s: %d rows one at a time, %d in batches", table.name, len(a), len(b))
				}
				for i := range min(len(a), len(b)) {
					if a[i] != b[i] {
						t.Errorf("%s row %d differs:\n one at a time %s\n in batches    %s", table.name, i, a[i], b[i])
						break
					}
				}
			}
			for table, atLeast := range tc.atLeast {
				if n := len(one[table]); n < atLeast {
					t.Errorf("%s: %d rows, want at least %d (the stream should exercise it)", table, n, atLeast)
				}
			}
			if n := count(t, onePool, `SELECT count(*) FROM grade_changes WHERE to_grade < from_grade`); n < tc.rises {
				t.Errorf("%d grade changes for the better, want at least %d", n, tc.rises)
			}
			if n := count(t, batchPool, `SELECT count(*) FROM inbox WHERE outcome = 'dead-lettered'`); n != tc.deadLetter {
				t.Errorf("%d events dead-lettered in batches, want %d", n, tc.deadLetter)
			}
			t.Logf("%d events (%d applied by the batch handler): %d grade changes, %d notices, %d messages, %d outbox rows",
				len(evs), inBatches, len(one["grade_changes"]), len(one["notices"]), len(one["messages"]), len(one["outbox"]))
		})
	}
}

// snapshotTables are what TestBatchSameAsOneAtATime compares, each in an
// order: that of insertion where the table has one (seq, id), else a total
// order of the content (a village may get two notices alike but for their
// text; the outbox's order shows the order they were drafted in).
var snapshotTables = []struct{ name, sql string }{
	{"facts", `SELECT id, village, town, kind, subkind, at, ref, note FROM facts ORDER BY id`},
	{"ratings", `SELECT village, period, points, grade, computed_at, doc FROM ratings ORDER BY village, period`},
	{"grade_changes", `SELECT village, period, from_grade, to_grade, from_points, to_points, at, recorded_at, because FROM grade_changes
		ORDER BY village, period, from_points DESC, to_points DESC, at, because::text`},
	{"notices", `SELECT kind, village, town, period, grade, points, doc, html, status, drafted_at FROM notices
		ORDER BY village, period, points, kind, doc::text`},
	{"steps", `SELECT doc_kind, town, village, at, action, actor_id, note, evidence FROM supervision_steps ORDER BY seq`},
	{"outbox", `SELECT topic, key, headers - 'traceparent' - 'tracestate', convert_from(payload, 'UTF8') FROM outbox ORDER BY seq`},
	{"messages", `SELECT event_id, event_type, kind, title, body, link, roles, town, village, created_at FROM notify_messages ORDER BY id`},
	{"inbox", `SELECT event_id, outcome FROM inbox ORDER BY event_id`},
}

var uuidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// tableSnapshot reads snapshotTables, each row as one line, with the ids
// the service made (uuids other than the known events') replaced by their
// order of appearance in the table.
func tableSnapshot(t *testing.T, pool *pgxpool.Pool, known map[string]bool) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range snapshotTables {
		rows, err := pool.Query(context.Background(), table.sql)
		if err != nil {
			t.Fatalf("%s: %v", table.name, err)
		}
		made := map[string]string{}
		lines, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
			vals, err := row.Values()
			if err != nil {
				return "", err
			}
			var b strings.Builder
			for _, v := range vals {
				switch x := v.(type) {
				case time.Time:
					fmt.Fprintf(&b, "%s|", x.UTC().Format(time.RFC3339Nano))
				case map[string]any, []any:
					raw, _ := json.Marshal(x)
					fmt.Fprintf(&b, "%s|", raw)
				default:
					fmt.Fprintf(&b, "%v|", x)
				}
			}
			return uuidPattern.ReplaceAllStringFunc(b.String(), func(id string) string {
				if known[id] {
					return id
				}
				if made[id] == "" {
					made[id] = fmt.Sprintf("<id %d>", len(made)+1)
				}
				return made[id]
			}), nil
		})
		if err != nil {
			t.Fatalf("%s: %v", table.name, err)
		}
		out[table.name] = lines
	}
	return out
}
