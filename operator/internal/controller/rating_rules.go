package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/wuxiao/wuxiao/api/ratingrules"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// RatingRulesResync is how often a Ready town that uses rating rules from a
// ConfigMap is reconciled again, so that edits of a ConfigMap without
// wuxiaov1.RatingRulesLabel (which the operator does not watch) still arrive.
const RatingRulesResync = 10 * time.Minute

// maxRatingRulesBytes bounds the rules the operator puts into the
// inspection Deployment's environment; real rules are a few KiB.
const maxRatingRulesBytes = 64 << 10

// maxConditionProblems bounds the message of a RatingRulesValid condition.
const maxConditionProblems = 4096

// ratingRulesRef is the reference in force for a town: its own, else its
// district's; from says which field named it, for messages.
func ratingRulesRef(town *wuxiaov1.Town, district *wuxiaov1.District) (ref *wuxiaov1.ConfigMapKeyRef, from string) {
	if town.Spec.RatingRulesRef != nil {
		return town.Spec.RatingRulesRef, "spec.ratingRulesRef"
	}
	if district.Spec.RatingRulesRef != nil {
		return district.Spec.RatingRulesRef, "District " + district.Name + " spec.ratingRulesRef"
	}
	return nil, ""
}

// resolveRatingRules returns the content of the town's rating rules after
// checking that the inspection service will load them (the same
// ratingrules.Load it runs at start-up), or "" for the built-in rules.
// Missing or invalid rules are a problem (reason and message for the
// condition RatingRulesValid), not an error: the caller keeps the last good
// rules and reconciles the rest of the town, so that one bad ConfigMap does
// not hold back rollouts and every other change of the towns using it.
func (r *TownReconciler) resolveRatingRules(ctx context.Context, town *wuxiaov1.Town, district *wuxiaov1.District) (rules, source string, problem *stalled, err error) {
	ref, from := ratingRulesRef(town, district)
	if ref == nil {
		return "", "", nil, nil
	}
	where := fmt.Sprintf("ConfigMap %s/%s key %q (named by %s)", ref.Namespace, ref.Name, ref.Key, from)
	keeps := "; the inspection service keeps its last good rules until this is fixed"
	cm := &corev1.ConfigMap{}
	// Straight from the API server: the cache holds only the operator's own
	// ConfigMaps, and the rules must be current when the Deployment is written.
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return "", "", &stalled{wuxiaov1.ReasonRatingRulesNotFound, where + ": the ConfigMap does not exist; create it, or correct the reference" + keeps}, nil
		}
		return "", "", nil, err
	}
	data, ok := cm.Data[ref.Key]
	if !ok {
		return "", "", &stalled{wuxiaov1.ReasonRatingRulesNotFound, fmt.Sprintf("%s: the ConfigMap has no such key (it has: %s)%s", where,
			strings.Join(slices.Sorted(maps.Keys(cm.Data)), ", "), keeps)}, nil
	}
	if len(data) > maxRatingRulesBytes {
		return "", "", &stalled{wuxiaov1.ReasonRatingRulesInvalid, fmt.Sprintf("%s: the rules are %d bytes, more than the %d allowed%s", where, len(data), maxRatingRulesBytes, keeps)}, nil
	}
	if _, err := ratingrules.Load([]byte(data)); err != nil {
		problems := strings.ReplaceAll(err.Error(), "\n", "; ")
		if len(problems) > maxConditionProblems {
			problems = strings.ToValidUTF8(problems[:maxConditionProblems], "") + "…"
		}
		return "", "", &stalled{wuxiaov1.ReasonRatingRulesInvalid, fmt.Sprintf("%s: the rating rules are invalid%s: %s", where, keeps, problems)}, nil
	}
	return data, ref.Namespace + "/" + ref.Name + ":" + ref.Key, nil, nil
}

// ratingRules decides the rules the town's inspection service runs and
// reports them in status.ratingRules and the condition RatingRulesValid.
// With a problem, the rules stay those of the live inspection Deployment
// (none when it has none or does not exist yet): the last good ones.
func (r *TownReconciler) ratingRules(ctx context.Context, town *wuxiaov1.Town, district *wuxiaov1.District) (string, error) {
	rules, source, problem, err := r.resolveRatingRules(ctx, town, district)
	if err != nil {
		return "", err
	}
	cond := metav1.Condition{Type: wuxiaov1.ConditionRatingRulesValid, Status: metav1.ConditionTrue,
		Reason: wuxiaov1.ReasonRatingRulesLoaded, Message: "the built-in rating rules", ObservedGeneration: town.Generation}
	switch {
	case problem != nil:
		live, set, err := r.liveRatingRules(ctx, town)
		if err != nil {
			return "", err
		}
		rules = live
		if !set {
			town.Status.RatingRules = ""
		}
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, problem.reason, problem.msg
		// One event per new problem, not one per periodic retry.
		if old := meta.FindStatusCondition(town.Status.Conditions, cond.Type); old == nil || old.Reason != cond.Reason || old.Message != cond.Message {
			r.Recorder.Eventf(town, nil, corev1.EventTypeWarning, problem.reason, "ValidateRatingRules", "%s", problem.msg)
		}
	case source != "":
		town.Status.RatingRules = source
		cond.Message = "the rating rules of " + source
	default:
		town.Status.RatingRules = ""
	}
	meta.SetStatusCondition(&town.Status.Conditions, cond)
	return rules, nil
}

// liveRatingRules returns the rating rules the town's inspection Deployment
// runs with, and whether it has any. Read from the API server: a cache that
// lags behind the operator's last write would bring older rules back.
func (r *TownReconciler) liveRatingRules(ctx context.Context, town *wuxiaov1.Town) (string, bool, error) {
	dep := &appsv1.Deployment{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: town.NamespaceName(), Name: resources.ObjectName(wuxiaov1.ServiceInspection)}, dep)
	if apierrors.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	for _, c := range dep.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == resources.EnvRatingRules {
				return e.Value, true, nil
			}
		}
	}
	return "", false, nil
}
