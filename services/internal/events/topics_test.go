package events

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

func TestEnsureTopics(t *testing.T) {
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.UniqueName("wuxiao.test.ensure.")
	topics := []string{topic, eventsv1.DeadLetterTopic(topic)}
	t.Cleanup(func() {
		c, done := client(brokers)
		defer done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := EnsureTopics(ctx, brokers, 4, 1, topics...); err != nil {
		t.Fatal(err)
	}
	// Again: existing topics are fine, and left as they are.
	if err := EnsureTopics(ctx, brokers, 2, 1, topics...); err != nil {
		t.Fatalf("second call: %v", err)
	}
	c, done := client(brokers)
	defer done()
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Topics) != 2 {
		t.Fatalf("metadata lists %d topics, want 2", len(meta.Topics))
	}
	for _, tp := range meta.Topics {
		if tp.Error != nil || len(tp.Partitions) != 4 {
			t.Errorf("topic %s: %d partitions (%v), want 4", tp.Name, len(tp.Partitions), tp.Error)
		}
	}
	// A replication factor the single test broker cannot satisfy is an
	// error once ctx ends, not a hang.
	short, cancel2 := context.WithTimeout(ctx, 3*time.Second)
	defer cancel2()
	if err := EnsureTopics(short, brokers, 1, 3, testinfra.UniqueName("wuxiao.test.rf3.")); err == nil {
		t.Error("replication factor 3 on one broker: no error")
	}
}
