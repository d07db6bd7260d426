//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// brokenTag is the bad version: hack/e2e/brokenrelease under each service's
// name, a release that becomes Ready and answers every request with 500.
const brokenTag = "e2e-broken"

// TestRolloutHaltsAfterTheFirstWave proves the rollout gate on the real
// cluster: the District moves to a version whose services become Ready but
// serve errors; the first wave (env.town) takes it, the gate reads the new
// pods' own metrics over a short soak while the test sends them requests,
// fails, and the towns of later waves keep the old version; the District
// reports RolloutHalted with an event. The test then puts the version back
// and waits until the first town runs it again, Ready, for the tests that
// follow. A later wave is a town of the district that is up (jinping in the
// default district), else a Town the test applies with no replicas.
func TestRolloutHaltsAfterTheFirstWave(t *testing.T) {
	ctx := t.Context()
	start := time.Now()
	var first wuxiaov1.Town
	if err := env.kube.Get(ctx, client.ObjectKey{Name: env.town}, &first); err != nil {
		t.Fatal(err)
	}
	var d wuxiaov1.District
	if err := env.kube.Get(ctx, client.ObjectKey{Name: first.Spec.District}, &d); err != nil {
		t.Fatal(err)
	}
	good := d.Spec.Services.Version
	if good == brokenTag {
		t.Fatalf("District %s already runs %s: an earlier run did not restore it", d.Name, brokenTag)
	}
	later := laterWave(t, d, first)
	loadBrokenRelease(t)
	t.Logf("images %s loaded after %s", brokenTag, time.Since(start).Round(time.Second))

	// Put the version and the rollout policy back whatever happens, and
	// wait until the first town serves the good version again.
	origRollout := d.Spec.Rollout.DeepCopy()
	restore := func() {
		var cur wuxiaov1.District
		if err := env.kube.Get(context.Background(), client.ObjectKeyFromObject(&d), &cur); err != nil {
			t.Errorf("restoring District %s: %v", d.Name, err)
			return
		}
		base := cur.DeepCopy()
		cur.Spec.Services.Version, cur.Spec.Rollout = good, *origRollout
		if err := env.kube.Patch(context.Background(), &cur, client.MergeFrom(base)); err != nil {
			t.Errorf("restoring District %s: %v", d.Name, err)
			return
		}
		waitTownServes(t, env.town, good)
	}
	restored := false
	t.Cleanup(func() {
		if !restored {
			restore()
		}
	})

	base := d.DeepCopy()
	d.Spec.Services.Version = brokenTag
	d.Spec.Rollout.SoakTime = &metav1.Duration{Duration: 20 * time.Second}
	d.Spec.Rollout.MaxErrorRatio = "0.05"
	d.Spec.Rollout.Paused = false
	changed := time.Now()
	if err := env.kube.Patch(ctx, &d, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	sent, failed := sendTraffic(t, "town-"+env.town, brokenTag)

	var dist wuxiaov1.District
	eventually(t, "District "+d.Name+" RolloutHalted=True", 3*time.Minute, func() error {
		if err := env.kube.Get(ctx, client.ObjectKeyFromObject(&d), &dist); err != nil {
			return err
		}
		c := meta.FindStatusCondition(dist.Status.Conditions, wuxiaov1.ConditionRolloutHalted)
		if c == nil || c.Status != metav1.ConditionTrue {
			var tw wuxiaov1.Town
			_ = env.kube.Get(ctx, client.ObjectKey{Name: env.town}, &tw)
			return fmt.Errorf("RolloutHalted %+v; %s's gate %+v", c, env.town, tw.Status.Rollout)
		}
		return nil
	})
	toHalt := time.Since(changed)
	c := meta.FindStatusCondition(dist.Status.Conditions, wuxiaov1.ConditionRolloutHalted)
	if c.Reason != wuxiaov1.ReasonErrorRatioExceeded {
		t.Errorf("RolloutHalted reason %s, want %s: %s", c.Reason, wuxiaov1.ReasonErrorRatioExceeded, c.Message)
	}
	if r := dist.Status.Rollout; r == nil || r.HaltedVersion != brokenTag || len(r.HaltedTowns) != 1 || r.HaltedTowns[0] != env.town {
		t.Errorf("status.rollout %+v, want %s halted by %s", r, brokenTag, env.town)
	}
	var tw wuxiaov1.Town
	if err := env.kube.Get(ctx, client.ObjectKey{Name: env.town}, &tw); err != nil {
		t.Fatal(err)
	}
	gate := tw.Status.Rollout
	t.Logf("halted %s after the version change; %d requests sent to %s's new pods, %d answered 5xx; gate: %s",
		toHalt.Round(time.Second), sent.Load(), env.town, failed.Load(), gate.Message)
	if gate.Phase != wuxiaov1.RolloutFailed || !strings.Contains(gate.Message, "above the 5% allowed") {
		t.Errorf("%s's gate %+v", env.town, gate)
	}

	// The later wave keeps the good version, and says why.
	eventually(t, "Town "+later+" holding at "+good, time.Minute, func() error {
		var lt wuxiaov1.Town
		if err := env.kube.Get(ctx, client.ObjectKey{Name: later}, &lt); err != nil {
			return err
		}
		r := meta.FindStatusCondition(lt.Status.Conditions, wuxiaov1.ConditionReady)
		if lt.Status.Version != good || r == nil || r.Reason != wuxiaov1.ReasonWaitingForWave || !strings.Contains(r.Message, "is halted") {
			return fmt.Errorf("version %s, Ready %+v", lt.Status.Version, r)
		}
		return nil
	})
	var deps []string
	for _, svc := range wuxiaov1.AllServices {
		img, err := deploymentImage(ctx, "town-"+later, string(svc))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(img, ":"+good) {
			t.Errorf("Town %s's %s runs %s during a halted rollout", later, svc, img)
		}
		deps = append(deps, img)
	}
	t.Logf("%s (a later wave) still runs %s", later, strings.Join(deps, ", "))

	// The event on the District, for kubectl describe and event exporters.
	evs := &unstructured.UnstructuredList{}
	evs.SetAPIVersion("events.k8s.io/v1")
	evs.SetKind("EventList")
	if err := env.kube.List(ctx, evs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs.Items {
		kind, _, _ := unstructured.NestedString(e.Object, "regarding", "kind")
		name, _, _ := unstructured.NestedString(e.Object, "regarding", "name")
		reason, _, _ := unstructured.NestedString(e.Object, "reason")
		note, _, _ := unstructured.NestedString(e.Object, "note")
		found = found || (kind == "District" && name == d.Name && reason == wuxiaov1.ConditionRolloutHalted && strings.Contains(note, brokenTag))
	}
	if !found {
		t.Errorf("no RolloutHalted event on District %s", d.Name)
	}

	// Back to the good version: the halt clears at once.
	back := time.Now()
	restored = true
	restore()
	if err := env.kube.Get(ctx, client.ObjectKeyFromObject(&d), &dist); err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(dist.Status.Conditions, wuxiaov1.ConditionRolloutHalted); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("RolloutHalted after going back to %s: %+v", good, c)
	}
	t.Logf("%s serves %s again %s after going back; whole test %s", env.town, good, time.Since(back).Round(time.Second), time.Since(start).Round(time.Second))
}

// laterWave returns a town of d in a wave after first's: one that exists,
// else one applied for the test with no replicas (its Deployments, and
// their images, are what the test looks at).
func laterWave(t *testing.T, d wuxiaov1.District, first wuxiaov1.Town) string {
	ctx := t.Context()
	var towns wuxiaov1.TownList
	if err := env.kube.List(ctx, &towns); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, tw := range towns.Items {
		used[tw.Spec.Code] = true
		if tw.Spec.District == d.Name && tw.Spec.RolloutWave > first.Spec.RolloutWave && ready(tw.Status.Conditions) {
			return tw.Name
		}
	}
	code := ""
	for i := 0; i < 100 && code == ""; i++ {
		if c := fmt.Sprintf("%s%03d000", d.Spec.Code[:6], 800+(int(time.Now().UnixNano())+i)%100); !used[c] {
			code = c
		}
	}
	if code == "" {
		t.Fatal("no free town code for a later wave")
	}
	var services []wuxiaov1.ServiceTemplate
	for _, s := range wuxiaov1.AllServices {
		services = append(services, wuxiaov1.ServiceTemplate{Name: s, Replicas: ptr.To(int32(0))})
	}
	tw := &wuxiaov1.Town{
		ObjectMeta: metav1.ObjectMeta{Name: "ro" + randomSuffix()},
		Spec: wuxiaov1.TownSpec{District: d.Name, Code: code, Kind: wuxiaov1.TownKindTown, DisplayName: "分批升级测试镇",
			RolloutWave: first.Spec.RolloutWave + 1, Services: services, PreventDeletion: ptr.To(false)},
	}
	t.Logf("a later wave for the test: Town %s (%s), wave %d", tw.Name, code, tw.Spec.RolloutWave)
	if err := env.kube.Create(ctx, tw); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.kube.Delete(context.Background(), tw); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting Town %s: %v", tw.Name, err)
		}
	})
	eventually(t, "Town "+tw.Name+" Ready", 3*time.Minute, func() error {
		var got wuxiaov1.Town
		if err := env.kube.Get(ctx, client.ObjectKeyFromObject(tw), &got); err != nil {
			return err
		}
		if !ready(got.Status.Conditions) {
			return fmt.Errorf("conditions %+v", got.Status.Conditions)
		}
		return nil
	})
	return tw.Name
}

