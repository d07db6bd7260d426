package main

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pod(ns, name, ip string, phase corev1.PodPhase, labels map[string]string, ports ...corev1.ContainerPort) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status:     corev1.PodStatus{Phase: phase, PodIP: ip},
	}
}

func TestTargets(t *testing.T) {
	metrics := corev1.ContainerPort{Name: "metrics", ContainerPort: 9090}
	http := corev1.ContainerPort{Name: "http", ContainerPort: 8080}
	deleting := pod("town-xikou", "workflow-old", "198.18.0.9", corev1.PodRunning, map[string]string{serviceLabel: "workflow"}, http, metrics)
	deleting.DeletionTimestamp = &metav1.Time{}
	pods := []corev1.Pod{
		pod("town-xikou", "workflow-a", "198.18.0.3", corev1.PodRunning, map[string]string{serviceLabel: "workflow"}, http, metrics),
		pod("wuxiao-gateway", "gateway-a", "198.18.0.2", corev1.PodRunning, map[string]string{serviceLabel: "gateway"}, http, metrics),
		pod("wuxiao-system", "wuxiao-operator-a", "198.18.0.4", corev1.PodRunning, map[string]string{componentLabel: "operator"},
			corev1.ContainerPort{Name: "metrics", ContainerPort: 8080}),
		pod("town-xikou", "complaint-pending", "", corev1.PodPending, map[string]string{serviceLabel: "complaint"}, metrics),
		pod("town-xikou", "netprobe", "198.18.0.5", corev1.PodRunning, map[string]string{serviceLabel: "netprobe"}, metrics),
		pod("monitoring", "grafana", "198.18.0.6", corev1.PodRunning, map[string]string{"app": "grafana"}, metrics),
		pod("town-xikou", "inspection-nometrics", "198.18.0.7", corev1.PodRunning, map[string]string{serviceLabel: "inspection"}, http),
		deleting,
	}
	want := []targetGroup{
		{Targets: []string{"198.18.0.2:9090"}, Labels: map[string]string{"namespace": "wuxiao-gateway", "pod": "gateway-a", "service": "gateway"}},
		{Targets: []string{"198.18.0.3:9090"}, Labels: map[string]string{"namespace": "town-xikou", "pod": "workflow-a", "service": "workflow"}},
		{Targets: []string{"198.18.0.4:8080"}, Labels: map[string]string{"namespace": "wuxiao-system", "pod": "wuxiao-operator-a", "job": "wuxiao-operator"}},
	}
	if got := targets(pods); !reflect.DeepEqual(got, want) {
		t.Errorf("targets:\n got %+v\nwant %+v", got, want)
	}
	if got := targets(nil); got == nil || len(got) != 0 {
		t.Errorf("no pods: %#v, want an empty list (Prometheus refuses null)", got)
	}
}
