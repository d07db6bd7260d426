package inspection

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/wuxiao/wuxiao/api/openapi"
	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

var testHashKey = []byte("wuxiao-test-id-hash-key-0123456789abcdef")

// idNumber completes 17 digits with their GB 11643 check character.
func idNumber(first17 string) string {
	return first17 + string(personal.IDCheckChar(first17))
}

// The vectors were computed with disclosure's HashID before it moved to
// services/internal/personal (same key): payees' hashes in payment events
// must equal relatives' hashes here.
func TestHashIDNumberMatchesDisclosure(t *testing.T) {
	for _, tc := range []struct{ id, want string }{
		{"330283199001011237", "ea92f903b5e47df16741b10d06da6eea6c8a1894bc8e767d10f27060593c7783"},
		{" 33028319900101123x ", "5093d33de24855221fa36468d476a0515f4f7e1740572d1752958d4057410913"},
		{"３３０２８３１９９００１０１１２３７", "ea92f903b5e47df16741b10d06da6eea6c8a1894bc8e767d10f27060593c7783"},
	} {
		if got := personal.HashID(testHashKey, tc.id); got != tc.want {
			t.Errorf("HashID(%q) = %s, want %s", tc.id, got, tc.want)
		}
	}
	if !personal.ValidIDNumber(personal.NormalizeIDNumber(idNumber("33028319900101123"))) || personal.ValidIDNumber("330283199001011230") {
		t.Error("check character validation")
	}
	if m := personal.MaskIDNumber("330283199001011237"); m != "330283********1237" {
		t.Errorf("mask %s", m)
	}
}

// call sends a request with an optional JSON (or other) body.
func call(t *testing.T, ts *httptest.Server, method, path, token, contentType string, body any) response {
	t.Helper()
	return responseOf(httpapitest.Client{URL: ts.URL}.Call(t, method, path, token, contentType, body))
}

type users struct{ disc, otherDisc, district, official, cadre, villager string }

func kratosUsers(t *testing.T) users {
	var u users
	u.disc, _ = testinfra.KratosUser(t, "town-discipline", svcTown, "")
	u.otherDisc, _ = testinfra.KratosUser(t, "town-discipline", "jinping", "")
	u.district, _ = testinfra.KratosUser(t, "district-discipline", "", "")
	u.official, _ = testinfra.KratosUser(t, "town-official", svcTown, "")
	u.cadre, _ = testinfra.KratosUser(t, "secretary", svcTown, svcVillage)
	u.villager, _ = testinfra.KratosUser(t, "villager", svcTown, svcVillage)
	return u
}

func integrityAPI(t *testing.T) (*httptest.Server, *Service, users) {
	ts, s := api(t)
	s.Integrity.IDHashKey = testHashKey
	return ts, s, kratosUsers(t)
}

// createFile opens a file for the secretary of svcVillage.
func createFile(t *testing.T, ts *httptest.Server, token, village string) string {
	t.Helper()
	r := call(t, ts, "POST", "/v1/integrity-files", token, "", CreateFileRequest{Village: village, CadreName: "王建国", CadrePost: "村党组织书记",
		IDNumber: idNumber("33028319700305001")})
	if r.status != 201 {
		t.Fatalf("create file: %d %s", r.status, r.raw)
	}
	return r.body["id"].(string)
}

