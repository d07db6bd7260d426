package inspection

import (
	"context"
	"testing"
)

// signDrafts signs every draft notice, oldest first, as the town's
// discipline office: what tests written before the sign-off need to find
// the notices issued.
func signDrafts(t testing.TB, s *Service) []*StoredNotice {
	t.Helper()
	ctx := context.Background()
	drafts, err := s.queryNotices(ctx, s.Pool, `status = 'draft' ORDER BY drafted_at, id`)
	if err != nil {
		t.Fatal(err)
	}
	var out []*StoredNotice
	disc := testDisc
	disc.Town = s.Town
	for _, d := range drafts {
		n, err := s.SignNotice(ctx, disc, d.ID)
		if err != nil {
			t.Fatalf("signing %s: %v", d.ID, err)
		}
		out = append(out, n)
	}
	return out
}
