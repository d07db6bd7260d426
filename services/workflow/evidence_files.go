package workflow

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/media"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// Evidence files: cadres upload the documents a step needs (minutes,
// invoices, photos of a posting) instead of only linking to them. The
// service keeps the bytes in PostgreSQL beside the instance, with the
// SHA-256 computed while receiving them and the type sniffed from the
// content (never taken from the client's Content-Type or file name alone).

// MaxEvidenceFileBytes is the largest evidence file accepted (10 MiB).
const MaxEvidenceFileBytes = 10 << 20

// evidenceUploadBodyLimit is the upload route's body limit: one file and
// the form's few small fields with their multipart headers.
const evidenceUploadBodyLimit = MaxEvidenceFileBytes + 64<<10

// AllowedEvidenceTypes names the kinds of file accepted, for people.
const AllowedEvidenceTypes = "PDF, JPEG, PNG, Word (.docx, .doc), Excel (.xlsx, .xls), PowerPoint (.pptx, .ppt)"

// EvidenceFileKind is the evidence kind of an upload that names none.
const EvidenceFileKind = "document"

// evidenceFilePath is the API path of an uploaded file; it is the
// evidence's URL in the instance document.
func evidenceFilePath(instanceID, fileID string) string {
	return "/v1/instances/" + instanceID + "/evidence/files/" + fileID
}

// IsEvidenceFile reports whether an evidence URL points at a file stored by
// this service (as opposed to a link to a document elsewhere).
func IsEvidenceFile(ev Evidence) bool {
	return strings.HasPrefix(ev.URL, "/v1/instances/") && strings.Contains(ev.URL, "/evidence/files/")
}

