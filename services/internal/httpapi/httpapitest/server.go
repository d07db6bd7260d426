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

// Serve registers routes on a server of base behind auth, logs discarded,
// and runs it until the test ends.
func Serve(t testing.TB, base config.Base, auth *identity.Authenticator, routes func(*httpapi.Server)) *httptest.Server {
	t.Helper()
	srv := httpapi.New(base, slog.New(slog.DiscardHandler), nil).WithAuthenticator(auth.Require)
	routes(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// ServeAPI is Serve behind Auth(t).
func ServeAPI(t testing.TB, base config.Base, routes func(*httpapi.Server)) *httptest.Server {
	t.Helper()
	return Serve(t, base, Auth(t), routes)
}
