package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	wx "github.com/wuxiao/wuxiao/api/v1alpha1"
)

type options struct {
	operatorBin    string
	operatorArgs   []string
	workers        int
	kubeletWorkers int
	timeout        time.Duration
	steady         time.Duration
	logDir         string
}

// requestFigures are API requests attributed to one party over one window.
type requestFigures struct {
	Total      float64            `json:"total"`
	PerVillage float64            `json:"perVillage,omitempty"`
	Reads      float64            `json:"reads"`  // GET + LIST + WATCH
	Writes     float64            `json:"writes"` // CREATE + UPDATE + PATCH + APPLY + DELETE ...
	ByVerb     map[string]float64 `json:"byVerb"`
	ByKind     map[string]float64 `json:"byKind"`           // "VERB resource[.group][/subresource]"
	ByCode     map[string]float64 `json:"byCode,omitempty"` // completed non-watch requests by HTTP code
}

func figuresOf(c counts, villages int) requestFigures {
	f := requestFigures{ByVerb: map[string]float64{}, ByKind: map[string]float64{}, ByCode: map[string]float64{}}
	for _, k := range c.sortedKeys() {
		v := math.Round(c.ByKey[k])
		f.ByKind[k.String()] = v
		f.ByVerb[k.Verb] += v
		f.Total += v
		if isRead(k.Verb) {
			f.Reads += v
		} else {
			f.Writes += v
		}
	}
	for code, v := range c.ByCode {
		if v = math.Round(v); v != 0 {
			f.ByCode[code] = v
		}
	}
	if villages > 0 {
		f.PerVillage = math.Round(f.Total/float64(villages)*100) / 100
	}
	return f
}

// window is a measurement between two instants: the server's view and the
// client-side counts of the benchmark's own clients.
type window struct {
	server serverSnapshot
	ours   counts
	other  counts // the baseline program's clients, when it runs
}

func (e *benchEnv) mark(ctx context.Context, ours, other *counter) (window, error) {
	w := window{ours: ours.snapshot(), other: newCounts()}
	if other != nil {
		w.other = other.snapshot()
	}
	var err error
	w.server, err = e.scraper.scrape(ctx)
	return w, err
}

// attributed returns the requests started between a and b that neither the
// API server itself nor the benchmark's own clients made.
func attributed(a, b window) counts {
	return started(a.server, b.server).sub(b.ours.sub(a.ours)).sub(b.other.sub(a.other))
}

type runResult struct {
	Completed bool     `json:"completed"`
	Error     string   `json:"error,omitempty"`
	Progress  progress `json:"progress"`

	TimeToReadySeconds float64  `json:"timeToReadySeconds"` // first create to every Town and Village Ready
	AllCreatedSeconds  float64  `json:"allCreatedSeconds"`  // first create to last create
	TownsReadySeconds  float64  `json:"townsReadySeconds"`  // first create to every Town Ready
	VillageLatencyP50  float64  `json:"villageLatencyP50Seconds"`
	VillageLatencyP95  float64  `json:"villageLatencyP95Seconds"`
	VillageLatencyMax  float64  `json:"villageLatencyMaxSeconds"`
	CreateErrors       int64    `json:"createErrors"`
	FirstCreateErrors  []string `json:"firstCreateErrors,omitempty"`

	// MachineCPUBusy is the share of all the machine's cores that was busy
	// during the run (API server, etcd, operator, benchmark and anything
	// else running): near 1 means the figures are CPU-bound.
	MachineCPUBusy float64 `json:"machineCPUBusy"`
	// OperatorCPUSeconds is the CPU time the operator used during the run.
	OperatorCPUSeconds float64 `json:"operatorCPUSeconds,omitempty"`

	Requests requestFigures `json:"requests"`
	// BenchRequests are the benchmark's own requests in the same window
	// (creating Towns and Villages, the kubelet stand-in, the watchers);
	// they are subtracted from the server's count.
	BenchRequests  requestFigures `json:"benchRequests"`
	KubeletUpdates int64          `json:"kubeletStatusUpdates"`

	// Operator runs only.
	StartupRequests      *requestFigures `json:"startupRequests,omitempty"`
	StartupSeconds       float64         `json:"startupSeconds,omitempty"`
	SteadyRequests       *requestFigures `json:"steadyStateRequests,omitempty"`
	SteadySeconds        float64         `json:"steadyStateSeconds,omitempty"`
	PeakRSSBytes         int64           `json:"peakRSSBytes,omitempty"`
	VmHWMBytes           int64           `json:"vmHWMBytes,omitempty"`
	RSSAtReadyBytes      int64           `json:"rssAtReadyBytes,omitempty"`
	LogFile              string          `json:"logFile,omitempty"`
	HeapProfile          string          `json:"heapProfile,omitempty"` // at all Ready, after a GC
	LogLines             int             `json:"logLines,omitempty"`
	LogExcerpt           []string        `json:"logExcerpt,omitempty"`
	CatalogReadyAtStart  bool            `json:"catalogReadyAtStart,omitempty"`
	DistrictReadyAtStart bool            `json:"districtReadyAtStart,omitempty"`

	// Baseline runs only: what the server counted minus what the benchmark's
	// clients counted. It should be close to zero; it checks the method the
	// operator's figures rely on.
	UnattributedRequests *requestFigures `json:"unattributedRequests,omitempty"`
	// UserCreates are the Town and Village creates included in the
	// baseline's requests, which in the operator run the benchmark makes.
	UserCreates float64 `json:"userCreates,omitempty"`
}

