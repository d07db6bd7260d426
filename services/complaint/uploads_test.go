package complaint

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
	"time"
)

// TestStageUpload streams files of several sizes to upload_chunks: what is
// kept is exactly the file (size, hash, head), a file over the limit keeps
// nothing but is counted whole, and the sweep removes what a crashed
// request left behind.
func TestStageUpload(t *testing.T) {
	ctx := context.Background()
	s, clk := newService(t)
	const limit = 3*uploadChunkBytes + 10
	uploads := 0
	for _, tc := range []struct {
		name string
		size int
		kept bool
	}{
		{"small", 100, true},
		{"one chunk", uploadChunkBytes, true},
		{"at the limit", limit, true},
		{"one byte over", limit + 1, false},
		{"far over", 5 * uploadChunkBytes, false},
		{"empty", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			content := make([]byte, tc.size)
			for i := range content {
				content[i] = byte(i * 7)
			}
			u, err := s.stageUpload(ctx, bytes.NewReader(content), limit)
			if err != nil {
				t.Fatal(err)
			}
			if u.Size != int64(tc.size) || (u.ID != "") != tc.kept || !bytes.Equal(u.Head, content[:min(512, tc.size)]) {
				t.Fatalf("staged %+v", stagedUpload{ID: u.ID, Size: u.Size, SHA256: u.SHA256})
			}
			var got []byte
			err = s.Pool.QueryRow(ctx, `SELECT coalesce(string_agg(data, ''::bytea ORDER BY n), '') FROM upload_chunks WHERE upload_id = $1`,
				orNil(u.ID)).Scan(&got)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(content)
			switch {
			case tc.kept && (!bytes.Equal(got, content) || u.SHA256 != hex.EncodeToString(sum[:])):
				t.Errorf("stored %d bytes, hash %s", len(got), u.SHA256)
			}
			if tc.kept {
				uploads++
			}
			if n := count(t, s, `SELECT count(DISTINCT upload_id) FROM upload_chunks`); n != uploads {
				t.Errorf("%d uploads staged, want %d (a dropped file's chunks remain)", n, uploads)
			}
		})
	}
	if _, err := s.stageUpload(ctx, io.MultiReader(bytes.NewReader(make([]byte, 1000)), failing{}), limit); err == nil {
		t.Error("a read error was not returned")
	}
	before := count(t, s, `SELECT count(*) FROM upload_chunks`)
	if n, err := s.SweepUploads(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("fresh chunks swept: %d %v", n, err)
	}
	clk.Advance(time.Hour + time.Second)
	if n, err := s.SweepUploads(ctx, time.Hour); err != nil || int(n) != before || before == 0 {
		t.Fatalf("swept %d of %d: %v", n, before, err)
	}
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, io.ErrClosedPipe }

func orNil(id string) any {
	if id == "" {
		return nil
	}
	return id
}
