package disclosure

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

const (
	village      = "330213100201"
	otherVillage = "330213100202"
)

var recordedAt = time.Date(2024, 12, 20, 9, 0, 0, 0, tz.Shanghai)

// entry builds a valid ordinary entry; seq is its sequence number.
func entry(id string, seq int64, kind Kind, cat Category, fen int64, date string) Entry {
	return Entry{ID: id, Village: village, Seq: seq, Kind: kind, Category: cat, AmountFen: fen, Date: date,
		Description: "摘要" + id, RecordedBy: "finance-1", RecordedAt: recordedAt}
}

// book appends entries one by one as the service would, failing on error.
func book(t *testing.T, entries ...Entry) []Entry {
	t.Helper()
	return appendAll(t, nil, entries...)
}

// appendAll appends more entries to an existing ledger.
func appendAll(t *testing.T, all []Entry, more ...Entry) []Entry {
	t.Helper()
	for _, e := range more {
		got, err := Append(all, e)
		if err != nil {
			t.Fatalf("append %s: %v", e.ID, err)
		}
		all = append(all, got)
	}
	return all
}

func TestCategories(t *testing.T) {
	seen := map[Category]bool{}
	kinds := map[Kind]int{}
	for _, c := range Categories {
		if seen[c.ID] || c.Name == "" {
			t.Errorf("category %+v duplicated or unnamed", c)
		}
		seen[c.ID] = true
		kinds[c.Kind]++
		if got, ok := LookupCategory(c.ID); !ok || got != c || c.ID.Name() != c.Name {
			t.Errorf("LookupCategory(%s) = %+v, %v", c.ID, got, ok)
		}
	}
	if kinds[KindIncome] != 5 || kinds[KindSpending] != 4 || len(Categories) != 9 {
		t.Errorf("categories per kind = %v", kinds)
	}
	if _, ok := LookupCategory("bribes"); ok || Category("bribes").Name() != "bribes" {
		t.Error("unknown category found")
	}
	if KindIncome.Label() != "收入" || KindSpending.Label() != "支出" {
		t.Error("kind labels")
	}
}

