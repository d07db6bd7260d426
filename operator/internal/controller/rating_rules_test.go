package controller

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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
// change of the labelled ConfigMap rolls the rules out at once; invalid
// rules stall the town, name every bad field, and leave the Deployment as
// it was; a town may name rules of its own.
func TestDistrictSettingsReachTheServices(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	cm := rulesConfigMap(fmt.Sprintf("rules-%d", seq.Add(1)), severeConflicts)
	must(t, k8s.Create(ctx, cm))
	d := fixture(t)
	update(t, d, func() {
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

	// Broken rules: the town stalls, saying what to fix, and the
	// inspection service keeps the rules it has.
	before := deployment(t, town, wuxiaov1.ServiceInspection)
	update(t, cm, func() { cm.Data[rulesKey] = brokenGrades })
	eventually(t, wait, func() error {
		got := &wuxiaov1.Town{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(town), got))
		if err := expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionFalse, wuxiaov1.ReasonRatingRulesInvalid); err != nil {
			return err
		}
		_, _, msg := readyOf(got.Status.Conditions)
		for _, field := range []string{"start: must be positive", "grades.a: must be at most start", "grades.b: must be below grades.a", cm.Name} {
			if !contains(msg, field) {
				return fmt.Errorf("message %q does not name %q", msg, field)
			}
		}
		if !isStalled(got.Status.Conditions) {
			return fmt.Errorf("not Stalled: %+v", got.Status.Conditions)
		}
		return nil
	})
	after := deployment(t, town, wuxiaov1.ServiceInspection)
	if rules, _ := envOf(after, resources.EnvRatingRules); rules != quarterly || after.Generation != before.Generation {
		t.Errorf("broken rules were rolled out: generation %d -> %d, rules %q", before.Generation, after.Generation, rules)
	}

	// The town names rules of its own: missing at first, then created.
	own := rulesConfigMap(fmt.Sprintf("rules-%d", seq.Add(1)), severeConflicts)
	update(t, town, func() {
		town.Spec.RatingRulesRef = &wuxiaov1.ConfigMapKeyRef{Namespace: own.Namespace, Name: own.Name, Key: rulesKey}
	})
	eventually(t, wait, func() error {
		got := &wuxiaov1.Town{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(town), got))
		return expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionFalse, wuxiaov1.ReasonRatingRulesNotFound)
	})
	must(t, k8s.Create(ctx, own))
	waitInspectionRules(t, town, severeConflicts)
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
}

func isStalled(conds []metav1.Condition) bool {
	for _, c := range conds {
		if c.Type == wuxiaov1.ConditionStalled {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}
