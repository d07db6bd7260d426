package disclosure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/html"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/qrcode/qrcodetest"
	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

const (
	testTownCode  = "330213100000"
	testPortalURL = "https://jiandu.example.cn"
	// A village of the town with nothing recorded, and one of another town.
	emptyVillage   = "330213100299"
	foreignVillage = "330283001001"
)

// portalService is a Service configured as the binary configures it: the
// sample power list, the town code and the portal address.
func portalService(t testing.TB, s *Service) *Service {
	t.Helper()
	cat, err := LoadCatalog(testinfra.CatalogFile(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Catalog, s.TownCode, s.PortalBaseURL = cat, testTownCode, testPortalURL
	return s
}

// serve runs the service's routes (the JSON API and the portal) on a
// loopback server, as the binary does.
func serve(t testing.TB, s *Service) *httptest.Server {
	t.Helper()
	return httpapitest.ServeAPI(t, httpapitest.APIBase(testTown), s.Routes)
}

type page struct {
	status int
	header http.Header
	body   string
}

func get(t testing.TB, ts *httptest.Server, path string, header ...string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) page {
	t.Helper()
	r := httpapitest.Client{KeepRedirects: true}.Send(t, req)
	return page{r.Status, r.Header, r.Raw}
}

func postForm(t testing.TB, ts *httptest.Server, path string, form url.Values) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, req)
}

// applyEvent feeds one workflow event through the real consumer handler in
// a transaction, as the consumer does.
func applyEvent(t testing.TB, s *Service, ev eventsv1.Event) error {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := s.HandleWorkflowEvent(ctx, tx, ev); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func workflowEvent(t testing.TB, villageCode, typ string, data any) eventsv1.Event {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + testTown + "/workflow", Type: typ, Subject: "x",
		Time: serviceNow.UTC(), Town: testTown, Village: villageCode, Data: raw}
}

// processFixture is a funds-expenditure process of a village.
type processFixture struct {
	ref    eventsv1.InstanceRef
	events []eventsv1.Event
}

func expenditure(t testing.TB, villageCode, tracking string) *processFixture {
	return &processFixture{ref: eventsv1.InstanceRef{InstanceID: uuid.NewString(), TrackingNumber: tracking,
		ItemID: "funds-expenditure", ItemName: "村级财务支出审批", Category: "funds", CatalogVersion: "2026.1"}}
}

var (
	at = func(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 0, 0, 0, tz.Shanghai) }
	// Full personal data that must never reach a page.
	payeeName = "王小五"
)

func (p *processFixture) add(t testing.TB, villageCode, typ string, data any) eventsv1.Event {
	ev := workflowEvent(t, villageCode, typ, data)
	p.events = append(p.events, ev)
	return ev
}

