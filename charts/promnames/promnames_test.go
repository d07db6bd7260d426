package promnames

import (
	"reflect"
	"testing"
)

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`wuxiao_resource_condition{kind=~"District|Town", type="Ready"} != 1`, []string{"wuxiao_resource_condition"}},
		{`absent(wuxiao_resource_condition{kind="District"})`, []string{"wuxiao_resource_condition"}},
		{`sum by (wuxiao_district, wuxiao_town) (increase(wuxiao_events_consumed_total{outcome="dead-lettered"}[15m])) > 0`,
			[]string{"wuxiao_events_consumed_total"}},
		{"sum by (a, b) (increase(x_total[5m])) > 0\nunless\nsum by (a, b) (increase(y_total[5m])) > 0", []string{"x_total", "y_total"}},
		{`histogram_quantile(0.95, sum by (service, le) (rate(http_server_request_duration_seconds_bucket{wuxiao_town="$town"}[5m])))`,
			[]string{"http_server_request_duration_seconds_bucket"}},
		{`count(ALERTS{alertname=~"Wuxiao.*", alertstate="firing"}) or vector(0)`, []string{"ALERTS"}},
		{`sum(rate(a[5m])) by (le) / on (le) group_left (x) b offset 1h`, []string{"a", "b"}},
		{`max_over_time(rate(c_total[1m])[10m:30s]) * 1e3 + 2.5e-1`, []string{"c_total"}},
		{`label_values(wuxiao_resource_condition{kind="Town"}, name)`, []string{"wuxiao_resource_condition"}},
		{`rate(process_cpu_seconds_total{job=~".*operator.*"}[5m]) and bool inf`, []string{"process_cpu_seconds_total"}},
		{`{__name__="x"}`, nil},
	}
	for _, tc := range tests {
		if got := MetricNames(tc.expr); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("MetricNames(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

func TestBaseName(t *testing.T) {
	for in, want := range map[string]string{
		"http_server_request_duration_seconds_bucket": "http_server_request_duration_seconds",
		"x_count": "x", "x_sum": "x", "wuxiao_events_consumed_total": "wuxiao_events_consumed_total",
	} {
		if got := BaseName(in); got != want {
			t.Errorf("BaseName(%q) = %q, want %q", in, got, want)
		}
	}
}
