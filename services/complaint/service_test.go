package complaint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).In(tz.Shanghai) }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newService(t testing.TB) (*Service, *clock) {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, testinfra.Postgres(t), "complaint")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := events.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	clk.Set(t0)
	return &Service{Pool: pool, Town: testTown, Log: slog.New(slog.DiscardHandler), Now: clk.Now}, clk
}

type outboxRow struct{ typ, data string }

func outbox(t *testing.T, s *Service) []outboxRow {
	t.Helper()
	rows, err := s.Pool.Query(context.Background(), `SELECT headers->>'ce_type', headers::text || convert_from(payload, 'UTF8') FROM outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.typ, &r.data); err != nil {
			t.Fatal(err)
		}
		out = append(out, outboxRow{strings.TrimSuffix(strings.TrimPrefix(r.typ, "cn.wuxiao.complaint."), ".v1"), r.data})
	}
	return out
}

func outboxTypes(t *testing.T, s *Service) string {
	var types []string
	for _, r := range outbox(t, s) {
		types = append(types, r.typ)
	}
	return strings.Join(types, " ")
}

var villager = &Reporter{ID: "kratos-villager-4711", Name: "李四", Phone: "13800000000"}

func TestServiceLifecycle(t *testing.T) {
	ctx := context.Background()
	s, clk := newService(t)
	rc, err := s.File(ctx, Intake{Village: testVillage, Category: CategoryProject, Description: "村道工程偷工减料，路面已开裂"}, villager)
	if err != nil {
		t.Fatal(err)
	}
	if !ValidTrackingCode(rc.TrackingCode) || rc.Secret == "" {
		t.Fatalf("receipt %+v", rc)
	}
	var stored int
	_ = s.Pool.QueryRow(ctx, `SELECT count(*) FROM complaints WHERE doc::text LIKE '%'||$1||'%' OR secret_hash = $1`, rc.Secret).Scan(&stored)
	if stored != 0 {
		t.Fatal("the raw secret is stored")
	}
	steps := []struct {
		actor Actor
		act   Action
		want  Status
	}{
		{liaison, Action{Type: ActionAccept}, StatusAccepted},
		{discipline, Action{Type: ActionInvestigate}, StatusInvestigating},
		{discipline, Action{Type: ActionResolve, Reason: "已责令施工方返工", Outcome: OutcomeSubstantiated}, StatusResolved},
	}
	for _, st := range steps {
		clk.Advance(24 * time.Hour)
		c, err := s.Act(ctx, st.actor, rc.ID, st.act)
		if err != nil || c.Status != st.want {
			t.Fatalf("%s: %v", st.act.Type, err)
		}
	}
	if err := s.AddNote(ctx, discipline, rc.ID, "已现场核查", true); err != nil {
		t.Fatal(err)
	}
	if err := s.AddNote(ctx, discipline, rc.ID, "内部：施工方为村主任亲属", false); err != nil {
		t.Fatal(err)
	}
	pv, err := s.Track(ctx, strings.ToLower(rc.TrackingCode))
	if err != nil || pv.Status != StatusResolved || len(pv.Notes) != 1 || pv.Notes[0].Body != "已现场核查" {
		t.Fatalf("public view %+v %v", pv, err)
	}
	clk.Advance(24 * time.Hour)
	pv, err = s.Feedback(ctx, rc.TrackingCode, rc.Secret, true, "满意")
	if err != nil || pv.Status != StatusClosed {
		t.Fatalf("feedback: %+v %v", pv, err)
	}
	if got, want := outboxTypes(t, s), "filed accepted resolved"; got != want {
		t.Fatalf("outbox %q, want %q", got, want)
	}
	// The reporter's tracking code is in no event, payload or headers: what
	// consumers derive (a notice sent to the village) must not carry it.
	var leaked int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE convert_from(payload, 'UTF8') LIKE '%'||$1||'%' OR headers::text LIKE '%'||$1||'%'`,
		rc.TrackingCode).Scan(&leaked); err != nil || leaked != 0 {
		t.Fatalf("%d events carry the tracking code (%v)", leaked, err)
	}
	// The outcome is data: in the event, the complaint's column and the audit trail.
	if rows := outbox(t, s); !strings.Contains(rows[2].data, `"outcome":"substantiated"`) || strings.Contains(rows[1].data, `"outcome"`) {
		t.Fatalf("resolved event %s, accepted event %s", rows[2].data, rows[1].data)
	}
	var outcome, trOutcome string
	if err := s.Pool.QueryRow(ctx, `SELECT c.outcome, t.outcome FROM complaints c JOIN transitions t ON t.complaint_id = c.id AND t.action = 'resolve'
		WHERE c.id = $1`, rc.ID).Scan(&outcome, &trOutcome); err != nil || outcome != "substantiated" || trOutcome != "substantiated" {
		t.Fatalf("stored outcome %q, transition's %q: %v", outcome, trOutcome, err)
	}
	var n int
	_ = s.Pool.QueryRow(ctx, `SELECT count(*) FROM transitions WHERE complaint_id = $1`, rc.ID).Scan(&n)
	if n != 4 {
		t.Fatalf("%d transitions recorded, want 4", n)
	}
	_ = s.Pool.QueryRow(ctx, `SELECT count(*) FROM status_notes WHERE complaint_id = $1`, rc.ID).Scan(&n)
	if n != 2 {
		t.Fatalf("%d notes recorded, want 2", n)
	}
	// Rejection needs a reason and publishes it.
	rc2, err := s.File(ctx, Intake{Village: testVillage, Category: CategoryService, Description: "便民服务窗口上班时间经常没人"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Act(ctx, discipline, rc2.ID, Action{Type: ActionReject})
	wantRefusal(t, err, 400)
	if _, err := s.Act(ctx, discipline, rc2.ID, Action{Type: ActionReject, Reason: "不属于受理范围，已转镇便民服务中心"}); err != nil {
		t.Fatal(err)
	}
	if got := outboxTypes(t, s); !strings.HasSuffix(got, "filed rejected") {
		t.Fatalf("outbox %q", got)
	}
}

func TestServiceConfidentiality(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	cadre, err := s.File(ctx, Intake{Village: testVillage, Category: CategoryCadreConduct, Description: "村书记优亲厚友，低保评定不公"}, villager)
	if err != nil {
		t.Fatal(err)
	}
	funds, err := s.File(ctx, Intake{Village: testVillage, Category: CategoryFunds, Description: "村集体资金账目不公开"}, villager)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{RoleSecretary, RoleDirector, RoleCommitteeMember, RoleAccountant, RoleCashier} {
		official := Actor{ID: "o-" + role, Role: role, Town: testTown, Village: testVillage}
		list, err := s.List(ctx, official, testVillage, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != funds.ID {
			t.Fatalf("%s lists %d complaints, want only the funds one", role, len(list))
		}
		if list[0].Reporter != nil {
			t.Fatalf("%s sees the reporter", role)
		}
		if _, err := s.Get(ctx, official, cadre.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s reads the cadre-conduct complaint: %v", role, err)
		}
		if _, err := s.Act(ctx, official, cadre.ID, Action{Type: ActionReject, Reason: "诬告"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s acts on the cadre-conduct complaint: %v", role, err)
		}
	}
	// The liaison officer handles it but does not learn who filed it.
	lo, err := s.Get(ctx, liaison, cadre.ID)
	if err != nil || lo.Reporter != nil {
		t.Fatalf("liaison view: %+v %v", lo, err)
	}
	for _, viewer := range []Actor{liaison, {ID: "to", Role: RoleTownOfficial, Town: testTown}, {ID: "da", Role: RoleDistrictAdmin}} {
		list, err := s.List(ctx, viewer, "", 100)
		if err != nil || len(list) != 2 {
			t.Fatalf("%s lists %d (%v)", viewer.Role, len(list), err)
		}
		for _, c := range list {
			if c.Reporter != nil {
				t.Fatalf("%s sees the reporter", viewer.Role)
			}
		}
	}
	// Discipline staff see the reporter.
	for _, d := range []Actor{discipline, {ID: "dd", Role: RoleDistrictDiscipline}} {
		v, err := s.Get(ctx, d, cadre.ID)
		if err != nil || v.Reporter == nil || v.Reporter.ID != villager.ID || v.Reporter.Phone != villager.Phone {
			t.Fatalf("%s view %+v %v", d.Role, v, err)
		}
	}
	// No event and no stored document carries the reporter.
	if _, err := s.Act(ctx, discipline, cadre.ID, Action{Type: ActionAccept}); err != nil {
		t.Fatal(err)
	}
	rows := outbox(t, s)
	if len(rows) != 3 || rows[0].typ != "filed" {
		t.Fatalf("outbox %+v", rows)
	}
	for _, r := range rows {
		if !strings.Contains(r.data, `"complaintId":"`) || !strings.Contains(r.data, `"category":"`) || strings.Contains(r.data, "TS-") {
			t.Fatalf("%s event payload not readable as JSON: %s", r.typ, r.data)
		}
		for _, secret := range []string{villager.ID, villager.Name, villager.Phone, "reporter\":{"} {
			if strings.Contains(r.data, secret) {
				t.Fatalf("%s event carries %q: %s", r.typ, secret, r.data)
			}
		}
	}
	var leaks int
	_ = s.Pool.QueryRow(ctx, `SELECT count(*) FROM complaints WHERE doc::text LIKE '%'||$1||'%'`, villager.ID).Scan(&leaks)
	if leaks != 0 {
		t.Fatal("the reporter is in the complaint document")
	}
	// Anonymous complaints have no reporter even for discipline staff.
	anon, err := s.File(ctx, Intake{Village: testVillage, Category: CategorySubsidy, Description: "我家的耕地补贴被村里截留了"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, discipline, anon.ID); err != nil || v.Reporter != nil {
		t.Fatalf("anonymous: %+v %v", v, err)
	}
}

func TestServiceFeedbackSecretAndReopenOnce(t *testing.T) {
	ctx := context.Background()
	s, clk := newService(t)
	rc, err := s.File(ctx, Intake{Village: testVillage, Category: CategorySubsidy, Description: "今年的耕地地力补贴少发了一半"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	resolve := func() {
		t.Helper()
		for _, act := range []Action{{Type: ActionAccept}, {Type: ActionInvestigate}, {Type: ActionResolve, Reason: "已补发", Outcome: OutcomeSubstantiated}} {
			c, err := s.Get(ctx, discipline, rc.ID)
			if err != nil {
				t.Fatal(err)
			}
			if c.Status == StatusInvestigating && act.Type != ActionResolve {
				continue
			}
			clk.Advance(time.Hour)
			if _, err := s.Act(ctx, discipline, rc.ID, act); err != nil {
				t.Fatalf("%s: %v", act.Type, err)
			}
		}
	}
	resolve()
	for _, bad := range []string{"", "WRONGSECRET", rc.Secret[:len(rc.Secret)-1]} {
		if _, err := s.Feedback(ctx, rc.TrackingCode, bad, false, ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("secret %q: %v", bad, err)
		}
	}
	if _, err := s.Feedback(ctx, "TS-2222-2222", rc.Secret, false, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown code: %v", err)
	}
	// Staff cannot give feedback on the reporter's behalf.
	_, err = s.Act(ctx, discipline, rc.ID, Action{Type: ActionFeedbackUnsatisfied})
	wantRefusal(t, err, 403)

	pv, err := s.Feedback(ctx, rc.TrackingCode, rc.Secret, false, "只补发了一半")
	if err != nil || pv.Status != StatusInvestigating {
		t.Fatalf("first dissatisfaction: %+v %v", pv, err)
	}
	clk.Advance(time.Hour)
	if _, err := s.Act(ctx, discipline, rc.ID, Action{Type: ActionResolve, Reason: "已全额补发", Outcome: OutcomeSubstantiated}); err != nil {
		t.Fatal(err)
	}
	pv, err = s.Feedback(ctx, rc.TrackingCode, rc.Secret, false, "仍不满意")
	if err != nil || pv.Status != StatusClosed {
		t.Fatalf("second dissatisfaction must close: %+v %v", pv, err)
	}
	_, err = s.Feedback(ctx, rc.TrackingCode, rc.Secret, false, "")
	wantRefusal(t, err, 409)
	if got, want := outboxTypes(t, s), "filed accepted resolved reopened resolved"; got != want {
		t.Fatalf("outbox %q, want %q", got, want)
	}
	var reporterRows int
	_ = s.Pool.QueryRow(ctx, `SELECT count(*) FROM transitions WHERE actor_role = 'reporter' AND actor_id <> 'reporter'`).Scan(&reporterRows)
	if reporterRows != 0 {
		t.Fatal("a feedback transition names the reporter")
	}
}

func TestServiceEscalation(t *testing.T) {
	ctx := context.Background()
	s, clk := newService(t)
	rc, err := s.File(ctx, Intake{Village: testVillage, Category: CategoryFunds, Description: "村集体账目不清楚，无人公开"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Escalate(ctx, 100); err != nil || n != 0 {
		t.Fatalf("early escalation %d %v", n, err)
	}
	clk.Advance(AcceptWithin + time.Minute)
	for i, want := range []int{1, 0} { // once only
		if n, err := s.Escalate(ctx, 100); err != nil || n != want {
			t.Fatalf("escalation run %d: %d %v", i, n, err)
		}
	}
	if _, err := s.Act(ctx, liaison, rc.ID, Action{Type: ActionAccept}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(InvestigateWithin + time.Minute)
	if n, err := s.Escalate(ctx, 100); err != nil || n != 1 {
		t.Fatalf("investigation escalation: %d %v", n, err)
	}
	if got, want := outboxTypes(t, s), "filed escalated accepted escalated"; got != want {
		t.Fatalf("outbox %q, want %q", got, want)
	}
}

func TestServiceStatistics(t *testing.T) {
	ctx := context.Background()
	s, clk := newService(t)
	file := func(v string, cat Category) {
		t.Helper()
		clk.Advance(24 * time.Hour)
		if _, err := s.File(ctx, Intake{Village: v, Category: cat, Description: "低保评定不公开不公正"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		file(testVillage, CategorySubsidy)
		file(testVillage, CategoryCadreConduct)
	}
	file(otherVill, CategorySubsidy)
	from, to := t0, t0.Add(365*24*time.Hour)
	r, err := s.Statistics(ctx, discipline, from, to, 30*24*time.Hour, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats.Total != 7 || r.Stats.ByYear[2026] != 7 || r.Stats.ByVillage[testVillage] != 6 || r.Stats.ByCategory[CategorySubsidy] != 4 {
		t.Fatalf("stats %+v", r.Stats)
	}
	if len(r.Recurring) != 2 {
		t.Fatalf("recurring %+v", r.Recurring)
	}
	// The village's secretary counts no cadre-conduct complaints.
	r, err = s.Statistics(ctx, secretary, from, to, 30*24*time.Hour, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats.Total != 3 || r.Stats.ByCategory[CategoryCadreConduct] != 0 || len(r.Recurring) != 1 {
		t.Fatalf("secretary's statistics %+v", r)
	}
}

// TestServiceEscalationBeyondOnePage: with more overdue complaints than one
// batch, a run of the escalation job (as cmd/complaint runs it: Escalate
// with a batch of 100, again while a whole batch was escalated) escalates
// every one of them. It read the first 100 by id on every call, so the 100
// already escalated hid the rest for good.
func TestServiceEscalationBeyondOnePage(t *testing.T) {
	ctx := context.Background()
	s, clk := newService(t)
	const total, batch = 250, 100
	for i := range total {
		if _, err := s.File(ctx, Intake{Village: testVillage, Category: CategoryFunds,
			Description: fmt.Sprintf("村集体账目不清楚，无人公开（第%d件）", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(AcceptWithin + time.Minute)
	run := func() int { // one tick of the job
		sum := 0
		for {
			n, err := s.Escalate(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			sum += n
			if n < batch {
				return sum
			}
		}
	}
	if got := run(); got != total {
		t.Fatalf("one run escalated %d of %d overdue complaints", got, total)
	}
	if got := run(); got != 0 {
		t.Fatalf("a second run escalated %d again", got)
	}
	var escalated int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM complaints WHERE jsonb_array_length(doc->'escalated') = 1`).Scan(&escalated); err != nil {
		t.Fatal(err)
	}
	if escalated != total {
		t.Fatalf("%d complaints carry their escalation, want %d", escalated, total)
	}
}
