package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/platform"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// dlTown is a town of the test's own, so that its topics
// (wuxiao.<town>.<stream>[.dlq]) are the test's alone.
type dlTown struct {
	name    string
	brokers []string
	topic   string // the workflow stream
	dlq     string
	pool    *pgxpool.Pool
}

func newDLTown(t *testing.T) *dlTown {
	town := &dlTown{name: testinfra.UniqueName("dl"), brokers: testinfra.KafkaBrokers(t)}
	town.topic = eventsv1.Topic(town.name, eventsv1.StreamWorkflow)
	town.dlq = eventsv1.DeadLetterTopic(town.topic)
	testinfra.CreateTopics(t, town.brokers, 3, town.topic, town.dlq)
	ctx := context.Background()
	pool, err := store.Open(ctx, testinfra.Postgres(t), "svc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := events.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	// What the handlers apply: one row per consumer group and event.
	if _, err := pool.Exec(ctx, `CREATE TABLE applied (grp text NOT NULL, event_id text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	town.pool = pool
	return town
}

// dl runs "<service> dead-letters args..." against the town and returns
// what it printed.
func (town *dlTown) dl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runDeadLetters(t, append(args, "--town", town.name, "--kafka-brokers", strings.Join(town.brokers, ","))...)
}

func runDeadLetters(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var base config.Base
	root := &cobra.Command{Use: "workflow", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(platform.DeadLettersCommand(&base))
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"dead-letters"}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// consume runs a consumer of the town's workflow stream in group until the
// test ends; handler failures are what fail returns.
func (town *dlTown) consume(t *testing.T, group string, fail func(eventsv1.Event) error) {
	c := events.NewConsumer(town.pool, town.brokers, group, []string{town.topic},
		func(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
			if err := fail(ev); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO applied (grp, event_id) VALUES ($1, $2)`, group, ev.ID)
			return err
		},
		events.ConsumerOptions{BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, MaxWait: time.Second, SessionTimeout: 6 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.Run(ctx); err != nil {
			t.Errorf("consumer %s: %v", group, err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func (town *dlTown) publish(t *testing.T, evs ...eventsv1.Event) {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(town.brokers...), Transport: tr, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	for _, ev := range evs {
		m, err := events.Encode(context.Background(), town.topic, ev)
		if err != nil {
			t.Fatal(err)
		}
		m.Topic = ""
		w.Topic = town.topic
		if err := w.WriteMessages(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

// endOffsets is the next offset of each partition of topic.
func endOffsets(t *testing.T, brokers []string, topic string) map[int]int64 {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	res, err := c.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1), kafka.LastOffsetOf(2)}}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			t.Fatal(p.Error)
		}
		out[p.Partition] = p.LastOffset
	}
	return out
}

// caughtUp waits until group has committed every partition of the topic to
// its end: it has finished with every message there, replays included.
func (town *dlTown) caughtUp(t *testing.T, groups ...string) {
	t.Helper()
	end := endOffsets(t, town.brokers, town.topic)
	c := &kafka.Client{Addr: kafka.TCP(town.brokers...), Timeout: 10 * time.Second}
	for _, g := range groups {
		eventually(t, g+" caught up with "+fmt.Sprint(end), func() (bool, string) {
			res, err := c.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: g, Topics: map[string][]int{town.topic: {0, 1, 2}}})
			if err != nil {
				return false, err.Error()
			}
			got := map[int]int64{}
			for _, p := range res.Topics[town.topic] {
				got[p.Partition] = p.CommittedOffset
			}
			for p, e := range end {
				if e > 0 && got[p] < e {
					return false, fmt.Sprintf("committed %v", got)
				}
			}
			return true, ""
		})
	}
}

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute) // only keeps a broken test from hanging
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s: %s", what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (town *dlTown) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := town.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func dlEvent(town string, n int, data any) eventsv1.Event {
	raw, _ := json.Marshal(data)
	return eventsv1.Event{ID: testinfra.UniqueName("ev-"), Source: "/towns/" + town + "/workflow", Type: eventsv1.TypeInstanceCompleted,
		Subject: fmt.Sprintf("processes/%d", n), Time: time.Now(), Town: town, Village: "330283101201", Data: raw}
}

