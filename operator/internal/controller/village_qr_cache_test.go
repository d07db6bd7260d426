package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// TestQRConfigMapCachedWithoutData: the operator's cache keeps a village's
// QR ConfigMap without its images (a digest instead), yet an edit of the
// images is still put back, the digest never reaches the API server, and a
// Ready village costs no write.
func TestQRConfigMapCachedWithoutData(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d)
	v := newVillage(town, "qrcache", "231")
	must(t, k8s.Create(ctx, v))
	waitVillage(t, v, metav1.ConditionTrue, wuxiaov1.ReasonReconciled, "validated against town "+town.Name)
	key := types.NamespacedName{Namespace: v.Namespace, Name: resources.QRConfigMapName(v.Name)}
	orig := &corev1.ConfigMap{}
	must(t, k8s.Get(ctx, key, orig))
	if _, ok := orig.Annotations[CachedDataDigestAnnotation]; ok {
		t.Fatalf("the cache's digest annotation was written to the API server")
	}

	edited := orig.DeepCopy()
	edited.BinaryData[resources.QRPNGKey] = []byte("not a PNG")
	edited.Data[resources.QRSVGKey] = "<svg/>"
	must(t, k8s.Update(ctx, edited))
	eventually(t, wait, func() error {
		got := &corev1.ConfigMap{}
		must(t, k8s.Get(ctx, key, got))
		if !maps.EqualFunc(got.BinaryData, orig.BinaryData, func(a, b []byte) bool { return string(a) == string(b) }) || !maps.Equal(got.Data, orig.Data) {
			return errors.New("the edited QR images are not put back yet")
		}
		if _, ok := got.Annotations[CachedDataDigestAnnotation]; ok {
			return fmt.Errorf("the cache's digest annotation was written to the API server")
		}
		return nil
	})
	checkQR(t, getVillage(t, v), "https://jiandu.example.cn/v/"+v.Spec.Code)

	// What a cache built with the operator's options holds: the digest,
	// not the images.
	opts := CacheOptions()
	opts.Scheme = NewScheme()
	c, err := cache.New(operatorConfig, opts)
	must(t, err)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = c.Start(cctx) }()
	if !c.WaitForCacheSync(cctx) {
		t.Fatal("the cache did not start")
	}
	cached := &corev1.ConfigMap{}
	must(t, c.Get(ctx, key, cached)) // waits for the ConfigMap informer's sync
	if cached.Data != nil || cached.BinaryData != nil || cached.Annotations[CachedDataDigestAnnotation] == "" {
		t.Errorf("the cache keeps the QR ConfigMap's data (%d keys, %d binary keys, digest %q)",
			len(cached.Data), len(cached.BinaryData), cached.Annotations[CachedDataDigestAnnotation])
	}
}

// TestCacheOptionsOneEntryPerKind: ByObject is keyed by pointer, so two
// entries for one kind are possible and the cache would use either (a
// ConfigMap entry without the transform kept every QR image: 112 MiB of
// heap at 8,888 villages).
func TestCacheOptionsOneEntryPerKind(t *testing.T) {
	scheme := NewScheme()
	seen := map[schema.GroupVersionKind]int{}
	var cm cache.ByObject
	for o, by := range CacheOptions().ByObject {
		gvk, err := apiutil.GVKForObject(o, scheme)
		must(t, err)
		seen[gvk]++
		if gvk.Kind == "ConfigMap" {
			cm = by
		}
	}
	for gvk, n := range seen {
		if n > 1 {
			t.Errorf("%d cache entries for %s", n, gvk)
		}
	}
	if cm.Transform == nil {
		t.Fatal("the ConfigMap entry has no transform")
	}
	out, err := cm.Transform(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{wuxiaov1.VillageLabel: "v"}}, Data: map[string]string{"qr.svg": "<svg/>"}})
	must(t, err)
	if out.(*corev1.ConfigMap).Data != nil {
		t.Error("the ConfigMap entry's transform keeps a village ConfigMap's data")
	}
}

// TestStripVillageConfigMapData: which ConfigMaps the cache strips, and
// that qrUpToDate tells an unchanged QR ConfigMap from a changed one.
func TestStripVillageConfigMapData(t *testing.T) {
	v := &wuxiaov1.Village{ObjectMeta: metav1.ObjectMeta{Namespace: "town-a", Name: "v", UID: "u1"}, Spec: wuxiaov1.VillageSpec{Code: "330213101001"}}
	v.Status.PortalURL = "https://jd.example.cn/v/330213101001"
	want := resources.QRConfigMap(v, "a", []byte("png"), "<svg/>")
	owned := func(cm *corev1.ConfigMap) *corev1.ConfigMap {
		cm.OwnerReferences = []metav1.OwnerReference{{APIVersion: wuxiaov1.GroupVersion.String(), Kind: "Village", Name: "v", UID: "u1", Controller: new(true)}}
		return cm
	}
	strip := func(cm *corev1.ConfigMap) *corev1.ConfigMap {
		out, err := stripVillageConfigMapData(cm.DeepCopy())
		must(t, err)
		return out.(*corev1.ConfigMap)
	}
	otherPNG := want.DeepCopy()
	otherPNG.BinaryData[resources.QRPNGKey] = []byte("other")
	otherURL := want.DeepCopy()
	otherURL.Annotations[resources.PortalURLAnnotation] = "https://old.example.cn/v/330213101001"
	for _, tc := range []struct {
		name     string
		cached   *corev1.ConfigMap
		upToDate bool
	}{
		{"as written", strip(owned(want.DeepCopy())), true},
		{"image edited", strip(owned(otherPNG)), false},
		{"old address", strip(owned(otherURL)), false},
		{"not the village's", strip(want.DeepCopy()), false},
		{"not stripped (no digest)", owned(want.DeepCopy()), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cached.Data != nil && tc.cached.Annotations[CachedDataDigestAnnotation] != "" {
				t.Errorf("stripped ConfigMap kept its data")
			}
			if got := qrUpToDate(tc.cached, want, v); got != tc.upToDate {
				t.Errorf("qrUpToDate = %v, want %v", got, tc.upToDate)
			}
		})
	}
	// A town's ConfigMap (no village label) keeps its data.
	townCM := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Labels: resources.TownLabels("a")}, Data: map[string]string{"catalog.json": "{}"}}
	if got := strip(townCM); got.Data["catalog.json"] != "{}" || got.Annotations[CachedDataDigestAnnotation] != "" {
		t.Errorf("a town ConfigMap was stripped: %+v", got)
	}
}
