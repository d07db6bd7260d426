package complaint

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestObjectionBrowser: a villager follows the 公示栏's objection link
// (/r/{village}?posting=<id>) in a real Chromium on a phone: the report page
// says it is an objection to that posting, files it through the usual
// intake and gives the tracking code; the complaint keeps the posting id,
// its filed event carries it, and it reaches the village's liaison officer
// and the town's discipline office but not the village's other cadres when
// it is about cadre conduct, like any complaint.
func TestObjectionBrowser(t *testing.T) {
	ts, a := pageServer(t, generous)
	posting := uuid.NewString()
	announce(t, a.Service, testVillage, posting, "分配方案", "2026年征地补偿款分配", false)
	p := testinfra.Browser(t)
	if st := p.Navigate(ts.URL + "/r/" + testVillage + "?posting=" + posting); st != 200 {
		t.Fatalf("form: HTTP %d", st)
	}
	if got := p.Text("header h1"); got != "对公示提出异议" {
		t.Errorf("title %q", got)
	}
	if got := p.Text("#posting-ref"); got != posting {
		t.Errorf("posting shown %q, want %q", got, posting)
	}
	if got := p.Text("#posting-label"); got != "分配方案（2026年征地补偿款分配）" {
		t.Errorf("posting named %q", got)
	}
	if got := p.Text("#submit"); got != "提交异议" {
		t.Errorf("button %q", got)
	}
	p.ExpectClean()
	p.ExpectAccessible()
	p.Screenshot("objection-form")

	p.Click(`input[name=category][value=cadre-conduct]`)
	p.SetValue("#description", "公示的分配名单里有村主任的亲属，但没有标注说明")
	p.Click("#submit")
	p.WaitFor("#tracking-code")
	code := p.Text("#tracking-code")
	if !browserCodeRE.MatchString(code) || !strings.Contains(p.Text("body"), "您的异议已提交") {
		t.Fatalf("receipt: %q %s", code, p.Text("body"))
	}
	p.ExpectClean()
	p.ExpectAccessible()
	p.Screenshot("objection-receipt")

	ctx := context.Background()
	id := idOf(t, a.Service, code)
	if n := count(t, a.Service, `SELECT count(*) FROM complaints WHERE id = $1 AND posting_id = $2`, id, posting); n != 1 {
		t.Errorf("the complaint does not keep the posting (%d)", n)
	}
	if n := count(t, a.Service, `SELECT count(*) FROM outbox WHERE headers->>'ce_type' = 'cn.wuxiao.complaint.filed.v1' AND convert_from(payload, 'UTF8') LIKE '%' || $1 || '%'`, posting); n != 1 {
		t.Errorf("%d filed events name the posting, want 1", n)
	}
	for _, tc := range []struct {
		viewer Actor
		sees   bool
	}{
		{Actor{ID: "l", Role: RoleLiaisonOfficer, Town: testTown, Village: testVillage}, true},
		{Actor{ID: "d", Role: RoleTownDiscipline, Town: testTown}, true},
		{Actor{ID: "s", Role: RoleSecretary, Town: testTown, Village: testVillage}, false},
	} {
		c, err := a.Service.Get(ctx, tc.viewer, id)
		if (err == nil) != tc.sees {
			t.Errorf("%s: %v", tc.viewer.Role, err)
		}
		if err == nil && (!c.IsObjection() || c.PostingID != posting || c.PostingTitle != "分配方案（2026年征地补偿款分配）") {
			t.Errorf("%s sees %+v", tc.viewer.Role, c)
		}
	}
}

// TestObjectionPostingChecked: a malformed posting in the link gives an
// ordinary report page (nothing shown back); a malformed one in the form or
// the JSON intake is refused, field by field.
func TestObjectionPostingChecked(t *testing.T) {
	ts, _ := pageServer(t, generous)
	for _, tc := range []struct {
		name, query string
		objection   bool
	}{
		{"a posting", "?posting=" + uuid.NewString(), true},
		{"malformed", "?posting=%3Cscript%3E", false},
		{"nil uuid", "?posting=" + uuid.Nil.String(), false},
		{"none", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := getPage(t, ts, "/r/"+testVillage+tc.query, nil)
			body := resp.Raw
			if resp.Status != 200 || strings.Contains(body, `name="posting"`) != tc.objection || strings.Contains(body, "<script>alert") {
				t.Errorf("HTTP %d, objection form %v", resp.Status, strings.Contains(body, `name="posting"`))
			}
		})
	}
	for _, tc := range []struct {
		posting string
		ok      bool
	}{{uuid.NewString(), true}, {"not-a-uuid", false}, {"", true}} {
		errs := checkIntake(Intake{Village: testVillage, Category: CategoryFunds, Description: "公示的金额与实际不符，请核实", Posting: tc.posting})
		if (len(errs) == 0) != tc.ok {
			t.Errorf("posting %q: %v", tc.posting, errs)
		}
	}
}

