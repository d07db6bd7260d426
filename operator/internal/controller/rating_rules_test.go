package controller

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

const (
	rulesKey = "rules.yaml"
	// severeConflicts: a conflict of interest costs 25 points.
	severeConflicts = "kinds:\n  warning:\n    label: 违规预警\n    subkinds:\n      conflict-of-interest: {label: 利益冲突未回避, points: -25}\n"
	quarterly       = "period: quarter\n"
	// brokenGrades has two problems, each of which the condition must name.
	brokenGrades = "start: 0\ngrades: {a: 90, b: 95, c: 70}\n"
)

func rulesConfigMap(name, content string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: archiveNS, Name: name, Labels: map[string]string{wuxiaov1.RatingRulesLabel: "true"}},
		Data:       map[string]string{rulesKey: content},
	}
}

// envOf returns the value of an environment variable of a Deployment's
// container, and whether it is set.
func envOf(dep *appsv1.Deployment, name string) (string, bool) {
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func deployment(t *testing.T, town *wuxiaov1.Town, svc wuxiaov1.ServiceName) *appsv1.Deployment {
	t.Helper()
	dep := &appsv1.Deployment{}
	must(t, k8s.Get(context.Background(), types.NamespacedName{Namespace: town.NamespaceName(), Name: string(svc)}, dep))
	return dep
}

// waitInspectionRules waits until the town's inspection Deployment carries
// the given rules (and the town is Ready again).
func waitInspectionRules(t *testing.T, town *wuxiaov1.Town, content string) {
	t.Helper()
	eventually(t, wait, func() error {
		if got, _ := envOf(deployment(t, town, wuxiaov1.ServiceInspection), resources.EnvRatingRules); got != content {
			return fmt.Errorf("inspection runs rules %q, want %q", got, content)
		}
		return nil
	})
	waitTownReady(t, town)
}

// The district's settings reach the towns' Deployments: the trusted proxies
// every service, the rating rules (validated) the inspection service. A
// change of the labelled ConfigMap rolls the rules out at once; invalid or
// missing rules are reported in the condition RatingRulesValid (every bad
// field named) and a Warning event, are not rolled out (the last good rules
// stay), and hold nothing else back: the town stays Ready, a new version
// still rolls out, a new town is still provisioned; a town may name rules of
// its own.
func TestDistrictSettingsReachTheServices(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	cm := rulesConfigMap(fmt.Sprintf("rules-%d", seq.Add(1)), severeConflicts)
	must(t, k8s.Create(ctx, cm))
	d := fixture(t, func(d *wuxiaov1.District) {
		d.Spec.Network.TrustedProxies = []wuxiaov1.TrustedProxy{"198.18.0.1/32", "10.0.0.7", "fd00::/8"}
		d.Spec.RatingRulesRef = &wuxiaov1.ConfigMapKeyRef{Namespace: cm.Namespace, Name: cm.Name, Key: rulesKey}
	})
	town := readyTown(t, d)

	if want := cm.Namespace + "/" + cm.Name + ":" + rulesKey; town.Status.RatingRules != want {
		t.Errorf("status.ratingRules %q, want %q", town.Status.RatingRules, want)
	}
	for _, svc := range wuxiaov1.AllServices {
		dep := deployment(t, town, svc)
		if got, _ := envOf(dep, resources.EnvTrustedProxies); got != "198.18.0.1/32,10.0.0.7,fd00::/8" {
			t.Errorf("%s: %s=%q", svc, resources.EnvTrustedProxies, got)
		}
		rules, set := envOf(dep, resources.EnvRatingRules)
		if want := svc == wuxiaov1.ServiceInspection; set != want || (want && rules != severeConflicts) {
			t.Errorf("%s: %s=%q (set %v)", svc, resources.EnvRatingRules, rules, set)
		}
	}

	// An edit of the ConfigMap reaches the pods without touching the Town.
	update(t, cm, func() { cm.Data[rulesKey] = quarterly })
	waitInspectionRules(t, town, quarterly)

	// Broken rules: the town stays Ready, its condition RatingRulesValid
	// says what to fix (every bad field), a Warning event says it once, and
	// the inspection service keeps the last good rules.
	before := deployment(t, town, wuxiaov1.ServiceInspection)
	update(t, cm, func() { cm.Data[rulesKey] = brokenGrades })
	eventually(t, wait, func() error {
		got := getTown(t, town)
		c, err := expectRulesValid(got, metav1.ConditionFalse, wuxiaov1.ReasonRatingRulesInvalid)
		if err != nil {
			return err
		}
		for _, field := range []string{"start: must be positive", "grades.a: must be at most start", "grades.b: must be below grades.a", cm.Name} {
			if !contains(c.Message, field) {
				return fmt.Errorf("message %q does not name %q", c.Message, field)
			}
		}
		return nil
	})
	waitTownReady(t, town)
	if isStalled(town.Status.Conditions) {
		t.Errorf("bad rating rules stalled the town: %+v", town.Status.Conditions)
	}
	if want := cm.Namespace + "/" + cm.Name + ":" + rulesKey; town.Status.RatingRules != want {
		t.Errorf("status.ratingRules %q, want the last good %q", town.Status.RatingRules, want)
	}
	waitWarning(t, town, wuxiaov1.ReasonRatingRulesInvalid, "grades.b: must be below grades.a")
	after := deployment(t, town, wuxiaov1.ServiceInspection)
	if rules, _ := envOf(after, resources.EnvRatingRules); rules != quarterly || after.Generation != before.Generation {
		t.Errorf("broken rules were rolled out: generation %d -> %d, rules %q", before.Generation, after.Generation, rules)
	}

	// Everything else still reaches the town: a new version rolls out,
	// with the last good rules.
	update(t, d, func() { d.Spec.Services.Version = "v0.2.0" })
	eventually(t, wait, func() error {
		kubelet(t, town.NamespaceName())
		for _, svc := range wuxiaov1.AllServices {
			if v := deployment(t, town, svc).Labels[resources.VersionLabel]; v != "v0.2.0" {
				return fmt.Errorf("%s runs %q while the rules are broken", svc, v)
			}
		}
		return nil
	})
	if rules, _ := envOf(deployment(t, town, wuxiaov1.ServiceInspection), resources.EnvRatingRules); rules != quarterly {
		t.Errorf("after the rollout the inspection service runs rules %q, want the last good ones", rules)
	}
	waitTownReadyAt(t, town, "v0.2.0")

	// A new town under the broken rules is provisioned all the same, with
	// the built-in rules (it has no last good ones).
	fresh := readyTown(t, d)
	if rules, set := envOf(deployment(t, fresh, wuxiaov1.ServiceInspection), resources.EnvRatingRules); set {
		t.Errorf("a new town under broken rules runs %q", rules)
	}
	if _, err := expectRulesValid(fresh, metav1.ConditionFalse, wuxiaov1.ReasonRatingRulesInvalid); err != nil {
		t.Error(err)
	}
	if fresh.Status.RatingRules != "" {
		t.Errorf("new town's status.ratingRules %q, want empty (built-in)", fresh.Status.RatingRules)
	}

	// The town names rules of its own: missing at first, then created.
	own := rulesConfigMap(fmt.Sprintf("rules-%d", seq.Add(1)), severeConflicts)
	update(t, town, func() {
		town.Spec.RatingRulesRef = &wuxiaov1.ConfigMapKeyRef{Namespace: own.Namespace, Name: own.Name, Key: rulesKey}
	})
	eventually(t, wait, func() error {
		_, err := expectRulesValid(getTown(t, town), metav1.ConditionFalse, wuxiaov1.ReasonRatingRulesNotFound)
		return err
	})
	waitTownReady(t, town)
	if rules, _ := envOf(deployment(t, town, wuxiaov1.ServiceInspection), resources.EnvRatingRules); rules != quarterly {
		t.Errorf("with its own rules missing the inspection service runs %q, want the last good ones", rules)
	}
	waitWarning(t, town, wuxiaov1.ReasonRatingRulesNotFound, own.Name)
	must(t, k8s.Create(ctx, own))
	waitInspectionRules(t, town, severeConflicts)
	// The Deployment is applied before the status is patched, and the town
	// was Ready all along: wait for the condition itself.
	eventually(t, wait, func() error {
		town = getTown(t, town)
		_, err := expectRulesValid(town, metav1.ConditionTrue, wuxiaov1.ReasonRatingRulesLoaded)
		return err
	})
	if want := own.Namespace + "/" + own.Name + ":" + rulesKey; town.Status.RatingRules != want {
		t.Errorf("status.ratingRules %q, want %q", town.Status.RatingRules, want)
	}

	// Without any reference the built-in rules return.
	update(t, d, func() { d.Spec.RatingRulesRef = nil })
	update(t, town, func() { town.Spec.RatingRulesRef = nil })
	eventually(t, wait, func() error {
		if rules, set := envOf(deployment(t, town, wuxiaov1.ServiceInspection), resources.EnvRatingRules); set {
			return fmt.Errorf("inspection still runs rules %q", rules)
		}
		return nil
	})
	waitTownReady(t, town)
	if town.Status.RatingRules != "" {
		t.Errorf("status.ratingRules %q, want empty", town.Status.RatingRules)
	}
	if _, err := expectRulesValid(town, metav1.ConditionTrue, wuxiaov1.ReasonRatingRulesLoaded); err != nil {
		t.Error(err)
	}
}

func getTown(t *testing.T, town *wuxiaov1.Town) *wuxiaov1.Town {
	t.Helper()
	got := &wuxiaov1.Town{}
	must(t, k8s.Get(context.Background(), client.ObjectKeyFromObject(town), got))
	return got
}

// expectRulesValid checks the town's condition RatingRulesValid, for the
// town's current generation.
func expectRulesValid(town *wuxiaov1.Town, status metav1.ConditionStatus, reason string) (*metav1.Condition, error) {
	c := meta.FindStatusCondition(town.Status.Conditions, wuxiaov1.ConditionRatingRulesValid)
	if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != town.Generation {
		return c, fmt.Errorf("town %s: RatingRulesValid %+v, want %s %s at generation %d", town.Name, c, status, reason, town.Generation)
	}
	return c, nil
}

// waitWarning waits for a Warning event about the town with the reason and
// a note containing text.
func waitWarning(t *testing.T, town *wuxiaov1.Town, reason, text string) {
	t.Helper()
	eventually(t, wait, func() error {
		evs := &corev1.EventList{}
		if err := k8s.List(context.Background(), evs); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind == "Town" && e.InvolvedObject.Name == town.Name && e.Type == corev1.EventTypeWarning &&
				e.Reason == reason && contains(e.Message, text) {
				return nil
			}
		}
		return fmt.Errorf("no Warning event %s about town %s saying %q", reason, town.Name, text)
	})
}