// An event a consumer dead-letters (its handler returns events.Permanent)
// is listed, shown with personal data masked, left alone by a dry run, and
// applied exactly once by its group after the handler is fixed and it is
// replayed, however often it is replayed; another group that had applied
// it skips the replays (inbox).
func TestDeadLettersListShowReplay(t *testing.T) {
	town := newDLTown(t)
	picky := "wuxiao-workflow-" + town.name // dead-letters until fixed
	other := "wuxiao-disclosure-" + town.name
	var fixed atomic.Bool
	town.consume(t, picky, func(ev eventsv1.Event) error {
		if !fixed.Load() && strings.Contains(string(ev.Data), "张小明") {
			return events.Permanent(errors.New("no process TN-1 in village 330283101201"))
		}
		return nil
	})
	town.consume(t, other, func(eventsv1.Event) error { return nil })

	bad := dlEvent(town.name, 1, map[string]any{
		"instanceId": "i-1", "trackingNumber": "TN-1", "title": "补贴发放 联系 138 1234 5678", "payeeName": "张小明",
		"amountFen": 120000, "reporterContact": "13912345678", "completedAt": time.Now()})
	good := dlEvent(town.name, 2, map[string]any{"instanceId": "i-2", "title": "修路"})
	town.publish(t, bad, good)
	town.caughtUp(t, picky, other)

	for _, tc := range []struct{ group, event, outcome string }{
		{picky, bad.ID, "dead-lettered"}, {picky, good.ID, "applied"}, {other, bad.ID, "applied"}, {other, good.ID, "applied"},
	} {
		if n := town.count(t, `SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = $2 AND outcome = $3`, tc.group, tc.event, tc.outcome); n != 1 {
			t.Fatalf("inbox of %s: %s is not %s", tc.group, tc.event, tc.outcome)
		}
	}

	// list: the one dead letter, pending.
	out, err := town.dl(t, "list")
	if err != nil {
		t.Fatalf("list: %v\n%s", err, out)
	}
	t.Logf("list:\n%s", out)
	row := rowOf(t, out, bad.ID)
	for _, want := range []string{"workflow.dlq/", "workflow.instance.completed.v1", "330283101201", picky, " 1 ", "pending", "no process TN-1"} {
		if !strings.Contains(row, want) {
			t.Errorf("list row %q lacks %q", row, want)
		}
	}
	if strings.Contains(out, good.ID) || !strings.Contains(out, "1 dead letters: 1 pending") {
		t.Errorf("list:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "--consumer", other}, "no dead letters"},
		{[]string{"list", "--stream", "complaint"}, "no dead letters"},
		{[]string{"list", "--stream", "workflow", "--pending"}, bad.ID},
		{[]string{"list", "-o", "json"}, `"payeeName": "张*明"`},
	} {
		if out, err := town.dl(t, tc.args...); err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("%v: %v\n%s", tc.args, err, out)
		}
	}

	// show: by event id and by the position list prints, masked.
	position := strings.Fields(row)[0]
	for _, ref := range []string{bad.ID, position} {
		out, err = town.dl(t, "show", ref)
		if err != nil {
			t.Fatalf("show %s: %v\n%s", ref, err, out)
		}
		var shown struct {
			Position, Consumer, Reason, State string
			Attempts                          int
			Event                             struct{ ID, Type, Village string }
			Data                              map[string]any
			Masked                            []string
		}
		if err := json.Unmarshal([]byte(out), &shown); err != nil {
			t.Fatalf("show %s is not one JSON object: %v\n%s", ref, err, out)
		}
		if shown.Event.ID != bad.ID || shown.Event.Type != bad.Type || shown.Consumer != picky || shown.State != "pending" ||
			shown.Attempts != 1 || !strings.HasSuffix(shown.Position, position) || !strings.Contains(shown.Reason, "no process") {
			t.Errorf("show %s:\n%s", ref, out)
		}
		for _, secret := range []string{"张小明", "13912345678", "1234 5678"} {
			if strings.Contains(out, secret) {
				t.Errorf("show %s prints %q:\n%s", ref, secret, out)
			}
		}
		if shown.Data["payeeName"] != "张*明" || shown.Data["reporterContact"] != "[withheld]" || shown.Data["trackingNumber"] != "TN-1" ||
			shown.Data["amountFen"] != float64(120000) || !strings.HasPrefix(shown.Data["title"].(string), "补贴发放 联系 138") {
			t.Errorf("show %s data: %v", ref, shown.Data)
		}
		if want := []string{"data.payeeName", "data.reporterContact", "data.title"}; fmt.Sprint(shown.Masked) != fmt.Sprint(want) {
			t.Errorf("show %s masked %v, want %v", ref, shown.Masked, want)
		}
	}

	// Dry runs write nothing, whatever selects the dead letters.
	before, beforeDLQ := endOffsets(t, town.brokers, town.topic), endOffsets(t, town.brokers, town.dlq)
	for _, args := range [][]string{{"--all"}, {"--id", bad.ID}, {"--all", "--consumer", picky, "--force"}} {
		out, err := town.dl(t, append([]string{"replay", "--dry-run"}, args...)...)
		if err != nil || !strings.Contains(out, "would replay "+town.dlq) || !strings.Contains(out, "dry run: 1 would be replayed, 0 skipped; nothing was written") {
			t.Errorf("replay --dry-run %v: %v\n%s", args, err, out)
		}
	}
	if after, afterDLQ := endOffsets(t, town.brokers, town.topic), endOffsets(t, town.brokers, town.dlq); fmt.Sprint(after, afterDLQ) != fmt.Sprint(before, beforeDLQ) {
		t.Errorf("a dry run moved the offsets: %v %v, then %v %v", before, beforeDLQ, after, afterDLQ)
	}

	// Replayed while the handler still fails: dead-lettered again, as a
	// new dead letter that says what it replays. Then fixed and replayed:
	// applied once by the group that dead-lettered it, skipped by the
	// other; replayed again (--force): still once.
	if n := town.count(t, `SELECT count(*) FROM applied WHERE grp = $1`, picky); n != 1 {
		t.Fatalf("%s applied %d events before the replay, want 1 (the good one)", picky, n)
	}
	for i, tc := range []struct {
		fixed       bool
		args        []string
		want        string
		replayedTo  bool
		wantApplied int // by picky
		wantList    string
	}{
		{false, []string{"--id", bad.ID}, "1 replayed, 0 skipped", true, 0, "2 dead letters: 1 pending, 1 replayed"},
		{true, []string{"--all"}, "1 replayed, 0 skipped", true, 1, "2 dead letters: 0 pending, 2 replayed"},
		{true, []string{"--all"}, "0 replayed, 1 skipped", false, 1, ""}, // one event: its latest dead letter only
		{true, []string{"--id", position}, "already replayed to " + town.topic, false, 1, ""},
		{true, []string{"--id", bad.ID, "--force"}, "1 replayed, 0 skipped", true, 1, "2 dead letters: 0 pending, 2 replayed"},
	} {
		fixed.Store(tc.fixed)
		out, err := town.dl(t, append([]string{"replay"}, tc.args...)...)
		t.Logf("replay %v:\n%s", tc.args, out)
		if err != nil || !strings.Contains(out, tc.want) || strings.Contains(out, "replayed "+town.dlq) != tc.replayedTo {
			t.Fatalf("replay %v (step %d): %v\n%s", tc.args, i, err, out)
		}
		town.caughtUp(t, picky, other)
		for g, want := range map[string]int{picky: tc.wantApplied, other: 1} {
			if n := town.count(t, `SELECT count(*) FROM applied WHERE grp = $1 AND event_id = $2`, g, bad.ID); n != want {
				t.Errorf("after replay step %d %s applied the event %d times, want %d", i, g, n, want)
			}
		}
		if tc.wantList != "" {
			eventually(t, "list: "+tc.wantList, func() (bool, string) {
				out, err := town.dl(t, "list")
				return err == nil && strings.Contains(out, tc.wantList), fmt.Sprint(out, err)
			})
		}
	}
	if n := town.count(t, `SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = $2 AND outcome = 'applied'`, picky, bad.ID); n != 1 {
		t.Errorf("the inbox of %s does not say applied", picky)
	}
	// The second dead letter names the first as what it replayed.
	out, err = town.dl(t, "show", bad.ID)
	if err != nil {
		t.Fatalf("show %s: %v\n%s", bad.ID, err, out)
	}
	var both []struct{ Position, ReplayOf string }
	if err := json.Unmarshal([]byte(out), &both); err != nil || len(both) != 2 || both[0].ReplayOf != "" || both[1].ReplayOf != both[0].Position {
		t.Errorf("show of an event dead-lettered twice: %v\n%s", err, out)
	}
	// Replays are marked so on the topic, and list says replayed.
	replays := 0
	for _, m := range readAll(t, town.brokers, town.topic) {
		if headerOf(m, events.HeaderID) == bad.ID && headerOf(m, events.HeaderReplayOf) != "" {
			replays++
			if !strings.HasPrefix(headerOf(m, events.HeaderReplayOf), town.dlq+"/") || headerOf(m, events.HeaderConsumer) != "" {
				t.Errorf("replay headers %v", m.Headers)
			}
		}
	}
	if replays != 3 {
		t.Errorf("%d replays on the topic, want 3", replays)
	}
}

