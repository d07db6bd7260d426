package resources

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
)

func secretRef(c corev1.Container, name string) *corev1.SecretKeySelector {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil {
			return e.ValueFrom.SecretKeyRef
		}
	}
	return nil
}

// Each Deployment migrates in an init container holding the migration
// role's URL, and serves in a container holding only the service's own
// role's URL.
func TestDeploymentDatabaseRoles(t *testing.T) {
	in := input(nil)
	for _, svc := range wuxiaov1.AllServices {
		spec := Deployment(in, svc, "hash").Spec.Template.Spec
		if len(spec.InitContainers) != 1 || len(spec.Containers) != 1 {
			t.Fatalf("%s: %d init containers, %d containers", svc, len(spec.InitContainers), len(spec.Containers))
		}
		initC, main := spec.InitContainers[0], spec.Containers[0]
		if initC.Name != MigrateContainerName || initC.Image != main.Image || initC.ImagePullPolicy != main.ImagePullPolicy {
			t.Errorf("%s: init container %s image %s", svc, initC.Name, initC.Image)
		}
		if ref := secretRef(initC, EnvDatabaseURL); ref == nil || ref.Name != DatabaseSecretName || ref.Key != DatabaseSecretKey {
			t.Errorf("%s: the init container's DATABASE_URL is %+v, want the migration role's", svc, ref)
		}
		if env(initC, EnvMigrateOnly) != "true" || env(initC, EnvDatabaseAppRole) != provision.ServiceRole("xikou", string(svc)) {
			t.Errorf("%s: init container mode %q role %q", svc, env(initC, EnvMigrateOnly), env(initC, EnvDatabaseAppRole))
		}
		if !*initC.SecurityContext.ReadOnlyRootFilesystem || *initC.SecurityContext.AllowPrivilegeEscalation || len(initC.VolumeMounts) != 1 {
			t.Errorf("%s: init container not locked down or without the catalog: %+v", svc, initC)
		}
		if ref := secretRef(main, EnvDatabaseURL); ref == nil || ref.Name != DatabaseSecretFor(svc) || ref.Key != DatabaseSecretKey {
			t.Errorf("%s: the serving container's DATABASE_URL is %+v, want Secret %s", svc, ref, DatabaseSecretFor(svc))
		}
		for _, e := range main.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == DatabaseSecretName {
				t.Errorf("%s: the serving container holds the migration role's credentials (%s)", svc, e.Name)
			}
			if e.Name == EnvMigrateOnly || e.Name == EnvDatabaseAppRole {
				t.Errorf("%s: the serving container has %s", svc, e.Name)
			}
		}
		for _, e := range main.EnvFrom {
			t.Errorf("%s: the serving container imports %+v wholesale", svc, e)
		}
		// The init container validates the same configuration: same
		// environment but for the database.
		if len(initC.Env) != len(main.Env)+2 {
			t.Errorf("%s: init container env %d, serving %d", svc, len(initC.Env), len(main.Env))
		}
		// The audit chain's key: the workflow writes it, the inspection verifies it.
		ref := secretRef(main, EnvAuditKey)
		wantKey := svc == wuxiaov1.ServiceWorkflow || svc == wuxiaov1.ServiceInspection
		if wantKey != (ref != nil) || (ref != nil && (ref.Name != AuditKeySecretName || ref.Key != SecretKeyKey)) {
			t.Errorf("%s: %s from %+v", svc, EnvAuditKey, ref)
		}
	}
}

// confValue reads `name<sep>value` (a number) from a file of the repository.
func confValue(t *testing.T, file, pattern string) int32 {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "..", file))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(pattern).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s: no %s", file, pattern)
	}
	n, err := strconv.Atoi(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return int32(n)
}

// operatorConnections: the operator checks one role at a time per Town
// reconcile, and reconciles controller.TownWorkers (16) towns at once.
const operatorConnections = 16

// The pools as the operator configures them keep a district of 12 towns at
// default replicas, with their migration init containers, Kratos' pool and
// the operator, under 80% of the server's max_connections.
func TestConnectionBudget(t *testing.T) {
	maxConns := confValue(t, "hack/postgres.sh", `(?m)^max_connections\s*=\s*(\d+)`)
	kratos := confValue(t, "hack/kratos.sh", `max_conns=(\d+)`)
	town := &wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: "xikou"}}
	perTown := TownConnections(town)
	total := 12*perTown + kratos + operatorConnections
	t.Logf("max_connections %d; per town %d (services %d + init containers %d); 12 towns + Kratos %d + operator %d = %d (%.1f%%); a rolling town adds %d",
		maxConns, perTown, perTown-4*MigrationConnections, 4*MigrationConnections, kratos, operatorConnections, total,
		100*float64(total)/float64(maxConns), RolloutConnections(town))
	if float64(total) >= 0.8*float64(maxConns) {
		t.Errorf("12 towns hold %d connections, not under 80%% of %d", total, maxConns)
	}
	if spare := int32(0.8*float64(maxConns)) - total; spare < RolloutConnections(town) {
		t.Errorf("no room for one town's rolling update (%d spare, it needs %d)", spare, RolloutConnections(town))
	}

	// The roles' limits follow the replicas and leave room for the rolling
	// update's extra replica and the operator's check.
	for _, svc := range wuxiaov1.AllServices {
		per := ConnectionsPerReplica(svc)
		if per != PoolMaxConns(svc)+sessionsOutsidePool[svc] || PoolMaxConns(svc) < 1 {
			t.Errorf("%s: %d per replica", svc, per)
		}
		if got, min := ServiceConnLimit(town, svc), (DefaultReplicas+1)*per+1; got < min {
			t.Errorf("%s: limit %d below %d", svc, got, min)
		}
	}
	scaled := town.DeepCopy()
	scaled.Spec.Services = []wuxiaov1.ServiceTemplate{{Name: wuxiaov1.ServiceDisclosure, Replicas: ptr.To(int32(6))}}
	if d, w := ServiceConnLimit(scaled, wuxiaov1.ServiceDisclosure), ServiceConnLimit(scaled, wuxiaov1.ServiceWorkflow); d != (6+2)*ConnectionsPerReplica(wuxiaov1.ServiceDisclosure)+1 || w != ServiceConnLimit(town, wuxiaov1.ServiceWorkflow) {
		t.Errorf("limits with 6 disclosure replicas: disclosure %d, workflow %d", d, w)
	}
	if MigrationConnLimit(scaled) != MigrationConnLimit(town)+4 || TownConnections(scaled) != perTown+4*ConnectionsPerReplica(wuxiaov1.ServiceDisclosure) {
		t.Errorf("migration limit %d, town %d with 6 disclosure replicas", MigrationConnLimit(scaled), TownConnections(scaled))
	}
}
