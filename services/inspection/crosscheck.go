package inspection

// Cross-checks (大数据比对, as Hunan's "Internet + supervision" platform
// does): every subsidy payment the disclosure service announces is compared
// with the relatives on record in the integrity files of the same village's
// cadres, and with the register of deceased persons. Both sides are keyed
// hashes of ID numbers (HashIDNumber), so no ID number is needed here. A
// match is a flag (crosscheck_flags), a rating fact of the village
// (FactCrossCheck) and an event (eventsv1.TypeCrossCheckFlagged), all in the
// transaction that consumes the payment; recording a relative or a death
// later checks the payments already known, so the order of arrival does not
// matter.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/ratingrules"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// FactCrossCheck is a cross-check flag; its subkind is the flag's kind
// (eventsv1.CrossCheckPayeeRelative, eventsv1.CrossCheckPayeeDeceased).
// Its default points are in ratingrules.Default.
const FactCrossCheck = ratingrules.FactCrossCheck

var hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// payment is a subsidy payment as stored.
type payment struct {
	eventsv1.PaymentRecorded
	paidOn time.Time
}

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
	var problems []string
	if strings.TrimSpace(p.PaymentID) == "" {
		problems = append(problems, "no paymentId")
	}
	if !identity.ValidVillage(p.Village) || (ev.Village != "" && ev.Village != p.Village) {
		problems = append(problems, fmt.Sprintf("village %q (event's %q) is not a valid, matching village code", p.Village, ev.Village))
	}
	if !hashPattern.MatchString(p.PayeeIDHash) {
		problems = append(problems, "payeeIdHash is not 64 lower-case hex characters")
	}
	paid, err := time.ParseInLocation(time.DateOnly, p.Date, Shanghai)
	if err != nil {
		problems = append(problems, fmt.Sprintf("date %q is not YYYY-MM-DD", p.Date))
	}
	if p.AmountFen < 0 {
		problems = append(problems, "negative amountFen")
	}
	if len(problems) > 0 {
		return events.Permanent(fmt.Errorf("payment event %s: %s", ev.ID, strings.Join(problems, "; ")))
	}
	if _, err := tx.Exec(ctx, `INSERT INTO subsidy_payments (payment_id, event_id, village, programme, name_masked, id_hash, amount_fen, paid_on, recorded_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (payment_id) DO NOTHING`,
		p.PaymentID, ev.ID, p.Village, p.Programme, p.PayeeNameMasked, p.PayeeIDHash, p.AmountFen, paid, s.now()); err != nil {
		return err
	}
	_, err = s.crossCheckPayment(ctx, tx, payment{PaymentRecorded: p, paidOn: paid})
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
		note := "补贴收款人为本村干部亲属"
		if h.kind == eventsv1.CrossCheckPayeeDeceased {
			note = "补贴发放时收款人已登记死亡"
		}
		if p.Programme != "" {
			note = p.Programme + "：" + note
		}
		if _, err := s.ApplyFact(ctx, tx, Fact{ID: factID, Village: p.Village, Kind: FactCrossCheck, Subkind: h.kind,
			At: p.paidOn.Add(12 * time.Hour), Ref: p.PaymentID, Note: note}); err != nil {
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

func (s *Service) crossCheckRoutes(srv *httpapi.Server) {
	srv.HandleFunc("POST /v1/deceased-persons", s.addDeceased)
	srv.HandleFunc("POST /v1/deceased-persons/import", s.importDeceased)
	srv.HandleFunc("GET /v1/deceased-persons", s.listDeceased)
	srv.HandleFunc("GET /v1/crosscheck-flags", s.listCrossCheckFlags)
}

// DeceasedPerson is an entry of the register of deceased persons.
type DeceasedPerson struct {
	IDNumber   string    `json:"idNumber,omitempty"` // input only, never stored or returned
	Name       string    `json:"name,omitempty"`     // input only: stored masked
	DiedOn     string    `json:"diedOn"`
	IDMasked   string    `json:"idMasked,omitempty"`
	NameMasked string    `json:"nameMasked,omitempty"`
	Source     string    `json:"source,omitempty"`
	RecordedAt time.Time `json:"recordedAt,omitzero"`
	RecordedBy string    `json:"recordedBy,omitempty"`
}

type deceasedRow struct {
	hash, idMasked, nameMasked string
	diedOn                     time.Time
}

// parseDeceased validates one entry; field names the entry ("" or "row 3: ").
func (s *Service) parseDeceased(field, idNumber, name, diedOn string) (deceasedRow, []httpapi.FieldError) {
	var errs []httpapi.FieldError
	n := personal.NormalizeIDNumber(idNumber)
	if !personal.ValidIDNumber(n) {
		errs = append(errs, httpapi.FieldError{Field: field + "idNumber", Detail: "is not a valid resident ID number"})
	}
	if strings.TrimSpace(name) == "" || tooLong(name, 50) {
		errs = append(errs, httpapi.FieldError{Field: field + "name", Detail: "is required, at most 50 characters"})
	}
	d, err := time.ParseInLocation(time.DateOnly, strings.TrimSpace(diedOn), Shanghai)
	if err != nil {
		errs = append(errs, httpapi.FieldError{Field: field + "diedOn", Detail: "must be YYYY-MM-DD"})
	} else if d.After(s.now()) {
		errs = append(errs, httpapi.FieldError{Field: field + "diedOn", Detail: "is in the future"})
	}
	return deceasedRow{hash: personal.HashID(s.Integrity.IDHashKey, n), idMasked: personal.MaskIDNumber(n), nameMasked: personal.MaskName(name), diedOn: d}, errs
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

func (s *Service) addDeceased(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditDeceasedWrite, true)
	if !ok {
		return
	}
	var req DeceasedPerson
	if !s.hashReady(w, r) || !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	row, errs := s.parseDeceased("", req.IDNumber, req.Name, req.DiedOn)
	if len(errs) > 0 {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(errs...))
		return
	}
	flagged, err := s.saveDeceased(r.Context(), p, "manual", []deceasedRow{row})
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"entry": DeceasedPerson{DiedOn: req.DiedOn, IDMasked: row.idMasked, NameMasked: row.nameMasked,
		Source: "manual", RecordedAt: s.now(), RecordedBy: p.IdentityID}, "flagged": flagged})
}

