package complaint

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// pageServer runs the complaint service's routes as the command does: the
// server lets uploads through (IntakeMaxBodyBytes), the JSON routes keep a
// small limit (64 KiB), PostgreSQL and Kratos are the real ones.
func pageServer(t testing.TB, limits RateLimitConfig) (*httptest.Server, *API) {
	t.Helper()
	s, _ := newService(t)
	auth := httpapitest.Auth(t)
	limits.MinDifficulty, limits.MaxDifficulty = 8, 8
	a := &API{Service: s, Limiter: NewRateLimiter(limits), BodyLimit: 64 << 10,
		Challenger: NewChallenger(ChallengerConfig{MinDifficulty: 8, MaxDifficulty: 8}), Optional: auth.Optional}
	base := httpapitest.APIBase(testTown)
	base.MaxBodyBytes = IntakeMaxBodyBytes
	return httpapitest.Serve(t, base, auth, a.Routes), a
}

// Sample files, made by the standard library's encoders.
func samplePNG(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for x := range 40 {
		img.Set(x, x%30, color.RGBA{200, 0, 0, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sampleJPEG(t testing.TB) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 16, 16)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sampleGIF(t testing.TB) []byte {
	var b bytes.Buffer
	if err := gif.Encode(&b, image.NewPaletted(image.Rect(0, 0, 4, 4), []color.Color{color.Black, color.White}), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var samplePDF = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

// padded is content followed by zeros up to size bytes (the type sniffed
// from its start stays content's).
func padded(content []byte, size int) []byte {
	out := make([]byte, size)
	copy(out, content)
	return out
}

type formFile struct {
	name, declaredType string
	content            []byte
}

type form struct {
	fields [][2]string
	files  []formFile
}

func (f form) encode() (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, kv := range f.fields {
		_ = mw.WriteField(kv[0], kv[1])
	}
	for _, file := range f.files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="attachments"; filename=%q`, file.name))
		h.Set("Content-Type", file.declaredType)
		w, _ := mw.CreatePart(h)
		_, _ = w.Write(file.content)
	}
	_ = mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// postPage posts a form, as a browser does, following redirects.
func postPage(t testing.TB, ts *httptest.Server, path string, header http.Header, contentType string, body []byte) httpapitest.Response {
	t.Helper()
	return client(ts).Do(t, httpapitest.Request{Method: http.MethodPost, Path: path, Header: header, ContentType: contentType, Body: body})
}

func report(t testing.TB, ts *httptest.Server, f form, header http.Header) httpapitest.Response {
	t.Helper()
	ct, body := f.encode()
	return postPage(t, ts, "/r/"+testVillage, header, ct, body)
}

// getPage gets a page, answering a redirect to the test.
func getPage(t testing.TB, ts *httptest.Server, path string, header http.Header) httpapitest.Response {
	t.Helper()
	return httpapitest.Client{URL: ts.URL, KeepRedirects: true}.Do(t, httpapitest.Request{Method: http.MethodGet, Path: path, Header: header})
}

const goodDescription = "村委会修路的补助款去向不明，账目没有公开"

func validForm(category string, files ...formFile) form {
	return form{fields: [][2]string{{"category", category}, {"description", goodDescription}}, files: files}
}

var (
	trackingCodeRE = regexp.MustCompile(`id="tracking-code">(TS-[0-9]{3}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4})<`)
	secretRE       = regexp.MustCompile(`id="secret">([A-Z2-7]{32})<`)
)

func receiptOf(t testing.TB, r httpapitest.Response) (code, secret string) {
	t.Helper()
	c, s := trackingCodeRE.FindStringSubmatch(r.Raw), secretRE.FindStringSubmatch(r.Raw)
	if r.Status != http.StatusCreated || c == nil || s == nil {
		t.Fatalf("no receipt: %d %s", r.Status, r.Raw)
	}
	return c[1], s[1]
}

func count(t testing.TB, s *Service, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := s.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func idOf(t testing.TB, s *Service, code string) string {
	t.Helper()
	var id string
	if err := s.Pool.QueryRow(context.Background(), `SELECT id FROM complaints WHERE tracking_code = $1`, code).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestReportPageForm(t *testing.T) {
	ts, _ := pageServer(t, generous)
	r := getPage(t, ts, "/r/"+testVillage, nil)
	for _, want := range []string{`<html lang="zh-CN">`, `action="/r/` + testVillage + `"`, `enctype="multipart/form-data"`,
		`accept="image/jpeg,image/png,application/pdf`, "默认匿名举报", "只有纪检监察人员能看到", "10至2000字", "最多3个文件",
		`value="cadre-conduct"`, "干部作风", "<noscript>" /* only with a challenge */} {
		if got := strings.Contains(r.Raw, want); got != (want != "<noscript>") {
			t.Errorf("form page: %q present=%v", want, got)
		}
	}
	if r.Status != 200 || r.Header.Get("Cache-Control") != "no-store" || !strings.Contains(r.Header.Get("Content-Security-Policy"), "script-src 'sha256-") {
		t.Errorf("form page: %d %v", r.Status, r.Header)
	}
	if strings.Contains(r.Raw, "http://") || strings.Contains(r.Raw, "https://") {
		t.Error("the page loads or links external assets")
	}
	if strings.Contains(r.Raw, "实名举报") {
		t.Error("an anonymous visitor is offered to file with an identity")
	}
	if r := getPage(t, ts, "/r/123", nil); r.Status != 404 || !strings.Contains(r.Raw, "村代码不正确") {
		t.Errorf("bad village: %d %s", r.Status, r.Raw)
	}

	// A signed-in villager may choose to file with their identity.
	token, who := testinfra.KratosUser(t, "villager", testTown, testVillage)
	r = getPage(t, ts, "/r/"+testVillage, http.Header{"Authorization": {"Bearer " + token}})
	if !strings.Contains(r.Raw, `name="identified"`) || !strings.Contains(r.Raw, html.EscapeString(who.Name)) || strings.Contains(r.Raw, `name="identified" value="1" checked`) {
		t.Errorf("signed-in form: %s", r.Raw)
	}
}

func TestReportPageIntakeStoresAttachments(t *testing.T) {
	ts, a := pageServer(t, generous)
	s := a.Service
	pngFile, pdfFile := samplePNG(t), samplePDF
	// The declared type is ignored: the PDF is sent as an image.
	r := report(t, ts, validForm("funds", formFile{"路面照片.png", "image/png", pngFile}, formFile{`C:\账目\账目.pdf`, "image/jpeg", pdfFile}), nil)
	code, secret := receiptOf(t, r)
	if r.Header.Get("Cache-Control") != "no-store" || !strings.Contains(r.Raw, "密码只显示这一次") ||
		!strings.Contains(r.Raw, `href="/r/track/`+code+`"`) || !strings.Contains(r.Raw, "收到2个附件") {
		t.Errorf("receipt: %v %s", r.Header, r.Raw)
	}
	pv, err := s.Track(context.Background(), code)
	if err != nil || pv.Status != StatusReceived {
		t.Fatalf("track %s: %v %+v", code, err, pv)
	}
	id := idOf(t, s, code)
	want := []struct {
		name, typ string
		content   []byte
	}{{"路面照片.png", "image/png", pngFile}, {"账目.pdf", "application/pdf", pdfFile}}
	rows, err := s.Pool.Query(context.Background(), `SELECT seq, name, content_type, size, sha256, content FROM attachments WHERE complaint_id = $1 ORDER BY seq`, id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var seq int
		var name, typ, sum string
		var size int64
		var content []byte
		if err := rows.Scan(&seq, &name, &typ, &size, &sum, &content); err != nil {
			t.Fatal(err)
		}
		w := want[n]
		h := sha256.Sum256(w.content)
		if seq != n+1 || name != w.name || typ != w.typ || size != int64(len(w.content)) || sum != hex.EncodeToString(h[:]) || !bytes.Equal(content, w.content) {
			t.Errorf("attachment %d: %d %q %q %d %s", n, seq, name, typ, size, sum)
		}
		n++
	}
	if rows.Err() != nil || n != 2 {
		t.Fatalf("%d attachments stored: %v", n, rows.Err())
	}
	// The document lists them, without their bytes, with the staff link.
	var doc string
	if err := s.Pool.QueryRow(context.Background(), `SELECT doc::text FROM complaints WHERE id = $1`, id).Scan(&doc); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc, AttachmentURL(id, 2)) || !strings.Contains(doc, `"stored": true`) || len(doc) > 4096 {
		t.Errorf("document: %s", doc)
	}
	if !CheckSecret(hashOf(t, s, id), secret) {
		t.Error("the receipt's secret does not match")
	}
	if got := outboxTypes(t, s); got != "filed" {
		t.Errorf("outbox: %q", got)
	}
}

func hashOf(t testing.TB, s *Service, id string) string {
	var h string
	if err := s.Pool.QueryRow(context.Background(), `SELECT secret_hash FROM complaints WHERE id = $1`, id).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestReportPageRefusals(t *testing.T) {
	ts, a := pageServer(t, generous)
	pngFile := samplePNG(t)
	tests := []struct {
		name   string
		form   form
		status int
		field  string // whose error block holds the message
		want   string
	}{
		{"file too large", validForm("funds", formFile{"big.png", "image/png", padded(pngFile, IntakeMaxFileBytes+1)}),
			422, "attachments", "第1个附件超过5MB的大小限制"},
		{"text file", validForm("funds", formFile{"notes.txt", "image/png", []byte("这不是图片，只是一段文字。")}),
			422, "attachments", "第1个附件格式不支持，只能上传JPG、PNG图片或PDF文件"},
		{"gif disguised as jpeg", validForm("funds", formFile{"photo.jpg", "image/jpeg", sampleGIF(t)}),
			422, "attachments", "第1个附件格式不支持"},
		{"second file wrong", validForm("funds", formFile{"a.jpg", "image/jpeg", sampleJPEG(t)}, formFile{"b.exe", "application/pdf", []byte("MZ\x90\x00")}),
			422, "attachments", "第2个附件格式不支持"},
		{"empty file", validForm("funds", formFile{"empty.png", "image/png", nil}),
			422, "attachments", "第1个附件是空文件"},
		{"too many files", validForm("funds", formFile{"1.png", "image/png", pngFile}, formFile{"2.png", "image/png", pngFile},
			formFile{"3.png", "image/png", pngFile}, formFile{"4.png", "image/png", pngFile}),
			422, "attachments", "最多只能上传3个附件（当前4个）"},
		{"short description", form{fields: [][2]string{{"category", "project"}, {"description", "路没修好"}}},
			422, "description", "问题描述至少需要10个字（当前4个字）"},
		{"long description", form{fields: [][2]string{{"category", "project"}, {"description", strings.Repeat("长", 2001)}}},
			422, "description", "问题描述最多2000个字"},
		{"no category", form{fields: [][2]string{{"description", goodDescription}}},
			422, "category", "请选择举报类别"},
		{"unknown category", form{fields: [][2]string{{"category", "gossip"}, {"description", goodDescription}}},
			422, "category", "请选择举报类别"},
		{"whole form too large", validForm("funds", formFile{"1.png", "image/png", padded(pngFile, IntakeMaxFileBytes)},
			formFile{"2.png", "image/png", padded(pngFile, IntakeMaxFileBytes)}, formFile{"3.png", "image/png", padded(pngFile, IntakeMaxFileBytes)},
			formFile{"4.png", "image/png", padded(pngFile, 200<<10)}),
			413, "attachments", "提交的内容过大"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := report(t, ts, tt.form, nil)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Raw)
			}
			block := errorBlock(r.Raw, tt.field)
			if !strings.Contains(block, tt.want) {
				t.Errorf("the %s error block %q does not say %q", tt.field, block, tt.want)
			}
			// The input is kept, unless the form was refused before it was
			// read (its Content-Length is over the limit): then the page's
			// script puts the text back (TestReportPageBrowserRefusedBeforeUpload).
			for _, kv := range tt.form.fields {
				if tt.status == http.StatusRequestEntityTooLarge {
					break
				}
				if kv[0] == "description" && !strings.Contains(r.Raw, ">"+html.EscapeString(kv[1])+"</textarea>") {
					t.Errorf("the description is not kept")
				}
				if kv[0] == "category" && kv[1] != "gossip" && !strings.Contains(r.Raw, `value="`+kv[1]+`" checked`) {
					t.Errorf("the category is not kept")
				}
			}
			if len(tt.form.files) > 0 && !strings.Contains(r.Raw, "请重新选择文件") {
				t.Error("the page does not ask to choose the files again")
			}
		})
	}
	if n := count(t, a.Service, `SELECT count(*) FROM complaints`) + count(t, a.Service, `SELECT count(*) FROM attachments`); n != 0 {
		t.Errorf("refused submissions stored %d rows", n)
	}
	// A form posted from another site is refused before anything is read.
	r := report(t, ts, validForm("funds"), http.Header{"Sec-Fetch-Site": {"cross-site"}})
	if r.Status != 403 {
		t.Errorf("cross-site post: %d", r.Status)
	}
	// Still fine afterwards.
	receiptOf(t, report(t, ts, validForm("funds"), http.Header{"Sec-Fetch-Site": {"same-origin"}}))
}

