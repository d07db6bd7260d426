package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// operator-mid-rollout: the District moves to a new service version — the
// images it runs, tagged anew in the node's containerd (the operator rolls
// out by tag; the build stays the one under test) — with a short soak
// (-rollout-soak), and the host operator is SIGKILLed while the first wave's
// pods are being replaced. After its restart the rollout must go on town by
// town (a later wave's Deployments change only once every earlier wave
// passed the rollout gate at the new version), every Town end Ready at the
// new version, and the load's books stay clean. The District's version and
// rollout policy are put back afterwards (soak 0s for the way back).

// rolloutRun is the state of one operator-mid-rollout phase.
type rolloutRun struct {
	district     string
	from, to     string
	repo         string
	orig         wuxiaov1.RolloutSpec
	killed       time.Time
	stopWatch    context.CancelFunc
	watchDone    chan struct{}
	mu           sync.Mutex
	moved        map[string]time.Time // town -> first seen with every service at the new version
	passed       map[string]time.Time // town -> its gate's Passed since, at the new version
	waves        map[string]int32
	violations   []string
	watchErrors  int
	backDuration time.Duration
}

// rolloutTime: the two waves' soaks (one of them started again by the
// operator's restart) and the pods' replacement, on top of the deadline.
func rolloutTime(s *suite) time.Duration { return 4 * s.rolloutSoak }

// serviceDeployments lists the towns' service Deployments by town.
func (s *suite) serviceDeployments(ctx context.Context) (map[string][]appsv1.Deployment, error) {
	var list appsv1.DeploymentList
	if err := s.c.kube.List(ctx, &list, client.HasLabels{"wuxiao.io/service"}); err != nil {
		return nil, err
	}
	out := map[string][]appsv1.Deployment{}
	for _, d := range list.Items {
		if town, ok := strings.CutPrefix(d.Namespace, "town-"); ok {
			out[town] = append(out[town], d)
		}
	}
	return out, nil
}

// atVersion: the Deployment's pod template runs the version's image.
func atVersion(d *appsv1.Deployment, version string) bool {
	for _, c := range d.Spec.Template.Spec.Containers {
		if strings.HasSuffix(c.Image, ":"+version) {
			return true
		}
	}
	return false
}

// rolledOut: the Deployment's pods are all of its current template and
// available, none of an older one left.
func rolledOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == want && st.AvailableReplicas >= want && st.Replicas == want
}

// tagImages tags every image of repo at from also as to in the node's
// containerd (the pods' image pull policy is Never: they run what is there).
func (s *suite) tagImages(ctx context.Context, repo, from, to string) (int, error) {
	sock := filepath.Join(s.c.run, "cluster", "containerd", "containerd.sock")
	out, err := exec.CommandContext(ctx, "ctr", "-a", sock, "-n", "k8s.io", "images", "ls", "-q").Output()
	if err != nil {
		return 0, fmt.Errorf("ctr images ls: %w", err)
	}
	n := 0
	for _, ref := range strings.Fields(string(out)) {
		if !strings.HasPrefix(ref, repo+"/") || !strings.HasSuffix(ref, ":"+from) {
			continue
		}
		dst := strings.TrimSuffix(ref, ":"+from) + ":" + to
		if b, err := exec.CommandContext(ctx, "ctr", "-a", sock, "-n", "k8s.io", "images", "tag", "--force", ref, dst).CombinedOutput(); err != nil {
			return n, fmt.Errorf("ctr images tag %s %s: %w: %s", ref, dst, err, b)
		}
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("no image %s/*:%s in the node's containerd", repo, from)
	}
	return n, nil
}

// untagImages removes the tags tagImages made (the images stay under from).
func (s *suite) untagImages(ctx context.Context, repo, to string) {
	sock := filepath.Join(s.c.run, "cluster", "containerd", "containerd.sock")
	out, err := exec.CommandContext(ctx, "ctr", "-a", sock, "-n", "k8s.io", "images", "ls", "-q").Output()
	if err != nil {
		return
	}
	for _, ref := range strings.Fields(string(out)) {
		if strings.HasPrefix(ref, repo+"/") && strings.HasSuffix(ref, ":"+to) {
			_ = exec.CommandContext(ctx, "ctr", "-a", sock, "-n", "k8s.io", "images", "rm", ref).Run()
		}
	}
}

