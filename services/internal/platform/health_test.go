package platform_test

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wuxiao/wuxiao/services/internal/platform"
	"github.com/wuxiao/wuxiao/services/internal/telemetry/metricstest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// lazyPool is a pool of the test database's URL with its host and port
// replaced by addr; it connects only when used, like a service's pool whose
// database went away after start-up.
func lazyPool(t *testing.T, addr string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testinfra.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	if addr != "" {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(p)
		cfg.ConnConfig.Fallbacks = nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// runHealth runs a Health on the service telemetry until the test ends and
// returns the /metrics handler.
func runHealth(t *testing.T, pool *pgxpool.Pool, brokers []string, timeout time.Duration) func() metricstest.Page {
	t.Helper()
	tel := metricstest.Setup(t, "xikou", "fenghua")
	h := platform.NewHealth(pool, brokers, platform.HealthOptions{Interval: 100 * time.Millisecond, Timeout: timeout,
		Meter: tel.Meter("health-test"), Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	metrics := tel.MetricsHandler()
	return func() metricstest.Page { return metricstest.Scrape(t, metrics) }
}

// waitUp waits until the gauge shows want for each dependency ("" = no
// series yet), bounded by a minute.
func waitUp(t *testing.T, scrape func() metricstest.Page, postgres, kafka string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		page := scrape()
		got := map[string]string{}
		for _, dep := range []string{"postgres", "kafka"} {
			ss := page.Find("wuxiao_dependency_up", "dependency", dep, "wuxiao_town", "xikou", "wuxiao_district", "fenghua")
			if len(ss) == 1 {
				got[dep] = strconv.FormatFloat(ss[0].Value, 'g', -1, 64)
			}
		}
		if got["postgres"] == postgres && got["kafka"] == kafka {
			if typ := page.Types["wuxiao_dependency_up"]; postgres+kafka != "" && typ != "gauge" {
				t.Errorf("# TYPE wuxiao_dependency_up is %q, want gauge", typ)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("wuxiao_dependency_up: postgres %q kafka %q, want %q %q", got["postgres"], got["kafka"], postgres, kafka)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The gauge against the real PostgreSQL and Kafka, and against closed ports.
func TestDependencyHealth(t *testing.T) {
	for _, tc := range []struct {
		name            string
		pgAddr          string // "" = the test database
		brokers         []string
		postgres, kafka string
	}{
		{name: "reachable", brokers: testinfra.KafkaBrokers(t), postgres: "1", kafka: "1"},
		{name: "closed ports", pgAddr: testinfra.FreeAddr(t), brokers: []string{testinfra.FreeAddr(t)}, postgres: "0", kafka: "0"},
		{name: "postgres only", brokers: []string{testinfra.FreeAddr(t)}, postgres: "1", kafka: "0"},
		{name: "one broker of two answers", pgAddr: testinfra.FreeAddr(t), brokers: append([]string{testinfra.FreeAddr(t)}, testinfra.KafkaBrokers(t)...), postgres: "0", kafka: "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scrape := runHealth(t, lazyPool(t, tc.pgAddr), tc.brokers, 2*time.Second)
			waitUp(t, scrape, tc.postgres, tc.kafka)
		})
	}
}

// A dependency that goes away turns its gauge to 0, and back to 1 when it
// returns: PostgreSQL behind a TCP proxy the test cuts (its connections
// too), and a Kafka broker of the test's own that it stops and restarts.
func TestDependencyHealthOutage(t *testing.T) {
	brokers, stopKafka, startKafka := testinfra.PrivateKafka(t)
	cfg, err := pgxpool.ParseConfig(testinfra.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := testinfra.NewProxy(t, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	scrape := runHealth(t, lazyPool(t, proxy.Addr), brokers, 2*time.Second)

	waitUp(t, scrape, "1", "1")
	proxy.Cut()
	stopKafka()
	waitUp(t, scrape, "0", "0")
	proxy.Restore()
	startKafka()
	waitUp(t, scrape, "1", "1")
}

// A scrape does not wait on a probe in progress: with both dependencies
// accepting connections but never answering, and probes allowed ten
// minutes, /metrics answers while both probes hang (no series yet); once
// the connections are dropped, the probes fail and report 0.
func TestDependencyHealthScrapeDoesNotWait(t *testing.T) {
	pg, kafka := newBlackhole(t), newBlackhole(t)
	scrape := runHealth(t, lazyPool(t, pg.addr), []string{kafka.addr}, 10*time.Minute)
	<-pg.accepted
	<-kafka.accepted
	waitUp(t, scrape, "", "")
	pg.drop()
	kafka.drop()
	waitUp(t, scrape, "0", "0")
}

// A broker that accepts connections but never answers does not hide the
// one that answers, even with probes allowed ten minutes.
func TestDependencyHealthSilentBroker(t *testing.T) {
	silent := newBlackhole(t)
	scrape := runHealth(t, lazyPool(t, ""), append([]string{silent.addr}, testinfra.KafkaBrokers(t)...), 10*time.Minute)
	waitUp(t, scrape, "1", "1")
}

// blackhole accepts TCP connections and never answers on them.
type blackhole struct {
	addr     string
	accepted chan struct{} // closed at the first connection
	mu       sync.Mutex
	conns    []net.Conn
}

func newBlackhole(t *testing.T) *blackhole {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{addr: l.Addr().String(), accepted: make(chan struct{})}
	var once sync.Once
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			once.Do(func() { close(b.accepted) })
		}
	}()
	t.Cleanup(func() { _ = l.Close(); b.drop() })
	return b
}

// drop closes the connections held so far (later ones are held again).
func (b *blackhole) drop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		_ = c.Close()
	}
	b.conns = nil
}