// seedPortal records, through the service's own write paths, a village's
// wallet (an entry with a named counterparty, one reversed), subsidies
// (full names and ID numbers) and a completed process that booked an entry,
// plus a running process with warnings and a withdrawn one.
func seedPortal(t *testing.T, s *Service) (completed, running, withdrawn *processFixture) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.RecordEntry(ctx, "finance-1", EntryInput{Village: village, Kind: KindIncome, Category: CategoryContractIncome,
		AmountFen: 1_200_000, Date: "2026-01-10", Description: "鱼塘发包收入", Counterparty: "张三丰"}); err != nil {
		t.Fatal(err)
	}
	wrong, err := s.RecordEntry(ctx, "finance-1", EntryInput{Village: village, Kind: KindSpending, Category: CategoryManagementExpenses,
		AmountFen: 30_000, Date: "2026-02-03", Description: "办公用品（联系人 13812345678）"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReverseEntry(ctx, wrong.ID, "金额录错，应为 300 元", "finance-1"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []PaymentRequest{
		{Village: village, Programme: "耕地地力保护补贴", HouseholdName: "张小明", IDNumber: idZhang, AmountFen: 52_300, PaidOn: "2026-02-20"},
		{Village: village, Programme: "耕地地力保护补贴", HouseholdName: "欧阳小锋", IDNumber: idOuyang, AmountFen: 61_000, PaidOn: "2026-02-20"},
	} {
		if _, err := s.RecordPayment(ctx, "finance-1", p); err != nil {
			t.Fatal(err)
		}
	}

	completed = expenditure(t, village, village+"-20260301-DONE1")
	completed.add(t, village, eventsv1.TypeInstanceStarted, eventsv1.InstanceStarted{InstanceRef: completed.ref, Title: "购买保洁工具", AmountFen: 88_000, StartedBy: "c1", StartedAt: at(1, 9)})
	for i, st := range []struct{ id, next string }{{"apply", "supervision-review"}, {"supervision-review", "approval"}, {"approval", "payment"},
		{"payment", "bookkeeping"}, {"bookkeeping", "disclosure"}, {"disclosure", ""}} {
		completed.add(t, village, eventsv1.TypeStepCompleted, eventsv1.StepCompleted{InstanceRef: completed.ref, StepID: st.id, StepName: st.id,
			ActorID: "c1", ActorRole: "secretary", CompletedAt: at(2+i, 10), NextStep: st.next})
	}
	completed.add(t, village, eventsv1.TypeInstanceCompleted, eventsv1.InstanceCompleted{InstanceRef: completed.ref, Title: "购买保洁工具",
		AmountFen: 88_000, PayeeName: payeeName, CompletedAt: at(8, 16)})

	running = expenditure(t, village, village+"-20260310-RUN01")
	running.add(t, village, eventsv1.TypeInstanceStarted, eventsv1.InstanceStarted{InstanceRef: running.ref, Title: "修缮村道", StartedBy: "c1", StartedAt: at(10, 9)})
	running.add(t, village, eventsv1.TypeStepCompleted, eventsv1.StepCompleted{InstanceRef: running.ref, StepID: "apply", StepName: "经办人提出支出申请",
		CompletedAt: at(10, 10), NextStep: "supervision-review"})
	running.add(t, village, eventsv1.TypeWarningRaised, eventsv1.WarningRaised{InstanceRef: running.ref, WarningID: uuid.NewString(), StepID: "apply",
		Rule: "evidence-required", Message: "缺少报价单（经办人身份证 " + idOuyang + "）", Norm: "支出须附三家报价", Basis: "村级财务管理办法", Public: true, RaisedAt: at(10, 11)})
	running.add(t, village, eventsv1.TypeWarningRaised, eventsv1.WarningRaised{InstanceRef: running.ref, WarningID: uuid.NewString(), StepID: "apply",
		Rule: "conflict-of-interest", Message: "内部预警：亲属关系待核", Public: false, RaisedAt: at(10, 12)})

	withdrawn = expenditure(t, village, village+"-20260311-WDN01")
	withdrawn.add(t, village, eventsv1.TypeInstanceStarted, eventsv1.InstanceStarted{InstanceRef: withdrawn.ref, Title: "采购路灯", StartedAt: at(11, 9)})
	withdrawn.add(t, village, eventsv1.TypeInstanceWithdrawn, eventsv1.InstanceWithdrawn{InstanceRef: withdrawn.ref, Reason: "并入镇统一采购",
		WithdrawnBy: "c1", WithdrawnAt: at(12, 9)})

	for _, p := range []*processFixture{completed, running, withdrawn} {
		for _, ev := range p.events {
			if err := applyEvent(t, s, ev); err != nil {
				t.Fatalf("%s: %v", ev.Type, err)
			}
		}
	}
	return completed, running, withdrawn
}

// secrets are the personal data seeded in full: no page may show them.
var secrets = []string{idZhang, idOuyang, "张小明", "欧阳小锋", "张三丰", payeeName, "13812345678", "19900101"}

func TestPortalPagesAreMaskedAndValid(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	ts := serve(t, s)
	completed, running, withdrawn := seedPortal(t, s)
	base := "/v/" + village
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"wallet", base + "?year=2026", []string{"我们的钱包", "鱼塘发包收入", personal.MaskName("张三丰"), "12000.00", "金额录错", "已被第",
			`<svg class="chart"`, `aria-labelledby="cat-title"`, "/export/2026/ledger.csv", "/export/2026/datapackage.json",
			`href="` + base + "/processes/" + completed.ref.TrackingNumber + `"`, "138****5678", personal.MaskName(payeeName)}},
		{"wallet default year", base, []string{"2026年收支概况"}},
		{"subsidies", base + "/subsidies?year=2026", []string{"补贴去哪了", personal.MaskName("张小明"), personal.MaskName("欧阳小锋"),
			"330283********1238", "110105********002X", "1133.00", `action="` + base + `/subsidies/lookup"`}},
		{"process form", base + "/processes", []string{"办件编号", `name="tracking"`}},
		{"completed process", base + "/processes/" + completed.ref.TrackingNumber, []string{"村级财务支出审批", "购买保洁工具", "已办结",
			"出纳支付", "2026-03-05 10:00", "2026-03-08 16:00", `class="step done" data-step="payment"`}},
		{"running process", base + "/processes/" + running.ref.TrackingNumber, []string{"办理中", "修缮村道", "村务监督委员会审核",
			`class="step current" data-step="supervision-review"`, "违规预警", "缺少报价单", "110105********002X", "支出须附三家报价"}},
		{"withdrawn process", base + "/processes/" + withdrawn.ref.TrackingNumber, []string{"已撤回", "并入镇统一采购"}},
		{"power list", base + "/powers", []string{"权力清单", "小决策", "小资金", `href="` + base + `/powers/funds-expenditure"`}},
		{"power item", base + "/powers/funds-expenditure", []string{"村级财务支出审批", "出纳支付", "办理主体", "法律法规依据", "<svg"}},
		// Villagers apply online for the items whose first step is theirs.
		{"power list applications", base + "/powers", []string{`href="/a/` + village + `/duty-homestead">在线申请`}},
		{"power item application", base + "/powers/duty-homestead", []string{`href="/a/` + village + `/duty-homestead"`, "申请材料", "建房书面申请（必需）"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := get(t, ts, tc.path)
			if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
				t.Fatalf("GET %s: %d %s\n%.500s", tc.path, p.status, p.header.Get("Content-Type"), p.body)
			}
			checkHTML(t, p.body)
			noSecrets(t, p.body)
			if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			for _, w := range tc.want {
				if !strings.Contains(p.body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if !strings.Contains(p.body, `href="/r/`+village+`"`) || !strings.Contains(p.body, "码上举报") {
				t.Error("page lacks the 码上举报 link")
			}
		})
	}
	// The private warning is not shown.
	if p := get(t, ts, base+"/processes/"+running.ref.TrackingNumber); strings.Contains(p.body, "亲属关系待核") {
		t.Error("a private warning is on the public page")
	}

	t.Run("own lookup", func(t *testing.T) {
		for _, tc := range []struct {
			name, id, who, code string
			status              int
			want                []string
			wantNot             []string
		}{
			{"own", idZhang, "张小明", codeOf(idZhang), 200, []string{"共找到 1 条记录", "523.00", "330283********1238"}, []string{"611.00"}},
			{"name does not match", idZhang, "张大明", codeOf(idZhang), 200, []string{"没有找到"}, []string{"523.00"}},
			{"code does not match", idZhang, "张小明", codeOf(idOuyang), 200, []string{"没有找到"}, []string{"523.00"}},
			{"malformed ID", "12345", "张小明", codeOf(idZhang), 400, []string{"身份证号格式不正确"}, nil},
			{"no code", idZhang, "张小明", "", 400, []string{"请同时填写"}, []string{"523.00"}},
			{"empty", "", "", "", 400, []string{"请同时填写"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := postForm(t, ts, base+"/subsidies/lookup", url.Values{"idNumber": {tc.id}, "name": {tc.who}, "lookupCode": {tc.code}})
				if p.status != tc.status || p.header.Get("Cache-Control") != "no-store" {
					t.Fatalf("%d, Cache-Control %q; want %d, no-store", p.status, p.header.Get("Cache-Control"), tc.status)
				}
				checkHTML(t, p.body)
				noSecrets(t, p.body)
				for _, w := range tc.want {
					if !strings.Contains(p.body, w) {
						t.Errorf("lacks %q", w)
					}
				}
				for _, w := range tc.wantNot {
					if strings.Contains(p.body, w) {
						t.Errorf("shows %q", w)
					}
				}
			})
		}
	})
}

func noSecrets(t *testing.T, body string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(body, secret) {
			t.Errorf("page shows personal data in full: %q", secret)
		}
	}
}

