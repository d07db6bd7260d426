package disclosure

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/personal"
)

var testKey = []byte("disclosure-test-key")

// Three households (ID numbers valid under GB 11643).
const (
	idZhang  = "330283199001011238"
	idOuyang = "11010519491231002X"
	idAyi    = "330213198506150029"
)

func payment(t *testing.T, id, programme, name, idNumber string, fen int64, paidOn string) Payment {
	t.Helper()
	p, err := NewPayment(testKey, PaymentInput{ID: id, Village: village, Programme: programme, HouseholdName: name,
		IDNumber: idNumber, AmountFen: fen, PaidOn: paidOn, RecordedBy: "finance-1", RecordedAt: recordedAt})
	if err != nil {
		t.Fatalf("NewPayment %s: %v", id, err)
	}
	return p
}

// samplePayments: Zhang is paid twice, one payment reversed; Ouyang and
// Ayi once each.
func samplePayments(t *testing.T) []Payment {
	t.Helper()
	ps := []Payment{
		payment(t, "p1", "耕地地力保护补贴", "张小明", idZhang, 52_300, "2024-05-20"),
		payment(t, "p2", "耕地地力保护补贴", "欧阳小锋", idOuyang, 61_000, "2024-05-20"),
		payment(t, "p3", "生态公益林补偿", "张小明", idZhang, 12_000, "2024-09-01"),
		payment(t, "p4", "耕地地力保护补贴", "阿依古丽·买买提", idAyi, 30_000, "2024-05-21"),
	}
	r, err := ReversePayment(ps[2], "面积核减，重新发放", "finance-1", recordedAt)
	if err != nil {
		t.Fatal(err)
	}
	ps = append(ps, r)
	var stored []Payment
	for _, p := range ps {
		if err := ValidatePayment(p, stored); err != nil {
			t.Fatalf("ValidatePayment %s: %v", p.ID, err)
		}
		stored = append(stored, p)
	}
	return stored
}

func TestNewPaymentKeepsNoIDNumber(t *testing.T) {
	p := payment(t, "p1", "耕地地力保护补贴", " 张 小明 ", "３３０２８３ 19900101123８", 52_300, "2024-05-20")
	if p.IDPrefix != "330283" || p.IDLast4 != "1238" || p.IDHash != personal.HashID(testKey, idZhang) || p.HouseholdName != "张小明" {
		t.Errorf("payment = %+v", p)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{idZhang, "19900101", "3302831990"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("stored payment contains %q: %s", secret, data)
		}
	}
	if p.MaskedIDNumber() != "330283********1238" {
		t.Errorf("masked = %s", p.MaskedIDNumber())
	}

	for _, bad := range []string{"", "330283199001011237", "330283900101123", "not a number"} {
		_, err := NewPayment(testKey, PaymentInput{ID: "p", IDNumber: bad})
		var fe domainerr.FieldErrors
		if !errors.As(err, &fe) || !fe.Has("idNumber") {
			t.Errorf("NewPayment(%q) = %v, want an idNumber error", bad, err)
		}
	}
}

