package gateway

import (
	"context"
	"testing"

	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// signAllDrafts signs every draft notice of the inspection service as its
// town's discipline office: a grade change only drafts a notice, and the
// village sees it once signed.
func signAllDrafts(t testing.TB, s *inspection.Service) {
	t.Helper()
	ctx := context.Background()
	drafts, err := s.ListNotices(ctx, inspection.NoticeFilter{Status: inspection.NoticeDraft}, 200)
	if err != nil {
		t.Fatal(err)
	}
	disc := identity.Principal{IdentityID: "console-test-discipline", Role: identity.RoleTownDiscipline, Town: s.Town}
	for _, d := range drafts {
		if _, err := s.SignNotice(ctx, disc, d.ID); err != nil {
			t.Fatalf("signing notice %s: %v", d.ID, err)
		}
	}
}