// announce applies a posting event of the workflow stream through the
// service's consumer handler, in a transaction as the consumer does.
func announce(t testing.TB, s *Service, village, id, what, title string, ended bool) {
	t.Helper()
	ref := eventsv1.InstanceRef{InstanceID: uuid.NewString(), TrackingNumber: village + "-20260301-POST1", ItemID: "decision-land-compensation"}
	evs := []eventsv1.Event{postingEvent(t, village, eventsv1.TypePostingPublished, eventsv1.PostingPublished{InstanceRef: ref, PostingID: id,
		Kind: eventsv1.PostingKindStep, What: what, Title: title, StartAt: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)})}
	if ended {
		evs = append(evs, postingEvent(t, village, eventsv1.TypePostingEnded, eventsv1.PostingEnded{InstanceRef: ref, PostingID: id,
			Reason: eventsv1.PostingEndedStepCompleted, EndedAt: time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC), Days: 8}))
	}
	for _, ev := range evs {
		if err := applyWorkflowEvent(s, ev); err != nil {
			t.Fatal(err)
		}
	}
}

func postingEvent(t testing.TB, village, typ string, data any) eventsv1.Event {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + testTown + "/workflow", Type: typ, Subject: "x",
		Time: time.Now().UTC(), Town: testTown, Village: village, Data: raw}
}

func applyWorkflowEvent(s *Service, ev eventsv1.Event) error {
	ctx := context.Background()
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error { return s.HandleWorkflowEvent(ctx, tx, ev) })
}

// TestObjectionKnownPosting: an announced posting names the objection; one
// of another village is refused (the page drops it from a link, the intake
// refuses it); one not announced yet is taken by its id; the workflow
// events are applied idempotently and never move a posting to another
// village.
func TestObjectionKnownPosting(t *testing.T) {
	ts, a := pageServer(t, generous)
	const otherVillage = "330213100202"
	mine, ended, theirs, unknown := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	announce(t, a.Service, testVillage, mine, "资格认定结果名单", "第三组", false)
	announce(t, a.Service, testVillage, ended, "招租公告", "鱼塘发包", true)
	announce(t, a.Service, otherVillage, theirs, "分配方案", "", false)

	again := postingEvent(t, otherVillage, eventsv1.TypePostingPublished, eventsv1.PostingPublished{PostingID: mine, What: "改写"})
	if err := applyWorkflowEvent(a.Service, again); err == nil {
		t.Error("another village's event took over a posting")
	}
	announce(t, a.Service, testVillage, mine, "改写", "", false) // a redelivery changes nothing

	for _, tc := range []struct {
		name, posting string
		status        int
		title         string
	}{
		{"announced", mine, 201, "资格认定结果名单（第三组）"},
		{"ended", ended, 201, "招租公告（鱼塘发包）"},
		{"not announced yet", unknown, 201, ""},
		{"another village's", theirs, 422, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := client(ts).JSON(t, "POST", "/v1/public/villages/"+testVillage+"/complaints", "",
				intakeRequest{Category: CategoryFunds, Description: "公示的名单与实际情况不符，请核查", Posting: tc.posting})
			if r.Status != tc.status {
				t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
			}
			if tc.status != 201 {
				return
			}
			code, _ := r.Body["trackingCode"].(string)
			c, err := a.Service.Get(context.Background(), Actor{ID: "d", Role: RoleTownDiscipline, Town: testTown}, idOf(t, a.Service, code))
			if err != nil || c.PostingID != tc.posting || c.PostingTitle != tc.title {
				t.Errorf("complaint %+v (%v)", c, err)
			}
		})
	}

	for _, tc := range []struct {
		posting    string
		objection  bool
		label, end string
	}{
		{mine, true, "资格认定结果名单（第三组）", ""},
		{ended, true, "招租公告（鱼塘发包）", "该公示已于2026-03-09结束"},
		{unknown, true, "", ""},
		{theirs, false, "", ""},
	} {
		body := getPage(t, ts, "/r/"+testVillage+"?posting="+tc.posting, nil).Raw
		if strings.Contains(body, `name="posting"`) != tc.objection || !strings.Contains(body, tc.label) || !strings.Contains(body, tc.end) {
			t.Errorf("posting %s: page objection %v, label %q, end %q", tc.posting, strings.Contains(body, `name="posting"`), tc.label, tc.end)
		}
	}
}
