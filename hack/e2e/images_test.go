//go:build e2e

package e2e

import (
	"bytes"
	"compress/zlib"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/ledongthuc/pdf"
)

// The services' images carry what the code needs at run time
// (hack/images/runtime.go); the visible proof is the inspection service's
// PDF notice, which needs the CJK font the image's font layer brings: a pod
// built from the binary alone answers 503.

// fontFileRe finds an embedded TrueType font program (/FontFile2) and its
// stream.
var fontFileRe = regexp.MustCompile(`(?s)/FontFile2\s+(\d+)\s+0\s+R`)

// noticePDFRenders fetches a notice's PDF from the pod (u is its
// /v1/notices/{number}/pdf) and checks that it is a PDF with a TrueType
// font embedded whose text reads back as want (each on one line of the
// notice: its title, its number).
func noticePDFRenders(t *testing.T, u, token string, want ...string) {
	t.Helper()
	code, h, doc := do(t, http.MethodGet, u, token, nil)
	if code != http.StatusOK {
		t.Fatalf("notice PDF: status %d (503: the image has no notice font): %s", code, doc)
	}
	if ct := h.Get("Content-Type"); ct != "application/pdf" || !bytes.HasPrefix(doc, []byte("%PDF-")) {
		t.Fatalf("notice PDF: Content-Type %q, starts %.8q", ct, doc)
	}
	m := fontFileRe.FindSubmatch(doc)
	if m == nil {
		t.Fatalf("notice PDF (%d bytes): no embedded TrueType font (/FontFile2)", len(doc))
	}
	font := pdfObjectStream(t, doc, string(m[1]))
	if !bytes.HasPrefix(font, []byte{0, 1, 0, 0}) || !bytes.Contains(font[:min(len(font), 512)], []byte("glyf")) {
		t.Errorf("notice PDF: the embedded font is not a TrueType font with outlines (starts %.16q)", font)
	}
	r, err := pdf.NewReader(bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		t.Fatalf("notice PDF: %v", err)
	}
	var text strings.Builder
	for i := 1; i <= r.NumPage(); i++ {
		s, err := r.Page(i).GetPlainText(nil)
		if err != nil {
			t.Fatalf("notice PDF page %d: %v", i, err)
		}
		text.WriteString(s)
	}
	for _, w := range want {
		if !strings.Contains(text.String(), w) {
			t.Errorf("notice PDF: text lacks %q: %q", w, text.String())
		}
	}
	t.Logf("notice PDF: %d bytes, %d page(s), embedded font %d bytes, text %d characters", len(doc), r.NumPage(), len(font), len([]rune(text.String())))
}

// pdfObjectStream returns object num's stream, inflated (gopdf compresses
// with FlateDecode).
func pdfObjectStream(t *testing.T, doc []byte, num string) []byte {
	t.Helper()
	re := regexp.MustCompile(`(?s)(?:^|\s)` + num + `\s+0\s+obj.*?stream\r?\n`)
	loc := re.FindIndex(doc)
	if loc == nil {
		t.Fatalf("notice PDF: object %s has no stream", num)
	}
	body := doc[loc[1]:]
	if i := bytes.Index(body, []byte("endstream")); i >= 0 {
		body = body[:i]
	}
	zr, err := zlib.NewReader(bytes.NewReader(body))
	if err != nil {
		return body // not compressed
	}
	out, err := io.ReadAll(zr)
	if err != nil && !bytes.HasPrefix(out, []byte{0, 1, 0, 0}) {
		t.Fatalf("notice PDF: object %s: %v", num, err)
	}
	return out
}
