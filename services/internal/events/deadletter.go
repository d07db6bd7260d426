package events

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
)

// Headers a replay adds to the message it puts back on the original topic.
// A replay dead-lettered again keeps them (the consumer strips only its own
// x-wuxiao-* headers), so its new dead letter says what it is a replay of.
const (
	// HeaderReplayOf is the position (topic/partition/offset) of the dead
	// letter the message replays.
	HeaderReplayOf = "x-wuxiao-replay-of"
	// HeaderReplayedAt is when it was replayed (RFC 3339).
	HeaderReplayedAt = "x-wuxiao-replayed-at"
)

// DeadLetter is one message on a town's dead-letter topic: an event a
// consumer gave up on (or that the outbox relay quarantined), with the
// reason and where it came from.
type DeadLetter struct {
	// Topic, Partition and Offset locate the message on the dead-letter topic.
	Topic     string
	Partition int
	Offset    int64
	// Time is when it was dead-lettered (the message's timestamp).
	Time time.Time
	// OriginTopic is the topic the event was read from (Topic without .dlq).
	OriginTopic string
	// Origin is x-wuxiao-origin: topic/partition/offset of the original
	// message, or topic/outbox/seq for an event the relay quarantined.
	Origin string
	// The event's CloudEvents attributes, as found in the headers.
	EventID, Type, Town, Village, Subject string
	EventTime                             time.Time
	// Consumer is the consumer group that dead-lettered the event; empty
	// when the outbox relay quarantined it.
	Consumer string
	Reason   string
	Attempts int
	// ReplayOf is set when this dead letter is itself a replay that failed
	// again: the position of the dead letter it replayed.
	ReplayOf string
	// Replayed is set when a replay of this dead letter is on OriginTopic.
	Replayed *Replay
	// NotReplayable says why the message cannot be replayed ("" if it can).
	NotReplayable string

	Key, Value []byte
	Headers    []kafka.Header
}

// Position is the dead letter's unique name: topic/partition/offset.
func (d DeadLetter) Position() string { return fmt.Sprintf("%s/%d/%d", d.Topic, d.Partition, d.Offset) }

// Replay is a replayed dead letter on its original topic.
type Replay struct {
	Topic     string
	Partition int
	Offset    int64
	Time      time.Time
}

// Position is topic/partition/offset of the replayed message.
func (r Replay) Position() string { return fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset) }

// DeadLetters reads and replays the dead-letter topics of one town
// (eventsv1.DeadLetterTopic of each of its streams). It needs only Kafka:
// a replay goes back to the original topic with the event's id unchanged,
// so every consumer group of that topic reads it again and the inbox of a
// group that had applied it skips it, while the group that dead-lettered it
// applies it (Consumer.apply accepts a dead-lettered event again when it
// comes from another position).
type DeadLetters struct {
	Brokers []string
	Town    string
	// ReplayWindow is how far before the oldest dead letter the original
	// topics are searched for earlier replays (clock skew between the pod
	// that dead-lettered and the one that replayed) [1h].
	ReplayWindow time.Duration
}

// ErrNoDeadLetter is returned by Find when nothing matches.
var ErrNoDeadLetter = errors.New("no such dead letter")

// Topics returns the town's dead-letter topics that exist, sorted.
func (d *DeadLetters) Topics(ctx context.Context) ([]string, error) {
	if err := d.Check(); err != nil {
		return nil, err
	}
	want := make([]string, 0, len(eventsv1.Streams))
	for _, s := range eventsv1.Streams {
		want = append(want, eventsv1.DeadLetterTopic(eventsv1.Topic(d.Town, s)))
	}
	parts, err := d.partitions(ctx, want)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(parts))
	for t := range parts {
		out = append(out, t)
	}
	slices.Sort(out)
	return out, nil
}

// Check reports a missing town or broker list.
func (d *DeadLetters) Check() error {
	switch {
	case len(d.Brokers) == 0:
		return errors.New("no Kafka brokers (--kafka-brokers)")
	case d.Town == "":
		return errors.New("no town (--town)")
	}
	return nil
}

