package charts_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/wuxiao/wuxiao/charts/promnames"
)

// The Prometheus Operator's kinds, as .Capabilities.APIVersions.Has takes them.
var prometheusOperatorAPIs = []string{
	"monitoring.coreos.com/v1",
	"monitoring.coreos.com/v1/ServiceMonitor",
	"monitoring.coreos.com/v1/PodMonitor",
	"monitoring.coreos.com/v1/PrometheusRule",
}

var (
	monitoringDir = filepath.Join(chartDir, "monitoring")
	rulesFile     = filepath.Join(monitoringDir, "rules", "wuxiao-alerts.yaml")
	runbooksDir   = filepath.Join(monitoringDir, "runbooks")
	dashboardsDir = filepath.Join(monitoringDir, "dashboards")
)

const defaultRunbookBase = "https://github.com/wuxiao/wuxiao/blob/main/charts/wuxiao-operator/monitoring/runbooks"

// The alerts issue 15 asks for, each by the alert that covers it.
var requiredAlerts = map[string]string{
	"tenant not Ready":       "WuxiaoTenantNotReady",
	"outbox stuck":           "WuxiaoOutboxStuck",
	"consumer lag":           "WuxiaoConsumerLag",
	"dead letters":           "WuxiaoDeadLetters",
	"SLA breaches":           "WuxiaoComplaintSLABreaches",
	"error rate":             "WuxiaoHighErrorRate",
	"overdue-step spike":     "WuxiaoOverdueStepsSpike",
	"rollout halted":         "WuxiaoRolloutHalted",
	"database unreachable":   "WuxiaoDatabaseUnreachable",
	"Kafka unreachable":      "WuxiaoKafkaUnreachable",
	"operator not reporting": "WuxiaoOperatorDown",
}

// promtool runs hack/prometheus.sh (which installs Debian's prometheus
// package when missing) and returns promtool's path.
func promtool(t *testing.T) string {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), filepath.Join(repoRoot, "hack", "prometheus.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/prometheus.sh: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "export WUXIAO_PROMTOOL="); ok {
			return strings.Trim(v, "'")
		}
	}
	t.Fatalf("hack/prometheus.sh printed no WUXIAO_PROMTOOL:\n%s", out)
	return ""
}

// TestPromtool checks the rule file (promtool check rules) and runs its unit
// tests (promtool test rules rules/*_test.yaml).
func TestPromtool(t *testing.T) {
	tool := promtool(t)
	tests, err := filepath.Glob(filepath.Join(monitoringDir, "rules", "*_test.yaml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool tests in rules/ (%v)", err)
	}
	runs := [][]string{{"check", "rules", rulesFile}}
	for _, f := range tests {
		runs = append(runs, []string{"test", "rules", f})
	}
	for _, args := range runs {
		t.Run(strings.Join(args[:2], " ")+" "+filepath.Base(args[2]), func(t *testing.T) {
			cmd := exec.CommandContext(context.Background(), tool, args...)
			cmd.Dir = filepath.Dir(args[2]) // rule_files are relative to the test file
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
		})
	}
}

// TestMonitoringRender: the Prometheus Operator objects render only where
// the cluster serves their kinds and their value is on; the dashboards
// unless switched off.
func TestMonitoringRender(t *testing.T) {
	ch := loadChart(t, chartDir)
	type want struct{ serviceMonitor, podMonitor, rule, dashboards bool }
	tests := []struct {
		name string
		apis []string
		set  []string
		want want
	}{
		{name: "defaults without the Prometheus Operator", want: want{dashboards: true}},
		{name: "defaults with the Prometheus Operator", apis: prometheusOperatorAPIs, want: want{true, true, true, true}},
		{name: "only the rule kind served", apis: []string{"monitoring.coreos.com/v1/PrometheusRule"}, want: want{rule: true, dashboards: true}},
		{name: "everything off", apis: prometheusOperatorAPIs, set: []string{
			"monitoring.serviceMonitor.enabled=false", "monitoring.podMonitor.enabled=false",
			"monitoring.prometheusRule.enabled=false", "monitoring.dashboards.enabled=false"}},
		{name: "no metrics endpoint, no ServiceMonitor", apis: prometheusOperatorAPIs, set: []string{"metrics.enabled=false"},
			want: want{podMonitor: true, rule: true, dashboards: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := renderWithAPIs(t, ch, tc.apis, tc.set...)
			if err != nil {
				t.Fatal(err)
			}
			got := want{
				serviceMonitor: len(r.ofKind("ServiceMonitor")) == 1,
				podMonitor:     len(r.ofKind("PodMonitor")) == 1,
				rule:           len(r.ofKind("PrometheusRule")) == 1,
				dashboards:     len(r.ofKind("ConfigMap")) > 0,
			}
			if got != tc.want {
				t.Errorf("rendered %+v, want %+v (kinds %v)", got, tc.want, kindCounts(r))
			}
		})
	}
}