func TestValidatePayment(t *testing.T) {
	existing := samplePayments(t)
	good := payment(t, "p9", "农机购置补贴", "李四", "330213198506150029", 100_000, "2024-10-10")
	goodReversal, err := ReversePayment(existing[1], "重复发放", "finance-2", recordedAt)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		base   Payment
		change func(p *Payment)
		fields []string
	}{
		{"valid", good, func(p *Payment) {}, nil},
		{"valid reversal", goodReversal, func(p *Payment) {}, nil},
		{"no id", good, func(p *Payment) { p.ID = "" }, []string{"id"}},
		{"editing a payment", good, func(p *Payment) { p.ID = "p1" }, []string{"id"}},
		{"bad village", good, func(p *Payment) { p.Village = "" }, []string{"village"}},
		{"no programme", good, func(p *Payment) { p.Programme = "" }, []string{"programme"}},
		{"no name", good, func(p *Payment) { p.HouseholdName = "" }, []string{"householdName"}},
		{"unnormalised name", good, func(p *Payment) { p.HouseholdName = " 李四" }, []string{"householdName"}},
		{"hash missing", good, func(p *Payment) { p.IDHash = "" }, []string{"idHash"}},
		{"full number instead of hash", good, func(p *Payment) { p.IDHash = "330213198506150029" }, []string{"idHash"}},
		{"bad prefix", good, func(p *Payment) { p.IDPrefix = "33021319" }, []string{"idPrefix"}},
		{"bad last four", good, func(p *Payment) { p.IDLast4 = "12" }, []string{"idLast4"}},
		{"zero amount", good, func(p *Payment) { p.AmountFen = 0 }, []string{"amountFen"}},
		{"negative amount", good, func(p *Payment) { p.AmountFen = -1 }, []string{"amountFen"}},
		{"bad date", good, func(p *Payment) { p.PaidOn = "2024-13-01" }, []string{"paidOn"}},
		{"paid after recording", good, func(p *Payment) { p.PaidOn = "2025-01-01" }, []string{"paidOn"}},
		{"no recorder", good, func(p *Payment) { p.RecordedBy = "" }, []string{"recordedBy"}},
		{"no recording time", good, func(p *Payment) { p.RecordedAt = time.Time{} }, []string{"recordedAt"}},
		{"reason without reversal", good, func(p *Payment) { p.Reason = "x" }, []string{"reason"}},
		{"reversal without reason", goodReversal, func(p *Payment) { p.Reason = "" }, []string{"reason"}},
		{"reversal of nothing", goodReversal, func(p *Payment) { p.Reverses = "nope" }, []string{"reverses"}},
		{"second reversal", goodReversal, func(p *Payment) { *p = existing[4]; p.ID = "p10" }, []string{"reverses"}},
		{"reversal of a reversal", goodReversal, func(p *Payment) { p.Reverses = existing[4].ID }, []string{"reverses"}},
		{"reversal across villages", goodReversal, func(p *Payment) { p.Village = otherVillage }, []string{"reverses"}},
		{"reversal to someone else", goodReversal, func(p *Payment) { p.HouseholdName = "李四" }, []string{"householdName"}},
		{"reversal with another amount", goodReversal, func(p *Payment) { p.AmountFen = 1 }, []string{"amountFen"}},
		{"reversal of another programme", goodReversal, func(p *Payment) { p.Programme = "其他" }, []string{"programme"}},
		{"reversal with another ID", goodReversal, func(p *Payment) { p.IDLast4 = "0000" }, []string{"idHash"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.base
			tc.change(&p)
			err := ValidatePayment(p, existing)
			if len(tc.fields) == 0 {
				if err != nil {
					t.Fatalf("ValidatePayment: %v", err)
				}
				return
			}
			var fe domainerr.FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("ValidatePayment = %v, want errors on %v", err, tc.fields)
			}
			for _, f := range tc.fields {
				if !fe.Has(f) {
					t.Errorf("ValidatePayment = %v, want an error on %s", err, f)
				}
			}
			if len(fe) != len(tc.fields) {
				t.Errorf("ValidatePayment = %v, want errors on exactly %v", err, tc.fields)
			}
		})
	}
}

