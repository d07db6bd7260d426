package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// Villages of the sample town used as keys.
var villages = []string{"330283101201", "330283101202", "330283101203"}

const testType = "cn.wuxiao.workflow.test.happened.v1"

// payload is the data of test events: which village and its running number.
type payload struct {
	Village string `json:"village"`
	N       int    `json:"n"`
}

func testEvent(village string, n int) eventsv1.Event {
	data, _ := json.Marshal(payload{village, n})
	return eventsv1.Event{
		ID:      testinfra.UniqueName("ev-"),
		Source:  "/towns/xikou/workflow",
		Type:    testType,
		Subject: fmt.Sprintf("processes/%d", n),
		Time:    time.Now(),
		Town:    "xikou",
		Village: village,
		Data:    data,
	}
}

// testLogger keeps the relay and consumer quiet unless -v.
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("test", t.Name())
}

// openDB gives the test a fresh database with the events tables and a
// "received" table that test handlers write to (their "business effect").
func openDB(t testing.TB, opts ...store.Option) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, testinfra.Postgres(t), "svc", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE received (
		seq bigserial PRIMARY KEY, event_id text NOT NULL, village text NOT NULL, n int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return pool
}

// recordHandler is the business effect of a test consumer.
func recordHandler(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	var p payload
	if err := ev.Decode(&p); err != nil {
		return Permanent(err)
	}
	_, err := tx.Exec(ctx, `INSERT INTO received (event_id, village, n) VALUES ($1, $2, $3)`, ev.ID, p.Village, p.N)
	return err
}

func mustEnqueue(t testing.TB, pool *pgxpool.Pool, topic string, evs ...eventsv1.Event) {
	t.Helper()
	err := store.InTx(context.Background(), pool, func(tx pgx.Tx) error {
		for _, ev := range evs {
			if err := Enqueue(context.Background(), tx, topic, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// background runs fn until the test ends, then checks it returned nil.
func background(t testing.TB, fn func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var err error
	go func() {
		defer wg.Done()
		err = fn(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			if err != nil {
				t.Errorf("background run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls cond. The deadline only keeps a broken test from
// hanging until go test's timeout; nothing here asserts speed.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s; last state: %s", what, state)
		}
		time.Sleep(50 * time.Millisecond)
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

// receivedInOrder checks that the handler saw each village's events once,
// in the order they were enqueued (n = 0, 1, 2, ...), and want in total.
func receivedInOrder(t testing.TB, pool *pgxpool.Pool, want int) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT event_id, village, n FROM received ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	next := map[string]int{}
	seen := map[string]bool{}
	total := 0
	for rows.Next() {
		var id, village string
		var n int
		if err := rows.Scan(&id, &village, &n); err != nil {
			t.Fatal(err)
		}
		if seen[id] {
			t.Errorf("event %s applied twice", id)
		}
		seen[id] = true
		if n != next[village] {
			t.Errorf("village %s: got event %d, want %d (order broken)", village, n, next[village])
		}
		next[village] = n + 1
		total++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if total != want {
		t.Errorf("handler applied %d events, want %d", total, want)
	}
}

// readTopic returns every message on topic, partition by partition.
func readTopic(t testing.TB, brokers []string, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, done := client(brokers)
	defer done()
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	var out []kafka.Message
	for _, p := range meta.Topics[0].Partitions {
		offs, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
			topic: {kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID)}}})
		if err != nil {
			t.Fatal(err)
		}
		po := offs.Topics[topic][0]
		if po.Error != nil {
			t.Fatal(po.Error)
		}
		if po.LastOffset <= po.FirstOffset {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, MaxWait: time.Second})
		if err := r.SetOffset(po.FirstOffset); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("reading %s/%d: %v", topic, p.ID, err)
			}
			out = append(out, m)
			if m.Offset >= po.LastOffset-1 {
				break
			}
		}
		_ = r.Close()
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// testWriter writes like the relay. It has its own transport: kafka-go's
// shared default one answers from a metadata cache that may predate the
// test's topic, and the Writer reports Unknown Topic Or Partition without
// refreshing it.
func testWriter(t testing.TB, brokers []string) *kafka.Writer {
	tr := &kafka.Transport{}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Transport: tr, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Nanosecond}
	t.Cleanup(func() { _ = w.Close(); tr.CloseIdleConnections() })
	return w
}
