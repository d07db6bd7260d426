// Package config_test checks the kustomize bases in config/: it renders
// config/default with kustomize's Go API (what `kubectl apply -k` does), checks
// the operator's Deployment, RBAC, CRDs and admission policies in the result,
// and has a real API server accept every rendered object (server-side apply,
// dry run). It also renders config/samples.
package config_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/wuxiao/wuxiao/operator/testenv"
)

const (
	systemNamespace = "wuxiao-system"
	operatorName    = "wuxiao-operator"
	operatorImage   = "localhost/wuxiao/operator:v0.1.0"
	fieldOwner      = "wuxiao-config-test"
)

var commonLabels = map[string]string{
	"app.kubernetes.io/name":    "wuxiao-operator",
	"app.kubernetes.io/part-of": "wuxiao",
}

func configDir(parts ...string) string {
	return filepath.Join(append([]string{testenv.RepoRoot(), "config"}, parts...)...)
}

// render builds the kustomization in dir from disk, as `kubectl kustomize`
// does, and decodes the result.
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	objs, err := testenv.DecodeObjects(out)
	if err != nil {
		t.Fatalf("decoding the build of %s: %v", dir, err)
	}
	if len(objs) == 0 {
		t.Fatalf("kustomize build %s rendered nothing", dir)
	}
	return objs
}

func key(o *unstructured.Unstructured) string {
	k := o.GetKind() + " " + o.GetName()
	if o.GetNamespace() != "" {
		k += " in " + o.GetNamespace()
	}
	return k
}

// find returns the one rendered object of kind and name, failing the test
// when there is none or more than one.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s %s in the render, found %d", kind, name, len(found))
	}
	return found[0]
}

// typed converts a rendered object into an API type, rejecting unknown
// fields so that a typo in the YAML fails here rather than being dropped.
func typed[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, out, true); err != nil {
		t.Fatalf("%s: %v", key(o), err)
	}
	return out
}

func readObjects(t *testing.T, pattern string) []*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s (%v)", pattern, err)
	}
	var objs []*unstructured.Unstructured
	for _, f := range files {
		o, err := testenv.ReadObjects(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		objs = append(objs, o...)
	}
	return objs
}

