// Package domainerr is the services' one vocabulary of domain errors: a
// refusal with its HTTP status (Error), rejected fields (FieldError,
// FieldErrors), and their mapping to RFC 9457 problem details, written once
// (Problems). Domain code returns these without knowing HTTP; handlers pass
// whatever they get to Problems.Write.
package domainerr

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// Error is a refusal: the request is understood but the domain says no.
// Type is the problem type's slug (e.g. "not-on-the-list"), which
// Problems.Namespace and httpapi.ProblemBase prefix into a URI.
type Error struct {
	Status int
	Type   string
	Title  string
	Detail string
}

func (e *Error) Error() string { return e.Title + ": " + e.Detail }

// Refuse builds an *Error, its detail formatted as by fmt.Sprintf.
func Refuse(status int, typ, title, format string, args ...any) *Error {
	return &Error{Status: status, Type: typ, Title: title, Detail: fmt.Sprintf(format, args...)}
}

// FieldError is one rejected input field. Field is its name as in JSON (or a
// dotted path); Code, when set, is a stable English identifier for logs,
// tests and clients; Message says what is wrong (Chinese where a page shows
// it). A *FieldError is an error, so a fixed one can be a sentinel value
// for errors.Is.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

func (e *FieldError) Error() string {
	if e.Code != "" {
		return e.Field + ": " + e.Code + " (" + e.Message + ")"
	}
	return e.Field + ": " + e.Message
}

// FieldErrors are every rejected field of one request, so that a client
// (or a page) can show all problems at once.
type FieldErrors []*FieldError

func (fe FieldErrors) Error() string {
	parts := make([]string, len(fe))
	for i, e := range fe {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Add records a problem with field, its message formatted as by fmt.Sprintf.
func (fe *FieldErrors) Add(field, format string, args ...any) {
	*fe = append(*fe, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Has reports whether field has a problem.
func (fe FieldErrors) Has(field string) bool {
	return slices.ContainsFunc(fe, func(e *FieldError) bool { return e.Field == field })
}

// Err is fe as an error, or nil when there is no problem (a nil
// FieldErrors in an error interface would not be nil).
func (fe FieldErrors) Err() error {
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// Problems maps one service's domain errors to problem details.
type Problems struct {
	// Namespace comes between httpapi.ProblemBase and an Error's Type in
	// the problem type URI ("workflow/"); empty, the Type follows the base.
	Namespace string
	// NotFound is the service's "no such thing" error (errors.Is), answered
	// with a 404 whose detail is NotFoundDetail.
	NotFound       error
	NotFoundDetail string
}

// Problem is err as a problem: FieldErrors or a *FieldError as a 422
// listing the fields, an *Error with its own status and type, NotFound as a
// 404, an *httpapi.Problem as it is; anything else is nil (an internal
// error, which WriteError logs and hides).
func (p Problems) Problem(err error) *httpapi.Problem {
	var fe FieldErrors
	var one *FieldError
	var de *Error
	var hp *httpapi.Problem
	switch {
	case errors.As(err, &fe):
		return httpapi.ValidationFailed(fields(fe)...)
	case errors.As(err, &one):
		return httpapi.ValidationFailed(fields(FieldErrors{one})...)
	case errors.As(err, &de):
		return &httpapi.Problem{Type: httpapi.ProblemBase + p.Namespace + de.Type, Title: de.Title, Status: de.Status, Detail: de.Detail}
	case p.NotFound != nil && errors.Is(err, p.NotFound):
		return httpapi.NotFound(p.NotFoundDetail)
	case errors.As(err, &hp):
		return hp
	}
	return nil
}

// Write answers err as a problem (see Problem); anything else is a 500
// whose cause is logged, never shown.
func (p Problems) Write(w http.ResponseWriter, r *http.Request, err error) {
	if prob := p.Problem(err); prob != nil {
		httpapi.WriteProblem(w, r, prob)
		return
	}
	httpapi.WriteError(w, r, err)
}

func fields(fe FieldErrors) []httpapi.FieldError {
	out := make([]httpapi.FieldError, len(fe))
	for i, e := range fe {
		out[i] = httpapi.FieldError{Field: e.Field, Detail: e.Message}
	}
	return out
}
