package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/inspection"
)

// RatingRulesResync is how often a Ready town that uses rating rules from a
// ConfigMap is reconciled again, so that edits of a ConfigMap without
// wuxiaov1.RatingRulesLabel (which the operator does not watch) still arrive.
const RatingRulesResync = 10 * time.Minute

// maxRatingRulesBytes bounds the rules the operator puts into the
// inspection Deployment's environment; real rules are a few KiB.
const maxRatingRulesBytes = 64 << 10

// maxConditionProblems bounds the message of a RatingRulesInvalid condition.
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
// inspection.LoadRules it runs at start-up), or "" for the built-in rules.
// Missing or invalid rules stall the town before any Deployment is written,
// so the inspection service keeps running with the rules it has.
func (r *TownReconciler) resolveRatingRules(ctx context.Context, town *wuxiaov1.Town, district *wuxiaov1.District) (string, error) {
	ref, from := ratingRulesRef(town, district)
	if ref == nil {
		town.Status.RatingRules = ""
		return "", nil
	}
	where := fmt.Sprintf("ConfigMap %s/%s key %q (named by %s)", ref.Namespace, ref.Name, ref.Key, from)
	cm := &corev1.ConfigMap{}
	// Straight from the API server: the cache holds only the operator's own
	// ConfigMaps, and the rules must be current when the Deployment is written.
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return "", stall(wuxiaov1.ReasonRatingRulesNotFound, "%s: the ConfigMap does not exist; create it, or correct the reference", where)
		}
		return "", err
	}
	data, ok := cm.Data[ref.Key]
	if !ok {
		return "", stall(wuxiaov1.ReasonRatingRulesNotFound, "%s: the ConfigMap has no such key (it has: %s)", where,
			strings.Join(slices.Sorted(maps.Keys(cm.Data)), ", "))
	}
	if len(data) > maxRatingRulesBytes {
		return "", stall(wuxiaov1.ReasonRatingRulesInvalid, "%s: the rules are %d bytes, more than the %d allowed", where, len(data), maxRatingRulesBytes)
	}
	if _, err := inspection.LoadRules([]byte(data)); err != nil {
		problems := strings.ReplaceAll(err.Error(), "\n", "; ")
		if len(problems) > maxConditionProblems {
			problems = strings.ToValidUTF8(problems[:maxConditionProblems], "") + "…"
		}
		return "", stall(wuxiaov1.ReasonRatingRulesInvalid, "%s: the rating rules are invalid, and the inspection service keeps the rules it runs with until they are fixed: %s", where, problems)
	}
	town.Status.RatingRules = ref.Namespace + "/" + ref.Name + ":" + ref.Key
	return data, nil
}

// ratingRulesSource watches the ConfigMaps labelled wuxiaov1.RatingRulesLabel
// in a cache of their own (the manager's cache holds only the operator's own
// ConfigMaps). The cache keeps no data: the rules are read from the API
// server when a town is reconciled.
func (r *TownReconciler) ratingRulesSource(mgr ctrl.Manager) (source.Source, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient: mgr.GetHTTPClient(), Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		ByObject: map[client.Object]cache.ByObject{&corev1.ConfigMap{}: {
			Label: labels.SelectorFromSet(labels.Set{wuxiaov1.RatingRulesLabel: "true"}),
			Transform: func(o any) (any, error) {
				if cm, ok := o.(*corev1.ConfigMap); ok {
					cm.Data, cm.BinaryData, cm.ManagedFields = nil, nil, nil
				}
				return o, nil
			},
		}},
	})
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(ownCache{c}); err != nil {
		return nil, err
	}
	return source.Kind(c, &corev1.ConfigMap{}, handler.TypedEnqueueRequestsFromMapFunc(r.townsOfRatingRules)), nil
}

// ownCache makes the manager start the cache with its own caches, before
// the controllers that wait for it.
type ownCache struct{ cache.Cache }

func (c ownCache) GetCache() cache.Cache { return c.Cache }

// townsOfRatingRules enqueues the towns whose rating rules are in cm.
func (r *TownReconciler) townsOfRatingRules(ctx context.Context, cm *corev1.ConfigMap) []reconcile.Request {
	names := func(ref *wuxiaov1.ConfigMapKeyRef) bool {
		return ref != nil && ref.Namespace == cm.Namespace && ref.Name == cm.Name
	}
	districts := &wuxiaov1.DistrictList{}
	towns := &wuxiaov1.TownList{}
	if err := r.List(ctx, districts); err != nil {
		return nil
	}
	if err := r.List(ctx, towns); err != nil {
		return nil
	}
	byDistrict := map[string]bool{}
	for i := range districts.Items {
		byDistrict[districts.Items[i].Name] = names(districts.Items[i].Spec.RatingRulesRef)
	}
	var reqs []reconcile.Request
	for i := range towns.Items {
		t := &towns.Items[i]
		if names(t.Spec.RatingRulesRef) || (t.Spec.RatingRulesRef == nil && byDistrict[t.Spec.District]) {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: t.Name}})
		}
	}
	return reqs
}