func secs(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

// creator creates the towns and villages of a layout with the pool and
// records when each was created.
type creator struct {
	l       layout
	c       client.Client
	tr      *tracker
	pool    *pool
	created atomic.Int64
	lastAt  atomic.Int64 // unix nanos of the last create
	once    sync.Map     // namespace -> pushed villages
}

func (cr *creator) done(kind, ns, name string) {
	now := time.Now()
	cr.tr.markCreated(kind, ns, name, now)
	cr.created.Add(1)
	cr.lastAt.Store(now.UnixNano())
}

// createOrGet creates o; if a retried create finds it already there, it
// reads it back instead, so that o always ends up as the server has it.
func createOrGet(ctx context.Context, c client.Client, o client.Object) error {
	err := c.Create(ctx, o)
	if apierrors.IsAlreadyExists(err) {
		return c.Get(ctx, client.ObjectKeyFromObject(o), o)
	}
	return err
}

// pushTown queues the creation of town i; after, if set, is queued as soon
// as the Town exists.
func (cr *creator) pushTown(i int, after func(ctx context.Context, t *wx.Town) error) {
	cr.pool.push(job{what: "town " + townName(i), urgent: true, do: func(ctx context.Context) error {
		t := newTown(i)
		if err := createOrGet(ctx, cr.c, t); err != nil {
			return err
		}
		cr.done("town", "", t.Name)
		if after != nil {
			cr.pool.push(job{what: "objects of town " + t.Name, urgent: true, do: func(ctx context.Context) error { return after(ctx, t) }})
		}
		return nil
	}})
}

// pushVillages queues the creation of town i's villages (once); status, if
// set, is then written for each.
func (cr *creator) pushVillages(i int, status func(ctx context.Context, v *wx.Village) error) {
	if _, loaded := cr.once.LoadOrStore(i, true); loaded {
		return
	}
	for j := range cr.l.villagesIn(i) {
		cr.pool.push(job{what: fmt.Sprintf("village %s/%s", townName(i), villageName(j)), do: func(ctx context.Context) error {
			v := newVillage(i, j)
			if err := createOrGet(ctx, cr.c, v); err != nil {
				return err
			}
			cr.done("village", v.Namespace, v.Name)
			if status != nil {
				return retry(ctx, func(ctx context.Context) error { return status(ctx, v) })
			}
			return nil
		}})
	}
}

// waitReady waits for every Town and Village to be Ready, printing progress.
func waitReady(ctx context.Context, label string, tr *tracker, cr *creator, t0 time.Time, rss func() int64) error {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	total := cr.l.Towns + cr.l.Villages
	for {
		select {
		case <-tr.allReady:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("timed out: %w", ctx.Err())
		case <-tick.C:
			extra := ""
			if rss != nil {
				extra = fmt.Sprintf(", operator RSS %s", mib(rss()))
			}
			logf("[%s] %5.0fs created %d/%d, %s%s", label, time.Since(t0).Seconds(), cr.created.Load(), total, tr.progress(false), extra)
		}
	}
}

func (r *runResult) finishTimes(tr *tracker, cr *creator, t0 time.Time) {
	if !tr.allReadyAt.IsZero() {
		r.TimeToReadySeconds = secs(tr.allReadyAt.Sub(t0))
	}
	if !tr.townsReadyAt.IsZero() {
		r.TownsReadySeconds = secs(tr.townsReadyAt.Sub(t0))
	}
	if last := cr.lastAt.Load(); last > 0 {
		r.AllCreatedSeconds = secs(time.Unix(0, last).Sub(t0))
	}
	lat := tr.latencies("village")
	r.VillageLatencyP50 = secs(percentile(lat, 0.50))
	r.VillageLatencyP95 = secs(percentile(lat, 0.95))
	r.VillageLatencyMax = secs(percentile(lat, 1))
	r.CreateErrors = cr.pool.failed.Load()
	r.FirstCreateErrors = cr.pool.errors()
}

// runOperator measures the operator: from nothing to every Town and Village
// Ready.
func runOperator(parent context.Context, o options, l layout, label string) (*runResult, error) {
	res := &runResult{}
	if err := resetTowns(parent, l); err != nil {
		return nil, err
	}
	e, err := startEnv(parent)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	ctx, cancel := context.WithCancel(parent)
	defer cancel()

	ours := newCounter()
	bc, err := newClientSet(e.te.Config, ours)
	if err != nil {
		return nil, err
	}
	kub, err := startKubelet(ctx, bc.cs, o.kubeletWorkers)
	if err != nil {
		return nil, err
	}
	cr := &creator{l: l, c: bc.c, pool: newPool()}
	cr.tr, err = startTracker(ctx, bc.dyn, bc.cs, l, func(ns string) {
		for i := range l.Towns {
			if ns == wx.TownNamespace(townName(i)) {
				cr.pushVillages(i, nil)
			}
		}
	})
	if err != nil {
		return nil, err
	}

	// Window 0: the operator starts, syncs its caches and reconciles the
	// District and the PowerCatalog.
	w0, err := e.mark(ctx, ours, nil)
	if err != nil {
		return nil, err
	}
	res.LogFile = filepath.Join(o.logDir, "operator-"+label+".log")
	logf("[%s] starting the operator; its log: %s", label, res.LogFile)
	op, err := startOperator(ctx, e, o.operatorBin, o.operatorArgs, res.LogFile)
	if err != nil {
		return nil, err
	}
	defer func() {
		if hwm := op.stop(); hwm > 0 {
			res.VmHWMBytes = hwm
		}
		res.PeakRSSBytes = op.peakRSS.Load()
		res.LogLines, res.LogExcerpt = logSummary(res.LogFile)
	}()
	if err := op.waitHealthy(ctx, 2*time.Minute); err != nil {
		return res, err
	}
	res.CatalogReadyAtStart, res.DistrictReadyAtStart = waitSharedReady(ctx, bc.c, time.Minute)
	if !res.CatalogReadyAtStart || !res.DistrictReadyAtStart {
		logf("[%s] WARNING: PowerCatalog Ready=%v, District Ready=%v after 1m; starting anyway", label, res.CatalogReadyAtStart, res.DistrictReadyAtStart)
	}

	// Window 1: from the first create to every Town and Village Ready.
	w1, err := e.mark(ctx, ours, nil)
	if err != nil {
		return nil, err
	}
	res.StartupSeconds = secs(w1.server.At.Sub(w0.server.At))
	su := figuresOf(attributed(w0, w1), 0)
	res.StartupRequests = &su

	runCtx, runCancel := context.WithTimeout(ctx, o.timeout)
	defer runCancel()
	cpu0, _ := procCPU(op.cmd.Process.Pid)
	meter := startCPUMeter()
	cr.pool.start(runCtx, o.workers)
	t0 := time.Now()
	for i := range l.Towns {
		cr.pushTown(i, nil)
	}
	werr := waitReady(runCtx, label, cr.tr, cr, t0, op.lastRSS.Load)
	res.RSSAtReadyBytes = op.lastRSS.Load()
	if path := filepath.Join(o.logDir, "operator-"+label+".heap.pb.gz"); werr == nil {
		if err := op.heapProfile(ctx, path); err != nil {
			logf("[%s] no heap profile: %v", label, err)
		} else {
			res.HeapProfile = path
		}
	}
	res.MachineCPUBusy = meter.busyFraction()
	if cpu1, err := procCPU(op.cmd.Process.Pid); err == nil {
		res.OperatorCPUSeconds = secs(cpu1 - cpu0)
	}
	w2, err := e.mark(ctx, ours, nil)
	if err != nil {
		return nil, err
	}
	res.finishTimes(cr.tr, cr, t0)
	res.Requests = figuresOf(attributed(w1, w2), l.Villages)
	res.BenchRequests = figuresOf(w2.ours.sub(w1.ours), 0)
	res.KubeletUpdates = kub.updates.Load()
	if op.exited() {
		werr = fmt.Errorf("the operator exited during the run: %w", op.exitError())
	}
	if werr != nil {
		res.Error = werr.Error()
		res.Progress = cr.tr.progress(true)
		logf("[%s] NOT converged: %v; %s", label, werr, res.Progress)
		return res, nil
	}
	res.Completed = true
	res.Progress = cr.tr.progress(false)
	logf("[%s] all Ready in %.1fs", label, res.TimeToReadySeconds)

	// Window 2: steady state. A converged operator should write nothing.
	if o.steady > 0 {
		time.Sleep(o.steady)
		w3, err := e.mark(ctx, ours, nil)
		if err != nil {
			return nil, err
		}
		res.SteadySeconds = secs(w3.server.At.Sub(w2.server.At))
		st := figuresOf(attributed(w2, w3), 0)
		res.SteadyRequests = &st
	}
	return res, nil
}

// waitSharedReady waits for the PowerCatalog and the District to be Ready.
func waitSharedReady(ctx context.Context, c client.Client, timeout time.Duration) (catalogReady, districtReady bool) {
	deadline := time.Now().Add(timeout)
	for {
		var cat wx.PowerCatalog
		var d wx.District
		if err := c.Get(ctx, client.ObjectKey{Name: catalogName}, &cat); err == nil {
			catalogReady = condTrue(cat.Status.Conditions)
		}
		if err := c.Get(ctx, client.ObjectKey{Name: districtName}, &d); err == nil {
			districtReady = condTrue(d.Status.Conditions)
		}
		if (catalogReady && districtReady) || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func condTrue(cs []metav1.Condition) bool {
	for _, c := range cs {
		if c.Type == wx.ConditionReady {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// runBaseline has a plain client-go program, on the same worker pool, create
// what the operator would create and write the statuses it would write.
func runBaseline(parent context.Context, o options, l layout, label string) (*runResult, error) {
	res := &runResult{}
	if err := resetTowns(parent, l); err != nil {
		return nil, err
	}
	e, err := startEnv(parent)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	ctx, cancel := context.WithCancel(parent)
	defer cancel()

	ours, base := newCounter(), newCounter()
	bc, err := newClientSet(e.te.Config, ours)
	if err != nil {
		return nil, err
	}
	pc, err := newClientSet(e.te.Config, base)
	if err != nil {
		return nil, err
	}
	kub, err := startKubelet(ctx, bc.cs, o.kubeletWorkers)
	if err != nil {
		return nil, err
	}
	cr := &creator{l: l, c: pc.c, pool: newPool()}
	if cr.tr, err = startTracker(ctx, bc.dyn, bc.cs, l, nil); err != nil {
		return nil, err
	}
	w1, err := e.mark(ctx, ours, base)
	if err != nil {
		return nil, err
	}
	runCtx, runCancel := context.WithTimeout(ctx, o.timeout)
	defer runCancel()
	bp, err := newBaseProvision()
	if err != nil {
		return nil, err
	}
	defer bp.close()
	b := &baseline{l: l, pc: pc, cr: cr, prov: bp, towns: map[string]*wx.Town{}, readySvcs: map[string]map[string]bool{}, provisioned: map[string]bool{}}
	if err := b.watchDeployments(runCtx); err != nil {
		return nil, err
	}
	meter := startCPUMeter()
	cr.pool.start(runCtx, o.workers)
	t0 := time.Now()
	for i := range l.Towns {
		cr.pushTown(i, func(ctx context.Context, t *wx.Town) error { return b.afterTown(ctx, i, t) })
	}
	werr := waitReady(runCtx, label, cr.tr, cr, t0, nil)
	res.MachineCPUBusy = meter.busyFraction()
	w2, err := e.mark(ctx, ours, base)
	if err != nil {
		return nil, err
	}
	res.finishTimes(cr.tr, cr, t0)
	res.Requests = figuresOf(w2.other.sub(w1.other), l.Villages)
	res.BenchRequests = figuresOf(w2.ours.sub(w1.ours), 0)
	un := figuresOf(attributed(w1, w2), 0)
	res.UnattributedRequests = &un
	res.UserCreates = float64(l.Towns + l.Villages)
	res.KubeletUpdates = kub.updates.Load()
	if werr != nil {
		res.Error = werr.Error()
		res.Progress = cr.tr.progress(true)
		logf("[%s] NOT converged: %v; %s", label, werr, res.Progress)
		return res, nil
	}
	res.Completed = true
	res.Progress = cr.tr.progress(false)
	logf("[%s] all Ready in %.1fs", label, res.TimeToReadySeconds)
	return res, nil
}

// baseline holds the state of the raw client-go program.
type baseline struct {
	l    layout
	pc   *clientSet
	cr   *creator
	prov *baseProvision

	mu          sync.Mutex
	towns       map[string]*wx.Town        // by namespace, as created
	readySvcs   map[string]map[string]bool // namespace -> deployments rolled out
	provisioned map[string]bool            // namespace -> database and topics done
	statused    map[string]bool
}

// afterTown creates the town's namespace, then queues everything else.
func (b *baseline) afterTown(ctx context.Context, i int, t *wx.Town) error {
	ns := baselineNamespace(i)
	if err := retry(ctx, func(ctx context.Context) error { return b.pc.c.Create(ctx, ns.DeepCopy()) }); err != nil {
		return err
	}
	b.mu.Lock()
	b.towns[ns.Name] = t
	b.mu.Unlock()
	cm, err := baselineConfigMap(i)
	if err != nil {
		return err
	}
	objs := []client.Object{baselineRole(i), baselineRoleBinding(i), cm, calendarConfigMap(i)}
	// The town's provisioning (provision.go): its Secrets, its database
	// (with the Secrets' passwords) and its topics.
	passwords := make([]string, 1+len(wx.AllServices))
	for k := range passwords {
		passwords[k] = randomHex(16)
	}
	for _, sec := range townSecrets(i, passwords) {
		objs = append(objs, sec)
	}
	b.cr.pool.push(job{what: "database and topics of town " + t.Name, urgent: true, do: func(ctx context.Context) error {
		if err := b.prov.database(ctx, t.Name, passwords); err != nil {
			return err
		}
		if err := b.prov.townTopics(ctx, t.Name); err != nil {
			return err
		}
		b.mu.Lock()
		b.provisioned[ns.Name] = true
		b.mu.Unlock()
		b.maybeTownStatus(ns.Name)
		return nil
	}})
	for _, svc := range wx.AllServices {
		objs = append(objs, baselineDeployment(i, svc), baselineService(i, svc), baselinePDB(i, svc), baselineNetworkPolicy(i, svc))
	}
	for _, o := range objs {
		b.cr.pool.push(job{what: fmt.Sprintf("%T %s/%s", o, o.GetNamespace(), o.GetName()), urgent: true, do: func(ctx context.Context) error {
			return b.pc.c.Create(ctx, o.DeepCopyObject().(client.Object))
		}})
	}
	b.cr.pushVillages(i, b.villageStatus)
	b.maybeTownStatus(ns.Name)
	return nil
}

// villageStatus gives the village what the operator gives it (QR
// ConfigMap, registration event, archive finalizer: provision.go), then
// writes its status. Each step is done once; a retry resumes after it.
// The registration needs the town's topics: while they are being created
// the rest is queued again once they exist, instead of holding a worker
// (the operator's village reconcile likewise returns and is brought back
// by the Town's status).
func (b *baseline) villageStatus(ctx context.Context, v *wx.Village) error {
	town := v.Namespace[len("town-"):]
	portal := portalBaseURL + "/v/" + v.Spec.Code
	if v.Status.QRConfigMap == "" {
		cm, err := qrConfigMap(v, portal)
		if err != nil {
			return err
		}
		if err := b.pc.c.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		v.Status.QRConfigMap = cm.Name
	}
	rest := job{what: "registration and status of village " + v.Namespace + "/" + v.Name, do: func(ctx context.Context) error { return b.villageReady(ctx, v, town, portal) }}
	select {
	case <-b.prov.topicsDone(town):
		return rest.do(ctx)
	default:
		go func() {
			select {
			case <-b.prov.topicsDone(town):
				b.cr.pool.push(rest)
			case <-ctx.Done():
			}
		}()
		return nil
	}
}

// villageReady registers the village on its town's tenant topic, adds the
// archive finalizer and writes its status.
func (b *baseline) villageReady(ctx context.Context, v *wx.Village, town, portal string) error {
	now := metav1.Now()
	if v.Status.RegisteredGeneration == 0 {
		if err := b.prov.register(ctx, v, portal); err != nil {
			return err
		}
		v.Status.RegisteredGeneration = v.Generation
	}
	if !controllerutil.ContainsFinalizer(v, wx.ArchiveFinalizer) {
		controllerutil.AddFinalizer(v, wx.ArchiveFinalizer)
		st := v.Status
		if err := b.pc.c.Update(ctx, v); err != nil {
			controllerutil.RemoveFinalizer(v, wx.ArchiveFinalizer)
			return err
		}
		v.Status.QRConfigMap, v.Status.RegisteredGeneration = st.QRConfigMap, st.RegisteredGeneration
	}
	v.Status = wx.VillageStatus{
		ObservedGeneration:   v.Generation,
		Town:                 town,
		Catalog:              catalogName + "@" + catalogVersion,
		PortalURL:            portal,
		QRConfigMap:          v.Status.QRConfigMap,
		RegisteredGeneration: v.Status.RegisteredGeneration,
		Conditions: []metav1.Condition{{Type: wx.ConditionReady, Status: metav1.ConditionTrue, Reason: wx.ReasonReconciled,
			Message: "village registered", ObservedGeneration: v.Generation, LastTransitionTime: now}},
	}
	return b.pc.c.Status().Update(ctx, v)
}

// watchDeployments tells the program when a town's four deployments are
// rolled out, so it can mark the town Ready (one LIST and one WATCH).
func (b *baseline) watchDeployments(ctx context.Context) error {
	b.statused = map[string]bool{}
	f := informers.NewSharedInformerFactory(b.pc.cs, 0)
	inf := f.Apps().V1().Deployments().Informer()
	on := func(o any) {
		d, ok := o.(*appsv1.Deployment)
		if !ok || !deploymentRolledOut(d) {
			return
		}
		b.mu.Lock()
		if b.readySvcs[d.Namespace] == nil {
			b.readySvcs[d.Namespace] = map[string]bool{}
		}
		b.readySvcs[d.Namespace][d.Name] = true
		b.mu.Unlock()
		b.maybeTownStatus(d.Namespace)
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: on, UpdateFunc: func(_, n any) { on(n) }}); err != nil {
		return err
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	return nil
}

// maybeTownStatus queues the Town's status update once all four services
// are rolled out.
func (b *baseline) maybeTownStatus(ns string) {
	b.mu.Lock()
	t := b.towns[ns]
	ready := len(b.readySvcs[ns]) == len(wx.AllServices) && b.provisioned[ns] && t != nil && !b.statused[ns]
	if ready {
		b.statused[ns] = true
	}
	b.mu.Unlock()
	if !ready {
		return
	}
	b.cr.pool.push(job{what: "status of town " + t.Name, urgent: true, do: func(ctx context.Context) error {
		now := metav1.Now()
		t.Status = wx.TownStatus{
			ObservedGeneration: t.Generation,
			Namespace:          ns,
			Catalog:            catalogName + "@" + catalogVersion,
			Version:            serviceVersion,
			Conditions: []metav1.Condition{{Type: wx.ConditionReady, Status: metav1.ConditionTrue, Reason: wx.ReasonReconciled,
				Message: "all services ready", ObservedGeneration: t.Generation, LastTransitionTime: now}},
		}
		for _, s := range wx.AllServices {
			t.Status.Services = append(t.Status.Services, wx.ServiceStatus{Name: s, Ready: true, Version: serviceVersion, Replicas: 2, ReadyReplicas: 2, UpdatedReplicas: 2})
		}
		return b.pc.c.Status().Update(ctx, t)
	}})
}