func TestDefault(t *testing.T) {
	objs := render(t, configDir("default"))
	for _, o := range objs {
		t.Logf("rendered %s", key(o))
	}

	t.Run("every object carries the common labels", func(t *testing.T) {
		for _, o := range objs {
			l := o.GetLabels()
			for k, v := range commonLabels {
				if l[k] != v {
					t.Errorf("%s: label %s=%q, want %q", key(o), k, l[k], v)
				}
			}
		}
	})

	t.Run("operator Deployment", func(t *testing.T) {
		d := typed[appsv1.Deployment](t, find(t, objs, "Deployment", operatorName))
		if d.Namespace != systemNamespace {
			t.Errorf("namespace %q, want %q", d.Namespace, systemNamespace)
		}
		spec := d.Spec.Template.Spec
		if spec.ServiceAccountName != operatorName {
			t.Errorf("serviceAccountName %q, want %q", spec.ServiceAccountName, operatorName)
		}
		if len(spec.Containers) != 1 {
			t.Fatalf("want 1 container, got %d", len(spec.Containers))
		}
		c := spec.Containers[0]
		if c.Image != operatorImage {
			t.Errorf("image %q, want %q", c.Image, operatorImage)
		}
		if want := []string{"/wuxiao-operator"}; !slices.Equal(c.Command, want) {
			t.Errorf("command %q, want %q", c.Command, want)
		}
		wantArgs := []string{
			"--leader-elect",
			"--metrics-bind-address=:8080",
			"--health-probe-bind-address=:8081",
			"--archive-namespace=" + systemNamespace,
		}
		if !slices.Equal(c.Args, wantArgs) {
			t.Errorf("args %q, want %q", c.Args, wantArgs)
		}
		podNS := false
		for _, e := range c.Env {
			if e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
				e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
				podNS = true
			}
		}
		if !podNS {
			t.Errorf("no env POD_NAMESPACE from fieldRef metadata.namespace: %+v", c.Env)
		}
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		if ports["metrics"] != 8080 || ports["health"] != 8081 {
			t.Errorf("container ports %v, want metrics=8080 health=8081", ports)
		}
		for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			want := map[string]string{"liveness": "/healthz", "readiness": "/readyz"}[name]
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.String() != "health" {
				t.Errorf("%s probe %+v, want GET %s on port health", name, p, want)
			}
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
		}
		sc := c.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
			sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("container securityContext %+v is not restricted", sc)
		}
		// The selector is immutable: the common labels must stay out of it
		// (includeSelectors: false), and it must select the pods.
		sel := d.Spec.Selector.MatchLabels
		if _, ok := sel["app.kubernetes.io/part-of"]; ok {
			t.Errorf("selector %v carries the common label part-of", sel)
		}
		for k, v := range sel {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("selector %v does not select the pod template labels %v", sel, d.Spec.Template.Labels)
			}
		}
		svc := typed[corev1.Service](t, find(t, objs, "Service", operatorName+"-metrics"))
		if svc.Namespace != systemNamespace {
			t.Errorf("metrics Service namespace %q, want %q", svc.Namespace, systemNamespace)
		}
		for k, v := range svc.Spec.Selector {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("metrics Service selector %v does not select the pod template labels %v", svc.Spec.Selector, d.Spec.Template.Labels)
			}
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
			t.Errorf("metrics Service ports %+v, want one with targetPort metrics", svc.Spec.Ports)
		}
		ns := find(t, objs, "Namespace", systemNamespace)
		if ns.GetLabels()["pod-security.kubernetes.io/enforce"] != "restricted" {
			t.Errorf("Namespace %s labels %v: want pod-security.kubernetes.io/enforce=restricted", systemNamespace, ns.GetLabels())
		}
	})

	t.Run("operator RBAC", func(t *testing.T) {
		sa := find(t, objs, "ServiceAccount", operatorName)
		if sa.GetNamespace() != systemNamespace {
			t.Errorf("ServiceAccount namespace %q, want %q", sa.GetNamespace(), systemNamespace)
		}
		saSubject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: operatorName, Namespace: systemNamespace}}

		crb := typed[rbacv1.ClusterRoleBinding](t, find(t, objs, "ClusterRoleBinding", operatorName))
		if want := (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: operatorName}); crb.RoleRef != want {
			t.Errorf("ClusterRoleBinding roleRef %+v, want %+v", crb.RoleRef, want)
		}
		if !reflect.DeepEqual(crb.Subjects, saSubject) {
			t.Errorf("ClusterRoleBinding subjects %+v, want %+v", crb.Subjects, saSubject)
		}

		// The ClusterRole is the one controller-gen generated, unchanged.
		generated := readObjects(t, configDir("rbac", "role.yaml"))
		cr := typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", operatorName))
		want := typed[rbacv1.ClusterRole](t, find(t, generated, "ClusterRole", operatorName))
		if len(cr.Rules) == 0 || !reflect.DeepEqual(cr.Rules, want.Rules) {
			t.Errorf("ClusterRole %s rules differ from config/rbac/role.yaml:\n got %+v\nwant %+v", operatorName, cr.Rules, want.Rules)
		}

		role := typed[rbacv1.Role](t, find(t, objs, "Role", operatorName+"-leader-election"))
		leases := false
		for _, r := range role.Rules {
			if slices.Contains(r.APIGroups, "coordination.k8s.io") && slices.Contains(r.Resources, "leases") &&
				slices.Contains(r.Verbs, "create") && slices.Contains(r.Verbs, "update") {
				leases = true
			}
		}
		if role.Namespace != systemNamespace || !leases {
			t.Errorf("leader election Role in %q with rules %+v: want it in %s, allowed to create and update leases", role.Namespace, role.Rules, systemNamespace)
		}
		rb := typed[rbacv1.RoleBinding](t, find(t, objs, "RoleBinding", operatorName+"-leader-election"))
		if rb.Namespace != systemNamespace || rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != role.Name || !reflect.DeepEqual(rb.Subjects, saSubject) {
			t.Errorf("leader election RoleBinding %+v: want Role %s bound to %+v in %s", rb, role.Name, saSubject, systemNamespace)
		}
	})

	t.Run("ClusterRoles for people", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			resource  string
			verbs     []string
			aggregate []string
		}{
			{"wuxiao-village-editor", "villages", []string{"create", "delete", "get", "list", "patch", "update", "watch"}, []string{"admin", "edit"}},
			{"wuxiao-village-viewer", "villages", []string{"get", "list", "watch"}, []string{"view"}},
			{"wuxiao-catalog-viewer", "powercatalogs", []string{"get", "list", "watch"}, []string{"view"}},
		} {
			cr := typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", tc.name))
			var verbs []string
			for _, r := range cr.Rules {
				if slices.Contains(r.APIGroups, "wuxiao.io") && slices.Contains(r.Resources, tc.resource) {
					verbs = append(verbs, r.Verbs...)
				}
				if slices.Contains(r.Verbs, "*") || slices.Contains(r.Resources, "*") || slices.Contains(r.APIGroups, "*") {
					t.Errorf("%s has a wildcard rule %+v", tc.name, r)
				}
			}
			slices.Sort(verbs)
			if !slices.Equal(verbs, tc.verbs) {
				t.Errorf("%s verbs on %s: %v, want %v", tc.name, tc.resource, verbs, tc.verbs)
			}
			var got []string
			for k, v := range cr.Labels {
				if r, ok := strings.CutPrefix(k, "rbac.authorization.k8s.io/aggregate-to-"); ok && v == "true" {
					got = append(got, r)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.aggregate) {
				t.Errorf("%s aggregates to %v, want %v", tc.name, got, tc.aggregate)
			}
		}
	})

	t.Run("CRDs and admission policies are included unchanged", func(t *testing.T) {
		for _, dir := range []string{"crd/bases", "admission"} {
			want := readObjects(t, configDir(dir, "*.yaml"))
			for _, w := range want {
				got := find(t, objs, w.GetKind(), w.GetName())
				if got.GetNamespace() != "" {
					t.Errorf("cluster-scoped %s got namespace %q", key(got), got.GetNamespace())
				}
				if !reflect.DeepEqual(got.Object["spec"], w.Object["spec"]) {
					t.Errorf("%s: spec differs from config/%s", key(got), dir)
				}
			}
			if dir == "crd/bases" {
				var names []string
				for _, w := range want {
					names = append(names, w.GetName())
				}
				slices.Sort(names)
				if wantNames := []string{"districts.wuxiao.io", "powercatalogs.wuxiao.io", "towns.wuxiao.io", "villages.wuxiao.io"}; !slices.Equal(names, wantNames) {
					t.Errorf("CRDs %v, want %v", names, wantNames)
				}
			}
		}
		var policies int
		for _, o := range objs {
			if strings.HasPrefix(o.GetKind(), "ValidatingAdmissionPolicy") {
				policies++
			}
		}
		if policies < 4 {
			t.Errorf("%d ValidatingAdmissionPolicies and bindings rendered, want at least 4", policies)
		}
	})

	t.Run("no kustomization.yaml in config/admission", func(t *testing.T) {
		// hack/sync-chart.sh, operator/testenv and charts/chart_test.go read
		// every config/admission/*.yaml as a manifest to install.
		if _, err := os.Stat(configDir("admission", "kustomization.yaml")); err == nil {
			t.Error("config/admission/kustomization.yaml would be applied as a manifest; name it kustomization.yml")
		}
	})

	t.Run("the image can be set", func(t *testing.T) {
		// What `kustomize edit set image` writes, in an overlay: it only works
		// if the images: name matches the Deployment's image.
		dir := t.TempDir()
		base, err := filepath.Rel(dir, configDir("default")) // kustomize wants it relative
		if err != nil {
			t.Fatal(err)
		}
		overlay := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
			"resources:\n  - " + base + "\n" +
			"images:\n  - name: localhost/wuxiao/operator\n    newName: registry.example/wuxiao/operator\n    newTag: v9.9.9\n"
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(overlay), 0o644); err != nil {
			t.Fatal(err)
		}
		d := typed[appsv1.Deployment](t, find(t, render(t, dir), "Deployment", operatorName))
		if got := d.Spec.Template.Spec.Containers[0].Image; got != "registry.example/wuxiao/operator:v9.9.9" {
			t.Errorf("image after set image: %q", got)
		}
	})

	t.Run("a real API server accepts every object", func(t *testing.T) {
		applyToAPIServer(t, objs)
	})
}

