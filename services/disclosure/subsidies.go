package disclosure

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wuxiao/wuxiao/api/divcode"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/personal"
)

// Payment is one subsidy payment to a household (补贴去哪了), as stored.
// The household's ID number itself is never kept: only its keyed hash (to
// let a villager find their own payments) and the parts shown in the
// masked form, the region code and the last four characters.
type Payment struct {
	ID      string `json:"id"`
	Village string `json:"village"`
	// Programme is the subsidy programme, e.g. 耕地地力保护补贴.
	Programme string `json:"programme"`
	// HouseholdName is the recipient's name in full (normalised, see
	// NormalizeName); public output only ever shows it masked.
	HouseholdName string `json:"householdName"`
	IDHash        string `json:"idHash"`
	IDPrefix      string `json:"idPrefix"` // first 6 characters (region code)
	IDLast4       string `json:"idLast4"`  // last 4 characters
	AmountFen     int64  `json:"amountFen"`
	PaidOn        string `json:"paidOn"` // YYYY-MM-DD in Shanghai
	// Reverses is the id of the payment record this one cancels; Reason
	// says why.
	Reverses   string    `json:"reverses,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	RecordedBy string    `json:"recordedBy"`
	RecordedAt time.Time `json:"recordedAt"`
}

// IsReversal reports whether the record cancels another one.
func (p Payment) IsReversal() bool { return p.Reverses != "" }

// NetFen is the amount, negative for a reversal.
func (p Payment) NetFen() int64 {
	if p.IsReversal() {
		return -p.AmountFen
	}
	return p.AmountFen
}

// MaskedIDNumber is the public form of the recipient's ID number,
// 330283********1234.
func (p Payment) MaskedIDNumber() string {
	return p.IDPrefix + strings.Repeat(string(personal.MaskRune), 8) + p.IDLast4
}

// PaymentInput is what town finance staff enter for a payment; the ID
// number is consumed by NewPayment and goes no further.
type PaymentInput struct {
	ID            string
	Village       string
	Programme     string
	HouseholdName string
	IDNumber      string
	AmountFen     int64
	PaidOn        string
	RecordedBy    string
	RecordedAt    time.Time
}

// NewPayment turns staff input into a storable payment: the ID number must
// be a valid resident ID number (a typo would make the payment impossible
// for its recipient to find) and is replaced by its keyed hash, region code
// and last four characters; the name is normalised. The caller validates
// the result with ValidatePayment against the village's payments.
func NewPayment(key []byte, in PaymentInput) (Payment, error) {
	if !personal.ValidIDNumber(in.IDNumber) {
		return Payment{}, domainerr.FieldErrors{{Field: "idNumber", Message: "is not a valid 18-character resident ID number (GB 11643)"}}
	}
	id := personal.NormalizeIDNumber(in.IDNumber)
	return Payment{
		ID:            in.ID,
		Village:       in.Village,
		Programme:     strings.TrimSpace(in.Programme),
		HouseholdName: personal.NormalizeName(in.HouseholdName),
		IDHash:        personal.HashID(key, id),
		IDPrefix:      id[:6],
		IDLast4:       id[14:],
		AmountFen:     in.AmountFen,
		PaidOn:        in.PaidOn,
		RecordedBy:    in.RecordedBy,
		RecordedAt:    in.RecordedAt,
	}, nil
}

var (
	hexHash  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	idPrefix = regexp.MustCompile(`^[1-9][0-9]{5}$`)
	idLast4  = regexp.MustCompile(`^[0-9]{3}[0-9X]$`)
)

// MaxProgramme and MaxName bound the payment's text fields, in characters.
const (
	MaxProgramme = 64
	MaxName      = 50
)

// ValidatePayment checks a new payment record against the records already
// stored (those of its village at least). It returns FieldErrors naming
// every faulty field, or nil.
func ValidatePayment(p Payment, existing []Payment) error {
	var fe domainerr.FieldErrors
	if p.ID == "" {
		fe.Add("id", "is required")
	} else if slices.ContainsFunc(existing, func(x Payment) bool { return x.ID == p.ID }) {
		fe.Add("id", "payment %s already exists: payments are never edited", p.ID)
	}
	if !divcode.Valid(p.Village) {
		fe.Add("village", "must be a 12-digit village code")
	}
	checkText(&fe, "programme", p.Programme, true, MaxProgramme)
	checkText(&fe, "householdName", p.HouseholdName, true, MaxName)
	if p.HouseholdName != personal.NormalizeName(p.HouseholdName) {
		fe.Add("householdName", "must be normalised (see NormalizeName)")
	}
	if !hexHash.MatchString(p.IDHash) {
		fe.Add("idHash", "must be a hex HMAC-SHA256")
	}
	if !idPrefix.MatchString(p.IDPrefix) {
		fe.Add("idPrefix", "must be the 6-digit region code")
	}
	if !idLast4.MatchString(p.IDLast4) {
		fe.Add("idLast4", "must be the last 4 characters of the ID number")
	}
	switch {
	case p.AmountFen <= 0:
		fe.Add("amountFen", "must be positive; a correction is a reversing record, not a negative amount")
	case p.AmountFen > MaxAmountFen:
		fe.Add("amountFen", "must not exceed %d fen", MaxAmountFen)
	}
	if p.RecordedAt.IsZero() {
		fe.Add("recordedAt", "is required")
	}
	if !validDate(p.PaidOn) {
		fe.Add("paidOn", "must be a date as YYYY-MM-DD")
	} else if !p.RecordedAt.IsZero() && p.PaidOn > DateOf(p.RecordedAt) {
		fe.Add("paidOn", "%s is after the day it was recorded (%s)", p.PaidOn, DateOf(p.RecordedAt))
	}
	checkText(&fe, "recordedBy", p.RecordedBy, true, 200)
	if p.IsReversal() {
		checkText(&fe, "reason", p.Reason, true, MaxReason)
		checkPaymentReversal(&fe, p, existing)
	} else if p.Reason != "" {
		fe.Add("reason", "only a reversing record carries a reason")
	}
	return fe.Err()
}

func checkPaymentReversal(fe *domainerr.FieldErrors, p Payment, existing []Payment) {
	i := slices.IndexFunc(existing, func(x Payment) bool { return x.ID == p.Reverses })
	if i < 0 {
		fe.Add("reverses", "no payment %s to reverse", p.Reverses)
		return
	}
	orig := existing[i]
	switch {
	case orig.Village != p.Village:
		fe.Add("reverses", "payment %s belongs to another village", orig.ID)
		return
	case orig.IsReversal():
		fe.Add("reverses", "payment %s is itself a reversal; record a new payment instead", orig.ID)
		return
	}
	if j := slices.IndexFunc(existing, func(x Payment) bool { return x.Reverses == orig.ID }); j >= 0 {
		fe.Add("reverses", "payment %s was already reversed by %s", orig.ID, existing[j].ID)
		return
	}
	for _, c := range []struct {
		field string
		same  bool
	}{
		{"programme", p.Programme == orig.Programme},
		{"householdName", p.HouseholdName == orig.HouseholdName},
		{"idHash", p.IDHash == orig.IDHash && p.IDPrefix == orig.IDPrefix && p.IDLast4 == orig.IDLast4},
		{"amountFen", p.AmountFen == orig.AmountFen},
		{"paidOn", p.PaidOn == orig.PaidOn},
	} {
		if !c.same {
			fe.Add(c.field, "a reversal must repeat its original's %s", c.field)
		}
	}
}

// ReversePayment builds the record that cancels original, with a mandatory
// reason; its id is derived from the original's. The caller validates it
// with ValidatePayment, which also refuses reversing a payment twice.
func ReversePayment(original Payment, reason, by string, now time.Time) (Payment, error) {
	var fe domainerr.FieldErrors
	if original.ID == "" {
		fe.Add("reverses", "the original payment has no id")
	}
	if original.IsReversal() {
		fe.Add("reverses", "payment %s is itself a reversal; record a new payment instead", original.ID)
	}
	checkText(&fe, "reason", reason, true, MaxReason)
	checkText(&fe, "recordedBy", by, true, 200)
	if err := fe.Err(); err != nil {
		return Payment{}, err
	}
	r := original
	r.ID = derivedID("subsidy", "reversal", original.ID)
	r.Reverses = original.ID
	r.Reason = strings.TrimSpace(reason)
	r.RecordedBy = by
	r.RecordedAt = now
	return r, nil
}

// PublicPayment is a payment as the portal shows it: name and ID number
// masked, no hash.
type PublicPayment struct {
	ID        string `json:"id"`
	Village   string `json:"village"`
	Programme string `json:"programme"`
	Name      string `json:"name"`      // 张*明
	IDNumber  string `json:"idNumber"`  // 330283********1234
	AmountFen int64  `json:"amountFen"` // as recorded: positive, also on a reversal
	Amount    string `json:"amount"`    // yuan, two decimals; negative for a reversal
	PaidOn    string `json:"paidOn"`
	Reverses  string `json:"reverses,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// Reversed is set on a payment cancelled by ReversedBy.
	Reversed   bool   `json:"reversed,omitempty"`
	ReversedBy string `json:"reversedBy,omitempty"`
}

