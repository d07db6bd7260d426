// The ledger's domain (the package is described in doc.go) is pure: no
// HTTP, no database. Callers load what a rule needs (the village's existing
// entries), ask the domain, and persist what it returns.

package disclosure

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/wuxiao/wuxiao/api/divcode"
	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// Shanghai is tz.Shanghai, for the tools outside services/ that may not
// import services/internal (hack/sample-activity).
var Shanghai = tz.Shanghai

// DateOf returns t's calendar date in Shanghai as YYYY-MM-DD: a payment
// made at 00:30 Beijing time belongs to that day, wherever the server runs.
func DateOf(t time.Time) string { return t.In(tz.Shanghai).Format(time.DateOnly) }

// Kind says whether an entry is income or spending.
type Kind string

const (
	KindIncome   Kind = "income"
	KindSpending Kind = "spending"
)

// Label is the kind's name shown to villagers.
func (k Kind) Label() string {
	switch k {
	case KindIncome:
		return "收入"
	case KindSpending:
		return "支出"
	}
	return string(k)
}

// Category is a ledger heading (会计科目) of the village collective's
// accounts; the set is fixed.
type Category string

const (
	CategoryOperatingIncome       Category = "operating-income"        // 经营收入
	CategoryContractIncome        Category = "contract-income"         // 发包及上交收入
	CategorySubsidyIncome         Category = "subsidy-income"          // 补助收入
	CategoryInvestmentIncome      Category = "investment-income"       // 投资收益
	CategoryOtherIncome           Category = "other-income"            // 其他收入
	CategoryOperatingExpenses     Category = "operating-expenses"      // 经营支出
	CategoryManagementExpenses    Category = "management-expenses"     // 管理费用
	CategoryPublicWelfareExpenses Category = "public-welfare-expenses" // 公益支出
	CategoryOtherExpenses         Category = "other-expenses"          // 其他支出
)

// CategoryInfo describes a category: its Chinese name and its kind.
type CategoryInfo struct {
	ID   Category `json:"id"`
	Name string   `json:"name"`
	Kind Kind     `json:"kind"`
}

// Categories lists every category, income first, in the order of the
// village accounts; charts and summaries use this order.
var Categories = []CategoryInfo{
	{CategoryOperatingIncome, "经营收入", KindIncome},
	{CategoryContractIncome, "发包及上交收入", KindIncome},
	{CategorySubsidyIncome, "补助收入", KindIncome},
	{CategoryInvestmentIncome, "投资收益", KindIncome},
	{CategoryOtherIncome, "其他收入", KindIncome},
	{CategoryOperatingExpenses, "经营支出", KindSpending},
	{CategoryManagementExpenses, "管理费用", KindSpending},
	{CategoryPublicWelfareExpenses, "公益支出", KindSpending},
	{CategoryOtherExpenses, "其他支出", KindSpending},
}

// LookupCategory returns a category's description.
func LookupCategory(c Category) (CategoryInfo, bool) {
	i := slices.IndexFunc(Categories, func(ci CategoryInfo) bool { return ci.ID == c })
	if i < 0 {
		return CategoryInfo{}, false
	}
	return Categories[i], true
}

// Name is the category's Chinese name, or its id if it is unknown.
func (c Category) Name() string {
	if ci, ok := LookupCategory(c); ok {
		return ci.Name
	}
	return string(c)
}

