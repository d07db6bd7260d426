package testinfra

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"sigs.k8s.io/yaml"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// FreeAddr returns a free loopback address for a service under test.
func FreeAddr(t testing.TB) string {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// CatalogFile writes the sample power catalog (config/samples) as the
// operator mounts it in a town's namespace, and returns its path.
func CatalogFile(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(RepoRoot(), "config", "samples", "powercatalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc wuxiaov1.PowerCatalog
	if err := yaml.Unmarshal(data, &pc); err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(wuxiaov1.ResolvedCatalog{Name: pc.Name, PowerCatalogSpec: pc.Spec})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "catalog.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ReadTopic reads every message of every partition of topic, polling until
// at least want messages are there or ctx ends; want 0 reads once.
func ReadTopic(ctx context.Context, brokers []string, topic string, want int) ([]kafka.Message, error) {
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
		if len(out) >= want || ctx.Err() != nil {
			return out, ctx.Err()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// WaitReady polls url's /readyz until it answers 200, failing the test after
// a minute (a cold start migrates the schema and creates topics).
func WaitReady(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/readyz", nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became ready: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