func TestReversePayment(t *testing.T) {
	ps := samplePayments(t)
	r := ps[4]
	if r.Reverses != "p3" || r.Reason != "面积核减，重新发放" || r.AmountFen != 12_000 || r.NetFen() != -12_000 ||
		r.IDHash != ps[2].IDHash || r.ID == "" || r.ID == "p3" {
		t.Errorf("reversal = %+v", r)
	}
	again, _ := ReversePayment(ps[2], "x", "y", recordedAt)
	if again.ID != r.ID {
		t.Error("reversal id not derived from the original's")
	}
	for _, tc := range []struct {
		name       string
		orig       Payment
		reason, by string
		field      string
	}{
		{"no reason", ps[0], "", "finance-1", "reason"},
		{"no recorder", ps[0], "错", "", "recordedBy"},
		{"reversal of a reversal", r, "错", "finance-1", "reverses"},
		{"no original", Payment{}, "错", "finance-1", "reverses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReversePayment(tc.orig, tc.reason, tc.by, recordedAt)
			var fe domainerr.FieldErrors
			if !errors.As(err, &fe) || !fe.Has(tc.field) {
				t.Errorf("ReversePayment = %v, want an error on %s", err, tc.field)
			}
		})
	}
}

func TestPublicPayments(t *testing.T) {
	pub := PublicPayments(samplePayments(t))
	want := []struct {
		id, name, idNumber, amount string
		reversed                   bool
	}{
		{"p1", "张*明", "330283********1238", "523.00", false},
		{"p2", "欧**锋", "110105********002X", "610.00", false},
		{"p4", "阿******提", "330213********0029", "300.00", false},
		{"p3", "张*明", "330283********1238", "120.00", true},
		{"", "张*明", "330283********1238", "-120.00", false}, // the reversal
	}
	if len(pub) != len(want) {
		t.Fatalf("%d public payments", len(pub))
	}
	for i, w := range want {
		p := pub[i]
		if (w.id != "" && p.ID != w.id) || p.Name != w.name || p.IDNumber != w.idNumber || p.Amount != w.amount || p.Reversed != w.reversed {
			t.Errorf("public payment %d = %+v, want %+v", i, p, w)
		}
	}
	if pub[3].ReversedBy != pub[4].ID || pub[4].Reverses != "p3" || pub[4].Reason == "" {
		t.Errorf("reversal links: %+v / %+v", pub[3], pub[4])
	}
	data, _ := json.Marshal(pub)
	for _, secret := range []string{"张小明", "欧阳小锋", "买买提", "19900101", idZhang, personal.HashID(testKey, idZhang)} {
		if strings.Contains(string(data), secret) {
			t.Errorf("public output contains %q", secret)
		}
	}
}

func TestSummarizePayments(t *testing.T) {
	got := SummarizePayments(samplePayments(t), 2024)
	want := []ProgrammeTotals{
		{Programme: "生态公益林补偿", Payments: 0, Households: 0, AmountFen: 0},
		{Programme: "耕地地力保护补贴", Payments: 3, Households: 3, AmountFen: 143_300},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SummarizePayments = %+v, want %+v", got, want)
	}
	if got := SummarizePayments(samplePayments(t), 2023); len(got) != 0 {
		t.Errorf("2023 = %+v", got)
	}
}

// codeOf is the lookup code of the household with ID number id in village.
func codeOf(id string) string { return LookupCode(testKey, village, personal.HashID(testKey, id)) }