// csvColumns maps the accepted headers (English or Chinese) to fields.
var csvColumns = map[string]string{
	"idnumber": "id", "身份证号": "id", "身份证号码": "id",
	"name": "name", "姓名": "name",
	"diedon": "died", "死亡日期": "died",
}

// importDeceased imports a CSV (text/csv, UTF-8, header row naming the
// columns idNumber/身份证号, name/姓名, diedOn/死亡日期): all rows or none.
func (s *Service) importDeceased(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditDeceasedWrite, true)
	if !ok {
		return
	}
	if !s.hashReady(w, r) {
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "text/csv" {
		w.Header().Set("Accept", "text/csv")
		httpapi.WriteProblem(w, r, httpapi.UnsupportedMediaType(r.Header.Get("Content-Type")).With("expected", "text/csv"))
		return
	}
	cr := csv.NewReader(r.Body)
	cr.FieldsPerRecord = -1
	records, err := cr.ReadAll()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpapi.WriteProblem(w, r, httpapi.BodyTooLarge(mbe.Limit))
			return
		}
		httpapi.WriteProblem(w, r, httpapi.BadRequest("the body is not valid CSV: "+err.Error()))
		return
	}
	if len(records) < 2 {
		httpapi.WriteProblem(w, r, httpapi.BadRequest("the CSV needs a header row (idNumber,name,diedOn or 身份证号,姓名,死亡日期) and at least one entry"))
		return
	}
	col := map[string]int{}
	for i, h := range records[0] {
		if f, ok := csvColumns[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))]; ok {
			col[f] = i
		}
	}
	if len(col) != 3 {
		httpapi.WriteProblem(w, r, httpapi.BadRequest(fmt.Sprintf("the header row %q must name the columns idNumber, name and diedOn (or 身份证号, 姓名, 死亡日期)", strings.Join(records[0], ","))))
		return
	}
	cell := func(rec []string, f string) string {
		if i := col[f]; i < len(rec) {
			return rec[i]
		}
		return ""
	}
	var list []deceasedRow
	var errs []httpapi.FieldError
	for i, rec := range records[1:] {
		row, e := s.parseDeceased(fmt.Sprintf("row %d: ", i+2), cell(rec, "id"), cell(rec, "name"), cell(rec, "died"))
		errs = append(errs, e...)
		list = append(list, row)
	}
	if len(errs) > 0 {
		if len(errs) > 50 {
			errs = errs[:50]
		}
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(errs...))
		return
	}
	flagged, err := s.saveDeceased(r.Context(), p, "csv", list)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, map[string]any{"imported": len(list), "flagged": flagged})
}

func (s *Service) listDeceased(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditDeceasedRead, false)
	if !ok {
		return
	}
	var list []DeceasedPerson
	err := store.InTx(r.Context(), s.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(r.Context(), `SELECT id_masked, name_masked, died_on, source, recorded_at, recorded_by
			FROM deceased_persons ORDER BY recorded_at DESC, id_hash LIMIT $1`, limit(r))
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
		return s.audit(r.Context(), tx, p, AuditDeceasedRead, "", "", []string{"deceased"}, true, "")
	})
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}

// CrossCheckFlag is a flag as listed.
type CrossCheckFlag struct {
	ID              string          `json:"id"`
	Kind            string          `json:"kind"`
	Village         string          `json:"village"`
	PaymentID       string          `json:"paymentId"`
	Programme       string          `json:"programme"`
	PayeeNameMasked string          `json:"payeeNameMasked"`
	AmountFen       int64           `json:"amountFen"`
	PaidOn          string          `json:"paidOn"`
	FactID          string          `json:"factId"`
	Detail          json.RawMessage `json:"detail"`
	FlaggedAt       time.Time       `json:"flaggedAt"`
}

// listCrossCheckFlags lists flags, newest first (?village= narrows). The
// detail names cadres and relations, so the integrity-file rule applies.
func (s *Service) listCrossCheckFlags(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditCrossCheckRead, false)
	if !ok {
		return
	}
	village, prob := villageParam(r)
	if prob != nil {
		httpapi.WriteProblem(w, r, prob)
		return
	}
	var list []CrossCheckFlag
	err := store.InTx(r.Context(), s.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(r.Context(), `SELECT f.id::text, f.kind, f.village, f.payment_id, p.programme, p.name_masked, p.amount_fen, p.paid_on,
				f.fact_id, f.detail, f.flagged_at
			FROM crosscheck_flags f JOIN subsidy_payments p USING (payment_id)
			WHERE $1 = '' OR f.village = $1 ORDER BY f.flagged_at DESC, f.id LIMIT $2`, village, limit(r))
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
		return s.audit(r.Context(), tx, p, AuditCrossCheckRead, "", village, []string{"crosscheck-flags"}, true, "")
	})
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}
