package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// fault is one injection. inject returns once the fault is over (healed);
// heal is when it ended, from which recovery is measured. cleanup undoes
// whatever inject may have left behind when it was interrupted (it runs
// always, also after a signal).
type fault struct {
	name    string
	what    string // the README's description
	shared  bool   // stops infrastructure other tests use: only with CHAOS_SHARED=1
	inject  func(ctx context.Context, s *suite) (heal time.Time, note string, err error)
	cleanup func(s *suite)
	// await, when set, is what recovery waits for besides the district
	// being Ready (the 30 villages Ready; the rollout through every wave),
	// within longer (the suite's deadline plus, e.g., the soaks).
	await  func(ctx context.Context, s *suite) error
	longer func(s *suite) time.Duration
	// verify, when set, checks the fault's own books once the load's are
	// read; its summary goes to the row's note.
	verify func(ctx context.Context, s *suite, b *books) (string, error)
}

func faults() []fault {
	return []fault{
		{name: "kill-workflow", what: "SIGKILL of the victim town's workflow process while a step request is in flight (mid-step)",
			inject: killService("workflow", midStep)},
		{name: "kill-complaint", what: "SIGKILL of the complaint process 10 ms after a report was accepted (its relay publishing the outbox: mid relay batch)",
			inject: killService("complaint", afterAccepted("complaint", 10*time.Millisecond))},
		{name: "kill-inspection", what: "SIGKILL of the inspection process 50 ms after a step was accepted (its consumer applying the step's events: mid consumer batch)",
			inject: killService("inspection", afterAccepted("step", 50*time.Millisecond))},
		{name: "delete-pod-workflow", what: "the workflow pod deleted with --grace-period=0 --force while a step request is in flight: a new pod, a new address",
			inject: deletePod("workflow", midStep)},
		{name: "operator-30-villages", what: "the host operator SIGKILLed while provisioning 30 new villages (once the first is Ready), restarted 5 s later",
			inject: operatorMidProvisioning, cleanup: func(s *suite) { s.ensureOperator() },
			await: awaitVillages, verify: verifyVillages},
		{name: "operator-mid-rollout", what: "a new service version (the same build under a new tag) rolled out town by town with a short soak; the host operator SIGKILLed while the first wave's pods are being replaced, restarted 5 s later; the version put back afterwards",
			inject: operatorMidRollout, cleanup: func(s *suite) { s.ensureOperator(); s.rollBack() },
			await: awaitRollout, longer: rolloutTime, verify: verifyRollout},
		{name: "apiserver-30s", what: "kube-apiserver frozen (SIGSTOP) for 30 s, then SIGCONT",
			inject: apiserverFreeze, cleanup: func(s *suite) { _ = signalDaemon(s, "cluster", "kube-apiserver", syscall.SIGCONT) }},
		{name: "pg-terminate", what: "pg_terminate_backend of every session on the victim town's database",
			inject: pgTerminate},
		{name: "pg-readonly-30s", what: "the victim town's database read-only for 30 s (default_transaction_read_only, sessions terminated at both ends)",
			inject: pgReadOnly, cleanup: func(s *suite) {
				if s.readOnly {
					_ = s.setReadOnly(context.Background(), false)
				}
			}},
		{name: "partition-workflow-pg-30s", what: "the workflow pod cut from PostgreSQL for 30 s (iptables DROP both ways in its network namespace: half-open connections)",
			inject: partition("workflow"), cleanup: func(s *suite) { s.unpartition() }},
		{name: "partition-inspection-pg-30s", what: "the inspection pod cut from PostgreSQL for 30 s while its consumers apply the workflow's and complaints' events",
			inject: partition("inspection"), cleanup: func(s *suite) { s.unpartition() }},
		{name: "partition-complaint-pg-30s", what: "the complaint pod cut from PostgreSQL for 30 s while reports are filed",
			inject: partition("complaint"), cleanup: func(s *suite) { s.unpartition() }},
		{name: "partition-disclosure-pg-30s", what: "the disclosure pod cut from PostgreSQL for 30 s (its portal's LISTEN session and its consumer's connections half-open) while portals are read and steps disclosed",
			inject: partition("disclosure"), cleanup: func(s *suite) { s.unpartition() }},
		{name: "kafka-stop-60s", what: "Kafka stopped (SIGTERM) for 60 s, then started again on its own data", shared: true,
			inject: kafkaStop},
		{name: "pg-restart", what: "the PostgreSQL server restarted (pg_ctl restart -m fast)", shared: true,
			inject: pgRestart},
	}
}

