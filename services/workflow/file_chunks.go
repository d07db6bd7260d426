package workflow

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Uploaded files' bytes live in file_chunks (migration 00009), written
// with COPY in rows of fileChunkSize bytes: one row fills a page, so
// PostgreSQL stores a 1 MiB file as 132 rows logged a page at a time
// instead of 525 TOAST rows and index entries logged one by one.

// fileChunkSize is the bytes of one file_chunks row: with the row's
// header, key and length it fills one 8 KiB page (the largest row that
// fits is 8160 bytes; the column is STORAGE PLAIN, so a row that did not
// fit would be refused rather than compressed or moved out of line).
const fileChunkSize = 8000

// fileChunks is a file cut into file_chunks rows, for CopyFrom.
type fileChunks struct {
	id   [16]byte // binary: a string would be parsed again for every row
	data []byte
	n    int // the next chunk
}

func (c *fileChunks) Next() bool { return c.n*fileChunkSize < len(c.data) }

func (c *fileChunks) Values() ([]any, error) {
	from := c.n * fileChunkSize
	row := []any{c.id, c.n, c.data[from:min(from+fileChunkSize, len(c.data))]}
	c.n++
	return row, nil
}

func (c *fileChunks) Err() error { return nil }

// insertFileData stores the bytes of the evidence file id (its
// evidence_files row is written in the same transaction with data NULL).
func insertFileData(ctx context.Context, tx interface {
	CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error)
}, id string, data []byte) error {
	uid, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("storing file %q: %w", id, err)
	}
	want := int64((len(data) + fileChunkSize - 1) / fileChunkSize)
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"file_chunks"}, []string{"file_id", "n", "data"}, &fileChunks{id: uid, data: data})
	if err != nil {
		return fmt.Errorf("storing file %s: %w", id, err)
	}
	if n != want {
		return fmt.Errorf("storing file %s: %d of %d chunks written", id, n, want)
	}
	return nil
}

// readFileData returns the bytes of the evidence file id of size bytes:
// its chunks, or inline (a file stored before migration 00009).
func readFileData(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, id string, inline []byte, size int64) ([]byte, error) {
	if inline != nil {
		return inline, nil
	}
	rows, err := q.Query(ctx, `SELECT data FROM file_chunks WHERE file_id = $1 ORDER BY n`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	data := make([]byte, 0, size)
	var chunk []byte
	for rows.Next() {
		if err := rows.Scan(&chunk); err != nil {
			return nil, err
		}
		data = append(data, chunk...)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if int64(len(data)) != size {
		return nil, fmt.Errorf("file %s: %d of %d bytes stored", id, len(data), size)
	}
	return data, nil
}