// checkHTML checks what the portal promises of every page: an HTML5
// document in Simplified Chinese with a title, balanced elements, unique
// ids and a label for every form field.
func checkHTML(t *testing.T, doc string) {
	t.Helper()
	if !strings.HasPrefix(doc, "<!DOCTYPE html>\n<html lang=\"zh-CN\">") {
		t.Errorf("no HTML5 doctype and lang=zh-CN: %.80q", doc)
	}
	void := map[string]bool{"meta": true, "br": true, "input": true, "img": true, "link": true, "hr": true}
	var stack []string
	ids, labels, fields := map[string]int{}, map[string]bool{}, []string{}
	title, inTitle, inSVG := "", false, 0
	z := html.NewTokenizer(strings.NewReader(doc))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if !errors.Is(z.Err(), io.EOF) {
				t.Fatalf("tokenizer: %v", z.Err())
			}
			break
		}
		tok := z.Token()
		attr := func(k string) (string, bool) {
			for _, a := range tok.Attr {
				if a.Key == k {
					return a.Val, true
				}
			}
			return "", false
		}
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			if id, ok := attr("id"); ok {
				ids[id]++
			}
			if tok.Data == "label" {
				f, _ := attr("for")
				labels[f] = true
			}
			if tok.Data == "input" || tok.Data == "select" || tok.Data == "textarea" {
				if typ, _ := attr("type"); typ != "hidden" && typ != "submit" {
					id, _ := attr("id")
					fields = append(fields, id)
				}
			}
			if tok.Data == "svg" {
				inSVG++
			}
			if tt == html.StartTagToken && !void[tok.Data] && inSVG == 0 {
				stack = append(stack, tok.Data)
			}
			inTitle = tok.Data == "title" && inSVG == 0
		case html.EndTagToken:
			if tok.Data == "svg" {
				inSVG--
				continue
			}
			if inSVG > 0 {
				continue
			}
			if len(stack) == 0 || stack[len(stack)-1] != tok.Data {
				t.Fatalf("</%s> closes %v", tok.Data, stack)
			}
			stack = stack[:len(stack)-1]
			inTitle = false
		case html.TextToken:
			if inTitle {
				title += tok.Data
			}
		}
	}
	if len(stack) != 0 {
		t.Errorf("unclosed elements %v", stack)
	}
	if strings.TrimSpace(title) == "" {
		t.Error("no <title>")
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("id %q used %d times", id, n)
		}
	}
	for _, f := range fields {
		if f == "" || !labels[f] {
			t.Errorf("form field %q has no <label for>", f)
		}
	}
	if regexp.MustCompile(`<script|<link |src="http|href="http`).MatchString(doc) {
		t.Error("the page loads external resources or scripts")
	}
}