func TestIntegrityFileAccess(t *testing.T) {
	ts, s, u := integrityAPI(t)
	file := createFile(t, ts, u.disc, svcVillage)
	base := "/v1/integrity-files/" + file
	sanctions := WriteSectionRequest{Content: SectionContent{Items: []Record{{Date: "2025-06-01", Until: "2026-12-31", Kind: "党内警告", Summary: "违规发放补贴", Ref: "奉纪处〔2025〕3号"}}}}
	relative := AddRelativeRequest{Name: "王小明", Relation: "子女", IDNumber: idNumber("33028320000101002")}
	cases := []struct {
		name, token, method, path string
		body                      any
		status                    int
	}{
		{"discipline reads", u.disc, "GET", base, nil, 200},
		{"district reads", u.district, "GET", base, nil, 200},
		{"other town's discipline reads", u.otherDisc, "GET", base, nil, 403},
		{"the cadre reads own file", u.cadre, "GET", base, nil, 403},
		{"town official reads", u.official, "GET", base, nil, 403},
		{"villager reads", u.villager, "GET", base, nil, 403},
		{"no session reads", "", "GET", base, nil, 401},
		{"discipline writes", u.disc, "PUT", base + "/sections/sanctions", sanctions, 200},
		{"district writes", u.district, "PUT", base + "/sections/sanctions", sanctions, 403},
		{"the cadre writes own file", u.cadre, "PUT", base + "/sections/sanctions", sanctions, 403},
		{"other town's discipline writes", u.otherDisc, "PUT", base + "/sections/sanctions", sanctions, 403},
		{"town official writes", u.official, "PUT", base + "/sections/sanctions", sanctions, 403},
		{"discipline adds relative", u.disc, "POST", base + "/relatives", relative, 201},
		{"cadre adds relative", u.cadre, "POST", base + "/relatives", relative, 403},
		{"district adds relative", u.district, "POST", base + "/relatives", relative, 403},
		{"the cadre creates a file", u.cadre, "POST", "/v1/integrity-files", CreateFileRequest{Village: svcVillage, CadreName: "王建国"}, 403},
		{"discipline lists", u.disc, "GET", "/v1/integrity-files?village=" + svcVillage, nil, 200},
		{"cadre lists", u.cadre, "GET", "/v1/integrity-files", nil, 403},
		{"discipline history", u.disc, "GET", base + "/sections/sanctions/history", nil, 200},
		{"cadre history", u.cadre, "GET", base + "/sections/sanctions/history", nil, 403},
		{"discipline audit", u.disc, "GET", "/v1/integrity-audit?file=" + file, nil, 200},
		{"district audit", u.district, "GET", "/v1/integrity-audit", nil, 200},
		{"cadre audit", u.cadre, "GET", "/v1/integrity-audit", nil, 403},
		{"official audit", u.official, "GET", "/v1/integrity-audit", nil, 403},
		{"no such file", u.disc, "GET", "/v1/integrity-files/5b0d1b4e-8f6c-4f8e-9a59-3f1c2d3e4f50", nil, 404},
		{"not a file id", u.disc, "GET", "/v1/integrity-files/abc", nil, 404},
		{"no such section", u.disc, "PUT", base + "/sections/hobbies", sanctions, 404},
		{"invalid record", u.disc, "PUT", base + "/sections/crimes", WriteSectionRequest{Content: SectionContent{Items: []Record{{Date: "2025-13-01", Summary: "x"}}}}, 422},
		{"marital without status", u.disc, "PUT", base + "/sections/marital", WriteSectionRequest{Content: SectionContent{}}, 422},
		{"invalid relative id", u.disc, "POST", base + "/relatives", AddRelativeRequest{Name: "李四", Relation: "配偶", IDNumber: "330283200001010020"}, 422},
		{"relative twice", u.disc, "POST", base + "/relatives", relative, 409},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if r := call(t, ts, tc.method, tc.path, tc.token, "", tc.body); r.status != tc.status {
				t.Fatalf("got %d %.300s, want %d", r.status, r.raw, tc.status)
			}
		})
	}

	// Every read leaves exactly one audit row, naming who, role and sections.
	reads := func() int {
		return count(t, s.Pool, `SELECT count(*) FROM integrity_audit WHERE action = 'read' AND allowed AND file_id = $1`, file)
	}
	before := reads()
	for i := range 3 {
		tok := []string{u.disc, u.district, u.disc}[i]
		if r := call(t, ts, "GET", base, tok, "", nil); r.status != 200 {
			t.Fatalf("read: %d", r.status)
		}
	}
	if after := reads(); after != before+3 {
		t.Fatalf("audit read rows %d → %d, want +3", before, after)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM integrity_audit WHERE action = 'read' AND file_id = $1 AND role = 'district-discipline' AND sections = '{*}'`, file); n != 2 {
		t.Errorf("%d district reads audited, want 2", n)
	}
	// Refused attempts are audited too (the cadre tried twice: read and write).
	if n := count(t, s.Pool, `SELECT count(*) FROM integrity_audit WHERE NOT allowed AND role = 'secretary'`); n < 2 {
		t.Errorf("%d refused attempts of the cadre audited", n)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM integrity_audit WHERE action = 'write-section' AND allowed AND sections = '{sanctions}'`); n != 1 {
		t.Errorf("%d section writes audited, want 1", n)
	}

	// The file as read: the sanction, the relative masked, no ID number or hash.
	r := call(t, ts, "GET", base, u.disc, "", nil)
	rels := r.body["relatives"].([]any)
	if len(rels) != 1 || rels[0].(map[string]any)["idMasked"] != "330283********"+relative.IDNumber[14:] {
		t.Fatalf("relatives %v", rels)
	}
	if strings.Contains(r.raw, relative.IDNumber) || strings.Contains(r.raw, personal.HashID(testHashKey, relative.IDNumber)) || strings.Contains(r.raw, "19700305") {
		t.Fatalf("the file shows an ID number or hash: %s", r.raw)
	}
	// Never stored in clear anywhere in the integrity tables.
	for _, tbl := range []string{"integrity_files", "integrity_relatives", "integrity_sections", "integrity_audit"} {
		if n := count(t, s.Pool, `SELECT count(*) FROM `+tbl+` x WHERE x::text LIKE '%' || $1 || '%' OR x::text LIKE '%' || $2 || '%'`,
			relative.IDNumber, idNumber("33028319700305001")); n != 0 {
			t.Errorf("%s holds a plain ID number", tbl)
		}
	}

	// Sections are versioned, never overwritten; a stale version is refused.
	v1 := 1
	upd := WriteSectionRequest{Version: &v1, Content: SectionContent{Items: append(sanctions.Content.Items, Record{Date: "2026-01-10", Kind: "诫勉谈话", Summary: "补充"})}}
	if r := call(t, ts, "PUT", base+"/sections/sanctions", u.disc, "", upd); r.status != 200 || r.body["version"].(float64) != 2 {
		t.Fatalf("second version: %d %s", r.status, r.raw)
	}
	if r := call(t, ts, "PUT", base+"/sections/sanctions", u.disc, "", upd); r.status != 409 {
		t.Fatalf("stale version: %d %s", r.status, r.raw)
	}
	h := call(t, ts, "GET", base+"/sections/sanctions/history", u.district, "", nil)
	if items := h.body["items"].([]any); len(items) != 2 || items[0].(map[string]any)["version"].(float64) != 2 {
		t.Fatalf("history: %s", h.raw)
	}

	// The audit is append-only, even for the service's own database role.
	ctx := context.Background()
	if _, err := s.Pool.Exec(ctx, `UPDATE integrity_audit SET allowed = true`); err == nil {
		t.Fatal("the audit could be updated")
	}
	if _, err := s.Pool.Exec(ctx, `DELETE FROM integrity_sections`); err == nil {
		t.Fatal("section versions could be deleted")
	}
	a := call(t, ts, "GET", "/v1/integrity-audit?file="+file+"&limit=200", u.disc, "", nil)
	items := a.body["items"].([]any)
	if len(items) < 8 {
		t.Fatalf("audit of the file: %s", a.raw)
	}
	first := items[len(items)-1].(map[string]any)
	if first["action"] != "create" || first["role"] != "town-discipline" || first["actorId"] == "" {
		t.Errorf("first audit row %v", first)
	}
}

