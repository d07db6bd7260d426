package inspection

// Evidence files of an answer to a notice or an order: a photo of the
// rectified site, a scanned report. The answering official uploads each
// file (the raw bytes as the body, ?name= its name) before answering and
// names it in the answer's evidence by its id. Only JPEG, PNG and PDF are
// taken, recognised by their bytes, and their metadata (a photo's GPS
// position, a PDF's author) is removed before they are stored
// (services/internal/media). Files are kept in PostgreSQL, append-only.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/media"
)

// MaxAnswerFileBytes is the largest evidence file taken (10 MiB).
const MaxAnswerFileBytes = 10 << 20

// AnswerFile is an uploaded evidence file, without its bytes.
type AnswerFile struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	ContentType string    `json:"contentType"`
	Size        int       `json:"size"`
	SHA256      string    `json:"sha256"`
	URL         string    `json:"url"`
	UploadedAt  time.Time `json:"uploadedAt"`
}

func fileName(name string) string {
	name = path.Base(strings.ReplaceAll(strings.TrimSpace(name), `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if name == "." || name == "/" || name == "" {
		return "证明材料"
	}
	for utf8.RuneCountInString(name) > 200 {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	return name
}

// storeAnswerFile checks, cleans and stores a file of a document.
func (s *Service) storeAnswerFile(ctx context.Context, tx pgx.Tx, p identity.Principal, kind, ref, village, name string, data []byte, now time.Time) (*AnswerFile, error) {
	var ctype string
	switch media.Sniff(data) {
	case media.JPEG:
		ctype = "image/jpeg"
	case media.PNG:
		ctype = "image/png"
	case media.PDF:
		ctype = "application/pdf"
	default:
		return nil, httpapi.ValidationFailed(httpapi.FieldError{Field: "file", Detail: "only JPEG and PNG photos and PDF documents are taken"})
	}
	clean, err := media.Clean(data)
	if err != nil {
		var me *media.Error
		if errors.As(err, &me) {
			return nil, httpapi.ValidationFailed(httpapi.FieldError{Field: "file", Detail: "its metadata cannot be removed (" + me.Reason + "); save it again, e.g. print it to a new PDF"})
		}
		return nil, err
	}
	sum := sha256.Sum256(clean)
	f := &AnswerFile{ID: uuid.NewString(), Name: fileName(name), ContentType: ctype, Size: len(clean), SHA256: hex.EncodeToString(sum[:]), UploadedAt: now}
	f.URL = "/v1/" + kind + "s/" + url.PathEscape(ref) + "/files/" + f.ID
	_, err = tx.Exec(ctx, `INSERT INTO supervision_files (id, doc_kind, doc_ref, town, village, name, content_type, size, sha256, data, uploaded_by, uploaded_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		f.ID, kind, ref, s.Town, village, f.Name, f.ContentType, f.Size, f.SHA256, clean, p.IdentityID, now)
	return f, err
}

// readUpload reads an upload's body, answering 413 or 422 itself.
func readUpload(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAnswerFileBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		httpapi.WriteStatusProblem(w, r, http.StatusRequestEntityTooLarge, "File too large",
			fmt.Sprintf("an evidence file may have at most %d MiB", MaxAnswerFileBytes>>20))
		return nil, false
	case err != nil:
		httpapi.WriteProblem(w, r, httpapi.BadRequest("the file could not be read: "+err.Error()))
		return nil, false
	case len(data) == 0:
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "file", Detail: "send the file's bytes as the request body"}))
		return nil, false
	}
	return data, true
}

// postNoticeFile uploads an evidence file to an issued or returned notice,
// by an official who may answer it.
func (s *Service) postNoticeFile(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	data, ok := readUpload(w, r)
	if !ok {
		return
	}
	var out *AnswerFile
	_, err := s.actOnNotice(r.Context(), p, r.PathValue("id"), func(tx pgx.Tx, n *StoredNotice, now time.Time) error {
		if !s.canAnswer(p, n.Village) {
			return httpapi.Forbidden("the village's secretary, director or supervision chair answers its notices")
		}
		if n.Status != NoticeIssued && n.Status != NoticeReturned {
			return stateConflict(n, "files are added to an issued or returned notice, before answering it")
		}
		var err error
		out, err = s.storeAnswerFile(r.Context(), tx, p, "notice", n.ID, n.Village, r.URL.Query().Get("name"), data, now)
		return err
	})
	if err != nil {
		writeErr(w, r, "notice", err)
		return
	}
	w.Header().Set("Location", out.URL)
	_ = httpapi.WriteJSON(w, http.StatusCreated, out)
}

// getNoticeFile serves an evidence file to the notice's readers.
func (s *Service) getNoticeFile(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	n, err := s.NoticeByRef(r.Context(), r.PathValue("id"))
	if err == nil && !s.canSeeNotice(p, n) {
		err = ErrNotFound
	}
	if err != nil {
		writeErr(w, r, "notice", err)
		return
	}
	s.serveFile(w, r, "notice", n.ID)
}

func (s *Service) serveFile(w http.ResponseWriter, r *http.Request, kind, ref string) {
	id := r.PathValue("file")
	if _, err := uuid.Parse(id); err != nil {
		writeErr(w, r, "file", ErrNotFound)
		return
	}
	var name, ctype, sum string
	var data []byte
	err := s.Pool.QueryRow(r.Context(), `SELECT name, content_type, sha256, data FROM supervision_files
		WHERE id = $1 AND doc_kind = $2 AND doc_ref = $3 AND town = $4`, id, kind, ref, s.Town).Scan(&name, &ctype, &sum, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		writeErr(w, r, "file", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", fmt.Sprintf(`inline; filename*=UTF-8''%s`, url.PathEscape(name)))
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+sum+`"`)
	_, _ = w.Write(data) //nolint:gosec // G705: a sniffed JPEG, PNG or PDF served with its type and nosniff
}