// errorBlock is the markup of a field's error messages.
func errorBlock(body, field string) string {
	i := strings.Index(body, `<div id="`+field+`-error">`)
	if i < 0 {
		return ""
	}
	j := strings.Index(body[i:], "</div>")
	return body[i : i+j]
}

func TestReportPageRateLimitAndChallenge(t *testing.T) {
	t.Run("client rate limit", func(t *testing.T) {
		ts, a := pageServer(t, RateLimitConfig{ClientBurst: 1, VillageBurst: 100, FloodThreshold: 100})
		// Corrections do not count: only a valid submission uses the token.
		for range 3 {
			if r := report(t, ts, form{fields: [][2]string{{"category", "service"}, {"description", "太短"}}}, nil); r.Status != 422 {
				t.Fatalf("invalid: %d", r.Status)
			}
		}
		receiptOf(t, report(t, ts, validForm("service"), nil))
		// Refused before the body is read (the upload is not taken): the
		// page's script puts the text back (TestReportPageBrowserRefusedBeforeUpload).
		r := report(t, ts, validForm("service", formFile{"p.png", "image/png", samplePNG(t)}), nil)
		if r.Status != 429 || r.Header.Get("Retry-After") == "" || !regexp.MustCompile(`您提交得太频繁，请稍后再试（约\d+分钟后可再提交）`).MatchString(r.Raw) {
			t.Fatalf("rate limited: %d %v %s", r.Status, r.Header, r.Raw)
		}
		if n := count(t, a.Service, `SELECT count(*) FROM upload_chunks`); n != 0 {
			t.Errorf("%d chunks staged for a refused report", n)
		}
	})
	t.Run("flood challenge", func(t *testing.T) {
		ts, a := pageServer(t, RateLimitConfig{ClientBurst: 100, VillageBurst: 1, FloodThreshold: 100})
		receiptOf(t, report(t, ts, validForm("project"), nil))
		r := report(t, ts, validForm("project", formFile{"p.png", "image/png", samplePNG(t)}), nil)
		m := regexp.MustCompile(`<div id="pow" hidden data-token="([^"]+)" data-seed="([0-9a-f]+)" data-difficulty="8">`).FindStringSubmatch(r.Raw)
		if r.Status != 428 || m == nil || !strings.Contains(r.Raw, "请完成页面上的自动验证") || !strings.Contains(r.Raw, "<noscript>") {
			t.Fatalf("challenge: %d %s", r.Status, r.Raw)
		}
		token, nonce := html.UnescapeString(m[1]), SolvePoW(m[2], 8)
		// As the page's script sends it: in the form and in headers, which
		// the service checks before it reads the upload.
		proof := func(nonce string) http.Header { return http.Header{HeaderChallenge: {token}, HeaderNonce: {nonce}} }
		solved := validForm("project", formFile{"p.png", "image/png", samplePNG(t)})
		solved.fields = append(solved.fields, [2]string{"pow_token", token}, [2]string{"pow_nonce", nonce})
		if r := report(t, ts, solved, nil); r.Status != 428 {
			t.Fatalf("proof in the form only: %d, want a new challenge", r.Status)
		}
		receiptOf(t, report(t, ts, solved, proof(nonce)))
		if r := report(t, ts, solved, proof(nonce)); r.Status != 403 || !strings.Contains(r.Raw, "该验证已使用过") {
			t.Fatalf("reused proof: %d %s", r.Status, r.Raw)
		}
		bad := validForm("project")
		bad.fields = append(bad.fields, [2]string{"pow_token", token}, [2]string{"pow_nonce", "1"})
		if r := report(t, ts, bad, proof("1")); r.Status != 403 || !strings.Contains(r.Raw, "验证计算未完成或结果错误") {
			t.Fatalf("wrong nonce: %d", r.Status)
		}
		if n := count(t, a.Service, `SELECT count(*) FROM attachments`); n != 1 {
			t.Errorf("%d attachments", n)
		}
	})
}

