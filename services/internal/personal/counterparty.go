package personal

import (
	"strings"
	"unicode"
)

// Counterparties of ledger entries are organisations (kept as written) or
// private persons (masked like any name). MaskCounterparty fails closed:
// anything not recognisably an organisation is masked, however it is
// written — a name with an annotation (张小明（代收）, 张小明 13800000000,
// 李四等3人) included. Annotations in brackets are judged on their own: on a
// person they are dropped (they may name relatives or agents), on an
// organisation they are kept if they name an organisation too and replaced
// by （*） otherwise. Every number in what is kept is scrubbed (ScrubText).

// orgMarkers are words that occur in the names of organisations and shops
// but not in personal names.
var orgMarkers = []string{
	"公司", "合作社", "委员会", "村委", "居委", "银行", "信用社", "供销社", "集团",
	"商店", "超市", "饭店", "酒店", "宾馆", "农场", "林场", "政府", "医院", "卫生院", "学校",
	"小学", "中学", "幼儿园", "协会", "工作室", "经营部", "服务部", "事务所", "加油站",
	"中心", "办公室", "管理处", "电力", "供电", "水务", "燃气", "电信", "移动", "联通", "邮政", "保险",
	"有限", "股份", "厂", "店", "局", "站", "所", "部", "院", "社", "馆", "场", "队", "处", "厅",
}

// latinOrgMarkers are the same for names in Latin letters (compared in
// upper case, as whole words).
var latinOrgMarkers = map[string]bool{
	"LTD": true, "LIMITED": true, "CO": true, "INC": true, "LLC": true, "COMPANY": true, "CORP": true,
	"CORPORATION": true, "BANK": true, "GMBH": true, "AG": true, "SA": true, "PLC": true,
}

// IsOrganisationName reports whether s names an organisation: it contains
// an organisation word (公司, 合作社, …, or LTD, CO, BANK, … as a word).
func IsOrganisationName(s string) bool {
	s = NormalizeName(s)
	for _, m := range orgMarkers {
		if strings.Contains(s, m) {
			return true
		}
	}
	for _, w := range strings.FieldsFunc(strings.ToUpper(s), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if latinOrgMarkers[w] {
			return true
		}
	}
	return false
}

// brackets pair the opening and closing brackets of annotations.
var brackets = map[rune]rune{'(': ')', '（': '）', '[': ']', '【': '】', '〔': '〕', '{': '}', '<': '>', '《': '》', '〈': '〉'}

func closingBracket(r rune) bool {
	for _, c := range brackets {
		if c == r {
			return true
		}
	}
	return false
}

// splitAnnotations returns s without its bracketed parts, and those parts.
// An unclosed bracket runs to the end.
func splitAnnotations(s string) (core string, notes []string) {
	var c, note strings.Builder
	var closing []rune
	for _, r := range s {
		switch {
		case len(closing) > 0 && r == closing[len(closing)-1]:
			closing = closing[:len(closing)-1]
			if len(closing) == 0 {
				notes = append(notes, note.String())
				note.Reset()
			} else {
				note.WriteRune(r)
			}
		case brackets[r] != 0:
			if len(closing) > 0 {
				note.WriteRune(r)
			}
			closing = append(closing, brackets[r])
		case len(closing) > 0:
			note.WriteRune(r)
		default:
			c.WriteRune(r)
		}
	}
	if len(closing) > 0 {
		notes = append(notes, note.String())
	}
	return c.String(), notes
}

// MaskCounterparty returns the public form of a counterparty (see above).
// It is idempotent.
func MaskCounterparty(s string) string {
	s = strings.TrimSpace(Fold(s))
	if s == "" {
		return ""
	}
	core, notes := splitAnnotations(s)
	core = strings.TrimSpace(core)
	if core == "" {
		// Only annotations: judge them, without brackets, as the name.
		core = strings.TrimSpace(strings.Map(func(r rune) rune {
			if brackets[r] != 0 || closingBracket(r) {
				return -1
			}
			return r
		}, s))
		notes = nil
		if core == "" {
			return ""
		}
	}
	if !IsOrganisationName(core) {
		return MaskName(core)
	}
	var b strings.Builder
	b.WriteString(ScrubText(core))
	for _, n := range notes {
		if IsOrganisationName(n) {
			b.WriteString("（" + ScrubText(strings.TrimSpace(n)) + "）")
		} else {
			b.WriteString("（" + string(MaskRune) + "）")
		}
	}
	return b.String()
}
