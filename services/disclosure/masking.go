package disclosure

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wuxiao/wuxiao/services/internal/personal"
)

// Ledger counterparties are masked when they look like a private person's
// name (the masking itself is services/internal/personal's).

// orgMarkers are words that occur in the names of organisations and shops
// but not in personal names; a counterparty containing one is not masked.
var orgMarkers = []string{
	"公司", "合作社", "委员会", "村委", "居委", "银行", "信用社", "供销社", "集团",
	"商店", "超市", "饭店", "酒店", "宾馆", "农场", "林场", "政府", "医院", "卫生院", "学校",
	"小学", "中学", "幼儿园", "协会", "工作室", "经营部", "服务部", "事务所", "加油站",
	"有限", "股份", "厂", "店", "局", "站", "所",
}

// latinOrgMarkers are the same for names in Latin letters (compared in
// upper case, as whole words).
var latinOrgMarkers = map[string]bool{
	"LTD": true, "LTD.": true, "LIMITED": true, "CO": true, "CO.": true, "INC": true, "INC.": true,
	"LLC": true, "COMPANY": true, "CORP": true, "CORP.": true, "CORPORATION": true, "BANK": true,
	"GMBH": true, "AG": true, "SA": true, "PLC": true,
}

// LooksLikePersonName reports whether a counterparty looks like a private
// person's name rather than an organisation's: two to four Chinese
// characters without an organisation word, a transliterated name with a
// middle dot, or one to four words of Latin letters without a company
// suffix. In doubt it answers yes: masking a shop's name is harmless,
// publishing a person's is not.
func LooksLikePersonName(s string) bool {
	s = personal.NormalizeName(s)
	if s == "" {
		return false
	}
	if personal.IsLatinName(s) {
		words := strings.Fields(strings.ToUpper(s))
		if len(words) > 4 {
			return false
		}
		for _, w := range words {
			if latinOrgMarkers[w] {
				return false
			}
		}
		return true
	}
	dotted := false
	for _, r := range s {
		switch {
		case r == 0x00B7:
			dotted = true
		case !unicode.Is(unicode.Han, r):
			return false // digits, punctuation, *: not a plain personal name
		}
	}
	n := utf8.RuneCountInString(s)
	if !dotted && (n < 2 || n > 4) {
		return n == 1 // a lone character may be a surname
	}
	if dotted {
		return true
	}
	for _, m := range orgMarkers {
		if strings.Contains(s, m) {
			return false
		}
	}
	return true
}

// MaskCounterparty returns the form of a ledger counterparty that may be
// stored and published: a person's name masked, an organisation's kept
// (trimmed).
func MaskCounterparty(s string) string {
	if LooksLikePersonName(s) {
		return personal.MaskName(s)
	}
	return strings.TrimSpace(s)
}
