package inspection

import (
	"bytes"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ledongthuc/pdf"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// noticeFont loads the font hack/fonts.sh installs (WUXIAO_NOTICE_FONT when
// hack/test.sh has run it).
func noticeFont(t testing.TB) *NoticeFont {
	t.Helper()
	path := os.Getenv("WUXIAO_NOTICE_FONT")
	if path == "" {
		out, err := exec.Command(filepath.Join(testinfra.RepoRoot(), "hack", "fonts.sh")).Output()
		if err != nil {
			t.Fatalf("hack/fonts.sh: %v", err)
		}
		path = strings.TrimSpace(string(out))
	}
	f, err := LoadNoticeFont(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// pdfText parses a PDF and returns its page count and text.
func pdfText(t *testing.T, doc []byte) (int, string) {
	t.Helper()
	if !bytes.HasPrefix(doc, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %.20q", doc)
	}
	r, err := pdf.NewReader(bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		t.Fatalf("parsing the PDF: %v", err)
	}
	var text strings.Builder
	for i := 1; i <= r.NumPage(); i++ {
		p := r.Page(i)
		s, err := p.GetPlainText(nil)
		if err != nil {
			t.Fatalf("text of page %d: %v", i, err)
		}
		text.WriteString(s)
	}
	return r.NumPage(), text.String()
}

func TestLoadNoticeFont(t *testing.T) {
	noticeFont(t)
	for _, tc := range []struct{ path, want string }{
		{"/nonexistent/font.ttf", "hack/fonts.sh"},
		{"/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", "CFF"},
		{"/etc/hostname", "not"},
	} {
		if _, err := os.Stat(tc.path); err != nil && tc.want != "hack/fonts.sh" {
			continue // that font is not on this machine
		}
		if _, err := LoadNoticeFont(tc.path, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tc.path, err, tc.want)
		}
	}
	if _, err := LoadNoticeFont(DefaultNoticeFontPath, 9); err == nil || !strings.Contains(err.Error(), "face 9") {
		t.Errorf("face 9: %v", err)
	}
}

func TestNoticePDF(t *testing.T) {
	font := noticeFont(t)
	// A notice with many reasons runs onto a second page.
	ch, r := fall(t, nil, toC)
	n, err := IssueNotice(DefaultNoticeConfig(), &Counter{}, ch, r, yantou, day(6, 3))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := n.PDF(font)
	if err != nil {
		t.Fatal(err)
	}
	pages, text := pdfText(t, doc)
	if pages != 1 {
		t.Errorf("%d pages, want 1", pages)
	}
	flat := strings.Join(strings.Fields(text), "")
	for _, want := range []string{"预警通知书", "奉纪预〔2026〕1号", "致：岩头村党组织、村民委员会", "由A档降为C档", "工程款收款人为村干部近亲属", "二〇二六年六月三日", "溪口镇纪委"} {
		if !strings.Contains(flat, want) {
			t.Errorf("the PDF's text lacks %q:\n%s", want, flat)
		}
	}
	if !bytes.Contains(doc, []byte("/FontFile2")) {
		t.Error("the font is not embedded")
	}
	if len(doc) > 400<<10 {
		t.Errorf("PDF of %d KiB: the font should be subset", len(doc)>>10)
	}
	long := *n
	for range 30 {
		long.Reasons = append(long.Reasons, n.Reasons...)
	}
	doc, err = long.PDF(font)
	if err != nil {
		t.Fatal(err)
	}
	if pages, _ := pdfText(t, doc); pages < 3 {
		t.Errorf("a notice of %d reasons on %d pages", len(long.Reasons), pages)
	}
}

func TestNoticePDFAPI(t *testing.T) {
	ts, s, u := integrityAPI(t)
	path := "/v1/notices/" + url.PathEscape("奉纪预〔2026〕1号") + "/pdf"
	if r := get(t, ts, path, u.disc); r.status != 503 || !strings.Contains(r.raw, "notice-font") {
		t.Fatalf("without a font: %d %s", r.status, r.raw)
	}
	s.Integrity.NoticeFont = noticeFont(t)
	secB := ""
	secB, _ = testinfra.KratosUser(t, "secretary", svcTown, svcVillage2)
	cases := []struct {
		name, token string
		status      int
	}{
		{"discipline", u.disc, 200},
		{"district", u.district, 200},
		{"addressed village", u.cadre, 200},
		{"other village", secB, 404},
		{"villager", u.villager, 404},
		{"town official", u.official, 404},
		{"other town's discipline", u.otherDisc, 404},
		{"no session", "", 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, ts, path, tc.token)
			if r.status != tc.status {
				t.Fatalf("got %d %.300s, want %d", r.status, r.raw, tc.status)
			}
			if r.status == 200 {
				if r.contentType != "application/pdf" {
					t.Fatalf("content type %s", r.contentType)
				}
				pages, text := pdfText(t, []byte(r.raw))
				if pages != 1 || !strings.Contains(strings.Join(strings.Fields(text), ""), "岩头村") {
					t.Fatalf("%d pages: %s", pages, text)
				}
			}
		})
	}
	if r := get(t, ts, "/v1/notices/"+url.PathEscape("奉纪预〔2026〕9号")+"/pdf", u.disc); r.status != 404 {
		t.Fatalf("no such notice: %d", r.status)
	}
}
