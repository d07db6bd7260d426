package inspection

// The integrity files' storage. Every operation runs in one transaction
// with its audit row (integrity.go's header): a read whose audit row
// cannot be written fails instead of going unrecorded.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// audit appends a row to the integrity audit.
func (s *Service) audit(ctx context.Context, q execer, p identity.Principal, action, fileID, village string, sections []string, allowed bool, detail string) error {
	if sections == nil {
		sections = []string{}
	}
	var file any
	if _, err := uuid.Parse(fileID); err == nil {
		file = fileID
	}
	_, err := q.Exec(ctx, `INSERT INTO integrity_audit (at, actor_id, actor_email, role, actor_town, action, file_id, village, sections, allowed, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		s.now(), p.IdentityID, p.Email, string(p.Role), p.Town, action, file, village, sections, allowed, detail)
	return err
}

// auditRefused records an attempt the access rule refused, outside any
// transaction (there is nothing else to write).
func (s *Service) auditRefused(ctx context.Context, p identity.Principal, action, fileID, detail string) error {
	return s.audit(ctx, s.Pool, p, action, fileID, "", nil, false, detail)
}

var errNoFile = httpapi.NotFound("no such integrity file")

// loadIntegrityFile reads a file's header; a file of another town, or an
// id that is not a uuid, is not found.
func (s *Service) loadIntegrityFile(ctx context.Context, q querier, id string, lock bool) (IntegrityFile, error) {
	var f IntegrityFile
	if _, err := uuid.Parse(id); err != nil {
		return f, errNoFile
	}
	sql := `SELECT id::text, town, village, cadre_name, cadre_post, cadre_id_masked, created_at, created_by
		FROM integrity_files WHERE id = $1 AND town = $2`
	if lock {
		sql += " FOR UPDATE"
	}
	err := q.QueryRow(ctx, sql, id, s.Town).Scan(&f.ID, &f.Town, &f.Village, &f.CadreName, &f.CadrePost, &f.CadreIDMasked, &f.CreatedAt, &f.CreatedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, errNoFile
	}
	return f, err
}

func scanSectionVersions(rows pgx.Rows) ([]SectionVersion, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SectionVersion, error) {
		var v SectionVersion
		var sec string
		var doc []byte
		if err := r.Scan(&sec, &v.Version, &doc, &v.RecordedAt, &v.RecordedBy, &v.RecordedRole); err != nil {
			return v, err
		}
		v.Section = Section(sec)
		return v, json.Unmarshal(doc, &v.Content)
	})
}

// currentSections returns the latest version of every section of a file.
func currentSections(ctx context.Context, tx pgx.Tx, fileID string) (map[Section]SectionVersion, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT ON (section) section, version, content, recorded_at, recorded_by, recorded_role
		FROM integrity_sections WHERE file_id = $1 ORDER BY section, version DESC`, fileID)
	if err != nil {
		return nil, err
	}
	list, err := scanSectionVersions(rows)
	if err != nil {
		return nil, err
	}
	out := make(map[Section]SectionVersion, len(list))
	for _, v := range list {
		out[v.Section] = v
	}
	return out, nil
}

func relativesOf(ctx context.Context, tx pgx.Tx, fileID string) ([]Relative, error) {
	rows, err := tx.Query(ctx, `SELECT id::text, name, relation, id_masked, recorded_at, recorded_by
		FROM integrity_relatives WHERE file_id = $1 AND removed_at IS NULL ORDER BY recorded_at, id`, fileID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Relative, error) {
		var x Relative
		return x, r.Scan(&x.ID, &x.Name, &x.Relation, &x.IDMasked, &x.RecordedAt, &x.RecordedBy)
	})
}

// CreateIntegrityFile stores a new file (its cadre's ID number as hash and
// masked form, both empty when not given).
func (s *Service) CreateIntegrityFile(ctx context.Context, p identity.Principal, f IntegrityFile, idHash string) error {
	return store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO integrity_files (id, town, village, cadre_name, cadre_post, cadre_id_hash, cadre_id_masked, created_at, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, f.ID, f.Town, f.Village, f.CadreName, f.CadrePost, idHash, f.CadreIDMasked, f.CreatedAt, f.CreatedBy); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, AuditCreate, f.ID, f.Village, nil, true, "")
	})
}

