package gateway

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
	"github.com/wuxiao/wuxiao/services/internal/telemetry/metricstest"
)

// The gateway's RED metrics, as cmd/gateway sets it up: every request is
// counted under the route pattern it matched, with its method and status,
// in http_server_request_duration_seconds; the village codes, tracking
// codes and subpaths of the requests never become labels, and a path that
// matched no route is counted without an http_route. A town whose pods fail
// is named by wuxiao_gateway_upstream_failures_total.
func TestGatewayREDByRoute(t *testing.T) {
	tp, mp, prop := otel.GetTracerProvider(), otel.GetMeterProvider(), otel.GetTextMapPropagator()
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "wuxiao-gateway", District: "fenghua"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = tel.Shutdown(context.Background())
		otel.SetTracerProvider(tp)
		otel.SetMeterProvider(mp)
		otel.SetTextMapPropagator(prop)
	})

	pods := allPods(t)
	backends := NewStaticBackends()
	for _, town := range []Town{{Name: "xikou", Code: "330213100000", DisplayName: "溪口镇"}, {Name: "jinping", Code: "330213001000", DisplayName: "锦屏街道"}} {
		urls := map[string]string{}
		for key, p := range pods {
			if tn, service, _ := strings.Cut(key, "/"); tn == town.Name {
				urls[service] = p.srv.URL
			}
		}
		if err := backends.AddTown(town, urls); err != nil {
			t.Fatal(err)
		}
	}
	// A third town whose disclosure pod is gone and which has no complaint
	// pod at all.
	gone := httptest.NewServer(nil)
	gone.Close()
	if err := backends.AddTown(Town{Name: "shangtian", Code: "330213102000", DisplayName: "尚田镇"},
		map[string]string{ServiceDisclosure: gone.URL}); err != nil {
		t.Fatal(err)
	}
	const shangtianVillage = "330213102201"
	log := slog.New(slog.DiscardHandler)
	g, err := New(Config{District: "fenghua", DistrictName: "奉化区", KratosPublicURL: "http://127.0.0.1:1"}, backends, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.New(config.Base{Service: "gateway", District: "fenghua"}, log, tel)
	g.Register(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	const secret = "zz-private-subpath"
	requests := []struct {
		method, path string
	}{
		{"GET", "/v/" + xikouVillage},
		{"GET", "/v/" + xikouVillage},
		{"GET", "/v/" + jinpingVillage + "/" + secret},
		{"GET", "/r/" + xikouVillage},
		{"GET", "/r/track/" + xikouCode},
		{"GET", "/v/330213999999"}, // no such village: 404 under its route
		{"GET", "/" + secret + "/no-route"},
		{"GET", "/v/" + shangtianVillage + "/" + secret}, // 502
		{"GET", "/r/" + shangtianVillage},                // 503
		{"GET", "/r/" + shangtianVillage},                // 503
	}
	for _, rq := range requests {
		pubDo(t, rq.method, ts.URL+rq.path, "", "")
	}

	page := metricstest.Scrape(t, srv.MetricsHandler())
	const family = "http_server_request_duration_seconds"
	if page.Types[family] != "histogram" {
		t.Fatalf("# TYPE %s is %q, want histogram", family, page.Types[family])
	}
	for _, tc := range []struct {
		route, status string
		want          float64
	}{
		{"/v/{village}", "200", 2},
		{"/v/{village}/{rest...}", "200", 1},
		{"/r/{village}", "200", 1},
		{"/r/track/{code}", "200", 1},
		{"/v/{village}", "404", 1},
		{"", "404", 1}, // the path that matched no route: counted without a route
		{"/v/{village}/{rest...}", "502", 1},
		{"/r/{village}", "503", 2},
	} {
		n, ok := page.Value(family+"_count", "http_route", tc.route, "http_request_method", "GET",
			"http_response_status_code", tc.status, "wuxiao_district", "fenghua", "wuxiao_town", "")
		if !ok || n != tc.want {
			t.Errorf("%s_count{http_route=%q, status %s} = %v (%v), want %v", family, tc.route, tc.status, n, ok, tc.want)
		}
	}
	// Which town failed its villagers, which the routes do not say.
	const upstream = "wuxiao_gateway_upstream_failures_total"
	if page.Types[upstream] != "counter" {
		t.Errorf("# TYPE %s is %q, want counter", upstream, page.Types[upstream])
	}
	for _, tc := range []struct {
		service, reason string
		want            float64
	}{
		{ServiceDisclosure, "unreachable", 1},
		{ServiceComplaint, "no_ready_pod", 2},
	} {
		n, ok := page.Value(upstream, "town", "shangtian", "service", tc.service, "reason", tc.reason, "wuxiao_district", "fenghua")
		if !ok || n != tc.want {
			t.Errorf("%s{town=shangtian, service=%s, reason=%s} = %v (%v), want %v", upstream, tc.service, tc.reason, n, ok, tc.want)
		}
	}
	if n, _ := page.Value(upstream); n != 3 {
		t.Errorf("%s: %v in all, want 3 (the healthy towns and the unknown village count nothing)", upstream, n)
	}
	for _, s := range page.Samples {
		for k, v := range s.Labels {
			for _, leak := range []string{xikouVillage, jinpingVillage, shangtianVillage, xikouCode, secret, "330213999999"} {
				if strings.Contains(v, leak) {
					t.Errorf("%s: label %s=%q holds a request's path", s.Name, k, v)
				}
			}
		}
	}
	if t.Failed() {
		for _, s := range page.Find(family + "_count") {
			t.Logf("%s %v %v", s.Name, s.Labels, s.Value)
		}
	}
}
