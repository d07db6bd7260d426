// Package personal handles personal data the services share: resident ID
// numbers (normalisation, GB 11643 validation, the keyed hash under which
// they are stored and compared across services) and the masking (脱敏) of
// names, ID numbers and phone numbers shown publicly. Every service that
// hashes an ID number must use HashID, so that hashes made with the
// district's key compare equal across services. Every public output masks
// through this package: ScrubText for free text (ID and phone numbers
// however written), MaskCounterparty for ledger counterparties.
package personal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Personal data shown on the public portal is masked (脱敏): names keep their
// first and last character, resident ID numbers their region code and last
// four characters, phone numbers their first three and last four digits.
// Every masking function first normalises its input (see Fold), so that a
// full-width or padded variant of a value is masked like the value itself and
// never leaks more of it.

// maskRune replaces every hidden character.
const MaskRune = '*'

// Fold maps full-width ASCII variants (ＡＢＣ１２３, U+FF01–U+FF5E) to ASCII,
// the ideographic space to a space, and drops invisible format characters
// (zero-width spaces, joiners, byte-order marks), which would otherwise count
// as characters and shift what a mask keeps.
func Fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			b.WriteRune(r - 0xFEE0)
		case r == 0x3000:
			b.WriteByte(' ')
		case unicode.Is(unicode.Cf, r):
			// invisible: drop
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// middleDots are the separators used between the parts of transliterated
// names (阿依古丽·买买提); they are normalised to U+00B7 MIDDLE DOT.
var middleDots = map[rune]bool{
	0x00B7: true, // · middle dot
	0x2022: true, // • bullet
	0x2027: true, // ‧ hyphenation point
	0x30FB: true, // ・ katakana middle dot
	0xFF65: true, // ･ half-width katakana middle dot
	0x0387: true, // · Greek ano teleia
	0x2219: true, // ∙ bullet operator
	0x22C5: true, // ⋅ dot operator
}

// IsLatinName reports whether s (already folded) is written in Latin
// letters: letters of the Latin script, combining marks, spaces, and the
// punctuation of Western names (. - ').
func IsLatinName(s string) bool {
	letters := 0
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Latin, r) && unicode.IsLetter(r):
			letters++
		case unicode.Is(unicode.Mn, r), r == ' ', r == '.', r == '-', r == '\'':
		default:
			return false
		}
	}
	return letters > 0
}

