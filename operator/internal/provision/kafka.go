package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
)

// TownTopics lists every topic of a town: each stream's and its dead-letter
// topic, sorted.
func TownTopics(town string) []string {
	var topics []string
	for _, s := range eventsv1.Streams {
		t := eventsv1.Topic(town, s)
		topics = append(topics, t, eventsv1.DeadLetterTopic(t))
	}
	slices.Sort(topics)
	return topics
}

// A fresh transport each time: kafka-go's transports answer metadata
// requests from a cache, which would hide a topic created a moment ago.
// Its metadata is limited to the topics at hand: by default a transport
// loads (and keeps) the layout of every topic on the cluster, hundreds of
// KiB on a shared Kafka, which made the operator's memory grow with every
// village it registered (hack/bench/scale, heap profile).
func kafkaClient(brokers, topics []string) (*kafka.Client, func()) {
	t := &kafka.Transport{DialTimeout: 5 * time.Second, MetadataTopics: topics}
	return &kafka.Client{Addr: kafka.TCP(brokers...), Transport: t, Timeout: 10 * time.Second}, t.CloseIdleConnections
}

// EnsureTopics creates the topics that do not exist (brokers never
// auto-create them) with the given partitions and replication factor, and
// returns those whose every partition has a leader. Existing topics are left
// as they are. It creates nothing when all topics exist: the steady state
// costs one metadata request.
func EnsureTopics(ctx context.Context, brokers []string, partitions, replicationFactor int, topics []string) (ready []string, err error) {
	ctx, span := start(ctx, "kafka ensure topics", trace.SpanKindClient,
		attribute.String("messaging.system", "kafka"), attribute.Int("wuxiao.topics", len(topics)))
	defer func() {
		span.SetAttributes(attribute.Int("wuxiao.topics.ready", len(ready)))
		finish(span, err)
	}()
	if len(brokers) == 0 {
		return nil, errors.New("no Kafka bootstrap servers")
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, done := kafkaClient(brokers, topics)
	defer done()
	ready, missing, err := topicsReady(ctx, c, topics)
	if err != nil || len(missing) == 0 {
		return ready, err
	}
	configs := make([]kafka.TopicConfig, len(missing))
	for i, t := range missing {
		configs[i] = kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replicationFactor}
	}
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: configs})
	if err != nil {
		return ready, fmt.Errorf("creating topics on %v: %w", brokers, err)
	}
	var errs []error
	for topic, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("creating topic %s: %w", topic, err))
		}
	}
	if len(errs) > 0 {
		return ready, errors.Join(errs...)
	}
	// New topics take a moment to get leaders. A fresh client per look: a
	// transport's metadata limited to these topics already lists them (as
	// unknown) and would refresh only after its TTL.
	for {
		c, done := kafkaClient(brokers, topics)
		ready, missing, err = topicsReady(ctx, c, topics)
		done()
		if err != nil || len(missing) == 0 {
			return ready, err
		}
		select {
		case <-ctx.Done():
			return ready, fmt.Errorf("topics %v not ready: %w", missing, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func topicsReady(ctx context.Context, c *kafka.Client, topics []string) (ready, missing []string, err error) {
	res, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, nil, fmt.Errorf("reading topic metadata: %w", err)
	}
	found := map[string]kafka.Topic{}
	for _, t := range res.Topics {
		found[t.Name] = t
	}
	for _, name := range topics {
		t, ok := found[name]
		ok = ok && t.Error == nil && len(t.Partitions) > 0
		for _, p := range t.Partitions {
			ok = ok && p.Error == nil && p.Leader.Host != ""
		}
		if ok {
			ready = append(ready, name)
		} else {
			missing = append(missing, name)
		}
	}
	return ready, missing, nil
}

// writers keeps one Writer per brokers and topic (a town's tenant stream),
// with its connection and the topic's metadata, for the operator's life: a
// fresh one per event cost a connection and a metadata round trip, and
// bounded onboarding (hack/bench/scale: every village worker waited there).
// Its metadata covers only its topic, refreshed every few seconds; the
// topic exists before the first event (the Town lists it in
// status.topics once it has leaders), so the cache is never asked about
// an unknown topic.
var writers sync.Map // string -> *kafka.Writer

func writerFor(brokers []string, topic string) *kafka.Writer {
	key := strings.Join(brokers, ",") + "/" + topic
	if w, ok := writers.Load(key); ok {
		return w.(*kafka.Writer)
	}
	t := &kafka.Transport{DialTimeout: 5 * time.Second, MetadataTopics: []string{topic}} // see kafkaClient
	// A writer sends one produce request per partition at a time: events
	// published meanwhile (several villages of a town onboarding at once)
	// go together in the next one instead of queueing one by one.
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Transport: t,
		Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchSize: 100, BatchTimeout: 5 * time.Millisecond}
	if prev, loaded := writers.LoadOrStore(key, w); loaded {
		return prev.(*kafka.Writer)
	}
	return w
}

// Publish writes one event to topic in CloudEvents binary mode (see
// api/events/v1): consumers deduplicate by its id, so publishing it again
// after a failure is harmless. The event carries the W3C trace context of a
// producer span "send <topic>", a child of ctx's span (the reconcile), so
// the services' processing of it, and their acknowledgements, join the
// operator's trace.
func Publish(ctx context.Context, brokers []string, topic string, ev eventsv1.Event) (err error) {
	if err := ev.Validate(); err != nil {
		return err
	}
	ctx, span := start(ctx, "send "+topic, trace.SpanKindProducer,
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.operation.type", "send"),
		attribute.String("messaging.destination.name", topic),
		attribute.String("messaging.kafka.message.key", ev.Key()),
		attribute.String("messaging.message.id", ev.ID),
		attribute.String("cloudevents.event_type", ev.Type))
	defer func() { finish(span, err) }()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	w := writerFor(brokers, topic)
	h := func(k, v string) kafka.Header { return kafka.Header{Key: k, Value: []byte(v)} }
	headers := []kafka.Header{
		h("ce_specversion", eventsv1.SpecVersion), h("ce_id", ev.ID), h("ce_source", ev.Source),
		h("ce_type", ev.Type), h("ce_time", ev.Time.UTC().Format(time.RFC3339Nano)),
		h("ce_town", ev.Town), h("content-type", eventsv1.ContentType),
	}
	if ev.Subject != "" {
		headers = append(headers, h("ce_subject", ev.Subject))
	}
	if ev.DataSchema != "" {
		headers = append(headers, h("ce_dataschema", ev.DataSchema))
	}
	if ev.Village != "" {
		headers = append(headers, h("ce_village", ev.Village))
	}
	traceContext.Inject(ctx, eventsv1.HeaderCarrier{Headers: &headers}) // traceparent, tracestate (eventsv1.HeaderTraceParent)
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(ev.Key()), Value: ev.Data, Headers: headers}); err != nil {
		return fmt.Errorf("publishing %s to %s: %w", ev.Type, topic, err)
	}
	return nil
}
