package v1alpha1_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/wuxiao/wuxiao/api/identity"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// TestStepRolesAreHeld: every role a step may name is one of api/identity's
// roles that acts in a village's processes (a village official, a town's
// staff but its IT, a villager), and the CRD's enum lists exactly them, so
// that a catalog the API server accepts names no role nobody holds.
func TestStepRolesAreHeld(t *testing.T) {
	for _, r := range wuxiaov1.StepRoles {
		id := identity.Role(r)
		if !id.Valid() || id.IsDistrictRole() || id == identity.RoleTownIT {
			t.Errorf("step role %q is not an identity role that acts in a village's processes", r)
		}
	}
	for _, r := range identity.AllRoles {
		acts := r.IsVillageRole() || (r.IsTownRole() && r != identity.RoleTownIT) || r == identity.RoleVillager
		if acts != wuxiaov1.ActorRole(r).Valid() {
			t.Errorf("identity role %q: acts in processes %v, but a valid step role %v", r, acts, !acts)
		}
	}

	data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "wuxiao.io_powercatalogs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties map[string]struct {
							Properties map[string]struct {
								Items struct {
									Properties map[string]struct {
										Items struct {
											Properties map[string]struct {
												Enum []string `json:"enum"`
											} `json:"properties"`
										} `json:"items"`
									} `json:"properties"`
								} `json:"items"`
							} `json:"properties"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	enum := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["items"].Items.Properties["steps"].Items.Properties["role"].Enum
	var want []string
	for _, r := range wuxiaov1.StepRoles {
		want = append(want, string(r))
	}
	slices.Sort(enum)
	slices.Sort(want)
	if !slices.Equal(enum, want) {
		t.Errorf("the CRD's step role enum is %q, StepRoles %q: keep the ActorRole marker and StepRoles the same", enum, want)
	}
}

// TestSampleCatalogRuns: every item of the shipped sample catalog can be
// started and finished by the roles it names, and its controls can be met
// (services/workflow's TestWalkEveryItem walks them for real).
func TestSampleCatalogRuns(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "powercatalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc wuxiaov1.PowerCatalog
	if err := yaml.Unmarshal(data, &pc); err != nil {
		t.Fatal(err)
	}
	if len(pc.Spec.Items) == 0 {
		t.Fatal("no items")
	}
	for i := range pc.Spec.Items {
		it := &pc.Spec.Items[i]
		for _, p := range append(it.FlowProblems(), it.ControlProblems()...) {
			t.Errorf("item %s: %s", it.ID, p)
		}
	}
}
