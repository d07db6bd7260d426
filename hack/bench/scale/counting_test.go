package main

import (
	"net/http"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		method, url, ctype string
		want               reqKey
		ok                 bool
	}{
		{"GET", "/api/v1/namespaces/town-t001", "", reqKey{"GET", "", "namespaces", ""}, true},
		{"GET", "/api/v1/namespaces", "", reqKey{"LIST", "", "namespaces", ""}, true},
		{"GET", "/api/v1/namespaces/wuxiao-system/secrets/postgres-admin", "", reqKey{"GET", "", "secrets", ""}, true},
		{"GET", "/apis/apps/v1/deployments?watch=true&resourceVersion=1", "", reqKey{"WATCH", "apps", "deployments", ""}, true},
		{"GET", "/apis/apps/v1/watch/namespaces/x/deployments", "", reqKey{"WATCH", "apps", "deployments", ""}, true},
		{"GET", "/apis/wuxiao.io/v1alpha1/namespaces/town-t001/villages", "", reqKey{"LIST", "wuxiao.io", "villages", ""}, true},
		{"POST", "/apis/wuxiao.io/v1alpha1/namespaces/town-t001/villages", "", reqKey{"CREATE", "wuxiao.io", "villages", ""}, true},
		{"POST", "/api/v1/namespaces", "", reqKey{"CREATE", "", "namespaces", ""}, true},
		{"PUT", "/apis/apps/v1/namespaces/town-t001/deployments/workflow/status", "", reqKey{"UPDATE", "apps", "deployments", "status"}, true},
		{"PUT", "/api/v1/namespaces/town-t001/finalize", "", reqKey{"UPDATE", "", "namespaces", "finalize"}, true},
		{"PATCH", "/apis/wuxiao.io/v1alpha1/towns/t001/status", "application/merge-patch+json", reqKey{"PATCH", "wuxiao.io", "towns", "status"}, true},
		{"PATCH", "/apis/wuxiao.io/v1alpha1/towns/t001", "application/apply-patch+yaml", reqKey{"APPLY", "wuxiao.io", "towns", ""}, true},
		{"DELETE", "/apis/wuxiao.io/v1alpha1/namespaces/town-t001/villages/v001", "", reqKey{"DELETE", "wuxiao.io", "villages", ""}, true},
		{"DELETE", "/apis/wuxiao.io/v1alpha1/namespaces/town-t001/villages", "", reqKey{"DELETECOLLECTION", "wuxiao.io", "villages", ""}, true},
		{"GET", "/apis", "", reqKey{}, false},
		{"GET", "/apis/wuxiao.io/v1alpha1", "", reqKey{}, false},
		{"GET", "/api/v1", "", reqKey{}, false},
		{"GET", "/metrics", "", reqKey{}, false},
	} {
		req, err := http.NewRequest(c.method, "https://127.0.0.1:6443"+c.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		got, ok := classify(req)
		if ok != c.ok || got != c.want {
			t.Errorf("%s %s: got %v %v, want %v %v", c.method, c.url, got, ok, c.want, c.ok)
		}
	}
}

const sampleMetrics = `# HELP apiserver_request_total [STABLE] Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="wuxiao.io",resource="villages",scope="resource",subresource="",verb="POST",version="v1alpha1"} 10
apiserver_request_total{code="409",component="apiserver",dry_run="",group="wuxiao.io",resource="villages",scope="resource",subresource="",verb="POST",version="v1alpha1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="wuxiao.io",resource="towns",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="cluster",subresource="",verb="WATCH",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="All",group="",resource="configmaps",scope="resource",subresource="",verb="POST",version="v1"} 5
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="",scope="",subresource="/metrics",verb="GET",version=""} 4
apiserver_longrunning_requests{component="apiserver",group="",resource="configmaps",scope="cluster",subresource="",verb="WATCH",version="v1"} 2
apiserver_selfrequest_total{group="",resource="configmaps",subresource="",verb="WATCH"} 1
`

func TestParseMetrics(t *testing.T) {
	s, err := parseMetrics([]byte(sampleMetrics), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	create := reqKey{"CREATE", "wuxiao.io", "villages", ""}
	watch := reqKey{"WATCH", "", "configmaps", ""}
	if got := s.Total.ByKey[create]; got != 12 {
		t.Errorf("CREATE villages = %v, want 12 (POST is CREATE, codes summed)", got)
	}
	if got := s.Total.ByKey[reqKey{"PATCH", "wuxiao.io", "towns", "status"}]; got != 7 {
		t.Errorf("PATCH towns/status = %v, want 7", got)
	}
	if got := s.Total.ByKey[reqKey{"CREATE", "", "configmaps", ""}]; got != 0 {
		t.Errorf("dry-run requests counted: %v", got)
	}
	if s.Total.ByCode["409"] != 2 || s.Total.ByCode["201"] != 10 {
		t.Errorf("by code = %v", s.Total.ByCode)
	}
	if s.Open[watch] != 2 || s.Self[watch] != 1 {
		t.Errorf("open = %v, self = %v", s.Open, s.Self)
	}
	if len(s.Total.ByKey) != 3 {
		t.Errorf("non-resource or dry-run series kept: %v", s.Total.ByKey)
	}

	// Two watches complete and one more opens between a and b, one of the
	// completed ones being the API server's own: 3 started, 1 of them ours
	// to subtract elsewhere, 1 the server's.
	b := s
	b.Total = s.Total.clone()
	b.Total.ByKey[watch] += 2
	b.Open = map[reqKey]float64{watch: 3}
	b.Self = map[reqKey]float64{watch: 2}
	if got := started(s, b).ByKey[watch]; got != 2 {
		t.Errorf("watches started = %v, want 2 (2 completed + 1 more open - 1 self)", got)
	}
}
