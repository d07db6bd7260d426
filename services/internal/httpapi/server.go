package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// Defaults of the Server's tunables.
const (
	DefaultDrainDelay       = 2 * time.Second
	DefaultReadinessTimeout = time.Second // the operator's probes time out after 2 s
)

// Paths of the operational endpoints every server has.
const (
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
	MetricsPath = "/metrics"
)

// quietPaths are polled by the kubelet: no spans, no HTTP metrics and
// debug-level access logs for them. (/metrics is not on this listener at
// all: see ServeMetrics.)
var quietPaths = map[string]bool{HealthzPath: true, ReadyzPath: true}

// Server is the HTTP server of a service. Register routes with Handle
// before calling Run.
type Server struct {
	base    config.Base
	log     *slog.Logger
	tel     *telemetry.Telemetry
	mux     *http.ServeMux
	handler http.Handler
	metrics http.Handler // served by ServeMetrics only
	inst    *instrumentation

	mu             sync.Mutex
	routes         map[string]bool
	auth           func(http.Handler) http.Handler
	privateRoutes  []string
	private        map[string]bool // privateRoutes, for reqState.match
	checks         []readinessCheck
	lastCheckState map[string]string
	drainDelay     time.Duration
	readyTimeout   time.Duration

	trustedProxies []netip.Prefix // see ClientIP

	stopping        atomic.Bool
	shutdownStarted chan struct{} // closed when Serve begins shutting down
}

// New returns a server listening on base.HTTPAddr with base.MaxBodyBytes as
// the request body limit, and serving /metrics on base.MetricsAddr alone
// (none when empty). logger may be nil (slog.Default()); tel may be nil, in
// which case spans and metrics go to the OpenTelemetry globals and /metrics
// serves an empty registry.
func New(base config.Base, logger *slog.Logger, tel *telemetry.Telemetry) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	if base.HTTPAddr == "" {
		base.HTTPAddr = config.DefaultHTTPAddr
	}
	if base.ShutdownTimeout <= 0 {
		base.ShutdownTimeout = config.DefaultShutdownTimeout
	}
	if base.MaxBodyBytes <= 0 {
		base.MaxBodyBytes = config.DefaultMaxBodyBytes
	}
	s := &Server{
		base:            base,
		log:             logger,
		tel:             tel,
		mux:             http.NewServeMux(),
		routes:          map[string]bool{},
		private:         map[string]bool{},
		lastCheckState:  map[string]string{},
		drainDelay:      DefaultDrainDelay,
		readyTimeout:    DefaultReadinessTimeout,
		shutdownStarted: make(chan struct{}),
		trustedProxies:  base.TrustedProxyPrefixes(),
	}

	// A fixed server name: otherwise server.address comes from the Host
	// header, and any client could mint new metric series.
	serverName := base.Service
	if serverName == "" {
		serverName = "wuxiao"
	}
	metrics := promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{})
	if tel != nil {
		metrics = tel.MetricsHandler()
	}
	s.inst = newInstrumentation(serverName, tel)
	s.handler = s.outer(s.inner(http.HandlerFunc(s.route)))

	s.Handle("GET "+HealthzPath, Public(http.HandlerFunc(s.healthz)))
	s.Handle("GET "+ReadyzPath, Public(http.HandlerFunc(s.readyz)))
	// /metrics is not a route of this listener: the gateway proxies paths
	// to it and the portals face the Internet. It has a listener of its
	// own (ServeMetrics) that the NetworkPolicy opens to monitoring only.
	mm := http.NewServeMux()
	mm.Handle("GET "+MetricsPath, metrics)
	s.metrics = mm
	return s
}

type publicHandler struct{ http.Handler }

// match finds the route r is for, once for the span (publicEndpoint) and
// the router (route). A public route or no route at all (404, 405) is the
// Internet's: its server span then starts a trace of its own, linked to
// the context the client sent but not its child, so that nobody on the
// Internet picks a trace id the services' work joins (a complaint's whole
// lifecycle continues its intake's trace) or turns its recording off with
// an unsampled traceparent. Authenticated callers (staff, services) keep
// their trace.
func (st *reqState) match(s *Server, r *http.Request) {
	if st.matched {
		return
	}
	st.handler, st.pattern = s.mux.Handler(r)
	s.mu.Lock()
	st.registered, st.private = s.routes[st.pattern], s.private[st.pattern]
	s.mu.Unlock()
	st.matched = true
}

// Public marks a route as open to anyone: the authenticator is not applied.
// Every other route requires the authenticator set by WithAuthenticator.
// A public route's span is a new trace root linked to the caller's
// traceparent (see reqState.match).
func Public(h http.Handler) http.Handler { return publicHandler{h} }

// WithAuthenticator sets the middleware applied to every route not wrapped
// in Public (identity's Authenticator.Require). Call it before registering
// such routes; registering one without an authenticator panics, so that no
// route is served unauthenticated by mistake.
func (s *Server) WithAuthenticator(auth func(http.Handler) http.Handler) *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.privateRoutes) > 0 {
		panic(fmt.Sprintf("httpapi: WithAuthenticator called after authenticated routes were registered (%s)",
			strings.Join(s.privateRoutes, ", ")))
	}
	s.auth = auth
	return s
}

