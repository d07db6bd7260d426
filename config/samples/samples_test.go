// Package samples_test checks the sample manifests in config/samples: that
// they decode strictly into the API types, that they reproduce the numbers of
// the Fenghua model (12 towns of which 4 towns and 8 subdistricts, 46 power
// items in 6 categories), that every process is a well-formed graph, and that
// a real API server accepts every object while its CEL rules reject broken
// variants with the messages people are meant to read.
package samples_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/testenv"
)

const (
	districtFile = "district.yaml"
	townsFile    = "towns.yaml"
	villagesFile = "villages.yaml"
	catalogFile  = "powercatalog.yaml"
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// yamlDocs splits a multi-document YAML stream into its non-empty documents,
// each converted to JSON.
func yamlDocs(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		js, err := utilyaml.ToJSON(doc)
		if err != nil {
			return nil, err
		}
		if t := bytes.TrimSpace(js); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			continue // a document holding only comments
		}
		docs = append(docs, js)
	}
}

// decodeStrict decodes every document of data into T, failing on fields T
// does not know and on a kind other than wantKind.
func decodeStrict[T any](data []byte, wantKind string) ([]T, error) {
	docs, err := yamlDocs(data)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(docs))
	for i, js := range docs {
		var tm metav1.TypeMeta
		if err := json.Unmarshal(js, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if tm.APIVersion != v1alpha1.GroupVersion.String() || tm.Kind != wantKind {
			return nil, fmt.Errorf("document %d is %s %s, want %s %s", i+1, tm.APIVersion, tm.Kind, v1alpha1.GroupVersion, wantKind)
		}
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		var obj T
		if err := dec.Decode(&obj); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		out = append(out, obj)
	}
	return out, nil
}

func load[T any](t *testing.T, file, kind string) []T {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeStrict[T](data, kind)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return objs
}

func loadCatalog(t *testing.T) v1alpha1.PowerCatalog {
	t.Helper()
	cats := load[v1alpha1.PowerCatalog](t, catalogFile, "PowerCatalog")
	if len(cats) != 1 {
		t.Fatalf("%s holds %d PowerCatalogs, want 1", catalogFile, len(cats))
	}
	return cats[0]
}

// TestDecodeStrictRejectsUnknownFields makes sure the strict decoder used by
// the other tests would notice a misspelt field or a wrong kind.
func TestDecodeStrictRejectsUnknownFields(t *testing.T) {
	cases := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{
			name:    "valid",
			doc:     "apiVersion: wuxiao.io/v1alpha1\nkind: Town\nmetadata: {name: x}\nspec: {district: d, code: \"330213100000\", kind: town, displayName: 溪口镇}\n",
			wantErr: "",
		},
		{
			name:    "misspelt field",
			doc:     "apiVersion: wuxiao.io/v1alpha1\nkind: Town\nmetadata: {name: x}\nspec: {district: d, code: \"330213100000\", kind: town, dispayName: 溪口镇}\n",
			wantErr: `unknown field "dispayName"`,
		},
		{
			name:    "wrong kind",
			doc:     "apiVersion: wuxiao.io/v1alpha1\nkind: Village\nmetadata: {name: x}\n",
			wantErr: "want wuxiao.io/v1alpha1 Town",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeStrict[v1alpha1.Town]([]byte(tc.doc), "Town")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestKustomizationListsTheSamples(t *testing.T) {
	data, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := utilyaml.ToJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Kind      string   `json:"kind"`
		Resources []string `json:"resources"`
	}
	if err := json.Unmarshal(js, &k); err != nil {
		t.Fatal(err)
	}
	if k.Kind != "Kustomization" {
		t.Errorf("kind = %q, want Kustomization", k.Kind)
	}
	got := slices.Sorted(slices.Values(k.Resources))
	want := slices.Sorted(slices.Values([]string{catalogFile, districtFile, townsFile, villagesFile}))
	if !slices.Equal(got, want) {
		t.Errorf("resources = %v, want %v", got, want)
	}
	for _, f := range want {
		head, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(head[:min(len(head), 400)]), "ILLUSTRATIVE") {
			t.Errorf("%s does not start with a header marking it ILLUSTRATIVE", f)
		}
	}
}