// EvidenceFile is an uploaded file with what the service learnt of it.
type EvidenceFile struct {
	ID          string    `json:"id"`
	InstanceID  string    `json:"instanceId"`
	StepID      string    `json:"stepId"`
	Kind        string    `json:"kind"`
	Name        string    `json:"name"`
	ContentType string    `json:"contentType"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	UploadedBy  string    `json:"uploadedBy"`
	UploadedAt  time.Time `json:"uploadedAt"`
	URL         string    `json:"url"`
}

func (s *Service) evidenceFileRoutes(srv *httpapi.Server) {
	srv.Handle("POST /v1/instances/{id}/evidence/files",
		httpapi.WithBodyLimit(evidenceUploadBodyLimit, http.HandlerFunc(s.uploadEvidenceFile)))
	srv.HandleFunc("GET /v1/instances/{id}/evidence/files/{file}", s.downloadEvidenceFile)
}

// SniffEvidenceType returns the content type of an evidence file from its
// first bytes (and, for the formats whose container does not say which
// office program wrote it, its name), or ok=false with what it looks like.
func SniffEvidenceType(data []byte, name string) (contentType string, ok bool, looksLike string) {
	detected := http.DetectContentType(data)
	ext := strings.ToLower(path.Ext(name))
	switch {
	case detected == "application/pdf":
		return detected, true, detected
	case detected == "image/jpeg", detected == "image/png":
		return detected, true, detected
	case detected == "application/zip":
		// Office Open XML documents are zip archives; their parts say
		// which program they belong to.
		if zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data))); err == nil {
			for _, f := range zr.File {
				switch f.Name {
				case "word/document.xml":
					return "application/vnd.openxmlformats-officedocument.wordprocessingml.document", true, ""
				case "xl/workbook.xml":
					return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", true, ""
				case "ppt/presentation.xml":
					return "application/vnd.openxmlformats-officedocument.presentationml.presentation", true, ""
				}
			}
		}
		return "", false, "a zip archive"
	case bytes.HasPrefix(data, []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}):
		// An OLE2 compound file (Office 97–2003): the container is the
		// same for all three programs, so the name's extension decides.
		switch ext {
		case ".doc":
			return "application/msword", true, ""
		case ".xls":
			return "application/vnd.ms-excel", true, ""
		case ".ppt":
			return "application/vnd.ms-powerpoint", true, ""
		}
		return "", false, "an Office 97-2003 file without a .doc, .xls or .ppt name"
	}
	return "", false, detected
}

// cleanFileName keeps a client's file name for display and downloads: the
// last path element, without control characters, at most 200 characters.
func cleanFileName(name string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	name = path.Base(strings.TrimSpace(name))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return -1
		}
		return r
	}, name)
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, "")
	}
	if r := []rune(name); len(r) > 200 {
		name = string(r[len(r)-200:])
	}
	if name == "" || name == "." || name == "/" {
		return "evidence"
	}
	return name
}

func evidenceProblem(status int, typ, title, detail string) *httpapi.Problem {
	return &httpapi.Problem{Type: httpapi.ProblemBase + "workflow/" + typ, Title: title, Status: status, Detail: detail}
}

// uploadEvidenceFile takes multipart/form-data with the fields stepId and
// (optionally) kind, and one part named file. The file is read once:
// hashed and buffered as it arrives, refused past MaxEvidenceFileBytes.
func (s *Service) uploadEvidenceFile(w http.ResponseWriter, r *http.Request) {
	inst, a, ok := s.readable(w, r)
	if !ok {
		return
	}
	// Refuse before reading megabytes the caller may not add.
	if err := mayActOn(a, inst); err != nil {
		writeErr(w, r, err)
		return
	}
	if inst.Status != StatusRunning {
		writeErr(w, r, domainerr.Refuse(409, "not-running", "Process not running", "evidence can only be added while the process runs"))
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		httpapi.WriteProblem(w, r, &httpapi.Problem{Type: httpapi.TypeUnsupportedMediaType, Title: "Unsupported media type",
			Status: http.StatusUnsupportedMediaType, Detail: "send the file as multipart/form-data with the fields stepId, kind and file"})
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		httpapi.WriteProblem(w, r, httpapi.BadRequest("the multipart body cannot be read: "+err.Error()))
		return
	}
	var in EvidenceFileInput
	var haveFile bool
	tooLarge := func() {
		// Read the rest (bounded by the route's limit) so that the client,
		// still sending, gets this answer rather than a reset connection.
		_, _ = io.Copy(io.Discard, r.Body)
		httpapi.WriteProblem(w, r, evidenceProblem(http.StatusRequestEntityTooLarge, "file-too-large", "File too large",
			fmt.Sprintf("an evidence file may have at most %d bytes (10 MiB)", MaxEvidenceFileBytes)).With("limit_bytes", MaxEvidenceFileBytes))
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooLarge()
			return
		}
		if err != nil {
			httpapi.WriteProblem(w, r, httpapi.BadRequest("the multipart body cannot be read: "+err.Error()))
			return
		}
		switch part.FormName() {
		case "stepId", "kind":
			v, err := io.ReadAll(io.LimitReader(part, 256))
			if err != nil {
				httpapi.WriteProblem(w, r, httpapi.BadRequest("the multipart body cannot be read: "+err.Error()))
				return
			}
			if part.FormName() == "stepId" {
				in.StepID = strings.TrimSpace(string(v))
			} else {
				in.Kind = strings.TrimSpace(string(v))
			}
		case "file":
			if haveFile {
				httpapi.WriteProblem(w, r, httpapi.BadRequest("send one file per request"))
				return
			}
			haveFile = true
			in.Name = cleanFileName(part.FileName())
			h := sha256.New()
			var buf bytes.Buffer
			n, err := io.Copy(io.MultiWriter(&buf, h), io.LimitReader(part, MaxEvidenceFileBytes+1))
			if errors.As(err, &mbe) || n > MaxEvidenceFileBytes {
				tooLarge()
				return
			}
			if err != nil {
				httpapi.WriteProblem(w, r, httpapi.BadRequest("the file cannot be read: "+err.Error()))
				return
			}
			in.Data, in.SHA256 = buf.Bytes(), hex.EncodeToString(h.Sum(nil))
		default:
			// Unknown fields are drained and ignored, like a browser's
			// submit button.
			if _, err := io.Copy(io.Discard, io.LimitReader(part, 1<<10)); err != nil {
				httpapi.WriteProblem(w, r, httpapi.BadRequest("the multipart body cannot be read: "+err.Error()))
				return
			}
		}
		_ = part.Close()
	}
	if !haveFile {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "file", Detail: "choose a file to upload"}))
		return
	}
	f, err := s.AddEvidenceFile(r.Context(), a, inst.ID, in)
	if err != nil {
		var p *httpapi.Problem
		if errors.As(err, &p) {
			httpapi.WriteProblem(w, r, p)
			return
		}
		writeErr(w, r, err)
		return
	}
	w.Header().Set("Location", f.URL)
	_ = httpapi.WriteJSON(w, http.StatusCreated, f)
}

// EvidenceFileInput is an upload as the handler received it.
type EvidenceFileInput struct {
	StepID string
	Kind   string
	Name   string
	Data   []byte
	// SHA256 was computed while the bytes arrived; AddEvidenceFile checks it.
	SHA256 string
}

// AddEvidenceFile stores an uploaded file and lists it as evidence of the
// instance's step, in one transaction with its audit entry.
func (s *Service) AddEvidenceFile(ctx context.Context, actor Actor, id string, in EvidenceFileInput) (*EvidenceFile, error) {
	if in.StepID == "" {
		return nil, httpapi.ValidationFailed(httpapi.FieldError{Field: "stepId", Detail: "the step the file is evidence for"})
	}
	if in.Kind == "" {
		in.Kind = EvidenceFileKind
	}
	if len(in.Kind) > 64 {
		return nil, httpapi.ValidationFailed(httpapi.FieldError{Field: "kind", Detail: "at most 64 characters, e.g. " + EvidenceResolution})
	}
	if len(in.Data) == 0 {
		return nil, httpapi.ValidationFailed(httpapi.FieldError{Field: "file", Detail: "the file is empty"})
	}
	if len(in.Data) > MaxEvidenceFileBytes {
		return nil, evidenceProblem(http.StatusRequestEntityTooLarge, "file-too-large", "File too large",
			fmt.Sprintf("an evidence file may have at most %d bytes (10 MiB)", MaxEvidenceFileBytes))
	}
	sum := sha256.Sum256(in.Data)
	if in.SHA256 != "" && in.SHA256 != hex.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("evidence file: the SHA-256 computed while receiving differs from the stored bytes'")
	}
	ct, ok, looks := SniffEvidenceType(in.Data, in.Name)
	if !ok {
		return nil, evidenceProblem(http.StatusUnsupportedMediaType, "unsupported-file-type", "File type not accepted",
			fmt.Sprintf("evidence files may be %s; this file looks like %s", AllowedEvidenceTypes, looks))
	}
	// What is stored (and published on the portal's tracker) is the file
	// without its metadata: a photo's GPS position and camera, a PDF's
	// author and XMP (services/internal/media). The hash is the stored
	// bytes'.
	clean, err := media.Clean(in.Data)
	if errors.Is(err, media.ErrUnclean) {
		return nil, evidenceProblem(http.StatusUnprocessableEntity, "file-metadata", "File metadata cannot be removed",
			"the file's metadata (location, author) cannot be removed: "+err.Error()+
				"; upload a copy without it, e.g. a PDF saved again without encryption")
	}
	if err != nil {
		return nil, err
	}
	in.Data, sum = clean, sha256.Sum256(clean)
	name := cleanFileName(in.Name)
	var f *EvidenceFile
	err = store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		inst, err := s.evidenceTarget(ctx, tx, actor, id, in.StepID)
		if err != nil {
			return err
		}
		now := s.now()
		fid := uuid.NewString()
		f = &EvidenceFile{ID: fid, InstanceID: inst.ID, StepID: in.StepID, Kind: in.Kind, Name: name, ContentType: ct,
			Size: int64(len(in.Data)), SHA256: hex.EncodeToString(sum[:]), UploadedBy: actor.ID, UploadedAt: now,
			URL: evidenceFilePath(inst.ID, fid)}
		if _, err := tx.Exec(ctx, `INSERT INTO evidence_files (id, instance_id, step_id, kind, name, content_type, size, sha256, uploaded_by, uploaded_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
			f.ID, f.InstanceID, f.StepID, f.Kind, f.Name, f.ContentType, f.Size, f.SHA256, f.UploadedBy, f.UploadedAt); err != nil {
			return err
		}
		if err := insertFileData(ctx, tx.Conn(), f.ID, in.Data); err != nil { // file_chunks.go
			return err
		}
		ev := Evidence{ID: fid, StepID: in.StepID, Kind: in.Kind, Name: name, URL: f.URL, SHA256: f.SHA256, Size: f.Size,
			AddedBy: actor.ID, AddedAt: now}
		inst.Evidence = append(inst.Evidence, ev)
		if err := saveInstance(ctx, tx, inst, now); err != nil {
			return err
		}
		// The same action as linked evidence, with the sniffed type: the
		// hash in the chain pins the stored bytes.
		return s.appendAudit(ctx, tx, inst, now, actor, "evidence.added", struct {
			Evidence
			ContentType string `json:"contentType"`
		}{ev, ct})
	})
	if errors.Is(err, errConflict) {
		err = &domainerr.Error{Status: 409, Type: "conflict", Title: "Changed meanwhile", Detail: "the process changed while the file was stored; try again"}
	}
	return f, fmtErr("adding evidence file", err)
}

