package eventsv1

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