func TestDistrict(t *testing.T) {
	ds := load[v1alpha1.District](t, districtFile, "District")
	if len(ds) != 1 {
		t.Fatalf("got %d Districts, want 1", len(ds))
	}
	d := ds[0]
	cat := loadCatalog(t)
	checks := []struct {
		field, got, want string
	}{
		{"metadata.name", d.Name, "fenghua"},
		{"spec.code", d.Spec.Code, "330213000000"},
		{"spec.displayName", d.Spec.DisplayName, "奉化区"},
		{"spec.catalogRef", d.Spec.CatalogRef, cat.Name},
		{"spec.kafka.bootstrapServers", strings.Join(d.Spec.Kafka.BootstrapServers, ","), "kafka.wuxiao-system.svc:9092"},
		{"spec.postgres.host", d.Spec.Postgres.Host, "postgres.wuxiao-system.svc"},
		{"spec.postgres.adminPasswordSecret", fmt.Sprintf("%s/%s:%s", d.Spec.Postgres.AdminPasswordSecret.Namespace, d.Spec.Postgres.AdminPasswordSecret.Name, d.Spec.Postgres.AdminPasswordSecret.Key), "wuxiao-system/wuxiao-postgres-admin:password"},
		{"spec.telemetry.otlpEndpoint", d.Spec.Telemetry.OTLPEndpoint, "http://otel-collector.wuxiao-system.svc:4318"},
		{"spec.services.version", d.Spec.Services.Version, "v0.1.0"},
		{"spec.services.imageRepository", d.Spec.Services.ImageRepository, "localhost/wuxiao"},
		{"spec.portalBaseURL", d.Spec.PortalBaseURL, "https://jiandu.fenghua.example.cn"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	for _, u := range []string{d.Spec.Kratos.PublicURL, d.Spec.Kratos.AdminURL} {
		if !strings.Contains(u, ".wuxiao-system.svc:") {
			t.Errorf("kratos URL %q is not in namespace wuxiao-system", u)
		}
	}
}

func TestTowns(t *testing.T) {
	towns := load[v1alpha1.Town](t, townsFile, "Town")
	district := load[v1alpha1.District](t, districtFile, "District")[0]
	if len(towns) != 12 {
		t.Fatalf("got %d towns, want 12 (4 towns + 8 subdistricts)", len(towns))
	}
	kinds := map[v1alpha1.TownKind]int{}
	waves := map[int32]int{}
	codes := map[string]string{}
	suffix := map[v1alpha1.TownKind]string{v1alpha1.TownKindTown: "镇", v1alpha1.TownKindSubdistrict: "街道"}
	code := regexp.MustCompile(`^330213[0-9]{3}000$`)
	for _, tw := range towns {
		kinds[tw.Spec.Kind]++
		waves[tw.Spec.RolloutWave]++
		if !dnsLabel.MatchString(tw.Name) || len(tw.Name) > 54 {
			t.Errorf("town name %q is not a DNS label of at most 54 characters", tw.Name)
		}
		if tw.Spec.District != district.Name {
			t.Errorf("town %s: district %q, want %q", tw.Name, tw.Spec.District, district.Name)
		}
		if !code.MatchString(tw.Spec.Code) || strings.HasSuffix(tw.Spec.Code, "000000") {
			t.Errorf("town %s: code %q is not 330213 + 3 digits (not 000) + 000", tw.Name, tw.Spec.Code)
		}
		if other, dup := codes[tw.Spec.Code]; dup {
			t.Errorf("towns %s and %s share code %s", other, tw.Name, tw.Spec.Code)
		}
		codes[tw.Spec.Code] = tw.Name
		if s := suffix[tw.Spec.Kind]; s == "" || !strings.HasSuffix(tw.Spec.DisplayName, s) {
			t.Errorf("town %s: kind %q does not match displayName %q", tw.Name, tw.Spec.Kind, tw.Spec.DisplayName)
		}
		want := v1alpha1.TownAdmin{Kind: "Group", Name: "town-it:" + tw.Name}
		if !slices.Contains(tw.Spec.Admins, want) {
			t.Errorf("town %s: admins %v do not include %v", tw.Name, tw.Spec.Admins, want)
		}
		if tw.Spec.RolloutWave < 0 || tw.Spec.RolloutWave > 2 {
			t.Errorf("town %s: rolloutWave %d outside 0-2", tw.Name, tw.Spec.RolloutWave)
		}
		if tw.Spec.PreventDeletion != nil {
			t.Errorf("town %s sets preventDeletion; the samples leave it at its default (true)", tw.Name)
		}
	}
	if v := district.Spec.DistrictView.Town; !slices.ContainsFunc(towns, func(tw v1alpha1.Town) bool { return tw.Name == v }) {
		t.Errorf("spec.districtView.town %q is not a sample town: no town would build the district overview", v)
	}
	if kinds[v1alpha1.TownKindTown] != 4 || kinds[v1alpha1.TownKindSubdistrict] != 8 {
		t.Errorf("kinds = %v, want 4 town and 8 subdistrict", kinds)
	}
	if waves[0] != 1 {
		t.Errorf("%d towns in rollout wave 0, want exactly one pilot", waves[0])
	}
	if waves[1] == 0 || waves[2] == 0 {
		t.Errorf("waves = %v, want towns spread over waves 0, 1 and 2", waves)
	}
}

func TestVillages(t *testing.T) {
	towns := load[v1alpha1.Town](t, townsFile, "Town")
	villages := load[v1alpha1.Village](t, villagesFile, "Village")
	if len(villages) != 36 {
		t.Fatalf("got %d villages, want 36 (3 per town)", len(villages))
	}
	townByNS := map[string]v1alpha1.Town{}
	for _, tw := range towns {
		townByNS[tw.NamespaceName()] = tw
	}
	perTown := map[string]int{}
	codes := map[string]string{}
	phones := map[string]string{}
	fakePhone := regexp.MustCompile(`^1380000[0-9]{4}$`)
	for _, v := range villages {
		key := v.Namespace + "/" + v.Name
		tw, ok := townByNS[v.Namespace]
		if !ok {
			t.Errorf("village %s: namespace is not town-<name> of a sample town", key)
			continue
		}
		perTown[tw.Name]++
		if !strings.HasPrefix(v.Spec.Code, tw.Spec.Code[:9]) || len(v.Spec.Code) != 12 || strings.HasSuffix(v.Spec.Code, "000") {
			t.Errorf("village %s: code %q is not its town's 9 digits %s + 3 own digits (not 000)", key, v.Spec.Code, tw.Spec.Code[:9])
		}
		if other, dup := codes[v.Spec.Code]; dup {
			t.Errorf("villages %s and %s share code %s", other, key, v.Spec.Code)
		}
		codes[v.Spec.Code] = key
		wantSuffix := map[v1alpha1.VillageKind]string{v1alpha1.VillageKindVillage: "村", v1alpha1.VillageKindCommunity: "社区"}[v.Spec.Kind]
		if wantSuffix == "" || !strings.HasSuffix(v.Spec.DisplayName, wantSuffix) {
			t.Errorf("village %s: kind %q does not match displayName %q", key, v.Spec.Kind, v.Spec.DisplayName)
		}
		if n := len(v.Spec.Officials); n < 2 || n > 4 {
			t.Errorf("village %s has %d officials, want 2-4", key, n)
		}
		roles := map[v1alpha1.OfficialRole]int{}
		ids := map[string]bool{}
		for _, o := range v.Spec.Officials {
			roles[o.Role]++
			if ids[o.ID] {
				t.Errorf("village %s: official id %q twice", key, o.ID)
			}
			ids[o.ID] = true
			if !fakePhone.MatchString(o.Phone) {
				t.Errorf("village %s: official %s phone %q is not a placeholder 1380000xxxx", key, o.ID, o.Phone)
			}
			if other, dup := phones[o.Phone]; dup {
				t.Errorf("phone %s used by %s and %s/%s", o.Phone, other, key, o.ID)
			}
			phones[o.Phone] = key + "/" + o.ID
		}
		if roles[v1alpha1.RoleLiaisonOfficer] < 1 {
			t.Errorf("village %s has no liaison-officer", key)
		}
		if roles[v1alpha1.RoleSecretary] > 1 || roles[v1alpha1.RoleDirector] > 1 {
			t.Errorf("village %s: %d secretaries and %d directors, want at most one each", key, roles[v1alpha1.RoleSecretary], roles[v1alpha1.RoleDirector])
		}
		if v.Spec.Portal.ContactPhone == "" {
			t.Errorf("village %s has no portal.contactPhone", key)
		}
	}
	for _, tw := range towns {
		if perTown[tw.Name] != 3 {
			t.Errorf("town %s has %d villages, want 3", tw.Name, perTown[tw.Name])
		}
	}
}

// reachable returns the ids of the steps reachable from the item's first step.
func reachable(steps []v1alpha1.Step) map[string]bool {
	if len(steps) == 0 {
		return nil
	}
	byID := map[string]v1alpha1.Step{}
	for _, s := range steps {
		byID[s.ID] = s
	}
	seen := map[string]bool{steps[0].ID: true}
	queue := []string{steps[0].ID}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, n := range byID[cur].Next {
			if !seen[n] {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	return seen
}

func TestCatalog(t *testing.T) {
	cat := loadCatalog(t)
	if cat.Name != "fenghua-2020" || cat.Spec.Version != "2020.1" {
		t.Errorf("catalog %s version %q, want fenghua-2020 version 2020.1", cat.Name, cat.Spec.Version)
	}
	if len(cat.Spec.Items) != 46 {
		t.Errorf("catalog has %d items, want 46", len(cat.Spec.Items))
	}
	perCategory := map[v1alpha1.Category]int{}
	itemIDs := map[string]bool{}
	for _, it := range cat.Spec.Items {
		perCategory[it.Category]++
		if !dnsLabel.MatchString(it.ID) || len(it.ID) > 63 {
			t.Errorf("item id %q is not lower-case-dashed", it.ID)
		}
		if itemIDs[it.ID] {
			t.Errorf("item id %q appears twice", it.ID)
		}
		itemIDs[it.ID] = true
		checkItem(t, it)
	}
	for _, c := range v1alpha1.AllCategories {
		if perCategory[c] == 0 {
			t.Errorf("category %s has no items", c)
		}
	}
	if len(perCategory) != len(v1alpha1.AllCategories) {
		t.Errorf("categories %v, want exactly %v", perCategory, v1alpha1.AllCategories)
	}
	t.Logf("items per category: %v", perCategory)
}

// checkItem applies the catalog rules to one item: every power has a
// process, every process has controls, every control has a norm, every norm
// has a basis; and the process is a graph whose steps all follow from the
// first and which can end.
func checkItem(t *testing.T, it v1alpha1.PowerItem) {
	t.Helper()
	if n := len(it.Steps); n < 3 || n > 8 {
		t.Errorf("item %s has %d steps, want 3-8", it.ID, n)
	}
	if n := len(it.Basis); n < 1 || n > 3 {
		t.Errorf("item %s has %d bases, want 1-3", it.ID, n)
	}
	if len(it.Controls) == 0 {
		t.Errorf("item %s has no controls", it.ID)
	}
	steps := map[string]bool{}
	ends := 0
	for _, s := range it.Steps {
		if steps[s.ID] {
			t.Errorf("item %s: step id %q twice", it.ID, s.ID)
		}
		steps[s.ID] = true
		if len(s.Next) == 0 {
			ends++
		}
	}
	for _, s := range it.Steps {
		for _, n := range s.Next {
			if !steps[n] {
				t.Errorf("item %s: step %s names next step %q, which does not exist", it.ID, s.ID, n)
			}
		}
	}
	if ends == 0 {
		t.Errorf("item %s: no step ends the process", it.ID)
	}
	reached := reachable(it.Steps)
	for _, s := range it.Steps {
		if !reached[s.ID] {
			t.Errorf("item %s: step %s cannot be reached from the first step", it.ID, s.ID)
		}
	}
	norms := map[string]bool{}
	for _, n := range it.Norms {
		if norms[n.ID] {
			t.Errorf("item %s: norm id %q twice", it.ID, n.ID)
		}
		norms[n.ID] = true
		if strings.TrimSpace(n.Basis) == "" || strings.TrimSpace(n.Text) == "" {
			t.Errorf("item %s: norm %s needs text and basis", it.ID, n.ID)
		}
	}
	controls := map[string]bool{}
	for _, c := range it.Controls {
		if controls[c.ID] {
			t.Errorf("item %s: control id %q twice", it.ID, c.ID)
		}
		controls[c.ID] = true
		if !steps[c.Step] {
			t.Errorf("item %s: control %s names step %q, which does not exist", it.ID, c.ID, c.Step)
		}
		if !norms[c.Norm] {
			t.Errorf("item %s: control %s names norm %q, which does not exist", it.ID, c.ID, c.Norm)
		}
		if c.Type == v1alpha1.ControlPostingDuration && (c.MinDays == nil || *c.MinDays < 1) {
			t.Errorf("item %s: posting-duration control %s has no minDays", it.ID, c.ID)
		}
	}
}

func findItem(t *testing.T, cat v1alpha1.PowerCatalog, id string) v1alpha1.PowerItem {
	t.Helper()
	for _, it := range cat.Spec.Items {
		if it.ID == id {
			return it
		}
	}
	t.Fatalf("catalog has no item %s", id)
	return v1alpha1.PowerItem{}
}

// TestMajorDecisionFollowsFiveDeliberations checks the 五议两公开 sequence:
// proposal → joint meeting → public posting ≥15 days → members' review →
// representatives' resolution → posting 3 days → implementation.
func TestMajorDecisionFollowsFiveDeliberations(t *testing.T) {
	it := findItem(t, loadCatalog(t), "decision-major-matters")
	if it.Name != "村级重大事项决策" || it.Category != v1alpha1.CategoryDecision {
		t.Errorf("item is %s (%s), want 村级重大事项决策 (decision)", it.Name, it.Category)
	}
	want := []struct {
		id   string
		role v1alpha1.ActorRole
	}{
		{"propose", "secretary"},
		{"joint-meeting", "secretary"},
		{"plan-posting", "director"},
		{"members-review", "secretary"},
		{"representatives-resolution", "director"},
		{"result-posting", "director"},
		{"implementation", "director"},
	}
	if len(it.Steps) != len(want) {
		t.Fatalf("%d steps, want %d", len(it.Steps), len(want))
	}
	for i, w := range want {
		s := it.Steps[i]
		if s.ID != w.id || s.Role != w.role {
			t.Errorf("step %d is %s (%s), want %s (%s)", i+1, s.ID, s.Role, w.id, w.role)
		}
		var wantNext []string
		if i+1 < len(want) {
			wantNext = []string{want[i+1].id}
		}
		if !slices.Equal(s.Next, wantNext) {
			t.Errorf("step %s: next %v, want %v (the sequence allows no shortcut)", s.ID, s.Next, wantNext)
		}
	}
	type key struct {
		step string
		typ  v1alpha1.ControlType
	}
	got := map[key]*int32{}
	for _, c := range it.Controls {
		got[key{c.Step, c.Type}] = c.MinDays
	}
	for _, p := range []struct {
		step string
		days int32
	}{{"plan-posting", 15}, {"result-posting", 3}} {
		d, ok := got[key{p.step, v1alpha1.ControlPostingDuration}]
		if !ok || d == nil || *d != p.days {
			t.Errorf("step %s: want a posting-duration control of %d days", p.step, p.days)
		}
	}
	for _, typ := range []v1alpha1.ControlType{v1alpha1.ControlAmountThreshold, v1alpha1.ControlEvidenceRequired} {
		if _, ok := got[key{"implementation", typ}]; !ok {
			t.Errorf("step implementation has no %s control", typ)
		}
	}
}

func TestFundsExpenditureControls(t *testing.T) {
	it := findItem(t, loadCatalog(t), "funds-expenditure")
	have := map[v1alpha1.ControlType]bool{}
	for _, c := range it.Controls {
		have[c.Type] = true
	}
	for _, typ := range []v1alpha1.ControlType{v1alpha1.ControlAmountThreshold, v1alpha1.ControlConflictOfInterest} {
		if !have[typ] {
			t.Errorf("funds-expenditure has no %s control", typ)
		}
	}
}

// TestSamplesOnAPIServer creates every sample object on a real API server
// (which proves the CRDs' schemas and CEL rules accept them) and then checks
// that broken variants are rejected with the rules' human-readable messages.
func TestSamplesOnAPIServer(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping test API server: %v", err)
		}
	})
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	read := func(file string) []*unstructured.Unstructured {
		objs, err := testenv.ReadObjects(file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return objs
	}
	catalog, district, towns, villages := read(catalogFile), read(districtFile), read(townsFile), read(villagesFile)

	// There is no operator here: create the town namespaces it would create.
	for _, tw := range towns {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name:   v1alpha1.TownNamespace(tw.GetName()),
			Labels: map[string]string{v1alpha1.TownLabel: tw.GetName()},
		}}
		if err := c.Create(ctx, ns); err != nil {
			t.Fatalf("creating namespace %s: %v", ns.Name, err)
		}
	}

	created := 0
	for _, group := range [][]*unstructured.Unstructured{catalog, district, towns, villages} {
		for _, o := range group {
			if err := c.Create(ctx, o.DeepCopy()); err != nil {
				t.Errorf("creating %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				continue
			}
			created++
		}
	}
	if want := 1 + 1 + 12 + 36; created != want {
		t.Fatalf("created %d sample objects, want %d", created, want)
	}

	// What the server stored: the whole catalog, and the defaults the
	// samples rely on.
	var storedCat v1alpha1.PowerCatalog
	if err := c.Get(ctx, client.ObjectKey{Name: "fenghua-2020"}, &storedCat); err != nil {
		t.Fatal(err)
	}
	if len(storedCat.Spec.Items) != 46 {
		t.Errorf("stored catalog has %d items, want 46", len(storedCat.Spec.Items))
	}
	var storedTown v1alpha1.Town
	if err := c.Get(ctx, client.ObjectKey{Name: "xikou"}, &storedTown); err != nil {
		t.Fatal(err)
	}
	if !storedTown.DeletionPrevented() || storedTown.Spec.PreventDeletion == nil {
		t.Errorf("town xikou: preventDeletion = %v, want the default true", storedTown.Spec.PreventDeletion)
	}

	t.Run("rejected", func(t *testing.T) {
		cases := []struct {
			name   string
			base   *unstructured.Unstructured
			mutate func(t *testing.T, o map[string]any)
			want   string
		}{
			{
				name: "village code with 11 digits",
				base: villages[0],
				mutate: func(t *testing.T, o map[string]any) {
					set(t, o, "33021300100", "spec", "code")
				},
				want: "code must be a 12-digit administrative division code",
			},
			{
				name: "village with two secretaries",
				base: villages[0],
				mutate: func(t *testing.T, o map[string]any) {
					officials := get[[]any](t, o, "spec", "officials")
					officials = append(officials, map[string]any{"id": "second-secretary", "name": "另一书记", "role": "secretary", "phone": "13800009999"})
					set(t, o, officials, "spec", "officials")
				},
				want: "a village has at most one secretary (党组织书记)",
			},
			{
				name: "town code ending in 000000",
				base: towns[0],
				mutate: func(t *testing.T, o map[string]any) {
					set(t, o, "330213000000", "spec", "code")
				},
				want: "a town's code has 9 significant digits followed by 000",
			},
			{
				name: "district view town not a Town name",
				base: district[0],
				mutate: func(t *testing.T, o map[string]any) {
					set(t, o, "Jinping Street", "spec", "districtView", "town")
				},
				want: "districtView.town must be the name of a Town",
			},
			{
				name: "control naming a missing norm",
				base: catalog[0],
				mutate: func(t *testing.T, o map[string]any) {
					ctrl := get[map[string]any](t, item(t, o, "decision-major-matters"), "controls", 0)
					ctrl["norm"] = "no-such-norm"
				},
				want: "item decision-major-matters: a control names a norm that is not in the item's norms: every control has a norm (每个控制有规范)",
			},
			{
				name: "norm without basis",
				base: catalog[0],
				mutate: func(t *testing.T, o map[string]any) {
					norm := get[map[string]any](t, item(t, o, "decision-village-rules"), "norms", 0)
					norm["basis"] = ""
				},
				want: "norm content has no basis: every norm has a legal basis (每个规范有依据)",
			},
			{
				name: "item without steps",
				base: catalog[0],
				mutate: func(t *testing.T, o map[string]any) {
					item(t, o, "service-proxy-handling")["steps"] = []any{}
				},
				want: "item service-proxy-handling has no steps: every power has a process (每个权力有流程)",
			},
			{
				name: "posting-duration control without minDays",
				base: catalog[0],
				mutate: func(t *testing.T, o map[string]any) {
					for _, c := range get[[]any](t, item(t, o, "decision-major-matters"), "controls") {
						if c.(map[string]any)["id"] == "plan-posting-15-days" {
							delete(c.(map[string]any), "minDays")
						}
					}
				},
				want: "control plan-posting-15-days is a posting-duration control and needs minDays",
			},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				o := tc.base.DeepCopy()
				o.SetName(fmt.Sprintf("%s-bad-%d", tc.base.GetName(), i))
				tc.mutate(t, o.Object)
				err := c.Create(ctx, o)
				if err == nil {
					t.Fatalf("the API server accepted %s %s", o.GetKind(), o.GetName())
				}
				t.Logf("rejected as expected: %v", err)
				if !apierrors.IsInvalid(err) {
					t.Errorf("error is not Invalid: %v", err)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %q does not contain %q", err, tc.want)
				}
			})
		}
	})
}

// get walks o along path (map keys and slice indexes) and returns the value
// as T.
func get[T any](t *testing.T, o any, path ...any) T {
	t.Helper()
	cur := o
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("path %v: %T is not a map", path, cur)
			}
			cur = m[k]
		case int:
			s, ok := cur.([]any)
			if !ok || k >= len(s) {
				t.Fatalf("path %v: cannot index %T with %d", path, cur, k)
			}
			cur = s[k]
		}
	}
	v, ok := cur.(T)
	if !ok {
		t.Fatalf("path %v: %T is not %T", path, cur, v)
	}
	return v
}

func set(t *testing.T, o map[string]any, v any, path ...string) {
	t.Helper()
	if err := unstructured.SetNestedField(o, v, path...); err != nil {
		t.Fatal(err)
	}
}

// item returns the catalog item with the given id from an unstructured
// PowerCatalog.
func item(t *testing.T, o map[string]any, id string) map[string]any {
	t.Helper()
	for _, it := range get[[]any](t, o, "spec", "items") {
		if m := it.(map[string]any); m["id"] == id {
			return m
		}
	}
	t.Fatalf("no item %s", id)
	return nil
}
