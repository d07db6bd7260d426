package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ProblemBase is the prefix of every problem type URI this package issues.
const ProblemBase = "https://wuxiao.dev/problems/"

// Problem type URIs (see the package documentation for their meaning).
const (
	TypeBadRequest           = ProblemBase + "bad-request"
	TypeMalformedJSON        = ProblemBase + "malformed-json"
	TypeInvalidFieldType     = ProblemBase + "invalid-field-type"
	TypeUnknownField         = ProblemBase + "unknown-field"
	TypeValidation           = ProblemBase + "validation"
	TypeUnsupportedMediaType = ProblemBase + "unsupported-media-type"
	TypeBodyTooLarge         = ProblemBase + "body-too-large"
	TypeUnauthenticated      = ProblemBase + "unauthenticated"
	TypeForbidden            = ProblemBase + "forbidden"
	TypeNotFound             = ProblemBase + "not-found"
	TypeMethodNotAllowed     = ProblemBase + "method-not-allowed"
	TypeConflict             = ProblemBase + "conflict"
	TypeTooManyRequests      = ProblemBase + "too-many-requests"
	TypeInternal             = ProblemBase + "internal"
	TypeNotReady             = ProblemBase + "not-ready"
	TypeShuttingDown         = ProblemBase + "shutting-down"
)

// Problem is an RFC 9457 problem details object. Extensions are marshalled
// as members of the object itself, beside the standard ones (which they
// cannot override). A *Problem is an error, so domain code can return one
// and handlers can pass it to WriteError.
type Problem struct {
	Type       string
	Title      string
	Status     int
	Detail     string
	Instance   string
	Extensions map[string]any
}

// Error implements error.
func (p *Problem) Error() string {
	if p.Detail != "" {
		return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
	}
	return fmt.Sprintf("%d %s", p.Status, p.Title)
}

// With returns a copy of p with the extension member key set.
func (p *Problem) With(key string, value any) *Problem {
	c := *p
	c.Extensions = maps.Clone(p.Extensions)
	if c.Extensions == nil {
		c.Extensions = map[string]any{}
	}
	c.Extensions[key] = value
	return &c
}

var standardMembers = map[string]bool{"type": true, "title": true, "status": true, "detail": true, "instance": true}

// MarshalJSON writes the standard members and the extensions in one object.
func (p Problem) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(p.Extensions)+5)
	for k, v := range p.Extensions {
		if !standardMembers[k] {
			m[k] = v
		}
	}
	m["type"] = p.Type
	if p.Type == "" {
		m["type"] = "about:blank"
	}
	m["title"] = p.Title
	m["status"] = p.Status
	if p.Detail != "" {
		m["detail"] = p.Detail
	}
	if p.Instance != "" {
		m["instance"] = p.Instance
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads a problem, keeping unknown members as extensions (for
// clients and tests).
func (p *Problem) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*p = Problem{}
	for k, raw := range m {
		var err error
		switch k {
		case "type":
			err = json.Unmarshal(raw, &p.Type)
		case "title":
			err = json.Unmarshal(raw, &p.Title)
		case "status":
			err = json.Unmarshal(raw, &p.Status)
		case "detail":
			err = json.Unmarshal(raw, &p.Detail)
		case "instance":
			err = json.Unmarshal(raw, &p.Instance)
		default:
			var v any
			err = json.Unmarshal(raw, &v)
			if p.Extensions == nil {
				p.Extensions = map[string]any{}
			}
			p.Extensions[k] = v
		}
		if err != nil {
			return fmt.Errorf("problem member %q: %w", k, err)
		}
	}
	return nil
}

// WriteProblem writes p as application/problem+json with status p.Status.
// Instance defaults to the request path and a request_id member is added,
// so a user can quote it and an operator can find the request's log line.
func WriteProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	out := *p
	if out.Status == 0 {
		out.Status = http.StatusInternalServerError
	}
	if out.Title == "" {
		out.Title = http.StatusText(out.Status)
	}
	if r != nil {
		if out.Instance == "" && r.URL != nil {
			out.Instance = r.URL.Path
		}
		if id := RequestID(r.Context()); id != "" {
			if _, set := out.Extensions["request_id"]; !set {
				out = *out.With("request_id", id)
			}
		}
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(out); err != nil {
		// An extension that does not marshal: drop them all rather than fail.
		out.Extensions = nil
		buf.Reset()
		_ = json.NewEncoder(&buf).Encode(out)
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(out.Status)
	_, _ = w.Write(buf.Bytes())
}

// WriteStatusProblem writes a problem from its parts; its signature matches
// identity.ErrorWriter, so the authenticator's problems look like ours.
func WriteStatusProblem(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	WriteProblem(w, r, &Problem{Type: typeForStatus(status), Title: title, Status: status, Detail: detail})
}

func typeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return TypeBadRequest
	case http.StatusUnauthorized:
		return TypeUnauthenticated
	case http.StatusForbidden:
		return TypeForbidden
	case http.StatusNotFound:
		return TypeNotFound
	case http.StatusMethodNotAllowed:
		return TypeMethodNotAllowed
	case http.StatusConflict:
		return TypeConflict
	case http.StatusRequestEntityTooLarge:
		return TypeBodyTooLarge
	case http.StatusUnsupportedMediaType:
		return TypeUnsupportedMediaType
	case http.StatusUnprocessableEntity:
		return TypeValidation
	case http.StatusServiceUnavailable:
		return TypeNotReady
	case http.StatusTooManyRequests:
		return TypeTooManyRequests
	}
	if status >= 500 {
		return TypeInternal
	}
	return "about:blank"
}

