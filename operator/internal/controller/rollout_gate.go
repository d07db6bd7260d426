package controller

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// The rollout gate (District spec.rollout): a town counts as upgraded to a
// version once its pods at that version are Ready and, over spec.rollout.
// soakTime, each service answered at most maxErrorRatio of its requests
// with 5xx, as read from the pods' own metrics at both ends of the soak.
// The verdict lives in the Town's status.rollout; towns of later waves read
// it (rolloutVersion), the District summarises it (RolloutHalted).

// Defaults of spec.rollout, for a District stored before the fields existed
// (the API server defaults them on every write since).
const (
	DefaultSoakTime      = 5 * time.Minute
	DefaultMaxErrorRatio = 0.05
	// gateRetry: how soon a failed reading of the pods' metrics is retried.
	gateRetry = 15 * time.Second
)

// gateGrace: how long past the end of the soak the gate keeps trying to read
// the pods' metrics before it fails with MetricsUnavailable (a variable for
// the tests).
var gateGrace = time.Minute

func rolloutSettings(d *wuxiaov1.District) (time.Duration, float64) {
	soak, ratio := DefaultSoakTime, DefaultMaxErrorRatio
	if s := d.Spec.Rollout.SoakTime; s != nil {
		soak = s.Duration
	}
	if v, err := strconv.ParseFloat(d.Spec.Rollout.MaxErrorRatio, 64); err == nil {
		ratio = v
	}
	return soak, ratio
}

// soakBaselines are the first readings of the soaks under way, in memory: an
// operator that restarts starts each soak again (status.rollout.since moves).
type soakBaselines struct {
	mu sync.Mutex
	m  map[string]soakBaseline
}

type soakBaseline struct {
	version string
	at      time.Time
	counts  map[wuxiaov1.ServiceName]PodRequests
}

func (s *soakBaselines) get(town, version string) (soakBaseline, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[town]
	return b, ok && b.version == version
}

func (s *soakBaselines) put(town string, b soakBaseline) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]soakBaseline{}
	}
	s.m[town] = b
}

func (s *soakBaselines) drop(town string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, town)
}

// rolloutGate moves town.Status.Rollout along for the version the town runs
// and returns when to look again (0: no need). ready says whether every
// service is Ready at version; deps are the town's Deployments as applied.
// A verdict (Passed, Failed) is final for its version: only a new version
// starts a new gate.
func (r *TownReconciler) rolloutGate(ctx context.Context, town *wuxiaov1.Town, district *wuxiaov1.District, version string,
	deps []*appsv1.Deployment, ready bool) time.Duration {
	st := town.Status.Rollout
	if st != nil && st.Version == version && st.Phase != wuxiaov1.RolloutSoaking {
		return 0
	}
	now := time.Now()
	// set records the phase; a zero since keeps the phase's start when the
	// phase goes on.
	set := func(phase, reason, msg string, since time.Time) {
		if since.IsZero() {
			since = now
			if st != nil && st.Version == version && st.Phase == phase {
				since = st.Since.Time
			}
		}
		town.Status.Rollout = &wuxiaov1.TownRolloutStatus{Version: version, Phase: phase, Since: metav1.NewTime(since.Truncate(time.Second)), Reason: reason, Message: msg}
		if phase == wuxiaov1.RolloutFailed {
			r.soaks.drop(town.Name)
			r.Recorder.Eventf(town, nil, corev1.EventTypeWarning, reason, "RolloutGate", "%s failed the rollout gate: %s", version, msg)
		}
	}
	if name := progressDeadlineExceeded(deps, version); name != "" {
		set(wuxiaov1.RolloutFailed, wuxiaov1.ReasonProgressDeadlineExceeded,
			fmt.Sprintf("the %s Deployment did not become available at %s within its progress deadline", name, version), now)
		return 0
	}
	if !ready {
		return 0
	}
	soak, maxRatio := rolloutSettings(district)
	if soak == 0 {
		r.soaks.drop(town.Name)
		set(wuxiaov1.RolloutPassed, "", "Ready; no soak (spec.rollout.soakTime is 0s)", now)
		return 0
	}
	b, ok := r.soaks.get(town.Name, version)
	if !ok || st == nil || st.Version != version {
		counts, err := r.Metrics.Requests(ctx, town, version)
		if err != nil {
			// Metrics that never become readable (a NetworkPolicy that
			// does not admit the operator) halt the rollout like a soak
			// that ends unread, rather than hold it silently.
			if st != nil && st.Version == version && st.Phase == wuxiaov1.RolloutSoaking && now.After(st.Since.Add(soak+gateGrace)) {
				set(wuxiaov1.RolloutFailed, wuxiaov1.ReasonMetricsUnavailable, "cannot read the pods' metrics to start the soak: "+err.Error(), now)
				return 0
			}
			set(wuxiaov1.RolloutSoaking, "", "cannot read the pods' metrics to start the soak, retrying: "+err.Error(), time.Time{})
			return gateRetry
		}
		// A soak under way whose first reading was lost (the operator
		// restarted) starts again from this reading; its status stays as
		// it was, so that a restart writes nothing.
		r.soaks.put(town.Name, soakBaseline{version: version, at: now, counts: counts})
		set(wuxiaov1.RolloutSoaking, "", fmt.Sprintf("pods Ready; soaking for %s with at most %s of each service's requests failing with 5xx",
			soak, percent(maxRatio)), time.Time{})
		return soak
	}
	end := b.at.Add(soak)
	if now.Before(end) {
		return end.Sub(now)
	}
	counts, err := r.Metrics.Requests(ctx, town, version)
	if err != nil {
		if now.After(end.Add(gateGrace)) {
			set(wuxiaov1.RolloutFailed, wuxiaov1.ReasonMetricsUnavailable, "cannot read the pods' metrics at the end of the soak: "+err.Error(), now)
			return 0
		}
		st.Message = "cannot read the pods' metrics at the end of the soak, retrying: " + err.Error()
		return gateRetry
	}
	r.soaks.drop(town.Name)
	passed, msg := Judge(Increase(b.counts, counts), maxRatio)
	if !passed {
		set(wuxiaov1.RolloutFailed, wuxiaov1.ReasonErrorRatioExceeded, fmt.Sprintf("over the %s soak, %s", soak, msg), now)
		return 0
	}
	set(wuxiaov1.RolloutPassed, "", fmt.Sprintf("over the %s soak, %s", soak, msg), now)
	return 0
}

