package controller

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// fakeServicePod stands in for one service pod: its requests are measured
// by the same instrumentation as the services' (otelhttp through the
// OpenTelemetry Prometheus exporter, services/internal/httpapi), and it
// serves the resulting metrics page at /metrics, as a pod does on its
// metrics port.
type fakeServicePod struct {
	ip   string
	fail atomic.Bool // answer 500
}

// startFakePods listens on 127.0.0.1, 127.0.0.2, ... with one port for all
// (the scraper has one metrics port, as the real pods do).
func startFakePods(t *testing.T, n int) ([]*fakeServicePod, int) {
	t.Helper()
	port := 0
	var pods []*fakeServicePod
	for i := range n {
		p := &fakeServicePod{ip: fmt.Sprintf("127.0.0.%d", i+1)}
		reg := prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		must(t, err)
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
		app := otelhttp.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if p.fail.Load() {
				http.Error(w, "broken release", http.StatusInternalServerError)
				return
			}
			_, _ = w.Write([]byte("ok"))
		}), "fake", otelhttp.WithMeterProvider(mp))
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.Handle("/", app)
		l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", net.JoinHostPort(p.ip, strconv.Itoa(port)))
		must(t, err)
		port = l.Addr().(*net.TCPAddr).Port
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close(); _ = mp.Shutdown(context.Background()) })
		pods = append(pods, p)
	}
	return pods, port
}

func (p *fakeServicePod) get(t *testing.T, port int) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+net.JoinHostPort(p.ip, strconv.Itoa(port))+"/v1/things", nil)
	must(t, err)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_ = resp.Body.Close()
	}
}

// traffic sends requests to every pod until the test ends.
func traffic(t *testing.T, pods []*fakeServicePod, port int) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			for _, p := range pods {
				p.get(t, port)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// createServicePod registers a Ready pod of a town's service at version,
// whose address is the fake pod's.
func createServicePod(t *testing.T, town *wuxiaov1.Town, svc wuxiaov1.ServiceName, version, ip string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	labels := resources.SelectorLabels(town.Name, svc)
	labels[resources.VersionLabel] = version
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: string(svc) + "-fake", Namespace: town.NamespaceName(), Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "service", Image: "wuxiao.local/" + string(svc) + ":" + version}}},
	}
	must(t, k8s.Create(ctx, pod))
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	must(t, k8s.Status().Update(ctx, pod))
	return pod
}

func workflowImage(t *testing.T, town *wuxiaov1.Town) string {
	t.Helper()
	dep := &appsv1.Deployment{}
	must(t, k8s.Get(context.Background(), types.NamespacedName{Namespace: town.NamespaceName(), Name: "workflow"}, dep))
	return dep.Spec.Template.Spec.Containers[0].Image
}