// SetDrainDelay sets how long Run keeps serving after it stops reporting
// ready, so load balancers stop sending traffic first (default 2 s).
func (s *Server) SetDrainDelay(d time.Duration) { s.drainDelay = d }

// SetReadinessTimeout bounds how long /readyz waits for its checks
// (default 1 s).
func (s *Server) SetReadinessTimeout(d time.Duration) { s.readyTimeout = d }

// Handle registers h for a Go 1.22 ServeMux pattern such as
// "POST /v1/instances/{id}/steps/{step}". The pattern is the route's name in
// logs, spans (the span name and http.route) and metrics (http_route, which
// per OpenTelemetry conventions omits the method: it is a separate label).
// Conflicting patterns panic, as with http.ServeMux.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := s.base.MaxBodyBytes
	if b, ok := h.(bodyLimitHandler); ok {
		h, limit = b.Handler, b.limit
	}
	if p, ok := h.(publicHandler); ok {
		h = p.Handler
	} else {
		if s.auth == nil {
			panic(fmt.Sprintf("httpapi: route %q is not Public and no authenticator is set; call WithAuthenticator first", pattern))
		}
		h = s.auth(h)
		s.privateRoutes = append(s.privateRoutes, pattern)
		s.private[pattern] = true
	}
	httpRoute := pattern
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		httpRoute = pattern[i:]
	}
	routeAttr := attribute.String("http.route", httpRoute)
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := stateFrom(r.Context()); st != nil {
			st.route = pattern
		}
		trace.SpanFromContext(r.Context()).SetAttributes(routeAttr)
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		h.ServeHTTP(w, r)
	}))
	s.routes[pattern] = true // mux.Handler reports patterns as registered
}

// HandleFunc registers an authenticated handler function.
func (s *Server) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	s.Handle(pattern, http.HandlerFunc(f))
}

// RouteInfo is a registered route: its ServeMux pattern and whether it is
// Public (served without the authenticator).
type RouteInfo struct {
	Pattern string
	Public  bool
}

// Routes lists the registered routes, sorted by pattern, the operational
// ones (/healthz, /readyz, /metrics) included. Tests build tables from it
// that a new route cannot slip past (services/internal/isolation).
func (s *Server) Routes() []RouteInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RouteInfo, 0, len(s.routes))
	for p := range s.routes {
		out = append(out, RouteInfo{Pattern: p, Public: !s.private[p]})
	}
	slices.SortFunc(out, func(a, b RouteInfo) int { return strings.Compare(a.Pattern, b.Pattern) })
	return out
}

// Handler is the server's complete handler (for httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// MetricsHandler serves GET /metrics and answers 404 to everything else:
// the handler of the metrics listener (for httptest).
func (s *Server) MetricsHandler() http.Handler { return s.metrics }

// Run listens on base.HTTPAddr and serves until ctx is cancelled, then shuts
// down gracefully (see Serve); with base.MetricsAddr set it serves /metrics
// there meanwhile (see ServeMetrics).
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.base.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.base.HTTPAddr, err)
	}
	if s.base.MetricsAddr == "" {
		return s.Serve(ctx, ln)
	}
	mln, err := lc.Listen(ctx, "tcp", s.base.MetricsAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listening on %s for /metrics: %w", s.base.MetricsAddr, err)
	}
	// The metrics listener outlives the main one's drain (the last scrape
	// sees it) and, should it fail, stops the server like any other
	// failure.
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	mctx, mstop := context.WithCancel(context.WithoutCancel(ctx))
	defer mstop()
	merr := make(chan error, 1)
	go func() {
		err := s.ServeMetrics(mctx, mln)
		if err != nil {
			stop()
		}
		merr <- err
	}()
	err = s.Serve(sctx, ln)
	mstop()
	if mErr := <-merr; err == nil {
		err = mErr
	}
	return err
}

// httpServer is h with the timeouts of both listeners: slow clients must
// not hold connections open.
func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// ServeMetrics serves GET /metrics, and nothing else, on ln until ctx is
// cancelled. It is a listener apart from Serve's so that the public one
// never answers /metrics (the metrics show routes, towns and traffic) and
// the NetworkPolicy can open this port to the monitoring namespace alone.
// It keeps serving through Serve's drain, so the last scrape sees it.
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	srv := s.httpServer(s.metrics)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving metrics", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serving metrics on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	return nil
}

// Serve serves on ln until ctx is cancelled. Then /readyz and /healthz
// answer 503, the server keeps serving for the drain delay (so the
// endpoint is removed from Services before connections are refused), and
// in-flight requests get base.ShutdownTimeout to finish. It returns nil
// after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := s.httpServer(s.handler)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving HTTP", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTP on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	if s.stopping.CompareAndSwap(false, true) {
		close(s.shutdownStarted)
	}
	s.log.Info("shutting down: reporting not ready, draining",
		"drain_delay", s.drainDelay.String(), "shutdown_timeout", s.base.ShutdownTimeout.String())
	if s.drainDelay > 0 {
		time.Sleep(s.drainDelay)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.base.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("in-flight requests did not finish within %s: %w", s.base.ShutdownTimeout, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.log.Info("HTTP server stopped")
	return nil
}
