package controller

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// The district gateway: what the District controller runs for each District
// (resources/gateway.go builds it). The operator holds every permission it
// grants the gateway (RBAC escalation prevention), hence endpointslices.
// Namespaces are deleted only when spec.gateway.namespace moves.
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles;clusterrolebindings,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;update;patch;delete

// reconcileGateway brings the District's gateway to its spec and reports it
// in status.gateway and the GatewayReady condition. It leaves Ready alone.
func (r *DistrictReconciler) reconcileGateway(ctx context.Context, d *wuxiaov1.District) error {
	err := r.applyGateway(ctx, d)
	// Its namespace is not the District's to use (the one way it stalls):
	// GatewayReady says so, and Ready is left alone.
	var taken *stalled
	if errors.As(err, &taken) {
		if old := meta.FindStatusCondition(d.Status.Conditions, wuxiaov1.ConditionGatewayReady); old == nil || old.Reason != taken.reason {
			r.Recorder.Eventf(d, nil, corev1.EventTypeWarning, taken.reason, "Gateway", "%s", taken.msg)
		}
		d.Status.Gateway = nil
		setGatewayReady(d, metav1.ConditionFalse, taken.reason, taken.msg)
		return nil
	}
	return err
}

func setGatewayReady(d *wuxiaov1.District, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{Type: wuxiaov1.ConditionGatewayReady, Status: status,
		Reason: reason, Message: msg, ObservedGeneration: d.Generation})
}

func (r *DistrictReconciler) applyGateway(ctx context.Context, d *wuxiaov1.District) error {
	nsName := resources.GatewayNamespaceName(d)
	if err := r.gatewayNamespace(ctx, d); err != nil {
		return err
	}
	if err := r.deleteOldGatewayNamespaces(ctx, d, nsName); err != nil {
		return err
	}
	if _, err := applyGatewayChild(ctx, r, d, resources.GatewayServiceAccount(d), nil); err != nil {
		return err
	}
	// Exact rules and subjects: a rule added by hand would widen what the
	// front door may read.
	if _, err := applyGatewayChild(ctx, r, d, resources.GatewayClusterRole(d), func(have, want *rbacv1.ClusterRole) {
		setIfDifferent(&have.Rules, want.Rules)
	}); err != nil {
		return err
	}
	if _, err := applyGatewayChild(ctx, r, d, resources.GatewayClusterRoleBinding(d), func(have, want *rbacv1.ClusterRoleBinding) {
		setIfDifferent(&have.Subjects, want.Subjects)
	}); err != nil {
		return err
	}

	version, err := r.gatewayVersion(ctx, d)
	if err != nil {
		return err
	}
	dep, err := applyGatewayChild(ctx, r, d, resources.GatewayDeployment(resources.GatewayInput{District: d, Version: version}), syncGatewayDeployment)
	if err != nil {
		return err
	}
	if _, err := applyGatewayChild(ctx, r, d, resources.GatewayService(d), syncService); err != nil {
		return err
	}
	if _, err := applyGatewayChild(ctx, r, d, resources.GatewayPodDisruptionBudget(d), func(have, want *policyv1.PodDisruptionBudget) {
		derive(&have.Spec, want.Spec)
	}); err != nil {
		return err
	}
	// Exact rules: the gateway is open to all on its port, and reaches
	// only the towns, Kratos' public API, the Kubernetes API, DNS and the
	// collector.
	api, err := r.apiServerEndpoints(ctx)
	if err != nil {
		return err
	}
	if _, err := applyGatewayChild(ctx, r, d, resources.GatewayNetworkPolicy(d, api), syncNetworkPolicy); err != nil {
		return err
	}
	ing, err := r.gatewayIngress(ctx, d)
	if err != nil {
		return err
	}

	st := serviceStatus(wuxiaov1.ServiceName(resources.GatewayName), version, dep)
	d.Status.Gateway = &wuxiaov1.GatewayStatus{
		Namespace: nsName, Version: version, Replicas: st.Replicas, ReadyReplicas: st.ReadyReplicas,
		Address: resources.GatewayAddress(d), URL: resources.GatewayURL(d, ing),
	}
	image := resources.GatewayImage(d, version)
	if !st.Ready {
		setGatewayReady(d, metav1.ConditionFalse, wuxiaov1.ReasonGatewayNotReady,
			fmt.Sprintf("waiting for the gateway (%s) in namespace %s: %s", image, nsName, st.Message))
		return nil
	}
	where := d.Status.Gateway.Address
	if u := d.Status.Gateway.URL; u != "" {
		where = u + " (in the cluster: " + where + ")"
	}
	setGatewayReady(d, metav1.ConditionTrue, wuxiaov1.ReasonGatewayAvailable,
		fmt.Sprintf("%d/%d replicas of %s ready, at %s", st.ReadyReplicas, st.Replicas, image, where))
	return nil
}

