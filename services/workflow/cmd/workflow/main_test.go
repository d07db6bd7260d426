package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"sigs.k8s.io/yaml"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// catalogFile writes the sample catalog as the operator's ConfigMap would.
func catalogFile(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testinfra.RepoRoot(), "config", "samples", "powercatalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc wuxiaov1.PowerCatalog
	if err := yaml.Unmarshal(data, &pc); err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(wuxiaov1.ResolvedCatalog{Name: pc.Name, PowerCatalogSpec: pc.Spec})
	path := filepath.Join(t.TempDir(), "catalog.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The binary's wiring, end to end: configuration, migrations, topics, the
// HTTP API behind Kratos, the outbox relay to the real Kafka, and a clean
// shutdown.
func TestServiceRunsEndToEnd(t *testing.T) {
	town := testinfra.UniqueName("t")
	village := "330213100201"
	brokers := testinfra.KafkaBrokers(t)
	base := config.Base{
		Service: "workflow", District: "fenghua", Town: town, TownCode: "330213100000",
		CatalogFile: catalogFile(t), PortalBaseURL: "https://jiandu.example.cn",
		DatabaseURL: testinfra.Postgres(t), KafkaBrokers: brokers,
		KratosPublicURL: testinfra.Require(t, testinfra.EnvKratosPublicURL), KratosAdminURL: testinfra.Require(t, testinfra.EnvKratosAdminURL),
		HTTPAddr: freeAddr(t), ShutdownTimeout: 5 * time.Second, MaxBodyBytes: 1 << 20, SamplingRatio: 1, LogLevel: "error",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, &base, strings.Repeat("k", 32), "", time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	url := "http://" + base.HTTPAddr
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service never became ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	token, _ := testinfra.KratosUser(t, "secretary", town, village)
	post := func(path string, body any) map[string]any {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", url+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			t.Fatalf("POST %s: %d %s", path, res.StatusCode, raw)
		}
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return out
	}
	inst := post("/v1/villages/"+village+"/instances", map[string]any{"itemId": "decision-major-matters", "title": "村道硬化"})
	id := inst["id"].(string)
	post("/v1/instances/"+id+"/steps/propose/complete", map[string]any{})
	post("/v1/instances/"+id+"/steps/joint-meeting/complete", map[string]any{})

	// The events reach Kafka, in order, keyed by the village.
	topic := eventsv1.Topic(town, eventsv1.StreamWorkflow)
	var types []string
	readCtx, stop := context.WithTimeout(context.Background(), 60*time.Second)
	defer stop()
	for len(types) < 3 {
		// The village's events are on one partition; find it by reading all.
		m, err := readAll(readCtx, brokers, topic)
		if err != nil {
			t.Fatalf("reading %s: %v (got %v)", topic, err, types)
		}
		types = nil
		for _, msg := range m {
			ev, err := events.Decode(msg)
			if err != nil {
				t.Fatal(err)
			}
			if string(msg.Key) != village || ev.Subject != inst["trackingNumber"] {
				t.Errorf("event %s keyed %q, subject %q", ev.Type, msg.Key, ev.Subject)
			}
			types = append(types, strings.TrimPrefix(ev.Type, "cn.wuxiao.workflow."))
		}
	}
	if got := strings.Join(types, " "); got != "instance.started.v1 step.completed.v1 step.completed.v1" {
		t.Fatalf("events %q", got)
	}
	// RED metrics carry the route and the town.
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	want := fmt.Sprintf(`wuxiao_town="%s"`, town)
	if !bytes.Contains(metrics, []byte(want)) || !bytes.Contains(metrics, []byte(`http_route="/v1/instances/{id}/steps/{step}/complete"`)) {
		t.Errorf("metrics lack the town or the route label")
	}
}

// readAll reads every message of every partition of topic, polling until at
// least one arrives or ctx ends.
func readAll(ctx context.Context, brokers []string, topic string) ([]kafka.Message, error) {
	for {
		conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
		if err != nil {
			return nil, err
		}
		parts, err := conn.ReadPartitions(topic)
		conn.Close()
		if err != nil {
			return nil, err
		}
		var out []kafka.Message
		for _, p := range parts {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, MaxWait: time.Second})
			for {
				lag, err := r.ReadLag(ctx)
				if err != nil || lag == 0 {
					break
				}
				m, err := r.ReadMessage(ctx)
				if err != nil {
					break
				}
				out = append(out, m)
			}
			r.Close()
		}
		if len(out) >= 3 || ctx.Err() != nil {
			return out, ctx.Err()
		}
		time.Sleep(200 * time.Millisecond)
	}
}