// NormalizeName returns the canonical form of a person's name, under which
// it is stored and compared: full-width letters folded, invisible characters
// dropped, middle dots unified, surrounding space trimmed; inside a name in
// Chinese (or any non-Latin script) all spaces are removed (forms often pad
// two-character names as "张  明"), inside a Latin name runs of spaces are
// collapsed to one.
func NormalizeName(name string) string {
	s := strings.TrimSpace(Fold(name))
	if s == "" {
		return ""
	}
	if IsLatinName(s) {
		return strings.Join(strings.Fields(s), " ")
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
		case middleDots[r]:
			b.WriteRune(0x00B7)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// MaskName masks a person's name for public display:
//
//	张      → *      (a single character is hidden entirely)
//	张明    → 张*
//	张小明  → 张*明
//	欧阳小锋 → 欧**锋 (four or more: first and last kept, one * per hidden character)
//	阿依古丽·买买提 → 阿******提 (the middle dot is hidden too)
//	John Smith → J***  (Latin letters: first letter and three stars)
//
// The empty string stays empty. MaskName is idempotent.
func MaskName(name string) string {
	s := NormalizeName(name)
	if s == "" {
		return ""
	}
	if IsLatinName(s) {
		r, _ := utf8.DecodeRuneInString(s)
		return string(r) + "***"
	}
	runes := []rune(s)
	switch n := len(runes); n {
	case 1:
		return string(MaskRune)
	case 2:
		return string(runes[0]) + string(MaskRune)
	default:
		return string(runes[0]) + strings.Repeat(string(MaskRune), n-2) + string(runes[n-1])
	}
}

// NormalizeIDNumber is the canonical form of a resident ID number: folded,
// without any space, check character upper-cased.
func NormalizeIDNumber(id string) string {
	var b strings.Builder
	for _, r := range Fold(id) {
		if !unicode.IsSpace(r) {
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// idShape tells the kind of a normalised ID number: 18 for a second-
// generation number (17 digits and a digit or X), 15 for a first-generation
// one (15 digits), 0 for anything else.
func idShape(s string) int {
	switch {
	case len(s) == 18 && allDigits(s[:17]) && (allDigits(s[17:]) || s[17] == 'X'):
		return 18
	case len(s) == 15 && allDigits(s):
		return 15
	}
	return 0
}

// MaskIDNumber masks a resident ID number: an 18-character number keeps its
// first 6 (region) and last 4 characters (330283********1234), a 15-digit
// first-generation number its first 6 and last 3; anything else is masked
// entirely, one * per character. The birth date is never shown. Spaces and
// full-width digits are normalised first, and a lower-case x is upper-cased.
func MaskIDNumber(id string) string {
	s := NormalizeIDNumber(id)
	switch idShape(s) {
	case 18:
		return s[:6] + strings.Repeat(string(MaskRune), 8) + s[14:]
	case 15:
		return s[:6] + strings.Repeat(string(MaskRune), 6) + s[12:]
	}
	return strings.Repeat(string(MaskRune), utf8.RuneCountInString(s))
}

// idWeights and idCheck are the check-character algorithm of GB 11643-1999
// (ISO 7064 MOD 11-2).
var (
	idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	idCheck   = "10X98765432"
)

// IDCheckChar returns the check character of the first 17 digits of an
// 18-character resident ID number, or 0 if they are not 17 digits.
func IDCheckChar(first17 string) byte {
	if len(first17) != 17 || !allDigits(first17) {
		return 0
	}
	sum := 0
	for i := range 17 {
		sum += int(first17[i]-'0') * idWeights[i]
	}
	return idCheck[sum%11]
}

// ValidIDNumber reports whether id is a well-formed 18-character resident ID
// number: 17 digits, a region code not starting with 0, a real birth date
// (YYYYMMDD, from 1800) and the right GB 11643 check character (X allowed in
// lower case; spaces and full-width digits are normalised first).
// First-generation 15-digit numbers, void since 2013, are not valid.
func ValidIDNumber(id string) bool {
	s := NormalizeIDNumber(id)
	if idShape(s) != 18 || s[0] == '0' {
		return false
	}
	birth, err := time.Parse("20060102", s[6:14])
	if err != nil || birth.Year() < 1800 {
		return false
	}
	return IDCheckChar(s[:17]) == s[17]
}

// MaskPhone masks a phone number: a mainland mobile number keeps its first 3
// and last 4 digits (138****0000); any other number of at least 7 digits keeps
// its last 4; anything else is masked entirely. Spaces, dashes, full-width
// digits and a +86/0086 prefix are normalised away first.
func MaskPhone(phone string) string {
	var b strings.Builder
	for _, r := range Fold(phone) {
		if !unicode.IsSpace(r) && r != '-' {
			b.WriteRune(r)
		}
	}
	s := b.String()
	for _, p := range []string{"+86", "0086"} {
		if rest, ok := strings.CutPrefix(s, p); ok && len(rest) == 11 {
			s = rest
		}
	}
	switch {
	case len(s) == 11 && s[0] == '1' && allDigits(s):
		return s[:3] + "****" + s[7:]
	case len(s) >= 7 && allDigits(s):
		return strings.Repeat(string(MaskRune), len(s)-4) + s[len(s)-4:]
	}
	return strings.Repeat(string(MaskRune), utf8.RuneCountInString(s))
}

// HashID returns the keyed hash (HMAC-SHA256, hex) under which a resident ID
// number is stored instead of the number itself. The number is normalised
// first (trimmed, spaces removed, full-width digits folded, x upper-cased);
// hashes made with the same key are compared across services (payees in
// disclosure's payment events against cadres' relatives recorded by the
// workflow and inspection services), so the output must never change:
// TestHashIDKnownAnswers pins it.
func HashID(key []byte, idNumber string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(NormalizeIDNumber(idNumber)))
	return hex.EncodeToString(m.Sum(nil))
}
