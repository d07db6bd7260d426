// Command dev-gateway makes the local district's village portals reachable
// from this machine, as the district's ingress would on the QR codes' host:
// it listens on loopback and sends
//
//	/v/<village code>...                         to the village's town's disclosure pods (一码当先)
//	/r/<village code>...                         to its complaint pods (码上举报)
//	/v1/public/villages/<code>/complaints...     to complaint, other /v1/public/villages/<code>/... to disclosure
//	/r/track, /r/track/<tracking code>           to the town whose complaint service knows the code
//
// The town is found from the code's first 9 digits (each Town's spec.code
// prefix); the pods from the town namespace's EndpointSlices, watched with
// client-go so that a restarted pod's new address is used at once. The
// local cluster has no kube-proxy, so Service IPs do not route: the gateway
// talks to pod IPs on the pod bridge directly.
//
//	go run ./hack/dev-gateway -kubeconfig FILE [-listen 127.0.0.1:8080]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// errNoTown: the code belongs to no town of this district (404, not 503).
var errNoTown = errors.New("unknown village")

// backendKey carries the chosen pod address from the handler to Rewrite.
type backendKey struct{}

var townsGVR = schema.GroupVersionResource{Group: "wuxiao.io", Version: "v1alpha1", Resource: "towns"}

// routeOf picks the service for a path and the village code in it; ok is
// false for paths the gateway does not serve.
func routeOf(path string) (service, code string, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(path, "/v/"):
		service, rest = "disclosure", path[len("/v/"):]
	case strings.HasPrefix(path, "/r/"):
		service, rest = "complaint", path[len("/r/"):]
	case strings.HasPrefix(path, "/v1/public/villages/"):
		rest = path[len("/v1/public/villages/"):]
		service = "disclosure"
		if strings.HasSuffix(path, "/complaints") {
			service = "complaint"
		}
	default:
		return "", "", false
	}
	code, _, _ = strings.Cut(rest, "/")
	if len(code) != 12 || strings.Trim(code, "0123456789") != "" {
		return "", "", false
	}
	return service, code, true
}

// state is what the informers know: town code prefix -> namespace, and
// namespace/service -> ready pod addresses (host:port).
type state struct {
	mu        sync.RWMutex
	prefixes  map[string]string
	endpoints map[string][]string
	next      atomic.Uint64
}

func (s *state) backend(service, code string) (string, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ns, ok := s.prefixes[code[:9]]
	if !ok {
		return "", "", fmt.Errorf("%w: no town has the code prefix %s", errNoTown, code[:9])
	}
	addrs := s.endpoints[ns+"/"+service]
	if len(addrs) == 0 {
		return ns, "", fmt.Errorf("%s/%s has no ready pod", ns, service)
	}
	return ns, addrs[s.next.Add(1)%uint64(len(addrs))], nil
}