// midStep waits until a step request to the victim's workflow is in flight.
func midStep(ctx context.Context, s *suite) {
	n := s.g.inflight(s.town, "workflow-step")
	for n.Load() == 0 && ctx.Err() == nil {
		time.Sleep(100 * time.Microsecond)
	}
}

// afterAccepted waits for the next accepted write of kind in the victim
// town, then d.
func afterAccepted(kind string, d time.Duration) func(context.Context, *suite) {
	return func(ctx context.Context, s *suite) {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s.led.next(wctx, s.town, kind)
		time.Sleep(d)
	}
}

func killService(svc string, when func(context.Context, *suite)) func(context.Context, *suite) (time.Time, string, error) {
	return func(ctx context.Context, s *suite) (time.Time, string, error) {
		pid, pod, err := s.c.containerPID(ctx, s.town, svc)
		if err != nil {
			return time.Time{}, "", err
		}
		when(ctx, s)
		restarts := s.c.restarts(ctx, s.town, pod)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return time.Time{}, "", fmt.Errorf("kill %d: %w", pid, err)
		}
		return time.Now(), fmt.Sprintf("pod %s, pid %d; the kubelet restarts the container (restarted %d times before: its back-off grows)", pod, pid, restarts), nil
	}
}

// deletePod force-deletes the Ready pod of svc (kubectl delete pod
// --grace-period=0 --force): its Deployment starts another one elsewhere
// on the bridge, and the load finds it through the API.
func deletePod(svc string, when func(context.Context, *suite)) func(context.Context, *suite) (time.Time, string, error) {
	return func(ctx context.Context, s *suite) (time.Time, string, error) {
		var list corev1.PodList
		if err := s.c.kube.List(ctx, &list, client.InNamespace("town-"+s.town), client.MatchingLabels{"wuxiao.io/service": svc}); err != nil {
			return time.Time{}, "", err
		}
		var pod *corev1.Pod
		for i := range list.Items {
			if podReady(&list.Items[i]) && list.Items[i].DeletionTimestamp == nil {
				pod = &list.Items[i]
			}
		}
		if pod == nil {
			return time.Time{}, "", fmt.Errorf("no Ready %s pod in town-%s", svc, s.town)
		}
		when(ctx, s)
		if err := s.c.kube.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil {
			return time.Time{}, "", err
		}
		return time.Now(), "pod " + pod.Name + " (" + pod.Status.PodIP + ")", nil
	}
}

// signalDaemon signals a daemon of hack/cluster.sh or hack/district.sh by
// its pid file.
func signalDaemon(s *suite, dir, name string, sig syscall.Signal) error {
	pid, err := daemonPID(filepath.Join(s.c.run, dir, "pids", name+".pid"))
	if err != nil {
		return err
	}
	return syscall.Kill(pid, sig)
}

func apiserverFreeze(ctx context.Context, s *suite) (time.Time, string, error) {
	if err := signalDaemon(s, "cluster", "kube-apiserver", syscall.SIGSTOP); err != nil {
		return time.Time{}, "", err
	}
	sleep(ctx, 30*time.Second)
	if err := signalDaemon(s, "cluster", "kube-apiserver", syscall.SIGCONT); err != nil {
		return time.Time{}, "", err
	}
	return time.Now(), "", nil
}

