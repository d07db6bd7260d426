package charts_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wuxiao/wuxiao/operator/testenv"
)

const (
	releaseName      = "wuxiao-operator"
	releaseNamespace = "wuxiao-system"
	keepAnnotation   = "helm.sh/resource-policy"
	minKubeVersion   = "v1.31.0"
)

var (
	repoRoot = testenv.RepoRoot()
	chartDir = filepath.Join(repoRoot, "charts", "wuxiao-operator")
)

// rendered is the outcome of a client-only `helm install --dry-run`.
type rendered struct {
	release *releasev1.Release
	objects []*unstructured.Unstructured
	notes   string
}

func (r rendered) ofKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.objects {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func (r rendered) one(t *testing.T, kind string) *unstructured.Unstructured {
	t.Helper()
	objs := r.ofKind(kind)
	if len(objs) != 1 {
		t.Fatalf("want exactly one %s, got %d", kind, len(objs))
	}
	return objs[0]
}

func loadChart(t *testing.T, dir string) *chartv2.Chart {
	t.Helper()
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatalf("loading chart %s: %v", dir, err)
	}
	return ch
}

// render installs the chart in Helm's client-only dry-run mode (what `helm
// template` does), with values given as --set expressions. Schema validation
// and the chart's kubeVersion constraint apply as in a real install.
func render(t *testing.T, ch *chartv2.Chart, set ...string) (rendered, error) {
	t.Helper()
	return renderWithAPIs(t, ch, nil, set...)
}

// renderWithAPIs renders as render does, on a cluster that also serves the
// given API versions ("group/version/Kind", as .Capabilities.APIVersions.Has
// takes them), e.g. the Prometheus Operator's.
func renderWithAPIs(t *testing.T, ch *chartv2.Chart, apis []string, set ...string) (rendered, error) {
	t.Helper()
	vals := map[string]any{}
	for _, s := range set {
		if err := strvals.ParseInto(s, vals); err != nil {
			t.Fatalf("--set %s: %v", s, err)
		}
	}
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = releaseName
	install.Namespace = releaseNamespace
	// Render for the oldest Kubernetes the chart supports; without this
	// Helm's test default (v1.20) fails the chart's kubeVersion constraint.
	kv, err := chartcommon.ParseKubeVersion(minKubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	install.KubeVersion = kv
	install.APIVersions = apis
	rel, err := install.Run(ch, vals)
	if err != nil {
		return rendered{}, err
	}
	r, ok := rel.(*releasev1.Release)
	if !ok {
		t.Fatalf("unexpected release type %T", rel)
	}
	objs, err := testenv.DecodeObjects([]byte(r.Manifest))
	if err != nil {
		t.Fatalf("rendered manifest is not valid YAML: %v\n%s", err, r.Manifest)
	}
	return rendered{release: r, objects: objs, notes: r.Info.Notes}, nil
}

func mustRender(t *testing.T, ch *chartv2.Chart, set ...string) rendered {
	t.Helper()
	r, err := render(t, ch, set...)
	if err != nil {
		t.Fatalf("rendering with %v: %v", set, err)
	}
	return r
}

// managerContainer returns the Deployment's pod spec and its manager container.
func managerContainer(t *testing.T, r rendered) (*unstructured.Unstructured, corev1.PodSpec, corev1.Container) {
	t.Helper()
	d := r.one(t, "Deployment")
	raw, found, err := unstructured.NestedMap(d.Object, "spec", "template", "spec")
	if err != nil || !found {
		t.Fatalf("deployment has no pod spec: %v", err)
	}
	var spec corev1.PodSpec
	if err := fromUnstructured(raw, &spec); err != nil {
		t.Fatalf("pod spec: %v", err)
	}
	for _, c := range spec.Containers {
		if c.Name == "manager" {
			return d, spec, c
		}
	}
	t.Fatalf("no container named manager in %v", spec.Containers)
	return nil, spec, corev1.Container{}
}

func fromUnstructured(m map[string]any, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(m, into)
}

// replicas reads spec.replicas of a rendered Deployment (decoded from JSON,
// so the number is a float64).
func replicas(t *testing.T, d *unstructured.Unstructured) int32 {
	t.Helper()
	var dep appsv1.Deployment
	if err := fromUnstructured(d.Object, &dep); err != nil {
		t.Fatalf("deployment: %v", err)
	}
	if dep.Spec.Replicas == nil {
		t.Fatal("deployment has no spec.replicas")
	}
	return *dep.Spec.Replicas
}

func kindCounts(r rendered) map[string]int {
	m := map[string]int{}
	for _, o := range r.objects {
		m[o.GetKind()]++
	}
	return m
}

func argValue(c corev1.Container, flag string) (string, bool) {
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v, true
		}
	}
	return "", false
}