// A failure while storing an attachment leaves nothing behind: no
// complaint, no event, no file; the reporter's text is shown again.
func TestReportPageAttachmentsAtomic(t *testing.T) {
	ts, a := pageServer(t, generous)
	ctx := context.Background()
	if _, err := a.Service.Pool.Exec(ctx, `
		CREATE FUNCTION refuse_file() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.name = 'broken.pdf' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse_file BEFORE INSERT ON attachments FOR EACH ROW EXECUTE FUNCTION refuse_file();`); err != nil {
		t.Fatal(err)
	}
	r := report(t, ts, validForm("subsidy", formFile{"ok.png", "image/png", samplePNG(t)}, formFile{"broken.pdf", "application/pdf", samplePDF}), nil)
	if r.Status != 503 || !strings.Contains(r.Raw, "系统暂时无法保存您的举报") || !strings.Contains(r.Raw, ">"+goodDescription+"</textarea>") {
		t.Fatalf("failed store: %d %s", r.Status, r.Raw)
	}
	for _, table := range []string{"complaints", "attachments", "outbox", "upload_chunks"} {
		if n := count(t, a.Service, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%d rows in %s after a failed intake", n, table)
		}
	}
	receiptOf(t, report(t, ts, validForm("subsidy", formFile{"ok.png", "image/png", samplePNG(t)}, formFile{"fine.pdf", "application/pdf", samplePDF}), nil))
	if n := count(t, a.Service, `SELECT count(*) FROM attachments`); n != 2 {
		t.Errorf("%d attachments", n)
	}
}