func isStalled(conds []metav1.Condition) bool {
	for _, c := range conds {
		if c.Type == wuxiaov1.ConditionStalled {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// TestRemovedSettingLeavesTheServices: a District setting removed again
// (trusted proxies, the last variable when no telemetry is set) leaves every
// town service's environment, and a variable added by hand is removed.
func TestRemovedSettingLeavesTheServices(t *testing.T) {
	startManager(t)
	d := fixture(t, func(d *wuxiaov1.District) { d.Spec.Network.TrustedProxies = []wuxiaov1.TrustedProxy{"198.18.0.1/32"} })
	town := readyTown(t, d)
	eventually(t, wait, func() error {
		for _, svc := range wuxiaov1.AllServices {
			if got, _ := envOf(deployment(t, town, svc), resources.EnvTrustedProxies); got != "198.18.0.1/32" {
				return fmt.Errorf("%s: %s=%q", svc, resources.EnvTrustedProxies, got)
			}
		}
		return nil
	})
	update(t, d, func() { d.Spec.Network.TrustedProxies = nil })
	dep := deployment(t, town, wuxiaov1.ServiceWorkflow)
	update(t, dep, func() {
		c := &dep.Spec.Template.Spec.Containers[0]
		c.Env = append(c.Env, corev1.EnvVar{Name: "HAND_ADDED", Value: "1"})
	})
	eventually(t, wait, func() error {
		for _, svc := range wuxiaov1.AllServices {
			dep := deployment(t, town, svc)
			for _, name := range []string{resources.EnvTrustedProxies, "HAND_ADDED"} {
				if got, set := envOf(dep, name); set {
					return fmt.Errorf("%s still has %s=%q", svc, name, got)
				}
			}
		}
		return nil
	})
}
