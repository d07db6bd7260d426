package inspection

// The cross-checks' store: payments consumed, flags raised, the register
// of deceased persons.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// HandleDisclosureEvent is the events.Handler of the disclosure stream: a
// recorded subsidy payment is stored and cross-checked; other events are
// ignored. A redelivered event, or the same payment announced twice, flags
// nothing twice.
func (s *Service) HandleDisclosureEvent(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	if ev.Type != eventsv1.TypePaymentRecorded {
		return nil
	}
	if err := s.ownTown(ev); err != nil {
		return err
	}
	var p eventsv1.PaymentRecorded
	if err := ev.Decode(&p); err != nil {
		return events.Permanent(err)
	}
	paid, problems := paymentProblems(ev, p)
	if len(problems) > 0 {
		return events.Permanent(fmt.Errorf("payment event %s: %s", ev.ID, strings.Join(problems, "; ")))
	}
	if _, err := tx.Exec(ctx, `INSERT INTO subsidy_payments (payment_id, event_id, village, programme, name_masked, id_hash, amount_fen, paid_on, recorded_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (payment_id) DO NOTHING`,
		p.PaymentID, ev.ID, p.Village, p.Programme, p.PayeeNameMasked, p.PayeeIDHash, p.AmountFen, paid, s.now()); err != nil {
		return err
	}
	_, err := s.crossCheckPayment(ctx, tx, payment{PaymentRecorded: p, paidOn: paid})
	return err
}

var _ events.Handler = (*Service)(nil).HandleDisclosureEvent

