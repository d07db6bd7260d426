package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wuxiao/wuxiao/api/divcode"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// townServices are the services whose EndpointSlices the gateway watches.
var townServices = []string{ServiceWorkflow, ServiceDisclosure, ServiceComplaint, ServiceInspection}

// errNotSynced: the caches have not been filled yet. It wraps ErrNoBackend
// so that a request arriving then gets 503 and a Retry-After, not a 404
// saying the village does not exist.
var errNotSynced = fmt.Errorf("%w: the gateway has not read the cluster's towns yet", ErrNoBackend)

// Discovery is the Backends of a gateway in a cluster: a watch-based cache
// (controller-runtime informers) of the District's Town objects and of the
// EndpointSlices of the town services in namespaces town-<name>. Every
// change rebuilds an immutable routing table that requests read without
// locks; no request ever calls the API server.
//
// Pods are reached at their own addresses on the slice's "http" port, not
// through the Service's cluster IP: the gateway balances over the ready
// pods itself (round robin), sees a pod leave as soon as its endpoint is
// not ready, and works where no kube-proxy routes Service IPs.
type Discovery struct {
	district string
	cache    crcache.Cache
	log      *slog.Logger

	// dialHost, when set, replaces every pod's address (keeping its port):
	// the API server refuses loopback endpoint addresses, so tests publish
	// made-up pod addresses for servers listening on 127.0.0.1.
	dialHost string

	table  atomic.Pointer[routingTable]
	kick   chan struct{} // an informer saw a change (buffered 1: coalesces bursts)
	synced chan struct{} // closed after the first table built from synced caches
}

// routingTable is what Discovery knows at one moment. It is never changed
// after it is published.
type routingTable struct {
	towns    map[string]Town  // by Town object name
	byPrefix map[string]Town  // first 9 digits of the town's code
	pools    map[string]*pool // "<town>/<service>" → its ready pods
	sorted   []Town
}

// pool is one service's ready pods in one town.
type pool struct {
	urls []url.URL
	next atomic.Uint64
}

func (p *pool) pick() *url.URL {
	u := p.urls[(p.next.Add(1)-1)%uint64(len(p.urls))]
	return &u
}

