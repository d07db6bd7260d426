//go:build chaos

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kafka-stop-60s stops the shared broker, so the suite does not run it
// unless asked; its mechanics — stop the process of hack/kafka.sh's pid
// file, start the same command line again in the same directory and
// environment, recorded in the pid file the way hack/lib.sh's proc_start
// does — are tested here on a stand-in process, never on the broker.
func TestKafkaStopStartsTheSameCommandAgain(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	run := t.TempDir()
	if err := os.MkdirAll(filepath.Join(run, "kafka"), 0o755); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(run, "kafka", "kafka.pid")
	// The stand-in: a shell waiting, with an argument and a variable of
	// its own that the restarted one must have too.
	start := exec.Command("bash", "-c", `. hack/lib.sh; proc_start "$1" "$2" sleep 3600`, "x", pidfile, filepath.Join(run, "kafka", "kafka.out"))
	start.Dir = root
	start.Env = append(os.Environ(), "CHAOS_STANDIN=1")
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	old, err := daemonPID(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(old, syscall.SIGKILL) })

	s := &suite{c: &cluster{run: run, repoRoot: root}, kafkaDown: time.Second}
	if _, _, err := kafkaStop(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	pid, err := daemonPID(pidfile)
	if err != nil {
		t.Fatalf("no process after the restart: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if pid == old {
		t.Fatalf("pid %d: the process was not restarted", pid)
	}
	if syscall.Kill(old, 0) == nil {
		t.Fatalf("the old process %d still runs", old)
	}
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if got := strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "); !strings.HasSuffix(got, "sleep 3600") {
		t.Fatalf("restarted command line %q, want the stand-in's", got)
	}
	environ, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if !strings.Contains(string(environ), "CHAOS_STANDIN=1") {
		t.Fatal("the restarted process lacks the stand-in's environment")
	}
}
