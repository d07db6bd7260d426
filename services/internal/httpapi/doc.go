// Package httpapi is the HTTP server every Wuxiao service runs: Go 1.22
// ServeMux routing, RFC 9457 problem details, strict JSON decoding, request
// body limits, panic recovery, request ids, OpenTelemetry spans and RED
// metrics (otelhttp's spans and metrics, recorded by instrument.go at a
// fraction of otelhttp's cost; per route and labelled with the town), JSON access
// logs, /healthz, /readyz, /metrics and graceful shutdown.
//
// # A service's main
//
// config, telemetry, store and httpapi together, in about twenty lines:
//
//	func main() {
//		var base config.Base
//		cmd := config.NewRootCommand("workflow", "Runs listed powers as supervised processes", &base,
//			func(ctx context.Context) error {
//				log := base.Logger()
//				tel, err := telemetry.Setup(ctx, telemetry.Options{
//					ServiceName: base.ServiceName(), Town: base.Town, District: base.District,
//					OTLPEndpoint: base.OTLPEndpoint, SamplingRatio: base.SamplingRatio, Logger: log})
//				if err != nil {
//					return err
//				}
//				defer tel.Shutdown(context.WithoutCancel(ctx))
//				pool, err := store.Open(ctx, base.DatabaseURL, "workflow")
//				if err != nil {
//					return err
//				}
//				defer pool.Close()
//				if err := store.Migrate(ctx, pool, "workflow", migrations.FS); err != nil {
//					return err
//				}
//				auth := identity.New(base.KratosPublicURL, identity.WithLogger(log),
//					identity.WithErrorWriter(httpapi.WriteStatusProblem))
//				srv := httpapi.New(base, log, tel).WithAuthenticator(auth.Require)
//				srv.AddReadinessCheck("postgres", pool.Ping)
//				srv.Handle("GET /v1/catalog", httpapi.Public(catalogHandler))
//				srv.Handle("POST /v1/instances/{id}/steps/{step}", stepHandler)
//				return srv.Run(ctx) // until SIGTERM, then drains and shuts down
//			})
//		os.Exit(config.Execute(cmd))
//	}
//
// # Routes
//
// Handle takes a ServeMux pattern, preferably with a method
// ("POST /v1/instances/{id}/steps/{step}"); the pattern names the route in
// the access log ("route"), the span name, and the http.route attribute of
// spans and metrics (without the method, per OpenTelemetry conventions).
// Routes are authenticated unless wrapped in Public; registering an
// authenticated route before WithAuthenticator panics. Requests that match
// no route get a 404 problem, a known path with the wrong method a 405
// problem with an Allow header.
//
// Public routes and unrouted paths are the Internet's: their server span is
// a new trace root linked to the caller's traceparent (as otelhttp's public
// endpoints), so no client picks the trace the services' work joins or
// switches its recording off; authenticated routes continue the caller's
// trace. Exported spans carry no client address, peer address, user agent
// or raw path (telemetry.RedactExporter).
//
// A handler reads its body with DecodeJSON, answers with WriteJSON, and
// reports failures with WriteProblem or WriteError (a *Problem is an error,
// so domain code can return one). Logger(ctx) gives a logger carrying the
// request and trace ids.
//
// # Problem types
//
// Every problem is application/problem+json with a type under
// https://wuxiao.dev/problems/, an instance (the request path) and a
// request_id member (also in the X-Request-Id response header):
//
//	bad-request             400  the request cannot be understood (e.g. empty body)
//	malformed-json          400  the body is not JSON; "offset" is where it broke
//	invalid-field-type      400  a member has the wrong JSON type; "field", "offset"
//	unknown-field           400  a member the endpoint does not know; "field"
//	validation              422  well-formed but unacceptable values; "errors": [{field, detail}]
//	unauthenticated         401  no valid session or token
//	forbidden               403  outside the caller's role or tenant
//	not-found               404  no such route or resource
//	method-not-allowed      405  the route exists for other methods; "allowed"
//	conflict                409  clashes with the resource's current state
//	body-too-large          413  body over the limit (MAX_BODY_BYTES); "limit_bytes"
//	unsupported-media-type  415  Content-Type is not application/json
//	internal                500  a bug or an unexpected failure; details only in the log
//	unavailable             503  the database cannot take the request now (read-only, restarting,
//	                             unreachable); Retry-After, "retry_after_seconds"
//	not-ready               503  /readyz: a dependency check fails; "failing", "checks"
//	shutting-down           503  /readyz and /healthz once shutdown has begun
//
// # Operational endpoints
//
// GET /healthz is 200 until shutdown begins and checks no dependency. GET
// /readyz runs every AddReadinessCheck concurrently within a short timeout
// and is 503 (naming the failing checks; their errors are logged) when one
// fails or shutdown has begun. The two are public, untraced, unmeasured and
// logged at debug level. GET /metrics serves the telemetry registry in the
// Prometheus format on a listener of its own (METRICS_ADDR, default :9090;
// ServeMetrics), never on the public one: the district gateway proxies
// paths to the public listener and the portals face the Internet, while
// the metrics port is opened by the NetworkPolicy to monitoring alone.
//
// # Logs
//
// One JSON line per request, message "request", with method, route, path,
// status, duration_ms, bytes, request_id and trace_id. The path is the
// route's pattern ("/r/track/{code}"), or only the first segment of an
// unrouted path ("/v1/…"). Client addresses, raw paths (a reporter's
// tracking code is one), query strings and bodies are never logged: people
// who report a cadre must not be identifiable from the logs. A panic logs its stack at error level;
// the client only gets an internal problem with the request id.
package httpapi