// crossCheckPayment flags a payment whose payee is a relative (or the
// cadre) of a cadre of its village, or was dead on the payment date; it
// returns how many new flags it raised.
func (s *Service) crossCheckPayment(ctx context.Context, tx pgx.Tx, p payment) (int, error) {
	type found struct {
		kind   string
		detail map[string]any
	}
	var hits []found
	rows, err := tx.Query(ctx, `SELECT f.id::text, f.cadre_name, f.cadre_post, r.relation, r.id_masked
			FROM integrity_relatives r JOIN integrity_files f ON f.id = r.file_id
			WHERE r.id_hash = $1 AND r.removed_at IS NULL AND f.village = $2 AND f.town = $3
		UNION ALL
		SELECT f.id::text, f.cadre_name, f.cadre_post, '本人', f.cadre_id_masked
			FROM integrity_files f WHERE f.cadre_id_hash = $1 AND f.village = $2 AND f.town = $3
		ORDER BY 1, 4 LIMIT 20`, p.PayeeIDHash, p.Village, s.Town)
	if err != nil {
		return 0, err
	}
	var cadres []map[string]any
	for rows.Next() {
		var file, name, post, relation, masked string
		if err := rows.Scan(&file, &name, &post, &relation, &masked); err != nil {
			rows.Close()
			return 0, err
		}
		cadres = append(cadres, map[string]any{"fileId": file, "cadreName": name, "cadrePost": post, "relation": relation, "idMasked": masked})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(cadres) > 0 {
		hits = append(hits, found{eventsv1.CrossCheckPayeeRelative, map[string]any{"cadres": cadres}})
	}
	var diedOn time.Time
	var idMasked string
	err = tx.QueryRow(ctx, `SELECT died_on, id_masked FROM deceased_persons WHERE id_hash = $1`, p.PayeeIDHash).Scan(&diedOn, &idMasked)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return 0, err
	case p.Date > diedOn.Format(time.DateOnly): // paid after the day of death
		hits = append(hits, found{eventsv1.CrossCheckPayeeDeceased, map[string]any{"diedOn": diedOn.Format(time.DateOnly), "idMasked": idMasked}})
	}
	n := 0
	for _, h := range hits {
		id := uuid.NewString()
		factID := "crosscheck/" + h.kind + "/" + p.PaymentID
		detail, err := json.Marshal(h.detail)
		if err != nil {
			return n, err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO crosscheck_flags (id, payment_id, kind, village, fact_id, detail, flagged_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (payment_id, kind) DO NOTHING`,
			id, p.PaymentID, h.kind, p.Village, factID, detail, s.now())
		if err != nil {
			return n, err
		}
		if tag.RowsAffected() == 0 {
			continue // flagged before
		}
		n++
		if _, err := s.ApplyFact(ctx, tx, Fact{ID: factID, Village: p.Village, Kind: FactCrossCheck, Subkind: h.kind,
			At: p.paidOn.Add(12 * time.Hour), Ref: p.PaymentID, Note: crossCheckNote(h.kind, p.Programme)}); err != nil {
			return n, err
		}
		if err := s.publish(ctx, tx, id, eventsv1.TypeCrossCheckFlagged, p.Village, p.PaymentID, eventsv1.CrossCheckFlagged{
			FlagID: id, Kind: h.kind, Village: p.Village, PaymentID: p.PaymentID, Programme: p.Programme,
			PayeeNameMasked: p.PayeeNameMasked, AmountFen: p.AmountFen, Date: p.Date}); err != nil {
			return n, err
		}
		s.log().Info("cross-check flag", "kind", h.kind, "village", p.Village, "payment", p.PaymentID)
	}
	return n, nil
}

// recheckPayments cross-checks again the stored payments to the given
// payees (after a relative or a death was recorded).
func (s *Service) recheckPayments(ctx context.Context, tx pgx.Tx, hashes ...string) (int, error) {
	rows, err := tx.Query(ctx, `SELECT payment_id, village, programme, name_masked, id_hash, amount_fen, paid_on
		FROM subsidy_payments WHERE id_hash = ANY($1) ORDER BY paid_on, payment_id`, hashes)
	if err != nil {
		return 0, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (payment, error) {
		var p payment
		err := r.Scan(&p.PaymentID, &p.Village, &p.Programme, &p.PayeeNameMasked, &p.PayeeIDHash, &p.AmountFen, &p.paidOn)
		p.paidOn = time.Date(p.paidOn.Year(), p.paidOn.Month(), p.paidOn.Day(), 0, 0, 0, 0, Shanghai)
		p.Date = p.paidOn.Format(time.DateOnly)
		return p, err
	})
	if err != nil {
		return 0, err
	}
	total := 0
	for _, p := range list {
		n, err := s.crossCheckPayment(ctx, tx, p)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// saveDeceased records entries (a later entry for the same person corrects
// the date) and checks the payments already known to them.
func (s *Service) saveDeceased(ctx context.Context, p identity.Principal, source string, list []deceasedRow) (int, error) {
	flagged := 0
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		hashes := make([]string, 0, len(list))
		for _, d := range list {
			if _, err := tx.Exec(ctx, `INSERT INTO deceased_persons (id_hash, id_masked, name_masked, died_on, source, recorded_at, recorded_by)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id_hash) DO UPDATE SET died_on = EXCLUDED.died_on, name_masked = EXCLUDED.name_masked,
					source = EXCLUDED.source, recorded_at = EXCLUDED.recorded_at, recorded_by = EXCLUDED.recorded_by`,
				d.hash, d.idMasked, d.nameMasked, d.diedOn, source, s.now(), p.IdentityID); err != nil {
				return err
			}
			hashes = append(hashes, d.hash)
		}
		if err := s.audit(ctx, tx, p, AuditDeceasedWrite, "", "", []string{"deceased"}, true, fmt.Sprintf("%s: %d entries", source, len(list))); err != nil {
			return err
		}
		var err error
		flagged, err = s.recheckPayments(ctx, tx, hashes...)
		return err
	})
	return flagged, err
}

// DeceasedPersons lists the register, newest entries first, at most n;
// reading it is audited.
func (s *Service) DeceasedPersons(ctx context.Context, p identity.Principal, n int) ([]DeceasedPerson, error) {
	var list []DeceasedPerson
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id_masked, name_masked, died_on, source, recorded_at, recorded_by
			FROM deceased_persons ORDER BY recorded_at DESC, id_hash LIMIT $1`, n)
		if err != nil {
			return err
		}
		if list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (DeceasedPerson, error) {
			var d DeceasedPerson
			var died time.Time
			err := row.Scan(&d.IDMasked, &d.NameMasked, &died, &d.Source, &d.RecordedAt, &d.RecordedBy)
			d.DiedOn = died.Format(time.DateOnly)
			return d, err
		}); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, AuditDeceasedRead, "", "", []string{"deceased"}, true, "")
	})
	return list, err
}

// CrossCheckFlags lists flags (of one village unless village is empty),
// newest first, at most n; reading them is audited.
func (s *Service) CrossCheckFlags(ctx context.Context, p identity.Principal, village string, n int) ([]CrossCheckFlag, error) {
	var list []CrossCheckFlag
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT f.id::text, f.kind, f.village, f.payment_id, p.programme, p.name_masked, p.amount_fen, p.paid_on,
				f.fact_id, f.detail, f.flagged_at
			FROM crosscheck_flags f JOIN subsidy_payments p USING (payment_id)
			WHERE $1 = '' OR f.village = $1 ORDER BY f.flagged_at DESC, f.id LIMIT $2`, village, n)
		if err != nil {
			return err
		}
		if list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (CrossCheckFlag, error) {
			var c CrossCheckFlag
			var paid time.Time
			err := row.Scan(&c.ID, &c.Kind, &c.Village, &c.PaymentID, &c.Programme, &c.PayeeNameMasked, &c.AmountFen, &paid, &c.FactID, &c.Detail, &c.FlaggedAt)
			c.PaidOn = paid.Format(time.DateOnly)
			return c, err
		}); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, AuditCrossCheckRead, "", village, []string{"crosscheck-flags"}, true, "")
	})
	return list, err
}
