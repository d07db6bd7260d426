package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/wuxiao/wuxiao/operator/testenv"
)

// buildOperator builds ./operator/cmd/wuxiao-operator into dir.
func buildOperator(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "wuxiao-operator")
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./operator/cmd/wuxiao-operator")
	cmd.Dir = testenv.RepoRoot()
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the operator: %w", err)
	}
	logf("built the operator in %s: %s", time.Since(start).Round(time.Millisecond), out)
	return out, nil
}

// operatorProc is the operator running as a subprocess, as it runs in a
// cluster: its own process, its own credentials, talking HTTPS to the API
// server.
type operatorProc struct {
	cmd     *exec.Cmd
	logPath string
	health  string
	pprof   string // the operator's --pprof-bind-address
	peakRSS atomic.Int64
	lastRSS atomic.Int64
	done    chan struct{} // closed when the process exits
	exitErr error
}

func startOperator(ctx context.Context, e *benchEnv, bin string, extraArgs []string, logPath string) (*operatorProc, error) {
	user, err := e.te.AddUser(envtest.User{Name: "wuxiao-operator", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	kcPath := strings.TrimSuffix(logPath, ".log") + ".kubeconfig"
	if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
		return nil, err
	}
	port, err := freePort(ctx)
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	pport, err := freePort(ctx)
	if err != nil {
		return nil, err
	}
	p := &operatorProc{logPath: logPath, health: fmt.Sprintf("127.0.0.1:%d", port), pprof: fmt.Sprintf("127.0.0.1:%d", pport), done: make(chan struct{})}
	args := append([]string{
		"--kubeconfig", kcPath,
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", p.health,
		"--leader-elect=false",
		"--archive-namespace", systemNamespace,
		"--zap-log-level=error",
		"--pprof-bind-address", p.pprof,
	}, extraArgs...)
	// Not cancelled with ctx: stop() ends the operator (SIGTERM, a kill
	// only after 15 s) once it has read VmHWM, also when the benchmark is
	// interrupted; a cancelled context would kill it first.
	p.cmd = exec.CommandContext(context.WithoutCancel(ctx), bin, args...)
	p.cmd.Env = append(os.Environ(), "KUBECONFIG="+kcPath)
	p.cmd.Stdout = logFile
	p.cmd.Stderr = logFile
	// If the benchmark dies, the operator dies with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, err
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	go p.sampleRSS()
	return p, nil
}

func freePort(ctx context.Context) (int, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// sampleRSS records the resident set size every 200 ms until the process ends.
func (p *operatorProc) sampleRSS() {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if rss, _ := procStatus(p.cmd.Process.Pid, "VmRSS"); rss > 0 {
			p.lastRSS.Store(rss)
			if rss > p.peakRSS.Load() {
				p.peakRSS.Store(rss)
			}
		}
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
}

// procStatus reads one "kB" field of /proc/<pid>/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, field+":") {
			continue
		}
		fs := strings.Fields(line[len(field)+1:])
		if len(fs) == 0 {
			break
		}
		kb, err := strconv.ParseInt(fs[0], 10, 64)
		return kb * 1024, err
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// exitError is how the operator ended, once exited() says it has: Wait's
// error, or one saying it exited with status 0.
func (p *operatorProc) exitError() error {
	if p.exitErr == nil {
		return errors.New("exit status 0")
	}
	return p.exitErr
}

func (p *operatorProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitHealthy waits until the operator answers /readyz on its probe address.
func (p *operatorProc) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("operator exited: %w (see %s)", p.exitError(), p.logPath)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.health+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("operator not ready on %s/readyz after %s (see %s)", p.health, timeout, p.logPath)
}

// stop sends SIGTERM and waits up to 15 s before killing. It returns the
// peak resident set size the kernel recorded (VmHWM), read before the end.
func (p *operatorProc) stop() (hwm int64) {
	if p.exited() {
		return 0
	}
	hwm, _ = procStatus(p.cmd.Process.Pid, "VmHWM")
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		logf("operator did not stop within 15s of SIGTERM; killing it")
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return hwm
}

// logSummary counts the operator's log lines (at --zap-log-level=error every
// line is an error) and returns the first few and any panics.
func logSummary(path string) (lines int, excerpt []string) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		lines++
		l := sc.Text()
		if len(excerpt) < 8 || (strings.Contains(l, "panic") && len(excerpt) < 16) {
			if len(l) > 600 {
				l = l[:600] + "…"
			}
			excerpt = append(excerpt, l)
		}
	}
	return lines, excerpt
}

// clockTicks is USER_HZ, the unit of /proc CPU times; 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// procCPU returns the CPU time (user + system) a process has used.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after it are fixed.
	s := string(data)
	fs := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fs) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fs[11], 10, 64)
	stime, err2 := strconv.ParseInt(fs[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// machineCPU returns the busy and total CPU time of the whole machine, all
// cores, from /proc/stat.
func machineCPU() (busy, total int64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fs := strings.Fields(line)
	for i, f := range fs[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		if i >= 8 { // guest times are already in user and nice
			break
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// cpuMeter measures the machine's CPU use over a window.
type cpuMeter struct{ busy, total int64 }

func startCPUMeter() cpuMeter {
	b, t := machineCPU()
	return cpuMeter{b, t}
}

// busyFraction is the share of all cores' time that was busy since start.
func (m cpuMeter) busyFraction() float64 {
	b, t := machineCPU()
	if t <= m.total {
		return 0
	}
	return float64(int64(float64(b-m.busy)/float64(t-m.total)*1000)) / 1000
}

// heapProfile saves the operator's heap profile (after a forced GC: what
// it holds, not garbage) to path, for `go tool pprof -top path`.
func (p *operatorProc) heapProfile(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.pprof+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heap profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
