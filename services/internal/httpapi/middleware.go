package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-Id"

// reqState is shared by the middlewares of one request: the outer ones
// create it, the inner ones (inside the OpenTelemetry span, inside the mux)
// fill in what only they know.
type reqState struct {
	id      string
	route   string
	traceID string
	quiet   bool
	// base is the server's logger; log, built from it on first use, adds
	// the request and trace ids (most requests never log but the access
	// line, which carries them itself).
	base *slog.Logger
	log  atomic.Pointer[slog.Logger]
	rec  *recorder
	// recorder is rec, allocated with the state.
	recorder recorder
	// The route r is for (see match).
	matched, registered, private bool
	handler                      http.Handler
	pattern                      string
	// trustedProxies are the server's (see ClientIP).
	trustedProxies []netip.Prefix
}

type stateKey struct{}

func stateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

// RequestID returns the id of the request being served ("" outside one).
func RequestID(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return st.id
	}
	return ""
}

// Route returns the pattern of the route serving the request ("" before
// routing or when no route matched).
func Route(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return st.route
	}
	return ""
}

// Logger returns the server's logger with the request id and trace id of
// the request being served, or slog.Default() outside a request.
func Logger(ctx context.Context) *slog.Logger {
	if st := stateFrom(ctx); st != nil {
		return st.logger()
	}
	return slog.Default()
}

func (st *reqState) logger() *slog.Logger {
	if l := st.log.Load(); l != nil {
		return l
	}
	l := st.base.With("request_id", st.id)
	if st.traceID != "" {
		l = l.With("trace_id", st.traceID)
	}
	if !st.log.CompareAndSwap(nil, l) {
		return st.log.Load()
	}
	return l
}

// validRequestID accepts a caller's id only if it is short printable ASCII
// without spaces, so ids from the Internet cannot forge log structure.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// outer assigns the request id, runs next inside the server span (see
// serveInstrumented) and writes the access log line, its duration covering
// the whole request.
func (s *Server) outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		st := &reqState{id: id, base: s.log, quiet: quietPaths[r.URL.Path], trustedProxies: s.trustedProxies}
		st.recorder.ResponseWriter = w
		rec := &st.recorder
		st.rec = rec
		ctx := context.WithValue(r.Context(), stateKey{}, st)
		if st.quiet {
			next.ServeHTTP(rec, r.WithContext(ctx))
		} else {
			s.serveInstrumented(ctx, rec, r, st, next) // instrument.go
		}

		status := rec.status
		if status == 0 {
			status = http.StatusOK // net/http's implicit status
		}
		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelError
		case st.quiet:
			level = slog.LevelDebug // probes and scrapes every few seconds
		}
		// No client address, query string, body or raw path (a tracking
		// code on the reporter's status page is one): villagers who report
		// a cadre must not be traceable through the logs.
		s.log.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("route", st.route),
			slog.String("path", loggedPath(st.route, r.URL.Path)),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int64("bytes", rec.bytes),
			slog.String("request_id", id),
			slog.String("trace_id", st.traceID),
		)
	})
}

// loggedPath is what the access log says of a request's path: the path
// pattern of its route, or, when no route matched, only the first segment
// (enough to see which prefix a stray client or gateway asked for).
func loggedPath(route, path string) string {
	if route != "" {
		if i := strings.IndexByte(route, '/'); i >= 0 {
			return route[i:]
		}
		return route
	}
	seg, _, more := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if len(seg) > 32 {
		seg, more = strings.ToValidUTF8(seg[:32], ""), true
	}
	if more {
		return "/" + seg + "/…"
	}
	return "/" + seg
}

// inner runs inside the server span: it records the trace id for the access
// log and recovers panics into 500 problems (so the span and the metrics
// see the 500 too).
func (s *Server) inner(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateFrom(r.Context())
		span := trace.SpanFromContext(r.Context())
		if sc := span.SpanContext(); sc.HasTraceID() && st != nil {
			st.traceID = sc.TraceID().String()
			if span.IsRecording() {
				span.SetAttributes(attribute.String("wuxiao.request_id", st.id))
			}
		}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v) // net/http's deliberate abort, not a bug
			}
			log := Logger(r.Context())
			log.ErrorContext(r.Context(), "panic serving request",
				"panic", fmt.Sprint(v), "route", Route(r.Context()), "stack", string(debug.Stack()))
			span.RecordError(fmt.Errorf("panic: %v", v))
			span.SetStatus(codes.Error, "panic")
			if st != nil && st.rec.wroteHeader {
				// Too late for a problem: cut the response short instead.
				panic(http.ErrAbortHandler)
			}
			WriteProblem(w, r, Internal())
		}()
		next.ServeHTTP(w, r)
	})
}

// route hands matched requests to the mux and turns the mux's plain-text
// 404 and 405 answers into problems.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	st := stateFrom(r.Context())
	if st == nil {
		st = &reqState{}
	}
	st.match(s, r) // instrument did it already unless the path is quiet
	if h := st.handler; !st.registered {
		// Not a registered route (404, 405 or a path-cleaning redirect):
		// call the mux's handler directly so r.Pattern stays empty and
		// arbitrary paths never become route labels.
		h.ServeHTTP(&unmatchedWriter{ResponseWriter: w, r: r}, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

type unmatchedWriter struct {
	http.ResponseWriter
	r       *http.Request
	done    bool
	swallow bool
}

func (u *unmatchedWriter) WriteHeader(code int) {
	if u.done {
		return
	}
	u.done = true
	switch code {
	case http.StatusNotFound:
		u.swallow = true
		WriteProblem(u.ResponseWriter, u.r, NotFound(fmt.Sprintf("Nothing is served at %s.", u.r.URL.Path)))
	case http.StatusMethodNotAllowed:
		u.swallow = true
		var allowed []string
		for m := range strings.SplitSeq(u.Header().Get("Allow"), ",") {
			if m = strings.TrimSpace(m); m != "" {
				allowed = append(allowed, m)
			}
		}
		WriteProblem(u.ResponseWriter, u.r, MethodNotAllowed(u.r.Method, allowed))
	default:
		u.ResponseWriter.WriteHeader(code)
	}
}

func (u *unmatchedWriter) Write(b []byte) (int, error) {
	if !u.done {
		u.WriteHeader(http.StatusOK)
	}
	if u.swallow {
		return len(b), nil
	}
	return u.ResponseWriter.Write(b)
}

// recorder notes the status and size of the response.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *recorder) WriteHeader(code int) {
	// 1xx interim responses (other than 101) may precede the real one.
	if !r.wroteHeader && (code >= 200 || code == http.StatusSwitchingProtocols) {
		r.status = code
		r.wroteHeader = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush lets handlers stream (server-sent events, large exports).
func (r *recorder) Flush() {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController access to the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
