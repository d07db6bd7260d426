package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// cluster is what the suite knows of the one-node cluster of
// hack/cluster.sh and the district of hack/district.sh.
type cluster struct {
	kube     client.Client
	run      string // $WUXIAO_CACHE/run: the pid files of the daemons
	pods     sync.Map
	repoRoot string
}

func newCluster(root string) (*cluster, error) {
	kc := os.Getenv("KUBECONFIG")
	if kc == "" {
		return nil, errors.New("KUBECONFIG is not set: eval \"$(hack/district.sh env)\" first")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		return nil, err
	}
	// Short: while the API server is stopped every call must give up fast
	// rather than hold the load back.
	cfg.Timeout = 5 * time.Second
	cfg.QPS, cfg.Burst = 50, 100
	s := runtime.NewScheme()
	_ = corev1.AddToScheme(s)
	_ = appsv1.AddToScheme(s)
	_ = wuxiaov1.AddToScheme(s)
	kube, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, err
	}
	run := os.Getenv("WUXIAO_RUN")
	if run == "" {
		home, _ := os.UserHomeDir()
		cache := os.Getenv("WUXIAO_CACHE")
		if cache == "" {
			cache = filepath.Join(home, ".cache", "wuxiao")
		}
		run = filepath.Join(cache, "run")
	}
	return &cluster{kube: kube, run: run, repoRoot: root}, nil
}

// podIP is the address of the Ready pod of a town's service, as the host
// reaches it on the pod bridge. The load talks to the pods directly (the
// host is a trusted proxy of the towns, like the gateway), so it does not
// depend on the API server it may be stopping; the last known address
// stays in use while the API server does not answer.
func (c *cluster) podIP(ctx context.Context, town, svc string, refresh bool) string {
	key := town + "/" + svc
	if v, ok := c.pods.Load(key); ok && !refresh {
		return v.(string)
	}
	var list corev1.PodList
	err := c.kube.List(ctx, &list, client.InNamespace("town-"+town), client.MatchingLabels{"wuxiao.io/service": svc})
	if err == nil {
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil && p.Status.PodIP != "" && podReady(&p) {
				c.pods.Store(key, p.Status.PodIP)
				return p.Status.PodIP
			}
		}
	}
	if v, ok := c.pods.Load(key); ok {
		return v.(string)
	}
	return ""
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// notReady lists what is not Ready: Towns, Villages and the towns' and the
// gateway's pods. Empty means the district has converged.
func (c *cluster) notReady(ctx context.Context) ([]string, error) {
	var out []string
	var towns wuxiaov1.TownList
	if err := c.kube.List(ctx, &towns); err != nil {
		return nil, err
	}
	for _, t := range towns.Items {
		if !meta.IsStatusConditionTrue(t.Status.Conditions, "Ready") || t.Status.ObservedGeneration != t.Generation {
			out = append(out, "town/"+t.Name)
		}
	}
	var villages wuxiaov1.VillageList
	if err := c.kube.List(ctx, &villages); err != nil {
		return nil, err
	}
	for _, v := range villages.Items {
		if v.DeletionTimestamp != nil || !meta.IsStatusConditionTrue(v.Status.Conditions, "Ready") {
			out = append(out, "village/"+v.Namespace+"/"+v.Name)
		}
	}
	var pods corev1.PodList
	if err := c.kube.List(ctx, &pods); err != nil {
		return nil, err
	}
	for _, p := range pods.Items {
		if !strings.HasPrefix(p.Namespace, "town-") && p.Namespace != "wuxiao-gateway" {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		if !podReady(&p) {
			out = append(out, "pod/"+p.Namespace+"/"+p.Name)
		}
	}
	return out, nil
}

// waitReady waits until the district has converged, or the deadline.
func (c *cluster) waitReady(ctx context.Context, deadline time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var last []string
	var lastErr error
	for {
		nr, err := c.notReady(ctx)
		if err == nil && len(nr) == 0 {
			return time.Now(), nil
		}
		last, lastErr = nr, err
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("not Ready after %s: %v: %w", deadline, last, lastErr)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// restarts is the restart count of a town's pod's container.
func (c *cluster) restarts(ctx context.Context, town, name string) int32 {
	var p corev1.Pod
	if err := c.kube.Get(ctx, client.ObjectKey{Namespace: "town-" + town, Name: name}, &p); err != nil || len(p.Status.ContainerStatuses) == 0 {
		return -1
	}
	return p.Status.ContainerStatuses[0].RestartCount
}

// containerPID is the host pid of a pod's main process (not the pause
// container's), found through the pod's cgroup: there is no crictl here.
func (c *cluster) containerPID(ctx context.Context, town, svc string) (int, string, error) {
	var list corev1.PodList
	if err := c.kube.List(ctx, &list, client.InNamespace("town-"+town), client.MatchingLabels{"wuxiao.io/service": svc}); err != nil {
		return 0, "", err
	}
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil || !podReady(&p) {
			continue
		}
		uid := string(p.UID)
		pid, err := pidInCgroup(uid, "/usr/local/bin/"+svc)
		return pid, p.Name, err
	}
	return 0, "", fmt.Errorf("no Ready %s pod in town-%s", svc, town)
}

func pidInCgroup(podUID, exe string) (int, error) {
	alt := strings.ReplaceAll(podUID, "-", "_")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cg, err := os.ReadFile(d + "/cgroup")
		if err != nil || (!bytes.Contains(cg, []byte(podUID)) && !bytes.Contains(cg, []byte(alt))) {
			continue
		}
		cmd, _ := os.ReadFile(d + "/cmdline")
		if strings.HasPrefix(string(cmd), exe) {
			return strconv.Atoi(filepath.Base(d))
		}
	}
	return 0, fmt.Errorf("no process %s in pod %s", exe, podUID)
}

// daemonPID reads a pid file of hack/lib.sh's proc_start ("pid starttime exe").
func daemonPID(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("%s is empty", file)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, err
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return 0, fmt.Errorf("%s: pid %d: %w", file, pid, err)
	}
	return pid, nil
}

func (c *cluster) operatorPIDFile() string {
	return filepath.Join(c.run, "district", "pids", "operator.pid")
}

// restartOperator starts the host operator again the way hack/district.sh
// does (its proc_start, same binary, flags and log), so that district.sh
// status and down know it.
func (c *cluster) restartOperator() error {
	script := `set -euo pipefail; . hack/lib.sh
ST="$1"; kc="$2"
KUBECONFIG=$kc proc_start "$ST/pids/operator.pid" "$ST/logs/operator.log" "$WUXIAO_CACHE/bin/wuxiao-operator" \
  --archive-namespace wuxiao-system --metrics-bind-address 127.0.0.1:28080 --health-probe-bind-address 127.0.0.1:28081`
	cmd := exec.CommandContext(context.Background(), "bash", "-c", script, "restart-operator", filepath.Join(c.run, "district"), os.Getenv("KUBECONFIG")) //nolint:gosec // G702: our own script; the arguments are the district's paths
	cmd.Dir = c.repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("restarting the operator: %w: %s", err, out)
	}
	return nil
}

// inPodNetns runs a command (iptables) in the network namespace of pid.
func inPodNetns(pid int, args ...string) error {
	cmd := exec.CommandContext(context.Background(), "nsenter", append([]string{"-t", strconv.Itoa(pid), "-n"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nsenter %v: %w: %s", args, err, out)
	}
	return nil
}
