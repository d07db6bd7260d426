package routedocs

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/wuxiao/wuxiao/api/openapi"
	"github.com/wuxiao/wuxiao/services/complaint"
	"github.com/wuxiao/wuxiao/services/disclosure"
	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/workflow"
)

// undocumented are registered routes that are not operations of a
// service's API, each with why.
var undocumented = map[string]string{
	// httpapi.New registers these on every server: the kubelet's probes.
	"GET " + httpapi.HealthzPath: "probe",
	"GET " + httpapi.ReadyzPath:  "probe",
	// The portal's catch-all: any other page under a village is a Chinese
	// 404 page (an OpenAPI path parameter cannot span segments).
	"GET /v/{village}/{rest...}": "catch-all not-found page",
}

// documentedAs are registered routes whose documented path differs from
// the pattern: Open311's paths end in .json after a parameter, which a
// ServeMux wildcard cannot (the handler takes the .json off {file}).
var documentedAs = map[string]string{
	"GET /open311/v2/services/{file}": "GET /open311/v2/services/{service_code}.json",
	"GET /open311/v2/requests/{file}": "GET /open311/v2/requests/{service_request_id}.json",
}

// TestRoutesDocumented registers each service's routes, as its binary does
// (registering touches no database), and compares them with its document.
func TestRoutesDocumented(t *testing.T) {
	for _, tc := range []struct {
		service string
		doc     []byte
		routes  func(*httpapi.Server)
	}{
		{"workflow", openapi.Workflow, (&workflow.Service{}).Routes},
		{"disclosure", openapi.Disclosure, (&disclosure.Service{}).Routes},
		{"complaint", openapi.Complaint, complaint.NewAPI(&complaint.Service{}, nil).Routes},
		{"inspection", openapi.Inspection, (&inspection.Service{}).Routes},
	} {
		t.Run(tc.service, func(t *testing.T) {
			srv := httpapi.New(config.Base{Service: tc.service}, slog.New(slog.DiscardHandler), nil).
				WithAuthenticator(func(h http.Handler) http.Handler { return h })
			tc.routes(srv)

			registered := map[string]bool{}
			for _, r := range srv.Routes() {
				if _, ok := undocumented[r.Pattern]; ok {
					continue
				}
				op := operation(r.Pattern)
				if as, ok := documentedAs[op]; ok {
					op = as
				}
				registered[op] = true
			}
			documented := operations(t, tc.doc)
			for _, op := range sorted(registered) {
				if !documented[op] {
					t.Errorf("%s registers %s, which api/openapi/%s.yaml does not document", tc.service, op, tc.service)
				}
			}
			for _, op := range sorted(documented) {
				if !registered[op] {
					t.Errorf("api/openapi/%s.yaml documents %s, which %s does not serve", tc.service, op, tc.service)
				}
			}

			// The document is served as it is, where it always was.
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			res, err := http.Get(ts.URL + "/openapi.yaml")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/yaml" || !bytes.Equal(body, tc.doc) {
				t.Errorf("GET /openapi.yaml: %d %s, %d bytes; want 200 application/yaml, the %d bytes of api/openapi/%s.yaml",
					res.StatusCode, res.Header.Get("Content-Type"), len(body), len(tc.doc), tc.service)
			}
		})
	}
}

// wildcard is a ServeMux wildcard: {name}, {name...} or {$}.
var wildcard = regexp.MustCompile(`\{(\$|[^}.]+)(\.\.\.)?\}`)

// operation turns a ServeMux pattern, "GET /v1/x/{id}", into the form an
// OpenAPI document names an operation with: "GET /v1/x/{id}". {$} (the
// exact path with its trailing slash) becomes nothing; {name...} becomes
// {name}.
func operation(pattern string) string {
	return wildcard.ReplaceAllStringFunc(pattern, func(w string) string {
		m := wildcard.FindStringSubmatch(w)
		if m[1] == "$" {
			return ""
		}
		return "{" + m[1] + "}"
	})
}

// methods are the OpenAPI path item keys that are operations.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operations lists a document's operations as "METHOD /path".
func operations(t *testing.T, doc []byte) map[string]bool {
	t.Helper()
	var d struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := yaml.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.") || len(d.Paths) == 0 {
		t.Fatalf("not an OpenAPI 3 document with paths (openapi: %q, %d paths)", d.OpenAPI, len(d.Paths))
	}
	out := map[string]bool{}
	for path, item := range d.Paths {
		for key := range item {
			if slices.Contains(methods, key) {
				out[strings.ToUpper(key)+" "+path] = true
			}
		}
	}
	return out
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