func (s *suite) patchDistrict(ctx context.Context, name string, edit func(*wuxiaov1.District)) error {
	var d wuxiaov1.District
	if err := s.c.kube.Get(ctx, client.ObjectKey{Name: name}, &d); err != nil {
		return err
	}
	base := d.DeepCopy()
	edit(&d)
	return s.c.kube.Patch(ctx, &d, client.MergeFrom(base))
}

func operatorMidRollout(ctx context.Context, s *suite) (time.Time, string, error) {
	var town wuxiaov1.Town
	if err := s.c.kube.Get(ctx, client.ObjectKey{Name: s.town}, &town); err != nil {
		return time.Time{}, "", err
	}
	var d wuxiaov1.District
	if err := s.c.kube.Get(ctx, client.ObjectKey{Name: town.Spec.District}, &d); err != nil {
		return time.Time{}, "", err
	}
	ro := &rolloutRun{district: d.Name, from: d.Spec.Services.Version, to: "chaos-" + s.run,
		repo: strings.TrimSuffix(d.Spec.Services.ImageRepository, "/"), orig: *d.Spec.Rollout.DeepCopy(),
		moved: map[string]time.Time{}, passed: map[string]time.Time{}, waves: map[string]int32{}}
	if ro.from == ro.to || strings.HasPrefix(ro.from, "chaos-") {
		return time.Time{}, "", fmt.Errorf("the District %s runs %s: an earlier run did not put its version back", d.Name, ro.from)
	}
	if d.Spec.Rollout.Paused {
		return time.Time{}, "", fmt.Errorf("the rollout of the District %s is paused", d.Name)
	}
	if _, err := s.tagImages(ctx, ro.repo, ro.from, ro.to); err != nil {
		return time.Time{}, "", err
	}
	s.ro = ro
	wctx, stop := context.WithCancel(context.Background())
	ro.stopWatch, ro.watchDone = stop, make(chan struct{})
	go s.watchRollout(wctx, ro)
	changed := time.Now()
	if err := s.patchDistrict(ctx, d.Name, func(d *wuxiaov1.District) {
		d.Spec.Services.Version = ro.to
		d.Spec.Rollout.SoakTime = &metav1.Duration{Duration: s.rolloutSoak}
	}); err != nil {
		return time.Time{}, "", err
	}
	// Mid-rollout: some of a town's services already replaced, some not
	// (the four roll at once, so the window is seconds); failing that
	// within 30 s of the first Deployment's change, whatever state it is in.
	var first time.Time
	var state string
	for {
		if ctx.Err() != nil {
			return time.Time{}, "", ctx.Err()
		}
		if time.Since(changed) > 2*time.Minute {
			return time.Time{}, "", fmt.Errorf("no town's Deployments moved to %s within 2 minutes", ro.to)
		}
		deps, err := s.serviceDeployments(ctx)
		if err != nil {
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		mid := false
		for _, t := range slices.Sorted(maps.Keys(deps)) {
			moved, done := 0, 0
			for i := range deps[t] {
				if atVersion(&deps[t][i], ro.to) {
					moved++
					if rolledOut(&deps[t][i]) {
						done++
					}
				}
			}
			if moved > 0 && first.IsZero() {
				first = time.Now()
			}
			if moved > 0 && (done > 0 && done < len(deps[t]) || time.Since(first) > 30*time.Second) {
				mid, state = true, fmt.Sprintf("%s: %d of %d services moved, %d of them rolled out", t, moved, len(deps[t]), done)
				break
			}
		}
		if mid {
			break
		}
		sleep(ctx, 100*time.Millisecond)
	}
	if err := signalDaemon(s, "district", "operator", syscall.SIGKILL); err != nil {
		return time.Time{}, "", err
	}
	ro.killed = time.Now()
	sleep(ctx, 5*time.Second)
	if err := s.c.restartOperator(); err != nil {
		return time.Time{}, "", err
	}
	return ro.killed, fmt.Sprintf("%s → %s, soak %s; killed %.1fs after the version change (%s)",
		ro.from, ro.to, s.rolloutSoak, ro.killed.Sub(changed).Seconds(), state), nil
}

// watchRollout samples the district every 250 ms: the Deployments first,
// then the Towns, so that a later wave found at the new version must by
// then show every earlier wave Passed (the operator writes the verdict
// before it moves the next wave).
func (s *suite) watchRollout(ctx context.Context, ro *rolloutRun) {
	defer close(ro.watchDone)
	for ctx.Err() == nil {
		deps, err := s.serviceDeployments(ctx)
		var towns wuxiaov1.TownList
		if err == nil {
			err = s.c.kube.List(ctx, &towns)
		}
		if err != nil {
			ro.mu.Lock()
			ro.watchErrors++
			ro.mu.Unlock()
			sleep(ctx, 250*time.Millisecond)
			continue
		}
		now := time.Now()
		ro.mu.Lock()
		gate := map[string]*wuxiaov1.TownRolloutStatus{}
		for _, t := range towns.Items {
			if t.Spec.District != ro.district {
				continue
			}
			ro.waves[t.Name] = t.Spec.RolloutWave
			gate[t.Name] = t.Status.Rollout
			if r := t.Status.Rollout; r != nil && r.Version == ro.to && r.Phase == wuxiaov1.RolloutPassed {
				if _, ok := ro.passed[t.Name]; !ok {
					ro.passed[t.Name] = r.Since.Time
				}
			}
		}
		for t, ds := range deps {
			some, all := false, len(ds) > 0
			for i := range ds {
				at := atVersion(&ds[i], ro.to)
				some, all = some || at, all && at
			}
			if all {
				if _, ok := ro.moved[t]; !ok {
					ro.moved[t] = now
				}
			}
			if !some {
				continue
			}
			for o, w := range ro.waves {
				if w >= ro.waves[t] {
					continue
				}
				if r := gate[o]; r == nil || r.Version != ro.to || r.Phase != wuxiaov1.RolloutPassed {
					v := fmt.Sprintf("%s (wave %d) moved to %s while %s (wave %d) had not passed the gate at it (%+v)", t, ro.waves[t], ro.to, o, w, r)
					if !slices.Contains(ro.violations, v) && len(ro.violations) < 5 {
						ro.violations = append(ro.violations, v)
					}
				}
			}
		}
		ro.mu.Unlock()
		sleep(ctx, 250*time.Millisecond)
	}
}

// awaitRollout: every Town of the district passed the gate at the new
// version and every service Deployment (the gateway's too) runs it, rolled
// out. A failed gate ends the wait at once.
func awaitRollout(ctx context.Context, s *suite) error {
	ro := s.ro
	if ro == nil {
		return errors.New("no rollout under way")
	}
	for {
		why, err := s.rolloutDone(ctx, ro, ro.to)
		var gate gateFailed
		if errors.As(err, &gate) {
			return err
		}
		if err != nil {
			why = err.Error() // the API server: asked again
		}
		if err == nil && why == "" {
			ro.stopWatch()
			<-ro.watchDone
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("rollout of %s not finished: %s: %w", ro.to, why, ctx.Err())
		}
		sleep(ctx, 500*time.Millisecond)
	}
}

// gateFailed: a town failed the rollout gate (the wait is over).
type gateFailed struct{ msg string }

func (g gateFailed) Error() string { return g.msg }

// rolloutDone says why not every town and the gateway run version, rolled
// out and (for towns) Ready with a Passed gate; "" when they do. A
// gateFailed error is a failed gate, any other the API's.
func (s *suite) rolloutDone(ctx context.Context, ro *rolloutRun, version string) (string, error) {
	var towns wuxiaov1.TownList
	if err := s.c.kube.List(ctx, &towns); err != nil {
		return "", err
	}
	deps, err := s.serviceDeployments(ctx)
	if err != nil {
		return "", err
	}
	var gw appsv1.DeploymentList
	if err := s.c.kube.List(ctx, &gw, client.MatchingLabels{"app.kubernetes.io/name": "gateway"}); err != nil {
		return "", err
	}
	var waiting []string
	for _, t := range towns.Items {
		if t.Spec.District != ro.district || t.DeletionTimestamp != nil {
			continue
		}
		r := t.Status.Rollout
		if r != nil && r.Version == version && r.Phase == wuxiaov1.RolloutFailed {
			return "", gateFailed{fmt.Sprintf("town %s failed the rollout gate at %s: %s: %s", t.Name, version, r.Reason, r.Message)}
		}
		switch {
		case t.Status.Version != version:
			waiting = append(waiting, t.Name+" at "+t.Status.Version)
		case r == nil || r.Version != version || r.Phase != wuxiaov1.RolloutPassed:
			waiting = append(waiting, fmt.Sprintf("%s's gate %+v", t.Name, r))
		case !meta.IsStatusConditionTrue(t.Status.Conditions, "Ready"):
			waiting = append(waiting, t.Name+" not Ready")
		}
		for i := range deps[t.Name] {
			if d := &deps[t.Name][i]; !atVersion(d, version) || !rolledOut(d) {
				waiting = append(waiting, d.Namespace+"/"+d.Name+" rolling")
			}
		}
	}
	for i := range gw.Items {
		if d := &gw.Items[i]; !atVersion(d, version) || !rolledOut(d) {
			waiting = append(waiting, d.Namespace+"/"+d.Name+" rolling")
		}
	}
	return strings.Join(waiting, ", "), nil
}

// verifyRollout: the waves' order held, and when each town moved and
// passed, counted from the kill.
func verifyRollout(_ context.Context, s *suite, b *books) (string, error) {
	ro := s.ro
	if ro == nil {
		return "", errors.New("no rollout under way")
	}
	ro.mu.Lock()
	defer ro.mu.Unlock()
	towns := slices.Collect(maps.Keys(ro.waves))
	slices.SortFunc(towns, func(a, b string) int {
		if ro.waves[a] != ro.waves[b] {
			return int(ro.waves[a] - ro.waves[b])
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, t := range towns {
		parts = append(parts, fmt.Sprintf("%s (wave %d) moved %+.0fs, passed %+.0fs", t, ro.waves[t],
			ro.moved[t].Sub(ro.killed).Seconds(), ro.passed[t].Sub(ro.killed).Seconds()))
	}
	summary := "from the kill: " + strings.Join(parts, ", ") + "; every town on " + ro.to
	if ro.watchErrors > 0 {
		summary += fmt.Sprintf(" (%d samples of the order missed: API errors)", ro.watchErrors)
	}
	for _, v := range ro.violations {
		b.problem("rollout: %s", v)
	}
	if len(ro.violations) > 0 {
		return summary, fmt.Errorf("the rollout did not go town by town: %s", ro.violations[0])
	}
	return summary + ", wave after wave", nil
}

// rollBack puts the District's version and rollout policy back after
// operator-mid-rollout (soak 0s for the way back: the old version passed
// its gate before), waits until every town runs it again, and removes the
// new tags.
func (s *suite) rollBack() {
	ro := s.ro
	if ro == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ro.stopWatch()
	<-ro.watchDone
	start := time.Now()
	if err := s.patchDistrict(ctx, ro.district, func(d *wuxiaov1.District) {
		d.Spec.Services.Version = ro.from
		d.Spec.Rollout.SoakTime = &metav1.Duration{}
	}); err != nil {
		fmt.Println("chaos: putting the version back:", err)
		return
	}
	for {
		why, err := s.rolloutDone(ctx, ro, ro.from)
		var gate gateFailed
		if err == nil && why == "" {
			break
		}
		if errors.As(err, &gate) || ctx.Err() != nil {
			fmt.Printf("chaos: the district is not back on %s: %s %v\n", ro.from, why, err)
			break
		}
		sleep(ctx, time.Second)
	}
	ro.backDuration = time.Since(start)
	if err := s.patchDistrict(ctx, ro.district, func(d *wuxiaov1.District) { d.Spec.Rollout = ro.orig }); err != nil {
		fmt.Println("chaos: putting the rollout policy back:", err)
		return
	}
	s.untagImages(ctx, ro.repo, ro.to)
	// Every pod was replaced twice: the load's addresses are looked up
	// afresh (the next fault may be the API server's).
	s.c.pods.Clear()
	fmt.Printf("chaos: District %s back on %s in %s, rollout policy restored\n", ro.district, ro.from, ro.backDuration.Round(time.Second))
	s.ro = nil
}