func TestRender(t *testing.T) {
	ch := loadChart(t, chartDir)

	tests := []struct {
		name string
		set  []string
		// wantErr, when set, are substrings the error must contain (the
		// offending field's name).
		wantErr []string
		check   func(t *testing.T, r rendered)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, r rendered) {
				want := map[string]int{
					"CustomResourceDefinition":         4,
					"ValidatingAdmissionPolicy":        2,
					"ValidatingAdmissionPolicyBinding": 2,
					"ServiceAccount":                   1,
					"ClusterRole":                      1,
					"ClusterRoleBinding":               1,
					"Role":                             1,
					"RoleBinding":                      1,
					"Deployment":                       1,
					"Service":                          1,
					// The Grafana dashboards (monitoring_test.go).
					"ConfigMap": 4,
				}
				if got := kindCounts(r); !reflect.DeepEqual(got, want) {
					t.Errorf("kinds: got %v, want %v", got, want)
				}
				d, spec, c := managerContainer(t, r)
				if got := replicas(t, d); got != 1 {
					t.Errorf("replicas = %d, want 1", got)
				}
				if c.Image != "localhost/wuxiao/operator:v0.1.0" {
					t.Errorf("image = %q, want the appVersion tag", c.Image)
				}
				if c.ImagePullPolicy != corev1.PullIfNotPresent {
					t.Errorf("pullPolicy = %q", c.ImagePullPolicy)
				}
				if spec.ServiceAccountName != releaseName {
					t.Errorf("serviceAccountName = %q, want %q", spec.ServiceAccountName, releaseName)
				}
				if got := c.Resources.Requests.Cpu().String(); got != "100m" {
					t.Errorf("cpu request = %s", got)
				}
				if got := c.Resources.Limits.Memory().String(); got != "512Mi" {
					t.Errorf("memory limit = %s", got)
				}
				if _, hasCPULimit := c.Resources.Limits[corev1.ResourceCPU]; hasCPULimit {
					t.Error("no CPU limit expected by default")
				}
				sc := c.SecurityContext
				if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
					sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
					sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
					sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
					sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("container securityContext is not locked down: %+v", sc)
				}
				if len(c.Env) != 1 || c.Env[0].Name != "POD_NAMESPACE" {
					t.Errorf("env = %+v, want only POD_NAMESPACE by default", c.Env)
				}
				if psc := spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
					t.Errorf("pod securityContext lacks runAsNonRoot: %+v", psc)
				}
				if !strings.Contains(r.notes, "kubectl get districts,towns,villages -A") ||
					!strings.Contains(r.notes, "config/samples") {
					t.Errorf("NOTES.txt lacks the next steps:\n%s", r.notes)
				}
			},
		},
		{
			name: "two replicas keep leader election",
			set:  []string{"replicaCount=2"},
			check: func(t *testing.T, r rendered) {
				d, _, c := managerContainer(t, r)
				if got := replicas(t, d); got != 2 {
					t.Errorf("replicas = %d, want 2", got)
				}
				if !slices.Contains(c.Args, "--leader-elect") {
					t.Errorf("args %v lack --leader-elect", c.Args)
				}
			},
		},
		{
			name: "crds.install=false renders no CRDs",
			set:  []string{"crds.install=false"},
			check: func(t *testing.T, r rendered) {
				if n := len(r.ofKind("CustomResourceDefinition")); n != 0 {
					t.Errorf("got %d CRDs, want none", n)
				}
				if n := len(r.ofKind("ValidatingAdmissionPolicy")); n != 2 {
					t.Errorf("got %d admission policies, want 2", n)
				}
				r.one(t, "Deployment")
				if !strings.Contains(r.notes, "crds.install=false") {
					t.Errorf("NOTES.txt should say the CRDs were not installed:\n%s", r.notes)
				}
			},
		},
		{
			name: "crds.keep=false drops only the keep annotation",
			set:  []string{"crds.keep=false"},
			check: func(t *testing.T, r rendered) {
				crds := r.ofKind("CustomResourceDefinition")
				if len(crds) != 4 {
					t.Fatalf("got %d CRDs, want 4", len(crds))
				}
				for _, crd := range crds {
					a := crd.GetAnnotations()
					if _, ok := a[keepAnnotation]; ok {
						t.Errorf("%s still has %s", crd.GetName(), keepAnnotation)
					}
					if a["controller-gen.kubebuilder.io/version"] == "" {
						t.Errorf("%s lost its controller-gen annotation: %v", crd.GetName(), a)
					}
				}
			},
		},
		{
			name: "admissionPolicies.enabled=false renders no policies",
			set:  []string{"admissionPolicies.enabled=false"},
			check: func(t *testing.T, r rendered) {
				for _, kind := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
					if n := len(r.ofKind(kind)); n != 0 {
						t.Errorf("got %d %s, want none", n, kind)
					}
				}
				if n := len(r.ofKind("CustomResourceDefinition")); n != 4 {
					t.Errorf("got %d CRDs, want 4", n)
				}
			},
		},
		{
			name: "policies are kept on uninstall unless admissionPolicies.keep=false",
			set:  []string{"admissionPolicies.keep=false"},
			check: func(t *testing.T, r rendered) {
				for _, kind := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
					objs := r.ofKind(kind)
					if len(objs) != 2 {
						t.Fatalf("got %d %s, want 2", len(objs), kind)
					}
					for _, o := range objs {
						if _, ok := o.GetAnnotations()[keepAnnotation]; ok {
							t.Errorf("%s %s still has %s", kind, o.GetName(), keepAnnotation)
						}
					}
				}
			},
		},
		{
			name: "custom image tag",
			set:  []string{"image.tag=v9.8.7", "image.repository=registry.example/wuxiao/operator", "image.pullPolicy=Always"},
			check: func(t *testing.T, r rendered) {
				_, _, c := managerContainer(t, r)
				if c.Image != "registry.example/wuxiao/operator:v9.8.7" {
					t.Errorf("image = %q", c.Image)
				}
				if c.ImagePullPolicy != corev1.PullAlways {
					t.Errorf("pullPolicy = %q", c.ImagePullPolicy)
				}
			},
		},
		{
			name: "image digest wins over the tag",
			set:  []string{"image.tag=v9.8.7", "image.digest=sha256:" + strings.Repeat("ab", 32)},
			check: func(t *testing.T, r rendered) {
				_, _, c := managerContainer(t, r)
				if want := "localhost/wuxiao/operator@sha256:" + strings.Repeat("ab", 32); c.Image != want {
					t.Errorf("image = %q, want %q", c.Image, want)
				}
			},
		},
		{
			name: "archive namespace, log level and placement",
			set: []string{
				"archiveNamespace=wuxiao-archive", "logLevel=debug", "priorityClassName=system-cluster-critical",
				"nodeSelector.kubernetes\\.io/os=linux", "podAnnotations.example\\.com/team=district-it",
				"imagePullSecrets[0].name=regcred",
			},
			check: func(t *testing.T, r rendered) {
				d, spec, c := managerContainer(t, r)
				if v, _ := argValue(c, "--archive-namespace"); v != "wuxiao-archive" {
					t.Errorf("--archive-namespace = %q", v)
				}
				if v, _ := argValue(c, "--zap-log-level"); v != "debug" {
					t.Errorf("--zap-log-level = %q", v)
				}
				if spec.PriorityClassName != "system-cluster-critical" {
					t.Errorf("priorityClassName = %q", spec.PriorityClassName)
				}
				if spec.NodeSelector["kubernetes.io/os"] != "linux" {
					t.Errorf("nodeSelector = %v", spec.NodeSelector)
				}
				if len(spec.ImagePullSecrets) != 1 || spec.ImagePullSecrets[0].Name != "regcred" {
					t.Errorf("imagePullSecrets = %v", spec.ImagePullSecrets)
				}
				ann, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "annotations")
				if ann["example.com/team"] != "district-it" {
					t.Errorf("pod annotations = %v", ann)
				}
			},
		},
		{
			name: "metrics disabled",
			set:  []string{"metrics.enabled=false"},
			check: func(t *testing.T, r rendered) {
				if n := len(r.ofKind("Service")); n != 0 {
					t.Errorf("got %d Services, want none", n)
				}
				_, _, c := managerContainer(t, r)
				if v, _ := argValue(c, "--metrics-bind-address"); v != "0" {
					t.Errorf("--metrics-bind-address = %q, want 0 (off)", v)
				}
				for _, p := range c.Ports {
					if p.Name == "metrics" {
						t.Errorf("metrics port still declared: %v", c.Ports)
					}
				}
			},
		},
		{
			name: "existing service account",
			set:  []string{"serviceAccount.create=false", "serviceAccount.name=district-operator"},
			check: func(t *testing.T, r rendered) {
				if n := len(r.ofKind("ServiceAccount")); n != 0 {
					t.Errorf("got %d ServiceAccounts, want none", n)
				}
				_, spec, _ := managerContainer(t, r)
				if spec.ServiceAccountName != "district-operator" {
					t.Errorf("serviceAccountName = %q", spec.ServiceAccountName)
				}
				for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
					subs, _, _ := unstructured.NestedSlice(r.one(t, kind).Object, "subjects")
					if len(subs) != 1 || subs[0].(map[string]any)["name"] != "district-operator" {
						t.Errorf("%s subjects = %v", kind, subs)
					}
				}
			},
		},
		{
			name: "extra environment after POD_NAMESPACE",
			set: []string{
				"extraEnv[0].name=KUBERNETES_SERVICE_HOST", "extraEnv[0].value=198.18.0.1",
				"extraEnv[1].name=GODEBUG", "extraEnv[1].value=http2client=0",
			},
			check: func(t *testing.T, r rendered) {
				_, _, c := managerContainer(t, r)
				var names []string
				for _, e := range c.Env {
					names = append(names, e.Name)
				}
				if want := []string{"POD_NAMESPACE", "KUBERNETES_SERVICE_HOST", "GODEBUG"}; !slices.Equal(names, want) {
					t.Fatalf("env names = %v, want %v", names, want)
				}
				if c.Env[1].Value != "198.18.0.1" || c.Env[2].Value != "http2client=0" {
					t.Errorf("env = %+v", c.Env)
				}
			},
		},
		{name: "extraEnv entry without a name", set: []string{"extraEnv[0].value=x"}, wantErr: []string{"extraEnv", "name"}},
		// The API server would refuse a number; the schema says so first.
		{name: "extraEnv value not a string", set: []string{"extraEnv[0].name=PORT", "extraEnv[0].value=26443"}, wantErr: []string{"/extraEnv/0/value", "want string"}},
		{name: "extraEnv entry with an unknown field", set: []string{"extraEnv[0].name=A", "extraEnv[0].valu=x"}, wantErr: []string{"extraEnv", "valu"}},
		{name: "replicaCount 0", set: []string{"replicaCount=0"}, wantErr: []string{"replicaCount", "minimum"}},
		{name: "unknown top-level key", set: []string{"replicas=2"}, wantErr: []string{"replicas", "additional"}},
		{name: "unknown pull policy", set: []string{"image.pullPolicy=Sometimes"}, wantErr: []string{"/image/pullPolicy", "IfNotPresent"}},
		{name: "unknown log level", set: []string{"logLevel=verbose"}, wantErr: []string{"/logLevel", "debug", "info", "error"}},
		{name: "typo in a nested key", set: []string{"crds.instal=false"}, wantErr: []string{"crds", "instal"}},
		{name: "bad archive namespace", set: []string{"archiveNamespace=Not_A_Namespace"}, wantErr: []string{"archiveNamespace"}},
		{name: "metrics and probes on one port", set: []string{"metrics.port=8081"}, wantErr: []string{"metrics.port and healthProbe.port must differ"}},
		{name: "no service account name", set: []string{"serviceAccount.create=false"}, wantErr: []string{"serviceAccount.name is required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := render(t, ch, tc.set...)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("rendering with %v succeeded; want an error mentioning %q", tc.set, tc.wantErr)
				}
				t.Logf("rejected as expected: %s", strings.TrimSpace(err.Error()))
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("rendering with %v: %v", tc.set, err)
			}
			// Whatever the values, the operator is always started the same way.
			_, _, c := managerContainer(t, r)
			if !slices.Equal(c.Command, []string{"/wuxiao-operator"}) {
				t.Errorf("command = %v", c.Command)
			}
			tc.check(t, r)
		})
	}
}

