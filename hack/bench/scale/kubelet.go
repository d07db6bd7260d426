package main

import (
	"context"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// kubelet stands in for the kube-controller-manager, scheduler and kubelets
// that envtest does not run: it watches Deployments and reports every one of
// them rolled out and available, as a healthy cluster would a moment later.
type kubelet struct {
	cs       kubernetes.Interface
	informer cache.SharedIndexInformer
	queue    workqueue.TypedRateLimitingInterface[string]
	updates  atomic.Int64
}

func startKubelet(ctx context.Context, cs kubernetes.Interface, workers int) (*kubelet, error) {
	f := informers.NewSharedInformerFactory(cs, 0)
	k := &kubelet{
		cs:       cs,
		informer: f.Apps().V1().Deployments().Informer(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "kubelet-stand-in"}),
	}
	enqueue := func(obj any) {
		d, ok := obj.(*appsv1.Deployment)
		if !ok || deploymentRolledOut(d) {
			return
		}
		if key, err := cache.MetaNamespaceKeyFunc(d); err == nil {
			k.queue.Add(key)
		}
	}
	if _, err := k.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, n any) { enqueue(n) },
	}); err != nil {
		return nil, err
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), k.informer.HasSynced) {
		return nil, ctx.Err()
	}
	for range workers {
		go k.work(ctx)
	}
	go func() { <-ctx.Done(); k.queue.ShutDown() }()
	return k, nil
}

func desiredReplicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// deploymentRolledOut reports whether d's status already says what a
// controller-manager would say once every replica is up.
func deploymentRolledOut(d *appsv1.Deployment) bool {
	n := desiredReplicas(d)
	s := d.Status
	if s.ObservedGeneration != d.Generation || s.Replicas != n || s.UpdatedReplicas != n ||
		s.ReadyReplicas != n || s.AvailableReplicas != n || s.UnavailableReplicas != 0 {
		return false
	}
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func (k *kubelet) work(ctx context.Context) {
	for {
		key, quit := k.queue.Get()
		if quit {
			return
		}
		err := k.sync(ctx, key)
		if err != nil && ctx.Err() == nil {
			k.queue.AddRateLimited(key)
		} else {
			k.queue.Forget(key)
		}
		k.queue.Done(key)
	}
}

func (k *kubelet) sync(ctx context.Context, key string) error {
	obj, exists, err := k.informer.GetStore().GetByKey(key)
	if err != nil || !exists {
		return err
	}
	d := obj.(*appsv1.Deployment).DeepCopy()
	if deploymentRolledOut(d) {
		return nil
	}
	n := desiredReplicas(d)
	now := metav1.Now()
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           n,
		UpdatedReplicas:    n,
		ReadyReplicas:      n,
		AvailableReplicas:  n,
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
				Message: "Deployment has minimum availability.", LastUpdateTime: now, LastTransitionTime: now},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable",
				Message: "ReplicaSet has successfully progressed (benchmark kubelet stand-in).", LastUpdateTime: now, LastTransitionTime: now},
		},
	}
	_, err = k.cs.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		k.updates.Add(1)
	}
	return err // a conflict is retried from the informer's newer copy
}