func TestPortalProcessProjection(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	ts := serve(t, s)
	completed, running, _ := seedPortal(t, s)
	ctx := context.Background()
	counts := func() [4]int64 {
		var c [4]int64
		for i, q := range []string{`SELECT count(*) FROM processes`, `SELECT count(*) FROM process_steps`,
			`SELECT count(*) FROM process_warnings`, `SELECT count(*) FROM ledger_entries`} {
			c[i] = int64(count(t, s.Pool, q))
		}
		v, err := s.villageVersion(ctx, village)
		if err != nil {
			t.Fatal(err)
		}
		c[3] = c[3]*1000 + v.Version
		return c
	}
	before := counts()
	if before[0] != 3 || before[1] != 7 || before[2] != 1 {
		t.Fatalf("projection rows %v, want 3 processes, 7 steps, 1 public warning", before)
	}

	t.Run("redelivery changes nothing", func(t *testing.T) {
		for _, p := range []*processFixture{completed, running} {
			for _, ev := range p.events {
				ev.ID = uuid.NewString() // even under another event id
				if err := applyEvent(t, s, ev); err != nil {
					t.Fatal(err)
				}
			}
		}
		if after := counts(); after != before {
			t.Fatalf("redelivery changed %v to %v", before, after)
		}
	})

	t.Run("out of order events converge", func(t *testing.T) {
		p := expenditure(t, village, village+"-20260320-ORDER")
		done := p.add(t, village, eventsv1.TypeInstanceCompleted, eventsv1.InstanceCompleted{InstanceRef: p.ref, Title: "迟到的标题", CompletedAt: at(21, 9)})
		late := p.add(t, village, eventsv1.TypeStepCompleted, eventsv1.StepCompleted{InstanceRef: p.ref, StepID: "apply", CompletedAt: at(20, 9), NextStep: "supervision-review"})
		start := p.add(t, village, eventsv1.TypeInstanceStarted, eventsv1.InstanceStarted{InstanceRef: p.ref, Title: "迟到的标题", StartedAt: at(19, 9)})
		for _, ev := range []eventsv1.Event{done, late, start} {
			if err := applyEvent(t, s, ev); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.LoadProcess(ctx, village, p.ref.TrackingNumber)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != ProcessCompleted || got.CurrentStep != "" || got.Title != "迟到的标题" || got.StartedAt == nil || len(got.Steps) != 1 {
			t.Fatalf("process %+v", got)
		}
	})

	t.Run("tenant isolation", func(t *testing.T) {
		other := expenditure(t, otherVillage, otherVillage+"-20260301-OTHER")
		ev := other.add(t, otherVillage, eventsv1.TypeInstanceStarted, eventsv1.InstanceStarted{InstanceRef: other.ref, Title: "别村的事", StartedAt: at(1, 9)})
		if err := applyEvent(t, s, ev); err != nil {
			t.Fatal(err)
		}
		if p := get(t, ts, "/v/"+otherVillage+"/processes/"+other.ref.TrackingNumber); p.status != 200 || !strings.Contains(p.body, "别村的事") {
			t.Fatalf("own village: %d", p.status)
		}
		p := get(t, ts, "/v/"+village+"/processes/"+other.ref.TrackingNumber)
		if p.status != http.StatusNotFound || strings.Contains(p.body, "别村的事") || !strings.Contains(p.body, "没有找到这个流程") {
			t.Fatalf("another village's process under this village: %d\n%.300s", p.status, p.body)
		}
		checkHTML(t, p.body)
		// An event claiming this village for the other village's instance
		// is refused, not applied.
		hijack := workflowEvent(t, village, eventsv1.TypeInstanceWithdrawn, eventsv1.InstanceWithdrawn{InstanceRef: other.ref, Reason: "x", WithdrawnAt: at(2, 9)})
		if err := applyEvent(t, s, hijack); err == nil {
			t.Fatal("an event moved a process to another village")
		}
		foreignTown := workflowEvent(t, village, eventsv1.TypeInstanceStarted, eventsv1.InstanceStarted{InstanceRef: other.ref})
		foreignTown.Town = "jinping"
		if err := applyEvent(t, s, foreignTown); err == nil {
			t.Fatal("another town's event was applied")
		}
	})

	t.Run("bad tracking numbers", func(t *testing.T) {
		for _, tr := range []string{"nope", "%3Cscript%3E", strings.Repeat("9", 80)} {
			p := get(t, ts, "/v/"+village+"/processes/"+tr)
			if p.status != http.StatusNotFound || strings.Contains(p.body, "<script>") {
				t.Errorf("%s: %d", tr, p.status)
			}
		}
		if p := get(t, ts, "/v/"+village+"/processes?tracking="+url.QueryEscape(running.ref.TrackingNumber)); p.status != http.StatusSeeOther ||
			p.header.Get("Location") != "/v/"+village+"/processes/"+running.ref.TrackingNumber {
			t.Errorf("form submit: %d %s", p.status, p.header.Get("Location"))
		}
	})
}

// TestPortalCacheFollowsWrites: a page is cached per village version, a
// write through another replica (another Service on the same database)
// invalidates it, and conditional GETs get 304 until something changes.
func TestPortalCacheFollowsWrites(t *testing.T) {
	ctx := context.Background()
	a := portalService(t, newService(t, testTown))
	b := &Service{Pool: a.Pool, Town: testTown, IDHashKey: testKey, Log: a.Log, Now: a.Now} // another replica
	ts := serve(t, a)
	path := "/v/" + village + "?year=2026"
	if _, err := b.RecordEntry(ctx, "finance-1", EntryInput{Village: village, Kind: KindIncome, Category: CategoryOtherIncome,
		AmountFen: 10_000, Date: "2026-03-01", Description: "第一笔"}); err != nil {
		t.Fatal(err)
	}
	first := get(t, ts, path)
	etag, lastMod := first.header.Get("ETag"), first.header.Get("Last-Modified")
	if first.status != 200 || !strings.Contains(first.body, "第一笔") || etag == "" || lastMod == "" ||
		first.header.Get("Cache-Control") != "public, max-age=60" {
		t.Fatalf("first GET: %d %v", first.status, first.header)
	}
	if a.cache().pages.len() != 1 {
		t.Fatalf("%d cached pages, want 1", a.cache().pages.len())
	}
	if again := get(t, ts, path); again.body != first.body || again.header.Get("ETag") != etag {
		t.Fatal("a second GET of an unchanged village differs")
	}

	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"If-None-Match", []string{"If-None-Match", etag}, http.StatusNotModified},
		{"If-None-Match among others", []string{"If-None-Match", `"x", ` + etag}, http.StatusNotModified},
		{"If-Modified-Since", []string{"If-Modified-Since", lastMod}, http.StatusNotModified},
		{"If-Modified-Since earlier", []string{"If-Modified-Since", mustTime(t, lastMod).Add(-time.Second).Format(http.TimeFormat)}, http.StatusOK},
		{"other ETag", []string{"If-None-Match", `"other"`}, http.StatusOK},
		{"other ETag wins over a matching date", []string{"If-None-Match", `"other"`, "If-Modified-Since", lastMod}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := get(t, ts, path, tc.header...)
			if p.status != tc.want {
				t.Fatalf("%d, want %d", p.status, tc.want)
			}
			if tc.want == http.StatusNotModified && (p.body != "" || p.header.Get("ETag") != etag) {
				t.Fatalf("304 with body %q, ETag %q", p.body, p.header.Get("ETag"))
			}
		})
	}

	// The other replica records an entry: the cached page is stale now.
	if _, err := b.RecordEntry(ctx, "finance-1", EntryInput{Village: village, Kind: KindSpending, Category: CategoryOtherExpenses,
		AmountFen: 2_000, Date: "2026-03-02", Description: "第二笔"}); err != nil {
		t.Fatal(err)
	}
	for _, h := range [][]string{{"If-None-Match", etag}, {"If-Modified-Since", lastMod}, nil} {
		p := get(t, ts, path, h...)
		if p.status != 200 || !strings.Contains(p.body, "第二笔") || p.header.Get("ETag") == etag || p.header.Get("Last-Modified") == lastMod {
			t.Fatalf("after a write (%v): %d, ETag %s (was %s), Last-Modified %s (was %s)", h, p.status,
				p.header.Get("ETag"), etag, p.header.Get("Last-Modified"), lastMod)
		}
	}
	// A payment and a process event invalidate too.
	etag = get(t, ts, path).header.Get("ETag")
	if _, err := b.RecordPayment(ctx, "finance-1", PaymentRequest{Village: village, Programme: "养老补贴", HouseholdName: "张小明",
		IDNumber: idZhang, AmountFen: 100, PaidOn: "2026-03-01"}); err != nil {
		t.Fatal(err)
	}
	if p := get(t, ts, "/v/"+village+"/subsidies?year=2026"); !strings.Contains(p.body, "养老补贴") {
		t.Fatal("the subsidies page misses a new payment")
	}
	if p := get(t, ts, path, "If-None-Match", etag); p.status != 200 {
		t.Fatalf("after a payment: %d", p.status)
	}
	etag = get(t, ts, path).header.Get("ETag")
	proc := expenditure(t, village, village+"-20260315-CACHE")
	if err := applyEvent(t, b, workflowEvent(t, village, eventsv1.TypeInstanceStarted, eventsv1.InstanceStarted{InstanceRef: proc.ref, Title: "缓存", StartedAt: at(15, 9)})); err != nil {
		t.Fatal(err)
	}
	if p := get(t, ts, path, "If-None-Match", etag); p.status != 200 {
		t.Fatalf("after a process event: %d", p.status)
	}
	// Other villages' pages are not invalidated by this village's writes.
	otherPath := "/v/" + emptyVillage
	oe := get(t, ts, otherPath).header.Get("ETag")
	if _, err := b.RecordEntry(ctx, "finance-1", EntryInput{Village: village, Kind: KindIncome, Category: CategoryOtherIncome,
		AmountFen: 1, Date: "2026-03-03", Description: "第三笔"}); err != nil {
		t.Fatal(err)
	}
	if p := get(t, ts, otherPath, "If-None-Match", oe); p.status != http.StatusNotModified {
		t.Fatalf("another village's page: %d, want 304", p.status)
	}
}

