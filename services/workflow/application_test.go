package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/media/mediatest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// applicantID is a valid ID number (its check character is right).
const applicantID = "11010519491231002X"

// multipartBody builds a form: fields, then files as field → (name, data).
type formFile struct {
	field, name string
	data        []byte
}

func multipartBody(t testing.TB, fields map[string]string, files ...formFile) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		fw, err := mw.CreateFormFile(f.field, f.name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(f.data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

func postForm(t testing.TB, ts *httptest.Server, path string, fields map[string]string, files ...formFile) response {
	t.Helper()
	ct, body := multipartBody(t, fields, files...)
	req, err := http.NewRequest("POST", ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{Status: res.StatusCode, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

func applyFields(item string) map[string]string {
	return map[string]string{"item": item, "name": "张小明", "phone": "138 0013 8000", "idNumber": applicantID,
		"description": "家中住房年久失修，申请在原址翻建。"}
}

// TestApplicationRunAtMostOnce walks an application from the portal: a
// villager applies with a photo (its GPS position removed), the cadre asks
// once for everything missing (a second request is refused), the villager
// supplements with the access code, the cadre records the appointment and
// the public tracker shows it; nothing personal reaches the public view,
// the events or the audit chain.
func TestApplicationRunAtMostOnce(t *testing.T) {
	ts, s := api(t)
	director, _ := testinfra.KratosUser(t, "director", town, village)
	photo := mediatest.JPEG(8, 8)
	if !mediatest.HasGPS(photo) {
		t.Fatal("the test photo has no GPS position to remove")
	}

	refused := postForm(t, ts, "/v1/public/villages/"+village+"/applications", applyFields("decision-major-matters"))
	if refused.Status != 422 || refused.Body["type"] != "https://wuxiao.dev/problems/workflow/not-a-villager-item" {
		t.Fatalf("a cadre-first item: %d %s", refused.Status, refused.Raw)
	}
	invalid := postForm(t, ts, "/v1/public/villages/"+village+"/applications",
		map[string]string{"item": "duty-homestead", "name": "", "phone": "12", "idNumber": "110105194912310021"})
	if invalid.Status != 422 || !strings.Contains(invalid.Raw, "idNumber") || !strings.Contains(invalid.Raw, "phone") || !strings.Contains(invalid.Raw, "name") {
		t.Fatalf("invalid fields: %d %s", invalid.Status, invalid.Raw)
	}

	filed := postForm(t, ts, "/v1/public/villages/"+village+"/applications", applyFields("duty-homestead"),
		formFile{"material-1", "身份证.jpg", photo})
	if filed.Status != 201 {
		t.Fatalf("apply: %d %s", filed.Status, filed.Raw)
	}
	number, code := filed.Body["trackingNumber"].(string), filed.Body["accessCode"].(string)
	if len(code) != 9 || !strings.HasPrefix(number, village+"-") {
		t.Fatalf("receipt: %s", filed.Raw)
	}
	inst, err := s.ByTrackingNumber(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Current != "review" || inst.Steps[0].ActorID != ApplicantActorID || inst.Steps[0].ActorRole != "villager" || inst.Steps[0].CompletedAt == nil {
		t.Fatalf("first step not the applicant's: %+v", inst.Steps)
	}
	_, stored, err := s.OpenEvidenceFile(context.Background(), inst.ID, inst.Evidence[0].ID)
	if err != nil || mediatest.HasGPS(stored) {
		t.Fatalf("stored photo: err %v, GPS kept %v", err, mediatest.HasGPS(stored))
	}

	path := "/v1/instances/" + inst.ID
	ask := jsonCall(t, ts, "POST", path+"/materials-request", director,
		MaterialsRequestInput{Missing: []string{"户口簿", "现有住房情况证明", "建房书面申请"}, Note: "请拍清楚户口簿每一页"})
	if ask.Status != 200 {
		t.Fatalf("materials request: %d %s", ask.Status, ask.Raw)
	}
	again := jsonCall(t, ts, "POST", path+"/materials-request", director, MaterialsRequestInput{Missing: []string{"结婚证"}})
	if again.Status != 409 || again.Body["type"] != "https://wuxiao.dev/problems/workflow/materials-already-requested" {
		t.Fatalf("second request: %d %s", again.Status, again.Raw)
	}

	wrong := postForm(t, ts, "/v1/public/applications/"+number+"/supplement", map[string]string{"accessCode": "2222-2222"},
		formFile{"material-2", "户口簿.pdf", samplePDF()})
	if wrong.Status != 403 {
		t.Fatalf("wrong code: %d %s", wrong.Status, wrong.Raw)
	}
	sup := postForm(t, ts, "/v1/public/applications/"+number+"/supplement", map[string]string{"accessCode": strings.ToLower(code)},
		formFile{"material-2", "户口簿.pdf", samplePDF()}, formFile{"material-3", "住房.pdf", samplePDF()})
	if sup.Status != 200 || strings.Contains(sup.Raw, "张小明") || strings.Contains(sup.Raw, "13800138000") {
		t.Fatalf("supplement: %d %s", sup.Status, sup.Raw)
	}

	at := time.Date(2026, 3, 5, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))
	appt := jsonCall(t, ts, "POST", path+"/appointment", director, AppointmentInput{VisitNeeded: true, At: &at, Place: "村便民服务中心"})
	if appt.Status != 200 {
		t.Fatalf("appointment: %d %s", appt.Status, appt.Raw)
	}
	late := postForm(t, ts, "/v1/public/applications/"+number+"/supplement", map[string]string{"accessCode": code},
		formFile{"material-0", "申请.pdf", samplePDF()})
	if late.Status != 409 {
		t.Fatalf("supplement after the appointment: %d %s", late.Status, late.Raw)
	}

	track := call(t, ts, "GET", "/v1/public/track/"+number, "", "", "")
	app, _ := track.Body["application"].(map[string]any)
	if track.Status != 200 || app == nil || app["applicant"] != "张*明" || app["missingCount"] != float64(3) {
		t.Fatalf("track: %d %s", track.Status, track.Raw)
	}
	if a, _ := app["appointment"].(map[string]any); a == nil || a["place"] != "村便民服务中心" || a["visitNeeded"] != true {
		t.Fatalf("track appointment: %s", track.Raw)
	}
	for _, secret := range []string{"张小明", "13800138000", applicantID, "户口簿"} {
		if strings.Contains(track.Raw, secret) {
			t.Errorf("the public tracker shows %q: %s", secret, track.Raw)
		}
	}

	// The cadre sees the applicant's contact.
	staff := call(t, ts, "GET", path+"/application", director, "", "")
	if staff.Status != 200 || staff.Body["applicantName"] != "张小明" || staff.Body["applicantPhone"] != "13800138000" || strings.Contains(staff.Raw, applicantID) {
		t.Fatalf("staff view: %d %s", staff.Status, staff.Raw)
	}

	// Nothing personal in events or the audit chain; every step audited.
	var outbox string
	if err := s.Pool.QueryRow(context.Background(), `SELECT string_agg(convert_from(payload, 'UTF8') || headers::text, ' ') FROM outbox`).Scan(&outbox); err != nil {
		t.Fatal(err)
	}
	entries, check, err := s.Audit(context.Background(), inst.ID)
	if err != nil || !check.Valid {
		t.Fatalf("audit: %v %+v", err, check)
	}
	var actions []string
	var auditText strings.Builder
	for _, e := range entries {
		actions = append(actions, e.Action)
		auditText.WriteString(e.Data + " " + e.ActorID)
	}
	for _, secret := range []string{"张小明", "13800138000", applicantID} {
		if strings.Contains(outbox, secret) || strings.Contains(auditText.String(), secret) {
			t.Errorf("%q reached the events or the audit chain", secret)
		}
	}
	// The first step's event names who holds the next one, so that its
	// holders are told of a new task.
	if !strings.Contains(outbox, `"nextRole":"`) {
		t.Error("the application's step.completed event names no next role")
	}
	// The place to come is public (the portal's 办理进度 shows it).
	if !strings.Contains(outbox, "村便民服务中心") {
		t.Error("the appointment event does not say where to come")
	}
	want := "application.filed step.completed application.materials-requested application.supplemented application.appointment"
	if got := strings.Join(actions, " "); got != want {
		t.Errorf("audit actions = %s, want %s", got, want)
	}
	for _, typ := range []string{"application.filed", "application.materials-requested", "application.supplemented", "application.appointment"} {
		if !strings.Contains(strings.Join(outboxTypes(t, s.Pool), " "), typ) {
			t.Errorf("no %s event", typ)
		}
	}
}

// TestApplicationOnBehalf: 代办 by a cadre or the town's service desk; the
// record says so and who filed; other roles and villages are refused.
func TestApplicationOnBehalf(t *testing.T) {
	ts, s := api(t)
	director, _ := testinfra.KratosUser(t, "director", town, village)
	official, _ := testinfra.KratosUser(t, "town-official", town, "")
	liaison, _ := testinfra.KratosUser(t, "liaison-officer", town, village)
	otherVillage, _ := testinfra.KratosUser(t, "secretary", town, "330213100202")
	villager, _ := testinfra.KratosUser(t, "villager", town, village)
	req := OnBehalfRequest{ItemID: "service-certificate", ApplicantName: "李四", ApplicantPhone: "13900139000"}
	cases := []struct {
		name, token string
		req         OnBehalfRequest
		status      int
		typ         string
	}{
		{"director", director, req, 201, ""},
		{"town service desk", official, req, 201, ""},
		{"liaison officer watches, does not file", liaison, req, 403, "workflow/forbidden"},
		{"other village", otherVillage, req, 403, "forbidden"},
		{"villager", villager, req, 403, "forbidden"},
		{"cadre-first item", director, OnBehalfRequest{ItemID: "funds-expenditure", ApplicantName: "李四", ApplicantPhone: "13900139000"}, 422, "workflow/not-a-villager-item"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := jsonCall(t, ts, "POST", "/v1/villages/"+village+"/applications", tc.token, tc.req)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Raw)
			}
			if tc.typ != "" {
				if r.Body["type"] != "https://wuxiao.dev/problems/"+tc.typ {
					t.Fatalf("type %v, want %s", r.Body["type"], tc.typ)
				}
				return
			}
			app := r.Body["application"].(map[string]any)
			inst := r.Body["instance"].(map[string]any)
			if app["channel"] != ChannelOnBehalf || app["filedBy"] == "" || app["filedByRole"] == "" || inst["current"] != "verify" {
				t.Fatalf("record: %s", r.Raw)
			}
			entries, _, err := s.Audit(context.Background(), inst["id"].(string))
			if err != nil || len(entries) == 0 || entries[0].Action != "application.filed" || entries[0].ActorID != app["filedBy"] {
				t.Fatalf("audit of 代办: %v %+v", err, entries)
			}
		})
	}
}

// TestApplicationAbuseLimits: a body over the limit is refused, a client
// files at most five applications at once (forms refused for their fields
// or size use up nothing), and guessing an access code stops after ten
// attempts on a number.
func TestApplicationAbuseLimits(t *testing.T) {
	ts, _ := api(t)
	path := "/v1/public/villages/" + village + "/applications"
	bad := applyFields("service-certificate")
	bad["phone"] = "1"
	for i := range 6 {
		if r := postForm(t, ts, path, bad); r.Status != 422 {
			t.Fatalf("invalid form %d: %d %s", i, r.Status, r.Raw)
		}
	}
	huge := postForm(t, ts, path, applyFields("service-certificate"),
		formFile{"material-0", "a.pdf", bytes.Repeat([]byte("x"), applicationBodyLimit)})
	if huge.Status != 413 {
		t.Fatalf("a body over the limit: %d %s", huge.Status, huge.Raw)
	}
	var number string
	for i := range 5 {
		r := postForm(t, ts, path, applyFields("service-certificate"))
		if r.Status != 201 {
			t.Fatalf("application %d: %d %s", i, r.Status, r.Raw)
		}
		number, _ = r.Body["trackingNumber"].(string)
	}
	if r := postForm(t, ts, path, applyFields("service-certificate")); r.Status != 429 || r.Body["type"] != "https://wuxiao.dev/problems/workflow/rate-limited" {
		t.Fatalf("sixth application: %d %s", r.Status, r.Raw)
	}

	for i := range 10 {
		if r := postForm(t, ts, "/v1/public/applications/"+number+"/supplement", map[string]string{"accessCode": "2222-2222"}); r.Status != 403 {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Raw)
		}
	}
	if r := postForm(t, ts, "/v1/public/applications/"+number+"/supplement", map[string]string{"accessCode": "2222-2223"}); r.Status != 429 {
		t.Fatalf("eleventh guess: %d %s", r.Status, r.Raw)
	}

}