// IntegrityFiles lists the town's files (of one village unless village is
// empty), headers only, at most n.
func (s *Service) IntegrityFiles(ctx context.Context, p identity.Principal, village string, n int) ([]IntegrityFile, error) {
	var list []IntegrityFile
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text, town, village, cadre_name, cadre_post, cadre_id_masked, created_at, created_by
			FROM integrity_files WHERE town = $1 AND ($2 = '' OR village = $2) ORDER BY village, cadre_name, id LIMIT $3`, s.Town, village, n)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (IntegrityFile, error) {
			var f IntegrityFile
			return f, row.Scan(&f.ID, &f.Town, &f.Village, &f.CadreName, &f.CadrePost, &f.CadreIDMasked, &f.CreatedAt, &f.CreatedBy)
		})
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, p, AuditList, "", village, nil, true, fmt.Sprintf("%d files", len(list)))
	})
	return list, err
}

// IntegrityFileByID reads a whole file: header, latest sections, relatives.
func (s *Service) IntegrityFileByID(ctx context.Context, p identity.Principal, id string) (IntegrityFile, error) {
	var f IntegrityFile
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		if f, err = s.loadIntegrityFile(ctx, tx, id, false); err != nil {
			return err
		}
		if f.Sections, err = currentSections(ctx, tx, f.ID); err != nil {
			return err
		}
		if f.Relatives, err = relativesOf(ctx, tx, f.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, AuditRead, f.ID, f.Village, []string{allSectionsAuditMark}, true, "")
	})
	return f, err
}

// WriteSection appends a version of a section (content validated by the
// caller); a version other than the current one is a 409.
func (s *Service) WriteSection(ctx context.Context, p identity.Principal, id string, section Section, req WriteSectionRequest) (SectionVersion, error) {
	var out SectionVersion
	doc, err := json.Marshal(req.Content)
	if err != nil {
		return out, err
	}
	err = store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		// Locking the file serialises the versions of its sections.
		f, err := s.loadIntegrityFile(ctx, tx, id, true)
		if err != nil {
			return err
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM integrity_sections WHERE file_id = $1 AND section = $2`,
			f.ID, string(section)).Scan(&current); err != nil {
			return err
		}
		if req.Version != nil && *req.Version != current {
			return httpapi.Conflict(fmt.Sprintf("section %s is at version %d, not %d: read it again and reapply your change", section, current, *req.Version)).
				With("currentVersion", current)
		}
		out = SectionVersion{Section: section, Version: current + 1, Content: req.Content, RecordedAt: s.now(), RecordedBy: p.IdentityID, RecordedRole: string(p.Role)}
		if _, err := tx.Exec(ctx, `INSERT INTO integrity_sections (file_id, section, version, content, recorded_at, recorded_by, recorded_role)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, f.ID, string(section), out.Version, doc, out.RecordedAt, out.RecordedBy, out.RecordedRole); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, AuditWriteSection, f.ID, f.Village, []string{string(section)}, true, fmt.Sprintf("version %d", out.Version))
	})
	return out, err
}

// SectionHistory lists every version of a section, newest first.
func (s *Service) SectionHistory(ctx context.Context, p identity.Principal, id string, section Section) ([]SectionVersion, error) {
	var list []SectionVersion
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		f, err := s.loadIntegrityFile(ctx, tx, id, false)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT section, version, content, recorded_at, recorded_by, recorded_role
			FROM integrity_sections WHERE file_id = $1 AND section = $2 ORDER BY version DESC`, f.ID, string(section))
		if err != nil {
			return err
		}
		if list, err = scanSectionVersions(rows); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, AuditReadHistory, f.ID, f.Village, []string{string(section)}, true, "")
	})
	return list, err
}

// AddRelative records a relative (ID number as idHash) and cross-checks the
// payments already recorded against them; it returns how many it flagged.
func (s *Service) AddRelative(ctx context.Context, p identity.Principal, id string, rel Relative, idHash string) (int, error) {
	var flagged int
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		f, err := s.loadIntegrityFile(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO integrity_relatives (id, file_id, name, relation, id_hash, id_masked, recorded_at, recorded_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, rel.ID, f.ID, rel.Name, rel.Relation, idHash, rel.IDMasked, rel.RecordedAt, rel.RecordedBy); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23505" {
				return httpapi.Conflict("this relative is already on record in the file")
			}
			return err
		}
		if err := s.audit(ctx, tx, p, AuditAddRelative, f.ID, f.Village, []string{"relatives"}, true, rel.Relation); err != nil {
			return err
		}
		// Payments already recorded are checked against the new relative.
		flagged, err = s.recheckPayments(ctx, tx, idHash)
		return err
	})
	return flagged, err
}

// RemoveRelative stamps a relative removed: the record of who was once a
// relative stays.
func (s *Service) RemoveRelative(ctx context.Context, p identity.Principal, id, relative string) error {
	return store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		f, err := s.loadIntegrityFile(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if _, err := uuid.Parse(relative); err != nil {
			return httpapi.NotFound("no such relative")
		}
		tag, err := tx.Exec(ctx, `UPDATE integrity_relatives SET removed_at = $1, removed_by = $2
			WHERE id = $3 AND file_id = $4 AND removed_at IS NULL`, s.now(), p.IdentityID, relative, f.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return httpapi.NotFound("no such relative")
		}
		return s.audit(ctx, tx, p, AuditRemoveRelative, f.ID, f.Village, []string{"relatives"}, true, relative)
	})
}

// IntegrityAudit lists the town's integrity audit, newest first, below seq
// before, of one file unless file is empty; reading it is audited too.
func (s *Service) IntegrityAudit(ctx context.Context, p identity.Principal, file string, before int64, n int) ([]AuditEntry, error) {
	var list []AuditEntry
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		// Only entries about this town's files, or made by this town's staff
		// and the district's, are this town's audit.
		rows, err := tx.Query(ctx, `SELECT a.seq, a.at, a.actor_id, a.actor_email, a.role, a.actor_town, a.action, coalesce(a.file_id::text, ''),
				a.village, a.sections, a.allowed, a.detail
			FROM integrity_audit a LEFT JOIN integrity_files f ON f.id = a.file_id
			WHERE a.seq < $1 AND ($2 = '' OR a.file_id::text = $2) AND (f.town = $3 OR (f.id IS NULL AND a.actor_town IN ($3, '')) OR a.actor_town = $3)
			ORDER BY a.seq DESC LIMIT $4`, before, file, s.Town, n)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditEntry, error) {
			var e AuditEntry
			return e, row.Scan(&e.Seq, &e.At, &e.ActorID, &e.ActorEmail, &e.Role, &e.ActorTown, &e.Action, &e.FileID, &e.Village, &e.Sections, &e.Allowed, &e.Detail)
		})
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, p, AuditReadAudit, file, "", nil, true, "")
	})
	return list, err
}