func main() {
	log.SetFlags(log.LstdFlags)
	log.SetPrefix("dev-gateway: ")
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on (keep it on loopback)")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	st := &state{prefixes: map[string]string{}, endpoints: map[string][]string{}}

	dyn := dynamic.NewForConfigOrDie(cfg)
	df := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 10*time.Minute)
	towns := df.ForResource(townsGVR).Informer()
	syncTowns := func(any) {
		m := map[string]string{}
		for _, o := range towns.GetStore().List() {
			u := o.(*unstructured.Unstructured)
			code, _, _ := unstructured.NestedString(u.Object, "spec", "code")
			if len(code) == 12 {
				m[code[:9]] = "town-" + u.GetName()
			}
		}
		st.mu.Lock()
		st.prefixes = m
		st.mu.Unlock()
	}
	_, _ = towns.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: syncTowns, UpdateFunc: func(_, n any) { syncTowns(n) }, DeleteFunc: syncTowns})

	kf := informers.NewSharedInformerFactoryWithOptions(kubernetes.NewForConfigOrDie(cfg), 10*time.Minute,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = discoveryv1.LabelServiceName + " in (disclosure,complaint)"
		}))
	slicesInf := kf.Discovery().V1().EndpointSlices().Informer()
	syncSlices := func(any) {
		m := map[string][]string{}
		for _, o := range slicesInf.GetStore().List() {
			es := o.(*discoveryv1.EndpointSlice)
			key := es.Namespace + "/" + es.Labels[discoveryv1.LabelServiceName]
			port := slicePort(es)
			if port == 0 {
				continue
			}
			for _, ep := range es.Endpoints {
				if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
					continue
				}
				for _, a := range ep.Addresses {
					m[key] = append(m[key], net.JoinHostPort(a, strconv.Itoa(int(port))))
				}
			}
		}
		for k := range m {
			slices.Sort(m[k])
		}
		st.mu.Lock()
		st.endpoints = m
		st.mu.Unlock()
	}
	_, _ = slicesInf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: syncSlices, UpdateFunc: func(_, n any) { syncSlices(n) }, DeleteFunc: syncSlices})

	df.Start(ctx.Done())
	kf.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), towns.HasSynced, slicesInf.HasSynced) {
		log.Fatal("informers did not sync")
	}
	syncTowns(nil)
	syncSlices(nil)

	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: r.In.Context().Value(backendKey{}).(string)})
			r.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Printf("%s %s: %v", r.Method, r.URL.Path, err)
			http.Error(w, "网关无法连接该镇的服务，请稍后再试。", http.StatusBadGateway)
		},
	}
	tracker := &http.Client{Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			_, _ = w.Write([]byte("ok\n"))
			return
		}
		if r.URL.Path == "/r/track" || strings.HasPrefix(r.URL.Path, "/r/track/") {
			serveTracking(w, r, st.allBackends("complaint"), tracker)
			return
		}
		service, code, ok := routeOf(r.URL.Path)
		if !ok {
			http.Error(w, "本地网关只转发 /v/<村代码>、/r/<村代码>、/r/track 和 /v1/public/villages/<村代码>/…", http.StatusNotFound)
			return
		}
		_, addr, err := st.backend(service, code)
		if errors.Is(err, errNoTown) {
			http.Error(w, "本区没有代码为 "+code+" 的村（社区）。", http.StatusNotFound)
			return
		}
		if err != nil {
			log.Printf("%s %s: %v", r.Method, r.URL.Path, err)
			http.Error(w, "该村所属镇的服务暂不可用："+err.Error(), http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), backendKey{}, addr)))
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	st.mu.RLock()
	log.Printf("listening on %s: %d towns, %d services with ready pods", ln.Addr(), len(st.prefixes), len(st.endpoints))
	st.mu.RUnlock()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// allBackends returns one ready address of service per town, by namespace.
func (s *state) allBackends(service string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for _, ns := range slices.Sorted(maps.Values(s.prefixes)) {
		if addrs := s.endpoints[ns+"/"+service]; len(addrs) > 0 {
			out = append(out, addrs[s.next.Add(1)%uint64(len(addrs))])
		}
	}
	return out
}

// serveTracking answers /r/track and /r/track/<code>. A tracking code does
// not name its town, so the request goes to each town's complaint service in
// turn and the first answer that is not 404 is relayed (the form at /r/track
// is the same in every town). A district ingress needs the same rule, or
// sticky routing by the reporter's village.
func serveTracking(w http.ResponseWriter, r *http.Request, backends []string, c *http.Client) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		http.Error(w, "请求过大。", http.StatusRequestEntityTooLarge)
		return
	}
	failed := 0
	for _, addr := range backends {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+addr+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		// Every end-to-end header goes on (the complaint service checks
		// Sec-Fetch-Site, Origin and cookies on its forms).
		req.Header = r.Header.Clone()
		for _, h := range hopByHop {
			req.Header.Del(h)
		}
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			req.Header.Set("X-Forwarded-For", host)
		}
		req.Header.Set("X-Forwarded-Host", r.Host)
		req.Header.Set("X-Forwarded-Proto", "http")
		resp, err := c.Do(req)
		if err != nil {
			// The path holds the reporter's tracking code: not logged.
			log.Printf("%s /r/track/… via %s: %v", r.Method, addr, err)
			failed++
			continue
		}
		if resp.StatusCode == http.StatusNotFound {
			resp.Body.Close()
			continue
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	if failed > 0 {
		// The town that knows the code may be the one that did not answer.
		http.Error(w, "部分镇的服务暂时无法连接，无法确认这个查询码，请稍后再试。", http.StatusBadGateway)
		return
	}
	http.Error(w, "没有找到这个查询码的举报，请核对后再试。", http.StatusNotFound)
}

// hopByHop are the headers a proxy must not forward (RFC 9110 7.6.1).
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// slicePort is the slice's port named http, else its only port.
func slicePort(es *discoveryv1.EndpointSlice) int32 {
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