// loadBrokenRelease builds hack/e2e/brokenrelease as the four services'
// images tagged brokenTag and loads them into the cluster's containerd.
func loadBrokenRelease(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir := t.TempDir()
	args := []string{"run", "./hack/images", "-out", dir, "-tag", brokenTag}
	var tars []string
	for _, svc := range wuxiaov1.AllServices {
		args = append(args, string(svc)+"=./hack/e2e/brokenrelease")
		tars = append(tars, filepath.Join(dir, string(svc)+".tar"))
	}
	run := func(name string, args ...string) {
		cmd := exec.CommandContext(t.Context(), name, args...)
		cmd.Dir = root
		cmd.Env = os.Environ()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run("go", args...)
	run("hack/cluster.sh", append([]string{"load"}, tars...)...)
}

// sendTraffic sends requests, as villagers would, to the Ready pods of ns
// at version until the test ends, and counts them and the 5xx answers.
func sendTraffic(t *testing.T, ns, version string) (*atomic.Int64, *atomic.Int64) {
	var sent, failed atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	hc := &http.Client{Timeout: 2 * time.Second}
	go func() {
		defer close(done)
		var ips []string
		listed := time.Time{}
		for ctx.Err() == nil {
			if time.Since(listed) > time.Second {
				ips, listed = readyPodIPs(ctx, ns, version), time.Now()
			}
			for _, ip := range ips {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(ip, "8080")+"/v1/rollout-check", nil)
				if err != nil {
					continue
				}
				resp, err := hc.Do(req)
				if err != nil {
					continue
				}
				_ = resp.Body.Close()
				sent.Add(1)
				if resp.StatusCode >= 500 {
					failed.Add(1)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return &sent, &failed
}

func readyPodIPs(ctx context.Context, ns, version string) []string {
	var pods corev1.PodList
	if err := env.kube.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/version": version}); err != nil {
		return nil
	}
	var ips []string
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil && p.Status.PodIP != "" {
				ips = append(ips, p.Status.PodIP)
			}
		}
	}
	return ips
}

// deploymentImage reads a Deployment as unstructured (the test's scheme
// holds only core and Wuxiao kinds).
func deploymentImage(ctx context.Context, ns, name string) (string, error) {
	d := &unstructured.Unstructured{}
	d.SetAPIVersion("apps/v1")
	d.SetKind("Deployment")
	if err := env.kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		return "", err
	}
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(cs) == 0 {
		return "", errors.New("no container")
	}
	img, _, _ := unstructured.NestedString(cs[0].(map[string]any), "image")
	return img, nil
}

// waitTownServes waits until the town is Ready at version with every
// service's pods Ready at it (the tests that follow call them).
func waitTownServes(t *testing.T, town, version string) {
	eventually(t, "Town "+town+" Ready at "+version, 3*time.Minute, func() error {
		var tw wuxiaov1.Town
		if err := env.kube.Get(context.Background(), client.ObjectKey{Name: town}, &tw); err != nil {
			return err
		}
		if tw.Status.Version != version || !ready(tw.Status.Conditions) {
			return fmt.Errorf("version %s, conditions %+v", tw.Status.Version, tw.Status.Conditions)
		}
		for _, svc := range wuxiaov1.AllServices {
			if _, err := readyPodIP("town-"+town, wuxiaov1.ServiceLabel+"="+string(svc)+",app.kubernetes.io/version="+version); err != nil {
				return err
			}
		}
		return nil
	})
}