// gatewayNamespace creates or keeps the gateway's namespace, refusing one
// that another District, or someone else, holds.
func (r *DistrictReconciler) gatewayNamespace(ctx context.Context, d *wuxiaov1.District) error {
	want := resources.GatewayNamespace(d)
	key := types.NamespacedName{Name: want.Name}
	have := &corev1.Namespace{}
	// The cache holds the namespaces Wuxiao manages, and no other: on a
	// miss, ask the API server, so that a namespace someone else holds
	// costs a read on every retry rather than a refused create.
	err := r.Get(ctx, key, have)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, have)
	}
	switch {
	case err == nil:
		if owner := metav1.GetControllerOf(have); owner == nil || owner.Kind != "District" || owner.UID != d.UID {
			return namespaceTaken(d, want.Name, owner)
		}
	case !apierrors.IsNotFound(err):
		return err
	}
	_, err = applyGatewayChild(ctx, r, d, want, nil)
	return err
}

func namespaceTaken(d *wuxiaov1.District, ns string, owner *metav1.OwnerReference) error {
	if owner == nil {
		return stall(wuxiaov1.ReasonGatewayNamespaceTaken, "namespace %s (spec.gateway.namespace) already exists and was not created by Wuxiao for this District: delete it, or name another namespace in spec.gateway.namespace, e.g. wuxiao-gateway-%s",
			ns, d.Name)
	}
	return stall(wuxiaov1.ReasonGatewayNamespaceTaken, "namespace %s (spec.gateway.namespace) belongs to %s %s: name another namespace in spec.gateway.namespace, e.g. wuxiao-gateway-%s",
		ns, owner.Kind, owner.Name, d.Name)
}

// deleteOldGatewayNamespaces removes the gateway namespaces this District
// had before spec.gateway.namespace changed, so that one gateway runs.
func (r *DistrictReconciler) deleteOldGatewayNamespaces(ctx context.Context, d *wuxiaov1.District, current string) error {
	list := &corev1.NamespaceList{}
	if err := r.List(ctx, list, client.MatchingLabels{resources.DistrictLabel: d.Name, wuxiaov1.ServiceLabel: resources.GatewayName}); err != nil {
		return err
	}
	for i := range list.Items {
		ns := &list.Items[i]
		if owner := metav1.GetControllerOf(ns); ns.Name == current || !ns.DeletionTimestamp.IsZero() || owner == nil || owner.UID != d.UID {
			continue
		}
		if err := r.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
			return err
		}
		r.Recorder.Eventf(d, ns, corev1.EventTypeNormal, "Deleted", "Delete", "deleted namespace %s: the gateway moved to %s", ns.Name, current)
	}
	return nil
}