func TestValidate(t *testing.T) {
	existing := []Entry{
		entry("e1", 1, KindIncome, CategoryContractIncome, 500000, "2024-03-01"),
		entry("e2", 2, KindSpending, CategoryPublicWelfareExpenses, 120000, "2024-03-05"),
		{ID: "e3", Village: village, Seq: 3, Kind: KindSpending, Category: CategoryPublicWelfareExpenses, AmountFen: 120000,
			Date: "2024-03-05", Description: "摘要e2", Reverses: "e2", Reason: "重复记账", RecordedBy: "finance-1", RecordedAt: recordedAt},
		{ID: "x1", Village: otherVillage, Seq: 1, Kind: KindIncome, Category: CategoryOtherIncome, AmountFen: 100,
			Date: "2024-01-01", Description: "他村", RecordedBy: "finance-2", RecordedAt: recordedAt},
	}
	good := entry("e4", 4, KindSpending, CategoryManagementExpenses, 8800, "2024-04-01")
	goodReversal := existing[0]
	goodReversal.ID, goodReversal.Seq, goodReversal.Reverses, goodReversal.Reason = "e4", 4, "e1", "合同金额录入错误"

	for _, tc := range []struct {
		name   string
		change func(e *Entry)
		base   *Entry
		fields []string // fields expected in the error; none: valid
	}{
		{name: "valid", change: func(e *Entry) {}},
		{name: "valid reversal", base: &goodReversal, change: func(e *Entry) {}},
		{name: "masked person as counterparty", change: func(e *Entry) { e.Counterparty = "张*明" }},
		{name: "company as counterparty", change: func(e *Entry) { e.Counterparty = "宁波某某建设有限公司" }},
		{name: "dated the day it is recorded", change: func(e *Entry) { e.Date = "2024-12-20" }},

		{name: "no id", change: func(e *Entry) { e.ID = "" }, fields: []string{"id"}},
		{name: "editing an existing entry", change: func(e *Entry) { e.ID = "e1" }, fields: []string{"id"}},
		{name: "bad village", change: func(e *Entry) { e.Village = "xikou" }, fields: []string{"village"}},
		{name: "gap in sequence", change: func(e *Entry) { e.Seq = 5 }, fields: []string{"seq"}},
		{name: "reused sequence", change: func(e *Entry) { e.Seq = 3 }, fields: []string{"seq"}},
		{name: "unknown kind", change: func(e *Entry) { e.Kind = "transfer" }, fields: []string{"kind"}},
		{name: "no kind, no category", change: func(e *Entry) { e.Kind, e.Category = "", "" }, fields: []string{"kind", "category"}},
		{name: "unknown category", change: func(e *Entry) { e.Category = "gifts" }, fields: []string{"category"}},
		{name: "income category on spending", change: func(e *Entry) { e.Category = CategorySubsidyIncome }, fields: []string{"category"}},
		{name: "zero amount", change: func(e *Entry) { e.AmountFen = 0 }, fields: []string{"amountFen"}},
		{name: "negative amount", change: func(e *Entry) { e.AmountFen = -100 }, fields: []string{"amountFen"}},
		{name: "absurd amount", change: func(e *Entry) { e.AmountFen = MaxAmountFen + 1 }, fields: []string{"amountFen"}},
		{name: "date not a date", change: func(e *Entry) { e.Date = "2024-02-30" }, fields: []string{"date"}},
		{name: "date in another format", change: func(e *Entry) { e.Date = "2024/04/01" }, fields: []string{"date"}},
		{name: "date after recording", change: func(e *Entry) { e.Date = "2024-12-21" }, fields: []string{"date"}},
		{name: "no description", change: func(e *Entry) { e.Description = "  " }, fields: []string{"description"}},
		{name: "long description", change: func(e *Entry) { e.Description = string(make([]rune, MaxDescription+1)) }, fields: []string{"description"}},
		{name: "invalid UTF-8", change: func(e *Entry) { e.Description = "\xff\xfe" }, fields: []string{"description"}},
		{name: "unmasked person", change: func(e *Entry) { e.Counterparty = "张小明" }, fields: []string{"counterparty"}},
		{name: "unmasked Latin person", change: func(e *Entry) { e.Counterparty = "John Smith" }, fields: []string{"counterparty"}},
		{name: "reason without reversal", change: func(e *Entry) { e.Reason = "改" }, fields: []string{"reason"}},
		{name: "no recorder", change: func(e *Entry) { e.RecordedBy = "" }, fields: []string{"recordedBy"}},
		{name: "no recording time", change: func(e *Entry) { e.RecordedAt = time.Time{} }, fields: []string{"recordedAt"}},
		{name: "several problems at once", change: func(e *Entry) { e.AmountFen, e.Description, e.Kind = 0, "", "x" },
			fields: []string{"amountFen", "description", "kind"}},

		{name: "reversal without reason", base: &goodReversal, change: func(e *Entry) { e.Reason = " " }, fields: []string{"reason"}},
		{name: "reversal of nothing", base: &goodReversal, change: func(e *Entry) { e.Reverses = "nope" }, fields: []string{"reverses"}},
		{name: "reversal across villages", base: &goodReversal, change: func(e *Entry) { e.Reverses = "x1" }, fields: []string{"reverses"}},
		{name: "reversal of a reversal", base: &goodReversal, change: func(e *Entry) { e.Reverses = "e3" }, fields: []string{"reverses"}},
		{name: "second reversal", base: &goodReversal, change: func(e *Entry) {
			e.Reverses, e.Kind, e.Category, e.AmountFen, e.Date = "e2", KindSpending, CategoryPublicWelfareExpenses, 120000, "2024-03-05"
		}, fields: []string{"reverses"}},
		{name: "reversal with another amount", base: &goodReversal, change: func(e *Entry) { e.AmountFen = 400000 }, fields: []string{"amountFen"}},
		{name: "reversal with another date", base: &goodReversal, change: func(e *Entry) { e.Date = "2024-04-01" }, fields: []string{"date"}},
		{name: "reversal with another category", base: &goodReversal, change: func(e *Entry) { e.Category = CategoryOtherIncome }, fields: []string{"category"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := good
			if tc.base != nil {
				e = *tc.base
			}
			tc.change(&e)
			err := Validate(e, existing)
			if len(tc.fields) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var fe domainerr.FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("Validate = %v, want domainerr.FieldErrors on %v", err, tc.fields)
			}
			for _, f := range tc.fields {
				if !fe.Has(f) || !strings.Contains(err.Error(), f+": ") {
					t.Errorf("Validate = %v, want an error on %s", err, f)
				}
			}
			if len(fe) != len(tc.fields) {
				t.Errorf("Validate = %v, want errors on exactly %v", err, tc.fields)
			}
		})
	}
}

