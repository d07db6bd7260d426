package disclosure

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// apiServer runs the disclosure HTTP API on the real PostgreSQL and Kratos.
func apiServer(t *testing.T) (*httptest.Server, *Service) {
	t.Helper()
	s := newService(t, testTown)
	return httpapitest.ServeAPI(t, httpapitest.APIBase(testTown), s.Routes), s
}

type apiResponse = httpapitest.Response

func apiCall(t *testing.T, ts *httptest.Server, method, path, token, contentType, body string) apiResponse {
	t.Helper()
	return httpapitest.Client{URL: ts.URL}.Call(t, method, path, token, contentType, body)
}

func apiJSON(t *testing.T, ts *httptest.Server, method, path, token string, body any) apiResponse {
	t.Helper()
	return httpapitest.Client{URL: ts.URL}.JSON(t, method, path, token, body)
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
			if r.Status != tc.status || !strings.HasSuffix(r.ProblemType(), "/"+tc.typ) {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Raw, tc.status, tc.typ)
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
			if r.Status != tc.status || !strings.HasSuffix(r.ProblemType(), "/"+tc.typ) || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
				t.Fatalf("got %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Raw)
			}
		})
	}
	if r := apiCall(t, ts, "POST", "/v1/public/villages/"+village+"/subsidies/lookup", "", "application/json", "{"); r.Status != 400 || !strings.HasSuffix(r.ProblemType(), "/malformed-json") {
		t.Fatalf("lookup with a malformed body: %d %s", r.Status, r.Raw)
	}

	// Finance records two entries and reverses one.
	rec := apiJSON(t, ts, "POST", "/v1/villages/"+village+"/ledger", finance, entryIn)
	if rec.Status != 201 || rec.Body["seq"].(float64) != 1 || rec.Body["counterparty"] != "张*明" {
		t.Fatalf("record: %d %s", rec.Status, rec.Raw)
	}
	income := apiJSON(t, ts, "POST", "/v1/villages/"+village+"/ledger", finance,
		EntryInput{Kind: KindIncome, Category: CategoryContractIncome, AmountFen: 5_000_000, Date: "2026-01-10", Description: "鱼塘承包费", Counterparty: "溪口水产合作社"})
	if income.Status != 201 {
		t.Fatalf("record income: %d %s", income.Status, income.Raw)
	}
	id := rec.Body["id"].(string)
	rev := apiJSON(t, ts, "POST", "/v1/ledger/"+id+"/reverse", finance, reverseRequest{Reason: "金额录入错误"})
	if rev.Status != 201 || rev.Body["reverses"] != id || rev.Body["seq"].(float64) != 3 {
		t.Fatalf("reverse: %d %s", rev.Status, rev.Raw)
	}
	if again := apiJSON(t, ts, "POST", "/v1/ledger/"+id+"/reverse", finance, reverseRequest{Reason: "再来一次"}); again.Status != 422 {
		t.Fatalf("reversing twice: %d %s", again.Status, again.Raw)
	}

	// The public wallet lists both rows of the reversed entry, nets them out,
	// and names no recorder.
	wallet := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/wallet?year=2026", "", "", "")
	if wallet.Status != 200 {
		t.Fatalf("wallet: %d %s", wallet.Status, wallet.Raw)
	}
	var pw PublicWallet
	if err := json.Unmarshal([]byte(wallet.Raw), &pw); err != nil {
		t.Fatal(err)
	}
	if len(pw.Entries) != 3 || pw.SpendingFen != 0 || pw.IncomeFen != 5_000_000 || pw.BalanceFen != 5_000_000 || pw.Months[2].SpendingFen != 0 {
		t.Fatalf("wallet: %s", wallet.Raw)
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
	if strings.Contains(wallet.Raw, "recordedBy") || strings.Contains(wallet.Raw, "张小明") {
		t.Errorf("the public wallet shows people: %s", wallet.Raw)
	}
	if r := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/wallet?year=20x6", "", "", ""); r.Status != 422 {
		t.Errorf("bad year: %d %s", r.Status, r.Raw)
	}
	if r := apiCall(t, ts, "GET", "/v1/public/villages/12345/wallet", "", "", ""); r.Status != 404 {
		t.Errorf("bad village: %d %s", r.Status, r.Raw)
	}

	// Exports.
	csv := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/export/2026/ledger.csv", "", "", "")
	if csv.Status != 200 || !strings.HasPrefix(csv.Header.Get("Content-Type"), "text/csv") || !strings.Contains(csv.Raw, "XK-2026-0001") || strings.Count(csv.Raw, "\r\n") != 4 {
		t.Fatalf("csv: %d %q", csv.Status, csv.Raw)
	}
	dp := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/export/2026/datapackage.json", "", "", "")
	if dp.Status != 200 || dp.Body["profile"] != "fiscal-data-package" {
		t.Fatalf("datapackage: %d %s", dp.Status, dp.Raw)
	}
	resource := dp.Body["resources"].([]any)[0].(map[string]any)["path"].(string)
	if r := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/export/2026/"+resource, "", "", ""); r.Status != 200 || !strings.Contains(r.Raw, "XK-2026-0001") {
		t.Fatalf("datapackage resource %s: %d %s", resource, r.Status, r.Raw)
	}
	if r := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/export/2026/secrets.csv", "", "", ""); r.Status != 404 {
		t.Fatalf("other export file: %d", r.Status)
	}

	// Subsidies: recorded and reversed by finance; the public sees masks only.
	pay := apiJSON(t, ts, "POST", "/v1/villages/"+village+"/subsidies", finance, payIn)
	if pay.Status != 201 || strings.Contains(pay.Raw, idZhang) || pay.Body["idNumber"] != "330283********1238" {
		t.Fatalf("record payment: %d %s", pay.Status, pay.Raw)
	}
	other := apiJSON(t, ts, "POST", "/v1/villages/"+village+"/subsidies", finance,
		PaymentRequest{Programme: "耕地地力保护补贴", HouseholdName: "欧阳娜娜", IDNumber: idOuyang, AmountFen: 30_000, PaidOn: "2026-03-01"})
	if other.Status != 201 {
		t.Fatalf("record payment: %d %s", other.Status, other.Raw)
	}
	prev := apiJSON(t, ts, "POST", "/v1/subsidies/"+other.Body["id"].(string)+"/reverse", finance, reverseRequest{Reason: "重复发放"})
	if prev.Status != 201 || prev.Body["reverses"] != other.Body["id"] {
		t.Fatalf("reverse payment: %d %s", prev.Status, prev.Raw)
	}
	subs := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/subsidies?year=2026", "", "", "")
	if subs.Status != 200 || len(subs.Body["items"].([]any)) != 3 || !strings.Contains(subs.Raw, "张*明") || !strings.Contains(subs.Raw, "330283********1238") {
		t.Fatalf("public subsidies: %d %s", subs.Status, subs.Raw)
	}
	for _, secret := range []string{"张小明", idZhang, "欧阳娜娜", idOuyang, "idHash", "recordedBy"} {
		if strings.Contains(subs.Raw, secret) {
			t.Errorf("the public subsidies show %q: %s", secret, subs.Raw)
		}
	}
	if empty := apiCall(t, ts, "GET", "/v1/public/villages/"+village+"/subsidies?year=2025", "", "", ""); empty.Status != 200 || len(empty.Body["items"].([]any)) != 0 {
		t.Fatalf("another year: %d %s", empty.Status, empty.Raw)
	}

	// The lookup answers only the right ID number with the right name and
	// the household's lookup code (given to finance staff with every
	// payment), and the same way for a wrong name, a wrong or missing code
	// and an unknown person.
	code, _ := pay.Body["lookupCode"].(string)
	if code == "" || code != LookupCode(s.IDHashKey, village, personal.HashID(s.IDHashKey, idZhang)) {
		t.Fatalf("the payment's lookup code: %s", pay.Raw)
	}
	lookup := func(idNumber, name, code string) apiResponse {
		return apiJSON(t, ts, "POST", "/v1/public/villages/"+village+"/subsidies/lookup", "", map[string]string{"idNumber": idNumber, "name": name, "lookupCode": code})
	}
	own := lookup(idZhang, "张小明", code)
	if own.Status != 200 || len(own.Body["items"].([]any)) != 1 || own.Header.Get("Cache-Control") != "no-store" || strings.Contains(own.Raw, idZhang) {
		t.Fatalf("own lookup: %d %s", own.Status, own.Raw)
	}
	wrongName, unknown, wrongVillage := lookup(idZhang, "张小名", code), lookup(idAyi, "阿依古丽", code), apiJSON(t, ts, "POST",
		"/v1/public/villages/"+otherVillage+"/subsidies/lookup", "", map[string]string{"idNumber": idZhang, "name": "张小明", "lookupCode": code})
	for _, r := range []apiResponse{wrongName, unknown, wrongVillage, lookup(idZhang, "张小明", ""), lookup(idZhang, "张小明", "0000-0000")} {
		if r.Status != 200 || r.Raw != wrongName.Raw || len(r.Body["items"].([]any)) != 0 {
			t.Errorf("miss: %d %s (wrong name: %s)", r.Status, r.Raw, wrongName.Raw)
		}
	}

	doc := apiCall(t, ts, "GET", "/openapi.yaml", "", "", "")
	if doc.Status != 200 || !strings.Contains(doc.Raw, "/v1/public/villages/{village}/subsidies/lookup:") {
		t.Fatalf("openapi: %d", doc.Status)
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
		if r := apiJSON(t, ts, "POST", path, finance, body); r.Status != 404 {
			t.Errorf("POST %s: %d %s, want 404", path, r.Status, r.Raw)
		}
	}
	var n int
	if err := s.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM ledger_entries) + (SELECT count(*) FROM subsidy_payments)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused writes left %d rows (%v)", n, err)
	}
	if r := apiJSON(t, ts, "POST", "/v1/villages/"+village+"/ledger", finance, entryIn); r.Status != 201 {
		t.Fatalf("the announced village: %d %s", r.Status, r.Raw)
	}
}
