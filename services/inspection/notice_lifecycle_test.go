package inspection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// noticeAPI is the service over HTTP behind the real Kratos, signing with
// the names the operator hands over, after a fall of svcVillage to C that
// drafted a warning notice (not signed).
func noticeAPI(t *testing.T) (*httptest.Server, *Service, *testClock) {
	t.Helper()
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	var err error
	if s.Notices, s.Orders, err = IssuerConfig("中共宁波市奉化区纪律检查委员会", "中共溪口镇纪律检查委员会", "奉纪"); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	handle(t, s, warningEvent(t, svcTown, svcVillage, "conflict-of-interest", day))
	handle(t, s, warningEvent(t, svcTown, svcVillage, "conflict-of-interest", day.AddDate(0, 0, 1)))
	auth := identity.New(testinfra.Require(t, testinfra.EnvKratosPublicURL), identity.WithCacheTTL(0),
		identity.WithErrorWriter(httpapi.WriteStatusProblem))
	srv := httpapi.New(config.Base{Town: svcTown, MaxBodyBytes: 64 << 10}, slog.New(slog.DiscardHandler), nil).WithAuthenticator(auth.Require)
	s.Routes(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, s, clk
}

// storedOf decodes a notice answered by the API.
func storedOf(t *testing.T, r response) StoredNotice {
	t.Helper()
	var n StoredNotice
	if err := json.Unmarshal([]byte(r.raw), &n); err != nil {
		t.Fatalf("%d %s: %v", r.status, r.raw, err)
	}
	return n
}

func itemsOf(t *testing.T, r response) []StoredNotice {
	t.Helper()
	var out struct {
		Items []StoredNotice `json:"items"`
	}
	if r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	if err := json.Unmarshal([]byte(r.raw), &out); err != nil {
		t.Fatal(err)
	}
	return out.Items
}

func actions(n StoredNotice) string {
	var a []string
	for _, st := range n.Steps {
		a = append(a, st.Action)
	}
	return strings.Join(a, " ")
}

func pngPhoto(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The story of a notice, over HTTP with real sessions: a fall to C drafts
// it, unseen by the village; town discipline signs it with the real
// issuers' names and a number; the village's secretary answers with a
// report and an uploaded photo; discipline returns the answer; the
// director answers again; discipline accepts. Every step is recorded and
// announced, in order; wrong roles and other villages are refused.
func TestNoticeDraftSignAnswerReturnAccept(t *testing.T) {
	ts, s, clk := noticeAPI(t)
	ctx := context.Background()
	disc, _ := testinfra.KratosUser(t, "town-discipline", svcTown, "")
	otherDisc, _ := testinfra.KratosUser(t, "town-discipline", "jinping", "")
	district, _ := testinfra.KratosUser(t, "district-discipline", "", "")
	secA, _ := testinfra.KratosUser(t, "secretary", svcTown, svcVillage)
	dirA, _ := testinfra.KratosUser(t, "director", svcTown, svcVillage)
	accountantA, _ := testinfra.KratosUser(t, "accountant", svcTown, svcVillage)
	chairB, _ := testinfra.KratosUser(t, "supervision-chair", svcTown, svcVillage2)
	official, _ := testinfra.KratosUser(t, "town-official", svcTown, "")

	// The draft: discipline sees it, unnumbered; the village does not.
	drafts := itemsOf(t, get(t, ts, "/v1/notices?status=draft", disc))
	if len(drafts) != 1 || drafts[0].Status != NoticeDraft || drafts[0].Number != "" || drafts[0].Village != svcVillage ||
		!strings.Contains(drafts[0].Text, "草稿") || actions(drafts[0]) != "drafted" {
		t.Fatalf("drafts %+v", drafts)
	}
	id := drafts[0].ID
	base := "/v1/notices/" + id
	if got := itemsOf(t, get(t, ts, "/v1/notices", secA)); len(got) != 0 {
		t.Fatalf("the village sees %d notices before the sign-off", len(got))
	}
	for _, tc := range []struct {
		name, token, method, path string
		body                      any
		status                    int
	}{
		{"village reads the draft", secA, "GET", base, nil, 404},
		{"village signs", secA, "POST", base + "/sign", nil, 403},
		{"town official signs", official, "POST", base + "/sign", nil, 403},
		{"other town's discipline signs", otherDisc, "POST", base + "/sign", nil, 403},
		{"district signs", district, "POST", base + "/sign", nil, 403},
		{"village answers a draft", secA, "POST", base + "/answer", Answer{Report: "已整改", Evidence: []AnswerEvidence{{Text: "x"}}}, 404},
		{"no session", "", "POST", base + "/sign", nil, 401},
		{"other village lists", chairB, "GET", "/v1/notices?village=" + svcVillage, nil, 403},
		{"not an id", disc, "POST", "/v1/notices/not-an-id/sign", nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := send(t, ts, tc.method, tc.path, tc.token, tc.body); r.status != tc.status {
				t.Fatalf("%d, want %d: %s", r.status, tc.status, r.raw)
			}
		})
	}

	// Signed on 12 April: numbered, dated, with 15 days to answer, by the
	// district's and the town's commissions as the specs name them.
	clk.Set(time.Date(2026, 4, 12, 9, 0, 0, 0, Shanghai))
	r := send(t, ts, "POST", base+"/sign", disc, nil)
	signed := storedOf(t, r)
	if r.status != 200 || signed.Status != NoticeIssued || signed.Number != "奉纪预〔2026〕1号" ||
		!signed.Deadline.Equal(time.Date(2026, 4, 28, 0, 0, 0, 0, Shanghai)) ||
		!slices.Equal(signed.Issuers, []string{"中共宁波市奉化区纪律检查委员会", "中共溪口镇纪律检查委员会"}) {
		t.Fatalf("signed: %d %s", r.status, r.raw)
	}
	if r := send(t, ts, "POST", base+"/sign", disc, nil); r.status != 409 {
		t.Fatalf("signing twice: %d %s", r.status, r.raw)
	}
	html := get(t, ts, "/v1/notices/"+url.PathEscape(signed.Number)+"/html", secA)
	for _, want := range []string{"中共宁波市奉化区纪律检查委员会", "中共溪口镇纪律检查委员会", "奉纪预〔2026〕1号", "岩头村", "2026年4月27日前", "二〇二六年四月十二日"} {
		if html.status != 200 || !strings.Contains(html.raw, want) {
			t.Errorf("the village's HTML lacks %q: %d", want, html.status)
		}
	}
	if strings.Contains(html.raw, "xikou") || strings.Contains(html.raw, "中共奉化区纪委") {
		t.Error("the notice names the town's object name or the hard-coded issuer")
	}
	if got := itemsOf(t, get(t, ts, "/v1/notices", secA)); len(got) != 1 || got[0].ID != id {
		t.Fatalf("the village sees %+v", got)
	}

	// Files: only the answering officials of the village upload; only JPEG,
	// PNG and PDF; readers of the notice open them.
	photo := pngPhoto(t)
	if r := call(t, ts, "POST", base+"/files?name=现场照片.png", chairB, "image/png", photo); r.status != 404 {
		t.Fatalf("another village's chair uploads: %d %s", r.status, r.raw)
	}
	if r := call(t, ts, "POST", base+"/files?name=a.png", accountantA, "image/png", photo); r.status != 403 {
		t.Fatalf("the accountant uploads: %d %s", r.status, r.raw)
	}
	if r := call(t, ts, "POST", base+"/files?name=a.txt", secA, "text/plain", []byte("plain text")); r.status != 422 {
		t.Fatalf("a text file: %d %s", r.status, r.raw)
	}
	up := call(t, ts, "POST", base+"/files?name=现场照片.png", secA, "image/png", photo)
	if up.status != 201 || up.body["contentType"] != "image/png" {
		t.Fatalf("upload: %d %s", up.status, up.raw)
	}
	fileID, fileURL := up.body["id"].(string), up.body["url"].(string)
	if r := get(t, ts, fileURL, disc); r.status != 200 || r.contentType != "image/png" {
		t.Fatalf("discipline opens the photo: %d %s", r.status, r.contentType)
	}
	if r := get(t, ts, fileURL, chairB); r.status != 404 {
		t.Fatalf("another village opens the photo: %d", r.status)
	}

	// Answers: the right officials, with a report and evidence.
	answer := Answer{Report: "已召开村两委会议，对利益相关人未回避问题逐项整改。", Evidence: []AnswerEvidence{{File: fileID}, {Text: "会议纪要已上墙公示"}}}
	for _, tc := range []struct {
		name, token string
		body        any
		status      int
	}{
		{"other village's chair", chairB, answer, 404},
		{"the accountant", accountantA, answer, 403},
		{"discipline", disc, answer, 403},
		{"no report", secA, Answer{Evidence: answer.Evidence}, 422},
		{"no evidence", secA, Answer{Report: answer.Report}, 422},
		{"another notice's file", secA, Answer{Report: "x", Evidence: []AnswerEvidence{{File: "0b7e7c57-4d1b-4b0e-9d43-6c4f3a6d4c11"}}}, 422},
		{"a link that is not http", secA, Answer{Report: "x", Evidence: []AnswerEvidence{{URL: "javascript:alert(1)"}}}, 422},
	} {
		t.Run("answer by "+tc.name, func(t *testing.T) {
			if r := send(t, ts, "POST", base+"/answer", tc.token, tc.body); r.status != tc.status {
				t.Fatalf("%d, want %d: %s", r.status, tc.status, r.raw)
			}
		})
	}
	clk.Set(time.Date(2026, 4, 20, 9, 0, 0, 0, Shanghai))
	if r := send(t, ts, "POST", base+"/answer", secA, answer); r.status != 200 || storedOf(t, r).Status != NoticeAnswered {
		t.Fatalf("the secretary answers: %d %s", r.status, r.raw)
	}
	if r := send(t, ts, "POST", base+"/answer", secA, answer); r.status != 409 {
		t.Fatalf("answering twice: %d %s", r.status, r.raw)
	}

	// Review: discipline only; a return needs the reason.
	if r := send(t, ts, "POST", base+"/accept", secA, nil); r.status != 403 {
		t.Fatalf("the village accepts its own answer: %d", r.status)
	}
	if r := send(t, ts, "POST", base+"/return", disc, Review{}); r.status != 422 {
		t.Fatalf("a return without a reason: %d %s", r.status, r.raw)
	}
	if r := send(t, ts, "POST", base+"/return", disc, Review{Reason: "缺少整改责任人"}); r.status != 200 || storedOf(t, r).Status != NoticeReturned {
		t.Fatalf("return: %d %s", r.status, r.raw)
	}
	if r := send(t, ts, "POST", base+"/accept", disc, nil); r.status != 409 {
		t.Fatalf("accepting a returned notice: %d %s", r.status, r.raw)
	}
	again := Answer{Report: "补充整改责任人：村委会主任。", Evidence: []AnswerEvidence{{URL: "https://files.example.cn/zgbg.pdf"}}}
	if r := send(t, ts, "POST", base+"/answer", dirA, again); r.status != 200 {
		t.Fatalf("the director answers again: %d %s", r.status, r.raw)
	}
	r = send(t, ts, "POST", base+"/accept", disc, nil)
	done := storedOf(t, r)
	if r.status != 200 || done.Status != NoticeAccepted || actions(done) != "drafted signed answered returned answered accepted" {
		t.Fatalf("accepted: %d %s", r.status, r.raw)
	}
	if st := done.Steps[3]; st.Note != "缺少整改责任人" || st.Role != "town-discipline" {
		t.Errorf("the return's step %+v", st)
	}
	if st := done.Steps[2]; st.Note != answer.Report || len(st.Evidence) != 2 || st.Evidence[0].File != fileID || st.Role != "secretary" {
		t.Errorf("the answer's step %+v", st)
	}
	// The village reads the whole exchange.
	if r := get(t, ts, base, secA); r.status != 200 || actions(storedOf(t, r)) != actions(done) {
		t.Fatalf("the village reads: %d %s", r.status, r.raw)
	}

	// Announced in order, once each (A→B, then B→C drafting the notice).
	types, data := outbox(t, s.Pool)
	want := []string{eventsv1.TypeRatingChanged, eventsv1.TypeRatingChanged, eventsv1.TypeNoticeDrafted, eventsv1.TypeNoticeIssued, eventsv1.TypeNoticeAnswered,
		eventsv1.TypeNoticeReturned, eventsv1.TypeNoticeAnswered, eventsv1.TypeNoticeAccepted}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	var issued eventsv1.NoticeIssued
	var returned eventsv1.NoticeReviewed
	if json.Unmarshal(data[3], &issued) != nil || issued.ID != id || issued.Number != signed.Number ||
		json.Unmarshal(data[5], &returned) != nil || returned.Reason != "缺少整改责任人" || returned.Number != signed.Number {
		t.Errorf("events: issued %+v, returned %+v", issued, returned)
	}
	// The record cannot be rewritten, not even by the service.
	if _, err := s.Pool.Exec(ctx, `UPDATE supervision_steps SET note = 'x'`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("rewriting a step: %v", err)
	}
}

// A draft dismissed with its reason is never issued: the village never
// sees it, it cannot be signed afterwards, and it takes no number.
func TestNoticeDismissedWithReason(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	for _, v := range []string{svcVillage, svcVillage2} {
		handle(t, s, warningEvent(t, svcTown, v, "conflict-of-interest", day))
		handle(t, s, warningEvent(t, svcTown, v, "conflict-of-interest", day.AddDate(0, 0, 1)))
	}
	drafts, err := s.ListNotices(ctx, NoticeFilter{Status: NoticeDraft}, 10)
	if err != nil || len(drafts) != 2 {
		t.Fatalf("drafts %d (%v)", len(drafts), err)
	}
	first, second := drafts[1], drafts[0] // newest first
	var p *httpapi.Problem
	if _, err := s.DismissNotice(ctx, testDisc, first.ID, Review{Reason: "  "}); !errors.As(err, &p) || p.Status != 422 {
		t.Fatalf("dismissal without a reason: %v", err)
	}
	secA := identity.Principal{IdentityID: "sec-a", Role: identity.RoleSecretary, Town: svcTown, Village: first.Village}
	if _, err := s.DismissNotice(ctx, secA, first.ID, Review{Reason: "x"}); !errors.As(err, &p) || p.Status != 403 {
		t.Fatalf("the village dismisses: %v", err)
	}
	const reason = "扣分事项经复核系系统误报，已撤销预警"
	n, err := s.DismissNotice(ctx, testDisc, first.ID, Review{Reason: reason})
	if err != nil || n.Status != NoticeDismissed || actions(*n) != "drafted dismissed" || n.Steps[1].Note != reason || n.Steps[1].ActorID != testDisc.IdentityID {
		t.Fatalf("dismissed %+v (%v)", n, err)
	}
	if _, err := s.SignNotice(ctx, testDisc, first.ID); !errors.As(err, &p) || p.Status != 409 {
		t.Fatalf("signing a dismissed draft: %v", err)
	}
	if _, err := s.AnswerNotice(ctx, secA, first.ID, Answer{Report: "x", Evidence: []AnswerEvidence{{Text: "x"}}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("answering a dismissed notice: %v", err)
	}
	seen, err := s.ListNotices(ctx, NoticeFilter{Village: first.Village, VillageView: true}, 10)
	if err != nil || len(seen) != 0 {
		t.Fatalf("the village sees %d notices (%v)", len(seen), err)
	}
	// The other draft, signed, is number 1: the dismissal took none.
	if n, err := s.SignNotice(ctx, testDisc, second.ID); err != nil || n.Number != "奉纪预〔2026〕1号" {
		t.Fatalf("signed %+v (%v)", n, err)
	}
	types, data := outbox(t, s.Pool)
	i := slices.Index(types, eventsv1.TypeNoticeDismissed)
	var d eventsv1.NoticeDismissed
	if i < 0 || json.Unmarshal(data[i], &d) != nil || d.Reason != reason || d.ID != first.ID {
		t.Fatalf("dismissal event %v %+v", types, d)
	}
}

// A notice without an answer by its deadline escalates once however often
// the sweeper runs; a returned one left unanswered escalates too; an
// answered one waiting for review does not.
func TestNoticeUnansweredEscalatesOnce(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	villages := []string{svcVillage, svcVillage2, "330213100203"}
	for _, v := range villages {
		handle(t, s, warningEvent(t, svcTown, v, "conflict-of-interest", day))
		handle(t, s, warningEvent(t, svcTown, v, "conflict-of-interest", day.AddDate(0, 0, 1)))
	}
	signed := map[string]*StoredNotice{}
	for _, n := range signDrafts(t, s) {
		signed[n.Village] = n
	}
	answer := Answer{Report: "已整改", Evidence: []AnswerEvidence{{Text: "整改台账"}}}
	sec := func(v string) identity.Principal {
		return identity.Principal{IdentityID: "sec-" + v, Role: identity.RoleSecretary, Town: svcTown, Village: v}
	}
	// Village 2 answers and waits for review; village 3 answers, is
	// returned and does not answer again; village 1 never answers.
	for _, v := range villages[1:] {
		if _, err := s.AnswerNotice(ctx, sec(v), signed[v].ID, answer); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ReviewNotice(ctx, testDisc, signed[villages[2]].ID, false, Review{Reason: "证明材料不全"}); err != nil {
		t.Fatal(err)
	}
	// Before the deadline nothing escalates; at it, two do, once.
	clk.Set(signed[svcVillage].Deadline.Add(-time.Second))
	if n, err := s.EscalateNotices(ctx, 10); err != nil || n != 0 {
		t.Fatalf("before the deadline: %d (%v)", n, err)
	}
	clk.Set(signed[svcVillage].Deadline)
	for i, want := range []int{2, 0, 0} {
		if n, err := s.EscalateNotices(ctx, 10); err != nil || n != want {
			t.Fatalf("run %d: %d (%v), want %d", i, n, err, want)
		}
	}
	for v, want := range map[string]bool{villages[0]: true, villages[1]: false, villages[2]: true} {
		n, err := s.NoticeByRef(ctx, signed[v].ID)
		if err != nil || (n.EscalatedAt != nil) != want {
			t.Errorf("village %s escalated %v, want %v (%v)", v, n.EscalatedAt, want, err)
		}
		if want && !strings.HasSuffix(actions(*n), "escalated") {
			t.Errorf("village %s's steps %q", v, actions(*n))
		}
	}
	types, data := outbox(t, s.Pool)
	var escalated []string
	for i, typ := range types {
		if typ == eventsv1.TypeNoticeEscalated {
			var e eventsv1.NoticeEscalated
			if err := json.Unmarshal(data[i], &e); err != nil {
				t.Fatal(err)
			}
			escalated = append(escalated, e.Village)
		}
	}
	slices.Sort(escalated)
	wantEsc := []string{villages[0], villages[2]}
	slices.Sort(wantEsc)
	if !slices.Equal(escalated, wantEsc) {
		t.Fatalf("escalation events %v", escalated)
	}
	// A late answer is taken, and said to be late.
	clk.Set(signed[svcVillage].Deadline.AddDate(0, 0, 2))
	if _, err := s.AnswerNotice(ctx, sec(svcVillage), signed[svcVillage].ID, answer); err != nil {
		t.Fatal(err)
	}
	types, data = outbox(t, s.Pool)
	var late eventsv1.NoticeAnswered
	if err := json.Unmarshal(data[len(types)-1], &late); err != nil || !late.Late {
		t.Fatalf("late answer event %+v (%v)", late, err)
	}
}

// Drafts signed at once from many connections get the numbers 1…n of
// their series, each once, with no gap; a draft signed twice at once is
// signed once.
func TestSigningNumbersGapFreeUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	const n = 12
	for i := range n {
		v := fmt.Sprintf("330213100%03d", 300+i)
		handle(t, s, warningEvent(t, svcTown, v, "conflict-of-interest", day))
		handle(t, s, warningEvent(t, svcTown, v, "conflict-of-interest", day.AddDate(0, 0, 1)))
	}
	drafts, err := s.ListNotices(ctx, NoticeFilter{Status: NoticeDraft}, 100)
	if err != nil || len(drafts) != n {
		t.Fatalf("%d drafts (%v)", len(drafts), err)
	}
	var mu sync.Mutex
	var numbers []string
	conflicts := 0
	var wg sync.WaitGroup
	for _, d := range drafts {
		for range 2 { // every draft signed twice at once
			wg.Go(func() {
				got, err := s.SignNotice(ctx, testDisc, d.ID)
				mu.Lock()
				defer mu.Unlock()
				var p *httpapi.Problem
				switch {
				case err == nil:
					numbers = append(numbers, got.Number)
				case errors.As(err, &p) && p.Status == 409:
					conflicts++
				default:
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, DocNumber("奉纪预", 2026, i))
	}
	slices.Sort(numbers)
	slices.Sort(want)
	if !slices.Equal(numbers, want) || conflicts != n {
		t.Fatalf("numbers %v (%d conflicts), want %v and %d conflicts", numbers, conflicts, want, n)
	}
	if c := count(t, s.Pool, `SELECT count(*) FROM supervision_steps WHERE action = 'signed'`); c != n {
		t.Fatalf("%d signed steps, want %d", c, n)
	}
}

// The village an order addresses sees it and answers it with evidence;
// the office returns the answer; left unanswered past the deadline, the
// order escalates once (blue → yellow). Another village sees nothing, a
// cadre who does not answer for the village cannot answer.
func TestOrderAnsweredReturnedEscalates(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	o, err := s.IssueOrder(ctx, testDisc, OrderRequest{Village: svcVillage, Situation: "duty-02", Detail: "2月财务公开未按时上墙"})
	if err != nil {
		t.Fatal(err)
	}
	chair := identity.Principal{IdentityID: "chair-a", Role: identity.RoleSupervisionChair, Town: svcTown, Village: svcVillage}
	cashier := identity.Principal{IdentityID: "cashier-a", Role: identity.RoleCashier, Town: svcTown, Village: svcVillage}
	secB := identity.Principal{IdentityID: "sec-b", Role: identity.RoleSecretary, Town: svcTown, Village: svcVillage2}
	answer := OrderAction{Response: "财务公开栏已补公示", Evidence: []AnswerEvidence{{URL: "https://files.example.cn/gk.jpg"}}}
	var p *httpapi.Problem
	if _, err := s.ActOnOrderBy(ctx, secB, o.Number, "respond", answer); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another village answers: %v", err)
	}
	if _, err := s.ActOnOrderBy(ctx, cashier, o.Number, "respond", answer); !errors.As(err, &p) || p.Status != 403 {
		t.Fatalf("the cashier answers: %v", err)
	}
	if _, err := s.ActOnOrderBy(ctx, chair, o.Number, "respond", OrderAction{Response: "已整改"}); !errors.As(err, &p) || p.Status != 422 {
		t.Fatalf("the village answers without evidence: %v", err)
	}
	if _, err := s.ActOnOrderBy(ctx, chair, o.Number, "close", OrderAction{}); !errors.As(err, &p) || p.Status != 403 {
		t.Fatalf("the village closes its order: %v", err)
	}
	got, err := s.ActOnOrderBy(ctx, chair, o.Number, "respond", answer)
	if err != nil || got.Status != OrderResponded || len(got.Steps) != 2 || got.Steps[0].Action != "issued" || got.Steps[1].Action != "answered" ||
		len(got.Steps[1].Evidence) != 1 {
		t.Fatalf("answered %+v (%v)", got, err)
	}
	if _, err := s.ActOnOrderBy(ctx, testDisc, o.Number, "return", OrderAction{}); !errors.As(err, &p) || p.Status != 422 {
		t.Fatalf("a return without the reason: %v", err)
	}
	got, err = s.ActOnOrderBy(ctx, testDisc, o.Number, "return", OrderAction{Reason: "照片未显示公示日期"})
	if err != nil || got.Status != OrderIssued || got.RespondedAt != nil {
		t.Fatalf("returned %+v (%v)", got, err)
	}
	// The deadline passes without a new answer: escalated once.
	clk.Set(o.Deadline)
	for i, want := range []int{1, 0} {
		if n, err := s.EscalateOrders(ctx, 10); err != nil || n != want {
			t.Fatalf("run %d: %d (%v), want %d", i, n, err, want)
		}
	}
	old, err := s.OrderByNumber(ctx, o.Number)
	if err != nil || old.EscalatedTo == "" {
		t.Fatalf("not escalated: %+v (%v)", old, err)
	}
	st, err := steps(ctx, s.Pool, "order", o.Number)
	if err != nil || len(st) != 4 || st[2].Action != "returned" || st[2].Note != "照片未显示公示日期" || st[3].Action != "escalated" {
		t.Fatalf("steps %+v (%v)", st, err)
	}
	types, _ := outbox(t, s.Pool)
	for _, want := range []string{eventsv1.TypeOrderAnswered, eventsv1.TypeOrderReturned, eventsv1.TypeOrderEscalated} {
		if c := strings.Count(strings.Join(types, " "), want); c != 1 {
			t.Errorf("%d %s events, want 1: %v", c, want, types)
		}
	}
}