// List returns every dead letter of the town, oldest first, each marked
// Replayed when a replay of it is found on its original topic.
func (d *DeadLetters) List(ctx context.Context) ([]DeadLetter, error) {
	topics, err := d.Topics(ctx)
	if err != nil {
		return nil, err
	}
	c, done := client(d.Brokers)
	defer done()
	parts, err := d.partitions(ctx, topics)
	if err != nil {
		return nil, err
	}
	var out []DeadLetter
	for _, topic := range topics {
		for _, p := range parts[topic] {
			err := scanPartition(ctx, c, topic, p, kafka.FirstOffset, func(m kafka.Message) {
				out = append(out, deadLetter(m))
			})
			if err != nil {
				return nil, err
			}
		}
	}
	slices.SortStableFunc(out, func(a, b DeadLetter) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	if err := d.markReplayed(ctx, c, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Find returns the dead letters ref names: a position (topic/partition/offset,
// as List shows it) or an event id (every dead letter of that event).
func Find(list []DeadLetter, ref string) ([]DeadLetter, error) {
	var out []DeadLetter
	for _, dl := range list {
		// A position may leave out the "wuxiao.<town>." prefix.
		if pos := dl.Position(); pos == ref || dl.EventID == ref || (strings.Contains(ref, "/") && strings.HasSuffix(pos, "."+ref)) {
			out = append(out, dl)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w %q: give an event id or a position (topic/partition/offset) that list shows", ErrNoDeadLetter, ref)
	}
	return out, nil
}

// deadLetter reads what a dead-letter message says about itself.
func deadLetter(m kafka.Message) DeadLetter {
	h := headerMap(m.Headers)
	dl := DeadLetter{
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Time: m.Time,
		OriginTopic: strings.TrimSuffix(m.Topic, ".dlq"),
		Origin:      h[HeaderOrigin],
		EventID:     h[HeaderID], Type: h[HeaderType], Town: h[HeaderTown], Village: h[HeaderVillage], Subject: h[HeaderSubject],
		Consumer: h[HeaderConsumer], Reason: h[HeaderError], ReplayOf: h[HeaderReplayOf],
		Key: m.Key, Value: m.Value, Headers: m.Headers,
	}
	dl.Attempts, _ = strconv.Atoi(h[HeaderAttempts])
	if t, err := time.Parse(time.RFC3339Nano, h[HeaderTime]); err == nil {
		dl.EventTime = t
	}
	orig := m
	orig.Topic = dl.OriginTopic
	switch _, err := Decode(orig); {
	case strings.Contains(dl.Origin, "/outbox/") || (dl.Consumer == "" && strings.HasPrefix(dl.Reason, "quarantined")):
		dl.NotReplayable = "quarantined by the outbox relay (too large for Kafka): only a digest of its data is here; the event is in the outbox table"
	case dl.OriginTopic == m.Topic:
		dl.NotReplayable = "not on a dead-letter topic"
	case err != nil:
		dl.NotReplayable = "not a valid event, a replay would be dead-lettered again: " + err.Error()
	}
	return dl
}

// ReplayMessage is the message Replay writes for dl: the original key,
// data and headers (trace context included) on the original topic, without
// the dead-lettering headers, plus HeaderReplayOf and HeaderReplayedAt.
func ReplayMessage(dl DeadLetter, at time.Time) kafka.Message {
	headers := make([]kafka.Header, 0, len(dl.Headers)+2)
	for _, h := range dl.Headers {
		switch h.Key {
		case HeaderError, HeaderAttempts, HeaderConsumer, HeaderOrigin, HeaderReplayOf, HeaderReplayedAt:
		default:
			headers = append(headers, h)
		}
	}
	headers = append(headers,
		kafka.Header{Key: HeaderReplayOf, Value: []byte(dl.Position())},
		kafka.Header{Key: HeaderReplayedAt, Value: []byte(at.UTC().Format(time.RFC3339Nano))})
	return kafka.Message{Topic: dl.OriginTopic, Key: dl.Key, Value: dl.Value, Headers: headers, Time: at}
}

// Replay puts dl back on its original topic, on the partition of its key
// (murmur2, as the relay), with acks from all in-sync replicas, and returns
// where it went. It refuses a dead letter that cannot be replayed, and one
// already replayed unless force.
func (d *DeadLetters) Replay(ctx context.Context, dl DeadLetter, force bool) (Replay, error) {
	switch {
	case dl.NotReplayable != "":
		return Replay{}, fmt.Errorf("dead letter %s cannot be replayed: %s", dl.Position(), dl.NotReplayable)
	case dl.Replayed != nil && !force:
		return Replay{}, fmt.Errorf("dead letter %s was already replayed to %s at %s (--force replays it again)",
			dl.Position(), dl.Replayed.Position(), dl.Replayed.Time.UTC().Format(time.RFC3339))
	}
	p, err := d.ReplayPartition(ctx, dl)
	if err != nil {
		return Replay{}, err
	}
	now := time.Now()
	m := ReplayMessage(dl, now)
	c, done := client(d.Brokers)
	defer done()
	res, err := c.Produce(ctx, &kafka.ProduceRequest{
		Topic: m.Topic, Partition: p, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(kafka.Record{Time: now, Key: kafka.NewBytes(m.Key), Value: kafka.NewBytes(m.Value), Headers: m.Headers}),
	})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return Replay{}, fmt.Errorf("replaying %s to %s: %w", dl.Position(), m.Topic, brokerErr(c, err))
	}
	return Replay{Topic: m.Topic, Partition: p, Offset: res.BaseOffset, Time: now}, nil
}

// ReplayPartition is the partition of dl's original topic a replay goes
// to: that of its key, where the event's village has its other events.
func (d *DeadLetters) ReplayPartition(ctx context.Context, dl DeadLetter) (int, error) {
	parts, err := d.partitions(ctx, []string{dl.OriginTopic})
	if err != nil {
		return 0, err
	}
	ps := parts[dl.OriginTopic]
	if len(ps) == 0 {
		return 0, fmt.Errorf("replaying %s: topic %s does not exist", dl.Position(), dl.OriginTopic)
	}
	return kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: dl.Key}, ps...), nil
}

// markReplayed sets Replayed on each dead letter whose replay is on its
// original topic, searching each original topic from a little before its
// oldest dead letter.
func (d *DeadLetters) markReplayed(ctx context.Context, c *kafka.Client, list []DeadLetter) error {
	since := map[string]time.Time{}
	byPos := map[string]*DeadLetter{}
	for i := range list {
		dl := &list[i]
		if dl.NotReplayable != "" {
			continue
		}
		byPos[dl.Position()] = dl
		if t, ok := since[dl.OriginTopic]; !ok || dl.Time.Before(t) {
			since[dl.OriginTopic] = dl.Time
		}
	}
	if len(since) == 0 {
		return nil
	}
	window := d.ReplayWindow
	if window <= 0 {
		window = time.Hour
	}
	topics := make([]string, 0, len(since))
	for t := range since {
		topics = append(topics, t)
	}
	parts, err := d.partitions(ctx, topics)
	if err != nil {
		return err
	}
	for _, topic := range topics {
		for _, p := range parts[topic] {
			start, err := offsetAt(ctx, c, topic, p, since[topic].Add(-window))
			if err != nil {
				return brokerErr(c, err)
			}
			err = scanPartition(ctx, c, topic, p, start, func(m kafka.Message) {
				of := headerValue(m, HeaderReplayOf)
				if dl := byPos[of]; dl != nil && (dl.Replayed == nil || m.Time.After(dl.Replayed.Time)) {
					dl.Replayed = &Replay{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Time: m.Time}
				}
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// partitions returns the partition ids of each of topics that exists.
func (d *DeadLetters) partitions(ctx context.Context, topics []string) (map[string][]int, error) {
	c, done := client(d.Brokers)
	defer done()
	res, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, brokerErr(c, err)
	}
	out := map[string][]int{}
	for _, t := range res.Topics {
		if t.Error != nil {
			if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
				continue
			}
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			out[t.Name] = append(out[t.Name], p.ID)
		}
		slices.Sort(out[t.Name])
	}
	return out, nil
}

// brokerErr says plainly that Kafka could not be reached, when so.
func brokerErr(c *kafka.Client, err error) error {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cannot reach Kafka at %s: %w", c.Addr, err)
	}
	return err
}

// offsetAt is the first offset of topic/partition whose timestamp is at or
// after t; the end of the partition when there is none.
func offsetAt(ctx context.Context, c *kafka.Client, topic string, partition int, t time.Time) (int64, error) {
	res, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.LastOffsetOf(partition), kafka.TimeOffsetOf(partition, t)}}})
	if err != nil {
		return 0, err
	}
	for _, po := range res.Topics[topic] {
		if po.Partition != partition {
			continue
		}
		if po.Error != nil {
			return 0, fmt.Errorf("offsets of %s/%d: %w", topic, partition, po.Error)
		}
		start := po.LastOffset
		for off := range po.Offsets {
			if off >= 0 && off < start {
				start = off
			}
		}
		return start, nil
	}
	return 0, fmt.Errorf("offsets of %s/%d: not in the answer", topic, partition)
}