// TestMonitoringObjects reads the rendered ServiceMonitor and PodMonitor:
// what they select and scrape.
func TestMonitoringObjects(t *testing.T) {
	ch := loadChart(t, chartDir)
	r, err := renderWithAPIs(t, ch, prometheusOperatorAPIs, "monitoring.labels.release=prometheus",
		"monitoring.serviceMonitor.interval=15s", "metrics.port=8443")
	if err != nil {
		t.Fatal(err)
	}
	sm := r.one(t, "ServiceMonitor")
	svc := r.one(t, "Service")
	if sm.GetNamespace() != releaseNamespace || sm.GetLabels()["release"] != "prometheus" {
		t.Errorf("ServiceMonitor %s/%s labels %v", sm.GetNamespace(), sm.GetName(), sm.GetLabels())
	}
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	for k, v := range sel {
		if svc.GetLabels()[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, which the metrics Service %s lacks (%v)", k, v, svc.GetName(), svc.GetLabels())
		}
	}
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(eps) != 1 || eps[0].(map[string]any)["port"] != "metrics" || eps[0].(map[string]any)["interval"] != "15s" {
		t.Errorf("ServiceMonitor endpoints = %v, want the Service's port metrics every 15s", eps)
	}
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	if len(ports) != 1 || ports[0].(map[string]any)["name"] != "metrics" {
		t.Errorf("metrics Service ports = %v", ports)
	}

	pm := r.one(t, "PodMonitor")
	if any, _, _ := unstructured.NestedBool(pm.Object, "spec", "namespaceSelector", "any"); !any {
		t.Errorf("PodMonitor must look in every namespace (towns come and go): %v", pm.Object["spec"])
	}
	exprs, _, _ := unstructured.NestedSlice(pm.Object, "spec", "selector", "matchExpressions")
	if len(exprs) != 1 {
		t.Fatalf("PodMonitor matchExpressions = %v", exprs)
	}
	e := exprs[0].(map[string]any)
	var values []string
	for _, v := range e["values"].([]any) {
		values = append(values, v.(string))
	}
	sort.Strings(values)
	if e["key"] != "wuxiao.io/service" || e["operator"] != "In" ||
		!reflect.DeepEqual(values, []string{"complaint", "disclosure", "gateway", "inspection", "workflow"}) {
		t.Errorf("PodMonitor selects %v, want wuxiao.io/service in the four services and the gateway", e)
	}
	pme, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(pme) != 1 || pme[0].(map[string]any)["port"] != "metrics" {
		t.Errorf("PodMonitor endpoints = %v, want the pods' port named metrics", pme)
	}
	if !strings.Contains(toJSON(t, pme), "__meta_kubernetes_pod_label_wuxiao_io_service") {
		t.Errorf("PodMonitor does not set the service label the alerts group by: %v", pme)
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPrometheusRule: the rendered PrometheusRule holds every alert of the
// rule file, unchanged but for runbook_url, which names an existing
// runbook under the configured base; every alert the issue asks for is
// there, with a summary and a description; every runbook has its three
// sections and belongs to an alert.
func TestPrometheusRule(t *testing.T) {
	ch := loadChart(t, chartDir)
	fileAlerts, err := promnames.Alerts(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{defaultRunbookBase, "https://runbooks.example.org/wuxiao"} {
		t.Run(base, func(t *testing.T) {
			var set []string
			if base != defaultRunbookBase {
				set = append(set, "monitoring.runbookBaseURL="+base+"/")
			}
			r, err := renderWithAPIs(t, ch, prometheusOperatorAPIs, set...)
			if err != nil {
				t.Fatal(err)
			}
			pr := r.one(t, "PrometheusRule")
			var spec promnames.RuleFile
			if err := fromUnstructuredJSON(pr.Object["spec"], &spec); err != nil {
				t.Fatal(err)
			}
			var got []promnames.Alert
			for _, g := range spec.Groups {
				got = append(got, g.Rules...)
			}
			if len(got) != len(fileAlerts) {
				t.Fatalf("PrometheusRule has %d alerts, the rule file %d", len(got), len(fileAlerts))
			}
			for i, a := range got {
				want := fileAlerts[i]
				wantURL := base + "/" + want.Name + ".md"
				if a.Annotations["runbook_url"] != wantURL {
					t.Errorf("%s: runbook_url = %q, want %q", a.Name, a.Annotations["runbook_url"], wantURL)
				}
				a.Annotations = withoutKey(a.Annotations, "runbook_url")
				want.Annotations = withoutKey(want.Annotations, "runbook_url")
				if !reflect.DeepEqual(a, want) {
					t.Errorf("alert %d differs from the rule file:\n got %+v\nwant %+v", i, a, want)
				}
			}
		})
	}

	byName := map[string]promnames.Alert{}
	for _, a := range fileAlerts {
		if _, dup := byName[a.Name]; dup {
			t.Errorf("alert %s defined twice", a.Name)
		}
		byName[a.Name] = a
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(a.Annotations[k]) == "" {
				t.Errorf("alert %s has no %s", a.Name, k)
			}
		}
		if a.Annotations["runbook_url"] != defaultRunbookBase+"/"+a.Name+".md" {
			t.Errorf("alert %s: runbook_url %q in the rule file, want the default base's", a.Name, a.Annotations["runbook_url"])
		}
		if s := a.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("alert %s: severity %q, want warning or critical", a.Name, s)
		}
		checkRunbook(t, filepath.Join(runbooksDir, a.Name+".md"))
	}
	for what, name := range requiredAlerts {
		if _, ok := byName[name]; !ok {
			t.Errorf("no alert for %s (%s)", what, name)
		}
	}
	pages, _ := filepath.Glob(filepath.Join(runbooksDir, "*.md"))
	for _, p := range pages {
		name := strings.TrimSuffix(filepath.Base(p), ".md")
		if _, ok := byName[name]; !ok && name != "README" {
			t.Errorf("runbook %s has no alert", filepath.Base(p))
		}
	}
}

func checkRunbook(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("runbook: %v", err)
		return
	}
	text := string(raw)
	for _, h := range []string{"## What it means", "## How to confirm", "## How to fix"} {
		if !strings.Contains(text, "\n"+h+"\n") {
			t.Errorf("%s has no section %q", filepath.Base(path), h)
		}
	}
	if !strings.Contains(text, "```promql") || !strings.Contains(text, "kubectl ") {
		t.Errorf("%s: confirming takes a PromQL query and a kubectl command", filepath.Base(path))
	}
}