// PublicPayments masks payments for the portal, ordered by payment date and
// programme (then as given), originals and reversals alike, flagged.
func PublicPayments(payments []Payment) []PublicPayment {
	reversedBy := make(map[string]string)
	for _, p := range payments {
		if p.IsReversal() {
			reversedBy[p.Reverses] = p.ID
		}
	}
	out := make([]PublicPayment, 0, len(payments))
	for _, p := range payments {
		pp := PublicPayment{
			ID: p.ID, Village: p.Village, Programme: personal.ScrubText(p.Programme),
			Name: personal.MaskName(p.HouseholdName), IDNumber: p.MaskedIDNumber(),
			AmountFen: p.AmountFen, Amount: FormatYuan(p.NetFen()), PaidOn: p.PaidOn,
			Reverses: p.Reverses, Reason: personal.ScrubText(p.Reason),
		}
		if r, ok := reversedBy[p.ID]; ok {
			pp.Reversed, pp.ReversedBy = true, r
		}
		out = append(out, pp)
	}
	slices.SortStableFunc(out, func(a, b PublicPayment) int {
		return cmp.Or(strings.Compare(a.PaidOn, b.PaidOn), strings.Compare(a.Programme, b.Programme))
	})
	return out
}

// ProgrammeTotals are one programme's figures for a year.
type ProgrammeTotals struct {
	Programme string `json:"programme"`
	// Payments and Households count payments not reversed, and the distinct
	// households that received them.
	Payments   int   `json:"payments"`
	Households int   `json:"households"`
	AmountFen  int64 `json:"amountFen"`
}