// scanPartition calls fn with every message of topic/partition from offset
// from (kafka.FirstOffset: the oldest kept) to the end as it was when the
// scan began.
func scanPartition(ctx context.Context, c *kafka.Client, topic string, partition int, from int64, fn func(kafka.Message)) error {
	res, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(partition), kafka.LastOffsetOf(partition)}}})
	if err != nil {
		return fmt.Errorf("offsets of %s/%d: %w", topic, partition, brokerErr(c, err))
	}
	var first, last int64 = 0, -1
	for _, po := range res.Topics[topic] {
		if po.Partition == partition {
			if po.Error != nil {
				return fmt.Errorf("offsets of %s/%d: %w", topic, partition, po.Error)
			}
			first, last = po.FirstOffset, po.LastOffset
		}
	}
	off := max(from, first)
	for off < last {
		fr, err := c.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: partition, Offset: off,
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 500 * time.Millisecond})
		if err == nil {
			err = fr.Error
		}
		if err != nil {
			return fmt.Errorf("reading %s/%d at offset %d: %w", topic, partition, off, brokerErr(c, err))
		}
		next, err := readRecords(fr, topic, partition, off, last, fn)
		if err != nil {
			return fmt.Errorf("reading %s/%d at offset %d: %w", topic, partition, off, err)
		}
		if next == off {
			// Nothing readable left below the end (aborted or compacted
			// records): the rest of the partition holds no message.
			break
		}
		off = next
	}
	return nil
}

// readRecords hands fn the records of one fetch response from offset from,
// below last, and returns the offset after the last one read.
func readRecords(fr *kafka.FetchResponse, topic string, partition int, from, last int64, fn func(kafka.Message)) (int64, error) {
	next := from
	for {
		r, err := fr.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			return next, nil
		}
		if err != nil {
			return next, err
		}
		if r.Offset < from || r.Offset >= last {
			continue
		}
		m := kafka.Message{Topic: topic, Partition: partition, Offset: r.Offset, Time: r.Time, Headers: slices.Clone(r.Headers)}
		if r.Key != nil {
			if m.Key, err = kafka.ReadAll(r.Key); err != nil {
				return next, err
			}
		}
		if r.Value != nil {
			if m.Value, err = kafka.ReadAll(r.Value); err != nil {
				return next, err
			}
		}
		fn(m)
		next = r.Offset + 1
	}
}
