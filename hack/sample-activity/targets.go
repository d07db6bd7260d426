package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// errTownDown: the town has no namespace, so it is not part of this
// district (make dev with --towns); its villages are skipped, not failed.
var errTownDown = errors.New("town not running")

// podTargets finds a town's service pods from its EndpointSlices and talks
// to them at their pod IPs: on the one-node cluster of hack/cluster.sh the
// host reaches the pod network directly (the bridge 198.18.0.1/24). That
// is one hop fewer than the API server's service proxy for some fifteen
// hundred calls on a 2-core machine, lets the services see the standard
// Authorization: Bearer header (the proxy consumes it), and makes this
// host the trusted proxy the District names (198.18.0.1/32), so the
// intake counts each illustrative reporter as its own client.
type podTargets struct {
	kube kubernetes.Interface

	mu    sync.Mutex
	cache map[string]string
}

func (t *podTargets) URL(ctx context.Context, town, service string) (string, error) {
	key := town + "/" + service
	t.mu.Lock()
	u, ok := t.cache[key]
	t.mu.Unlock()
	if ok {
		return u, nil
	}
	ns := "town-" + town
	list, err := t.kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return "", fmt.Errorf("listing the EndpointSlices of %s/%s: %w", ns, service, err)
	}
	if len(list.Items) == 0 {
		if _, err := t.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return "", fmt.Errorf("%w: no namespace %s", errTownDown, ns)
		}
	}
	for _, es := range list.Items {
		port := httpPort(&es)
		if port == 0 {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready || len(ep.Addresses) == 0 {
				continue
			}
			u = "http://" + net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(port)))
			t.mu.Lock()
			t.cache[key] = u
			t.mu.Unlock()
			return u, nil
		}
	}
	return "", fmt.Errorf("no ready %s pod in namespace %s (hack/district.sh status; kubectl -n %s get pods)", service, ns, ns)
}

// httpPort is the slice's port named http, else its only port.
func httpPort(es *discoveryv1.EndpointSlice) int32 {
	for _, p := range es.Ports {
		if p.Port != nil && p.Name != nil && *p.Name == "http" {
			return *p.Port
		}
	}
	if len(es.Ports) == 1 && es.Ports[0].Port != nil {
		return *es.Ports[0].Port
	}
	return 0
}

// fixedTargets serves every town from one set of base URLs (the
// integration test's services, or services reached some other way).
type fixedTargets map[string]string

func (f fixedTargets) URL(_ context.Context, town, service string) (string, error) {
	if u, ok := f[service]; ok {
		return u, nil
	}
	return "", fmt.Errorf("no address for %s of town %s", service, town)
}
