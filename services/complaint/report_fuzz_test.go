package complaint

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"testing"
)

// reportSeed is a report page submission as a browser sends it.
func reportSeed(files int, fileBytes []byte, extra string) []byte {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.SetBoundary("fuzzboundary")
	_ = w.WriteField("category", "funds")
	_ = w.WriteField("description", "村里修路的钱去向不明，请核查。\r\n第二行")
	_ = w.WriteField("identified", "1")
	_ = w.WriteField("pow_token", "t.s")
	_ = w.WriteField("pow_nonce", "42")
	for i := 0; i < files; i++ {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="attachments"; filename="..\\照片`+string(rune('0'+i))+`.jpg"`)
		h.Set("Content-Type", "image/jpeg")
		p, _ := w.CreatePart(h)
		_, _ = p.Write(fileBytes)
	}
	if extra != "" {
		_ = w.WriteField(extra, extra)
	}
	_ = w.Close()
	return b.Bytes()
}

// FuzzReadReport: the report page's parser (readReport, which streams each
// file into upload_chunks as it reads) never keeps more than the intake
// allows — at most IntakeMaxFiles files of at most IntakeMaxFileBytes
// each, fields of at most formMaxFieldBytes, nothing beyond the body limit
// — refuses malformed input as errFormMalformed or errFormTooLarge, and
// what it staged is exactly what it reports (size, hash, head), so that
// dropping the staged ids leaves nothing behind.
func FuzzReadReport(f *testing.F) {
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0}, bytes.Repeat([]byte{0x55}, 600)...)
	f.Add(reportSeed(1, jpeg, ""), "multipart/form-data; boundary=fuzzboundary", uint32(1<<20))
	f.Add(reportSeed(5, jpeg[:20], "x"), "multipart/form-data; boundary=fuzzboundary", uint32(1<<20))
	f.Add(reportSeed(2, jpeg, ""), "multipart/form-data; boundary=fuzzboundary", uint32(900))
	f.Add(reportSeed(1, nil, ""), "multipart/form-data; boundary=fuzzboundary", uint32(1<<20))
	f.Add([]byte("--fuzzboundary\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nunterminated"), "multipart/form-data; boundary=fuzzboundary", uint32(1<<20))
	f.Add([]byte("category=funds&description=%E6%9D%91&identified=1"), "application/x-www-form-urlencoded", uint32(1<<20))
	f.Add([]byte("x"), "multipart/form-data", uint32(1<<20))
	f.Add(bytes.Repeat([]byte("--fuzzboundary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n"), 40), "multipart/form-data; boundary=fuzzboundary", uint32(1<<20))

	s, _ := newService(f)
	a := &API{Service: s}
	f.Fuzz(func(t *testing.T, body []byte, ct string, limit uint32) {
		limit %= 2 << 20
		ctx := context.Background()
		r := httptest.NewRequest(http.MethodPost, "/r/330283100201", bytes.NewReader(body))
		r.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		r.Body = http.MaxBytesReader(rec, r.Body, int64(limit))
		sub, err := a.readReport(r)
		defer s.dropUploads(ctx, sub.staged()...)
		var se errStaging
		if err != nil && !errors.Is(err, errFormMalformed) && !errors.Is(err, errFormTooLarge) && !errors.As(err, &se) {
			t.Fatalf("readReport failed with %v", err)
		}
		if errors.As(err, &se) {
			t.Fatalf("staging failed: %v", err)
		}
		if len(sub.Files) > IntakeMaxFiles || sub.FileCount < len(sub.Files) {
			t.Fatalf("%d files kept, %d counted", len(sub.Files), sub.FileCount)
		}
		read := int64(len(sub.Category) + len(sub.Description) + len(sub.PowToken) + len(sub.PowNonce))
		for _, v := range []string{sub.Category, sub.Description, sub.PowToken, sub.PowNonce} {
			if len(v) > formMaxFieldBytes {
				t.Fatalf("a field of %d bytes kept, more than %d", len(v), formMaxFieldBytes)
			}
		}
		for _, u := range sub.Files {
			read += u.Size
			if len(u.Head) > 512 || int64(len(u.Head)) > u.Size {
				t.Fatalf("head of %d bytes for a file of %d", len(u.Head), u.Size)
			}
			if u.Name == "" {
				t.Fatal("a file without a name")
			}
			if u.Staged.ID == "" {
				continue
			}
			if u.Size > IntakeMaxFileBytes || u.Size == 0 {
				t.Fatalf("kept a file of %d bytes", u.Size)
			}
			var stored []byte
			rows, err := s.Pool.Query(ctx, `SELECT data FROM upload_chunks WHERE upload_id = $1 ORDER BY n`, u.Staged.ID)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var d []byte
				if err := rows.Scan(&d); err != nil {
					t.Fatal(err)
				}
				stored = append(stored, d...)
			}
			rows.Close()
			sum := sha256.Sum256(stored)
			if int64(len(stored)) != u.Size || hex.EncodeToString(sum[:]) != u.Staged.SHA256 || !bytes.HasPrefix(stored, u.Head) {
				t.Fatalf("staged %d bytes (%x…) for a file reported as %d bytes, sha256 %s", len(stored), stored[:min(len(stored), 8)], u.Size, u.Staged.SHA256)
			}
		}
		if read > int64(limit) {
			t.Fatalf("kept %d bytes from a body limited to %d", read, limit)
		}
		if ids := sub.staged(); len(ids) > 0 {
			s.dropUploads(ctx, ids...)
			var left int
			if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM upload_chunks WHERE upload_id = ANY($1::uuid[])`, ids).Scan(&left); err != nil || left != 0 {
				t.Fatalf("%d chunks left after dropping the uploads (%v)", left, err)
			}
		}
	})
}
