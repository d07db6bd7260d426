package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
)

type readinessCheck struct {
	name  string
	check func(context.Context) error
}

// AddReadinessCheck registers a dependency check for /readyz (a database
// ping, a Kafka metadata request). Checks run concurrently on every probe
// and must return within the readiness timeout; a slow check counts as
// failing.
func (s *Server) AddReadinessCheck(name string, check func(ctx context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, readinessCheck{name, check})
}

func shuttingDown() *Problem {
	return &Problem{Type: TypeShuttingDown, Title: "Shutting down", Status: http.StatusServiceUnavailable,
		Detail: "The server is shutting down and takes no new work."}
}

// healthz answers the liveness probe: the process serves HTTP and is not
// shutting down. It deliberately checks no dependency, so an outage of
// PostgreSQL never makes the kubelet restart every pod.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.stopping.Load() {
		WriteProblem(w, r, shuttingDown())
		return
	}
	_ = WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Check results in /readyz responses.
const (
	checkOK      = "ok"
	checkFailing = "failing"
	checkTimeout = "timeout"
)

// readyz answers the readiness probe. Failing checks are named in the
// response but their errors only go to the log: /readyz of the public
// services may be reachable from outside.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.stopping.Load() {
		WriteProblem(w, r, shuttingDown())
		return
	}
	s.mu.Lock()
	checks := slices.Clone(s.checks)
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(r.Context(), s.readyTimeout)
	defer cancel()
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(checks)) // buffered: a late check never blocks
	for _, c := range checks {
		go func() { results <- result{c.name, c.check(ctx)} }()
	}
	states := make(map[string]string, len(checks))
	errs := make(map[string]error, len(checks))
	for _, c := range checks {
		states[c.name] = checkTimeout
	}
collect:
	for range checks {
		select {
		case res := <-results:
			if res.err == nil {
				states[res.name] = checkOK
			} else {
				states[res.name] = checkFailing
				if errors.Is(res.err, context.DeadlineExceeded) {
					states[res.name] = checkTimeout
				}
				errs[res.name] = res.err
			}
		case <-ctx.Done():
			break collect
		}
	}
	var failing []string
	for name, state := range states {
		if state != checkOK {
			failing = append(failing, name)
		}
	}
	slices.Sort(failing)
	s.logCheckChanges(r.Context(), states, errs)
	if s.stopping.Load() {
		WriteProblem(w, r, shuttingDown())
		return
	}
	if len(failing) > 0 {
		WriteProblem(w, r, (&Problem{Type: TypeNotReady, Title: "Not ready", Status: http.StatusServiceUnavailable,
			Detail: "Failing checks: " + strings.Join(failing, ", ")}).With("failing", failing).With("checks", states))
		return
	}
	_ = WriteJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": states})
}

// logCheckChanges logs a check when its state changes, not on every probe.
func (s *Server) logCheckChanges(ctx context.Context, states map[string]string, errs map[string]error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, state := range states {
		if s.lastCheckState[name] == state {
			continue
		}
		s.lastCheckState[name] = state
		if state == checkOK {
			s.log.InfoContext(ctx, "readiness check passing", "check", name)
			continue
		}
		msg := "timed out after " + s.readyTimeout.String()
		if err := errs[name]; err != nil {
			msg = err.Error()
		}
		s.log.WarnContext(ctx, "readiness check failing", "check", name, "state", state, "error", msg)
	}
}