func TestLookupOwn(t *testing.T) {
	ps := samplePayments(t)
	ids := func(found []Payment) []string {
		var out []string
		for _, p := range found {
			out = append(out, p.ID)
		}
		return out
	}
	reversalID := ps[4].ID
	zhang := codeOf(idZhang)
	for _, tc := range []struct {
		name, idNumber, householdName, code string
		key                                 []byte
		want                                []string
	}{
		{"own payments, reversal included", idZhang, "张小明", zhang, testKey, []string{"p1", "p3", reversalID}},
		{"another household", idOuyang, "欧阳小锋", codeOf(idOuyang), testKey, []string{"p2"}},
		{"middle dot typed differently", idAyi, "阿依古丽・买买提", codeOf(idAyi), testKey, []string{"p4"}},
		{"lower-case x and spaces", "110105 19491231 002x", " 欧阳 小锋 ", codeOf(idOuyang), testKey, []string{"p2"}},
		{"full-width digits", "３３０２８３１９９００１０１１２３８", "张小明", zhang, testKey, []string{"p1", "p3", reversalID}},
		{"code in lower case without dash", idZhang, "张小明", strings.ToLower(strings.ReplaceAll(zhang, "-", " ")), testKey, []string{"p1", "p3", reversalID}},

		{"wrong name", idZhang, "张小红", zhang, testKey, nil},
		{"masked name", idZhang, "张*明", zhang, testKey, nil},
		{"surname only", idZhang, "张", zhang, testKey, nil},
		{"right name, wrong ID", "330283199001021234", "张小明", zhang, testKey, nil},
		{"someone else's ID with own name", idOuyang, "张小明", zhang, testKey, nil},
		{"no such person", "330283200002294562", "王五", zhang, testKey, nil},
		{"invalid ID", "330283199001011237", "张小明", zhang, testKey, nil},
		{"empty ID", "", "张小明", zhang, testKey, nil},
		{"empty name", idZhang, "", zhang, testKey, nil},
		{"other key", idZhang, "张小明", zhang, []byte("other"), nil},
		{"no code", idZhang, "张小明", "", testKey, nil},
		{"another household's code", idZhang, "张小明", codeOf(idOuyang), testKey, nil},
		{"a code guessed", idZhang, "张小明", "0000-0000", testKey, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := LookupOwn(ps, tc.key, tc.idNumber, tc.householdName, tc.code)
			if !reflect.DeepEqual(ids(got), tc.want) {
				t.Errorf("LookupOwn = %v, want %v", ids(got), tc.want)
			}
			if tc.want == nil && got != nil {
				t.Errorf("LookupOwn = %#v, want nil", got)
			}
		})
	}

	// No oracle: a wrong name or a wrong code for a real recipient answers
	// exactly like a person who does not exist.
	wrongName := LookupOwn(ps, testKey, idZhang, "张小红", zhang)
	wrongCode := LookupOwn(ps, testKey, idZhang, "张小明", codeOf(idAyi))
	nobody := LookupOwn(ps, testKey, "330283200002294562", "王五", codeOf("330283200002294562"))
	if !reflect.DeepEqual(wrongName, nobody) || wrongName != nil || wrongCode != nil {
		t.Errorf("wrong name %#v, wrong code %#v vs nobody %#v", wrongName, wrongCode, nobody)
	}

	// Latin names match without regard to case.
	latin := payment(t, "p20", "高龄津贴", "John Smith", "330283200002294562", 10_000, "2024-06-01")
	if got := LookupOwn([]Payment{latin}, testKey, "330283200002294562", "JOHN  smith", codeOf("330283200002294562")); len(got) != 1 {
		t.Errorf("Latin lookup = %v", got)
	}
}

func TestLookupCode(t *testing.T) {
	a, b := codeOf(idZhang), codeOf(idOuyang)
	shape := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)
	if !shape.MatchString(a) || !shape.MatchString(b) || a == b {
		t.Fatalf("codes %q %q", a, b)
	}
	if c := LookupCode(testKey, otherVillage, personal.HashID(testKey, idZhang)); c == a {
		t.Errorf("the same code in another village: %q", c)
	}
	if c := LookupCode([]byte("other"), village, personal.HashID(testKey, idZhang)); c == a {
		t.Errorf("the same code under another key: %q", c)
	}
	for in, want := range map[string]string{
		a: a, strings.ToLower(a): a, strings.ReplaceAll(a, "-", ""): a, " " + a[:4] + " " + a[5:] + " ": a,
		"O1IL-0000": "0111-0000", "ＡＢＣＤ－１２３４": "ABCD-1234", "ABCD-123": "", "ABCD-12345": "", "ABCU-1234": "", "": "",
	} {
		if got := NormalizeLookupCode(in); got != want {
			t.Errorf("NormalizeLookupCode(%q) = %q, want %q", in, got, want)
		}
	}
}