// A release whose complaint service answers half its requests with 500
// halts after the first wave: the pilot's gate fails from the pods' own
// metrics, the later wave keeps its version, the District says so (status,
// condition, event, metric). A new version clears the halt and rolls on.
func TestRolloutGateHaltsOnErrorsAndClearsOnNewVersion(t *testing.T) {
	ctx := context.Background()
	fakes, port := startFakePods(t, len(wuxiaov1.AllServices))
	startManagerWith(t, Options{ArchiveNamespace: archiveNS, ArchiveAckTimeout: 2 * time.Second,
		RolloutMetrics: &PodMetricsScraper{Port: port}})
	d := fixture(t, func(d *wuxiaov1.District) { d.Spec.Rollout.SoakTime = &metav1.Duration{Duration: 2 * time.Second} })
	pilot := readyTown(t, d)
	later := readyTown(t, d, func(town *wuxiaov1.Town) { town.Spec.RolloutWave = 1 })

	pods := map[wuxiaov1.ServiceName]*corev1.Pod{}
	for i, svc := range wuxiaov1.AllServices {
		pods[svc] = createServicePod(t, pilot, svc, "v0.2.0", fakes[i].ip)
	}
	complaint := fakes[2]
	complaint.fail.Store(true)
	traffic(t, fakes, port)
	update(t, d, func() { d.Spec.Services.Version = "v0.2.0" })

	eventually(t, wait, func() error {
		kubelet(t, pilot.NamespaceName())
		kubelet(t, later.NamespaceName())
		got := getTown(t, pilot)
		if !gateFailed(got, "v0.2.0") {
			return fmt.Errorf("pilot's gate: %+v", got.Status.Rollout)
		}
		*pilot = *got
		return nil
	})
	st := pilot.Status.Rollout
	if st.Reason != wuxiaov1.ReasonErrorRatioExceeded || !strings.Contains(st.Message, "complaint: ") ||
		!strings.Contains(st.Message, "above the 5% allowed") || strings.Contains(st.Message, "workflow: no requests") {
		t.Errorf("pilot's gate: %+v", st)
	}
	for _, svc := range []string{"workflow", "disclosure", "inspection"} {
		if !strings.Contains(st.Message, svc+": 0 of ") {
			t.Errorf("the gate's message does not show %s without errors: %s", svc, st.Message)
		}
	}

	var dist *wuxiaov1.District
	eventually(t, wait, func() error {
		dist = getDistrict(t, d)
		c := meta.FindStatusCondition(dist.Status.Conditions, wuxiaov1.ConditionRolloutHalted)
		if c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("RolloutHalted %+v", c)
		}
		return nil
	})
	c := meta.FindStatusCondition(dist.Status.Conditions, wuxiaov1.ConditionRolloutHalted)
	if c.Reason != wuxiaov1.ReasonErrorRatioExceeded || !strings.Contains(c.Message, pilot.Name+": ") {
		t.Errorf("RolloutHalted: %+v", c)
	}
	if r := dist.Status.Rollout; r == nil || r.HaltedVersion != "v0.2.0" || len(r.HaltedTowns) != 1 || r.HaltedTowns[0] != pilot.Name {
		t.Errorf("status.rollout %+v", r)
	}
	if !isReady(dist.Status.Conditions) {
		t.Errorf("a halted rollout made the District not Ready: %+v", dist.Status.Conditions)
	}
	if v := haltedMetric(t, d.Name); v != 1 {
		t.Errorf("wuxiao_rollout_halted %v, want 1", v)
	}
	eventually(t, wait, func() error {
		evs := &eventsv1.EventList{}
		must(t, k8s.List(ctx, evs))
		for _, e := range evs.Items {
			if e.Regarding.Kind == "District" && e.Regarding.Name == d.Name && e.Reason == wuxiaov1.ConditionRolloutHalted &&
				e.Type == corev1.EventTypeWarning && strings.Contains(e.Note, "v0.2.0") {
				return nil
			}
		}
		return fmt.Errorf("no RolloutHalted event on District %s among %d events", d.Name, len(evs.Items))
	})
	eventually(t, wait, func() error {
		got := getTown(t, later)
		if _, reason, msg := readyOf(got.Status.Conditions); reason != wuxiaov1.ReasonWaitingForWave || !strings.Contains(msg, "is halted, "+pilot.Name+" failed the rollout gate") {
			return fmt.Errorf("later wave: %s %s", reason, msg)
		}
		return nil
	})
	if img := workflowImage(t, later); img != "localhost/wuxiao/workflow:v0.1.0" {
		t.Fatalf("the later wave moved past a halted rollout: %s", img)
	}

	// The fixed release: the halt clears at once, the pilot soaks again and
	// the later wave follows.
	complaint.fail.Store(false)
	for _, p := range pods {
		update(t, p, func() { p.Labels[resources.VersionLabel] = "v0.3.0" })
	}
	update(t, d, func() { d.Spec.Services.Version = "v0.3.0" })
	eventually(t, wait, func() error {
		got := getDistrict(t, d)
		c := meta.FindStatusCondition(got.Status.Conditions, wuxiaov1.ConditionRolloutHalted)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != wuxiaov1.ReasonRolloutProceeding || got.Status.Rollout != nil {
			return fmt.Errorf("RolloutHalted %+v, status.rollout %+v", c, got.Status.Rollout)
		}
		return nil
	})
	waitTownReadyAt(t, pilot, "v0.3.0")
	waitTownReadyAt(t, later, "v0.3.0")
	got := getTown(t, pilot)
	if st := got.Status.Rollout; st == nil || st.Phase != wuxiaov1.RolloutPassed || st.Version != "v0.3.0" || !strings.Contains(st.Message, "complaint: 0 of ") {
		t.Errorf("pilot's gate at the fixed release: %+v", st)
	}
	if v := haltedMetric(t, d.Name); v != 0 {
		t.Errorf("wuxiao_rollout_halted %v after the fix, want 0", v)
	}
}

