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
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/ratingrules"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/personal"
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

// paymentProblems checks a payment event (ev carrying p) and returns the
// day it was paid on (Shanghai) and what is wrong with it, if anything.
func paymentProblems(ev eventsv1.Event, p eventsv1.PaymentRecorded) (time.Time, []string) {
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
	return paid, problems
}

// crossCheckNote is the rating fact's note of a flag.
func crossCheckNote(kind, programme string) string {
	note := "补贴收款人为本村干部亲属"
	if kind == eventsv1.CrossCheckPayeeDeceased {
		note = "补贴发放时收款人已登记死亡"
	}
	if programme != "" {
		note = programme + "：" + note
	}
	return note
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

// csvColumns maps the accepted headers (English or Chinese) to fields.
var csvColumns = map[string]string{
	"idnumber": "id", "身份证号": "id", "身份证号码": "id",
	"name": "name", "姓名": "name",
	"diedon": "died", "死亡日期": "died",
}

// parseDeceasedCSV reads the entries of an imported CSV (a header row, then
// one entry per row): a problem when the header is not understood, else
// the entries and every field at fault (at most 50).
func (s *Service) parseDeceasedCSV(records [][]string) ([]deceasedRow, []httpapi.FieldError, *httpapi.Problem) {
	if len(records) < 2 {
		return nil, nil, httpapi.BadRequest("the CSV needs a header row (idNumber,name,diedOn or 身份证号,姓名,死亡日期) and at least one entry")
	}
	col := map[string]int{}
	for i, h := range records[0] {
		if f, ok := csvColumns[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))]; ok {
			col[f] = i
		}
	}
	if len(col) != 3 {
		return nil, nil, httpapi.BadRequest(fmt.Sprintf("the header row %q must name the columns idNumber, name and diedOn (or 身份证号, 姓名, 死亡日期)", strings.Join(records[0], ",")))
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
	if len(errs) > 50 {
		errs = errs[:50]
	}
	return list, errs, nil
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
