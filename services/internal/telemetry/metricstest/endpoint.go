package metricstest

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// Endpoint is a /metrics endpoint as telemetry.Setup builds it (the
// OpenTelemetry Prometheus exporter on a private registry, the town and
// district as labels of every series) without installing global
// providers: instrument a service with the provider, read its page with
// scrape. Every wuxiao_ series of a scrape must carry the town and the
// district (the test fails otherwise).
func Endpoint(t testing.TB, town, district string) (mp *sdkmetric.MeterProvider, scrape func() Page) {
	t.Helper()
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg),
		otelprom.WithResourceAsConstantLabels(attribute.NewAllowKeysFilter(telemetry.TownKey, telemetry.DistrictKey)))
	if err != nil {
		t.Fatal(err)
	}
	mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp),
		sdkmetric.WithResource(resource.NewSchemaless(telemetry.TownKey.String(town), telemetry.DistrictKey.String(district))))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	return mp, func() Page {
		t.Helper()
		p := Scrape(t, h)
		for _, s := range p.Samples {
			if strings.HasPrefix(s.Name, "wuxiao_") && (s.Labels["wuxiao_town"] != town || s.Labels["wuxiao_district"] != district) {
				t.Errorf("%s%v lacks the town and district labels", s.Name, s.Labels)
			}
		}
		return p
	}
}

// Want is the value one series should have: the one series named Name
// whose labels include Labels (label "" matching an absent label, as Find).
type Want struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Check fails t, naming stage, for every want without exactly one series
// or with another value.
func Check(t testing.TB, stage string, p Page, wants []Want) {
	t.Helper()
	for _, w := range wants {
		var pairs []string
		for _, k := range slices.Sorted(maps.Keys(w.Labels)) {
			pairs = append(pairs, k, w.Labels[k])
		}
		switch found := p.Find(w.Name, pairs...); {
		case len(found) == 0:
			t.Errorf("%s: no series %s%v", stage, w.Name, w.Labels)
		case len(found) > 1:
			t.Fatalf("%s: %s%v: %d series, want one", stage, w.Name, w.Labels, len(found))
		case found[0].Value != w.Value:
			t.Errorf("%s: %s%v = %v, want %v", stage, w.Name, w.Labels, found[0].Value, w.Value)
		}
	}
}

// Setup is a service's telemetry as its cmd sets it up (telemetry.Setup,
// which installs the process-wide OpenTelemetry globals), for tests that
// need the real /metrics page of the whole service; the previous globals
// are put back when the test ends.
func Setup(t testing.TB, town, district string) *telemetry.Telemetry {
	t.Helper()
	tp, mp, prop := otel.GetTracerProvider(), otel.GetMeterProvider(), otel.GetTextMapPropagator()
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "wuxiao-test", Town: town, District: district})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = tel.Shutdown(context.Background())
		otel.SetTracerProvider(tp)
		otel.SetMeterProvider(mp)
		otel.SetTextMapPropagator(prop)
	})
	return tel
}