// progressDeadlineExceeded names a Deployment at version whose rollout the
// Deployment controller gave up on (pods that never become Ready, an image
// that cannot be pulled), or returns "".
func progressDeadlineExceeded(deps []*appsv1.Deployment, version string) string {
	for _, d := range deps {
		if d.Labels[resources.VersionLabel] != version {
			continue
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
				return d.Name
			}
		}
	}
	return ""
}

// upgraded reports whether a town counts as upgraded to version.
func upgraded(t *wuxiaov1.Town, version string) bool {
	return t.Status.Version == version && isReady(t.Status.Conditions) && t.Status.ObservedGeneration == t.Generation &&
		t.Status.Rollout != nil && t.Status.Rollout.Version == version && t.Status.Rollout.Phase == wuxiaov1.RolloutPassed
}

// gateFailed reports whether a town failed the gate at version.
func gateFailed(t *wuxiaov1.Town, version string) bool {
	return t.Status.Rollout != nil && t.Status.Rollout.Version == version && t.Status.Rollout.Phase == wuxiaov1.RolloutFailed
}

// reportRolloutHalt sets the District's RolloutHalted condition and
// status.rollout from its towns' gates at spec.services.version, emits an
// event when the halt begins and records the halt metric.
func (r *DistrictReconciler) reportRolloutHalt(ctx context.Context, d *wuxiaov1.District) error {
	towns := &wuxiaov1.TownList{}
	if err := r.List(ctx, towns, client.MatchingFields{townDistrictIndex: d.Name}); err != nil {
		return err
	}
	version := d.Spec.Services.Version
	var halted, details []string
	reason := ""
	for i := range towns.Items {
		t := &towns.Items[i]
		if gateFailed(t, version) {
			halted = append(halted, t.Name)
			details = append(details, t.Name+": "+t.Status.Rollout.Message)
			if reason == "" {
				reason = t.Status.Rollout.Reason
			}
		}
	}
	if len(halted) == 0 {
		d.Status.Rollout = nil
		meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{Type: wuxiaov1.ConditionRolloutHalted, Status: metav1.ConditionFalse,
			Reason: wuxiaov1.ReasonRolloutProceeding, Message: "no town failed the rollout gate at " + version, ObservedGeneration: d.Generation})
		recordRolloutHalted(d.Name, false)
		return nil
	}
	slices.Sort(halted)
	slices.Sort(details)
	if reason == "" {
		reason = wuxiaov1.ReasonErrorRatioExceeded
	}
	msg := fmt.Sprintf("the rollout of %s is halted: towns of later waves keep their version; set spec.services.version to a fixed release or back to the last good one. %s",
		version, strings.Join(details, " | "))
	was := meta.FindStatusCondition(d.Status.Conditions, wuxiaov1.ConditionRolloutHalted)
	if was == nil || was.Status != metav1.ConditionTrue || d.Status.Rollout == nil || d.Status.Rollout.HaltedVersion != version ||
		!slices.Equal(d.Status.Rollout.HaltedTowns, halted) {
		r.Recorder.Eventf(d, nil, corev1.EventTypeWarning, wuxiaov1.ConditionRolloutHalted, "Rollout", "%s", msg)
	}
	d.Status.Rollout = &wuxiaov1.DistrictRolloutStatus{HaltedVersion: version, HaltedTowns: halted}
	meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{Type: wuxiaov1.ConditionRolloutHalted, Status: metav1.ConditionTrue,
		Reason: reason, Message: msg, ObservedGeneration: d.Generation})
	recordRolloutHalted(d.Name, true)
	return nil
}

// gatePhase is a town's gate as the District summarises it.
func gatePhase(t *wuxiaov1.Town) string {
	if t.Status.Rollout == nil {
		return ""
	}
	return t.Status.Rollout.Version + "/" + t.Status.Rollout.Phase
}