func TestRenderRejectsOldKubernetes(t *testing.T) {
	ch := loadChart(t, chartDir)
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = releaseName
	install.Namespace = releaseNamespace
	kv, err := chartcommon.ParseKubeVersion("v1.30.9")
	if err != nil {
		t.Fatal(err)
	}
	install.KubeVersion = kv
	if _, err := install.Run(ch, map[string]any{}); err == nil || !strings.Contains(err.Error(), "kubeVersion") {
		t.Fatalf("installing on Kubernetes 1.30 (no CEL IP/CIDR library for CRD rules): err = %v, want a kubeVersion error", err)
	}
}

// TestReleaseFitsInASecret: Helm stores each release revision (the chart,
// CRDs included, and the rendered manifest) gzipped and base64-encoded in one
// Secret, which the API server limits to 1 MiB. The towns CRD alone is
// hundreds of KiB of YAML, so watch the margin.
func TestReleaseFitsInASecret(t *testing.T) {
	r := mustRender(t, loadChart(t, chartDir))
	b, err := json.Marshal(r.release)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	size := base64.StdEncoding.EncodedLen(buf.Len())
	const limit = 1 << 20
	t.Logf("release record: %d bytes of JSON, %d bytes stored (limit %d)", len(b), size, limit)
	if size > limit/2 {
		t.Errorf("release record is %d bytes, more than half of the %d-byte Secret limit", size, limit)
	}
}

