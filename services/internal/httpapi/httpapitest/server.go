package httpapitest

import (
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// APIBase is the configuration of an API under test: the town it serves
// and a 64 KiB body limit; tests set more fields (TrustedProxies, Service)
// where they need them.
func APIBase(town string) config.Base {
	return config.Base{Town: town, MaxBodyBytes: 64 << 10}
}

// Auth authenticates against the test Kratos (testinfra) with no session
// cache, writing its refusals as the services do.
func Auth(t testing.TB) *identity.Authenticator {
	t.Helper()
	return identity.New(testinfra.Require(t, testinfra.EnvKratosPublicURL), identity.WithCacheTTL(0),
		identity.WithErrorWriter(httpapi.WriteStatusProblem))
}

// NewServer is a server of base behind auth, logs discarded, as a
// service's binary builds it.
func NewServer(base config.Base, auth *identity.Authenticator) *httpapi.Server {
	return httpapi.New(base, slog.New(slog.DiscardHandler), nil).WithAuthenticator(auth.Require)
}

// Start runs srv until the test ends.
func Start(t testing.TB, srv *httpapi.Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// Serve registers routes on NewServer(base, auth) and Starts it.
func Serve(t testing.TB, base config.Base, auth *identity.Authenticator, routes func(*httpapi.Server)) *httptest.Server {
	t.Helper()
	srv := NewServer(base, auth)
	routes(srv)
	return Start(t, srv)
}

// ServeAPI is Serve behind Auth(t).
func ServeAPI(t testing.TB, base config.Base, routes func(*httpapi.Server)) *httptest.Server {
	t.Helper()
	return Serve(t, base, Auth(t), routes)
}