func withoutKey(m map[string]string, k string) map[string]string {
	out := map[string]string{}
	for kk, v := range m {
		if kk != k {
			out[kk] = v
		}
	}
	return out
}

func fromUnstructuredJSON(v any, into any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

// TestDashboards: every dashboard is valid JSON with a unique uid, a
// Prometheus data source variable, and panels that query; each ships as a
// ConfigMap labelled for Grafana's sidecar, byte for byte.
func TestDashboards(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil || len(files) < 4 {
		t.Fatalf("want at least 4 dashboards in %s, got %v (%v)", dashboardsDir, files, err)
	}
	ch := loadChart(t, chartDir)
	r := mustRender(t, ch, "monitoring.dashboards.annotations.grafana_folder=Wuxiao")
	cms := map[string]*unstructured.Unstructured{}
	for _, cm := range r.ofKind("ConfigMap") {
		if cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetAnnotations()["grafana_folder"] != "Wuxiao" {
			t.Errorf("ConfigMap %s: labels %v annotations %v", cm.GetName(), cm.GetLabels(), cm.GetAnnotations())
		}
		data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
		for k := range data {
			cms[k] = cm
		}
	}
	uids := map[string]string{}
	varRef := regexp.MustCompile(`\$\{?([A-Za-z_]+)`)
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(raw) {
				t.Fatalf("%s is not valid JSON", name)
			}
			ds, err := promnames.Dashboards(dashboardsDir)
			if err != nil {
				t.Fatal(err)
			}
			d := ds[name]
			if d.UID == "" || d.Title == "" {
				t.Errorf("uid %q title %q", d.UID, d.Title)
			}
			if other, dup := uids[d.UID]; dup {
				t.Errorf("uid %s also in %s", d.UID, other)
			}
			uids[d.UID] = name
			vars := map[string]bool{"__interval": true, "__rate_interval": true, "__range": true}
			for _, v := range d.Templating.List {
				vars[v.Name] = true
			}
			if !vars["datasource"] {
				t.Errorf("no datasource variable: the sidecar's Grafana names its Prometheus as it likes")
			}
			qs := d.Queries(name)
			if len(qs) == 0 {
				t.Errorf("no queries")
			}
			for _, q := range qs {
				if strings.TrimSpace(q.Expr) == "" || len(promnames.MetricNames(q.Expr)) == 0 {
					t.Errorf("%s: no metric in %q", q.Where, q.Expr)
				}
				for _, m := range varRef.FindAllStringSubmatch(q.Expr, -1) {
					if !vars[m[1]] {
						t.Errorf("%s: $%s is no variable of the dashboard", q.Where, m[1])
					}
				}
			}
			cm, ok := cms[name]
			if !ok {
				t.Fatalf("no ConfigMap carries %s", name)
			}
			data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
			if strings.TrimSpace(data[name]) != strings.TrimSpace(string(raw)) {
				t.Errorf("ConfigMap %s holds another %s than the file", cm.GetName(), name)
			}
		})
	}
}

// TestMetricsDocumented: every metric an alert or a dashboard queries is
// listed in monitoring/metrics.md (histograms by their base name).
func TestMetricsDocumented(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(monitoringDir, "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	alerts, err := promnames.AlertQueries(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	panels, err := promnames.DashboardQueries(dashboardsDir)
	if err != nil {
		t.Fatal(err)
	}
	names := promnames.Names(append(alerts, panels...))
	// Prometheus' own series, not Wuxiao's.
	builtin := []string{"ALERTS", "up"}
	var checked []string
	for n, where := range names {
		if slices.Contains(builtin, n) {
			continue
		}
		checked = append(checked, n)
		if !strings.Contains(doc, "`"+promnames.BaseName(n)+"`") && !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("%s (used by %s) is not in metrics.md", n, strings.Join(where, "; "))
		}
	}
	t.Logf("%d metric names checked against metrics.md", len(checked))
}