// Entry is one immutable line of a village's "Our Wallet".
type Entry struct {
	ID      string `json:"id"`
	Village string `json:"village"`
	// Seq numbers a village's entries 1, 2, 3… without gaps, in the order
	// they were recorded; a gap would show that one was removed.
	Seq       int64    `json:"seq"`
	Kind      Kind     `json:"kind"`
	Category  Category `json:"category"`
	AmountFen int64    `json:"amountFen"`
	// Date is when the money moved, YYYY-MM-DD in Shanghai. A reversal
	// carries its original's date, so that it nets out in the same month.
	Date        string `json:"date"`
	Description string `json:"description"`
	// Counterparty is whom the money came from or went to; a person's name
	// is stored masked (see MaskCounterparty).
	Counterparty string `json:"counterparty,omitempty"`
	// InstanceID and TrackingNumber link the entry to the workflow process
	// that approved it.
	InstanceID     string `json:"instanceId,omitempty"`
	TrackingNumber string `json:"trackingNumber,omitempty"`
	// Reverses is the id of the entry this one cancels; Reason says why.
	Reverses   string    `json:"reverses,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	RecordedBy string    `json:"recordedBy"`
	RecordedAt time.Time `json:"recordedAt"`
}

// IsReversal reports whether the entry cancels another one.
func (e Entry) IsReversal() bool { return e.Reverses != "" }

// NetFen is the entry's amount within its kind: positive, or negative for a
// reversal.
func (e Entry) NetFen() int64 {
	if e.IsReversal() {
		return -e.AmountFen
	}
	return e.AmountFen
}

// BalanceFen is the entry's effect on the balance: income raises it,
// spending lowers it, a reversal undoes its original's effect.
func (e Entry) BalanceFen() int64 {
	if e.Kind == KindSpending {
		return -e.NetFen()
	}
	return e.NetFen()
}

// Limits of the free-text fields, in characters.
const (
	MaxDescription  = 200
	MaxReason       = 200
	MaxCounterparty = 100
	// MaxAmountFen bounds one entry (10 亿元), far below int64 overflow.
	MaxAmountFen int64 = 100_000_000_000
)

// validDate reports whether s is a YYYY-MM-DD calendar date.
func validDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// checkText validates a free-text field.
func checkText(fe *domainerr.FieldErrors, field, value string, required bool, max int) {
	switch {
	case strings.TrimSpace(value) == "":
		if required {
			fe.Add(field, "is required")
		}
	case !utf8.ValidString(value):
		fe.Add(field, "is not valid UTF-8")
	case utf8.RuneCountInString(value) > max:
		fe.Add(field, "is longer than %d characters", max)
	}
}

// NextSeq is the sequence number the next entry of village gets.
func NextSeq(existing []Entry, village string) int64 {
	var max int64
	for _, e := range existing {
		if e.Village == village && e.Seq > max {
			max = e.Seq
		}
	}
	return max + 1
}

// Validate checks a new entry against the entries already recorded (those
// of its village at least; entries of other villages only matter for id
// uniqueness and to refuse reversing across villages). It returns
// FieldErrors naming every faulty field, or nil.
func Validate(e Entry, existing []Entry) error {
	var fe domainerr.FieldErrors
	if e.ID == "" {
		fe.Add("id", "is required")
	} else if slices.ContainsFunc(existing, func(x Entry) bool { return x.ID == e.ID }) {
		fe.Add("id", "entry %s already exists: entries are never edited", e.ID)
	}
	if !divcode.Valid(e.Village) {
		fe.Add("village", "must be a 12-digit village code")
	} else if want := NextSeq(existing, e.Village); e.Seq != want {
		fe.Add("seq", "must be %d, the village's next sequence number", want)
	}
	validKind := e.Kind == KindIncome || e.Kind == KindSpending
	if !validKind {
		fe.Add("kind", "must be %q or %q", KindIncome, KindSpending)
	}
	if ci, known := LookupCategory(e.Category); !known {
		fe.Add("category", "unknown category %q", e.Category)
	} else if validKind && ci.Kind != e.Kind {
		fe.Add("category", "%s (%s) is not a category of %s", ci.Name, ci.ID, e.Kind)
	}
	switch {
	case e.AmountFen <= 0:
		fe.Add("amountFen", "must be positive; a correction is a reversing entry, not a negative amount")
	case e.AmountFen > MaxAmountFen:
		fe.Add("amountFen", "must not exceed %d fen", MaxAmountFen)
	}
	if e.RecordedAt.IsZero() {
		fe.Add("recordedAt", "is required")
	}
	if !validDate(e.Date) {
		fe.Add("date", "must be a date as YYYY-MM-DD")
	} else if !e.RecordedAt.IsZero() && e.Date > DateOf(e.RecordedAt) {
		fe.Add("date", "%s is after the day it was recorded (%s)", e.Date, DateOf(e.RecordedAt))
	}
	checkText(&fe, "description", e.Description, true, MaxDescription)
	checkText(&fe, "counterparty", e.Counterparty, false, MaxCounterparty)
	if masked := MaskCounterparty(e.Counterparty); masked != e.Counterparty {
		fe.Add("counterparty", "must be stored masked unless an organisation (%s)", masked)
	}
	checkText(&fe, "recordedBy", e.RecordedBy, true, 200)
	if e.IsReversal() {
		checkText(&fe, "reason", e.Reason, true, MaxReason)
		checkReversal(&fe, e, existing)
	} else if e.Reason != "" {
		fe.Add("reason", "only a reversing entry carries a reason")
	}
	return fe.Err()
}

// checkReversal validates that e cancels an existing, not yet reversed,
// ordinary entry of its village, with exactly the opposite effect.
func checkReversal(fe *domainerr.FieldErrors, e Entry, existing []Entry) {
	i := slices.IndexFunc(existing, func(x Entry) bool { return x.ID == e.Reverses })
	if i < 0 {
		fe.Add("reverses", "no entry %s to reverse", e.Reverses)
		return
	}
	orig := existing[i]
	switch {
	case orig.Village != e.Village:
		fe.Add("reverses", "entry %s belongs to another village", orig.ID)
		return
	case orig.IsReversal():
		fe.Add("reverses", "entry %s is itself a reversal; record a new entry instead", orig.ID)
		return
	}
	if j := slices.IndexFunc(existing, func(x Entry) bool { return x.Reverses == orig.ID }); j >= 0 {
		fe.Add("reverses", "entry %s was already reversed by %s", orig.ID, existing[j].ID)
		return
	}
	for _, c := range []struct {
		field     string
		same      bool
		got, want any
	}{
		{"kind", e.Kind == orig.Kind, e.Kind, orig.Kind},
		{"category", e.Category == orig.Category, e.Category, orig.Category},
		{"amountFen", e.AmountFen == orig.AmountFen, e.AmountFen, orig.AmountFen},
		{"date", e.Date == orig.Date, e.Date, orig.Date},
	} {
		if !c.same {
			fe.Add(c.field, "a reversal must repeat its original's %s (%v, not %v)", c.field, c.want, c.got)
		}
	}
}

// idNamespace derives deterministic ids (UUID v5) for the records the
// domain creates itself, so that a retried request or a redelivered event
// produces the same id and the store refuses the duplicate.
var idNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:wuxiao:disclosure"))

func derivedID(parts ...string) string {
	return uuid.NewSHA1(idNamespace, []byte(strings.Join(parts, "/"))).String()
}

// Reverse builds the entry that cancels original, with a mandatory reason.
// The reversal repeats the original's kind, category, amount, date,
// description, counterparty and process link; its id is derived from the
// original's (an entry can be reversed once). The caller sets Seq (see
// Append) and validates against the village's entries, which also refuses
// reversing an entry twice.
func Reverse(original Entry, reason, by string, now time.Time) (Entry, error) {
	var fe domainerr.FieldErrors
	if original.ID == "" {
		fe.Add("reverses", "the original entry has no id")
	}
	if original.IsReversal() {
		fe.Add("reverses", "entry %s is itself a reversal; record a new entry instead", original.ID)
	}
	checkText(&fe, "reason", reason, true, MaxReason)
	checkText(&fe, "recordedBy", by, true, 200)
	if err := fe.Err(); err != nil {
		return Entry{}, err
	}
	r := original
	r.ID = derivedID("ledger", "reversal", original.ID)
	r.Seq = 0
	r.Reverses = original.ID
	r.Reason = strings.TrimSpace(reason)
	r.RecordedBy = by
	r.RecordedAt = now
	return r, nil
}

// Append numbers e as the next entry of its village and validates it
// against the existing entries; the caller stores the returned entry (in the
// same transaction in which it read existing, under a per-village lock).
func Append(existing []Entry, e Entry) (Entry, error) {
	e.Seq = NextSeq(existing, e.Village)
	if err := Validate(e, existing); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// LedgerRule says how a completed process is booked in the wallet.
type LedgerRule struct {
	Kind     Kind
	Category Category
}

// itemRules maps the power items of the sample catalog whose completion
// moves money to the wallet heading they are booked under. Items mapped to
// nil do not move the village's money when they complete (a contract is
// signed, a budget approved, a loan recorded, subsidies paid straight to
// households' cards): they produce no entry, and the money, when it moves,
// is recorded by the process that pays it or by town finance staff.
var itemRules = map[string]*LedgerRule{
	"funds-expenditure":             {KindSpending, CategoryOtherExpenses},
	"funds-non-productive-spending": {KindSpending, CategoryManagementExpenses},
	"funds-asset-disposal":          {KindIncome, CategoryOtherIncome},
	"project-procurement":           {KindSpending, CategoryOtherExpenses},
	"project-settlement":            {KindSpending, CategoryPublicWelfareExpenses},

	"funds-accounts-and-cash":    nil, // petty cash moves between the village's own accounts
	"funds-asset-lease":          nil, // a lease contract; rent is booked when received
	"funds-land-contracting":     nil, // a contracting contract; fees are booked when received
	"funds-borrowing":            nil, // a liability, neither income nor spending
	"funds-subsidy-distribution": nil, // paid to households' cards: see Payment
	"funds-asset-inventory":      nil,
	"funds-economic-contracts":   nil,
}

// LedgerRuleFor tells how a completed process of ref's item is booked, and
// whether it is booked at all: the item's own rule if it has one, else any
// other item of the funds category (小资金) is spending under 其他支出, and
// items of other categories are not booked.
func LedgerRuleFor(ref eventsv1.InstanceRef) (LedgerRule, bool) {
	if r, ok := itemRules[ref.ItemID]; ok {
		if r == nil {
			return LedgerRule{}, false
		}
		return *r, true
	}
	if ref.Category == "funds" {
		return LedgerRule{KindSpending, CategoryOtherExpenses}, true
	}
	return LedgerRule{}, false
}

// WorkflowRecorder is the RecordedBy of entries derived from workflow events.
const WorkflowRecorder = "workflow"

// FromInstanceCompleted derives the wallet entry of a completed process in
// village; ok is false when the process does not move money (no amount, or
// an item that is not booked, see LedgerRuleFor). The id is derived from the
// instance id, so a redelivered event yields the same entry; the payee is
// masked if a person; the date is the completion day in Shanghai and
// RecordedAt the completion time. The caller numbers it with Append.
func FromInstanceCompleted(ev eventsv1.InstanceCompleted, village string) (Entry, bool) {
	rule, booked := LedgerRuleFor(ev.InstanceRef)
	if !booked || ev.AmountFen <= 0 {
		return Entry{}, false
	}
	desc := strings.TrimSpace(ev.Title)
	if desc == "" {
		desc = ev.ItemName
	}
	if utf8.RuneCountInString(desc) > MaxDescription {
		desc = string([]rune(desc)[:MaxDescription])
	}
	return Entry{
		ID:             derivedID("ledger", "instance-completed", ev.InstanceID),
		Village:        village,
		Kind:           rule.Kind,
		Category:       rule.Category,
		AmountFen:      ev.AmountFen,
		Date:           DateOf(ev.CompletedAt),
		Description:    desc,
		Counterparty:   MaskCounterparty(ev.PayeeName),
		InstanceID:     ev.InstanceID,
		TrackingNumber: ev.TrackingNumber,
		RecordedBy:     WorkflowRecorder,
		RecordedAt:     ev.CompletedAt,
	}, true
}

// FormatYuan formats fen as yuan with two decimals: 123456 → "1234.56",
// -5 → "-0.05".
func FormatYuan(fen int64) string {
	sign := ""
	u := uint64(fen)
	if fen < 0 {
		sign, u = "-", -u // two's complement: correct for math.MinInt64 too
	}
	return sign + strconv.FormatUint(u/100, 10) + fmt.Sprintf(".%02d", u%100)
}

// MonthTotals are one month's figures.
type MonthTotals struct {
	Month       int   `json:"month"`
	IncomeFen   int64 `json:"incomeFen"`
	SpendingFen int64 `json:"spendingFen"`
	// BalanceFen is the month's income minus spending; CumulativeFen the
	// same from January to the end of the month.
	BalanceFen    int64 `json:"balanceFen"`
	CumulativeFen int64 `json:"cumulativeFen"`
}

// CategoryTotals are one category's figures for the year.
type CategoryTotals struct {
	Category  Category `json:"category"`
	Name      string   `json:"name"`
	Kind      Kind     `json:"kind"`
	AmountFen int64    `json:"amountFen"`
}

// Line is an entry as listed in a summary, with its reversal flags.
type Line struct {
	Entry
	// Reversed is set on an entry cancelled by ReversedBy.
	Reversed   bool   `json:"reversed,omitempty"`
	ReversedBy string `json:"reversedBy,omitempty"`
	// ReversesSeq is the Seq of the entry a reversal cancels (0 if unknown).
	ReversesSeq int64 `json:"reversesSeq,omitempty"`
	// ReversedBySeq is the Seq of the reversal that cancels this entry.
	ReversedBySeq int64 `json:"reversedBySeq,omitempty"`
}

// Summary is a village's wallet for one year.
type Summary struct {
	Year        int   `json:"year"`
	IncomeFen   int64 `json:"incomeFen"`
	SpendingFen int64 `json:"spendingFen"`
	// BalanceFen is the year's income minus spending (not a cash balance:
	// the opening balance is not part of the ledger).
	BalanceFen int64            `json:"balanceFen"`
	Months     [12]MonthTotals  `json:"months"`
	Categories []CategoryTotals `json:"categories"`
	// Lines lists every entry of the year, reversals included, by date and
	// then sequence number.
	Lines []Line `json:"lines"`
}

// yearOf returns the year of a YYYY-MM-DD date, or 0.
func yearOf(date string) int {
	if len(date) < 4 {
		return 0
	}
	y, err := strconv.Atoi(date[:4])
	if err != nil {
		return 0
	}
	return y
}

// yearLines returns the entries dated in year, sorted by date and sequence,
// with reversal links resolved among all entries given, as the public sees
// them (publicText): every caller is a public output.
func yearLines(entries []Entry, year int) []Line {
	byID := make(map[string]Entry, len(entries))
	reversal := make(map[string]Entry)
	for _, e := range entries {
		byID[e.ID] = e
		if e.IsReversal() {
			reversal[e.Reverses] = e
		}
	}
	var lines []Line
	for _, e := range entries {
		if !validDate(e.Date) || yearOf(e.Date) != year {
			continue
		}
		l := Line{Entry: publicText(e)}
		if r, ok := reversal[e.ID]; ok {
			l.Reversed, l.ReversedBy, l.ReversedBySeq = true, r.ID, r.Seq
		}
		if e.IsReversal() {
			l.ReversesSeq = byID[e.Reverses].Seq
		}
		lines = append(lines, l)
	}
	slices.SortStableFunc(lines, func(a, b Line) int {
		if c := strings.Compare(a.Date, b.Date); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Seq, b.Seq); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return lines
}

// Summarize computes a village's wallet for year from its entries: income,
// spending and balance per month and per category, reversals netted out (a
// reversal subtracts its amount in its original's month and category), and
// every entry listed, originals and reversals flagged.
func Summarize(entries []Entry, year int) Summary {
	s := Summary{Year: year, Lines: yearLines(entries, year)}
	for i := range s.Months {
		s.Months[i].Month = i + 1
	}
	byCategory := make(map[Category]int64)
	for _, l := range s.Lines {
		month, _ := strconv.Atoi(l.Date[5:7])
		m := &s.Months[month-1]
		switch l.Kind {
		case KindIncome:
			m.IncomeFen += l.NetFen()
			s.IncomeFen += l.NetFen()
		case KindSpending:
			m.SpendingFen += l.NetFen()
			s.SpendingFen += l.NetFen()
		}
		byCategory[l.Category] += l.NetFen()
	}
	var cumulative int64
	for i := range s.Months {
		m := &s.Months[i]
		m.BalanceFen = m.IncomeFen - m.SpendingFen
		cumulative += m.BalanceFen
		m.CumulativeFen = cumulative
	}
	s.BalanceFen = s.IncomeFen - s.SpendingFen
	for _, ci := range Categories {
		s.Categories = append(s.Categories, CategoryTotals{Category: ci.ID, Name: ci.Name, Kind: ci.Kind, AmountFen: byCategory[ci.ID]})
	}
	return s
}