// Attachments are read by the staff who may see the complaint, nobody else:
// a cadre of the village never reads a complaint about its cadres.
func TestAttachmentAccess(t *testing.T) {
	ts, a := pageServer(t, generous)
	s := a.Service
	pngFile := samplePNG(t)
	villager, villagerID := testinfra.KratosUser(t, "villager", testTown, testVillage)
	secretary, _ := testinfra.KratosUser(t, "secretary", testTown, testVillage)
	liaison, _ := testinfra.KratosUser(t, "liaison-officer", testTown, testVillage)
	discipline, _ := testinfra.KratosUser(t, "town-discipline", testTown, "")
	otherDiscipline, _ := testinfra.KratosUser(t, "town-discipline", "dayan", "")
	otherSecretary, _ := testinfra.KratosUser(t, "secretary", testTown, "330213100202")

	// A signed-in villager files about the cadres, with their identity
	// (opted in), and once more anonymously about funds.
	cadre := validForm("cadre-conduct", formFile{"证据.png", "image/png", pngFile})
	cadre.fields = append(cadre.fields, [2]string{"identified", "1"})
	cadreCode, _ := receiptOf(t, report(t, ts, cadre, http.Header{"Authorization": {"Bearer " + villager}}))
	fundsCode, _ := receiptOf(t, report(t, ts, validForm("funds", formFile{"账目.pdf", "application/pdf", samplePDF}),
		http.Header{"Authorization": {"Bearer " + villager}}))
	cadreID, fundsID := idOf(t, s, cadreCode), idOf(t, s, fundsCode)
	var reporters []string
	rows, _ := s.Pool.Query(context.Background(), `SELECT coalesce(reporter_id, '-') FROM complaints ORDER BY filed_at, tracking_code`)
	for rows.Next() {
		var r string
		_ = rows.Scan(&r)
		reporters = append(reporters, r)
	}
	if count(t, s, `SELECT count(*) FROM complaints WHERE id = $1 AND reporter_id = $2`, cadreID, villagerID.ID) != 1 ||
		count(t, s, `SELECT count(*) FROM complaints WHERE id = $1 AND reporter_id IS NULL`, fundsID) != 1 {
		t.Fatalf("reporters: %v (only the opted-in complaint names its reporter)", reporters)
	}

	get := func(token, id string, n int) httpapitest.Response {
		return client(ts).Call(t, "GET", fmt.Sprintf("/v1/complaints/%s/attachments/%d", id, n), token, "", "")
	}
	tests := []struct {
		name   string
		token  string
		id     string
		n      int
		status int
	}{
		{"discipline reads the cadre complaint's file", discipline, cadreID, 1, 200},
		{"the liaison officer reads it", liaison, cadreID, 1, 200},
		{"the village secretary does not", secretary, cadreID, 1, 404},
		{"another town's discipline office does not", otherDiscipline, cadreID, 1, 404},
		{"the villager is not staff", villager, cadreID, 1, 403},
		{"anonymous", "", cadreID, 1, 401},
		{"no such attachment", discipline, cadreID, 2, 404},
		{"attachment zero", discipline, cadreID, 0, 404},
		{"not a number", discipline, cadreID, -1, 404},
		{"not a complaint id", discipline, "nope", 1, 404},
		{"the secretary reads the funds complaint's file", secretary, fundsID, 1, 200},
		{"another village's secretary does not", otherSecretary, fundsID, 1, 404},
	}
	reads := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(tt.token, tt.id, tt.n)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Raw)
			}
			if tt.status != 200 {
				if strings.Contains(r.Raw, "PNG") || strings.Contains(r.Raw, "%PDF") {
					t.Error("a refusal carries the file")
				}
				return
			}
			reads++
			want, typ := pngFile, "image/png"
			if tt.id == fundsID {
				want, typ = samplePDF, "application/pdf"
			}
			if r.Raw != string(want) || r.Header.Get("Content-Type") != typ || r.Header.Get("X-Content-Type-Options") != "nosniff" ||
				!strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment;") || r.Header.Get("Cache-Control") != "private, no-store" {
				t.Errorf("file: %v (%d bytes)", r.Header, len(r.Raw))
			}
		})
	}
	if n := count(t, s, `SELECT count(*) FROM attachment_reads`); n != reads || reads != 3 {
		t.Errorf("%d audited reads, %d reads", n, reads)
	}
	if n := count(t, s, `SELECT count(*) FROM attachment_reads WHERE complaint_id = $1 AND actor_role = 'secretary'`, cadreID); n != 0 {
		t.Error("a refused read was audited as a read")
	}
	// The staff view lists the files with their link, never their bytes.
	r := client(ts).Call(t, "GET", "/v1/complaints/"+cadreID, discipline, "", "")
	if r.Status != 200 || !strings.Contains(r.Raw, AttachmentURL(cadreID, 1)) || strings.Contains(r.Raw, `"content"`) {
		t.Errorf("staff view: %s", r.Raw)
	}
}

