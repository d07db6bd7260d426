package events

// probe, when set, is told each time an event reaches a phase of the relay
// or of the consumer (e.g. "relay.read", "consumer.begun"). Only
// BenchmarkLatency/outbox-phases sets it, before the relay and consumer
// start and after they stopped, to say where a slow event's time went;
// nil otherwise, so it costs a nil check.
var probe func(point string)

func mark(point string) {
	if probe != nil {
		probe(point)
	}
}
