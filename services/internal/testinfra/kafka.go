package testinfra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// KafkaBrokers returns the addresses of the shared test broker.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	return strings.Split(Require(t, EnvKafkaBrokers), ",")
}

// Topic creates a topic with a unique name on the shared broker and deletes
// it when the test ends.
func Topic(t testing.TB, partitions int) string {
	t.Helper()
	name := UniqueName("wuxiao.test.")
	CreateTopics(t, KafkaBrokers(t), partitions, name)
	return name
}

// CreateTopics creates topics on brokers, waits until every partition has a
// leader, and deletes them when the test ends. Existing topics are fine.
func CreateTopics(t testing.TB, brokers []string, partitions int, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	configs := make([]kafka.TopicConfig, len(names))
	for i, n := range names {
		configs[i] = kafka.TopicConfig{Topic: n, NumPartitions: partitions, ReplicationFactor: 1}
	}
	var last error
	for ctx.Err() == nil {
		if last = createTopics(ctx, brokers, configs); last == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if last != nil {
		t.Fatalf("creating topics %v on %v: %v", names, brokers, last)
	}
	t.Cleanup(func() {
		// Best effort: keeps the shared broker from collecting test topics.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, done := kafkaClient(brokers)
		defer done()
		_, _ = c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: names})
	})
}

// kafkaClient uses a fresh transport: kafka-go serves metadata from a
// per-transport cache that would hide a topic created a moment ago.
func kafkaClient(brokers []string) (*kafka.Client, func()) {
	tr := &kafka.Transport{DialTimeout: 5 * time.Second}
	return &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr, Timeout: 10 * time.Second}, tr.CloseIdleConnections
}

func createTopics(ctx context.Context, brokers []string, configs []kafka.TopicConfig) error {
	c, done := kafkaClient(brokers)
	defer done()
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: configs})
	if err != nil {
		return err
	}
	names := make([]string, len(configs))
	for i, cfg := range configs {
		names[i] = cfg.Topic
		if err := res.Errors[cfg.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("topic %s: %w", cfg.Topic, err)
		}
	}
	c2, done2 := kafkaClient(brokers)
	defer done2()
	meta, err := c2.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return err
	}
	ready := 0
	for _, tp := range meta.Topics {
		if tp.Error != nil || len(tp.Partitions) == 0 {
			return fmt.Errorf("topic %s not ready: %w", tp.Name, tp.Error)
		}
		for _, p := range tp.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				return fmt.Errorf("topic %s partition %d has no leader yet", tp.Name, p.ID)
			}
		}
		ready++
	}
	if ready != len(names) {
		return fmt.Errorf("%d of %d topics in the metadata", ready, len(names))
	}
	return nil
}

// privateKafka is a broker of one test, run by hack/kafka.sh in its own
// run directory and ports.
type privateKafka struct {
	t          testing.TB
	run        string // WUXIAO_RUN; the broker's files are in run/kafka
	port       int
	controller int
	mu         sync.Mutex
	up         bool
}

// PrivateKafka starts a broker for this test alone (on a free port from
// 29192 up, below the ephemeral range), for tests that take it down. stop
// shuts it down gracefully; start brings it back with its data (topics,
// messages, committed offsets), as a restarted broker would. It is stopped
// when the test ends. Never stop the shared broker instead.
func PrivateKafka(t testing.TB) (brokers []string, stop func(), start func()) {
	t.Helper()
	k := &privateKafka{t: t, run: t.TempDir()}
	for n := 0; n < 50; n++ {
		port := 29192 + 2*n
		// The port pair stays this test's while its broker is stopped: a
		// parallel test process that found it free once started its own
		// broker there, and this test's clients published to it.
		release, ok := reservePort(port)
		if !ok {
			continue
		}
		if !portFree(port) || !portFree(port+1) {
			release()
			continue
		}
		t.Cleanup(release) // after k.stop (cleanups run last-in first-out)
		k.port, k.controller = port, port+1
		out, err := k.script("start")
		if err == nil {
			k.up = true
			break
		}
		// Something that is not a private broker may have taken the port.
		if !portFree(port) || !portFree(port+1) || strings.Contains(out, "already in use") {
			continue
		}
		t.Fatalf("starting a private Kafka broker on 127.0.0.1:%d: %v\n%s", port, err, out)
	}
	if !k.up {
		t.Fatalf("no free port pair for a private Kafka broker in 29192-29291")
	}
	t.Cleanup(k.stop)
	return []string{"127.0.0.1:" + strconv.Itoa(k.port)}, k.stop, k.start
}

// reservePort takes an exclusive lock, shared by every test process on
// this machine, on a private broker's port pair; release gives it back.
func reservePort(port int) (release func(), ok bool) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), fmt.Sprintf("wuxiao-private-kafka-%d.lock", port)), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, false
	}
	return func() { _ = f.Close() }, true // closing the file releases the lock
}

func (k *privateKafka) dir() string { return filepath.Join(k.run, "kafka") }

func (k *privateKafka) script(args ...string) (string, error) {
	// Not the test's context: stop runs in t.Cleanup, after it is cancelled.
	cmd := exec.CommandContext(context.Background(), filepath.Join(RepoRoot(), "hack", "kafka.sh"), args...)
	cmd.Env = append(os.Environ(),
		"WUXIAO_KAFKA_PORT="+strconv.Itoa(k.port),
		"WUXIAO_KAFKA_CONTROLLER_PORT="+strconv.Itoa(k.controller),
		"WUXIAO_RUN="+k.run)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return strings.TrimSpace(stdout.String()) + "\n" + stderr.String(), err
}

func (k *privateKafka) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.up {
		return
	}
	if out, err := k.script("stop"); err != nil {
		k.t.Errorf("stopping the private Kafka broker: %v\n%s", err, out)
	}
	k.up = false
}

// start relaunches the broker on its existing storage. hack/kafka.sh start
// would format fresh storage, so the JVM is started here the same way the
// script does (keep the options in step with its JAVA_OPTS); the script's
// stop and status still work because the pid file and command line match.
func (k *privateKafka) start() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.up {
		return
	}
	t := k.t
	out, err := k.script("fetch")
	if err != nil {
		t.Fatalf("hack/kafka.sh fetch: %v\n%s", err, out)
	}
	libs := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	dir := k.dir()
	logf, err := os.OpenFile(filepath.Join(dir, "kafka.out"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	// The broker outlives the test's context (cancelled before t.Cleanup
	// runs k.stop, which stops it through hack/kafka.sh).
	cmd := exec.CommandContext(context.Background(), "java",
		"-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:+ExitOnOutOfMemoryError",
		"-Djava.awt.headless=true", "-Djava.net.preferIPv4Stack=true",
		"-Dlog4j2.configurationFile="+filepath.Join(dir, "log4j2.properties"), "-Dkafka.logs.dir="+dir,
		"-Xshare:auto", "-cp", filepath.Join(libs, "*"), "kafka.Kafka", filepath.Join(dir, "server.properties"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("restarting the private Kafka broker: %v", err)
	}
	go func() { _ = cmd.Wait() }() // reap it, or kafka.sh stop would wait on a zombie
	if err := os.WriteFile(filepath.Join(dir, "kafka.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k.up = true
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if _, err := k.script("status"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the private Kafka broker did not come back within 3 minutes; see %s", dir)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func portFree(port int) bool {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