// Dead letters that cannot be replayed (an event the relay quarantined as
// too large, a message that is no event) are listed as such and refused;
// errors name what is wrong.
func TestDeadLettersRefusals(t *testing.T) {
	town := newDLTown(t)
	ev := dlEvent(town.name, 1, map[string]any{"n": 1})
	quarantined, err := events.Encode(context.Background(), town.dlq, ev)
	if err != nil {
		t.Fatal(err)
	}
	quarantined.Value = []byte(`{"quarantined":"too large","size":2000000}`)
	quarantined.Headers = append(quarantined.Headers,
		kafka.Header{Key: events.HeaderError, Value: []byte("quarantined: Kafka refused the event as too large")},
		kafka.Header{Key: events.HeaderOrigin, Value: []byte(town.topic + "/outbox/7")})
	malformed := kafka.Message{Topic: town.dlq, Key: []byte("x"), Value: []byte("not json"), Headers: []kafka.Header{
		{Key: events.HeaderError, Value: []byte("malformed event: no ce_specversion header")},
		{Key: events.HeaderConsumer, Value: []byte("wuxiao-workflow-" + town.name)},
		{Key: events.HeaderOrigin, Value: []byte(town.topic + "/0/3")}}}
	w := &kafka.Writer{Addr: kafka.TCP(town.brokers...), Transport: &kafka.Transport{}, Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(context.Background(), quarantined, malformed); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()

	out, err := town.dl(t, "list")
	if err != nil || !strings.Contains(out, "2 dead letters: 0 pending, 0 replayed, 2 not replayable") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	malformedAt := strings.Fields(rowOf(t, out, "malformed event"))[0]
	before := endOffsets(t, town.brokers, town.topic)
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string // "" for none
		want    string
	}{
		{"quarantined by id", []string{"replay", "--id", ev.ID}, "cannot be replayed", "quarantined by the outbox relay"},
		{"all skips both", []string{"replay", "--all"}, "", "0 replayed, 2 skipped"},
		{"unknown id", []string{"replay", "--id", "no-such-event"}, `no such dead letter "no-such-event"`, ""},
		{"unknown id shown", []string{"show", "no-such-event"}, "no such dead letter", ""},
		{"neither --id nor --all", []string{"replay"}, "give either --id", ""},
		{"both --id and --all", []string{"replay", "--all", "--id", ev.ID}, "give either --id", ""},
		{"unknown output", []string{"list", "-o", "yaml"}, "give table or json", ""},
		{"show a malformed one", []string{"show", malformedAt}, "", `"dataText": "not json"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := town.dl(t, tc.args...)
			if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) || !strings.Contains(out, tc.want) {
				t.Errorf("%v: error %v, want %q\n%s", tc.args, err, tc.wantErr, out)
			}
		})
	}
	if after := endOffsets(t, town.brokers, town.topic); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("refused replays wrote to the topic: %v then %v", before, after)
	}

	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
		usage   bool
	}{
		{"no brokers", []string{"list", "--town", "xikou"}, "no Kafka brokers", true},
		{"no town", []string{"list", "--kafka-brokers", "127.0.0.1:9092"}, "no town", true},
		{"broker unreachable", []string{"list", "--town", "xikou", "--kafka-brokers", "127.0.0.1:1", "--timeout", "20s"}, "cannot reach Kafka at 127.0.0.1:1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(config.EnvKafkaBrokers, "")
			t.Setenv(config.EnvTown, "")
			_, err := runDeadLetters(t, tc.args...)
			var ue *config.UsageError
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.As(err, &ue) != tc.usage {
				t.Errorf("%v: error %v, want %q (usage error: %v)", tc.args, err, tc.wantErr, tc.usage)
			}
		})
	}
}

func headerOf(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// rowOf is the line of a list table that names id.
func rowOf(t *testing.T, table, id string) string {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		if strings.Contains(line, id) {
			return line
		}
	}
	t.Fatalf("no row for %s in\n%s", id, table)
	return ""
}

// readAll returns every message of the topic's three partitions.
func readAll(t *testing.T, brokers []string, topic string) []kafka.Message {
	t.Helper()
	var out []kafka.Message
	for p, end := range endOffsets(t, brokers, topic) {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("reading %s/%d: %v", topic, p, err)
			}
			out = append(out, m)
			if m.Offset >= end-1 {
				break
			}
		}
		cancel()
		_ = r.Close()
	}
	return out
}
