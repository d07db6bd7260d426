package httpapi

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TypeUnavailable is a 503 for a request that failed because the database
// could not take it right now (read-only, restarting, unreachable). The
// request's transaction was not committed in every case but a session cut
// during COMMIT, so clients retry; the services' own checks (versions,
// idempotency keys, 409s) answer a retry of what was recorded after all.
const TypeUnavailable = ProblemBase + "unavailable"

// unavailableRetryAfter is what a client is told to wait before retrying.
const unavailableRetryAfter = 5 * time.Second

// Unavailable is the 503 WriteError answers for a database that cannot take
// the request now.
func Unavailable() *Problem {
	return (&Problem{Type: TypeUnavailable, Title: "Service unavailable", Status: http.StatusServiceUnavailable,
		Detail: "The service's database cannot take requests right now. Try again shortly."}).
		With("retry_after_seconds", RetryAfterSeconds(unavailableRetryAfter))
}

// DatabaseUnavailable reports whether err says the database refused or lost
// the request for a passing reason rather than because of the request:
// a read-only database (25006), a connection exception (class 08), an
// operator intervention such as a shutdown or a terminated session (class
// 57), too many connections (53300), or a failure to connect at all.
func DatabaseUnavailable(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "25006" || pg.Code == "53300" ||
			strings.HasPrefix(pg.Code, "08") || strings.HasPrefix(pg.Code, "57")
	}
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// writeUnavailable writes Unavailable with its Retry-After header.
func writeUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	Logger(r.Context()).WarnContext(r.Context(), "database unavailable", "error", err.Error())
	w.Header().Set("Retry-After", "5")
	WriteProblem(w, r, Unavailable())
}