// SummarizePayments totals the payments made in year per programme,
// reversals netted out, ordered by programme.
func SummarizePayments(payments []Payment, year int) []ProgrammeTotals {
	reversed := make(map[string]bool)
	for _, p := range payments {
		if p.IsReversal() {
			reversed[p.Reverses] = true
		}
	}
	byProgramme := make(map[string]*ProgrammeTotals)
	households := make(map[string]map[string]bool)
	for _, p := range payments {
		if !validDate(p.PaidOn) || yearOf(p.PaidOn) != year {
			continue
		}
		t := byProgramme[p.Programme]
		if t == nil {
			t = &ProgrammeTotals{Programme: p.Programme}
			byProgramme[p.Programme] = t
			households[p.Programme] = make(map[string]bool)
		}
		t.AmountFen += p.NetFen()
		if !p.IsReversal() && !reversed[p.ID] {
			t.Payments++
			households[p.Programme][p.IDHash] = true
		}
	}
	out := make([]ProgrammeTotals, 0, len(byProgramme))
	for prog, t := range byProgramme {
		t.Households = len(households[prog])
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b ProgrammeTotals) int { return strings.Compare(a.Programme, b.Programme) })
	return out
}

// The own-payments lookup needs a second factor the public does not know.
// The masked ID number published for every payment (330283********1008)
// leaves only the birth date unknown, about 33 candidates once the birth
// year is guessed, and the name is published masked too; a lookup with the
// ID number and the name alone would confirm a guessed ID number within a
// few attempts. So each household also has a lookup code (查询码), printed
// on the payment notice (补贴发放通知单) it receives: finance staff get it
// back in the answer to every payment they record for the household (see
// staffPayment). The code is derived, not stored: the keyed hash
// (HMAC-SHA256 under the ID-hash key, which never leaves the services) of
// the village and the household's ID hash, its first 40 bits written as 8
// characters of Crockford's base32 in two groups (K7M2-9QXD). A household
// has the same code for every payment in its village; whoever does not hold
// the key cannot compute it, and 2^40 codes cannot be guessed under the
// lookup's rate limits.

