package media

import (
	"bytes"
	"compress/zlib"
	"errors"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/wuxiao/wuxiao/services/internal/media/mediatest"
)

func zlibOf(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	if _, err := w.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return z.Bytes()
}

func leaks(t *testing.T, b []byte) {
	t.Helper()
	for _, c := range mediatest.Canaries {
		if bytes.Contains(b, []byte(c)) {
			t.Errorf("cleaned file still holds %q", c)
		}
	}
	if mediatest.HasGPS(b) {
		t.Error("cleaned file still holds GPS data")
	}
}

func decodes(t *testing.T, b []byte, w, h int) {
	t.Helper()
	img, format, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("cleaned image does not decode: %v", err)
	}
	if img.Bounds().Dx() != w || img.Bounds().Dy() != h {
		t.Errorf("%s decodes as %v, want %dx%d", format, img.Bounds(), w, h)
	}
}

var reXref = regexp.MustCompile(`(\d{10}) 00000 n`)

// pdfIntact checks that every xref offset still points at its object.
func pdfIntact(t *testing.T, in, out []byte) {
	t.Helper()
	if len(in) != len(out) {
		t.Fatalf("cleaned PDF has %d bytes, the original %d: offsets moved", len(out), len(in))
	}
	for i, m := range reXref.FindAllSubmatch(out, -1) {
		off, _ := strconv.Atoi(string(m[1]))
		if want := strconv.Itoa(i+1) + " 0 obj"; !bytes.HasPrefix(out[off:], []byte(want)) {
			t.Errorf("xref entry %d points at %.12q, want %q", i+1, out[off:], want)
		}
	}
}

