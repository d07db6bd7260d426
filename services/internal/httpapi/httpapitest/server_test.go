package httpapitest

import (
	"net/http"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestServeAPI: routes behind the test Kratos; a session's principal
// reaches the handler, no session is a 401 problem, bodies are bounded by
// APIBase's limit.
func TestServeAPI(t *testing.T) {
	const town, village = "xikou", "330213100201"
	ts := ServeAPI(t, APIBase(town), func(srv *httpapi.Server) {
		srv.HandleFunc("POST /v1/echo", func(w http.ResponseWriter, r *http.Request) {
			p, _ := identity.FromContext(r.Context())
			var in map[string]any
			if !httpapi.DecodeJSON(w, r, &in) {
				return
			}
			_ = httpapi.WriteJSON(w, http.StatusOK, map[string]any{"village": p.Village, "in": in})
		})
	})
	token, _ := testinfra.KratosUser(t, "secretary", town, village)
	c := Client{URL: ts.URL}
	if r := c.JSON(t, "POST", "/v1/echo", "", map[string]int{"n": 1}); r.Status != 401 || r.ProblemType() != httpapi.TypeUnauthenticated {
		t.Errorf("no session: %d %s", r.Status, r.Raw)
	}
	if r := c.JSON(t, "POST", "/v1/echo", token, map[string]int{"n": 1}); r.Status != 200 || r.Body["village"] != village {
		t.Errorf("session: %d %s", r.Status, r.Raw)
	}
	big := map[string]string{"s": string(make([]byte, 70<<10))}
	if r := c.JSON(t, "POST", "/v1/echo", token, big); r.Status != 413 {
		t.Errorf("70 KiB body: %d %s", r.Status, r.Raw)
	}
}