// TestLint runs Helm's own linter (helm lint --strict) on the chart.
func TestLint(t *testing.T) {
	kv, err := chartcommon.ParseKubeVersion(minKubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	lint := action.NewLint()
	lint.Strict = true
	lint.Namespace = releaseNamespace
	lint.KubeVersion = kv
	res := lint.Run([]string{chartDir}, map[string]any{})
	for _, m := range res.Messages {
		t.Logf("lint: %s", m)
	}
	if action.HasWarningsOrErrors(res) {
		t.Errorf("helm lint --strict reports problems: %v", res.Errors)
	}
}

// readYAML decodes a file of the repository into objects.
func readYAML(t *testing.T, rel string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := testenv.ReadObjects(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return objs
}

// clusterRoleRules returns the rules of the ClusterRole in config/rbac/role.yaml;
// none while controller-gen has not written the file.
func clusterRoleRules(t *testing.T, path string) []any {
	t.Helper()
	objs, err := testenv.ReadObjects(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, o := range objs {
		if o.GetKind() == "ClusterRole" {
			rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
			return rules
		}
	}
	t.Fatalf("%s has no ClusterRole", path)
	return nil
}

func equalRules(a, b []any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// TestDefaultRender checks the default render against config/: the chart
// carries the very CRDs, policies and RBAC rules that controller-gen writes.
func TestDefaultRender(t *testing.T) {
	r := mustRender(t, loadChart(t, chartDir))

	t.Run("CRDs are config/crd/bases, kept on uninstall", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no CRDs in config/crd/bases: %v", err)
		}
		want := map[string]*unstructured.Unstructured{}
		for _, f := range files {
			rel, _ := filepath.Rel(repoRoot, f)
			for _, o := range readYAML(t, rel) {
				want[o.GetName()] = o
			}
		}
		got := r.ofKind("CustomResourceDefinition")
		var names []string
		for _, crd := range got {
			names = append(names, crd.GetName())
			if v := crd.GetAnnotations()[keepAnnotation]; v != "keep" {
				t.Errorf("CRD %s: %s = %q, want keep", crd.GetName(), keepAnnotation, v)
			}
			w, ok := want[crd.GetName()]
			if !ok {
				t.Errorf("CRD %s is not in config/crd/bases", crd.GetName())
				continue
			}
			c := crd.DeepCopy()
			ann := c.GetAnnotations()
			delete(ann, keepAnnotation)
			c.SetAnnotations(ann)
			if !reflect.DeepEqual(c.Object, w.Object) {
				t.Errorf("CRD %s in the chart differs from config/crd/bases: run hack/sync-chart.sh", crd.GetName())
			}
		}
		slices.Sort(names)
		wantNames := []string{"districts.wuxiao.io", "powercatalogs.wuxiao.io", "towns.wuxiao.io", "villages.wuxiao.io"}
		if !slices.Equal(names, wantNames) {
			t.Errorf("CRDs = %v, want %v", names, wantNames)
		}
	})

	t.Run("admission policies are config/admission", func(t *testing.T) {
		var want []*unstructured.Unstructured
		files, _ := filepath.Glob(filepath.Join(repoRoot, "config", "admission", "*.yaml"))
		for _, f := range files {
			rel, _ := filepath.Rel(repoRoot, f)
			want = append(want, readYAML(t, rel)...)
		}
		if len(want) == 0 {
			t.Fatal("no admission policies in config/admission")
		}
		for _, w := range want {
			var found bool
			for _, o := range r.ofKind(w.GetKind()) {
				if o.GetName() != w.GetName() {
					continue
				}
				found = true
				if v := o.GetAnnotations()[keepAnnotation]; v != "keep" {
					t.Errorf("%s %s: %s = %q, want keep", w.GetKind(), w.GetName(), keepAnnotation, v)
				}
				if !reflect.DeepEqual(o.Object["spec"], w.Object["spec"]) {
					t.Errorf("%s %s differs from config/admission: run hack/sync-chart.sh", w.GetKind(), w.GetName())
				}
			}
			if !found {
				t.Errorf("%s %s from config/admission is not in the chart", w.GetKind(), w.GetName())
			}
		}
	})

	t.Run("ClusterRole rules are config/rbac/role.yaml", func(t *testing.T) {
		cr := r.one(t, "ClusterRole")
		if cr.GetName() != releaseName+"-manager" {
			t.Errorf("ClusterRole name = %q", cr.GetName())
		}
		got, found, err := unstructured.NestedSlice(cr.Object, "rules")
		if err != nil || !found {
			t.Fatalf("ClusterRole has no rules list (found=%v, err=%v)", found, err)
		}
		want := clusterRoleRules(t, filepath.Join(repoRoot, "config", "rbac", "role.yaml"))
		if !equalRules(got, want) {
			t.Errorf("ClusterRole rules differ from config/rbac/role.yaml (run hack/sync-chart.sh):\n got %v\nwant %v", got, want)
		}
		crb := r.one(t, "ClusterRoleBinding")
		if name, _, _ := unstructured.NestedString(crb.Object, "roleRef", "name"); name != cr.GetName() {
			t.Errorf("ClusterRoleBinding refers to %q", name)
		}
	})

	t.Run("leader election Role", func(t *testing.T) {
		role := r.one(t, "Role")
		if role.GetNamespace() != releaseNamespace {
			t.Errorf("Role namespace = %q", role.GetNamespace())
		}
		rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
		verbs := map[string][]string{}
		for _, raw := range rules {
			rule := raw.(map[string]any)
			for _, g := range rule["apiGroups"].([]any) {
				for _, res := range rule["resources"].([]any) {
					for _, v := range rule["verbs"].([]any) {
						k := fmt.Sprintf("%s/%s", g, res)
						verbs[k] = append(verbs[k], v.(string))
					}
				}
			}
		}
		for k, want := range map[string][]string{
			"coordination.k8s.io/leases": {"get", "list", "watch", "create", "update", "patch", "delete"},
			"/events":                    {"create", "patch"},
		} {
			for _, v := range want {
				if !slices.Contains(verbs[k], v) {
					t.Errorf("leader election Role lacks %s on %s (has %v)", v, k, verbs[k])
				}
			}
		}
	})

	t.Run("Deployment", func(t *testing.T) {
		d, spec, c := managerContainer(t, r)
		if d.GetNamespace() != releaseNamespace {
			t.Errorf("namespace = %q", d.GetNamespace())
		}
		if len(spec.Containers) != 1 {
			t.Errorf("want only the manager container, got %d", len(spec.Containers))
		}
		wantArgs := []string{
			"--leader-elect",
			"--metrics-bind-address=:8080",
			"--health-probe-bind-address=:8081",
			"--archive-namespace=" + releaseNamespace,
			"--zap-log-level=info",
		}
		if !slices.Equal(c.Args, wantArgs) {
			t.Errorf("args = %v, want %v", c.Args, wantArgs)
		}
		var podNS bool
		for _, e := range c.Env {
			if e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
				e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
				podNS = true
			}
		}
		if !podNS {
			t.Errorf("env lacks POD_NAMESPACE from metadata.namespace: %v", c.Env)
		}
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		if want := map[string]int32{"metrics": 8080, "health": 8081}; !reflect.DeepEqual(ports, want) {
			t.Errorf("ports = %v, want %v", ports, want)
		}
		for _, p := range []struct {
			name  string
			probe *corev1.Probe
			path  string
		}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
			if p.probe == nil || p.probe.HTTPGet == nil {
				t.Errorf("%s probe missing or not HTTP: %+v", p.name, p.probe)
				continue
			}
			if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "health" {
				t.Errorf("%s probe = %s on %s, want %s on health", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
			}
		}
		sel, _, _ := unstructured.NestedStringMap(d.Object, "spec", "selector", "matchLabels")
		podLabels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
		for k, v := range sel {
			if podLabels[k] != v {
				t.Errorf("pod labels %v do not match selector %v", podLabels, sel)
			}
		}
		for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"} {
			if d.GetLabels()[k] == "" {
				t.Errorf("Deployment lacks label %s: %v", k, d.GetLabels())
			}
		}
	})

	t.Run("metrics Service", func(t *testing.T) {
		svc := r.one(t, "Service")
		var s corev1.ServiceSpec
		raw, _, _ := unstructured.NestedMap(svc.Object, "spec")
		if err := fromUnstructured(raw, &s); err != nil {
			t.Fatal(err)
		}
		if s.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("type = %q", s.Type)
		}
		if len(s.Ports) != 1 || s.Ports[0].Name != "metrics" || s.Ports[0].Port != 8080 || s.Ports[0].TargetPort.String() != "metrics" {
			t.Errorf("ports = %+v, want metrics 8080 -> metrics", s.Ports)
		}
		d := r.one(t, "Deployment")
		podLabels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
		if len(s.Selector) == 0 {
			t.Error("Service has no selector")
		}
		for k, v := range s.Selector {
			if podLabels[k] != v {
				t.Errorf("Service selector %v does not select the operator pod %v", s.Selector, podLabels)
			}
		}
	})
}