func TestAppendNumbersPerVillage(t *testing.T) {
	all := book(t,
		entry("a", 0, KindIncome, CategoryOperatingIncome, 100, "2024-01-02"),
		entry("b", 0, KindIncome, CategoryOperatingIncome, 100, "2024-01-02"),
	)
	other := entry("c", 0, KindIncome, CategoryOperatingIncome, 100, "2024-01-02")
	other.Village = otherVillage
	c, err := Append(all, other)
	if err != nil {
		t.Fatal(err)
	}
	if all[0].Seq != 1 || all[1].Seq != 2 || c.Seq != 1 {
		t.Errorf("seqs = %d %d %d, want 1 2 1", all[0].Seq, all[1].Seq, c.Seq)
	}
	if NextSeq(append(all, c), village) != 3 {
		t.Error("NextSeq")
	}
}

func TestReverse(t *testing.T) {
	all := book(t, entry("e1", 0, KindSpending, CategoryOtherExpenses, 30000, "2024-05-06"))
	orig := all[0]
	orig.Counterparty, orig.TrackingNumber, orig.InstanceID = "张*明", "WX-2024-0001", "inst-1"
	all[0] = orig
	now := time.Date(2024, 7, 1, 10, 0, 0, 0, tz.Shanghai)

	r, err := Reverse(orig, " 付款对象错误 ", "finance-2", now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Reverses != "e1" || r.Reason != "付款对象错误" || r.RecordedBy != "finance-2" || !r.RecordedAt.Equal(now) {
		t.Errorf("reversal = %+v", r)
	}
	if r.AmountFen != orig.AmountFen || r.Date != orig.Date || r.Kind != orig.Kind || r.Category != orig.Category ||
		r.TrackingNumber != orig.TrackingNumber || r.Counterparty != orig.Counterparty {
		t.Errorf("reversal does not mirror its original: %+v", r)
	}
	if r.NetFen() != -30000 || r.BalanceFen() != 30000 || orig.BalanceFen() != -30000 {
		t.Errorf("effects: net %d balance %d / %d", r.NetFen(), r.BalanceFen(), orig.BalanceFen())
	}
	again, _ := Reverse(orig, "再次", "finance-2", now)
	if again.ID != r.ID || r.ID == "" || r.ID == orig.ID {
		t.Errorf("reversal ids %q %q: want the same derived id", r.ID, again.ID)
	}
	r, err = Append(all, r)
	if err != nil {
		t.Fatalf("append reversal: %v", err)
	}
	all = append(all, r)
	if r.Seq != 2 {
		t.Errorf("reversal seq = %d", r.Seq)
	}

	// Reversing twice is refused, whatever the id.
	again.ID = "fresh-id"
	if _, err := Append(all, again); err == nil {
		t.Error("second reversal accepted")
	}
	for _, tc := range []struct {
		name           string
		orig           Entry
		reason, by     string
		wantErrorField string
	}{
		{"no reason", orig, "", "finance-2", "reason"},
		{"blank reason", orig, " \t", "finance-2", "reason"},
		{"long reason", orig, string(make([]rune, MaxReason+1)), "finance-2", "reason"},
		{"no recorder", orig, "错", "", "recordedBy"},
		{"reversal of a reversal", r, "错", "finance-2", "reverses"},
		{"original without id", Entry{}, "错", "finance-2", "reverses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Reverse(tc.orig, tc.reason, tc.by, now)
			var fe domainerr.FieldErrors
			if !errors.As(err, &fe) || !fe.Has(tc.wantErrorField) {
				t.Errorf("Reverse = %v, want an error on %s", err, tc.wantErrorField)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	all := book(t,
		entry("i1", 0, KindIncome, CategoryContractIncome, 1_000_000, "2024-01-15"),
		entry("i2", 0, KindIncome, CategorySubsidyIncome, 250_000, "2024-03-10"),
		entry("s1", 0, KindSpending, CategoryManagementExpenses, 40_000, "2024-01-20"),
		entry("s2", 0, KindSpending, CategoryPublicWelfareExpenses, 300_000, "2024-03-31"),
		entry("s3", 0, KindSpending, CategoryPublicWelfareExpenses, 30_000, "2024-03-31"), // wrong: will be reversed
		entry("old", 0, KindIncome, CategoryOtherIncome, 999, "2023-12-31"),
	)
	next := entry("next", 0, KindSpending, CategoryOtherExpenses, 777, "2025-01-01")
	next.RecordedAt = time.Date(2025, 1, 2, 9, 0, 0, 0, tz.Shanghai)
	all = appendAll(t, all, next)
	rev, err := Reverse(all[4], "金额录错，应为3000元", "finance-1", recordedAt)
	if err != nil {
		t.Fatal(err)
	}
	all = appendAll(t, all, rev, entry("s3b", 0, KindSpending, CategoryPublicWelfareExpenses, 300_000, "2024-03-31"))

	s := Summarize(all, 2024)
	if s.Year != 2024 || s.IncomeFen != 1_250_000 || s.SpendingFen != 640_000 || s.BalanceFen != 610_000 {
		t.Errorf("totals: income %d spending %d balance %d", s.IncomeFen, s.SpendingFen, s.BalanceFen)
	}
	for _, tc := range []struct {
		month                        int
		income, spending, bal, cumul int64
	}{
		{1, 1_000_000, 40_000, 960_000, 960_000},
		{2, 0, 0, 0, 960_000},
		{3, 250_000, 600_000, -350_000, 610_000},
		{12, 0, 0, 0, 610_000},
	} {
		m := s.Months[tc.month-1]
		if m.Month != tc.month || m.IncomeFen != tc.income || m.SpendingFen != tc.spending || m.BalanceFen != tc.bal || m.CumulativeFen != tc.cumul {
			t.Errorf("month %d = %+v", tc.month, m)
		}
	}
	wantCat := map[Category]int64{
		CategoryContractIncome: 1_000_000, CategorySubsidyIncome: 250_000,
		CategoryManagementExpenses: 40_000, CategoryPublicWelfareExpenses: 600_000,
	}
	if len(s.Categories) != len(Categories) {
		t.Fatalf("%d categories", len(s.Categories))
	}
	for i, c := range s.Categories {
		if c.Category != Categories[i].ID || c.Name != Categories[i].Name || c.AmountFen != wantCat[c.Category] {
			t.Errorf("category %d = %+v", i, c)
		}
	}
	// Every entry of the year is listed, the wrong one and its reversal
	// included and flagged, by date then sequence.
	var ids []string
	for _, l := range s.Lines {
		ids = append(ids, l.ID)
	}
	want := []string{"i1", "s1", "i2", "s2", "s3", rev.ID, "s3b"}
	if len(ids) != len(want) {
		t.Fatalf("lines = %v, want %v", ids, want)
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("lines = %v, want %v", ids, want)
		}
	}
	wrong, reversal := s.Lines[4], s.Lines[5]
	if !wrong.Reversed || wrong.ReversedBy != rev.ID || wrong.ReversedBySeq != 8 {
		t.Errorf("reversed line = %+v", wrong)
	}
	if !reversal.IsReversal() || reversal.ReversesSeq != 5 || reversal.Reversed {
		t.Errorf("reversal line = %+v", reversal)
	}

	if empty := Summarize(nil, 2024); empty.IncomeFen != 0 || len(empty.Lines) != 0 || len(empty.Categories) != 9 || empty.Months[11].Month != 12 {
		t.Errorf("empty summary = %+v", empty)
	}
	// Malformed dates (never stored, but never a panic either) are skipped.
	bad := Summarize([]Entry{{ID: "z", Kind: KindIncome, AmountFen: 1, Date: "2024"}}, 2024)
	if len(bad.Lines) != 0 {
		t.Error("malformed date summarised")
	}
}

func TestFromInstanceCompleted(t *testing.T) {
	// 2024-03-31 16:30 UTC is already 1 April in Shanghai.
	completed := time.Date(2024, 3, 31, 16, 30, 0, 0, time.UTC)
	ev := func(item, category string, fen int64, payee string) eventsv1.InstanceCompleted {
		return eventsv1.InstanceCompleted{
			InstanceRef: eventsv1.InstanceRef{InstanceID: "inst-" + item, TrackingNumber: "WX-" + item, ItemID: item,
				ItemName: "事项" + item, Category: category, CatalogVersion: "fenghua-2020"},
			Title: "支付" + item, AmountFen: fen, PayeeName: payee, CompletedAt: completed,
		}
	}
	for _, tc := range []struct {
		name     string
		ev       eventsv1.InstanceCompleted
		booked   bool
		kind     Kind
		category Category
		payee    string
	}{
		{"expenditure", ev("funds-expenditure", "funds", 128000, "张小明"), true, KindSpending, CategoryOtherExpenses, "张*明"},
		{"non-productive spending", ev("funds-non-productive-spending", "funds", 5000, "溪口镇某某饭店"), true, KindSpending, CategoryManagementExpenses, "溪口镇某某饭店"},
		{"project settlement", ev("project-settlement", "project", 2_000_000, "宁波某某建设有限公司"), true, KindSpending, CategoryPublicWelfareExpenses, "宁波某某建设有限公司"},
		{"procurement", ev("project-procurement", "project", 9000, ""), true, KindSpending, CategoryOtherExpenses, ""},
		{"asset disposal is income", ev("funds-asset-disposal", "funds", 60000, "欧阳小锋"), true, KindIncome, CategoryOtherIncome, "欧**锋"},
		{"unmapped funds item", ev("funds-something-new", "funds", 100, ""), true, KindSpending, CategoryOtherExpenses, ""},
		{"lease contract not booked", ev("funds-asset-lease", "funds", 80000, ""), false, "", "", ""},
		{"borrowing not booked", ev("funds-borrowing", "funds", 80000, ""), false, "", "", ""},
		{"subsidies not booked", ev("funds-subsidy-distribution", "funds", 80000, ""), false, "", "", ""},
		{"tendering not booked", ev("project-tendering", "project", 80000, ""), false, "", "", ""},
		{"decision not booked", ev("decision-major-matters", "decision", 80000, ""), false, "", "", ""},
		{"no amount", ev("funds-expenditure", "funds", 0, ""), false, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, ok := FromInstanceCompleted(tc.ev, village)
			if ok != tc.booked {
				t.Fatalf("booked = %v, want %v", ok, tc.booked)
			}
			if !ok {
				return
			}
			if e.Kind != tc.kind || e.Category != tc.category || e.Counterparty != tc.payee ||
				e.AmountFen != tc.ev.AmountFen || e.Date != "2024-04-01" || e.Village != village ||
				e.InstanceID != tc.ev.InstanceID || e.TrackingNumber != tc.ev.TrackingNumber ||
				e.Description != tc.ev.Title || e.RecordedBy != WorkflowRecorder || !e.RecordedAt.Equal(completed) {
				t.Errorf("entry = %+v", e)
			}
			again, _ := FromInstanceCompleted(tc.ev, village)
			if e.ID == "" || again.ID != e.ID {
				t.Errorf("ids %q %q: want one derived id per instance", e.ID, again.ID)
			}
			if _, err := Append(nil, e); err != nil {
				t.Errorf("derived entry invalid: %v", err)
			}
		})
	}
	// A redelivered event is refused as a duplicate.
	e, _ := FromInstanceCompleted(ev("funds-expenditure", "funds", 100, ""), village)
	all := book(t, e)
	if _, err := Append(all, e); err == nil {
		t.Error("duplicate event booked twice")
	}
	// A title too long for a description is cut, not refused.
	long := ev("funds-expenditure", "funds", 100, "")
	long.Title = strings.Repeat("修", MaxDescription+50)
	if e, _ := FromInstanceCompleted(long, village); utf8.RuneCountInString(e.Description) != MaxDescription {
		t.Errorf("description of %d characters", utf8.RuneCountInString(e.Description))
	} else if _, err := Append(nil, e); err != nil {
		t.Error(err)
	}
	// The item name stands in for a missing title.
	noTitle := ev("funds-expenditure", "funds", 100, "")
	noTitle.Title = ""
	if e, _ := FromInstanceCompleted(noTitle, village); e.Description != "事项funds-expenditure" {
		t.Errorf("description = %q", e.Description)
	}
}

func TestFormatYuan(t *testing.T) {
	for _, tc := range []struct {
		fen  int64
		want string
	}{
		{0, "0.00"},
		{1, "0.01"},
		{99, "0.99"},
		{100, "1.00"},
		{123456, "1234.56"},
		{-5, "-0.05"},
		{-100, "-1.00"},
		{-123456, "-1234.56"},
		{math.MaxInt64, "92233720368547758.07"},
		{math.MinInt64, "-92233720368547758.08"},
	} {
		if got := FormatYuan(tc.fen); got != tc.want {
			t.Errorf("FormatYuan(%d) = %q, want %q", tc.fen, got, tc.want)
		}
	}
}

func TestDateOf(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2024, 12, 31, 15, 59, 59, 0, time.UTC), "2024-12-31"},
		{time.Date(2024, 12, 31, 16, 0, 0, 0, time.UTC), "2025-01-01"},
		{time.Date(2024, 6, 1, 0, 30, 0, 0, tz.Shanghai), "2024-06-01"},
	} {
		if got := DateOf(tc.t); got != tc.want {
			t.Errorf("DateOf(%v) = %s, want %s", tc.t, got, tc.want)
		}
	}
}
