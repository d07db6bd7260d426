package inspection

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// RunSelectionCheck evaluates a candidate's file (its latest sections) and
// declarations against list, and records and audits the check.
func (s *Service) RunSelectionCheck(ctx context.Context, p identity.Principal, fileID string, list NegativeList, req SelectionCheckRequest) (SelectionCheck, error) {
	var out SelectionCheck
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		f, err := s.loadIntegrityFile(ctx, tx, fileID, false)
		if err != nil {
			return err
		}
		sections, err := currentSections(ctx, tx, f.ID)
		if err != nil {
			return err
		}
		now := s.now()
		out = SelectionCheck{ID: uuid.NewString(), FileID: f.ID, CheckedAt: now, CheckedBy: p.IdentityID, Answers: req.Answers, Note: req.Note,
			CheckResult: list.Evaluate(sections, req.Answers, now)}
		doc, err := json.Marshal(out)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO selection_checks (id, file_id, list_version, eligible, result, checked_at, checked_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, out.ID, f.ID, list.Version, out.Eligible, doc, now, p.IdentityID); err != nil {
			return err
		}
		secs := make([]string, 0, len(sections))
		for sec := range sections {
			secs = append(secs, string(sec))
		}
		slices.Sort(secs)
		return s.audit(ctx, tx, p, AuditSelectionCheck, f.ID, f.Village, secs, true, out.Status)
	})
	return out, err
}

// SelectionChecks lists a file's checks, newest first, at most n.
func (s *Service) SelectionChecks(ctx context.Context, p identity.Principal, fileID string, n int) ([]SelectionCheck, error) {
	var list []SelectionCheck
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		f, err := s.loadIntegrityFile(ctx, tx, fileID, false)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT result FROM selection_checks WHERE file_id = $1 ORDER BY checked_at DESC, id LIMIT $2`, f.ID, n)
		if err != nil {
			return err
		}
		if list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (SelectionCheck, error) {
			var c SelectionCheck
			var doc []byte
			if err := row.Scan(&doc); err != nil {
				return c, err
			}
			return c, json.Unmarshal(doc, &c)
		}); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, AuditReadChecks, f.ID, f.Village, nil, true, "")
	})
	return list, err
}
