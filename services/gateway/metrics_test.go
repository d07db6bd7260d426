package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// No request through the gateway reaches a town's /metrics (nor the
// gateway's own): the metrics show every route, town and traffic figure
// and are for the monitoring namespace alone. The towns' pods here are
// real httpapi servers with their registries, as the services run them.
func TestGatewayDoesNotServeMetrics(t *testing.T) {
	pods := map[string]*pubPod{}
	for _, town := range []string{"xikou", "jinping"} {
		for _, s := range []string{ServiceDisclosure, ServiceComplaint, ServiceWorkflow} {
			tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "wuxiao-" + s, Town: town, District: "fenghua"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
			srv := httpapi.New(config.Base{Service: s, Town: town}, slog.New(slog.DiscardHandler), tel)
			page := httpapi.Public(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "page") }))
			for _, p := range []string{"GET /v/{village}", "GET /v/{village}/{rest...}", "GET /r/{village}", "GET /v1/public/villages/{village}/{rest...}"} {
				srv.Handle(p, page)
			}
			ts := httptest.NewServer(srv.Handler())
			t.Cleanup(ts.Close)
			// The registry has something to show, so a leak would be seen.
			if res, err := http.Get(ts.URL + "/v/" + xikouVillage); err == nil {
				res.Body.Close()
			}
			pods[town+"/"+s] = &pubPod{name: town + "/" + s, srv: ts}
		}
	}
	env := startPubGateway(t, Config{}, pods)
	for _, tc := range []struct {
		path string
		want int // 200: a portal subpage of that name, not the metrics
	}{
		{"/metrics", 404},
		{"/metrics/", 404},
		{"//metrics", 404},
		{"/v/" + xikouVillage + "/../../metrics", 404}, // cleaned to /metrics
		{"/r/" + jinpingVillage + "/../../metrics", 404},
		// Encoded dots and slashes are not cleaned (by the gateway nor
		// the town): they name a portal subpage.
		{"/v/" + xikouVillage + "/%2e%2e/%2e%2e/metrics", 200},
		{"/v/" + xikouVillage + "/..%2f..%2fmetrics", 200},
		{"/v1/public/villages/" + xikouVillage + "/..%2F..%2F..%2F..%2Fmetrics", 200},
		{"/v/" + xikouVillage + "/metrics", 200},
	} {
		t.Run(tc.path, func(t *testing.T) {
			// A browser follows redirects: the answer at the end counts.
			res, err := http.Get(env.url + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			leaked := strings.Contains(string(b), "# TYPE") || strings.Contains(string(b), "wuxiao_town")
			if leaked || res.StatusCode != tc.want || (tc.want == 200 && string(b) != "page") {
				t.Errorf("GET %s through the gateway: %d %.40q (metrics in the body: %v), want %d", tc.path, res.StatusCode, b, leaked, tc.want)
			}
		})
	}
	// The towns' registries are there, on the metrics listener.
	rec := httptest.NewRecorder()
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "wuxiao-disclosure", Town: "xikou", District: "fenghua"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	httpapi.New(config.Base{Service: "disclosure"}, slog.New(slog.DiscardHandler), tel).MetricsHandler().
		ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "# TYPE") {
		t.Errorf("metrics listener: %d", rec.Code)
	}
}
