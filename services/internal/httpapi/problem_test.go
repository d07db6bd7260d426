package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestProblemJSON(t *testing.T) {
	tests := []struct {
		name string
		p    Problem
		want string
	}{
		{"standard members only", Problem{Type: TypeConflict, Title: "Conflict", Status: 409},
			`{"status":409,"title":"Conflict","type":"https://wuxiao.dev/problems/conflict"}`},
		{"extensions inline", Problem{Type: TypeNotFound, Title: "Not found", Status: 404, Detail: "no village 330213100201",
			Instance: "/v1/villages/330213100201", Extensions: map[string]any{"village": "330213100201"}},
			`{"detail":"no village 330213100201","instance":"/v1/villages/330213100201","status":404,"title":"Not found","type":"https://wuxiao.dev/problems/not-found","village":"330213100201"}`},
		{"extensions cannot override standard members", Problem{Title: "Bad", Status: 400,
			Extensions: map[string]any{"status": 200, "type": "x", "hint": true}},
			`{"hint":true,"status":400,"title":"Bad","type":"about:blank"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.p)
			if err != nil || string(got) != tt.want {
				t.Fatalf("Marshal = %s, %v\nwant %s", got, err, tt.want)
			}
			var back Problem
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			again, _ := json.Marshal(back)
			if string(again) != tt.want {
				t.Errorf("round trip %s", again)
			}
		})
	}
}

func TestProblemWith(t *testing.T) {
	base := NotFound("x")
	withA := base.With("a", 1)
	withB := withA.With("b", 2)
	if base.Extensions != nil || len(withA.Extensions) != 1 || len(withB.Extensions) != 2 {
		t.Errorf("With must copy: %v %v %v", base.Extensions, withA.Extensions, withB.Extensions)
	}
}

func TestConstructors(t *testing.T) {
	tests := []struct {
		p      *Problem
		status int
		typ    string
	}{
		{BadRequest("x"), 400, TypeBadRequest},
		{ValidationFailed(FieldError{"amount", "must be positive"}), 422, TypeValidation},
		{Unauthenticated("x"), 401, TypeUnauthenticated},
		{Forbidden("x"), 403, TypeForbidden},
		{NotFound("x"), 404, TypeNotFound},
		{MethodNotAllowed("PUT", []string{"GET"}), 405, TypeMethodNotAllowed},
		{Conflict("x"), 409, TypeConflict},
		{BodyTooLarge(10), 413, TypeBodyTooLarge},
		{UnsupportedMediaType("text/xml"), 415, TypeUnsupportedMediaType},
		{TooManyRequests("x", time.Second), 429, TypeTooManyRequests},
		{Internal(), 500, TypeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			if tt.p.Status != tt.status || tt.p.Type != tt.typ || tt.p.Title == "" {
				t.Errorf("%+v", tt.p)
			}
			if !strings.HasPrefix(tt.p.Type, ProblemBase) {
				t.Errorf("type %q outside %s", tt.p.Type, ProblemBase)
			}
		})
	}
	v := ValidationFailed(FieldError{"amount", "must be positive"})
	if v.Detail != "amount: must be positive" || !reflect.DeepEqual(v.Extensions["errors"], []FieldError{{"amount", "must be positive"}}) {
		t.Errorf("ValidationFailed %+v", v)
	}
}

func TestWriteStatusProblem(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteStatusProblem(rec, httptest.NewRequest("GET", "/v1/x", nil), http.StatusForbidden, "Forbidden", "another village")
	p := decodeProblemBody(t, rec)
	if rec.Code != 403 || p.Type != TypeForbidden || p.Detail != "another village" || p.Instance != "/v1/x" {
		t.Errorf("%d %+v", rec.Code, p)
	}
}

func TestWriteTooManyRequests(t *testing.T) {
	for _, tc := range []struct {
		wait time.Duration
		want string
	}{
		{0, "1"}, {time.Millisecond, "1"}, {time.Second, "1"}, {1500 * time.Millisecond, "2"}, {90 * time.Second, "90"},
	} {
		rec := httptest.NewRecorder()
		WriteTooManyRequests(rec, httptest.NewRequest("POST", "/v1/x", nil), "slow down", tc.wait)
		p := decodeProblemBody(t, rec)
		if rec.Code != 429 || p.Type != TypeTooManyRequests || rec.Header().Get("Retry-After") != tc.want ||
			fmt.Sprint(p.Extensions["retry_after_seconds"]) != tc.want {
			t.Errorf("wait %s: %d Retry-After %q %+v", tc.wait, rec.Code, rec.Header().Get("Retry-After"), p)
		}
	}
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		typ    string
		logged bool
	}{
		{"problem", Conflict("step already done"), 409, TypeConflict, false},
		{"wrapped problem", fmt.Errorf("advancing: %w", Forbidden("not your village")), 403, TypeForbidden, false},
		{"plain error", errors.New("pq: password authentication failed"), 500, TypeInternal, true},
		{"read-only database", fmt.Errorf("recording step: %w", &pgconn.PgError{Code: "25006", Message: "cannot execute INSERT in a read-only transaction; password"}), 503, TypeUnavailable, false},
		{"session terminated", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, 503, TypeUnavailable, false},
		{"connection failure", &pgconn.PgError{Code: "08006"}, 503, TypeUnavailable, false},
		{"too many connections", &pgconn.PgError{Code: "53300"}, 503, TypeUnavailable, false},
		{"cannot dial", fmt.Errorf("acquiring: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), 503, TypeUnavailable, false},
		{"constraint violation", &pgconn.PgError{Code: "23505", Message: "duplicate key; password authentication failed"}, 500, TypeInternal, true},
		{"read timeout", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("i/o timeout; password authentication failed")}, 500, TypeInternal, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.srv.Handle("GET /v1/fail", Public(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				WriteError(w, r, tt.err)
			})))
			rec := f.do(t, "GET", "/v1/fail", "", "")
			p := decodeProblemBody(t, rec)
			if rec.Code != tt.status || p.Type != tt.typ {
				t.Errorf("%d %+v", rec.Code, p)
			}
			if strings.Contains(rec.Body.String(), "password") {
				t.Errorf("response leaks the cause: %s", rec.Body)
			}
			if got := strings.Contains(f.logs.String(), "password authentication failed"); got != tt.logged {
				t.Errorf("cause logged = %v, want %v:\n%s", got, tt.logged, f.logs)
			}
			if tt.status == 503 && rec.Header().Get("Retry-After") != "5" {
				t.Errorf("Retry-After = %q, want 5", rec.Header().Get("Retry-After"))
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := WriteJSON(rec, http.StatusAccepted, map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 202 || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != "{\"n\":1}\n" {
		t.Errorf("%d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}

	rec = httptest.NewRecorder()
	err := WriteJSON(rec, http.StatusOK, map[string]any{"c": make(chan int)})
	if err == nil || rec.Code != 500 {
		t.Errorf("unmarshalable value: %d, %v", rec.Code, err)
	}
	var p Problem
	if json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Type != TypeInternal {
		t.Errorf("body %q", rec.Body)
	}
}

func TestLoggerOutsideRequest(t *testing.T) {
	if Logger(t.Context()) != slog.Default() || RequestID(t.Context()) != "" || Route(t.Context()) != "" {
		t.Error("outside a request Logger, RequestID and Route must fall back")
	}
}
