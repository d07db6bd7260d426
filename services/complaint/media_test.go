package complaint

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/media/mediatest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// A reporter's photo taken by a phone carries its GPS position (and the
// phone's serial number, the owner's name) in EXIF: through the report
// page into PostgreSQL and back out to the staff who read the complaint,
// none of it survives, and the picture still decodes. PNG text chunks and
// a PDF's author and XMP go the same way; a file that cannot be cleaned is
// refused and nothing of it is kept.
func TestReportUploadsLoseMetadata(t *testing.T) {
	ts, a := pageServer(t, generous)
	discipline, _ := testinfra.KratosUser(t, "town-discipline", testTown, "")
	photo, shot, pdf := mediatest.JPEG(320, 240), mediatest.PNG(200, 100), mediatest.PDF(nil)
	if !mediatest.HasGPS(photo) || !bytes.Contains(photo, []byte(mediatest.Author)) {
		t.Fatal("the sample photo has no GPS position to lose")
	}
	code, _ := receiptOf(t, report(t, ts, validForm("funds",
		formFile{"现场.jpg", "image/jpeg", photo}, formFile{"截图.png", "image/png", shot}, formFile{"账目.pdf", "application/pdf", pdf}), nil))
	id := idOf(t, a.Service, code)
	for _, tc := range []struct {
		n          int
		typ        string
		w, h       int // images: the size they decode to
		sameLength int // PDF: cleaned in place
	}{
		{1, "image/jpeg", 320, 240, 0},
		{2, "image/png", 200, 100, 0},
		{3, "application/pdf", 0, 0, len(pdf)},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			r := client(ts).Call(t, "GET", fmt.Sprintf("/v1/complaints/%s/attachments/%d", id, tc.n), discipline, "", "")
			if r.Status != 200 || r.Header.Get("Content-Type") != tc.typ {
				t.Fatalf("download: %d %s", r.Status, r.Header.Get("Content-Type"))
			}
			got := []byte(r.Raw)
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
			}
			if tc.typ == "image/jpeg" && bytes.Count(got, []byte("Exif\x00\x00")) != 1 {
				t.Error("want exactly the orientation's EXIF segment")
			}
			if tc.sameLength > 0 && len(got) != tc.sameLength {
				t.Errorf("PDF of %d bytes, sent %d", len(got), tc.sameLength)
			}
		})
	}
	// The size and hash recorded are those of what is stored.
	if n := count(t, a.Service, `SELECT count(*) FROM attachments WHERE complaint_id = $1 AND size = length(content)
		AND sha256 = encode(sha256(content), 'hex')`, id); n != 3 {
		t.Errorf("%d of 3 attachments with the size and hash of their content", n)
	}

	// An encrypted PDF cannot be cleaned: the form says so, nothing is kept.
	encrypted := bytes.Replace(pdf, []byte("/Info 6 0 R"), []byte("/Encrypt 6 0 R"), 1)
	r := report(t, ts, validForm("funds", formFile{"加密.pdf", "application/pdf", encrypted}), nil)
	if r.Status != 422 && r.Status != 400 || !strings.Contains(r.Raw, "无法去除其中的拍摄位置") {
		t.Errorf("encrypted PDF: %d %.300s", r.Status, r.Raw)
	}
	if n := count(t, a.Service, `SELECT count(*) FROM upload_chunks`); n != 0 {
		t.Errorf("%d staged chunks left", n)
	}
	if n := count(t, a.Service, `SELECT count(*) FROM complaints`); n != 1 {
		t.Errorf("%d complaints, want the first only", n)
	}
}
