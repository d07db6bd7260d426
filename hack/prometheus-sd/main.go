// Command prometheus-sd tells the local district's Prometheus (hack/district.sh,
// Debian's prometheus package, which is built without Kubernetes service
// discovery) which pods to scrape, in Prometheus' HTTP service discovery
// format:
//
//	GET /targets   [{"targets": ["<pod IP>:<port>"], "labels": {...}}, ...]
//	GET /healthz
//
// A target is a Running pod with a container port named "metrics" that is
// one of a town's services or the district gateway (label wuxiao.io/service)
// or the operator the chart runs (app.kubernetes.io/component=operator):
// what the chart's PodMonitor and ServiceMonitor select. Its labels are
// those the PodMonitor's relabelling gives (service, namespace, pod; job
// wuxiao-operator for the operator), so the alert rules and dashboards read
// the same series here as under the Prometheus Operator. The pods are listed
// afresh on every request (Prometheus asks every refresh_interval): a
// rollout's new pods are scraped within one interval.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	serviceLabel   = "wuxiao.io/service"
	componentLabel = "app.kubernetes.io/component"
	metricsPort    = "metrics"
)

// Services whose pods are scraped: the towns' four and the district gateway.
var services = []string{"workflow", "disclosure", "complaint", "inspection", "gateway"}

// targetGroup is one entry of the HTTP SD response.
type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// targets turns pods into target groups, one per pod, sorted by address.
func targets(pods []corev1.Pod) []targetGroup {
	out := []targetGroup{}
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			continue
		}
		svc, operator := p.Labels[serviceLabel], p.Labels[componentLabel] == "operator"
		if !slices.Contains(services, svc) && !operator {
			continue
		}
		port := int32(0)
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == metricsPort {
					port = cp.ContainerPort
				}
			}
		}
		if port == 0 {
			continue
		}
		labels := map[string]string{"namespace": p.Namespace, "pod": p.Name}
		if svc != "" {
			labels["service"] = svc
		}
		if operator {
			labels["job"] = "wuxiao-operator"
		}
		out = append(out, targetGroup{Targets: []string{net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(port)))}, Labels: labels})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Targets[0] < out[j].Targets[0] })
	return out
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	listen := flag.String("listen", "127.0.0.1:29091", "address of the HTTP SD endpoint")
	flag.Parse()
	if err := run(*kubeconfig, *listen); err != nil {
		log.Fatal(err)
	}
}

func run(kubeconfig, listen string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("reading %s: %w", kubeconfig, err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /targets", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		pods, err := kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			// Prometheus keeps the last targets it got when a refresh fails.
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(targets(pods.Items)); err != nil {
			log.Printf("writing targets: %v", err)
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	log.Printf("prometheus-sd: serving pod targets on http://%s/targets", listen)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