// applyToAPIServer starts an API server with the CRDs and admission policies
// installed, creates the operator's namespace for real, and server-side
// applies every object as a dry run.
func applyToAPIServer(t *testing.T, objs []*unstructured.Unstructured) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the API server: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}

	// The namespace for real, as rendered (with its Pod Security label), so
	// that the namespaced objects have somewhere to go.
	ns := find(t, objs, "Namespace", systemNamespace).DeepCopy()
	if err := c.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace %s: %v", systemNamespace, err)
	}

	for _, o := range objs {
		// The API server's own idea of the object's scope.
		mapping, err := c.RESTMapper().RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
		if err != nil {
			t.Errorf("%s: the API server does not serve %s: %v", key(o), o.GroupVersionKind(), err)
			continue
		}
		namespaced := mapping.Scope.Name() == meta.RESTScopeNameNamespace
		if namespaced && o.GetNamespace() != systemNamespace {
			t.Errorf("namespaced %s: want namespace %s", key(o), systemNamespace)
		}
		if !namespaced && o.GetNamespace() != "" {
			t.Errorf("cluster-scoped %s has a namespace", key(o))
		}

		obj := o.DeepCopy()
		err = c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj),
			client.DryRunAll, client.ForceOwnership, client.FieldOwner(fieldOwner))
		if err != nil {
			t.Errorf("server-side apply (dry run) of %s rejected: %v", key(o), err)
			continue
		}
		if obj.GetName() != o.GetName() || obj.GetNamespace() != o.GetNamespace() || obj.GetUID() == "" {
			t.Errorf("server-side apply of %s answered %s (uid %q)", key(o), key(obj), obj.GetUID())
		}
		for k, v := range commonLabels {
			if obj.GetLabels()[k] != v {
				t.Errorf("%s as the API server would store it: label %s=%q, want %q", key(o), k, obj.GetLabels()[k], v)
			}
		}
	}

	// A dry run persists nothing.
	var d appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: systemNamespace, Name: operatorName}, &d); !apierrors.IsNotFound(err) {
		t.Errorf("Deployment %s exists after a dry run (err %v)", operatorName, err)
	}

	// The operator's pod passes the namespace's Pod Security level
	// (restricted), and that level is really enforced here.
	tmpl := typed[appsv1.Deployment](t, find(t, objs, "Deployment", operatorName)).Spec.Template
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "operator-pod", Namespace: systemNamespace, Labels: tmpl.Labels},
		Spec:       tmpl.Spec,
	}
	if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("the operator's pod is rejected in namespace %s: %v", systemNamespace, err)
	}
	loose := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "loose-pod", Namespace: systemNamespace},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: operatorImage}}},
	}
	if err := c.Create(ctx, loose, client.DryRunAll); !apierrors.IsForbidden(err) {
		t.Errorf("a pod without a security context in %s: want Forbidden by Pod Security, got %v", systemNamespace, err)
	}
}

func TestSamples(t *testing.T) {
	objs := render(t, configDir("samples"))
	counts := map[string]int{}
	for _, o := range objs {
		if o.GetAPIVersion() != "wuxiao.io/v1alpha1" {
			t.Errorf("%s has apiVersion %s", key(o), o.GetAPIVersion())
		}
		counts[o.GetKind()]++
	}
	want := map[string]int{"District": 1, "Town": 12, "Village": 36, "PowerCatalog": 1}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("config/samples renders %v, want %v", counts, want)
	}
}