// spec.rollout.paused holds every town, the first wave included, at its
// version; unpausing lets the rollout go on.
func TestRolloutPausedHoldsEveryWave(t *testing.T) {
	startManager(t)
	d := fixture(t, func(d *wuxiaov1.District) { d.Spec.Rollout.SoakTime = &metav1.Duration{} })
	pilot := readyTown(t, d)
	update(t, d, func() {
		d.Spec.Rollout.Paused = true
		d.Spec.Services.Version = "v0.2.0"
	})
	eventually(t, wait, func() error {
		got := getTown(t, pilot)
		if _, reason, msg := readyOf(got.Status.Conditions); reason != wuxiaov1.ReasonWaitingForWave || !strings.Contains(msg, "paused") {
			return fmt.Errorf("pilot: %s %s", reason, msg)
		}
		return nil
	})
	if img := workflowImage(t, pilot); img != "localhost/wuxiao/workflow:v0.1.0" {
		t.Fatalf("a paused rollout moved the first wave: %s", img)
	}
	update(t, d, func() { d.Spec.Rollout.Paused = false })
	waitTownReadyAt(t, pilot, "v0.2.0")
	if img := workflowImage(t, pilot); img != "localhost/wuxiao/workflow:v0.2.0" {
		t.Fatalf("after unpausing the first wave runs %s", img)
	}
	// soakTime 0s: Ready is enough, and no metrics are read.
	if st := getTown(t, pilot).Status.Rollout; st == nil || st.Phase != wuxiaov1.RolloutPassed || !strings.Contains(st.Message, "no soak") {
		t.Errorf("gate with soakTime 0s: %+v", st)
	}
}

// spec.rollout's defaults, and values the schema refuses with a message a
// person can act on.
func TestRolloutValidation(t *testing.T) {
	ctx := context.Background()
	d := fixture(t)
	got := getDistrict(t, d)
	if s := got.Spec.Rollout.SoakTime; s == nil || s.Duration != 5*time.Minute || got.Spec.Rollout.MaxErrorRatio != "0.05" {
		t.Errorf("defaults: soakTime %v, maxErrorRatio %q", s, got.Spec.Rollout.MaxErrorRatio)
	}
	cases := []struct {
		field, value, msg string // msg empty: accepted
	}{
		{"soakTime", "90s", ""},
		{"soakTime", "1h30m", ""},
		{"soakTime", "0s", ""},
		{"soakTime", "0", ""},
		{"soakTime", "5 minutes", "rollout.soakTime must be a duration of at most 24h with a unit"},
		{"soakTime", "300", "rollout.soakTime must be a duration"},
		{"soakTime", "25h", "rollout.soakTime must be a duration of at most 24h"},
		{"soakTime", "-1m", "rollout.soakTime must be a duration"},
		{"maxErrorRatio", "0", ""},
		{"maxErrorRatio", "0.5", ""},
		{"maxErrorRatio", "1", ""},
		{"maxErrorRatio", "5%", `rollout.maxErrorRatio must be a decimal between 0 and 1 as a string, e.g. "0.05" for 5%`},
		{"maxErrorRatio", "1.5", "rollout.maxErrorRatio must be a decimal between 0 and 1"},
		{"maxErrorRatio", "0,05", "rollout.maxErrorRatio must be a decimal between 0 and 1"},
	}
	for _, tc := range cases {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			patch := fmt.Sprintf(`{"spec":{"rollout":{%q:%q}}}`, tc.field, tc.value)
			err := k8s.Patch(ctx, &wuxiaov1.District{ObjectMeta: metav1.ObjectMeta{Name: d.Name}}, client.RawPatch(types.MergePatchType, []byte(patch)))
			switch {
			case tc.msg == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.msg != "" && (!apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.msg)):
				t.Fatalf("got %v, want Invalid with %q", err, tc.msg)
			}
		})
	}
}

func TestParseRequestCountsOfServiceInstrumentation(t *testing.T) {
	fakes, port := startFakePods(t, 1)
	p := fakes[0]
	c, err := scrapeRequests(context.Background(), http.DefaultClient, fmt.Sprintf("http://%s:%d/metrics", p.ip, port))
	must(t, err)
	if c != (RequestCounts{}) {
		t.Fatalf("before any request: %+v", c)
	}
	for range 3 {
		p.get(t, port)
	}
	p.fail.Store(true)
	for range 2 {
		p.get(t, port)
	}
	c, err = scrapeRequests(context.Background(), http.DefaultClient, fmt.Sprintf("http://%s:%d/metrics", p.ip, port))
	must(t, err)
	if c != (RequestCounts{Total: 5, Errors: 2}) {
		t.Fatalf("after 3 OK and 2 failed requests: %+v", c)
	}
}

