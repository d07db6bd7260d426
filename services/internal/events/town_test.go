package events

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

func TestTopicTown(t *testing.T) {
	cases := []struct {
		topic, town string
		ok          bool
	}{
		{eventsv1.Topic("xikou", eventsv1.StreamWorkflow), "xikou", true},
		{eventsv1.Topic("jin-ping2", eventsv1.StreamTenantAcks), "jin-ping2", true},
		{eventsv1.DeadLetterTopic(eventsv1.Topic("xikou", eventsv1.StreamInspection)), "xikou", true},
		{"wuxiao.test.0a1b2c3d4e", "", false}, // testinfra.Topic: no stream
		{"wuxiao..workflow", "", false},
		{"other.xikou.workflow", "", false},
		{"wuxiao.xikou.workflow.extra", "", false},
	}
	for _, tc := range cases {
		if town, ok := TopicTown(tc.topic); town != tc.town || ok != tc.ok {
			t.Errorf("TopicTown(%q) = %q, %v; want %q, %v", tc.topic, town, ok, tc.town, tc.ok)
		}
	}
}

// An event on a town's topic that names another town is dead-lettered
// without reaching the handler (it would be filed under the topic's town);
// the town's own events around it are applied.
func TestConsumerDeadLettersAnotherTownsEvent(t *testing.T) {
	pool := openDB(t)
	brokers := testinfra.KafkaBrokers(t)
	town := testinfra.UniqueName("t")
	topic := eventsv1.Topic(town, eventsv1.StreamWorkflow)
	testinfra.CreateTopics(t, brokers, 1, topic, eventsv1.DeadLetterTopic(topic))

	own, foreign, later := testEvent(villages[0], 0), testEvent(villages[0], 1), testEvent(villages[0], 1)
	own.Town, later.Town = town, town // foreign keeps testEvent's town, xikou
	var msgs []kafka.Message
	for _, ev := range []eventsv1.Event{own, foreign, later} {
		m, err := Encode(context.Background(), topic, ev)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := testWriter(t, brokers).WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	group := testinfra.UniqueName("g-")
	background(t, NewConsumer(pool, brokers, group, []string{topic}, recordHandler, fastConsumer(t)).Run)

	eventually(t, "the town's event after the foreign one", func() (bool, string) {
		return count(t, pool, `SELECT count(*) FROM received WHERE event_id = $1`, later.ID) == 1, "not yet"
	})
	if n := count(t, pool, `SELECT count(*) FROM received WHERE event_id = $1`, foreign.ID); n != 0 {
		t.Errorf("the other town's event was applied")
	}
	// A batch applies the town's events and leaves the foreign one to the
	// one-at-a-time path, which dead-letters it after the batch's commit.
	eventually(t, "the other town's event recorded as dead-lettered", func() (bool, string) {
		n := count(t, pool, `SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = $2 AND outcome = 'dead-lettered'`, group, foreign.ID)
		return n == 1, fmt.Sprintf("%d inbox rows", n)
	})
	dead := readTopic(t, brokers, eventsv1.DeadLetterTopic(topic))
	if len(dead) != 1 || header(dead[0], HeaderID) != foreign.ID || !strings.Contains(header(dead[0], HeaderError), `town "xikou"`) {
		t.Fatalf("dead letters %d, want the other town's event with its reason", len(dead))
	}
}
