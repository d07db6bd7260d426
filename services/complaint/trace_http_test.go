package complaint

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// tracedAPI is the complaint API on the real PostgreSQL and Kratos behind
// httpapi, whose spans go through telemetry.RedactExporter to exp, sampled
// by sampler as telemetry.Setup samples (parent-based).
func tracedAPI(t *testing.T, root sdktrace.Sampler) (*httptest.Server, *Service, *tracetest.InMemoryExporter) {
	t.Helper()
	s, _ := newService(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(telemetry.RedactExporter(exp)), sdktrace.WithSampler(sdktrace.ParentBased(root)))
	mp := sdkmetric.NewMeterProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
	tel := &telemetry.Telemetry{TracerProvider: tp, MeterProvider: mp, Registry: prometheus.NewRegistry(), Propagator: propagation.TraceContext{}}
	auth := httpapitest.Auth(t)
	a := &API{Service: s, Limiter: NewRateLimiter(generous),
		Challenger: NewChallenger(ChallengerConfig{MinDifficulty: 8, MaxDifficulty: 8}), Optional: auth.Optional}
	base := httpapitest.APIBase(testTown)
	base.Service = "complaint"
	srv := httpapi.New(base, slog.New(slog.DiscardHandler), tel).WithAuthenticator(auth.Require)
	a.Routes(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, s, exp
}

func traceparent(traceID, spanID string, sampled bool) string {
	flags := "00"
	if sampled {
		flags = "01"
	}
	return "00-" + traceID + "-" + spanID + "-" + flags
}

// The intake is public: its server span is the server's own root, linked to
// what the reporter's client sent, and it roots the complaint's lifecycle;
// a client's unsampled traceparent does not silence it. When the intake's
// trace was not sampled, transitions stay in the acting request's trace,
// linked to the intake.
func TestLifecycleFromPublicIntake(t *testing.T) {
	discipline, _ := testinfra.KratosUser(t, "town-discipline", testTown, "")
	const (
		clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		clientSpan  = "00f067aa0ba902b7"
		staffTrace  = "5cf92f3577b34da6a3ce929d0e0e4737"
		staffSpan   = "11f067aa0ba902b8"
	)
	tests := []struct {
		name          string
		rootSampler   sdktrace.Sampler
		clientSampled bool
		intakeKept    bool // the intake's trace is recorded
	}{
		{"client sampled", sdktrace.AlwaysSample(), true, true},
		{"client says do not sample", sdktrace.AlwaysSample(), false, true},
		{"the server does not sample the intake", sdktrace.NeverSample(), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, svc, exp := tracedAPI(t, tt.rootSampler)
			h := http.Header{}
			h.Set("traceparent", traceparent(clientTrace, clientSpan, tt.clientSampled))
			h.Set("X-Forwarded-For", "203.0.113.9")
			h.Set("User-Agent", "CunminBrowser/3.0")
			filed := client(ts).Do(t, httpapitest.Request{Method: "POST", Path: "/v1/public/villages/" + testVillage + "/complaints", Token: "", Header: h, ContentType: "application/json", Body: `{"category":"funds","description":"村集体资金去向不明，请核查"}`})
			code, _ := filed.Body["trackingCode"].(string)
			if filed.Status != 201 || code == "" {
				t.Fatalf("intake: %d %s", filed.Status, filed.Raw)
			}
			var id string
			if err := svc.Pool.QueryRow(context.Background(), `SELECT id FROM complaints WHERE tracking_code = $1`, code).Scan(&id); err != nil {
				t.Fatal(err)
			}
			h = http.Header{}
			h.Set("traceparent", traceparent(staffTrace, staffSpan, true))
			if r := client(ts).Do(t, httpapitest.Request{Method: "POST", Path: "/v1/complaints/" + id + "/actions", Token: discipline, Header: h, ContentType: "application/json", Body: `{"action":"accept"}`}); r.Status != 200 {
				t.Fatalf("accept: %d %s", r.Status, r.Raw)
			}

			var intake, request, accept *tracetest.SpanStub
			spans := exp.GetSpans()
			for i, s := range spans {
				switch {
				case s.Name == "POST /v1/public/villages/{village}/complaints":
					intake = &spans[i]
				case s.Name == "POST /v1/complaints/{id}/actions":
					request = &spans[i]
				case s.Name == SpanName(ActionAccept):
					accept = &spans[i]
				}
				for _, kv := range s.Attributes {
					if v := kv.Value.String(); strings.Contains(v, "203.0.113.9") || strings.Contains(v, "CunminBrowser") || (code != "" && strings.Contains(v, code)) {
						t.Errorf("span %q carries %s=%s", s.Name, kv.Key, v)
					}
				}
			}
			if request == nil || accept == nil {
				t.Fatalf("spans %v: no request or accept span", names(spans))
			}
			// Staff keep their trace.
			if request.SpanContext.TraceID().String() != staffTrace || request.Parent.SpanID().String() != staffSpan {
				t.Errorf("staff request in trace %s, parent %s: not the caller's", request.SpanContext.TraceID(), request.Parent.SpanID())
			}
			if !tt.intakeKept {
				if intake != nil {
					t.Fatalf("the unsampled intake was exported")
				}
				if accept.SpanContext.TraceID() != request.SpanContext.TraceID() || accept.Parent.SpanID() != request.SpanContext.SpanID() ||
					len(accept.Links) != 1 || accept.Links[0].SpanContext.TraceID() == request.SpanContext.TraceID() ||
					accept.Links[0].SpanContext.IsSampled() || !hasLinkLabel(accept.Links[0], telemetry.LinkOrigin) {
					t.Errorf("accept span parent %s links %v: want a child of the request linked to the intake", accept.Parent.SpanID(), accept.Links)
				}
				return
			}
			if intake == nil {
				t.Fatalf("spans %v: no intake span", names(spans))
			}
			if intake.Parent.IsValid() || intake.SpanContext.TraceID().String() == clientTrace {
				t.Errorf("intake in trace %s with parent %s: the client chose its trace", intake.SpanContext.TraceID(), intake.Parent.SpanID())
			}
			if len(intake.Links) != 1 || intake.Links[0].SpanContext.TraceID().String() != clientTrace || intake.Links[0].SpanContext.SpanID().String() != clientSpan {
				t.Errorf("intake links %v, want one to the client's span", intake.Links)
			}
			if accept.SpanContext.TraceID() != intake.SpanContext.TraceID() || accept.Parent.SpanID() != intake.SpanContext.SpanID() {
				t.Errorf("accept span in trace %s under %s, want under the intake %s", accept.SpanContext.TraceID(), accept.Parent.SpanID(), intake.SpanContext.SpanID())
			}
			if len(accept.Links) != 1 || accept.Links[0].SpanContext.SpanID() != request.SpanContext.SpanID() || !hasLinkLabel(accept.Links[0], telemetry.LinkRequest) {
				t.Errorf("accept links %v, want the staff request %s", accept.Links, request.SpanContext.SpanID())
			}
		})
	}
}

