package complaint

import (
	"context"
	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// registerVillage applies the operator's registration of code as the
// tenant consumer does.
func registerVillage(t *testing.T, s *Service, code, name string) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := s.HandleTenantEvent(ctx, tx, villageRegistered(testTown, code, name, 1)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestUnknownVillageRefused: once the operator has registered villages, a
// complaint for a well-formed code that is not one of them is refused with
// a 404 (a problem, or a Chinese page) on every intake route, before the
// abuse guard: invented villages used to get a fresh village bucket each
// (no flood guard, no proof of work) and push real villages out of the
// limiter's bounded table. With an empty registry (a town set up by hand)
// every well-formed code is taken.
func TestUnknownVillageRefused(t *testing.T) {
	const unknown = "330213100999"
	intakes := []struct {
		name string
		post func(t *testing.T, ts string, village string) (status int, body string)
	}{
		{"json", func(t *testing.T, ts, village string) (int, string) {
			return do(t, "POST", ts+"/v1/public/villages/"+village+"/complaints", "application/json",
				`{"category":"funds","description":"`+goodDescription+`"}`)
		}},
		{"report page", func(t *testing.T, ts, village string) (int, string) {
			ct, body := validForm("funds", formFile{"p.png", "image/png", samplePNG(t)}).encode()
			return do(t, "POST", ts+"/r/"+village, ct, string(body))
		}},
		{"report page form", func(t *testing.T, ts, village string) (int, string) {
			return do(t, "GET", ts+"/r/"+village, "", "")
		}},
		{"open311", func(t *testing.T, ts, village string) (int, string) {
			f := url.Values{"jurisdiction_id": {testTown}, "service_code": {"funds"}, "description": {goodDescription}, "address_id": {village}}
			return do(t, "POST", ts+"/open311/v2/requests.json", "application/x-www-form-urlencoded", f.Encode())
		}},
	}
	ok := map[string]int{"json": 201, "report page": 201, "report page form": 200, "open311": 200}

	t.Run("registry", func(t *testing.T) {
		srv, a := pageServer(t, generous)
		registerVillage(t, a.Service, testVillage, "岩头村")
		for _, in := range intakes {
			if status, body := in.post(t, srv.URL, testVillage); status != ok[in.name] {
				t.Errorf("%s, registered village: %d %s", in.name, status, body)
			}
		}
		tracked := a.Limiter.TrackedVillages()
		for _, in := range intakes {
			status, body := in.post(t, srv.URL, unknown)
			if status != http.StatusNotFound {
				t.Errorf("%s, unknown village: %d, want 404: %s", in.name, status, body)
				continue
			}
			switch in.name {
			case "json":
				if !strings.Contains(body, `"type":"https://wuxiao.dev/problems/unknown-village"`) {
					t.Errorf("json: not the unknown-village problem: %s", body)
				}
			default:
				if !strings.Contains(body, "该村尚未开通码上举报") {
					t.Errorf("%s: no Chinese explanation: %s", in.name, body)
				}
			}
		}
		if got := a.Limiter.TrackedVillages(); got != tracked {
			t.Errorf("the limiter tracks %d villages after the unknown one, %d before", got, tracked)
		}
		if n := count(t, a.Service, `SELECT count(*) FROM complaints WHERE village = $1`, unknown); n != 0 {
			t.Errorf("%d complaints filed for the unknown village", n)
		}
	})
	t.Run("empty registry", func(t *testing.T) {
		srv, _ := pageServer(t, generous)
		for _, in := range intakes {
			if status, body := in.post(t, srv.URL, unknown); status != ok[in.name] {
				t.Errorf("%s without a registry: %d %s", in.name, status, body)
			}
		}
	})
}

// TestReportPageDailyByteBudget: one client uploads at most
// ClientDailyBytes (64 MiB by default) a day through the report page;
// beyond it the page is a 429 in Chinese with Retry-After, and a report
// without files still fits. The per-client token bucket alone let one
// client upload 15 MiB every two minutes (~10 GiB a day).
func TestReportPageDailyByteBudget(t *testing.T) {
	srv, a := pageServer(t, generous)
	full := validForm("funds",
		formFile{"1.png", "image/png", padded(samplePNG(t), IntakeMaxFileBytes)},
		formFile{"2.png", "image/png", padded(samplePNG(t), IntakeMaxFileBytes)},
		formFile{"3.png", "image/png", padded(samplePNG(t), IntakeMaxFileBytes)})
	for i := range 4 { // 4 × 15 MiB fit in 64 MiB
		if r := report(t, srv, full, nil); r.Status != http.StatusCreated {
			t.Fatalf("report %d: %d %s", i+1, r.Status, r.Raw)
		}
	}
	r := report(t, srv, full, nil)
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !strings.Contains(r.Raw, "上传的内容已达上限（每天64MB）") {
		t.Fatalf("over the budget: %d %v %s", r.Status, r.Header, r.Raw)
	}
	receiptOf(t, report(t, srv, validForm("funds"), nil))
	if n := count(t, a.Service, `SELECT count(*) FROM attachments`); n != 12 {
		t.Errorf("%d attachments stored, want 12", n)
	}
}

func do(t *testing.T, method, url, contentType, body string) (int, string) {
	t.Helper()
	r := httpapitest.Client{}.Call(t, method, url, "", contentType, body)
	return r.Status, r.Raw
}
