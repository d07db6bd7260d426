package workflow

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"mime/multipart"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/media/mediatest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// fileAPI runs the workflow API on the real PostgreSQL and Kratos with the
// production default body limit for every other route (64 KiB here), so
// that the upload route's own limit is what lets files through.
func fileAPI(t *testing.T) (*httptest.Server, *Service) {
	t.Helper()
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(t, testinfra.Postgres(t), clk)
	return httpapitest.ServeAPI(t, httpapitest.APIBase(town), s.Routes), s
}

// upload posts one file as a browser form would.
func upload(t *testing.T, ts *httptest.Server, id, token, step, kind, name string, data []byte) response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("stepId", step)
	if kind != "" {
		_ = mw.WriteField("kind", kind)
	}
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(data)
	_ = mw.Close()
	return call(t, ts, "POST", "/v1/instances/"+id+"/evidence/files", token, mw.FormDataContentType(), body.String())
}

func download(t *testing.T, ts *httptest.Server, path, token string) (response, []byte) {
	t.Helper()
	r := httpapitest.Client{URL: ts.URL}.Get(t, path, token)
	return r, []byte(r.Raw)
}

func samplePDF() []byte {
	return []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
}

func sampleOOXML(t *testing.T, part string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, name := range []string{"[Content_Types].xml", part} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(`<?xml version="1.0"?><x/>`))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSniffEvidenceType(t *testing.T) {
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0}, make([]byte, 64)...)
	png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 64)...)
	ole := append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, make([]byte, 64)...)
	cases := []struct {
		name string
		data []byte
		want string // "" = refused
	}{
		{"发票.pdf", samplePDF(), "application/pdf"},
		{"photo.jpg", jpeg, "image/jpeg"},
		{"posting.png", png, "image/png"},
		{"会议纪要.docx", sampleOOXML(t, "word/document.xml"), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"清单.xlsx", sampleOOXML(t, "xl/workbook.xml"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{"slides.pptx", sampleOOXML(t, "ppt/presentation.xml"), "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
		{"old.doc", ole, "application/msword"},
		{"old.xls", ole, "application/vnd.ms-excel"},
		// The name does not make a file what it is not.
		{"fake.pdf", []byte("<html><script>alert(1)</script></html>"), ""},
		{"notes.txt", []byte("plain text"), ""},
		{"archive.zip", sampleOOXML(t, "readme.txt"), ""},
		{"mystery.bin", ole, ""},
		{"page.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, looks := SniffEvidenceType(tc.data, tc.name)
			if tc.want == "" {
				if ok {
					t.Fatalf("accepted as %s", got)
				}
				if looks == "" {
					t.Fatal("a refusal must say what the file looks like")
				}
				return
			}
			if !ok || got != tc.want {
				t.Fatalf("got %q (%v), want %q", got, ok, tc.want)
			}
		})
	}
}

func TestEvidenceFilesUploadDownloadAndAudit(t *testing.T) {
	ts, s := fileAPI(t)
	member, _ := testinfra.KratosUser(t, "committee-member", town, village)
	chair, _ := testinfra.KratosUser(t, "supervision-chair", town, village)
	otherVillage, _ := testinfra.KratosUser(t, "committee-member", town, "330213100202")
	otherTown, _ := testinfra.KratosUser(t, "town-finance", "jinping", "")
	villager, _ := testinfra.KratosUser(t, "villager", town, village)
	townFinance, _ := testinfra.KratosUser(t, "town-finance", town, "")

	started := jsonCall(t, ts, "POST", "/v1/villages/"+village+"/instances", member,
		StartRequest{ItemID: "funds-expenditure", Title: "购买办公用品", AmountFen: 86_000, PayeeName: "溪口文具店"})
	if started.Status != 201 {
		t.Fatalf("start: %d %s", started.Status, started.Raw)
	}
	id := started.Body["id"].(string)

	pdf := samplePDF()
	up := upload(t, ts, id, member, "apply", "voucher", "发票 2026-03.pdf", pdf)
	if up.Status != 201 {
		t.Fatalf("upload: %d %s", up.Status, up.Raw)
	}
	sum := sha256.Sum256(pdf)
	if up.Body["sha256"] != hex.EncodeToString(sum[:]) || up.Body["contentType"] != "application/pdf" ||
		up.Body["size"].(float64) != float64(len(pdf)) || up.Body["name"] != "发票 2026-03.pdf" || up.Body["kind"] != "voucher" {
		t.Fatalf("upload answer: %s", up.Raw)
	}
	fileURL := up.Body["url"].(string)

	// A 5 MiB photo passes although every other route takes at most 64 KiB.
	// (A real JPEG with 5 MiB after its end, which is not stored.)
	photo := append(mediatest.JPEG(64, 48), bytes.Repeat([]byte{7}, 5<<20)...)
	if r := upload(t, ts, id, member, "apply", "", "现场照片.jpg", photo); r.Status != 201 || r.Body["contentType"] != "image/jpeg" || r.Body["kind"] != EvidenceFileKind {
		t.Fatalf("5 MiB photo: %d %.300s", r.Status, r.Raw)
	}

	refusals := []struct {
		name   string
		token  string
		step   string
		file   string
		data   []byte
		status int
		typ    string
	}{
		{"not an accepted type", member, "apply", "note.pdf", []byte("just text pretending to be a PDF"), 415, "workflow/unsupported-file-type"},
		{"too large", member, "apply", "big.pdf", append(samplePDF(), make([]byte, MaxEvidenceFileBytes)...), 413, "workflow/file-too-large"},
		{"empty", member, "apply", "empty.pdf", nil, 422, "validation"},
		{"unknown step", member, "no-such-step", "x.pdf", pdf, 400, "workflow/unknown-step"},
		{"no step", member, "", "x.pdf", pdf, 422, "validation"},
		{"other village", otherVillage, "apply", "x.pdf", pdf, 404, "not-found"},
		{"other town", otherTown, "apply", "x.pdf", pdf, 404, "not-found"},
		{"villager", villager, "apply", "x.pdf", pdf, 404, "not-found"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			r := upload(t, ts, id, tc.token, tc.step, "", tc.file, tc.data)
			if r.Status != tc.status || !strings.HasSuffix(r.Body["type"].(string), "/"+tc.typ) {
				t.Fatalf("got %d %.400s, want %d %s", r.Status, r.Raw, tc.status, tc.typ)
			}
			if tc.typ == "workflow/unsupported-file-type" && !strings.Contains(r.Body["detail"].(string), "PDF, JPEG, PNG") {
				t.Fatalf("the refusal does not name what is allowed: %s", r.Raw)
			}
		})
	}
	if r := call(t, ts, "POST", "/v1/instances/"+id+"/evidence/files", member, "application/json", `{"stepId":"apply"}`); r.Status != 415 {
		t.Fatalf("JSON instead of a form: %d %s", r.Status, r.Raw)
	}

	// Readers of the instance download it, as an attachment that a browser
	// never renders; nobody else learns it exists.
	for _, reader := range []struct {
		name, token string
	}{{"member", member}, {"supervision chair", chair}, {"town finance", townFinance}} {
		res, body := download(t, ts, fileURL, reader.token)
		if res.Status != 200 || !bytes.Equal(body, pdf) {
			t.Fatalf("%s downloads: %d (%d bytes)", reader.name, res.Status, len(body))
		}
		h := res.Header
		if h.Get("Content-Type") != "application/pdf" || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.HasPrefix(h.Get("Content-Disposition"), "attachment;") ||
			!strings.Contains(h.Get("Content-Disposition"), "filename*=UTF-8''%E5%8F%91%E7%A5%A8%202026-03.pdf") {
			t.Fatalf("download headers: %v", h)
		}
	}
	for _, other := range []string{otherVillage, otherTown, villager} {
		if res, _ := download(t, ts, fileURL, other); res.Status != 404 {
			t.Fatalf("a non-reader downloads: %d", res.Status)
		}
	}
	if res, _ := download(t, ts, "/v1/instances/"+id+"/evidence/files/"+"00000000-0000-0000-0000-000000000000", member); res.Status != 404 {
		t.Fatalf("an unknown file: %d", res.Status)
	}

	// The instance lists the files as evidence of the step: the control
	// requiring vouchers is satisfied and raises nothing.
	got := call(t, ts, "GET", "/v1/instances/"+id, member, "", "")
	ev, _ := got.Body["evidence"].([]any)
	if len(ev) != 2 || ev[0].(map[string]any)["url"] != fileURL || ev[0].(map[string]any)["sha256"] != hex.EncodeToString(sum[:]) {
		t.Fatalf("instance evidence: %s", got.Raw)
	}
	done := jsonCall(t, ts, "POST", "/v1/instances/"+id+"/steps/apply/complete", member, CompleteRequest{Note: "附发票"})
	if done.Status != 200 || len(done.Body["warnings"].([]any)) != 0 {
		t.Fatalf("completing apply with a voucher: %d %s", done.Status, done.Raw)
	}

	// Audited like linked evidence, the chain intact, the type recorded.
	entries, check, err := s.Audit(context.Background(), id)
	if err != nil || !check.Valid {
		t.Fatalf("audit: %+v %v", check, err)
	}
	var added []map[string]any
	for _, e := range entries {
		if e.Action == "evidence.added" {
			var d map[string]any
			_ = json.Unmarshal([]byte(e.Data), &d)
			added = append(added, d)
		}
	}
	if len(added) != 2 || added[0]["contentType"] != "application/pdf" || added[0]["sha256"] != hex.EncodeToString(sum[:]) || added[0]["url"] != fileURL {
		t.Fatalf("audit entries of the uploads: %+v", added)
	}

	// A finished process takes no more files.
	if r := jsonCall(t, ts, "POST", "/v1/instances/"+id+"/withdraw", member, map[string]string{"reason": "重复申请"}); r.Status != 200 {
		t.Fatalf("withdraw: %d %s", r.Status, r.Raw)
	}
	if r := upload(t, ts, id, member, "apply", "", "late.pdf", pdf); r.Status != 409 {
		t.Fatalf("upload after withdrawal: %d %s", r.Status, r.Raw)
	}
}