func hasLinkLabel(l sdktrace.Link, label string) bool {
	for _, kv := range l.Attributes {
		if kv.Key == telemetry.LinkKey && kv.Value.AsString() == label {
			return true
		}
	}
	return false
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// A transition's span ends after its transaction: failed when the commit
// does not happen, and an attempt rolled back for a retry is not reported
// as done.
func TestTransitionSpanEndsWithTheTransaction(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		trigger string // body of a BEFORE UPDATE trigger on complaints, run when saving
		wantErr bool
		want    []codes.Code // status of the accept spans, in end order
	}{
		{"commit", `RETURN NEW;`, false, []codes.Code{codes.Unset}},
		{"the save fails after the transition was recorded", `RAISE EXCEPTION 'injected failure';`, true, []codes.Code{codes.Error}},
		{"a serialization failure is retried", `IF nextval('fail_once') = 1 THEN
				RAISE EXCEPTION 'injected serialization failure' USING ERRCODE = '40001';
			END IF;
			RETURN NEW;`, false, []codes.Code{codes.Error, codes.Unset}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, rec := recordingProvider(t)
			s, _ := newService(t)
			rc, err := s.File(ctx, Intake{Village: testVillage, Category: CategoryFunds, Description: "村集体资金去向不明，请核查"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Pool.Exec(ctx, fmt.Sprintf(`CREATE SEQUENCE fail_once;
				CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN %s END $$;
				CREATE TRIGGER inject BEFORE UPDATE ON complaints FOR EACH ROW EXECUTE FUNCTION inject();`, tt.trigger)); err != nil {
				t.Fatal(err)
			}
			rctx, req := tp.Tracer("test").Start(ctx, "POST /v1/complaints/{id}/actions")
			_, err = s.Act(rctx, discipline, rc.ID, Action{Type: ActionAccept})
			req.End()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Act: %v, want error %v", err, tt.wantErr)
			}
			var got []codes.Code
			for _, sp := range rec.Ended() {
				if sp.Name() == SpanName(ActionAccept) {
					got = append(got, sp.Status().Code)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("accept spans' status %v, want %v", got, tt.want)
			}
			var status string
			if err := s.Pool.QueryRow(ctx, `SELECT status FROM complaints WHERE id = $1`, rc.ID).Scan(&status); err != nil {
				t.Fatal(err)
			}
			if accepted := status == string(StatusAccepted); accepted == tt.wantErr {
				t.Errorf("status %s after Act (error %v)", status, err)
			}
		})
	}
}