// TestPortalBurstDuringWrites: clients hammer a page while entries are
// recorded; every answer is a whole page, and once the writes are done the
// page shows all of them (run with -race for the cache's locking).
func TestPortalBurstDuringWrites(t *testing.T) {
	ctx := context.Background()
	s := portalService(t, newService(t, testTown))
	ts := serve(t, s)
	path := "/v/" + village + "?year=2026"
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if p := get(t, ts, path); p.status != 200 || !strings.HasSuffix(p.body, "</html>\n") {
					t.Errorf("burst GET: %d", p.status)
					return
				}
			}
		})
	}
	for i := range 10 {
		if _, err := s.RecordEntry(ctx, "finance-1", EntryInput{Village: village, Kind: KindIncome, Category: CategoryOtherIncome,
			AmountFen: 100, Date: "2026-03-01", Description: fmt.Sprintf("并发第%d笔", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	p := get(t, ts, path)
	for i := range 10 {
		if !strings.Contains(p.body, fmt.Sprintf("并发第%d笔", i+1)) {
			t.Errorf("entry %d missing after the burst", i+1)
		}
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := http.ParseTime(s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestPortalUnknownVillagesAndBadInput(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	ts := serve(t, s)
	for _, tc := range []struct {
		name, path string
		status     int
		want       string
	}{
		{"malformed code", "/v/12345", 404, "没有这个村"},
		{"village of another town", "/v/" + foreignVillage, 404, "没有这个村"},
		{"another town's subsidies", "/v/" + foreignVillage + "/subsidies", 404, "没有这个村"},
		{"another town's QR", "/v/" + foreignVillage + "/qr.png", 404, "没有这个村"},
		{"village of the town, nothing yet", "/v/" + emptyVillage, 200, "还没有公开的收支记录"},
		{"bad year", "/v/" + emptyVillage + "?year=20x6", 400, "年份"},
		{"future year", "/v/" + emptyVillage + "?year=2999", 400, "年份"},
		{"unknown power", "/v/" + emptyVillage + "/powers/no-such-item", 404, "清单之外无权力"},
		{"unknown page", "/v/" + emptyVillage + "/no/such/page", 404, "没有这个页面"},
		{"unknown page of an unknown village", "/v/" + foreignVillage + "/no-such-page", 404, "没有这个村"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := get(t, ts, tc.path)
			if p.status != tc.status || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") || !strings.Contains(p.body, tc.want) {
				t.Fatalf("%d %s, want %d with %q\n%.400s", p.status, p.header.Get("Content-Type"), tc.status, tc.want, p.body)
			}
			checkHTML(t, p.body)
			if tc.status != 200 && p.header.Get("ETag") != "" {
				t.Error("an error page carries an ETag")
			}
		})
	}
	if p := get(t, ts, "/v/"+emptyVillage+"/"); p.status != http.StatusMovedPermanently || p.header.Get("Location") != "/v/"+emptyVillage {
		t.Errorf("trailing slash: %d %s", p.status, p.header.Get("Location"))
	}
	// Without a town code, only villages with records are known.
	s.TownCode = ""
	if p := get(t, ts, "/v/"+emptyVillage); p.status != 404 {
		t.Errorf("no town code: %d, want 404", p.status)
	}
	// The JSON API is unchanged.
	if p := get(t, ts, "/v1/public/villages/"+village+"/wallet?year=2026"); p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "application/json") {
		t.Errorf("JSON wallet: %d %s", p.status, p.header.Get("Content-Type"))
	}
}

func TestPortalQRCode(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	ts := serve(t, s)
	wantURL := testPortalURL + "/v/" + emptyVillage
	p := get(t, ts, "/v/"+emptyVillage+"/qr.png")
	if p.status != 200 || p.header.Get("Content-Type") != "image/png" {
		t.Fatalf("PNG: %d %s", p.status, p.header.Get("Content-Type"))
	}
	img, err := png.Decode(strings.NewReader(p.body))
	if err != nil {
		t.Fatalf("PNG does not decode: %v", err)
	}
	if got := decodeQR(t, img); got != wantURL {
		t.Errorf("the PNG encodes %q, want %q", got, wantURL)
	}
	if c := get(t, ts, "/v/"+emptyVillage+"/qr.png", "If-None-Match", p.header.Get("ETag")); c.status != http.StatusNotModified {
		t.Errorf("conditional QR GET: %d", c.status)
	}

	svg := get(t, ts, "/v/"+emptyVillage+"/qr.svg")
	if svg.status != 200 || svg.header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("SVG: %d %s", svg.status, svg.header.Get("Content-Type"))
	}
	if got, err := qrcodetest.DecodeSVG([]byte(svg.body)); got != wantURL {
		t.Errorf("the SVG encodes %q (%v), want %q", got, err, wantURL)
	}
}

// decodeQR reads a QR code with an independent decoder (ZXing's port).
func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	got, err := qrcodetest.Decode(img)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestPortalCSSContrast checks every rule of the style sheet that sets a
// text colour against the background it sets (white when none).
func TestPortalCSSContrast(t *testing.T) {
	css, err := portalFiles.ReadFile("portal/style.css")
	if err != nil {
		t.Fatal(err)
	}
	rule := regexp.MustCompile(`([^{}]+)\{([^}]*)\}`)
	prop := func(decls, name string) string {
		m := regexp.MustCompile(`(?:^|;)\s*` + name + `\s*:\s*(#[0-9a-fA-F]{6})`).FindStringSubmatch(decls)
		if m == nil {
			return ""
		}
		return m[1]
	}
	checked := 0
	for _, m := range rule.FindAllStringSubmatch(string(css), -1) {
		fg := prop(m[2], "color")
		if fg == "" {
			continue
		}
		bg := prop(m[2], "background")
		if bg == "" {
			bg = "#ffffff"
		}
		checked++
		if c := contrast(fg, bg); c < 4.5 {
			t.Errorf("%s: %s on %s has contrast %.2f, want ≥ 4.5", strings.TrimSpace(m[1]), fg, bg, c)
		}
	}
	// Text inheriting into the tinted rows of reversed and reversing
	// entries: body, muted and link colours on those backgrounds.
	for _, fg := range []string{"#1a1a1a", "#555555", "#0b57d0"} {
		for _, bg := range []string{"#fff4e5", "#fdecea", "#fafafa", "#f3f3f3"} {
			if c := contrast(fg, bg); c < 4.5 {
				t.Errorf("%s on %s has contrast %.2f", fg, bg, c)
			}
		}
	}
	// The chart's colours are text colours too (legend, bars' labels).
	for _, c := range []string{incomeColour, spendingColour} {
		if contrast(c, "#ffffff") < 4.5 {
			t.Errorf("chart colour %s is too light", c)
		}
	}
	if checked < 10 {
		t.Fatalf("only %d rules checked", checked)
	}
}

// contrast is the WCAG 2 contrast ratio of two #rrggbb colours.
func contrast(a, b string) float64 {
	lum := func(hex string) float64 {
		var rgb [3]float64
		for i := range rgb {
			var v int
			for _, c := range hex[1+2*i : 3+2*i] {
				v = v*16 + strings.IndexRune("0123456789abcdef", c|0x20)
			}
			s := float64(v) / 255
			if s <= 0.03928 {
				rgb[i] = s / 12.92
			} else {
				rgb[i] = math.Pow((s+0.055)/1.055, 2.4)
			}
		}
		return 0.2126*rgb[0] + 0.7152*rgb[1] + 0.0722*rgb[2]
	}
	la, lb := lum(a), lum(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func TestScrubMasksNumbersInFreeText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"办公用品（联系人 13812345678）", "办公用品（联系人 138****5678）"},
		{"经办人身份证 " + idOuyang, "经办人身份证 110105********002X"},
		{"全角３３０２８３１９９００１０１１２３８号", "全角330283********1238号"},
		{"金额 300 元，编号 2026", "金额 300 元，编号 2026"},
	} {
		if got := scrub(tc.in); got != tc.want {
			t.Errorf("scrub(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