// OpenEvidenceFile returns an instance's stored file and its bytes.
func (s *Service) OpenEvidenceFile(ctx context.Context, instanceID, fileID string) (*EvidenceFile, []byte, error) {
	if _, err := uuid.Parse(fileID); err != nil {
		return nil, nil, ErrNotFound
	}
	f := &EvidenceFile{}
	var data []byte
	err := s.Pool.QueryRow(ctx, `SELECT id::text, instance_id::text, step_id, kind, name, content_type, size, sha256, uploaded_by, uploaded_at, data
		FROM evidence_files WHERE id = $1 AND instance_id = $2`, fileID, instanceID).
		Scan(&f.ID, &f.InstanceID, &f.StepID, &f.Kind, &f.Name, &f.ContentType, &f.Size, &f.SHA256, &f.UploadedBy, &f.UploadedAt, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, ErrNotFound
	}
	if err == nil {
		data, err = readFileData(ctx, s.Pool, f.ID, data, f.Size) // file_chunks.go
	}
	if err != nil {
		return nil, nil, fmtErr("reading evidence file", err)
	}
	f.URL = evidenceFilePath(f.InstanceID, f.ID)
	return f, data, nil
}

// downloadEvidenceFile serves a stored file to whoever may read its
// instance, always as an attachment with the sniffed type, so that a
// browser never renders an uploaded file as a page of this origin.
func (s *Service) downloadEvidenceFile(w http.ResponseWriter, r *http.Request) {
	inst, _, ok := s.readable(w, r)
	if !ok {
		return
	}
	f, data, err := s.OpenEvidenceFile(r.Context(), inst.ID, r.PathValue("file"))
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			httpapi.WriteProblem(w, r, httpapi.NotFound("no such evidence file"))
			return
		}
		writeErr(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ContentType)
	h.Set("Content-Length", fmt.Sprint(len(data)))
	h.Set("Content-Disposition", ContentDisposition(f.Name))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-store")
	h.Set("Repr-Digest", reprDigest(f.SHA256))
	h.Set("ETag", `"`+f.SHA256+`"`)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

// ContentDisposition is an attachment header for name: an ASCII fallback
// and the UTF-8 name (RFC 6266, RFC 5987), so Chinese names survive.
func ContentDisposition(name string) string {
	fallback := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == ';' {
			return '_'
		}
		return r
	}, name)
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, fallback, url.PathEscape(name))
}

// reprDigest is the RFC 9530 Repr-Digest value of a hex SHA-256.
func reprDigest(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		return ""
	}
	return "sha-256=:" + base64.StdEncoding.EncodeToString(b) + ":"
}