func TestNegativeListEvaluate(t *testing.T) {
	list := DefaultNegativeList()
	if err := list.Validate(); err != nil || len(list.Indicators) != 15 {
		t.Fatalf("default list: %d indicators, %v", len(list.Indicators), err)
	}
	now := time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai)
	sec := func(s Section, items ...Record) map[Section]SectionVersion {
		return map[Section]SectionVersion{s: {Section: s, Version: 3, Content: SectionContent{Items: items}}}
	}
	all := func(v bool) map[string]bool {
		m := map[string]bool{}
		for _, i := range list.Indicators {
			m[i.ID] = v
		}
		return m
	}
	tests := []struct {
		name     string
		sections map[Section]SectionVersion
		answers  map[string]bool
		status   string
		hits     []string
	}{
		{"clean, all declared no", nil, all(false), CheckClear, nil},
		{"clean, nothing declared", nil, nil, CheckIncomplete, nil},
		{"sanction in its influence period", sec(SectionSanctions, Record{Date: "2025-06-01", Until: "2026-12-31", Kind: "党内警告", Summary: "s"}), all(false), CheckHit, []string{"N04"}},
		{"sanction whose period ended", sec(SectionSanctions, Record{Date: "2023-06-01", Until: "2024-06", Kind: "党内警告", Summary: "s"}), all(false), CheckClear, nil},
		{"criminal penalty long ago", sec(SectionCrimes, Record{Date: "1998", Kind: "刑事处罚（有期徒刑一年）", Summary: "s"}), all(false), CheckHit, []string{"N01"}},
		{"detention 4 years ago", sec(SectionPenalties, Record{Date: "2022-03-01", Kind: "行政拘留", Summary: "s"}), all(false), CheckClear, nil},
		{"detention last year", sec(SectionPenalties, Record{Date: "2025-03-01", Kind: "行政拘留", Summary: "s"}), all(false), CheckHit, []string{"N05"}},
		{"gambling penalty last year", sec(SectionPenalties, Record{Date: "2025-03-01", Kind: "赌博 行政拘留", Summary: "s"}), all(false), CheckHit, []string{"N05", "N06"}},
		{"substantiated petition", sec(SectionPetitions, Record{Date: "2025-09", Kind: "侵占集体资产", Outcome: ComplaintSubstantiated, Summary: "s"}), all(false), CheckHit, []string{"N10", "N12"}},
		{"unsubstantiated petition", sec(SectionPetitions, Record{Date: "2025-09", Kind: "侵占集体资产", Outcome: ComplaintUnsubstantiated, Summary: "s"}), all(false), CheckClear, nil},
		{"declared away", nil, func() map[string]bool { m := all(false); m["N14"] = true; return m }(), CheckHit, []string{"N14"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := list.Evaluate(tt.sections, tt.answers, now)
			var ids []string
			for _, h := range res.Hits {
				ids = append(ids, h.ID)
				if len(h.Evidence) == 0 {
					t.Errorf("hit %s without evidence", h.ID)
				}
			}
			if res.Status != tt.status || fmt.Sprint(ids) != fmt.Sprint(tt.hits) || res.Eligible != (tt.status == CheckClear) {
				t.Fatalf("status %s hits %v eligible %v, want %s %v", res.Status, ids, res.Eligible, tt.status, tt.hits)
			}
		})
	}
	if _, err := LoadNegativeList([]byte("version: x\nindicators:\n- id: A\n  text: t\n  match: [{section: hobbies}]\n- id: A\n  text: ''\n")); err == nil ||
		!strings.Contains(err.Error(), "hobbies") || !strings.Contains(err.Error(), "used twice") || !strings.Contains(err.Error(), "text") {
		t.Fatalf("bad list: %v", err)
	}
	l, err := LoadNegativeList([]byte(`{"version":"t1","indicators":[{"id":"X1","text":"受过刑事处罚的","match":[{"section":"crimes"}]}]}`))
	if err != nil || l.Evaluate(sec(SectionCrimes, Record{Date: "2001", Kind: "k", Summary: "s"}), nil, now).Status != CheckHit {
		t.Fatalf("custom list: %v", err)
	}
}