func TestClean(t *testing.T) {
	photo, shot := mediatest.JPEG(64, 48), mediatest.PNG(40, 30)
	plainPDF, flatePDF := mediatest.PDF(nil), mediatest.PDF(zlibOf(t, mediatest.XMPPacket()))
	for _, tc := range []struct {
		name  string
		in    []byte
		check func(t *testing.T, out []byte)
	}{
		{"JPEG photo with GPS", photo, func(t *testing.T, out []byte) {
			leaks(t, out)
			decodes(t, out, 64, 48)
			if !bytes.Contains(out, orientationSegment(6)) {
				t.Error("the orientation (6) was not kept")
			}
			if len(out) >= len(photo) {
				t.Errorf("%d bytes, not fewer than %d", len(out), len(photo))
			}
		}},
		{"PNG with text and eXIf", shot, func(t *testing.T, out []byte) {
			leaks(t, out)
			decodes(t, out, 40, 30)
			for _, c := range []string{"tEXt", "iTXt", "eXIf", "tIME", "prVt"} {
				if bytes.Contains(out, []byte(c)) {
					t.Errorf("chunk %s kept", c)
				}
			}
		}},
		{"PDF with Info and XMP", plainPDF, func(t *testing.T, out []byte) {
			leaks(t, out)
			pdfIntact(t, plainPDF, out)
			if !bytes.Contains(out, []byte("/Info 6 0 R")) || !bytes.Contains(out, []byte("(hello)")) {
				t.Error("the document itself changed")
			}
		}},
		{"PDF with flate-encoded XMP", flatePDF, func(t *testing.T, out []byte) {
			leaks(t, out)
			pdfIntact(t, flatePDF, out)
			objs, _ := scanPDF(out)
			for _, o := range objs {
				if o.num == "5" {
					r, err := zlib.NewReader(bytes.NewReader(out[o.dataStart:o.dataEnd]))
					if err != nil {
						t.Fatal(err)
					}
					x, err := io.ReadAll(r)
					if err != nil || !bytes.HasPrefix(x, []byte(emptyXMP)) || bytes.Contains(x, []byte(mediatest.XMPNote)) {
						t.Errorf("metadata stream inflates to %q, %v", x, err)
					}
				}
			}
		}},
		{"PDF with Info in an object stream", mediatest.PDFObjectStream(), func(t *testing.T, out []byte) {
			leaks(t, out)
			pdfIntact(t, mediatest.PDFObjectStream(), out)
			text, err := mediatest.ObjectStreamText(out)
			if err != nil {
				t.Fatalf("the object stream does not inflate: %v", err)
			}
			if !strings.Contains(text, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>") || !strings.HasPrefix(text, "6 0 7 ") ||
				strings.Contains(text, "Author") || strings.Contains(text, "FEFF") {
				t.Errorf("object stream after cleaning: %q", text)
			}
		}},
		{"other files unchanged", []byte("PK\x03\x04 a docx"), func(t *testing.T, out []byte) {
			if string(out) != "PK\x03\x04 a docx" {
				t.Errorf("changed: %q", out)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Clean(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, out)
			// The stream gives the same, however the input is read.
			r := NewReader(iotest.OneByteReader(bytes.NewReader(tc.in)), 1<<20)
			streamed, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(streamed, out) {
				t.Errorf("NewReader: %d bytes, %v; Clean: %d bytes", len(streamed), err, len(out))
			}
			// Into a reused buffer (its old bytes in the way): the same,
			// in that buffer's memory for a picture.
			dst := bytes.Repeat([]byte{0xFF}, len(tc.in)+64)
			into, err := CleanInto(dst, tc.in)
			if err != nil || !bytes.Equal(into, out) {
				t.Errorf("CleanInto: %d bytes, %v; Clean: %d bytes", len(into), err, len(out))
			}
			if k := Sniff(tc.in); (k == JPEG || k == PNG) && &into[0] != &dst[0] {
				t.Error("CleanInto did not write into the buffer it was given")
			}
			// Cleaning is idempotent.
			again, err := Clean(out)
			if err != nil || !bytes.Equal(again, out) {
				t.Errorf("cleaning the cleaned file changed it (%v)", err)
			}
		})
	}
}

func TestCleanRefuses(t *testing.T) {
	photo := mediatest.JPEG(16, 16)
	pdf := mediatest.PDF(nil)
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"truncated JPEG", photo[:len(photo)/3]},
		{"JPEG segment length below 2", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x01, 0, 0}},
		{"garbage after SOI", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0x12, 0x34}},
		{"truncated PNG", mediatest.PNG(8, 8)[:60]},
		{"PNG without IHDR first", append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x00IEND"), 0, 0, 0, 0)},
		{"PDF info nowhere to be found", bytes.Replace(pdf, []byte("/Info 6 0 R"), []byte("/Info 9 0 R"), 1)},
		{"PDF info in an object stream of another filter", bytes.Replace(mediatest.PDFObjectStream(), []byte("/Filter /FlateDecode"), []byte("/Filter /LZWDecode  "), 1)},
		{"encrypted PDF", bytes.Replace(pdf, []byte("/Info 6 0 R"), []byte("/Encrypt 6 0 R"), 1)},
		{"PDF XMP in another filter", bytes.Replace(pdf, []byte("/Subtype /XML"), []byte("/Filter /LZWDecode"), 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Clean(tc.in)
			var me *Error
			if !errors.As(err, &me) || !errors.Is(err, ErrUnclean) {
				t.Fatalf("Clean = %d bytes, %v; want an *Error", len(out), err)
			}
			r := NewReader(bytes.NewReader(tc.in), 1<<20)
			_, err = io.ReadAll(r)
			r.Close()
			if !errors.Is(err, ErrUnclean) {
				t.Errorf("NewReader: %v, want ErrUnclean", err)
			}
		})
	}
}

// A PDF over the reader's buffer passes unchanged (the caller refuses it).
func TestReaderPassesOversizePDF(t *testing.T) {
	pdf := mediatest.PDF(nil)
	r := NewReader(bytes.NewReader(pdf), int64(len(pdf)-1))
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(out, pdf) {
		t.Errorf("%d bytes, %v", len(out), err)
	}
}

func FuzzClean(f *testing.F) {
	f.Add(mediatest.JPEG(8, 8))
	f.Add(mediatest.PNG(8, 8))
	f.Add(mediatest.PDF(nil))
	f.Add(mediatest.PDF(zlibOf(f, mediatest.XMPPacket())))
	f.Add(mediatest.PDFObjectStream())
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xDA, 0, 2, 0xFF, 0x00, 0xFF, 0xD0, 0xFF, 0xD9})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<20 {
			return
		}
		out, err := Clean(in)
		if err != nil {
			if !errors.Is(err, ErrUnclean) {
				t.Fatalf("error not an *Error: %v", err)
			}
			return
		}
		switch Sniff(in) {
		case JPEG, PNG:
			if len(out) > len(in)+len(orientationSegment(1)) {
				t.Fatalf("cleaning grew the file from %d to %d bytes", len(in), len(out))
			}
			again, err := Clean(out)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("not idempotent: %v", err)
			}
		case PDF:
			if len(out) != len(in) {
				t.Fatalf("PDF length changed from %d to %d", len(in), len(out))
			}
		default:
			if !bytes.Equal(out, in) {
				t.Fatal("another type changed")
			}
		}
	})
}