// Evidence photos and PDFs lose their metadata before they are stored:
// uploaded through the real route into PostgreSQL and downloaded by a
// reader of the process, a phone photo has no GPS position, camera serial
// or owner any more and still decodes; a PDF's author and XMP are gone
// with its layout intact; the size and hash recorded (and audited) are
// the stored bytes'. A PDF that cannot be cleaned is refused.
func TestEvidenceFilesLoseMetadata(t *testing.T) {
	ts, s := fileAPI(t)
	member, _ := testinfra.KratosUser(t, "committee-member", town, village)
	chair, _ := testinfra.KratosUser(t, "supervision-chair", town, village)
	started := jsonCall(t, ts, "POST", "/v1/villages/"+village+"/instances", member,
		StartRequest{ItemID: "funds-expenditure", Title: "修缮村道", AmountFen: 86_000, PayeeName: "溪口建材店"})
	if started.Status != 201 {
		t.Fatalf("start: %d %s", started.Status, started.Raw)
	}
	id := started.Body["id"].(string)
	photo, shot, pdf := mediatest.JPEG(320, 240), mediatest.PNG(120, 80), mediatest.PDF(nil)
	for _, tc := range []struct {
		name, file string
		data       []byte
		w, h       int
	}{
		{"phone photo with GPS", "现场.jpg", photo, 320, 240},
		{"screenshot with text chunks", "截图.png", shot, 120, 80},
		{"PDF with author and XMP", "会议记录.pdf", pdf, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := upload(t, ts, id, member, "apply", "", tc.file, tc.data)
			if up.Status != 201 {
				t.Fatalf("upload: %d %s", up.Status, up.Raw)
			}
			res, got := download(t, ts, up.Body["url"].(string), chair)
			if res.Status != 200 {
				t.Fatalf("download: %d", res.Status)
			}
			if mediatest.HasGPS(got) {
				t.Error("the stored file still holds the GPS position")
			}
			for _, c := range mediatest.Canaries {
				if bytes.Contains(got, []byte(c)) {
					t.Errorf("the stored file still holds %q", c)
				}
			}
			if tc.w > 0 {
				img, _, err := image.Decode(bytes.NewReader(got))
				if err != nil || img.Bounds().Dx() != tc.w || img.Bounds().Dy() != tc.h {
					t.Fatalf("the stored image does not decode as %dx%d: %v", tc.w, tc.h, err)
				}
			} else if len(got) != len(tc.data) || !bytes.Contains(got, []byte("/Root 1 0 R")) {
				t.Errorf("the PDF's structure changed: %d bytes, sent %d", len(got), len(tc.data))
			}
			sum := sha256.Sum256(got)
			if up.Body["sha256"] != hex.EncodeToString(sum[:]) || up.Body["size"].(float64) != float64(len(got)) {
				t.Errorf("recorded %v bytes, %v; stored %d bytes", up.Body["size"], up.Body["sha256"], len(got))
			}
		})
	}
	var n int
	if err := s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM evidence_files e,
		LATERAL (SELECT string_agg(c.data, ''::bytea ORDER BY c.n) AS data FROM file_chunks c WHERE c.file_id = e.id) f
		WHERE instance_id = $1 AND size = length(f.data) AND sha256 = encode(sha256(f.data), 'hex')`, id).Scan(&n); err != nil || n != 3 {
		t.Errorf("%d of 3 files with the size and hash of their bytes (%v)", n, err)
	}
	encrypted := bytes.Replace(pdf, []byte("/Info 6 0 R"), []byte("/Encrypt 6 0 R"), 1)
	r := upload(t, ts, id, member, "apply", "", "加密.pdf", encrypted)
	if r.Status != 422 || !strings.HasSuffix(r.Body["type"].(string), "/workflow/file-metadata") {
		t.Fatalf("encrypted PDF: %d %s", r.Status, r.Raw)
	}
}