func TestSelectionCheckAPI(t *testing.T) {
	ts, s, u := integrityAPI(t)
	file := createFile(t, ts, u.disc, svcVillage)
	base := "/v1/integrity-files/" + file
	if r := call(t, ts, "PUT", base+"/sections/sanctions", u.disc, "", WriteSectionRequest{Content: SectionContent{Items: []Record{
		{Date: "2025-06-01", Until: "2026-12-31", Kind: "严重警告", Summary: "违规操办婚宴"}}}}); r.status != 200 {
		t.Fatalf("write: %d %s", r.status, r.raw)
	}
	answers := map[string]bool{}
	for _, i := range DefaultNegativeList().Indicators {
		answers[i.ID] = false
	}
	answers["N03"] = true
	cases := []struct {
		name, token string
		body        any
		status      int
	}{
		{"cadre checks", u.cadre, SelectionCheckRequest{Answers: answers}, 403},
		{"official checks", u.official, SelectionCheckRequest{Answers: answers}, 403},
		{"other town's discipline checks", u.otherDisc, SelectionCheckRequest{Answers: answers}, 403},
		{"unknown indicator", u.disc, SelectionCheckRequest{Answers: map[string]bool{"N99": true}}, 422},
		{"discipline checks", u.disc, SelectionCheckRequest{Answers: answers, Note: "2026年换届资格联审"}, 201},
	}
	var res response
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, ts, "POST", base+"/selection-checks", tc.token, "", tc.body)
			if r.status != tc.status {
				t.Fatalf("got %d %.300s, want %d", r.status, r.raw, tc.status)
			}
			res = r
		})
	}
	if res.body["status"] != CheckHit || res.body["eligible"] != false || res.body["listVersion"] != DefaultNegativeList().Version {
		t.Fatalf("check: %s", res.raw)
	}
	hits := res.body["hits"].([]any)
	if len(hits) != 2 {
		t.Fatalf("hits: %v", hits)
	}
	n04 := hits[1].(map[string]any)
	ev := n04["evidence"].([]any)[0].(map[string]any)
	if n04["id"] != "N04" || ev["source"] != "file" || ev["section"] != "sanctions" || ev["version"].(float64) != 1 ||
		ev["record"].(map[string]any)["kind"] != "严重警告" {
		t.Errorf("N04 hit %v", n04)
	}
	if hits[0].(map[string]any)["id"] != "N03" || hits[0].(map[string]any)["evidence"].([]any)[0].(map[string]any)["source"] != "declared" {
		t.Errorf("N03 hit %v", hits[0])
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM selection_checks WHERE file_id = $1 AND NOT eligible`, file); n != 1 {
		t.Errorf("%d checks recorded", n)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM integrity_audit WHERE action = 'selection-check' AND allowed AND file_id = $1 AND detail = 'hit'`, file); n != 1 {
		t.Errorf("%d checks audited", n)
	}
	l := call(t, ts, "GET", base+"/selection-checks", u.district, "", nil)
	if l.status != 200 || len(l.body["items"].([]any)) != 1 {
		t.Fatalf("checks: %d %s", l.status, l.raw)
	}
	nl := call(t, ts, "GET", "/v1/negative-list", u.disc, "", nil)
	if nl.status != 200 || len(nl.body["indicators"].([]any)) != 15 || nl.body["illustrative"] != true {
		t.Fatalf("negative list: %d %.300s", nl.status, nl.raw)
	}
	if r := call(t, ts, "GET", "/v1/negative-list", u.cadre, "", nil); r.status != 403 {
		t.Fatalf("cadre reads the list: %d", r.status)
	}
}

// Every route of integrity.go, crosscheck.go and pdf.go is documented.
func TestIntegrityRoutesDocumented(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := yaml.Unmarshal(openapi.Inspection, &doc); err != nil {
		t.Fatal(err)
	}
	for _, route := range []string{
		"POST /v1/integrity-files", "GET /v1/integrity-files", "GET /v1/integrity-files/{id}",
		"PUT /v1/integrity-files/{id}/sections/{section}", "GET /v1/integrity-files/{id}/sections/{section}/history",
		"POST /v1/integrity-files/{id}/relatives", "DELETE /v1/integrity-files/{id}/relatives/{relative}",
		"GET /v1/integrity-audit", "GET /v1/negative-list", "POST /v1/integrity-files/{id}/selection-checks",
		"GET /v1/integrity-files/{id}/selection-checks", "POST /v1/deceased-persons", "POST /v1/deceased-persons/import",
		"GET /v1/deceased-persons", "GET /v1/crosscheck-flags", "GET /v1/notices/{number}/pdf",
	} {
		method, path, _ := strings.Cut(route, " ")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("openapi.yaml lacks %s", route)
		}
	}
}
