package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	wx "github.com/wuxiao/wuxiao/api/v1alpha1"
)

var (
	townsGVR    = wx.GroupVersion.WithResource("towns")
	villagesGVR = wx.GroupVersion.WithResource("villages")
)

// tracker watches Towns and Villages (one LIST and one WATCH each, never
// polling) and notices when all of them are Ready. It also reports namespaces
// as they appear, so villages can be created as soon as their town's
// namespace exists.
type tracker struct {
	wantTowns, wantVillages int

	mu            sync.Mutex
	ready         map[string]bool      // "town/<name>" or "village/<ns>/<name>"
	created       map[string]time.Time // same keys
	readyAt       map[string]time.Time
	nReadyTowns   int
	nReadyVill    int
	townsReadyAt  time.Time
	allReadyAt    time.Time
	allReady      chan struct{}
	townInformer  cache.SharedIndexInformer
	villInformer  cache.SharedIndexInformer
	onNamespace   func(string)
	seenNamespace map[string]bool
}

func startTracker(ctx context.Context, dyn dynamic.Interface, cs kubernetes.Interface, l layout, onNamespace func(string)) (*tracker, error) {
	t := &tracker{
		wantTowns: l.Towns, wantVillages: l.Villages,
		ready: map[string]bool{}, created: map[string]time.Time{}, readyAt: map[string]time.Time{},
		allReady: make(chan struct{}), onNamespace: onNamespace, seenNamespace: map[string]bool{},
	}
	df := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	t.townInformer = df.ForResource(townsGVR).Informer()
	t.villInformer = df.ForResource(villagesGVR).Informer()
	for _, inf := range []struct {
		i    cache.SharedIndexInformer
		kind string
	}{{t.townInformer, "town"}, {t.villInformer, "village"}} {
		kind := inf.kind
		if _, err := inf.i.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { t.observe(kind, o) },
			UpdateFunc: func(_, o any) { t.observe(kind, o) },
		}); err != nil {
			return nil, err
		}
	}
	syncs := []cache.InformerSynced{t.townInformer.HasSynced, t.villInformer.HasSynced}
	if onNamespace != nil {
		f := informers.NewSharedInformerFactory(cs, 0)
		nsInf := f.Core().V1().Namespaces().Informer()
		if _, err := nsInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    t.observeNamespace,
			UpdateFunc: func(_, o any) { t.observeNamespace(o) },
		}); err != nil {
			return nil, err
		}
		f.Start(ctx.Done())
		syncs = append(syncs, nsInf.HasSynced)
	}
	df.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), syncs...) {
		return nil, fmt.Errorf("tracker informers did not sync: %w", ctx.Err())
	}
	return t, nil
}

func (t *tracker) observeNamespace(o any) {
	ns, ok := o.(*corev1.Namespace)
	if !ok || ns.Status.Phase == corev1.NamespaceTerminating {
		return
	}
	t.mu.Lock()
	seen := t.seenNamespace[ns.Name]
	t.seenNamespace[ns.Name] = true
	t.mu.Unlock()
	if !seen {
		t.onNamespace(ns.Name)
	}
}

// readyCondition returns the Ready condition's status, reason and message.
func readyCondition(u *unstructured.Unstructured) (status, reason, message string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != wx.ConditionReady {
			continue
		}
		s, _ := m["status"].(string)
		r, _ := m["reason"].(string)
		msg, _ := m["message"].(string)
		return s, r, msg
	}
	return "", "NoReadyCondition", ""
}

func objKey(kind string, u *unstructured.Unstructured) string {
	if u.GetNamespace() != "" {
		return kind + "/" + u.GetNamespace() + "/" + u.GetName()
	}
	return kind + "/" + u.GetName()
}

func (t *tracker) observe(kind string, o any) {
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return
	}
	status, _, _ := readyCondition(u)
	now := time.Now()
	key := objKey(kind, u)
	t.mu.Lock()
	defer t.mu.Unlock()
	isReady := status == "True"
	if isReady == t.ready[key] {
		return
	}
	t.ready[key] = isReady
	d := -1
	if isReady {
		d = 1
		if _, ok := t.readyAt[key]; !ok {
			t.readyAt[key] = now
		}
	}
	if kind == "town" {
		t.nReadyTowns += d
		if t.nReadyTowns == t.wantTowns && t.townsReadyAt.IsZero() {
			t.townsReadyAt = now
		}
	} else {
		t.nReadyVill += d
	}
	if t.nReadyTowns >= t.wantTowns && t.nReadyVill >= t.wantVillages && t.allReadyAt.IsZero() {
		t.allReadyAt = now
		close(t.allReady)
	}
}

func (t *tracker) markCreated(kind, ns, name string, at time.Time) {
	key := kind + "/" + name
	if ns != "" {
		key = kind + "/" + ns + "/" + name
	}
	t.mu.Lock()
	t.created[key] = at
	t.mu.Unlock()
}

type progress struct {
	TownsReady    int `json:"townsReady"`
	Towns         int `json:"towns"`
	VillagesReady int `json:"villagesReady"`
	Villages      int `json:"villages"`
	// NotReady counts the objects that are not Ready by the reason of their
	// Ready condition, with one example message each.
	NotReady map[string]notReady `json:"notReady,omitempty"`
}

type notReady struct {
	Count   int    `json:"count"`
	Example string `json:"example"`
}

func (p progress) String() string {
	return fmt.Sprintf("towns Ready %d/%d, villages Ready %d/%d", p.TownsReady, p.Towns, p.VillagesReady, p.Villages)
}

func (t *tracker) progress(withReasons bool) progress {
	t.mu.Lock()
	p := progress{TownsReady: t.nReadyTowns, Towns: t.wantTowns, VillagesReady: t.nReadyVill, Villages: t.wantVillages}
	t.mu.Unlock()
	if !withReasons {
		return p
	}
	p.NotReady = map[string]notReady{}
	for _, inf := range []struct {
		i    cache.SharedIndexInformer
		kind string
	}{{t.townInformer, "Town"}, {t.villInformer, "Village"}} {
		for _, o := range inf.i.GetStore().List() {
			u := o.(*unstructured.Unstructured)
			s, r, msg := readyCondition(u)
			if s == "True" {
				continue
			}
			k := inf.kind + " " + r
			n := p.NotReady[k]
			n.Count++
			if n.Example == "" {
				n.Example = u.GetName() + ": " + msg
			}
			p.NotReady[k] = n
		}
	}
	return p
}

// latencies returns the time from creation to first Ready of every village
// that got there, sorted.
func (t *tracker) latencies(kind string) []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ds []time.Duration
	for k, c := range t.created {
		if len(k) <= len(kind) || k[:len(kind)+1] != kind+"/" {
			continue
		}
		if r, ok := t.readyAt[k]; ok {
			ds = append(ds, r.Sub(c))
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(p*float64(len(ds)-1) + 0.5)
	return ds[i]
}
