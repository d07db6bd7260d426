package identity_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// A request to an authenticated route of a service, against the real
// Kratos: the whoami call is a client span "kratos GET", a child of the
// route's server span in the same trace, exported with it; an anonymous
// request to the same route asks Kratos nothing (no credentials) and so
// has no such span.
func TestKratosCallIsAChildOfTheServerSpan(t *testing.T) {
	ctx := context.Background()
	exp := tracetest.NewInMemoryExporter()
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "wuxiao-test", Town: "xikou", SamplingRatio: 1,
		SpanExporter: exp, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(ctx) })
	auth := identity.New(testinfra.Require(t, testinfra.EnvKratosPublicURL), identity.WithCacheTTL(0),
		identity.WithErrorWriter(httpapi.WriteStatusProblem))
	srv := httpapi.New(config.Base{Service: "test", Town: "xikou", MaxBodyBytes: 1 << 10}, slog.New(slog.DiscardHandler), tel).
		WithAuthenticator(auth.Require)
	srv.Handle("GET /v1/thing", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	token, _ := testinfra.KratosUser(t, string(identity.RoleSecretary), "xikou", "330213100201")

	for _, tc := range []struct {
		name       string
		token      string
		status     int
		kratosSpan bool
	}{
		{"signed in", token, http.StatusNoContent, true},
		{"bogus token", "not-a-session", http.StatusUnauthorized, true},
		{"anonymous", "", http.StatusUnauthorized, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp.Reset()
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/thing", nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if err := tel.TracerProvider.ForceFlush(ctx); err != nil {
				t.Fatal(err)
			}
			var server, client *tracetest.SpanStub
			spans := exp.GetSpans()
			for i := range spans {
				switch s := &spans[i]; {
				case s.SpanKind == trace.SpanKindServer:
					server = s
				case s.SpanKind == trace.SpanKindClient && s.Name == "kratos GET":
					client = s
				}
			}
			if server == nil {
				t.Fatalf("no server span among %d spans", len(spans))
			}
			if !tc.kratosSpan {
				if client != nil {
					t.Fatalf("a Kratos span without credentials: %+v", client)
				}
				return
			}
			if client == nil {
				t.Fatalf("no Kratos client span among %v", names(spans))
			}
			if client.Parent.SpanID() != server.SpanContext.SpanID() || client.SpanContext.TraceID() != server.SpanContext.TraceID() {
				t.Errorf("the Kratos span's parent is %s in trace %s, want the server span %s of trace %s",
					client.Parent.SpanID(), client.SpanContext.TraceID(), server.SpanContext.SpanID(), server.SpanContext.TraceID())
			}
		})
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
