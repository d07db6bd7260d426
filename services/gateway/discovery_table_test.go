package gateway

import (
	"log/slog"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

func tableTown(name, district, code string) wuxiaov1.Town {
	return wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: wuxiaov1.TownSpec{District: district, Code: code, DisplayName: name + "镇"}}
}

type tableEndpoint struct {
	addr  string
	ready *bool
}

func tableSlice(ns, service string, ports map[string]int32, eps ...tableEndpoint) discoveryv1.EndpointSlice {
	es := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: service}}}
	for name, port := range ports {
		es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: &name, Port: &port})
	}
	for _, e := range eps {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{e.addr}, Conditions: discoveryv1.EndpointConditions{Ready: e.ready}})
	}
	return es
}

// The routing table from Towns and EndpointSlices: the district's towns
// only, ready (or unknown) endpoints only, the "http" port (or the only
// one), a pod listed by two slices once.
func TestBuildTable(t *testing.T) {
	yes, no := true, false
	towns := []wuxiaov1.Town{
		tableTown("xikou", "fenghua", "330213100000"),
		tableTown("jinping", "fenghua", "330213001000"),
		tableTown("dayan", "ninghai", "330226100000"), // another district
		tableTown("copy", "fenghua", "330213100000"),  // the same code as xikou, created later: ignored
	}
	towns[3].CreationTimestamp = metav1.Unix(2000, 0)
	towns[0].CreationTimestamp = metav1.Unix(1000, 0)
	slices := []discoveryv1.EndpointSlice{
		tableSlice("town-xikou", ServiceDisclosure, map[string]int32{"http": 8080, "metrics": 9090},
			tableEndpoint{"10.0.0.2", &yes}, tableEndpoint{"10.0.0.1", nil}, tableEndpoint{"10.0.0.3", &no}),
		tableSlice("town-xikou", ServiceDisclosure, map[string]int32{"http": 8080}, tableEndpoint{"10.0.0.2", &yes}), // duplicate pod
		tableSlice("town-xikou", ServiceComplaint, map[string]int32{"web": 8081}, tableEndpoint{"10.0.0.4", &yes}),   // the only port
		tableSlice("town-xikou", ServiceWorkflow, map[string]int32{"a": 1, "b": 2}, tableEndpoint{"10.0.0.5", &yes}), // no http port
		tableSlice("town-xikou", "postgres", map[string]int32{"http": 5432}, tableEndpoint{"10.0.0.6", &yes}),        // not a town service
		tableSlice("town-jinping", ServiceComplaint, map[string]int32{"http": 8080}, tableEndpoint{"10.0.0.7", &no}), // none ready
		tableSlice("town-dayan", ServiceDisclosure, map[string]int32{"http": 8080}, tableEndpoint{"10.0.1.1", &yes}), // other district
		tableSlice("default", ServiceDisclosure, map[string]int32{"http": 8080}, tableEndpoint{"10.0.1.2", &yes}),    // not a town's namespace
		tableSlice("town-xikou", ServiceInspection, map[string]int32{"http": 8080}, tableEndpoint{"fd00::1", &yes}),  // IPv6
	}
	tb := buildTable("fenghua", towns, slices, "", slog.New(slog.DiscardHandler))
	if len(tb.sorted) != 2 || tb.sorted[0].Name != "jinping" || tb.sorted[1].Name != "xikou" {
		t.Fatalf("towns %+v, want jinping and xikou", tb.sorted)
	}
	if got := tb.byPrefix["330213100"]; got.Name != "xikou" {
		t.Errorf("prefix 330213100 is %q's", got.Name)
	}
	want := map[string][]string{
		"xikou/disclosure": {"10.0.0.1:8080", "10.0.0.2:8080"},
		"xikou/complaint":  {"10.0.0.4:8081"},
		"xikou/inspection": {"[fd00::1]:8080"},
	}
	if len(tb.pools) != len(want) {
		t.Errorf("pools %v, want %v", keys(tb.pools), want)
	}
	for key, addrs := range want {
		p, ok := tb.pools[key]
		if !ok || len(p.urls) != len(addrs) {
			t.Errorf("%s: %v, want %v", key, p, addrs)
			continue
		}
		for i, a := range addrs {
			if p.urls[i].Host != a || p.urls[i].Scheme != "http" {
				t.Errorf("%s[%d] = %s, want http://%s", key, i, p.urls[i].String(), a)
			}
		}
	}
	// Round robin: successive picks go round the pods.
	p := tb.pools["xikou/disclosure"]
	if a, b, c := p.pick().Host, p.pick().Host, p.pick().Host; a == b || a != c {
		t.Errorf("picks %s %s %s, want alternating", a, b, c)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A rebuilt table keeps each pool's turn: a rebuild (any Town or slice
// change) between two requests must not send the next one to the first pod
// again.
func TestRebuildKeepsRoundRobin(t *testing.T) {
	towns := []wuxiaov1.Town{tableTown("xikou", "fenghua", "330213100000")}
	http := map[string]int32{"http": 8080}
	pods := func(addrs ...string) []discoveryv1.EndpointSlice {
		var eps []tableEndpoint
		for _, a := range addrs {
			eps = append(eps, tableEndpoint{addr: a})
		}
		return []discoveryv1.EndpointSlice{tableSlice("town-xikou", ServiceDisclosure, http, eps...)}
	}
	key := "xikou/" + ServiceDisclosure
	cases := []struct {
		name          string
		before, after []discoveryv1.EndpointSlice
		want          string // the pod of the request after the rebuild
	}{
		{"same pods", pods("10.0.0.1", "10.0.0.2"), pods("10.0.0.1", "10.0.0.2"), "10.0.0.2:8080"},
		{"a pod added", pods("10.0.0.1", "10.0.0.2"), pods("10.0.0.1", "10.0.0.2", "10.0.0.3"), "10.0.0.2:8080"},
		{"a new pool starts at its first pod", nil, pods("10.0.0.1", "10.0.0.2"), "10.0.0.1:8080"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := buildTable("fenghua", towns, tc.before, "", slog.Default())
			if p := old.pools[key]; p != nil {
				p.pick() // one request before the rebuild
			}
			rebuilt := buildTable("fenghua", towns, tc.after, "", slog.Default())
			keepTurns(old, rebuilt)
			if got := rebuilt.pools[key].pick().Host; got != tc.want {
				t.Errorf("request after the rebuild to %s, want %s", got, tc.want)
			}
		})
	}
}
