package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// EnsureTopics creates the topics that do not exist yet (brokers never
// auto-create them) and waits until the cluster's metadata lists each with
// its partitions led by a broker, or ctx ends. Existing topics are left as
// they are, whatever their partition count.
func EnsureTopics(ctx context.Context, brokers []string, partitions, replicationFactor int, topics ...string) error {
	if len(brokers) == 0 {
		return errors.New("ensuring topics: no Kafka brokers")
	}
	if len(topics) == 0 {
		return nil
	}
	configs := make([]kafka.TopicConfig, len(topics))
	for i, t := range topics {
		configs[i] = kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replicationFactor}
	}
	for attempt := 1; ; attempt++ {
		err := createTopics(ctx, brokers, configs)
		if err == nil {
			err = topicsReady(ctx, brokers, topics)
		}
		if err == nil {
			return nil
		}
		if !sleep(ctx, backoff(attempt, 50*time.Millisecond, time.Second)) {
			return fmt.Errorf("ensuring topics %v: %w (last error: %w)", topics, ctx.Err(), err)
		}
	}
}

// A fresh transport each time: kafka-go's transports answer metadata
// requests from a cache refreshed every few seconds, which would hide a
// topic created by someone else a moment ago.
func client(brokers []string) (*kafka.Client, func()) {
	t := &kafka.Transport{DialTimeout: 5 * time.Second}
	return &kafka.Client{Addr: kafka.TCP(brokers...), Transport: t, Timeout: 10 * time.Second}, t.CloseIdleConnections
}

func createTopics(ctx context.Context, brokers []string, configs []kafka.TopicConfig) error {
	c, done := client(brokers)
	defer done()
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: configs})
	if err != nil {
		return err
	}
	var errs []error
	for topic, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("creating topic %s: %w", topic, err))
		}
	}
	return errors.Join(errs...)
}

func topicsReady(ctx context.Context, brokers []string, topics []string) error {
	c, done := client(brokers)
	defer done()
	res, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return err
	}
	found := map[string]kafka.Topic{}
	for _, t := range res.Topics {
		found[t.Name] = t
	}
	for _, name := range topics {
		t, ok := found[name]
		switch {
		case !ok:
			return fmt.Errorf("topic %s is not in the metadata yet", name)
		case t.Error != nil:
			return fmt.Errorf("topic %s: %w", name, t.Error)
		case len(t.Partitions) == 0:
			return fmt.Errorf("topic %s has no partitions yet", name)
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				return fmt.Errorf("topic %s partition %d has no leader yet", name, p.ID)
			}
		}
	}
	return nil
}
