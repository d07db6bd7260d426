package httpapi

import "net/http"

type bodyLimitHandler struct {
	http.Handler
	limit int64
}

// WithBodyLimit sets the request body limit of one route instead of the
// server's MaxBodyBytes, for the few routes that take files (evidence
// uploads). Wrap it around the handler, or around Public(handler), when
// registering the route; every other route keeps the server's limit.
func WithBodyLimit(limit int64, h http.Handler) http.Handler { return bodyLimitHandler{h, limit} }
