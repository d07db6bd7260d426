package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// TestConsoleIdentityErrorsArePages: when the session cannot be resolved
// (Kratos unreachable, or an account whose metadata gives no valid role), a
// browser gets a page in Chinese, not the services' problem JSON.
func TestConsoleIdentityErrorsArePages(t *testing.T) {
	// A Kratos that answers whoami with an identity lacking a role.
	badAccount := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"s1","active":true,"identity":{"id":"i1","schema_id":"default","schema_url":"","state":"active","traits":{},"metadata_public":{"role":"mayor"}}}`)
	}))
	t.Cleanup(badAccount.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there any more

	for _, tc := range []struct {
		name, kratos string
		status       int
		text         string
	}{
		{"Kratos unreachable", closed.URL, http.StatusServiceUnavailable, "登录服务暂时无法连接"},
		{"account without a valid role", badAccount.URL, http.StatusForbidden, "尚未设置好角色"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := New(Config{District: "fenghua", DistrictName: "奉化区", KratosPublicURL: tc.kratos}, NewStaticBackends(), nil)
			if err != nil {
				t.Fatal(err)
			}
			srv := httpapi.New(config.Base{Service: "gateway"}, nil, nil)
			g.Register(srv)
			req := httptest.NewRequest(http.MethodGet, "/console", nil)
			req.AddCookie(&http.Cookie{Name: "wuxiao_session", Value: "abc"})
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != tc.status || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || !strings.Contains(body, tc.text) {
				t.Fatalf("%d %s: %.300s; want %d, an HTML page saying %q", rec.Code, rec.Header().Get("Content-Type"), body, tc.status, tc.text)
			}
		})
	}
}
