package testinfra

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Benchmarks report CPU per operation next to wall-clock figures: on a
// shared 2-core machine the CPU an operation costs moves far less than its
// latency.

// ProcessCPU is the CPU time (user + system) this process used so far.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Rows is a pool, a connection or a transaction.
type Rows interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}

// BackendCPU is the CPU time the PostgreSQL backends of the current
// database whose application_name is app used so far, by process id, read
// from /proc (the test server runs on this machine); ok is false when
// /proc has not got them (a server elsewhere).
func BackendCPU(tb testing.TB, q Rows, app string) (cpu map[int32]time.Duration, ok bool) {
	tb.Helper()
	rows, err := q.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, app)
	if err != nil {
		tb.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		tb.Fatal(err)
	}
	cpu = make(map[int32]time.Duration, len(pids))
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil, false
		}
		// Fields after the command's closing parenthesis: utime and stime
		// are the 12th and 13th, in clock ticks (100 per second on Linux).
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 13 {
			return nil, false
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		cpu[pid] = time.Duration(u+s) * 10 * time.Millisecond
	}
	return cpu, true
}