// WriteError writes err as a problem: a *Problem (anywhere in err's chain)
// as it is, a database that cannot take the request now (read-only,
// restarting, unreachable) as a 503 with Retry-After, anything else as a
// 500 whose cause is logged but never shown.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var p *Problem
	if errors.As(err, &p) {
		WriteProblem(w, r, p)
		return
	}
	if DatabaseUnavailable(err) {
		writeUnavailable(w, r, err)
		return
	}
	Logger(r.Context()).ErrorContext(r.Context(), "request failed", "error", err.Error())
	WriteProblem(w, r, Internal())
}

// BadRequest is a 400 for a request that cannot be understood.
func BadRequest(detail string) *Problem {
	return &Problem{Type: TypeBadRequest, Title: "Bad request", Status: http.StatusBadRequest, Detail: detail}
}

// FieldError names one invalid field of a request, as a JSON pointer or a
// dotted path, and says what is wrong with it.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// ValidationFailed is a 422 for a well-formed request whose values are not
// acceptable; the fields are listed in the "errors" member.
func ValidationFailed(errs ...FieldError) *Problem {
	detail := "The request has invalid fields."
	if len(errs) == 1 {
		detail = errs[0].Field + ": " + errs[0].Detail
	}
	return (&Problem{Type: TypeValidation, Title: "Validation failed", Status: http.StatusUnprocessableEntity,
		Detail: detail}).With("errors", errs)
}

// Unauthenticated is a 401: no valid session or token.
func Unauthenticated(detail string) *Problem {
	return &Problem{Type: TypeUnauthenticated, Title: "Authentication required", Status: http.StatusUnauthorized, Detail: detail}
}

// Forbidden is a 403: authenticated, but outside the caller's role or tenant.
func Forbidden(detail string) *Problem {
	return &Problem{Type: TypeForbidden, Title: "Forbidden", Status: http.StatusForbidden, Detail: detail}
}

// NotFound is a 404.
func NotFound(detail string) *Problem {
	return &Problem{Type: TypeNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: detail}
}

// MethodNotAllowed is a 405 listing the allowed methods (also sent in the
// Allow header by the mux).
func MethodNotAllowed(method string, allowed []string) *Problem {
	p := &Problem{Type: TypeMethodNotAllowed, Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
		Detail: fmt.Sprintf("%s is not allowed here", method)}
	if len(allowed) > 0 {
		p.Detail += "; use " + strings.Join(allowed, ", ")
		p = p.With("allowed", allowed)
	}
	return p
}

// Conflict is a 409: the request clashes with the resource's current state.
func Conflict(detail string) *Problem {
	return &Problem{Type: TypeConflict, Title: "Conflict", Status: http.StatusConflict, Detail: detail}
}

// UnsupportedMediaType is a 415 naming the content type received.
func UnsupportedMediaType(got string) *Problem {
	detail := "Content-Type must be application/json"
	if got != "" {
		detail += fmt.Sprintf(", not %q", got)
	}
	return &Problem{Type: TypeUnsupportedMediaType, Title: "Unsupported media type",
		Status: http.StatusUnsupportedMediaType, Detail: detail}
}

// BodyTooLarge is a 413 stating the limit.
func BodyTooLarge(limit int64) *Problem {
	return (&Problem{Type: TypeBodyTooLarge, Title: "Request body too large", Status: http.StatusRequestEntityTooLarge,
		Detail: fmt.Sprintf("the request body exceeds the limit of %d bytes", limit)}).With("limit_bytes", limit)
}

// TooManyRequests is a 429: the caller must wait retryAfter (rounded up to
// whole seconds, at least one) before trying again. Write it with
// WriteTooManyRequests, which also sets the Retry-After header.
func TooManyRequests(detail string, retryAfter time.Duration) *Problem {
	return (&Problem{Type: TypeTooManyRequests, Title: "Too many requests", Status: http.StatusTooManyRequests,
		Detail: detail}).With("retry_after_seconds", RetryAfterSeconds(retryAfter))
}

// RetryAfterSeconds is d as the Retry-After header's whole seconds,
// rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) int64 {
	return max(1, int64((d+time.Second-1)/time.Second))
}

// WriteTooManyRequests writes TooManyRequests with its Retry-After header.
func WriteTooManyRequests(w http.ResponseWriter, r *http.Request, detail string, retryAfter time.Duration) {
	w.Header().Set("Retry-After", strconv.FormatInt(RetryAfterSeconds(retryAfter), 10))
	WriteProblem(w, r, TooManyRequests(detail, retryAfter))
}

// Internal is a 500 that says nothing about the cause (it is in the log).
func Internal() *Problem {
	return &Problem{Type: TypeInternal, Title: "Internal server error", Status: http.StatusInternalServerError,
		Detail: "The server failed to handle the request; quote the request_id when reporting it."}
}
