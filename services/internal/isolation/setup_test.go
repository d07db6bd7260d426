package isolation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/complaint"
	"github.com/wuxiao/wuxiao/services/disclosure"
	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
	"github.com/wuxiao/wuxiao/services/workflow"
)

// Services of the matrix.
const (
	svcWorkflow   = "workflow"
	svcDisclosure = "disclosure"
	svcComplaint  = "complaint"
	svcInspection = "inspection"
)

var serviceNames = []string{svcWorkflow, svcDisclosure, svcComplaint, svcInspection}

// Villages: two of town X (its cadres are of v1), one of town Y.
const (
	v1 = "330283100201"
	v2 = "330283100202"
	w1 = "330283200301"
)

var idHashKey = []byte("isolation-matrix-id-hash-key-0123456789")

// auditKey keys the workflow's audit chain, which inspection verifies.
var auditKey = []byte("isolation-matrix-audit-key-01234")

// idNumber completes 17 digits with their check character.
func idNumber(first17 string) string { return first17 + string(personal.IDCheckChar(first17)) }

// service is one running town service of the matrix.
type service struct {
	name   string
	url    string
	pool   *pgxpool.Pool
	routes []httpapi.RouteInfo
	mux    *http.ServeMux // the route patterns, to check a row's path hits its route
}

// principal is a signed-in caller: a role of town X, of town Y, or of the
// district (town ""); a district role may be limited to a 片组 (group), a
// liaison cadre is assigned villages.
type principal struct {
	role     identity.Role
	town     string // townX, townY or "" (district roles)
	group    string // groupX (town X's), otherGroup, or "" (the whole district)
	villages []string
	token    string
}

func (p principal) String() string {
	s := string(p.role) + "@" + p.town
	if p.town == "" {
		s = string(p.role) + "@district"
	}
	if p.group != "" {
		s += "[片组 " + p.group + "]"
	}
	if len(p.villages) > 0 {
		s += "[" + strings.Join(p.villages, ",") + "]"
	}
	return s
}

// The 片组: town X is in groupX (the services of town X are told so, as
// the operator's WUXIAO_TOWN_GROUP does); otherGroup has other towns.
const (
	groupX     = "pian-x"
	otherGroup = "pian-y"
)

// reaches reports whether p's narrower scope (a group, assigned villages)
// includes village of town X; roles without one reach it by role alone.
func (p principal) reaches(village string) bool {
	switch {
	case p.group != "":
		return p.group == groupX
	case p.role.IsLiaisonCadre():
		return slices.Contains(p.villages, village)
	}
	return true
}

// world is the matrix's shared state: one instance of each service for
// town X, principals of both towns, and the fixtures the rows name.
type world struct {
	townX, townY string
	services     map[string]*service
	principals   []principal
	client       *http.Client

	wf  *workflow.Service
	dis *disclosure.Service
	com *complaint.Service
	ins *inspection.Service

	mu sync.Mutex
	fx map[string]string // fixture values by name
}

func (w *world) set(k, v string) { w.mu.Lock(); w.fx[k] = v; w.mu.Unlock() }
func (w *world) get(t testing.TB, k string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	v, ok := w.fx[k]
	if !ok {
		t.Fatalf("fixture %q was not made", k)
	}
	return v
}

// openPool gives a service a fresh database with the events tables and its
// own migrations, as the services' own tests do.
func openPool(t testing.TB, name string, migrate func(context.Context, *pgxpool.Pool) error) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, testinfra.Postgres(t), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := events.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

// serve runs routes behind the real Kratos, as each service's tests and
// binary do (httpapi.Server with identity's authenticator).
func serve(t testing.TB, w *world, name string, pool *pgxpool.Pool, auth *identity.Authenticator, routes func(*httpapi.Server)) {
	t.Helper()
	base := httpapitest.APIBase(w.townX)
	base.Service, base.MaxBodyBytes = name, 1<<20
	srv := httpapitest.NewServer(base, auth)
	routes(srv)
	ts := httpapitest.Start(t, srv)
	s := &service{name: name, url: ts.URL, pool: pool, routes: srv.Routes(), mux: http.NewServeMux()}
	nop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, r := range s.routes {
		s.mux.Handle(r.Pattern, nop)
	}
	w.services[name] = s
}

