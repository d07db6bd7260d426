package charts_test

import (
	"slices"
	"strings"
	"testing"
)

// The tracing values reach the operator's flags (--otlp-endpoint,
// --trace-sampling-ratio, see monitoring/tracing.md) when an endpoint is
// set; a ratio of 0 stays 0 and a malformed endpoint or ratio fails the
// schema.
func TestRenderTracing(t *testing.T) {
	ch := loadChart(t, chartDir)
	for _, tc := range []struct {
		name    string
		set     []string
		want    []string
		absent  string
		wantErr string
	}{
		{name: "defaults: nothing exported", absent: "--otlp-endpoint"},
		{name: "collector, every reconcile sampled", set: []string{"tracing.otlpEndpoint=https://collector.example.cn"},
			want: []string{"--otlp-endpoint=https://collector.example.cn", "--trace-sampling-ratio=1"}},
		{name: "collector and ratio", set: []string{"tracing.otlpEndpoint=http://otel-collector.monitoring:4318", "tracing.samplingRatio=0.25"},
			want: []string{"--otlp-endpoint=http://otel-collector.monitoring:4318", "--trace-sampling-ratio=0.25"}},
		{name: "ratio zero", set: []string{"tracing.otlpEndpoint=http://c:4318", "tracing.samplingRatio=0"}, want: []string{"--trace-sampling-ratio=0"}},
		{name: "endpoint without scheme", set: []string{"tracing.otlpEndpoint=otel-collector:4318"}, wantErr: "otlpEndpoint"},
		{name: "ratio above one", set: []string{"tracing.samplingRatio=2"}, wantErr: "samplingRatio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := render(t, ch, tc.set...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, _, c := managerContainer(t, r)
			for _, w := range tc.want {
				if !slices.Contains(c.Args, w) {
					t.Errorf("args %v lack %s", c.Args, w)
				}
			}
			if tc.absent != "" && slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, tc.absent) }) {
				t.Errorf("args %v have %s", c.Args, tc.absent)
			}
		})
	}
}
