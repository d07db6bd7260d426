package gateway

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The gateway's RED metrics by route are every httpapi server's
// (http_server_request_duration_seconds, labelled with the route pattern,
// never the path). What only the gateway sees is which town failed its
// villagers: a 502 or 503 on a route does not say which town's pods were
// down, this counter does.

// Reasons a request could not be passed to a town's pod.
const (
	upstreamNoReadyPod  = "no_ready_pod" // 503: the town has no ready pod of the service
	upstreamUnreachable = "unreachable"  // 502: the pod did not answer
)

type gatewayMetrics struct {
	upstreamFailures metric.Int64Counter
}

// newGatewayMetrics uses the global meter provider, which
// telemetry.Setup sets in cmd/gateway before the gateway is built.
func newGatewayMetrics() gatewayMetrics {
	m := otel.GetMeterProvider().Meter("github.com/wuxiao/wuxiao/services/gateway")
	c, err := m.Int64Counter("wuxiao.gateway.upstream.failures",
		metric.WithDescription("Requests the gateway could not pass to a town's service: no ready pod (503) or the pod did not answer (502)"),
		metric.WithUnit("{request}"))
	if err != nil {
		otel.Handle(err)
	}
	return gatewayMetrics{upstreamFailures: c}
}

// upstreamFailed counts a failed pass to a town's pod. town is a town of
// the routing table, never a name taken from the request: the label set
// stays as small as the district.
func (m gatewayMetrics) upstreamFailed(ctx context.Context, town, service, reason string) {
	if m.upstreamFailures == nil {
		return
	}
	m.upstreamFailures.Add(ctx, 1, metric.WithAttributes(
		attribute.String("town", town), attribute.String("service", service), attribute.String("reason", reason)))
}