func TestTrackPages(t *testing.T) {
	ts, a := pageServer(t, generous)
	ctx := context.Background()
	code, secret := receiptOf(t, report(t, ts, validForm("service"), nil))

	if r := getPage(t, ts, "/r/track", nil); r.Status != 200 || !strings.Contains(r.Raw, `<label for="code">查询码</label>`) {
		t.Errorf("track form: %d %s", r.Status, r.Raw)
	}
	if r := getPage(t, ts, "/r/track?code=abc", nil); r.Status != 422 || !strings.Contains(errorBlock(r.Raw, "code"), "查询码格式应为") {
		t.Errorf("bad code: %d %s", r.Status, r.Raw)
	}
	if r := getPage(t, ts, "/r/track?code="+url.QueryEscape(" "+strings.ToLower(code)), nil); r.Status != 303 || r.Header.Get("Location") != "/r/track/"+code {
		t.Errorf("redirect: %d %v", r.Status, r.Header)
	}
	if r := getPage(t, ts, "/r/track/TS-2222-2222", nil); r.Status != 404 || !strings.Contains(r.Raw, "没有找到这个查询码") {
		t.Errorf("unknown code: %d", r.Status)
	}
	r := getPage(t, ts, "/r/track/"+code, nil)
	if r.Status != 200 || !strings.Contains(r.Raw, "已收到，等待受理") || strings.Contains(r.Raw, goodDescription) || strings.Contains(r.Raw, "评价办理结果") {
		t.Fatalf("status page: %d %s", r.Status, r.Raw)
	}

	// Staff resolve it, with a public and an internal note.
	liaison := Actor{ID: "liaison-1", Role: RoleLiaisonOfficer, Town: testTown, Village: testVillage}
	id := idOf(t, a.Service, code)
	for _, act := range []Action{{Type: ActionAccept}, {Type: ActionInvestigate}} {
		if _, err := a.Service.Act(ctx, liaison, id, act); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Service.AddNote(ctx, liaison, id, "已到现场核实路灯损坏情况", true); err != nil {
		t.Fatal(err)
	}
	if err := a.Service.AddNote(ctx, liaison, id, "内部：电工张某电话", false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Service.Act(ctx, liaison, id, Action{Type: ActionResolve, Reason: "路灯已修复", Outcome: OutcomeSubstantiated}); err != nil {
		t.Fatal(err)
	}
	r = getPage(t, ts, "/r/track/"+code, nil)
	if !strings.Contains(r.Raw, "已到现场核实路灯损坏情况") || strings.Contains(r.Raw, "内部") || !strings.Contains(r.Raw, "评价办理结果") {
		t.Fatalf("resolved status page: %s", r.Raw)
	}

	feedback := func(v url.Values) httpapitest.Response {
		return postPage(t, ts, "/r/track/"+code, nil, "application/x-www-form-urlencoded", []byte(v.Encode()))
	}
	tests := []struct {
		name   string
		form   url.Values
		status int
		field  string
		want   string
	}{
		{"nothing chosen", url.Values{"secret": {secret}}, 422, "satisfied", "请选择满意或不满意"},
		{"no secret", url.Values{"satisfied": {"yes"}}, 422, "secret", "请填写提交举报时显示的密码"},
		{"wrong secret", url.Values{"satisfied": {"yes"}, "secret": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}, 422, "secret", "查询码或密码不正确"},
	}
	for _, tt := range tests {
		if r := feedback(tt.form); r.Status != tt.status || !strings.Contains(errorBlock(r.Raw, tt.field), tt.want) {
			t.Errorf("%s: %d %s", tt.name, r.Status, r.Raw)
		}
	}
	r = feedback(url.Values{"satisfied": {"yes"}, "secret": {strings.ToLower(secret)}, "comment": {"修得很快"}})
	if r.Status != 200 || !strings.Contains(r.Raw, "感谢您的评价") || !strings.Contains(r.Raw, `id="status">已办结<`) || strings.Contains(r.Raw, "评价办理结果") {
		t.Fatalf("feedback: %d %s", r.Status, r.Raw)
	}
	if r := postPage(t, ts, "/r/track/"+code, http.Header{"Sec-Fetch-Site": {"cross-site"}}, "application/x-www-form-urlencoded",
		[]byte(url.Values{"satisfied": {"no"}, "secret": {secret}}.Encode())); r.Status != 403 {
		t.Errorf("cross-site feedback: %d", r.Status)
	}
}
