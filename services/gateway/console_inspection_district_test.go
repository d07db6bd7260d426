package gateway

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// answerUpload submits an answer form as a browser does: the CSRF token
// first, the fields in order, then the file (none when name is empty).
func (s *staff) answerUpload(path, csrf string, fields [][2]string, name string, data []byte) conPage {
	s.t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		if csrf != "" {
			_ = mw.WriteField("csrf", csrf)
		}
		for _, f := range fields {
			_ = mw.WriteField(f[0], f[1])
		}
		fw, _ := mw.CreateFormFile("file", name)
		_, _ = fw.Write(data)
		_ = mw.Close()
		_ = pw.Close()
	}()
	req, _ := http.NewRequest("POST", s.base+path, pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", s.base)
	return s.do(req)
}

func grayPNG(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestInspectionConsoleDistrictRunsRound: district discipline picks a town
// in the console and, there, plans a round, records a finding and issues a
// three-colour order through the forms; the inspection service records
// that the district did it. The village's secretary answers the order in
// the console with a report and a photo (uploaded through the gateway);
// the district opens the photo and returns the answer with a new
// deadline, which the order then shows. A cashier has no answer form and
// is refused; an answer without its CSRF token reaches nothing.
func TestInspectionConsoleDistrictRunsRound(t *testing.T) {
	env := startInspectionConsole(t)
	ctx := context.Background()
	dd := signIn(t, env.URL, "district-discipline", "", "")
	d := signIn(t, env.URL, "town-discipline", conTown, "")
	sec := signIn(t, env.URL, "secretary", conTown, conVillage)
	cashier := signIn(t, env.URL, "cashier", conTown, conVillage)

	if p := dd.get("/console/inspection/town?town=" + conTown); p.status != http.StatusSeeOther {
		t.Fatalf("choosing the town: %d", p.status)
	}
	if p := dd.get("/console/inspection"); !strings.Contains(p.body, "在溪口镇安排一轮巡察") {
		t.Fatalf("the district's tour form:\n%.3000s", mainOf(p.body))
	}
	tour := env.planTourAs(t, dd)
	tv, err := env.Insp.TourByID(ctx, tour)
	if err != nil || tv.CreatedByRole != "district-discipline" {
		t.Fatalf("the district's tour in the service: %+v %v", tv, err)
	}
	tp := dd.get("/console/inspection/tours/" + tour)
	if p := dd.post("/console/inspection/tours/"+tour+"/findings", url.Values{"csrf": {csrfOf(t, tp.body)}, "village": {conVillage},
		"category": {"三资管理"}, "description": {"集体资产出租未公开招租"}, "severity": {"minor"}, "action": {"重新公开招租"},
		"owner": {"村股份经济合作社"}, "deadline": {inAMonth()}}); p.status != http.StatusSeeOther {
		t.Fatalf("the district's finding: %d\n%.2000s", p.status, mainOf(p.body))
	}
	if p := d.get("/console/inspection"); !strings.Contains(p.body, "2026年第二轮村级巡察") || !strings.Contains(p.body, "区纪委安排") {
		t.Fatalf("the town's office does not see the district's round:\n%.2000s", mainOf(p.body))
	}

	op := dd.get("/console/inspection/orders")
	if !strings.Contains(op.body, "向溪口镇的村签发督查令") {
		t.Fatalf("the district's order form:\n%.3000s", mainOf(op.body))
	}
	p := dd.post("/console/inspection/orders", url.Values{"csrf": {csrfOf(t, op.body)}, "village": {conVillage}, "situation": {"duty-02"},
		"detail": {"三资管理问题未公开"}})
	m := orderPath.FindStringSubmatch(p.location)
	if p.status != http.StatusSeeOther || m == nil {
		t.Fatalf("the district's order: %d %q\n%.2000s", p.status, p.location, mainOf(p.body))
	}
	number, _ := url.QueryUnescape(m[1])
	o, err := env.Insp.OrderByNumber(ctx, number)
	if err != nil || o.IssuedByRole != "district-discipline" {
		t.Fatalf("the district's order in the service: %+v %v", o, err)
	}

	page := orderURL(number)
	sp := sec.get(page)
	if sp.status != 200 || !strings.Contains(sp.body, `enctype="multipart/form-data"`) || !strings.Contains(sp.body, "（区纪委）") {
		t.Fatalf("the secretary's order page: %d\n%.3000s", sp.status, mainOf(sp.body))
	}
	if np := sec.get("/console/notices"); !strings.Contains(np.body, number) {
		t.Fatalf("the village's notices page does not list the order:\n%.3000s", mainOf(np.body))
	}
	if cp := cashier.get(page); cp.status != 200 || strings.Contains(cp.body, `enctype="multipart/form-data"`) {
		t.Fatalf("the cashier's order page: %d (an answer form?)\n%.2000s", cp.status, mainOf(cp.body))
	}
	fields := [][2]string{{"report", "已补充公开三资管理情况"}, {"evidence", ""}, {"link", ""}}
	if p := cashier.answerUpload(page+"/answer", csrfOf(t, cashier.get("/console").body), fields, "公示.png", grayPNG(t)); p.status != http.StatusForbidden ||
		!strings.Contains(p.body, `class="error"`) {
		t.Fatalf("the cashier answers: %d\n%.2000s", p.status, mainOf(p.body))
	}
	if p := sec.answerUpload(page+"/answer", "", fields, "公示.png", grayPNG(t)); p.status != http.StatusForbidden {
		t.Fatalf("an answer without the CSRF token: %d", p.status)
	}
	if p := sec.answerUpload(page+"/answer", csrfOf(t, sp.body), [][2]string{{"report", ""}}, "", nil); p.status != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, "请填写整改情况报告") {
		t.Fatalf("an empty answer: %d\n%.2000s", p.status, mainOf(p.body))
	}
	if p := sec.answerUpload(page+"/answer", csrfOf(t, sp.body), fields, "公示.txt", []byte("not a photo")); p.status != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, "JPEG、PNG") {
		t.Fatalf("a text file: %d\n%.2000s", p.status, mainOf(p.body))
	}
	if p := sec.answerUpload(page+"/answer", csrfOf(t, sp.body), fields, "公示.png", grayPNG(t)); p.status != http.StatusSeeOther ||
		p.location != page+"?ok=answer" {
		t.Fatalf("the secretary's answer: %d %q\n%.2000s", p.status, p.location, mainOf(p.body))
	}
	o, err = env.Insp.OrderByNumber(ctx, number)
	if err != nil || o.Status != "responded" {
		t.Fatalf("the answered order: %+v %v", o, err)
	}

	// The district sees the answer with its photo and returns it.
	rp := dd.get(page)
	link := fileLink.FindStringSubmatch(rp.body)
	if rp.status != 200 || link == nil || !strings.Contains(rp.body, "已补充公开三资管理情况") || !strings.Contains(rp.body, "审核通过，办结") {
		t.Fatalf("the district's order page: %d\n%.3000s", rp.status, mainOf(rp.body))
	}
	if f := dd.get(unamp(link[1])); f.status != 200 || f.header.Get("Content-Type") != "image/png" || !strings.HasPrefix(f.body, "\x89PNG") {
		t.Fatalf("the photo: %d %s", f.status, f.header.Get("Content-Type"))
	}
	if f := cashier.get(unamp(link[1])); f.status != 200 {
		t.Fatalf("the village's cashier opens the photo of the village's order: %d", f.status)
	}
	newDue := time.Now().In(tz.Shanghai).AddDate(0, 0, 10).Format(time.DateOnly)
	if p := dd.post(page+"/return", url.Values{"csrf": {csrfOf(t, rp.body)}, "reason": {"照片看不清公示日期"}, "deadline": {newDue}}); p.status != http.StatusSeeOther {
		t.Fatalf("the district returns: %d\n%.2000s", p.status, mainOf(p.body))
	}
	o, err = env.Insp.OrderByNumber(ctx, number)
	if err != nil || o.Status != "issued" || o.AnswerDue == nil || o.AnswerDue.In(tz.Shanghai).AddDate(0, 0, -1).Format(time.DateOnly) != newDue {
		t.Fatalf("the returned order: %+v %v", o, err)
	}
	if sp := sec.get(page); !strings.Contains(sp.body, "退回后重新计算") || !strings.Contains(sp.body, "照片看不清公示日期") ||
		!strings.Contains(sp.body, newDue) || !strings.Contains(sp.body, `enctype="multipart/form-data"`) {
		t.Fatalf("the secretary's page after the return:\n%.3000s", mainOf(sp.body))
	}
}

// unamp undoes the page's escaping of a link's &amp; (none expected) and
// returns the path.
func unamp(s string) string { return strings.ReplaceAll(s, "&amp;", "&") }

var fileLink = regexp.MustCompile(`href="(/console/inspection/orders/[^"]+/files/[0-9a-f-]{36})"`)