func TestIncreaseAndJudge(t *testing.T) {
	const wf, co = wuxiaov1.ServiceWorkflow, wuxiaov1.ServiceComplaint
	cases := []struct {
		name          string
		before, after map[wuxiaov1.ServiceName]PodRequests
		max           float64
		pass          bool
		msg           string
	}{
		{"no traffic is no evidence of errors", nil, map[wuxiaov1.ServiceName]PodRequests{wf: {"a": {}}}, 0.05, true, "workflow: no requests"},
		{"errors before the soak do not count",
			map[wuxiaov1.ServiceName]PodRequests{wf: {"a": {Total: 100, Errors: 90}}},
			map[wuxiaov1.ServiceName]PodRequests{wf: {"a": {Total: 200, Errors: 90}}}, 0.05, true, "workflow: 0 of 100 requests failed with 5xx (0%)"},
		{"at the limit passes",
			map[wuxiaov1.ServiceName]PodRequests{wf: {"a": {Total: 0}}},
			map[wuxiaov1.ServiceName]PodRequests{wf: {"a": {Total: 100, Errors: 5}}}, 0.05, true, "(5%)"},
		{"above the limit fails",
			map[wuxiaov1.ServiceName]PodRequests{wf: {"a": {Total: 10}}},
			map[wuxiaov1.ServiceName]PodRequests{wf: {"a": {Total: 110, Errors: 6}}}, 0.05, false, "workflow: 6 of 100 requests failed with 5xx (6%, above the 5% allowed)"},
		{"each service on its own: a quiet service's errors are not hidden",
			nil,
			map[wuxiaov1.ServiceName]PodRequests{wf: {"a": {Total: 10000}}, co: {"b": {Total: 4, Errors: 1}}}, 0.05, false, "complaint: 1 of 4 requests failed with 5xx (25%, above"},
		{"a restarted container counts from zero",
			map[wuxiaov1.ServiceName]PodRequests{wf: {"a": {Total: 500, Errors: 0}}},
			map[wuxiaov1.ServiceName]PodRequests{wf: {"a": {Total: 10, Errors: 10}}}, 0.05, false, "10 of 10"},
		{"a pod started during the soak counts from zero",
			map[wuxiaov1.ServiceName]PodRequests{wf: {"a": {Total: 50}}},
			map[wuxiaov1.ServiceName]PodRequests{wf: {"a": {Total: 60}, "b": {Total: 10, Errors: 2}}}, 0.05, false, "2 of 20"},
		{"maxErrorRatio 1 lets everything pass",
			nil, map[wuxiaov1.ServiceName]PodRequests{wf: {"a": {Total: 10, Errors: 10}}}, 1, true, "(100%)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pass, msg := Judge(Increase(tc.before, tc.after), tc.max)
			if pass != tc.pass || !strings.Contains(msg, tc.msg) {
				t.Fatalf("Judge = %v, %q; want %v with %q", pass, msg, tc.pass, tc.msg)
			}
		})
	}
}

// haltedMetric reads wuxiao_rollout_halted{district}.
func haltedMetric(t *testing.T, district string) float64 {
	t.Helper()
	m := &dto.Metric{}
	must(t, rolloutHaltedGauge.WithLabelValues(district).Write(m))
	return m.GetGauge().GetValue()
}

// Pods whose metrics cannot be read (here: nothing listens on the metrics
// port) halt the rollout with MetricsUnavailable once the soak and its
// grace are over: the gate does not call a version good it could not see.
func TestRolloutGateFailsWhenMetricsCannotBeRead(t *testing.T) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	must(t, err)
	closed := l.Addr().(*net.TCPAddr).Port
	must(t, l.Close())
	grace := gateGrace
	gateGrace = time.Second
	t.Cleanup(func() { gateGrace = grace })
	startManagerWith(t, Options{ArchiveNamespace: archiveNS, ArchiveAckTimeout: 2 * time.Second,
		RolloutMetrics: &PodMetricsScraper{Port: closed}})
	d := fixture(t, func(d *wuxiaov1.District) { d.Spec.Rollout.SoakTime = &metav1.Duration{Duration: time.Second} })
	pilot := readyTown(t, d)
	createServicePod(t, pilot, wuxiaov1.ServiceWorkflow, "v0.2.0", "127.0.0.1")
	update(t, d, func() { d.Spec.Services.Version = "v0.2.0" })
	eventually(t, wait, func() error {
		kubelet(t, pilot.NamespaceName())
		got := getTown(t, pilot)
		if !gateFailed(got, "v0.2.0") {
			return fmt.Errorf("pilot's gate: %+v", got.Status.Rollout)
		}
		if st := got.Status.Rollout; st.Reason != wuxiaov1.ReasonMetricsUnavailable || !strings.Contains(st.Message, "connection refused") {
			t.Errorf("pilot's gate: %+v", st)
		}
		return nil
	})
	eventually(t, wait, func() error {
		c := meta.FindStatusCondition(getDistrict(t, d).Status.Conditions, wuxiaov1.ConditionRolloutHalted)
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != wuxiaov1.ReasonMetricsUnavailable {
			return fmt.Errorf("RolloutHalted %+v", c)
		}
		return nil
	})
}
