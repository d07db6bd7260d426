package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/telemetry/metricstest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// The binary's wiring, end to end: configuration, migrations, topics, the
// HTTP API behind Kratos, the outbox relay to the real Kafka, and a clean
// shutdown.
func TestServiceRunsEndToEnd(t *testing.T) {
	town := testinfra.UniqueName("t")
	village := "330213100201"
	brokers := testinfra.KafkaBrokers(t)
	base := testinfra.ServiceBase(t, "workflow", town)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, &base, strings.Repeat("k", 32), []byte(strings.Repeat("a", 32)), "", time.Second, time.Second, []byte(strings.Repeat("c", 32)))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	url := "http://" + base.HTTPAddr
	testinfra.WaitReady(t, url)

	token, _ := testinfra.KratosUser(t, "secretary", town, village)
	post := func(path string, body any) map[string]any {
		r := httpapitest.Client{URL: url}.JSON(t, "POST", path, token, body)
		if r.Status >= 300 {
			t.Fatalf("POST %s: %d %s", path, r.Status, r.Raw)
		}
		return r.Body
	}
	inst := post("/v1/villages/"+village+"/instances", map[string]any{"itemId": "decision-major-matters", "title": "村道硬化"})
	id := inst["id"].(string)
	post("/v1/instances/"+id+"/steps/propose/complete", map[string]any{})
	post("/v1/instances/"+id+"/steps/joint-meeting/complete", map[string]any{})

	// The events reach Kafka, in order, keyed by the village; entering the
	// plan's posting step puts the plan on the notice board.
	topic := eventsv1.Topic(town, eventsv1.StreamWorkflow)
	var types []string
	anchors := 0 // one per audit entry, beside the events
	readCtx, stop := context.WithTimeout(context.Background(), 60*time.Second)
	defer stop()
	for len(types) < 4 || anchors < 3 {
		// The village's events are on one partition; find it by reading all.
		m, err := testinfra.ReadTopic(readCtx, brokers, topic, 6)
		if err != nil {
			t.Fatalf("reading %s: %v (got %v)", topic, err, types)
		}
		types, anchors = nil, 0
		for _, msg := range m {
			ev, err := events.Decode(msg)
			if err != nil {
				t.Fatal(err)
			}
			if string(msg.Key) != village || ev.Subject != inst["trackingNumber"] {
				t.Errorf("event %s keyed %q, subject %q", ev.Type, msg.Key, ev.Subject)
			}
			if ev.Type == eventsv1.TypeAuditAnchored {
				anchors++
				continue
			}
			types = append(types, strings.TrimPrefix(ev.Type, "cn.wuxiao.workflow."))
		}
	}
	if got := strings.Join(types, " "); got != "instance.started.v1 step.completed.v1 step.completed.v1 posting.published.v1" || anchors != 3 {
		t.Fatalf("events %q, %d audit anchors", got, anchors)
	}
	// RED metrics carry the route and the town; they are on the metrics
	// listener, not the public one.
	if res, err := http.Get(url + "/metrics"); err != nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the public listener: %v %v, want 404", res, err)
	} else {
		res.Body.Close()
	}
	res, err := http.Get("http://" + base.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	want := fmt.Sprintf(`wuxiao_town="%s"`, town)
	if !bytes.Contains(metrics, []byte(want)) || !bytes.Contains(metrics, []byte(`http_route="/v1/instances/{id}/steps/{step}/complete"`)) {
		t.Errorf("metrics lack the town or the route label")
	}
	// platform.Run wires the dependency probes and the relay's per-topic
	// quarantined series into every service.
	deadline := time.Now().Add(30 * time.Second)
	for {
		page, err := metricstest.Parse(string(metrics))
		if err != nil {
			t.Fatal(err)
		}
		pg, _ := page.Value("wuxiao_dependency_up", "dependency", "postgres", "wuxiao_town", town)
		kafka, _ := page.Value("wuxiao_dependency_up", "dependency", "kafka", "wuxiao_town", town)
		quarantined, okQ := page.Value("wuxiao_events_outbox_quarantined_total", "messaging_destination_name", topic)
		if pg == 1 && kafka == 1 && okQ && quarantined == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wuxiao_dependency_up postgres %v kafka %v, want 1 1; quarantined_total{%s} %v (%v), want 0", pg, kafka, topic, quarantined, okQ)
		}
		time.Sleep(100 * time.Millisecond)
		res, err := http.Get("http://" + base.MetricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ = io.ReadAll(res.Body)
		res.Body.Close()
	}
}