// newWorld starts the four services for town X and signs in one Kratos
// user per role per town (and the district's).
func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{townX: testinfra.UniqueName("x"), townY: testinfra.UniqueName("y"), services: map[string]*service{},
		fx:     map[string]string{},
		client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}}
	auth := identity.New(testinfra.Require(t, testinfra.EnvKratosPublicURL), identity.WithErrorWriter(httpapi.WriteStatusProblem),
		identity.WithTownGroup(w.townX, groupX))
	log := slog.New(slog.DiscardHandler)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the users, meanwhile
		defer wg.Done()
		w.principals = users(t, w)
	}()

	catalog, err := workflow.LoadCatalog(testinfra.CatalogFile(t))
	if err != nil {
		t.Fatal(err)
	}
	calendar, err := workflow.NewCalendar(workflow.CalendarFile{})
	if err != nil {
		t.Fatal(err)
	}
	w.wf = &workflow.Service{Engine: &workflow.Engine{Catalog: catalog, Calendar: calendar},
		Pool: openPool(t, svcWorkflow, workflow.Migrate), Town: w.townX, IDHashKey: idHashKey, AuditKey: auditKey, Log: log}
	serve(t, w, svcWorkflow, w.wf.Pool, auth, w.wf.Routes)

	w.dis = &disclosure.Service{Pool: openPool(t, svcDisclosure, disclosure.Migrate), Town: w.townX, IDHashKey: idHashKey, Log: log}
	serve(t, w, svcDisclosure, w.dis.Pool, auth, w.dis.Routes)

	w.com = &complaint.Service{Pool: openPool(t, svcComplaint, complaint.Migrate), Town: w.townX, Log: log}
	api := complaint.NewAPI(w.com, []byte("isolation-challenge-key"))
	api.Optional = auth.Optional
	serve(t, w, svcComplaint, w.com.Pool, auth, api.Routes)

	w.ins = &inspection.Service{Rules: steepRules(), Notices: inspection.DefaultNoticeConfig(),
		Pool: openPool(t, svcInspection, inspection.Migrate), Town: w.townX, TownName: "测试镇", Log: log, AuditKey: auditKey,
		Integrity: inspection.IntegrityConfig{IDHashKey: idHashKey, NoticeFont: noticeFont(t)}}
	serve(t, w, svcInspection, w.ins.Pool, auth, w.ins.Routes)

	// The operator announces town X's villages to every service.
	for _, code := range []string{v1, v2} {
		ev := villageRegistered(w.townX, code)
		for _, c := range w.consumers() {
			if c.stream != eventsv1.StreamTenant {
				continue
			}
			if err := store.InTx(context.Background(), c.pool, func(tx pgx.Tx) error { return c.handler(context.Background(), tx, ev) }); err != nil {
				t.Fatalf("registering %s in %s: %v", code, c.service, err)
			}
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return w
}

// consumer is a stream a service consumes, with its handler, as each
// service's binary registers them (platform.Consume).
type consumer struct {
	service, stream string
	handler         events.Handler
	pool            *pgxpool.Pool
}

func (w *world) consumers() []consumer {
	return []consumer{
		{svcWorkflow, eventsv1.StreamTenant, w.wf.HandleTenantEvent, w.wf.Pool},
		{svcDisclosure, eventsv1.StreamWorkflow, w.dis.HandleWorkflowEvent, w.dis.Pool},
		{svcDisclosure, eventsv1.StreamTenant, w.dis.HandleTenantEvent, w.dis.Pool},
		{svcComplaint, eventsv1.StreamTenant, w.com.HandleTenantEvent, w.com.Pool},
		{svcComplaint, eventsv1.StreamWorkflow, w.com.HandleWorkflowEvent, w.com.Pool}, // postings, for objections
		{svcInspection, eventsv1.StreamWorkflow, w.ins.HandleWorkflowEvent, w.ins.Pool},
		{svcInspection, eventsv1.StreamComplaint, w.ins.HandleComplaintEvent, w.ins.Pool},
		{svcInspection, eventsv1.StreamDisclosure, w.ins.HandleDisclosureEvent, w.ins.Pool},
		{svcInspection, eventsv1.StreamTenant, w.ins.HandleTenantEvent, w.ins.Pool},
	}
}

// noticeFont loads the font hack/fonts.sh installs (WUXIAO_NOTICE_FONT when
// hack/test.sh has run it), as inspection's tests do: without it the PDF
// notice answers everyone 503.
func noticeFont(t testing.TB) *inspection.NoticeFont {
	t.Helper()
	path := os.Getenv("WUXIAO_NOTICE_FONT")
	if path == "" {
		out, err := exec.Command(filepath.Join(testinfra.RepoRoot(), "hack", "fonts.sh")).Output()
		if err != nil {
			t.Fatalf("hack/fonts.sh: %v", err)
		}
		path = strings.TrimSpace(string(out))
	}
	f, err := inspection.LoadNoticeFont(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// steepRules make two conflict-of-interest warnings grade a village C, so
// that a notice is issued (as in inspection's own tests).
func steepRules() inspection.Rules {
	r := inspection.DefaultRules()
	r.Kinds[inspection.FactWarning].Subkinds["conflict-of-interest"] = inspection.SubkindRule{Label: "利益冲突未回避", Points: -15}
	return r
}

func villageRegistered(town, code string) eventsv1.Event {
	data, _ := json.Marshal(eventsv1.VillageRegistered{Code: code, Name: "村" + code[8:], Kind: "village", Town: town,
		Roles: []string{"secretary"}, Generation: 1, UID: "uid-" + code})
	return eventsv1.Event{ID: uuid.NewString(), Source: "/operator", Type: eventsv1.TypeVillageRegistered, Subject: code,
		Time: time.Now().UTC(), Town: town, Village: code, Data: data}
}

// users signs in one Kratos user per role of each town (village roles in
// v1 of X and w1 of Y; the villager too) and one per district role.
func users(t *testing.T, w *world) []principal {
	var want []principal
	for _, town := range []string{w.townX, w.townY} {
		for _, r := range identity.VillageRoles {
			want = append(want, principal{role: r, town: town})
		}
		for _, r := range identity.TownRoles {
			want = append(want, principal{role: r, town: town})
		}
		want = append(want, principal{role: identity.RoleVillager, town: town})
	}
	for _, r := range identity.DistrictRoles {
		want = append(want, principal{role: r})
	}
	// The narrower scopes (after the plain roles, which w.token finds
	// first): district discipline of town X's 片组 and of another; liaison
	// cadres (联村干部) of town X assigned to v1, and to v2 only, and one of
	// town Y assigned to w1.
	want = append(want,
		principal{role: identity.RoleDistrictDiscipline, group: groupX},
		principal{role: identity.RoleDistrictDiscipline, group: otherGroup},
		principal{role: identity.RoleVillageLiaisonCadre, town: w.townX, villages: []string{v1}},
		principal{role: identity.RoleVillageLiaisonCadre, town: w.townX, villages: []string{v2}},
		principal{role: identity.RoleVillageLiaisonCadre, town: w.townY, villages: []string{w1}})
	var wg sync.WaitGroup
	sem := make(chan struct{}, 6)
	for i := range want {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			p := &want[i]
			village := ""
			if p.role.IsVillageRole() || p.role == identity.RoleVillager {
				village = v1
				if p.town == w.townY {
					village = w1
				}
			}
			if p.group != "" || len(p.villages) > 0 {
				p.token, _ = testinfra.KratosUserWithMetadata(t, identity.Metadata{Role: p.role, Town: p.town, Group: p.group, Villages: p.villages})
				return
			}
			p.token, _ = testinfra.KratosUser(t, string(p.role), p.town, village)
		}()
	}
	wg.Wait()
	return want
}

// response of one request.
type response struct {
	status int
	body   map[string]any
	raw    string
}

// do sends a request as token ("" none). body is JSON unless it is a
// rawBody.
func (w *world) do(t testing.TB, svc, method, path, token string, body any) response {
	t.Helper()
	r, err := w.send(svc, method, path, token, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type rawBody struct {
	contentType string
	data        string
}

func (w *world) send(svc, method, path, token string, body any) (response, error) {
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd, ct = strings.NewReader(b.data), b.contentType
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rd, ct = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, w.services[svc].url+path, rd)
	if err != nil {
		return response{}, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := w.client.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{status: res.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out, nil
}

func (w *world) token(t testing.TB, role identity.Role, town string) string {
	for _, p := range w.principals {
		if p.role == role && p.town == town && p.group == "" && len(p.villages) == 0 {
			return p.token
		}
	}
	t.Fatalf("no principal %s@%s", role, town)
	return ""
}

// fixtures makes, in town X's services, what the rows' paths name: a
// process per workflow route that changes one, ledger entries and a
// payment, complaints (one with a stored file), a notice, a tour with a
// finding and its rectification task, an order, an interview, an
// integrity file with a relative. Everything is made as the town's own
// staff would, through the services.
func (w *world) fixtures(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	secretary := workflow.Actor{ID: "fixture-secretary", Name: "书记", Role: string(identity.RoleSecretary), Town: w.townX, Village: v1}
	for _, name := range []string{"read", "complete", "evidence", "files", "comments", "withdraw"} {
		inst, err := w.wf.Start(ctx, secretary, v1, workflow.StartRequest{ItemID: "decision-major-matters", Title: "村道硬化 " + name})
		if err != nil {
			t.Fatalf("workflow fixture: %v", err)
		}
		w.set("instance."+name, inst.ID)
	}
	for _, name := range []string{"read", "request", "appointment"} {
		rc, err := w.wf.Apply(ctx, v1, workflow.ApplyInput{ItemID: "service-certificate", Name: "王五", Phone: "13700137000"}, &secretary)
		if err != nil {
			t.Fatalf("application fixture: %v", err)
		}
		w.set("application."+name, rc.Instance.ID)
	}
	sum := sha256.Sum256(pdfBytes)
	file, err := w.wf.AddEvidenceFile(ctx, secretary, w.get(t, "instance.read"), workflow.EvidenceFileInput{StepID: "propose",
		Kind: workflow.EvidenceResolution, Name: "会议记录.pdf", Data: pdfBytes, SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatalf("evidence file fixture: %v", err)
	}
	w.set("evidence.file", file.ID)

	today := time.Now().In(tz.Shanghai).Format(time.DateOnly)
	entry, err := w.dis.RecordEntry(ctx, "fixture-finance", disclosure.EntryInput{Village: v1, Kind: disclosure.KindSpending,
		Category: disclosure.CategoryPublicWelfareExpenses, AmountFen: 100_00, Date: today, Description: "路灯维修"})
	if err != nil {
		t.Fatalf("ledger fixture: %v", err)
	}
	w.set("entry", entry.ID)
	pay, err := w.dis.RecordPayment(ctx, "fixture-finance", disclosure.PaymentRequest{Village: v1, Programme: "耕地地力保护补贴",
		HouseholdName: "张小明", IDNumber: idNumber("33028319900101123"), AmountFen: 523_00, PaidOn: today})
	if err != nil {
		t.Fatalf("payment fixture: %v", err)
	}
	w.set("payment", pay.ID)

	pdf := pdfBytes
	for _, name := range []string{"read", "actions", "notes"} {
		in := complaint.Intake{Village: v1, Category: complaint.CategoryFunds, Description: "村里修路的钱去向不明，请核查 " + name}
		if name == "read" {
			in.Attachments = []complaint.Attachment{{Name: "a.pdf", ContentType: "application/pdf", Size: int64(len(pdf)),
				SHA256: hex.EncodeToString(sum[:]), Stored: true, Content: pdf}}
		}
		rec, err := w.com.File(ctx, in, nil)
		if err != nil {
			t.Fatalf("complaint fixture: %v", err)
		}
		w.set("complaint."+name, rec.ID)
	}

	// Two conflict-of-interest warnings grade v1 and v2 C under steepRules:
	// a draft notice each; v1's is signed below, v2's stays a draft.
	for i := range 4 {
		v := []string{v1, v2}[i/2]
		at := time.Now().Add(-time.Duration(i%2+1) * time.Hour)
		data, _ := json.Marshal(eventsv1.WarningRaised{InstanceRef: eventsv1.InstanceRef{InstanceID: uuid.NewString(),
			TrackingNumber: v + "-" + at.Format("20060102") + "-ABCDE", ItemID: "decision-major-matters", ItemName: "重大事项决策"},
			WarningID: uuid.NewString(), StepID: "plan-posting", Rule: "conflict-of-interest", Message: "利益冲突", Public: true, RaisedAt: at})
		ev := eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + w.townX + "/workflow", Type: eventsv1.TypeWarningRaised,
			Time: at.UTC(), Town: w.townX, Village: v, Data: data}
		if err := store.InTx(ctx, w.ins.Pool, func(tx pgx.Tx) error { return w.ins.HandleWorkflowEvent(ctx, tx, ev) }); err != nil {
			t.Fatalf("warning fixture: %v", err)
		}
	}
	disc := w.token(t, identity.RoleTownDiscipline, w.townX)
	must := func(r response, status int, what string) map[string]any {
		t.Helper()
		if r.status != status {
			t.Fatalf("%s: %d %s", what, r.status, r.raw)
		}
		return r.body
	}
	var draft1, draft2 string
	if err := w.ins.Pool.QueryRow(ctx, `SELECT (SELECT id::text FROM notices WHERE village = $1), (SELECT id::text FROM notices WHERE village = $2)`,
		v1, v2).Scan(&draft1, &draft2); err != nil {
		t.Fatalf("no draft notices: %v", err)
	}
	signed := must(w.do(t, svcInspection, "POST", "/v1/notices/"+draft1+"/sign", disc, nil), 200, "signing the notice")
	w.set("notice", url.PathEscape(signed["number"].(string)))
	w.set("notice.id", draft1)
	w.set("notice.draft", draft2)
	sec := w.token(t, identity.RoleSecretary, w.townX)
	photo := must(w.do(t, svcInspection, "POST", "/v1/notices/"+draft1+"/files?name=p.png", sec, pngPhoto), 201, "notice evidence file")
	w.set("notice.file", photo["id"].(string))
	year := time.Now().In(tz.Shanghai).Year()
	tour := must(w.do(t, svcInspection, "POST", "/v1/tours", disc, inspection.TourInput{Name: "第一轮巡察", Period: fmt.Sprint(year),
		Team: []inspection.TeamMember{{Name: "王巡察", Role: "组长"}}, Villages: []string{v1, v2}}), 201, "tour")
	w.set("tour", tour["id"].(string))
	deadline := time.Now().AddDate(0, 2, 0).In(tz.Shanghai).Format(time.DateOnly)
	f := must(w.do(t, svcInspection, "POST", "/v1/tours/"+w.get(t, "tour")+"/findings", disc, inspection.FindingInput{Village: v1,
		Category: "村务公开", Description: "公开栏未按月更新", Severity: inspection.SeverityMajor,
		Tasks: []inspection.TaskInput{{Owner: "村委会", Action: "按月更新公开栏", Deadline: deadline}}}), 201, "finding")["finding"].(map[string]any)
	w.set("finding", f["id"].(string))
	w.set("task", f["tasks"].([]any)[0].(map[string]any)["id"].(string))
	o := must(w.do(t, svcInspection, "POST", "/v1/orders", disc, inspection.OrderRequest{Village: v1, Situation: "duty-02"}), 201, "order")
	w.set("order", url.PathEscape(o["number"].(string)))
	ofile := must(w.do(t, svcInspection, "POST", "/v1/orders/"+w.get(t, "order")+"/files?name=p.png", sec, pngPhoto), 201, "order evidence file")
	w.set("order.file", ofile["id"].(string))
	iv := must(w.do(t, svcInspection, "POST", "/v1/interviews", disc, map[string]any{"village": v1, "cadreName": "张某",
		"heldAt": time.Now().Add(-time.Hour), "interviewers": []string{"镇纪委书记"}, "reason": "公开不及时", "outcome": "提醒谈话"}), 201, "interview")
	w.set("interview", iv["id"].(string))
	ifile := must(w.do(t, svcInspection, "POST", "/v1/integrity-files", disc, inspection.CreateFileRequest{Village: v1,
		CadreName: "王建国", CadrePost: "村党组织书记"}), 201, "integrity file")
	w.set("file", ifile["id"].(string))
	rel := must(w.do(t, svcInspection, "POST", "/v1/integrity-files/"+w.get(t, "file")+"/relatives", disc,
		inspection.AddRelativeRequest{Name: "王小明", Relation: "子女", IDNumber: idNumber("33028320100101123")}), 201, "relative")
	w.set("relative", rel["relative"].(map[string]any)["id"].(string))
}

// snapshot fingerprints every table of every service's database but the
// integrity audit, which records refused attempts by design.
func (w *world) snapshot(t testing.TB) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, s := range w.services {
		rows, err := s.pool.Query(ctx, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'integrity_audit' ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, table := range tables {
			var sum string
			q := fmt.Sprintf(`SELECT md5(coalesce(string_agg(x::text, E'\n' ORDER BY x::text), '')) FROM %s x`, pgx.Identifier{table}.Sanitize())
			if err := s.pool.QueryRow(ctx, q).Scan(&sum); err != nil {
				t.Fatalf("%s.%s: %v", s.name, table, err)
			}
			out[s.name+"."+table] = sum
		}
	}
	return out
}