// NewDiscovery returns a Discovery of the towns of district (every Town
// when district is empty) through the API server at cfg. Run starts it.
func NewDiscovery(cfg *rest.Config, district string, log *slog.Logger) (*Discovery, error) {
	if log == nil {
		log = slog.Default()
	}
	scheme := runtime.NewScheme()
	if err := wuxiaov1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := discoveryv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	services, err := labels.Parse(discoveryv1.LabelServiceName + " in (" + strings.Join(townServices, ",") + ")")
	if err != nil {
		return nil, err
	}
	c, err := crcache.New(cfg, crcache.Options{
		Scheme: scheme,
		ByObject: map[crclient.Object]crcache.ByObject{
			&discoveryv1.EndpointSlice{}: {Label: services},
		},
		// Managed fields are most of an object's size and never read here.
		DefaultTransform: crcache.TransformStripManagedFields(),
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: cluster cache: %w", err)
	}
	d := &Discovery{district: district, cache: c, log: log,
		kick: make(chan struct{}, 1), synced: make(chan struct{})}
	d.table.Store(&routingTable{})
	return d, nil
}

// Run watches the cluster until ctx ends. Requests can be served before
// it has synced: they get ErrNoBackend (503) until then.
func (d *Discovery) Run(ctx context.Context) error {
	changed := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { d.changed() },
		UpdateFunc: func(any, any) { d.changed() },
		DeleteFunc: func(any) { d.changed() },
	}
	for _, obj := range []crclient.Object{&wuxiaov1.Town{}, &discoveryv1.EndpointSlice{}} {
		inf, err := d.cache.GetInformer(ctx, obj, crcache.BlockUntilSynced(false))
		if err != nil {
			return fmt.Errorf("gateway: informer for %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(changed); err != nil {
			return fmt.Errorf("gateway: watching %T: %w", obj, err)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- d.cache.Start(ctx) }()
	if !d.cache.WaitForCacheSync(ctx) {
		select {
		case <-ctx.Done():
			return nil // asked to stop before the caches synced
		default:
		}
		return errors.New("gateway: the Town and EndpointSlice caches did not sync")
	}
	d.rebuild(ctx)
	close(d.synced)
	t := d.table.Load()
	d.log.Info("gateway: routing table ready", "towns", len(t.towns), "services_with_ready_pods", len(t.pools))
	for {
		select {
		case <-ctx.Done():
			return <-errc
		case err := <-errc:
			select {
			case <-ctx.Done():
				return nil // the cache stopped because we were asked to stop
			default:
			}
			return fmt.Errorf("gateway: cluster cache stopped: %w", err)
		case <-d.kick:
			d.rebuild(ctx)
		}
	}
}

func (d *Discovery) changed() {
	select {
	case d.kick <- struct{}{}:
	default: // a rebuild is already due; it will read this change too
	}
}

// WaitSynced blocks until the first routing table is built or ctx ends.
func (d *Discovery) WaitSynced(ctx context.Context) error {
	select {
	case <-d.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ready is the readiness check: the caches are synced.
func (d *Discovery) Ready(context.Context) error {
	select {
	case <-d.synced:
		return nil
	default:
		return errNotSynced
	}
}

func (d *Discovery) isSynced() bool {
	select {
	case <-d.synced:
		return true
	default:
		return false
	}
}

// rebuild reads the caches (memory only) and publishes a new table.
func (d *Discovery) rebuild(ctx context.Context) {
	start := time.Now()
	var towns wuxiaov1.TownList
	var eps discoveryv1.EndpointSliceList
	if err := d.cache.List(ctx, &towns); err != nil {
		d.log.Error("gateway: listing cached towns", "error", err.Error())
		return
	}
	if err := d.cache.List(ctx, &eps); err != nil {
		d.log.Error("gateway: listing cached endpoint slices", "error", err.Error())
		return
	}
	t := buildTable(d.district, towns.Items, eps.Items, d.dialHost, d.log)
	old := d.table.Load()
	keepTurns(old, t)
	d.table.Store(t) // rebuild runs on one goroutine (Run's loop)
	if len(old.towns) != len(t.towns) || len(old.pools) != len(t.pools) {
		d.log.Info("gateway: routing table changed", "towns", len(t.towns), "services_with_ready_pods", len(t.pools),
			"took_ms", float64(time.Since(start).Microseconds())/1000)
	}
}

// keepTurns carries each pool's round robin over from the table before:
// the same pods keep the same pool, changed ones its position. A rebuild
// follows any Town or EndpointSlice change (a Town's status is patched
// every few seconds while its villages onboard), and a fresh pool starts
// at its first pod, which would then get more than its share.
func keepTurns(old, t *routingTable) {
	for key, p := range t.pools {
		op := old.pools[key]
		switch {
		case op == nil:
		case slices.Equal(op.urls, p.urls):
			t.pools[key] = op
		default:
			p.next.Store(op.next.Load())
		}
	}
}

// buildTable is the routing table of district's towns and the ready
// endpoints of their services.
func buildTable(district string, towns []wuxiaov1.Town, eps []discoveryv1.EndpointSlice, dialHost string, log *slog.Logger) *routingTable {
	t := &routingTable{towns: map[string]Town{}, byPrefix: map[string]Town{}, pools: map[string]*pool{}}
	// Two towns with one code (the operator stalls the second): the older
	// one keeps the villages.
	slices.SortFunc(towns, func(a, b wuxiaov1.Town) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, tw := range towns {
		if district != "" && tw.Spec.District != district {
			continue
		}
		if !divcode.Valid(tw.Spec.Code) {
			continue // refused by the CRD's validation; never routed to
		}
		town := Town{Name: tw.Name, Code: tw.Spec.Code, DisplayName: tw.Spec.DisplayName}
		if other, dup := t.byPrefix[divcode.TownPrefix(town.Code)]; dup {
			log.Warn("gateway: two towns have the same code; villages go to the older", "code", town.Code,
				"town", other.Name, "ignored", town.Name)
			continue
		}
		t.towns[town.Name] = town
		t.byPrefix[divcode.TownPrefix(town.Code)] = town
		t.sorted = append(t.sorted, town)
	}
	slices.SortFunc(t.sorted, func(a, b Town) int { return strings.Compare(a.Name, b.Name) })
	addrs := map[string][]string{}
	for i := range eps {
		es := &eps[i]
		town, ok := strings.CutPrefix(es.Namespace, "town-")
		if _, known := t.towns[town]; !ok || !known {
			continue
		}
		service := es.Labels[discoveryv1.LabelServiceName]
		port := httpPort(es)
		if port == 0 || !slices.Contains(townServices, service) {
			continue
		}
		key := town + "/" + service
		for _, ep := range es.Endpoints {
			// Ready unset means ready (the API's documented reading);
			// a terminating pod is not ready.
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				if dialHost != "" {
					a = dialHost
				}
				addrs[key] = append(addrs[key], net.JoinHostPort(a, strconv.Itoa(int(port))))
			}
		}
	}
	for key, list := range addrs {
		slices.Sort(list)
		list = slices.Compact(list) // a pod may be in two slices while they are rewritten
		p := &pool{urls: make([]url.URL, len(list))}
		for i, a := range list {
			p.urls[i] = url.URL{Scheme: "http", Host: a}
		}
		t.pools[key] = p
	}
	return t
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

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// TownOfVillage implements Backends: one map lookup by the village code's
// first 9 digits, its town's.
func (d *Discovery) TownOfVillage(village string) (Town, error) {
	if !d.isSynced() {
		return Town{}, errNotSynced
	}
	if !divcode.Valid(village) {
		return Town{}, ErrUnknownTown
	}
	t, ok := d.table.Load().byPrefix[divcode.TownPrefix(village)]
	if !ok {
		return Town{}, ErrUnknownTown
	}
	return t, nil
}

// Town implements Backends.
func (d *Discovery) Town(name string) (Town, error) {
	if !d.isSynced() {
		return Town{}, errNotSynced
	}
	t, ok := d.table.Load().towns[name]
	if !ok {
		return Town{}, ErrUnknownTown
	}
	return t, nil
}

// Towns implements Backends.
func (d *Discovery) Towns() []Town {
	return slices.Clone(d.table.Load().sorted)
}

// ServiceURL implements Backends: the next of the service's ready pods.
func (d *Discovery) ServiceURL(town, service string) (*url.URL, error) {
	if !d.isSynced() {
		return nil, errNotSynced
	}
	t := d.table.Load()
	if _, ok := t.towns[town]; !ok {
		return nil, ErrUnknownTown
	}
	p, ok := t.pools[town+"/"+service]
	if !ok {
		return nil, fmt.Errorf("%w: %s of town %s", ErrNoBackend, service, town)
	}
	return p.pick(), nil
}
