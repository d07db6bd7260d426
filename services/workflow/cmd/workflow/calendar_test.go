package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/telemetry/metricstest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestCalendarFileReloaded: the running service takes up a changed
// calendar file without a restart, and a bad one neither stops it nor
// replaces the last good calendar; its metrics say which happened.
func TestCalendarFileReloaded(t *testing.T) {
	town := testinfra.UniqueName("t")
	base := testinfra.ServiceBase(t, "workflow", town)
	file := filepath.Join(t.TempDir(), "calendar.json")
	write := func(s string) {
		t.Helper()
		// As the kubelet does: a new file swapped in at once.
		tmp := file + ".new"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"holidays": ["2026-06-01"], "workdays": []}`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, &base, strings.Repeat("k", 32), []byte(strings.Repeat("a", 32)), file, time.Second, time.Second, nil)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	testinfra.WaitReady(t, "http://"+base.HTTPAddr)

	// waitMetrics polls the metrics until they show the loads wanted and
	// the file's validity (the service polls the file every second).
	waitMetrics := func(loaded, invalid, valid float64) {
		t.Helper()
		var last string
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			res, err := http.Get("http://" + base.MetricsAddr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			page, err := metricstest.Parse(string(raw))
			if err != nil {
				t.Fatal(err)
			}
			l, _ := page.Value("wuxiao_workflow_calendar_reloads_total", "result", "loaded", "wuxiao_town", town)
			i, _ := page.Value("wuxiao_workflow_calendar_reloads_total", "result", "invalid", "wuxiao_town", town)
			v, ok := page.Value("wuxiao_workflow_calendar_file_valid", "wuxiao_town", town)
			if l == loaded && i == invalid && v == valid && ok {
				return
			}
			last = fmt.Sprintf("loaded %v invalid %v file_valid %v (%v)", l, i, v, ok)
		}
		t.Fatalf("calendar metrics: %s; want loaded %v invalid %v file_valid %v", last, loaded, invalid, valid)
	}
	waitMetrics(1, 0, 1)
	write("holidays:\n  - 2026-06-31\n") // no such day
	waitMetrics(1, 1, 0)
	write("holidays:\n  - 2026-06-01\n  - 2026-06-02\n")
	waitMetrics(2, 1, 1)
	testinfra.WaitReady(t, "http://"+base.HTTPAddr)
}
