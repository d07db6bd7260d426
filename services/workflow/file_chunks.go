package workflow

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"

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

// chunksCopy is a file as the binary COPY stream of its file_chunks rows
// (PostgreSQL's documented format: a signature and header, each row as
// its field count and length-prefixed fields, a trailer). Read straight
// into the connection's buffer: the bytes are copied once, where pgx's
// CopyFrom encodes every row into a buffer of its own and passes it
// through a pipe.
type chunksCopy struct {
	id      [16]byte
	data    []byte
	next    int    // the next chunk
	pending []byte // framing not yet read: the header, a row's fields before its bytes, the trailer
	body    []byte // the current chunk's bytes not yet read
	row     [2 + 4 + 16 + 4 + 4 + 4]byte
	done    bool
}

var (
	copySignature = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00") // signature, flags 0, no header extension
	copyTrailer   = []byte{0xff, 0xff}                                             // field count -1
)

func (c *chunksCopy) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		switch {
		case len(c.pending) > 0:
			k := copy(p, c.pending)
			c.pending, p, total = c.pending[k:], p[k:], total+k
		case len(c.body) > 0:
			k := copy(p, c.body)
			c.body, p, total = c.body[k:], p[k:], total+k
		case c.done:
			if total == 0 {
				return 0, io.EOF
			}
			return total, nil
		case c.next*fileChunkSize >= len(c.data):
			c.pending, c.done = copyTrailer, true
		default:
			from := c.next * fileChunkSize
			c.body = c.data[from:min(from+fileChunkSize, len(c.data))]
			r := c.row[:0]
			r = binary.BigEndian.AppendUint16(r, 3)
			r = binary.BigEndian.AppendUint32(r, 16)
			r = append(r, c.id[:]...)
			r = binary.BigEndian.AppendUint32(r, 4)
			r = binary.BigEndian.AppendUint32(r, uint32(c.next))
			r = binary.BigEndian.AppendUint32(r, uint32(len(c.body)))
			c.pending = r
			c.next++
		}
	}
	return total, nil
}

// insertFileData stores the bytes of the evidence file id (its
// evidence_files row is written in the same transaction with data NULL)
// on conn, in its transaction.
func insertFileData(ctx context.Context, conn *pgx.Conn, id string, data []byte) error {
	return copyFileData(ctx, conn, "", id, data)
}

// copyFileData is insertFileData's COPY sent after the statements before
// (simple-query statements without parameters, such as "BEGIN;"), in the
// same round trip.
func copyFileData(ctx context.Context, conn *pgx.Conn, before, id string, data []byte) error {
	uid, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("storing file %q: %w", id, err)
	}
	want := int64((len(data) + fileChunkSize - 1) / fileChunkSize)
	tag, err := conn.PgConn().CopyFrom(ctx, &chunksCopy{id: uid, data: data, pending: copySignature},
		before+`COPY file_chunks (file_id, n, data) FROM STDIN WITH (FORMAT binary)`)
	if err != nil {
		return fmt.Errorf("storing file %s: %w", id, err)
	}
	if n := tag.RowsAffected(); n != want {
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
