package disclosure

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// apiServer runs the disclosure HTTP API on the real PostgreSQL and Kratos.
func apiServer(t *testing.T) (*httptest.Server, *Service) {
	t.Helper()
	s := newService(t, testTown)
	auth := identity.New(testinfra.Require(t, testinfra.EnvKratosPublicURL), identity.WithCacheTTL(0),
		identity.WithErrorWriter(httpapi.WriteStatusProblem))
	srv := httpapi.New(config.Base{Town: testTown, MaxBodyBytes: 64 << 10}, slog.New(slog.DiscardHandler), nil).WithAuthenticator(auth.Require)
	s.Routes(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, s
}

type apiResponse struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func apiCall(t *testing.T, ts *httptest.Server, method, path, token, contentType, body string) apiResponse {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := apiResponse{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func apiJSON(t *testing.T, ts *httptest.Server, method, path, token string, body any) apiResponse {
	t.Helper()
	b, _ := json.Marshal(body)
	return apiCall(t, ts, method, path, token, "application/json", string(b))
}

func problemType(r apiResponse) string {
	s, _ := r.body["type"].(string)
	return s
}

func TestAPIStaffRecordsAndPublicSees(t *testing.T) {
	ts, s := apiServer(t)
	finance, _ := testinfra.KratosUser(t, "town-finance", testTown, "")
	otherFinance, _ := testinfra.KratosUser(t, "town-finance", "jinping", "")
	secretary, _ := testinfra.KratosUser(t, "secretary", testTown, village)
	official, _ := testinfra.KratosUser(t, "town-official", testTown, "")

	entryIn := EntryInput{Kind: KindSpending, Category: CategoryPublicWelfareExpenses, AmountFen: 1_234_500,
		Date: "2026-03-02", Description: "村道路灯维修", Counterparty: "张小明", TrackingNumber: "XK-2026-0001"}
	payIn := PaymentRequest{Programme: "耕地地力保护补贴", HouseholdName: "张小明", IDNumber: idZhang, AmountFen: 52_300, PaidOn: "2026-03-01"}

	// Only town finance of this town records or reverses.
	refused := []struct {
		name, token, path string
		body              any
		status            int
		typ               string
	}{
		{"no session", "", "/v1/villages/" + village + "/ledger", entryIn, 401, "unauthenticated"},
		{"secretary records entry", secretary, "/v1/villages/" + village + "/ledger", entryIn, 403, "forbidden"},
		{"town official records entry", official, "/v1/villages/" + village + "/ledger", entryIn, 403, "forbidden"},
		{"other town's finance records entry", otherFinance, "/v1/villages/" + village + "/ledger", entryIn, 403, "forbidden"},
		{"secretary records payment", secretary, "/v1/villages/" + village + "/subsidies", payIn, 403, "forbidden"},
		{"other town's finance records payment", otherFinance, "/v1/villages/" + village + "/subsidies", payIn, 403, "forbidden"},
		{"secretary reverses", secretary, "/v1/ledger/00000000-0000-0000-0000-000000000001/reverse", reverseRequest{Reason: "x"}, 403, "forbidden"},
		{"other town's finance reverses payment", otherFinance, "/v1/subsidies/00000000-0000-0000-0000-000000000001/reverse", reverseRequest{Reason: "x"}, 403, "forbidden"},
		{"not a village", finance, "/v1/villages/12345/ledger", entryIn, 403, "forbidden"},
		{"unknown entry", finance, "/v1/ledger/00000000-0000-0000-0000-000000000001/reverse", reverseRequest{Reason: "x"}, 404, "not-found"},
		{"invalid entry", finance, "/v1/villages/" + village + "/ledger", EntryInput{Kind: KindIncome, Category: CategoryOtherExpenses, AmountFen: -1, Date: "2026-03-02", Description: "x"}, 422, "validation"},
		{"village differs from path", finance, "/v1/villages/" + village + "/ledger", EntryInput{Village: otherVillage, Kind: KindSpending, Category: CategoryOtherExpenses, AmountFen: 1, Date: "2026-03-02", Description: "x"}, 422, "validation"},
		{"invalid ID number", finance, "/v1/villages/" + village + "/subsidies", PaymentRequest{Programme: "x", HouseholdName: "张三", IDNumber: "330283199001011237", AmountFen: 1, PaidOn: "2026-03-01"}, 422, "validation"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			r := apiJSON(t, ts, "POST", tc.path, tc.token, tc.body)
			if r.status != tc.status || !strings.HasSuffix(problemType(r), "/"+tc.typ) {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.typ)
			}
		})
	}

	// Malformed bodies get problem details.
	malformed := []struct {
		name, contentType, body string
		status                  int
		typ                     string
	}{
		{"not JSON", "application/json", "{", 400, "malformed-json"},
		{"unknown field", "application/json", `{"kind":"spending","owner":"me"}`, 400, "unknown-field"},
		{"wrong type", "application/json", `{"amountFen":"a lot"}`, 400, "invalid-field-type"},
		{"wrong content type", "text/plain", `{}`, 415, "unsupported-media-type"},
	}
	for _, tc := range malformed {
		t.Run(tc.name, func(t *testing.T) {
			r := apiCall(t, ts, "POST", "/v1/villages/"+village+"/ledger", finance, tc.contentType, tc.body)
			if r.status != tc.status || !strings.HasSuffix(problemType(r), "/"+tc.typ) || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
				t.Fatalf("got %d %s %s", r.status, r.header.Get("Content-Type"), r.raw)
			}
		})
	}
	if r := apiCall(t, ts, "POST", "/v1/public/villages/"+village+"/subsidies/lookup", "", "application/json", "{"); r.status != 400 || !strings.HasSuffix(problemType(r), "/malformed-json") {
		t.Fatalf("lookup with a malformed body: %d %s", r.status, r.raw)
	}

	// Finance records two entries and reverses one.
	rec := apiJSON(t, ts, "POST", "/v1/villages/"+village+"/ledger", finance, entryIn)
	if rec.status != 201 || rec.body["seq"].(float64) != 1 || rec.body["counterparty"] != "张*明" {
		t.Fatalf("record: %d %s", rec.status, rec.raw)
	}
	income := apiJSON(t, ts, "POST", "/v1/villages/"+village+"/ledger", finance,
		EntryInput{Kind: KindIncome, Category: CategoryContractIncome, AmountFen: 5_000_000, Date: "2026-01-10", Description: "鱼塘承包费", Counterparty: "溪口水产合作社"})
	if income.status != 201 {
		t.Fatalf("record income: %d %s", income.status, income.raw)
	}
	id := rec.body["id"].(string)
	rev := apiJSON(t, ts, "POST", "/v1/ledger/"+id+"/reverse", finance, reverseRequest{Reason: "金额录入错误"})
	if rev.status != 201 || rev.body["reverses"] != id || rev.body["seq"].(float64) != 3 {
		t.Fatalf("reverse: %d %s", rev.status, rev.raw)
	}
	if again := apiJSON(t, ts, "POST", "/v1/ledger/"+id+"/reverse", finance, reverseRequest{Reason: "再来一次"}); again.status != 422 {
		t.Fatalf("reversing twice: %d %s", again.status, again.raw)
	}

	// The public wallet lists both rows of the reversed entry, nets them out,
	// and names no recorder.
	wallet := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/wallet?year=2026", "", "", "")
	if wallet.status != 200 {
		t.Fatalf("wallet: %d %s", wallet.status, wallet.raw)
	}
	var pw PublicWallet
	if err := json.Unmarshal([]byte(wallet.raw), &pw); err != nil {
		t.Fatal(err)
	}
	if len(pw.Entries) != 3 || pw.SpendingFen != 0 || pw.IncomeFen != 5_000_000 || pw.BalanceFen != 5_000_000 || pw.Months[2].SpendingFen != 0 {
		t.Fatalf("wallet: %s", wallet.raw)
	}
	var orig, reversal PublicEntry
	for _, e := range pw.Entries {
		switch {
		case e.ID == id:
			orig = e
		case e.Reverses == id:
			reversal = e
		}
	}
	if !orig.Reversed || orig.ReversedBySeq != 3 || orig.TrackingNumber != "XK-2026-0001" || orig.Counterparty != "张*明" || orig.Amount != "12345.00" {
		t.Errorf("original row: %+v", orig)
	}
	if reversal.ReversesSeq != 1 || reversal.Reason != "金额录入错误" || reversal.Amount != "-12345.00" {
		t.Errorf("reversal row: %+v", reversal)
	}
	if strings.Contains(wallet.raw, "recordedBy") || strings.Contains(wallet.raw, "张小明") {
		t.Errorf("the public wallet shows people: %s", wallet.raw)
	}
	if r := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/wallet?year=20x6", "", "", ""); r.status != 422 {
		t.Errorf("bad year: %d %s", r.status, r.raw)
	}
	if r := apiCall(t, ts, "GET", "/v1/public/villages/12345/wallet", "", "", ""); r.status != 404 {
		t.Errorf("bad village: %d %s", r.status, r.raw)
	}

	// Exports.
	csv := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/export/2026/ledger.csv", "", "", "")
	if csv.status != 200 || !strings.HasPrefix(csv.header.Get("Content-Type"), "text/csv") || !strings.Contains(csv.raw, "XK-2026-0001") || strings.Count(csv.raw, "\r\n") != 4 {
		t.Fatalf("csv: %d %q", csv.status, csv.raw)
	}
	dp := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/export/2026/datapackage.json", "", "", "")
	if dp.status != 200 || dp.body["profile"] != "fiscal-data-package" {
		t.Fatalf("datapackage: %d %s", dp.status, dp.raw)
	}
	resource := dp.body["resources"].([]any)[0].(map[string]any)["path"].(string)
	if r := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/export/2026/"+resource, "", "", ""); r.status != 200 || !strings.Contains(r.raw, "XK-2026-0001") {
		t.Fatalf("datapackage resource %s: %d %s", resource, r.status, r.raw)
	}
	if r := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/export/2026/secrets.csv", "", "", ""); r.status != 404 {
		t.Fatalf("other export file: %d", r.status)
	}

	// Subsidies: recorded and reversed by finance; the public sees masks only.
	pay := apiJSON(t, ts, "POST", "/v1/villages/"+village+"/subsidies", finance, payIn)
	if pay.status != 201 || strings.Contains(pay.raw, idZhang) || pay.body["idNumber"] != "330283********1238" {
		t.Fatalf("record payment: %d %s", pay.status, pay.raw)
	}
	other := apiJSON(t, ts, "POST", "/v1/villages/"+village+"/subsidies", finance,
		PaymentRequest{Programme: "耕地地力保护补贴", HouseholdName: "欧阳娜娜", IDNumber: idOuyang, AmountFen: 30_000, PaidOn: "2026-03-01"})
	if other.status != 201 {
		t.Fatalf("record payment: %d %s", other.status, other.raw)
	}
	prev := apiJSON(t, ts, "POST", "/v1/subsidies/"+other.body["id"].(string)+"/reverse", finance, reverseRequest{Reason: "重复发放"})
	if prev.status != 201 || prev.body["reverses"] != other.body["id"] {
		t.Fatalf("reverse payment: %d %s", prev.status, prev.raw)
	}
	subs := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/subsidies?year=2026", "", "", "")
	if subs.status != 200 || len(subs.body["items"].([]any)) != 3 || !strings.Contains(subs.raw, "张*明") || !strings.Contains(subs.raw, "330283********1238") {
		t.Fatalf("public subsidies: %d %s", subs.status, subs.raw)
	}
	for _, secret := range []string{"张小明", idZhang, "欧阳娜娜", idOuyang, "idHash", "recordedBy"} {
		if strings.Contains(subs.raw, secret) {
			t.Errorf("the public subsidies show %q: %s", secret, subs.raw)
		}
	}
	if empty := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/subsidies?year=2025", "", "", ""); empty.status != 200 || len(empty.body["items"].([]any)) != 0 {
		t.Fatalf("another year: %d %s", empty.status, empty.raw)
	}

	// The lookup answers only the right ID number with the right name and
	// the household's lookup code (given to finance staff with every
	// payment), and the same way for a wrong name, a wrong or missing code
	// and an unknown person.
	code, _ := pay.body["lookupCode"].(string)
	if code == "" || code != LookupCode(s.IDHashKey, village, personal.HashID(s.IDHashKey, idZhang)) {
		t.Fatalf("the payment's lookup code: %s", pay.raw)
	}
	lookup := func(idNumber, name, code string) apiResponse {
		return apiJSON(t, ts, "POST", "/v1/public/villages/"+village+"/subsidies/lookup", "", map[string]string{"idNumber": idNumber, "name": name, "lookupCode": code})
	}
	own := lookup(idZhang, "张小明", code)
	if own.status != 200 || len(own.body["items"].([]any)) != 1 || own.header.Get("Cache-Control") != "no-store" || strings.Contains(own.raw, idZhang) {
		t.Fatalf("own lookup: %d %s", own.status, own.raw)
	}
	wrongName, unknown, wrongVillage := lookup(idZhang, "张小名", code), lookup(idAyi, "阿依古丽", code), apiJSON(t, ts, "POST",
		"/v1/public/villages/"+otherVillage+"/subsidies/lookup", "", map[string]string{"idNumber": idZhang, "name": "张小明", "lookupCode": code})
	for _, r := range []apiResponse{wrongName, unknown, wrongVillage, lookup(idZhang, "张小明", ""), lookup(idZhang, "张小明", "0000-0000")} {
		if r.status != 200 || r.raw != wrongName.raw || len(r.body["items"].([]any)) != 0 {
			t.Errorf("miss: %d %s (wrong name: %s)", r.status, r.raw, wrongName.raw)
		}
	}

	doc := apiCall(t, ts, "GET", "/openapi.yaml", "", "", "")
	if doc.status != 200 || !strings.Contains(doc.raw, "/v1/public/villages/{village}/subsidies/lookup:") {
		t.Fatalf("openapi: %d", doc.status)
	}
}

