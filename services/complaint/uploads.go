package complaint

// Streaming of the report page's uploads: each file part goes to the
// database in chunks while it is read (upload_chunks), never whole into
// memory, and the complaint's transaction moves it into attachments.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/google/uuid"
)

// uploadChunkBytes is the size of one staged chunk: the most of a file in
// memory at once (plus the driver's copy of it).
const uploadChunkBytes = 256 << 10

var chunkBuffers = sync.Pool{New: func() any { b := make([]byte, uploadChunkBytes); return &b }}

// stagedUpload is one file streamed to upload_chunks. ID is empty when
// nothing is kept (an empty file, or one over the limit: Size still counts
// every byte).
type stagedUpload struct {
	ID     string
	Size   int64
	SHA256 string
	Head   []byte // the first 512 bytes, for the type check
}

// errStaging wraps a database failure while staging (not the client's).
type errStaging struct{ err error }

func (e errStaging) Error() string { return "staging an upload: " + e.err.Error() }
func (e errStaging) Unwrap() error { return e.err }

// stageUpload streams r into upload_chunks, keeping at most limit bytes:
// a larger file is dropped as soon as it goes over and the rest only
// counted. Read errors are returned as they are, database errors as
// errStaging.
func (s *Service) stageUpload(ctx context.Context, r io.Reader, limit int64) (stagedUpload, error) {
	bp := chunkBuffers.Get().(*[]byte)
	defer chunkBuffers.Put(bp)
	buf := *bp
	u := stagedUpload{ID: uuid.NewString()}
	h := sha256.New()
	chunks := 0
	for {
		k, err := io.ReadFull(r, buf)
		if k > 0 {
			if len(u.Head) < 512 {
				u.Head = append(u.Head, buf[:min(k, 512-len(u.Head))]...)
			}
			u.Size += int64(k)
			switch {
			case u.Size <= limit:
				h.Write(buf[:k])
				if _, err := s.Pool.Exec(ctx, `INSERT INTO upload_chunks (upload_id, n, created_at, data) VALUES ($1, $2, $3, $4)`,
					u.ID, chunks, s.now(), buf[:k]); err != nil {
					s.dropUploads(ctx, u.ID)
					return stagedUpload{}, errStaging{err}
				}
				chunks++
			case u.ID != "": // just went over: keep nothing, count the rest
				s.dropUploads(ctx, u.ID)
				u.ID = ""
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			if u.ID != "" {
				s.dropUploads(ctx, u.ID)
			}
			return stagedUpload{}, err
		}
	}
	if u.Size == 0 {
		u.ID = ""
	}
	u.SHA256 = hex.EncodeToString(h.Sum(nil))
	return u, nil
}

// dropUploads deletes staged files, also when the request was cancelled.
func (s *Service) dropUploads(ctx context.Context, ids ...string) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := s.Pool.Exec(ctx, `DELETE FROM upload_chunks WHERE upload_id = ANY($1::uuid[])`, ids); err != nil && s.Log != nil {
		s.Log.ErrorContext(ctx, "deleting staged uploads", "error", err.Error())
	}
}

// SweepUploads deletes staged chunks older than maxAge: those of requests
// whose process ended before they could delete them.
func (s *Service) SweepUploads(ctx context.Context, maxAge time.Duration) (int64, error) {
	tag, err := s.Pool.Exec(ctx, `DELETE FROM upload_chunks WHERE created_at < $1`, s.now().Add(-maxAge))
	return tag.RowsAffected(), err
}

// NewStagedAttachment describes a staged file by its sniffed type and hash;
// Service.File moves its bytes into attachments. The caller has checked it
// with ValidateIntakeFile.
func NewStagedAttachment(name string, u stagedUpload) Attachment {
	return Attachment{Name: name, ContentType: sniffIntakeType(u.Head), Size: u.Size, SHA256: u.SHA256,
		Stored: true, staged: u.ID}
}
