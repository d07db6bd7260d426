package personal

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestScrubText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"村道路灯维修", "村道路灯维修"},
		{"身份证330283199001011238，电话13800001234", "身份证330283********1238，电话138****1234"},
		{"身份证 3302 8319 9001 0112 38 已核", "身份证 330283********1238 已核"},
		{"id 11010519491231002x.", "id 110105********002X."},
		{"id 110105 19491231 002 X", "id 110105********002X"},
		{"全角３３０２８３１９９００１０１１２３８号", "全角330283********1238号"},
		{"电话138-0000-1234或+86 139 0000 5678", "电话138****1234或+139****5678"},
		{"电话0086 13900005678", "电话139****5678"},
		{"零宽1380\u200b000\u200b1234", "零宽138****1234"},
		{"座机0574-87654321", "座机********4321"},
		{"卡号6222021234567890123", "卡号***************0123"},
		{"首代15位330283900101123", "首代15位330283******123"},
		// Not personal numbers: amounts, dates, tracking numbers, village codes.
		{"金额52300元，2026-03-01付", "金额52300元，2026-03-01付"},
		{"见流程330283100201-20260302-ABCDE", "见流程330283100201-20260302-ABCDE"},
		{"编号XK-2026-0001", "编号XK-2026-0001"},
		{"2026 03 01 13800001234", "2026 03 01 138****1234"},
		{"513800001234", "********1234"},
	} {
		if got := ScrubText(tc.in); got != tc.want {
			t.Errorf("ScrubText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskCounterparty(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"张小明", "张*明"},
		{"欧阳小锋", "欧**锋"},
		{"阿依古丽·买买提", "阿******提"},
		{"John Smith", "J***"},
		{"王", "*"},
		{"宁波市奉化区某某建筑工程有限公司", "宁波市奉化区某某建筑工程有限公司"},
		{"溪口镇农业服务中心", "溪口镇农业服务中心"},
		{"王记饭店", "王记饭店"},
		{"ABC Trading Co. Ltd", "ABC Trading Co. Ltd"},
		{"张*明", "张*明"},
		{"", ""},
		{"  ", ""},
		// Annotations fail closed.
		{"张小明（代收）", "张*明"},
		{"张小明(村民, 13800001234)", "张*明"},
		{"张小明（某某有限公司）", "张*明"},
		{"【李四】", "李*"},
		{"张小明 13800001234", "张************4"},
		{"李四等3人", "李***人"},
		{"某某建筑有限公司（负责人张小明）", "某某建筑有限公司（*）"},
		{"某某建筑有限公司（宁波分公司）", "某某建筑有限公司（宁波分公司）"},
		{"某某商店 店主电话13800001234", "某某商店 店主电话138****1234"},
		{"12345", "1***5"},
	} {
		if got := MaskCounterparty(tc.in); got != tc.want {
			t.Errorf("MaskCounterparty(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// maxFuzzText bounds the fuzzed texts: the APIs take free text of at most a
// few hundred characters, and megabyte inputs only slow the fuzzer down.
const maxFuzzText = 4096

// scrubProperties are what every scrubbed text promises.
func scrubProperties(t *testing.T, in, out string) {
	t.Helper()
	if again := ScrubText(out); again != out {
		t.Fatalf("not idempotent: %q → %q → %q", in, out, again)
	}
	if !utf8.ValidString(in) {
		return
	}
	if !utf8.ValidString(out) {
		t.Fatalf("invalid UTF-8 out of %q: %q", in, out)
	}
	// No run of 15 or more digits (full-width folded) survives.
	run := 0
	for _, r := range Fold(out) {
		if r >= '0' && r <= '9' {
			if run++; run >= 15 {
				t.Fatalf("a run of %d digits survives in %q (from %q)", run, out, in)
			}
		} else {
			run = 0
		}
	}
}

func FuzzScrubText(f *testing.F) {
	for _, s := range []string{"身份证330283199001011238，电话13800001234", "3302 8319 9001 0112 3X", "+86 139 0000 5678",
		"见流程330283100201-20260302-ABCDE", "１３８００００１２３４", "0574-87654321", "1\u200b3\u200b8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > maxFuzzText {
			return
		}
		scrubProperties(t, s, ScrubText(s))
	})
}

// FuzzScrubTextEmbedded embeds a valid ID number and a mobile number,
// written in any of the ways cadres write them, between fuzzed text: the
// scrubbed text must contain neither.
func FuzzScrubTextEmbedded(f *testing.F) {
	f.Add("户主", "，电话", "。", uint32(19900101), uint16(123), uint32(1234), uint8(0))
	f.Add("5 ", " 86 ", "X", uint32(19491231), uint16(2), uint32(5678), uint8(3))
	f.Fuzz(func(t *testing.T, before, middle, after string, birth uint32, seq uint16, last4 uint32, style uint8) {
		if len(before)+len(middle)+len(after) > maxFuzzText {
			return
		}
		date := birth%1_0000_0000 + 0
		b := []byte(strings.Repeat("0", 8))
		for i, d := 7, date; i >= 0; i, d = i-1, d/10 {
			b[i] = byte('0' + d%10)
		}
		if !ValidIDNumber("330283"+string(b)+"0000") && !validDate(string(b)) {
			b = []byte("19900101")
		}
		first17 := "330283" + string(b) + string([]byte{'0' + byte(seq/100%10), '0' + byte(seq/10%10), '0' + byte(seq%10)})
		id := first17 + string(IDCheckChar(first17))
		phone := "139" + string([]byte{'0' + byte(last4/1000%10), '0' + byte(last4/100%10), '0' + byte(last4/10%10), '0' + byte(last4%10)}) + "5678"
		written := func(s string, groups []int) string {
			var parts []string
			for _, n := range groups {
				parts, s = append(parts, s[:n]), s[n:]
			}
			return strings.Join(parts, []string{" ", "-", "\u3000", "\u200b"}[style/4%4])
		}
		var idText, phoneText string
		switch style % 4 {
		case 0:
			idText, phoneText = id, phone
		case 1:
			idText, phoneText = written(id, []int{6, 8, 4}), written(phone, []int{3, 4, 4})
		case 2:
			idText, phoneText = written(id, []int{4, 4, 4, 4, 2}), "+86 "+phone
		case 3:
			var w strings.Builder
			for _, r := range id {
				w.WriteRune(r + 0xFEE0) // full-width
			}
			idText, phoneText = w.String(), phone
		}
		in := before + " " + idText + " " + middle + " " + phoneText + " " + after
		out := ScrubText(in)
		scrubProperties(t, in, out)
		flat := strings.Map(func(r rune) rune {
			if separatorRune(r) {
				return -1
			}
			return r
		}, Fold(out))
		if strings.Contains(flat, id) || strings.Contains(flat, id[6:14]+id[14:17]) {
			t.Fatalf("ID %s survives in %q (from %q)", id, out, in)
		}
		if strings.Contains(flat, phone) || strings.Contains(flat, phone[3:7]+phone[7:]) {
			t.Fatalf("phone %s survives in %q (from %q)", phone, out, in)
		}
	})
}

func validDate(s string) bool { return plausibleBirthDate("330283" + s + "0000") }

func FuzzMaskCounterparty(f *testing.F) {
	for _, s := range []string{"张小明", "张小明（代收）", "某某建筑有限公司（负责人张小明）", "John Smith (tenant)", "【李四】", "(((", "某某商店 13800001234"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > maxFuzzText {
			return
		}
		out := MaskCounterparty(s)
		if again := MaskCounterparty(out); again != out {
			t.Fatalf("not idempotent: %q → %q → %q", s, out, again)
		}
		scrubProperties(t, s, out)
		// A person's name, however annotated, never comes out whole.
		for _, name := range []string{"张小明", "欧阳娜娜"} {
			if strings.Contains(s, name) && !IsOrganisationName(s) && strings.Contains(out, name) {
				t.Fatalf("%q shows %q: %q", s, name, out)
			}
		}
	})
}

func FuzzMaskIDNumber(f *testing.F) {
	for _, s := range []string{"330283199001011238", "11010519491231002x", "３３０２８３１９９００１０１１２３８", "330283900101123", "12345"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := MaskIDNumber(s)
		if utf8.RuneCountInString(out) != utf8.RuneCountInString(NormalizeIDNumber(s)) {
			t.Fatalf("%q masked to %q: not one character per character", s, out)
		}
		if n := NormalizeIDNumber(s); len(n) == 18 && idShape(n) == 18 && strings.Contains(out, n[6:14]) {
			t.Fatalf("%q shows the birth date: %q", s, out)
		}
	})
}

func FuzzMaskPhone(f *testing.F) {
	for _, s := range []string{"13800001234", "+86 138 0000 1234", "0574-87654321", "１３８００００１２３４", "110"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := MaskPhone(s)
		if d, ok := mobile(strings.Map(func(r rune) rune {
			if v, ok := digitValue(r); ok {
				return rune(v)
			}
			return -1
		}, s)); ok && strings.Contains(out, d[3:7]+d[7:]) && d[3:7] != "****" {
			t.Fatalf("%q shows the mobile number's middle: %q", s, out)
		}
		if strings.ContainsFunc(out, func(r rune) bool { return r != MaskRune && (r < '0' || r > '9') }) {
			t.Fatalf("%q masked to %q: not digits and stars only", s, out)
		}
	})
}