// TestAPIAnotherTownsVillageIsNotWrittenHere: once the operator has
// announced the town's villages, this town's finance staff cannot record
// money for a village code the town does not hold (another town's), which
// used to be accepted (201) because only the staff's town was checked.
func TestAPIAnotherTownsVillageIsNotWrittenHere(t *testing.T) {
	ts, s := apiServer(t)
	finance, _ := testinfra.KratosUser(t, "town-finance", testTown, "")
	const jinpingVillage = "330283100101"
	entryIn := EntryInput{Kind: KindSpending, Category: CategoryPublicWelfareExpenses, AmountFen: 100,
		Date: "2026-03-02", Description: "路灯维修"}
	payIn := PaymentRequest{Programme: "耕地地力保护补贴", HouseholdName: "张小明", IDNumber: idZhang, AmountFen: 100, PaidOn: "2026-03-01"}
	if err := applyTenantEvent(t, s, villageEvent(testTown, village, "岩头村", 1)); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/villages/" + jinpingVillage + "/ledger", "/v1/villages/" + jinpingVillage + "/subsidies"} {
		body := any(entryIn)
		if strings.HasSuffix(path, "subsidies") {
			body = payIn
		}
		if r := apiJSON(t, ts, "POST", path, finance, body); r.status != 404 {
			t.Errorf("POST %s: %d %s, want 404", path, r.status, r.raw)
		}
	}
	var n int
	if err := s.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM ledger_entries) + (SELECT count(*) FROM subsidy_payments)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused writes left %d rows (%v)", n, err)
	}
	if r := apiJSON(t, ts, "POST", "/v1/villages/"+village+"/ledger", finance, entryIn); r.status != 201 {
		t.Fatalf("the announced village: %d %s", r.status, r.raw)
	}
}
