package eventsv1

import "github.com/segmentio/kafka-go"

// Header names of the W3C trace context (https://www.w3.org/TR/trace-context/)
// in an event's Kafka headers. Every producer, the operator included, writes
// traceparent (and tracestate when there is one) of the span that sent the
// event; every consumer starts its processing span as a child of it, so that
// a sampled trace stays sampled end to end and an unsampled one stays
// unrecorded (the sampled flag is the last field of traceparent).
const (
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
)

// HeaderCarrier adapts an event's Kafka message headers to the
// OpenTelemetry propagation API (it is a propagation.TextMapCarrier), so
// that the operator and the services write and read the trace context
// headers above the same way. Each side keeps its own propagator.
type HeaderCarrier struct{ Headers *[]kafka.Header }

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string {
	for _, h := range *c.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set replaces key's value (a composite propagator may set it twice).
func (c HeaderCarrier) Set(key, value string) {
	for i, h := range *c.Headers {
		if h.Key == key {
			(*c.Headers)[i].Value = []byte(value)
			return
		}
	}
	*c.Headers = append(*c.Headers, kafka.Header{Key: key, Value: []byte(value)})
}

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(*c.Headers))
	for _, h := range *c.Headers {
		keys = append(keys, h.Key)
	}
	return keys
}
