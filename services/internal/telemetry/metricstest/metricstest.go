// Package metricstest reads a /metrics page the way Prometheus does, so that
// tests assert the names and labels an SRE's queries will use (with the
// suffixes the OpenTelemetry exporter appends), not the instrument names
// in the code.
package metricstest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Sample is one series of a scrape.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Page is a parsed /metrics page.
type Page struct {
	Text    string
	Samples []Sample
	Types   map[string]string // metric family -> counter, gauge, histogram, ...
}

// Scrape GETs /metrics from h (a service's metrics handler) and parses it.
func Scrape(t testing.TB, h http.Handler) Page {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", rec.Code, rec.Body)
	}
	body, _ := io.ReadAll(rec.Body)
	p, err := Parse(string(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return p
}

var (
	lineRE  = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$`)
	labelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// Parse reads the Prometheus text format (what promhttp serves without
// content negotiation).
func Parse(text string) (Page, error) {
	p := Page{Text: text, Types: map[string]string{}}
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if f := strings.Fields(rest); len(f) == 2 {
				p.Types[f[0]] = f[1]
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			return p, &parseError{line}
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return p, &parseError{line}
		}
		s := Sample{Name: m[1], Labels: map[string]string{}, Value: v}
		for _, l := range labelRE.FindAllStringSubmatch(m[2], -1) {
			val := strings.NewReplacer(`\"`, `"`, `\n`, "\n", `\\`, `\`).Replace(l[2])
			s.Labels[l[1]] = val
		}
		p.Samples = append(p.Samples, s)
	}
	return p, nil
}

type parseError struct{ line string }

func (e *parseError) Error() string { return "not a sample line: " + e.line }

// Find returns the series named name whose labels include every
// key=value pair in labels (given as "key", "value", ...). As in PromQL,
// key="" matches a series without that label (Prometheus drops empty ones).
func (p Page) Find(name string, labels ...string) []Sample {
	var out []Sample
next:
	for _, s := range p.Samples {
		if s.Name != name {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if s.Labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// Value is the sum of the series Find returns, and whether there was any.
func (p Page) Value(name string, labels ...string) (float64, bool) {
	ss := p.Find(name, labels...)
	var v float64
	for _, s := range ss {
		v += s.Value
	}
	return v, len(ss) > 0
}

// Has reports whether any series of the metric family exists (histograms:
// name_bucket/_sum/_count count as the family name).
func (p Page) Has(family string) bool {
	for _, s := range p.Samples {
		if s.Name == family || s.Name == family+"_bucket" || s.Name == family+"_count" || s.Name == family+"_sum" {
			return true
		}
	}
	return false
}
