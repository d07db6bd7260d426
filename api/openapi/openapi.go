// Package openapi holds the OpenAPI documents of the four town services,
// the contracts of their HTTP APIs, and the handler that serves them: each
// service answers GET /openapi.yaml with its own document.
//
// The documents are checked against the code: services/internal/routedocs
// fails when a route a service registers is not documented, or a
// documented operation is not served.
package openapi

import (
	_ "embed"
	"net/http"
)

// The documents, embedded. Read-only: they are served as they are.
var (
	//go:embed workflow.yaml
	Workflow []byte
	//go:embed disclosure.yaml
	Disclosure []byte
	//go:embed complaint.yaml
	Complaint []byte
	//go:embed inspection.yaml
	Inspection []byte
)

// Documents are the documents by service name.
var Documents = map[string][]byte{
	"workflow":   Workflow,
	"disclosure": Disclosure,
	"complaint":  Complaint,
	"inspection": Inspection,
}

// Handler serves doc as application/yaml.
func Handler(doc []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(doc)
	})
}