// gatewayVersion is the District's services version, unless the rollout is
// paused: then the gateway stays at the version it runs, as the towns do.
func (r *DistrictReconciler) gatewayVersion(ctx context.Context, d *wuxiaov1.District) (string, error) {
	target := d.Spec.Services.Version
	if !d.Spec.Rollout.Paused {
		return target, nil
	}
	dep := &appsv1.Deployment{}
	err := r.Get(ctx, types.NamespacedName{Namespace: resources.GatewayNamespaceName(d), Name: resources.GatewayName}, dep)
	if apierrors.IsNotFound(err) {
		return target, nil
	}
	if err != nil {
		return "", err
	}
	if v := dep.Labels[resources.VersionLabel]; v != "" {
		return v, nil
	}
	return target, nil
}

// gatewayIngress ensures the Ingress when spec.gateway.ingress asks for
// one and deletes the operator's Ingress when it no longer does.
func (r *DistrictReconciler) gatewayIngress(ctx context.Context, d *wuxiaov1.District) (*networkingv1.Ingress, error) {
	if want := resources.GatewayIngress(d); want != nil {
		return applyGatewayChild(ctx, r, d, want, func(have, want *networkingv1.Ingress) {
			// Without a class name, the API server's default class is
			// filled in on creation: leave it.
			if want.Spec.IngressClassName != nil {
				have.Spec.IngressClassName = want.Spec.IngressClassName
			}
			setIfDifferent(&have.Spec.Rules, want.Spec.Rules)
			setIfDifferent(&have.Spec.TLS, want.Spec.TLS)
			if len(want.Spec.TLS) == 0 {
				have.Spec.TLS = nil
			}
		})
	}
	have := &networkingv1.Ingress{}
	err := r.Get(ctx, types.NamespacedName{Namespace: resources.GatewayNamespaceName(d), Name: resources.GatewayName}, have)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if owner := metav1.GetControllerOf(have); owner != nil && owner.UID == d.UID {
		if err := r.Delete(ctx, have); client.IgnoreNotFound(err) != nil {
			return nil, err
		}
		r.Recorder.Eventf(d, have, corev1.EventTypeNormal, "Deleted", "Delete", "deleted Ingress %s/%s: spec.gateway.ingress is not set", have.Namespace, have.Name)
	}
	return nil, nil
}

// syncGatewayDeployment brings the Deployment back to desired: what desired
// sets, and exactly its one container and that container's environment
// (a variable dropped from the spec, or added by hand, goes).
func syncGatewayDeployment(have, want *appsv1.Deployment) {
	if len(have.Spec.Template.Spec.Containers) != len(want.Spec.Template.Spec.Containers) {
		have.Spec.Template.Spec.Containers = want.Spec.Template.Spec.Containers
	}
	derive(&have.Spec, want.Spec)
	setIfDifferent(&have.Spec.Template.Spec.Containers[0].Env, want.Spec.Template.Spec.Containers[0].Env)
}

// apiServerEndpoints are the addresses pods reach the Kubernetes API at: the
// default/kubernetes Service's cluster IP and the endpoints behind it. Read
// uncached: the operator watches no Services or EndpointSlices outside its
// towns.
func (r *DistrictReconciler) apiServerEndpoints(ctx context.Context) ([]resources.APIServerEndpoint, error) {
	var out []resources.APIServerEndpoint
	svc := &corev1.Service{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: metav1.NamespaceDefault, Name: "kubernetes"}, svc); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
	} else {
		for _, ip := range svc.Spec.ClusterIPs {
			for _, p := range svc.Spec.Ports {
				out = append(out, resources.APIServerEndpoint{IP: ip, Port: p.Port})
			}
		}
	}
	var eps discoveryv1.EndpointSliceList
	if err := r.APIReader.List(ctx, &eps, client.InNamespace(metav1.NamespaceDefault),
		client.MatchingLabels{discoveryv1.LabelServiceName: "kubernetes"}); err != nil {
		return nil, err
	}
	for _, s := range eps.Items {
		for _, e := range s.Endpoints {
			for _, ip := range e.Addresses {
				for _, p := range s.Ports {
					if p.Port != nil {
						out = append(out, resources.APIServerEndpoint{IP: ip, Port: *p.Port})
					}
				}
			}
		}
	}
	return out, nil
}
