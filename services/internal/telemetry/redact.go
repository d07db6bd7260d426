package telemetry

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Villagers who report a cadre must not be identifiable from the traces: the
// HTTP instrumentation records who called (client and peer addresses, user
// agent) and the raw path, which on the public status pages holds the
// reporter's tracking code. These are taken out at export, once for every
// service and every instrumentation library, rather than trusting each one
// to be configured right.

// droppedKeys are the attributes naming the caller, current and older
// semantic-convention names alike.
var droppedKeys = map[attribute.Key]bool{
	"client.address":      true,
	"client.port":         true,
	"user_agent.original": true,
	"user_agent.name":     true,
	"user_agent.version":  true,
	"http.client_ip":      true,
	"http.user_agent":     true,
	"net.sock.peer.addr":  true,
	"net.sock.peer.port":  true,
	"net.sock.peer.name":  true,
	"net.peer.ip":         true,
	"net.peer.name":       true,
	"net.peer.port":       true,
	"url.query":           true, // anything a client put there
}

// droppedPrefixes cover network.peer.address, network.peer.port and
// whatever else a newer convention adds under these namespaces.
var droppedPrefixes = []string{"network.peer.", "client."}

// pathKeys hold the request's raw path or URL; they become the route.
var pathKeys = map[attribute.Key]bool{
	"url.path":    true,
	"url.full":    true,
	"http.target": true,
	"http.url":    true,
}

const routeKey = attribute.Key("http.route")

// Redacted reports whether the exporter leaves k out (or, for the raw path
// and URL, replaces it with the route).
func Redacted(k attribute.Key) bool {
	if droppedKeys[k] || pathKeys[k] {
		return true
	}
	for _, p := range droppedPrefixes {
		if strings.HasPrefix(string(k), p) {
			return true
		}
	}
	return false
}

// RedactExporter wraps exp so that the spans it exports carry no attribute
// identifying the caller (client.address, network.peer.*, user_agent.*,
// http.client_ip and their older names), and the raw path or URL (url.path,
// url.full, http.target, http.url) only as the route (http.route) when the
// span has one. Span events and links are filtered the same way.
func RedactExporter(exp sdktrace.SpanExporter) sdktrace.SpanExporter {
	return redactingExporter{exp}
}

type redactingExporter struct{ sdktrace.SpanExporter }

func (e redactingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		out[i] = redactSpan(s)
	}
	return e.SpanExporter.ExportSpans(ctx, out)
}

// redactSpan returns s itself when nothing in it needs redacting (most
// spans: database, Kafka, internal), else a view with the filtered lists.
func redactSpan(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	attrs, changed := redactAttrs(s.Attributes()) // attrs: the original when unchanged
	events := s.Events()
	var newEvents []sdktrace.Event
	for i, ev := range events {
		if a, ok := redactAttrs(ev.Attributes); ok {
			if newEvents == nil {
				newEvents = append([]sdktrace.Event(nil), events...)
			}
			newEvents[i].Attributes = a
		}
	}
	links := s.Links()
	var newLinks []sdktrace.Link
	for i, l := range links {
		if a, ok := redactAttrs(l.Attributes); ok {
			if newLinks == nil {
				newLinks = append([]sdktrace.Link(nil), links...)
			}
			newLinks[i].Attributes = a
		}
	}
	if !changed && newEvents == nil && newLinks == nil {
		return s
	}
	r := redactedSpan{ReadOnlySpan: s, attrs: attrs, events: events, links: links}
	if newEvents != nil {
		r.events = newEvents
	}
	if newLinks != nil {
		r.links = newLinks
	}
	return r
}

// redactAttrs filters kvs, reporting whether anything changed.
func redactAttrs(kvs []attribute.KeyValue) ([]attribute.KeyValue, bool) {
	hit := false
	route := ""
	for _, kv := range kvs {
		if Redacted(kv.Key) {
			hit = true
		}
		if kv.Key == routeKey {
			route = kv.Value.String()
		}
	}
	if !hit {
		return kvs, false
	}
	out := make([]attribute.KeyValue, 0, len(kvs))
	for _, kv := range kvs {
		switch {
		case pathKeys[kv.Key] && route != "":
			out = append(out, kv.Key.String(route))
		case Redacted(kv.Key):
		default:
			out = append(out, kv)
		}
	}
	return out, true
}

// redactedSpan is s with filtered attributes, events and links; the
// embedded interface supplies the rest (and ReadOnlySpan's private method).
type redactedSpan struct {
	sdktrace.ReadOnlySpan
	attrs  []attribute.KeyValue
	events []sdktrace.Event
	links  []sdktrace.Link
}

func (r redactedSpan) Attributes() []attribute.KeyValue { return r.attrs }
func (r redactedSpan) Events() []sdktrace.Event         { return r.events }
func (r redactedSpan) Links() []sdktrace.Link           { return r.links }
