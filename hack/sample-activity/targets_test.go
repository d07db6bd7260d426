package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/wuxiao/wuxiao/operator/testenv"
)

// podTargets against a real API server (envtest): the EndpointSlices of a
// town's namespace, as the cluster's EndpointSlice controller writes them.
func TestPodTargetsFindReadyPods(t *testing.T) {
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kube := kubernetes.NewForConfigOrDie(env.Config)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "town-xikou"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ptr := func(s string) *string { return &s }
	yes, no := true, false
	port := int32(8080)
	slice := func(name, service string, ready bool, ips ...string) *discoveryv1.EndpointSlice {
		es := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "town-xikou", Labels: map[string]string{discoveryv1.LabelServiceName: service}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: &port}},
		}
		r := &no
		if ready {
			r = &yes
		}
		for _, ip := range ips {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: r}})
		}
		return es
	}
	for _, es := range []*discoveryv1.EndpointSlice{
		slice("workflow-a", "workflow", false, "198.18.0.7"),
		slice("workflow-b", "workflow", true, "198.18.0.9"),
		slice("complaint-a", "complaint", false, "198.18.0.11"),
	} {
		if _, err := kube.DiscoveryV1().EndpointSlices("town-xikou").Create(ctx, es, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	targets := &podTargets{kube: kube, cache: map[string]string{}}
	tests := []struct {
		town, service, want, wantErr string
		down                         bool
	}{
		{town: "xikou", service: "workflow", want: "http://198.18.0.9:8080"},
		{town: "xikou", service: "complaint", wantErr: "no ready complaint pod in namespace town-xikou"},
		{town: "xikou", service: "disclosure", wantErr: "no ready disclosure pod in namespace town-xikou"},
		{town: "songao", service: "workflow", wantErr: "no namespace town-songao", down: true},
	}
	for _, tc := range tests {
		got, err := targets.URL(ctx, tc.town, tc.service)
		if tc.wantErr == "" {
			if err != nil || got != tc.want {
				t.Errorf("URL(%s, %s) = %q, %v; want %q", tc.town, tc.service, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.Is(err, errTownDown) != tc.down {
			t.Errorf("URL(%s, %s) = %q, %v; want an error with %q (town down: %v)", tc.town, tc.service, got, err, tc.wantErr, tc.down)
		}
	}
}