// copyTree copies the files under src (relative to the repo root) into dst.
func copyTree(t *testing.T, dst, src string) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(repoRoot, src), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copying %s: %v", src, err)
	}
}

func runSync(t *testing.T, root string) {
	t.Helper()
	out, err := exec.Command("bash", filepath.Join(root, "hack", "sync-chart.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("hack/sync-chart.sh: %v\n%s", err, out)
	}
}

// TestSyncChart runs hack/sync-chart.sh on a copy of the repository: the
// chart in the repository must be what the script generates (no drift), and
// the generated RBAC rules must reach the rendered ClusterRole.
func TestSyncChart(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"hack", "config", "charts/wuxiao-operator"} {
		copyTree(t, root, p)
	}
	runSync(t, root)
	tmpChart := filepath.Join(root, "charts", "wuxiao-operator")

	t.Run("chart is in sync with config", func(t *testing.T) {
		for _, dir := range []string{"templates/crds", "templates/admission", "files"} {
			generated, _ := filepath.Glob(filepath.Join(tmpChart, dir, "*"))
			committed, _ := filepath.Glob(filepath.Join(chartDir, dir, "*"))
			if len(generated) != len(committed) || len(generated) == 0 {
				t.Errorf("%s: script generates %d files, chart has %d: run hack/sync-chart.sh", dir, len(generated), len(committed))
			}
			for _, g := range generated {
				want, _ := os.ReadFile(g)
				got, err := os.ReadFile(filepath.Join(chartDir, dir, filepath.Base(g)))
				if err != nil || string(got) != string(want) {
					t.Errorf("%s/%s is stale: run hack/sync-chart.sh", dir, filepath.Base(g))
				}
			}
		}
	})

	roleFile := filepath.Join(root, "config", "rbac", "role.yaml")
	tests := []struct {
		name string
		role string // empty: no config/rbac/role.yaml
		want []any
	}{
		{name: "no role.yaml yet", want: nil},
		{
			name: "ClusterRole and a namespaced Role",
			role: `---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: wuxiao-operator
rules:
- apiGroups:
  - wuxiao.io
  resources:
  - districts
  - towns
  verbs:
  - get
  - list
  - watch
- apiGroups:
  - ""
  resources:
  - namespaces
  verbs:
  - create
  - get
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: wuxiao-operator
  namespace: wuxiao-system
rules:
- apiGroups:
  - ""
  resources:
  - configmaps
  verbs:
  - delete
`,
			want: []any{
				map[string]any{"apiGroups": []any{"wuxiao.io"}, "resources": []any{"districts", "towns"}, "verbs": []any{"get", "list", "watch"}},
				map[string]any{"apiGroups": []any{""}, "resources": []any{"namespaces"}, "verbs": []any{"create", "get"}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_ = os.Remove(roleFile)
			if tc.role != "" {
				if err := os.MkdirAll(filepath.Dir(roleFile), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(roleFile, []byte(tc.role), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			runSync(t, root)
			r := mustRender(t, loadChart(t, tmpChart))
			got, found, _ := unstructured.NestedSlice(r.one(t, "ClusterRole").Object, "rules")
			if !found {
				t.Fatal("ClusterRole has no rules key")
			}
			if !equalRules(got, tc.want) {
				t.Errorf("rules = %v, want %v", got, tc.want)
			}
			if tc.role != "" {
				if fromFile := clusterRoleRules(t, roleFile); !equalRules(got, fromFile) {
					t.Errorf("rules = %v, role.yaml has %v", got, fromFile)
				}
			}
		})
	}
}

// TestApply server-side applies (dry run) every rendered object to a real
// kube-apiserver: the API server's validation, including the CRDs' schemas
// and the admission policies' CEL, must accept all of them.
func TestApply(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatalf("starting the test API server: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the test API server: %v", err)
		}
	})
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: releaseNamespace}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace %s: %v", releaseNamespace, err)
	}

	ch := loadChart(t, chartDir)
	tests := []struct {
		name      string
		set       []string
		wantKinds int
	}{
		// testenv has installed the CRDs and policies already: applying
		// them again is an update, which must be accepted as well.
		// The dashboards' ConfigMaps are one kind more each time.
		{name: "defaults", wantKinds: 11},
		{name: "operator only", set: []string{"crds.install=false", "admissionPolicies.enabled=false"}, wantKinds: 8},
		{
			name: "everything customised",
			set: []string{
				"replicaCount=3", "metrics.enabled=false", "crds.keep=false", "admissionPolicies.keep=false",
				"serviceAccount.name=district-operator", "serviceAccount.annotations.example\\.com/owner=district-it",
				"image.digest=sha256:" + strings.Repeat("0f", 32), "logLevel=error", "archiveNamespace=wuxiao-archive",
				"tolerations[0].key=dedicated", "tolerations[0].operator=Exists", "tolerations[0].effect=NoSchedule",
				"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=kubernetes.io/os",
				"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=In",
				"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values[0]=linux",
				"resources.limits.cpu=1", "resources.requests.memory=256Mi",
				"extraEnv[0].name=KUBERNETES_SERVICE_HOST", "extraEnv[0].value=198.18.0.1",
			},
			wantKinds: 10,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, ch, tc.set...)
			if got := len(kindCounts(r)); got != tc.wantKinds {
				t.Errorf("rendered %d kinds (%v), want %d", got, kindCounts(r), tc.wantKinds)
			}
			for _, o := range r.objects {
				err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o),
					client.FieldOwner("helm-test"), client.ForceOwnership, client.DryRunAll)
				if err != nil {
					t.Errorf("API server rejected %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
			}
		})
	}
}
