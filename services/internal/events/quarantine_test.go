package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// An event Kafka refuses as too large is quarantined (dead-lettered as a
// digest, stamped in the outbox, counted), and the events after it, of its
// own key too, are published in order instead of waiting behind it forever.
// Both refusals are covered: kafka-go's writer refuses a message above its
// batch limit (1 MiB) before sending, and the broker refuses one above the
// topic's max.message.bytes with MESSAGE_TOO_LARGE.
func TestRelayQuarantinesTooLargeEvents(t *testing.T) {
	for _, tc := range []struct {
		name string
		// maxMessageBytes is the topic's max.message.bytes ("" = broker default).
		maxMessageBytes string
		// title and subject are the free text that makes the event too
		// large: 80 KiB of "<" is 480 KiB of JSON data (each becomes
		// \u003c, under MaxDataBytes), and the subject header adds 600 KiB.
		title, subject string
	}{
		{"above the writer's limit", "", strings.Repeat("<", 80<<10), strings.Repeat("<", 600<<10)},
		{"above the topic's max.message.bytes", "65536", strings.Repeat("x", 100<<10), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := openDB(t)
			brokers := testinfra.KafkaBrokers(t)
			topic := testinfra.UniqueName("wuxiao.test.big.")
			dlq := eventsv1.DeadLetterTopic(topic)
			if tc.maxMessageBytes != "" {
				createTopicWithConfig(t, brokers, topic, "max.message.bytes", tc.maxMessageBytes)
			}
			testinfra.CreateTopics(t, brokers, 3, topic, dlq)
			reader := sdkmetric.NewManualReader()
			ropts := fastRelay(t)
			ropts.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

			// Round 0, the oversized event (villages[0], n 1000: never
			// expected), then rounds 1..N; several in the oversized one's
			// transaction and batch.
			const rounds = 6
			for _, v := range villages {
				mustEnqueue(t, pool, topic, testEvent(v, 0))
			}
			big := testEvent(villages[0], 1000)
			big.Data, _ = json.Marshal(map[string]any{"village": villages[0], "n": 1000, "title": tc.title})
			if tc.subject != "" {
				big.Subject = tc.subject
			}
			mustEnqueue(t, pool, topic, big, testEvent(villages[0], 1), testEvent(villages[1], 1))
			mustEnqueue(t, pool, topic, testEvent(villages[2], 1))
			for n := 2; n < rounds; n++ {
				for _, v := range villages {
					mustEnqueue(t, pool, topic, testEvent(v, n))
				}
			}
			background(t, NewRelay(pool, brokers, ropts).Run)
			background(t, NewConsumer(pool, brokers, testinfra.UniqueName("g-"), []string{topic}, recordHandler, fastConsumer(t)).Run)

			want := rounds * len(villages)
			waitFor(t, 2*time.Minute, "the events after the oversized one", func() (bool, string) {
				n := count(t, pool, `SELECT count(*) FROM received`)
				return n >= want, fmt.Sprintf("%d of %d applied; outbox: %s", n, want, outboxState(t, pool))
			})
			receivedInOrder(t, pool, want)
			waitFor(t, time.Minute, "the outbox drained", func() (bool, string) {
				n := count(t, pool, `SELECT count(*) FROM outbox WHERE published_at IS NULL AND quarantined_at IS NULL`)
				return n == 0, outboxState(t, pool)
			})
			var lastError string
			if err := pool.QueryRow(context.Background(), `SELECT last_error FROM outbox WHERE event_id = $1 AND quarantined_at IS NOT NULL AND published_at IS NULL`,
				big.ID).Scan(&lastError); err != nil {
				t.Fatalf("the oversized event is not quarantined in the outbox: %v; %s", err, outboxState(t, pool))
			}
			if !strings.Contains(lastError, "too large") {
				t.Errorf("quarantine reason %q", lastError)
			}
			if n := count(t, pool, `SELECT count(*) FROM outbox WHERE quarantined_at IS NOT NULL`); n != 1 {
				t.Errorf("%d rows quarantined, want 1", n)
			}

			// On the topic: everything but the oversized event.
			for _, m := range readTopic(t, brokers, topic) {
				if header(m, HeaderID) == big.ID {
					t.Errorf("the oversized event is on the topic")
				}
			}
			// On the dead-letter topic: its envelope, the reason and a digest.
			msgs := readTopic(t, brokers, dlq)
			if len(msgs) != 1 {
				t.Fatalf("%d messages on the dead-letter topic, want 1", len(msgs))
			}
			m := msgs[0]
			if header(m, HeaderID) != big.ID || header(m, HeaderType) != big.Type || header(m, HeaderVillage) != big.Village ||
				string(m.Key) != big.Key() || !strings.Contains(header(m, HeaderError), "too large") {
				t.Errorf("dead-letter message key %s headers %v", m.Key, m.Headers)
			}
			var d quarantinedData
			if err := json.Unmarshal(m.Value, &d); err != nil {
				t.Fatalf("dead-letter value: %v", err)
			}
			sum := sha256.Sum256(big.Data)
			if d.Size != len(big.Data) || d.SHA256 != hex.EncodeToString(sum[:]) || !strings.HasPrefix(string(big.Data), d.Head) || d.Head == "" {
				t.Errorf("digest size %d sha256 %s head %.40q; want %d %x", d.Size, d.SHA256, d.Head, len(big.Data), sum)
			}
			if len(m.Value) > 64<<10 {
				t.Errorf("dead-letter value of %d bytes", len(m.Value))
			}

			// Counted, for the alert.
			waitFor(t, time.Minute, "the quarantine metric", func() (bool, string) {
				var rm metricdata.ResourceMetrics
				if err := reader.Collect(context.Background(), &rm); err != nil {
					t.Fatal(err)
				}
				n := sumCounter(rm, "wuxiao.events.outbox.quarantined")
				return n == 1, fmt.Sprintf("wuxiao.events.outbox.quarantined = %d", n)
			})
		})
	}
}

// waitFor is eventually with a shorter deadline: a relay stuck behind the
// oversized event never gets there.
func waitFor(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting %s for %s; last state: %s", d, what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func outboxState(t testing.TB, pool *pgxpool.Pool) string {
	var pending, quarantined int
	var firstErr string
	err := pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE published_at IS NULL AND quarantined_at IS NULL),
		count(*) FILTER (WHERE quarantined_at IS NOT NULL),
		coalesce(left(min(last_error) FILTER (WHERE published_at IS NULL AND quarantined_at IS NULL), 200), '')
		FROM outbox`).Scan(&pending, &quarantined, &firstErr)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d pending, %d quarantined, error %q", pending, quarantined, firstErr)
}

// createTopicWithConfig creates topic (3 partitions) with one topic-level
// setting; testinfra.CreateTopics then waits for it and deletes it.
func createTopicWithConfig(t testing.TB, brokers []string, topic, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, done := client(brokers)
	defer done()
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: key, ConfigValue: value}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Errors[topic]; err != nil {
		t.Fatal(err)
	}
}
