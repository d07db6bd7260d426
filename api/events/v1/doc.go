// Package eventsv1 is the public contract of the events Wuxiao's services and
// operator exchange over Kafka: CloudEvents 1.0 in Kafka binary mode.
//
// On the wire, each event is one Kafka message whose
//   - key is the village code (12 digits), so that one village's events stay
//     in order; events about a town as a whole use the town code;
//   - headers carry the CloudEvents attributes with the ce_ prefix
//     (ce_specversion, ce_id, ce_source, ce_type, ce_time, ce_subject,
//     ce_dataschema), the extensions ce_town and ce_village, content-type
//     (always application/json), and the W3C trace context (traceparent,
//     tracestate) so that a consumer's span continues the producer's trace;
//   - value is the event's data: the JSON document of the type's payload.
//
// Types are versioned in their name (…​.v1); a breaking change is a new
// type, published beside the old one until every consumer has moved.
// Delivery is at least once: consumers deduplicate by ce_id.
package eventsv1
