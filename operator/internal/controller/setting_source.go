package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// townSetting is a town setting kept in a ConfigMap that the District
// names for all its towns and a Town may name for itself: the rating rules
// and the working-day calendar.
type townSetting struct {
	// label marks the ConfigMaps that may hold it (only those are watched).
	label    string
	district func(*wuxiaov1.District) *wuxiaov1.ConfigMapKeyRef
	town     func(*wuxiaov1.Town) *wuxiaov1.ConfigMapKeyRef
}

var (
	ratingRulesSetting = townSetting{
		label:    wuxiaov1.RatingRulesLabel,
		district: func(d *wuxiaov1.District) *wuxiaov1.ConfigMapKeyRef { return d.Spec.RatingRulesRef },
		town:     func(t *wuxiaov1.Town) *wuxiaov1.ConfigMapKeyRef { return t.Spec.RatingRulesRef },
	}
	calendarSetting = townSetting{
		label:    wuxiaov1.CalendarLabel,
		district: func(d *wuxiaov1.District) *wuxiaov1.ConfigMapKeyRef { return d.Spec.CalendarRef },
		town:     func(t *wuxiaov1.Town) *wuxiaov1.ConfigMapKeyRef { return t.Spec.CalendarRef },
	}
)

// settingSource watches the ConfigMaps labelled for s in a cache of their
// own (the manager's cache holds only the operator's own ConfigMaps). The
// cache keeps no data: the setting is read from the API server when a town
// is reconciled.
func (r *TownReconciler) settingSource(mgr ctrl.Manager, s townSetting) (source.Source, error) {
	return labelledSource(mgr, &corev1.ConfigMap{}, s.label, func(cm *corev1.ConfigMap) { cm.Data, cm.BinaryData = nil, nil },
		func(ctx context.Context, cm *corev1.ConfigMap) []reconcile.Request { return r.townsUsing(ctx, cm, s) })
}

// labelledSource watches the objects of obj's kind labelled label=true in a cache of
// their own, started by the manager, which keeps them without their data
// (dropData) or managed fields: only their names and labels are needed to
// find the towns to reconcile (towns), which read the data from the API
// server. Secrets and ConfigMaps the operator does not own never enter the
// manager's cache this way.
func labelledSource[T client.Object](mgr ctrl.Manager, obj T, label string, dropData func(T),
	towns handler.TypedMapFunc[T, reconcile.Request]) (source.Source, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient: mgr.GetHTTPClient(), Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		ByObject: map[client.Object]cache.ByObject{obj: {
			Label: labels.SelectorFromSet(labels.Set{label: "true"}),
			Transform: func(o any) (any, error) {
				if t, ok := o.(T); ok {
					dropData(t)
					t.SetManagedFields(nil)
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
	return source.Kind(c, obj, handler.TypedEnqueueRequestsFromMapFunc(towns)), nil
}

// ownCache makes the manager start the cache with its own caches, before
// the controllers that wait for it.
type ownCache struct{ cache.Cache }

func (c ownCache) GetCache() cache.Cache { return c.Cache }

// townsUsing enqueues the towns whose setting s is in cm: those naming it,
// and those naming none in a District that names it.
func (r *TownReconciler) townsUsing(ctx context.Context, cm *corev1.ConfigMap, s townSetting) []reconcile.Request {
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
		byDistrict[districts.Items[i].Name] = names(s.district(&districts.Items[i]))
	}
	var reqs []reconcile.Request
	for i := range towns.Items {
		t := &towns.Items[i]
		if ref := s.town(t); names(ref) || (ref == nil && byDistrict[t.Spec.District]) {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: t.Name}})
		}
	}
	return reqs
}
