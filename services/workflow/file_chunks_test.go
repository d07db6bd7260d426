package workflow

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestFileChunksRoundTrip stores files of sizes around the chunk
// boundaries in file_chunks and reads them back byte for byte; a file
// stored before migration 00009 (inline) is returned as it is, and a file
// missing a chunk is an error, not a short download.
func TestFileChunksRoundTrip(t *testing.T) {
	s := replica(t, testinfra.Postgres(t), &clock{})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{1, fileChunkSize - 1, fileChunkSize, fileChunkSize + 1, 3 * fileChunkSize, 1<<20 + 3, MaxApplicationFileBytes} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(rng.UintN(256))
			}
			id := uuid.NewString()
			if err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error { return insertFileData(ctx, tx.Conn(), id, data) }); err != nil {
				t.Fatal(err)
			}
			var rows, widest int
			if err := s.Pool.QueryRow(ctx, `SELECT count(*), max(length(data)) FROM file_chunks WHERE file_id = $1`, id).Scan(&rows, &widest); err != nil {
				t.Fatal(err)
			}
			if want := (size + fileChunkSize - 1) / fileChunkSize; rows != want || widest > fileChunkSize {
				t.Errorf("%d rows, widest %d bytes; want %d rows of at most %d", rows, widest, want, fileChunkSize)
			}
			got, err := readFileData(ctx, s.Pool, id, nil, int64(size))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes (%v), stored %d", len(got), err, size)
			}
			if _, err := readFileData(ctx, s.Pool, id, nil, int64(size)+1); err == nil {
				t.Error("a size the chunks do not add up to was not noticed")
			}
		})
	}
	inline := []byte("%PDF-1.4 stored before file_chunks")
	if got, err := readFileData(ctx, s.Pool, uuid.NewString(), inline, int64(len(inline))); err != nil || !bytes.Equal(got, inline) {
		t.Errorf("inline file: %q, %v", got, err)
	}
	if _, err := readFileData(ctx, s.Pool, uuid.NewString(), nil, 10); err == nil {
		t.Error("a file without chunks read as if present")
	}
}

// TestChunksCopyReadSizes: the COPY stream is the same whatever the
// reader's buffer (the connection reads 64 KiB at a time; a byte at a
// time must give the same rows), and ends with io.EOF after the trailer.
func TestChunksCopyReadSizes(t *testing.T) {
	for _, size := range []int{1, fileChunkSize, fileChunkSize + 1, 5*fileChunkSize + 17} {
		data := bytes.Repeat([]byte{0xA5}, size)
		stream := func(r io.Reader) []byte {
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		whole := stream(&chunksCopy{data: data, pending: copySignature})
		bytewise := stream(iotest.OneByteReader(&chunksCopy{data: data, pending: copySignature}))
		rows := (size + fileChunkSize - 1) / fileChunkSize
		if want := 19 + rows*34 + size + 2; len(whole) != want || !bytes.Equal(whole, bytewise) {
			t.Errorf("size %d: %d bytes (%d a byte at a time), want %d", size, len(whole), len(bytewise), want)
		}
		if !bytes.HasPrefix(whole, []byte("PGCOPY\n\xff\r\n\x00")) || !bytes.HasSuffix(whole, []byte{0xff, 0xff}) {
			t.Errorf("size %d: no COPY signature or trailer", size)
		}
	}
}
