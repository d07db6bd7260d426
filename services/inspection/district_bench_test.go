package inspection

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// districtEvents generates the seed district's streams: 12 towns, 347
// villages announced, then n inspection events (changes of grade, visits,
// orders, interviews in turn), keyed by village as the relay keys them.
func districtEvents(b testing.TB, towns []string, n int) map[string][]kafka.Message {
	b.Helper()
	out := map[string][]kafka.Message{}
	add := func(town, stream string, ev eventsv1.Event) {
		topic := eventsv1.Topic(town, stream)
		m, err := events.Encode(context.Background(), topic, ev)
		if err != nil {
			b.Fatal(err)
		}
		out[topic] = append(out[topic], m)
	}
	type village struct{ town, code string }
	var villages []village
	for i := range districtVillages {
		town := towns[i%len(towns)]
		code := fmt.Sprintf("3302831%02d%03d", i%len(towns), i)
		villages = append(villages, village{town, code})
		add(town, eventsv1.StreamTenant, tenantEvent(b, town, code, fmt.Sprintf("村%03d", i), 1))
	}
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, Shanghai)
	grades := []string{"A", "B", "C", "D"}
	for i := range n {
		v := villages[i%len(villages)]
		at = at.Add(time.Minute)
		var typ string
		var data any
		switch i % 4 {
		case 0:
			typ, data = eventsv1.TypeRatingChanged, eventsv1.RatingChanged{Village: v.code, Period: "2026", From: "A", To: grades[i/4%4], Points: 90, At: at}
		case 1:
			typ, data = eventsv1.TypeVisitRecorded, eventsv1.VisitRecorded{TourID: uuid.NewString(), Village: v.code, Date: at.Format(time.DateOnly), Period: "2026"}
		case 2:
			typ, data = eventsv1.TypeOrderIssued, eventsv1.OrderIssued{Number: fmt.Sprintf("奉纪督〔2026〕%d号", i), Colour: "blue", Situation: "duty-02",
				Village: v.code, IssuedAt: at, Deadline: at.AddDate(0, 0, 30)}
		default:
			typ, data = eventsv1.TypeInterviewRecorded, eventsv1.InterviewRecorded{InterviewID: uuid.NewString(), Village: v.code, HeldAt: at}
		}
		raw, err := json.Marshal(data)
		if err != nil {
			b.Fatal(err)
		}
		add(v.town, eventsv1.StreamInspection, eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + v.town + "/inspection", Type: typ,
			Time: at.UTC(), Town: v.town, Village: v.code, Data: raw})
	}
	return out
}

// BenchmarkDistrictProjection runs the district feed (fixed towns) over
// the 24 real topics of a 12-town district holding 347 village
// registrations and b.N inspection events, into PostgreSQL (inbox plus
// one upsert per event, one transaction each). Events are on the topics
// before the clock starts; the group's first join is included:
//
//	go test ./services/inspection -run '^$' -bench DistrictProjection -benchtime 20000x
func BenchmarkDistrictProjection(b *testing.B) {
	b.Run("commit-each", func(b *testing.B) { benchmarkDistrictProjection(b, 0) })
	b.Run("commit-every-1s", func(b *testing.B) { benchmarkDistrictProjection(b, time.Second) })
}

func benchmarkDistrictProjection(b *testing.B, commitInterval time.Duration) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 12, 31, 9, 0, 0, 0, Shanghai))
	s := newService(b, testinfra.Postgres(b), "benchhome", clk)
	s.DistrictWide, s.VillageNames = true, nil
	brokers := testinfra.KafkaBrokers(b)
	towns := make([]string, districtTowns)
	for i := range towns {
		towns[i] = testinfra.UniqueName("bt")
	}
	msgs := districtEvents(b, towns, b.N)
	var topics []string
	for t := range msgs {
		topics = append(topics, t)
	}
	testinfra.CreateTopics(b, brokers, 3, topics...)
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll,
		BatchSize: 500, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer wcancel()
	total := 0
	for _, ms := range msgs {
		total += len(ms)
		for c := range slices.Chunk(ms, 500) {
			for {
				err := w.WriteMessages(wctx, c...)
				if err == nil {
					break
				}
				if wctx.Err() != nil {
					b.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	group := testinfra.UniqueName("bench-district-")
	feed := &DistrictFeed{Service: s, Brokers: brokers, Group: group, Towns: towns,
		Options: events.ConsumerOptions{Telemetry: events.Telemetry{Logger: benchLogger()}, CommitInterval: commitInterval}}
	b.ResetTimer()
	t0 := time.Now()
	done := make(chan error, 1)
	go func() { done <- feed.Run(ctx) }()
	for {
		n := count(b, s.Pool, `SELECT count(*) FROM inbox WHERE consumer = $1`, group)
		if n >= total {
			break
		}
		select {
		case err := <-done:
			b.Fatalf("feed stopped after %d events: %v", n, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatalf("feed: %v", err)
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "events/s")

	// The overview of the whole district, once projected.
	t1 := time.Now()
	v, err := s.District(context.Background(), true, 0)
	if err != nil {
		b.Fatal(err)
	}
	if len(v.Towns) != districtTowns+1 || v.Coverage.Total != districtVillages {
		b.Fatalf("%d towns, %d villages", len(v.Towns), v.Coverage.Total)
	}
	b.ReportMetric(float64(time.Since(t1).Microseconds())/1000, "overview-ms")
}