// lookupCodeAlphabet is Crockford's base32: no I, L, O or U.
const lookupCodeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// LookupCode is the lookup code of the household with ID hash idHash in
// village, formatted XXXX-XXXX.
func LookupCode(key []byte, village, idHash string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("wuxiao/disclosure/lookup-code/v1\x00" + village + "\x00" + idHash))
	sum := m.Sum(nil)
	var bits uint64
	for _, b := range sum[:5] {
		bits = bits<<8 | uint64(b)
	}
	var out [9]byte
	for j := 7; j >= 0; j-- {
		out[j+j/4] = lookupCodeAlphabet[bits&31]
		bits >>= 5
	}
	out[4] = '-'
	return string(out[:])
}

// NormalizeLookupCode is the canonical form of a typed lookup code:
// full-width folded, separators and spaces dropped, upper case, and the
// letters Crockford's base32 reads as digits (O as 0, I and L as 1) mapped,
// then grouped as LookupCode writes it. Anything that cannot be a code
// gives "".
func NormalizeLookupCode(s string) string {
	var b strings.Builder
	for _, r := range personal.Fold(s) {
		switch r = unicode.ToUpper(r); {
		case r == ' ' || r == '-' || r == '_' || r == '.' || unicode.IsSpace(r):
		case r == 'O':
			b.WriteByte('0')
		case r == 'I' || r == 'L':
			b.WriteByte('1')
		case r < utf8.RuneSelf && strings.ContainsRune(lookupCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return ""
		}
	}
	c := b.String()
	if len(c) != 8 {
		return ""
	}
	return c[:4] + "-" + c[4:]
}

// LookupOwn finds a villager's own payments (reversals included): those
// whose ID hash matches idNumber under key, whose recipient name is
// exactly name (after NormalizeName; Latin letters compared without case)
// AND whose household's lookup code (see LookupCode) is code. A wrong
// code, a wrong name, a wrong ID number and an unknown person all give the
// same answer, nil, so the lookup can be used neither to learn whether
// someone received anything nor to confirm a guessed ID number. Every
// record is compared in full (constant-time comparisons, no early exit),
// so the time taken does not tell either.
func LookupOwn(payments []Payment, key []byte, idNumber, name, code string) []Payment {
	hash := personal.HashID(key, idNumber)
	want := []byte(strings.ToUpper(personal.NormalizeName(name)))
	typed := []byte(NormalizeLookupCode(code))
	valid := personal.ValidIDNumber(idNumber) && len(want) > 0 && len(typed) > 0
	var found []Payment
	for _, p := range payments {
		hashOK := hmac.Equal([]byte(p.IDHash), []byte(hash))
		nameOK := subtle.ConstantTimeCompare([]byte(strings.ToUpper(p.HouseholdName)), want) == 1
		codeOK := subtle.ConstantTimeCompare([]byte(LookupCode(key, p.Village, p.IDHash)), typed) == 1
		if hashOK && nameOK && codeOK && valid {
			found = append(found, p)
		}
	}
	return found
}
