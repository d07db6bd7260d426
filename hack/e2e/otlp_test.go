//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// span is what the tests look at of an exported span.
type span struct {
	TraceID string `json:"traceId"`
	SpanID  string `json:"spanId"`
	Parent  string `json:"parentSpanId"`
	Name    string `json:"name"`
	Service string `json:"service"`
	// Events recorded on the span (e.g. rating.changed), with attributes.
	Events     []spanEvent    `json:"events"`
	Attributes map[string]any `json:"attributes"`
	Links      []struct {
		TraceID string `json:"traceId"`
		SpanID  string `json:"spanId"`
	} `json:"links"`
}

type spanEvent struct {
	Name       string         `json:"name"`
	Attributes map[string]any `json:"attributes"`
}

// traceSink reads spans from hack/otlp-sink, which hack/district.sh runs
// where the District's telemetry.otlpEndpoint points: the pods' exporters
// deliver there, and this test asks it for one trace's spans.
type traceSink struct {
	base string
	http *http.Client
}

func newTraceSink(base string) (*traceSink, error) {
	s := &traceSink{base: base, http: &http.Client{Timeout: 10 * time.Second}}
	resp, err := s.http.Get(base + "/healthz")
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s/healthz: status %d", base, resp.StatusCode)
	}
	return s, nil
}

// trace returns the spans of one trace received so far (none on error: the
// callers poll).
func (s *traceSink) trace(id string) []span { return s.spans("trace=" + url.QueryEscape(id)) }

// linkedTo returns the spans, of any trace, that link to trace id: a public
// endpoint starts a trace of its own, linked to the one the client sent.
func (s *traceSink) linkedTo(id string) []span { return s.spans("linked=" + url.QueryEscape(id)) }

func (s *traceSink) spans(query string) []span {
	resp, err := s.http.Get(s.base + "/api/spans?" + query)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out []span
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return nil
	}
	return out
}