// terminate ends every session on the victim town's database (the
// services' pools), not other databases of the shared server.
func (s *suite) terminate(ctx context.Context) (int, error) {
	conn, err := pgx.Connect(ctx, s.pgURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()) t`, "wuxiao_"+s.town).Scan(&n)
	return n, err
}

func pgTerminate(ctx context.Context, s *suite) (time.Time, string, error) {
	n, err := s.terminate(ctx)
	return time.Now(), fmt.Sprintf("%d sessions terminated", n), err
}

func (s *suite) setReadOnly(ctx context.Context, on bool) error {
	conn, err := pgx.Connect(ctx, s.pgURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	db := pgx.Identifier{"wuxiao_" + s.town}.Sanitize()
	q := "ALTER DATABASE " + db + " RESET default_transaction_read_only"
	if on {
		q = "ALTER DATABASE " + db + " SET default_transaction_read_only = on"
	}
	if _, err := conn.Exec(ctx, q); err != nil {
		return err
	}
	s.readOnly = on
	_, err = s.terminate(ctx)
	return err
}

func pgReadOnly(ctx context.Context, s *suite) (time.Time, string, error) {
	if err := s.setReadOnly(ctx, true); err != nil {
		return time.Time{}, "", err
	}
	sleep(ctx, 30*time.Second)
	// Sessions opened during the window keep read-only: terminated again.
	if err := s.setReadOnly(context.Background(), false); err != nil {
		return time.Time{}, "", err
	}
	return time.Now(), "", nil
}

// partition drops the pod's traffic to and from PostgreSQL (the forwarder
// at the pod bridge's gateway) in the pod's own network namespace, both
// ways and silently, so its pooled connections hang half-open.
func partition(svc string) func(context.Context, *suite) (time.Time, string, error) {
	return func(ctx context.Context, s *suite) (time.Time, string, error) {
		pid, pod, err := s.c.containerPID(ctx, s.town, svc)
		if err != nil {
			return time.Time{}, "", err
		}
		s.partitioned = pid
		for _, r := range partitionRules() {
			if err := inPodNetns(pid, append([]string{"iptables", "-I"}, r...)...); err != nil {
				return time.Time{}, "", err
			}
		}
		sleep(ctx, 30*time.Second)
		s.unpartition()
		return time.Now(), "pod " + pod, nil
	}
}

func partitionRules() [][]string {
	return [][]string{
		{"OUTPUT", "-d", podGateway, "-p", "tcp", "--dport", pgPodPort, "-j", "DROP"},
		{"INPUT", "-s", podGateway, "-p", "tcp", "--sport", pgPodPort, "-j", "DROP"},
	}
}

// PostgreSQL as the pods reach it (hack/district.sh's forwarder).
const podGateway, pgPodPort = "198.18.0.1", "25432"

func (s *suite) unpartition() {
	if s.partitioned == 0 {
		return
	}
	for _, r := range partitionRules() {
		// Deleted until none is left (a rule inserted twice).
		for inPodNetns(s.partitioned, append([]string{"iptables", "-D"}, r...)...) == nil {
		}
	}
	s.partitioned = 0
}

// operatorMidProvisioning applies 30 villages to the victim town, kills the
// operator (SIGKILL) as soon as the first is Ready (mid-provisioning: a
// fixed 2 s found all 30 Ready once the operator got faster), starts it
// again 5 s after that, and waits
// until every Village is Ready; the books then look for duplicates among
// their identities and QR ConfigMaps (books.go), and the villages are
// deleted again.
func operatorMidProvisioning(ctx context.Context, s *suite) (time.Time, string, error) {
	if err := s.applyVillages(ctx); err != nil {
		return time.Time{}, "", err
	}
	ready := 0
	for deadline := time.Now().Add(10 * time.Second); ready <= 0 && time.Now().Before(deadline) && ctx.Err() == nil; { // -1: the list failed
		sleep(ctx, 20*time.Millisecond)
		ready = s.readyVillages(ctx)
	}
	if err := signalDaemon(s, "district", "operator", syscall.SIGKILL); err != nil {
		return time.Time{}, "", err
	}
	killed := time.Now()
	sleep(ctx, 5*time.Second)
	if err := s.c.restartOperator(); err != nil {
		return time.Time{}, "", err
	}
	note := fmt.Sprintf("%d of 30 villages Ready when killed", ready)
	if ready <= 0 || ready >= chaosVillages {
		note += " (not mid-provisioning: this row proves less)"
	}
	return killed, note, nil
}

// awaitVillages: recovery of operator-30-villages includes the 30 new
// villages Ready.
func awaitVillages(ctx context.Context, s *suite) error {
	for s.readyVillages(ctx) < chaosVillages {
		if ctx.Err() != nil {
			return fmt.Errorf("%d of %d new villages Ready: %w", s.readyVillages(context.Background()), chaosVillages, ctx.Err())
		}
		sleep(ctx, 500*time.Millisecond)
	}
	return nil
}

// verifyVillages counts the new villages' identities and QR ConfigMaps
// (books.go), then deletes the villages again.
func verifyVillages(ctx context.Context, s *suite, b *books) (string, error) {
	summary, err := s.checkVillages(ctx, b)
	if derr := s.deleteVillages(ctx); derr != nil && err == nil {
		err = derr
	}
	return summary, err
}

// ensureOperator starts the host operator if it is not running.
func (s *suite) ensureOperator() {
	if _, err := daemonPID(s.c.operatorPIDFile()); err == nil {
		return
	}
	if err := s.c.restartOperator(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
	}
}

// kafkaStop stops the shared broker for 60 s and starts the same process
// again (same command line, same data): hack/kafka.sh start would format
// fresh storage.
func kafkaStop(ctx context.Context, s *suite) (time.Time, string, error) {
	pidfile := filepath.Join(s.c.run, "kafka", "kafka.pid")
	pid, err := daemonPID(pidfile)
	if err != nil {
		return time.Time{}, "", err
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return time.Time{}, "", err
	}
	args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	// The java binary by its path: the one hack/kafka.sh found may not be
	// on this PATH.
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		args[0] = exe
	}
	cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	stopped := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return time.Time{}, "", err
	}
	for i := 0; i < 600 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if syscall.Kill(pid, 0) == nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	sleep(ctx, time.Until(stopped.Add(s.kafkaDown)))
	script := `. hack/lib.sh; pidfile=$1 out=$2; shift 2; cd "$CHAOS_CWD"; proc_start "$pidfile" "$out" "$@"`
	cmd := exec.CommandContext(context.Background(), "bash", append([]string{"-c", script, "restart-kafka", pidfile, filepath.Join(s.c.run, "kafka", "kafka.out")}, args...)...)
	cmd.Dir = s.c.repoRoot
	// The broker's own environment, as hack/kafka.sh gave it.
	cmd.Env = os.Environ()
	if len(environ) > 0 {
		cmd.Env = strings.Split(strings.TrimRight(string(environ), "\x00"), "\x00")
	}
	cmd.Env = append(cmd.Env, "CHAOS_CWD="+cwd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return time.Time{}, "", fmt.Errorf("starting Kafka again: %w: %s", err, out)
	}
	return time.Now(), "", nil
}

func pgRestart(ctx context.Context, s *suite) (time.Time, string, error) {
	datadir, err := os.ReadFile(filepath.Join(s.c.run, "postgres", "datadir"))
	if err != nil {
		return time.Time{}, "", err
	}
	logf, err := os.OpenFile(filepath.Join(s.c.run, "postgres", "postgres.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return time.Time{}, "", err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, "runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl",
		"-D", strings.TrimSpace(string(datadir)), "-m", "fast", "-w", "-t", "60", "restart")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return time.Time{}, "", fmt.Errorf("pg_ctl restart: %w", err)
	}
	return time.Now(), "", nil
}
