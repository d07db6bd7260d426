package personal

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Free text written by cadres and staff (titles, descriptions, reasons,
// warnings) may carry a resident ID number or a phone number, written any
// way: full-width digits, groups separated by spaces or dashes (3302 8319
// 9001 0112 38, 138-0000-0000), a +86 prefix, invisible characters between
// the digits. ScrubText is the one function every public output passes free
// text through: it finds such numbers and masks them (MaskIDNumber,
// MaskPhone), leaving the rest of the text as written.
//
// A number is a run of digit groups; between two groups at most three
// separators (space, ideographic space, dash of any width, dot, invisible
// format characters). Within a run, starting at each group, the longest
// span of consecutive groups that reads as a personal number is masked:
//
//   - 18 characters (17 digits and a digit or X) or 15 digits: an ID
//     number. A span of one group (written without separators) is masked
//     whatever it holds; a span of several groups only if its birth date is
//     a date, so that a tracking number or a date followed by a code is not
//     taken for one;
//   - 11 digits starting 13–19, possibly after 86 or 0086: a mobile number;
//   - 10 to 12 digits starting with 0 (an area code): a landline number;
//   - a group of 15 or more digits written without separators (a bank
//     card, or digits run together with a number), or of 12 to 14 with a
//     mobile number inside: all but its last 4.
//
// Known limit: a landline written without its area code (8 digits) is left
// as written, like any other number of that length (amounts, dates).

// separatorRune reports whether r may stand between the digit groups of
// one number.
func separatorRune(r rune) bool {
	switch r {
	case ' ', '\u00A0', '\u3000', '-', '.', '\uFF0D', '\uFF0E', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212':
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

// digitValue returns the ASCII digit of an ASCII or full-width digit.
func digitValue(r rune) (byte, bool) {
	switch {
	case r >= '0' && r <= '9':
		return byte(r), true
	case r >= '０' && r <= '９':
		return byte(r - '０' + '0'), true
	}
	return 0, false
}

func isX(r rune) bool { return r == 'X' || r == 'x' || r == 'Ｘ' || r == 'ｘ' }

// digitGroup is a run of digits in the text: its byte range [start, end)
// (including a trailing X when x is set) and its digits.
type digitGroup struct {
	start, end int
	digits     string
	x          rune // the X that ends the group (counted in end), or 0
	// inert: at most 6 digits touching a mask character, i.e. the visible
	// part of a mask; it is neither joined nor masked again, so that
	// scrubbing scrubbed text changes nothing.
	inert bool
}

// maxSpanDigits bounds the digits of a span of several groups: no personal
// number written in groups is longer (+86 and a mobile number: 13).
const maxSpanDigits = 22

// trailingX finds the X that ends an ID number after the digits ending at
// i: directly, or after at most three separators, and not followed by a
// letter or digit (22 Xiaoming is not one). It returns the X and where it
// ends, or 0.
func trailingX(s string, i int) (rune, int) {
	for skipped := 0; i < len(s) && skipped <= 3; skipped++ {
		r, n := utf8.DecodeRuneInString(s[i:])
		if isX(r) {
			next, _ := utf8.DecodeRuneInString(s[i+n:])
			if i+n < len(s) && (unicode.IsLetter(next) || unicode.IsDigit(next)) {
				return 0, 0
			}
			return r, i + n
		}
		if !separatorRune(r) {
			return 0, 0
		}
		i += n
	}
	return 0, 0
}

// groupsOf finds the digit groups of s.
func groupsOf(s string) []digitGroup {
	var groups []digitGroup
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if _, ok := digitValue(r); !ok {
			i += n
			continue
		}
		g := digitGroup{start: i}
		var b strings.Builder
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			d, ok := digitValue(r)
			if !ok {
				break
			}
			b.WriteByte(d)
			i += n
		}
		g.digits = b.String()
		before, _ := utf8.DecodeLastRuneInString(s[:g.start])
		after, _ := utf8.DecodeRuneInString(s[i:])
		g.inert = len(g.digits) <= 6 && (before == MaskRune || (i < len(s) && after == MaskRune))
		if x, end := trailingX(s, i); x != 0 && !g.inert {
			g.x, i = x, end
		}
		g.end = i
		groups = append(groups, g)
	}
	return groups
}

// ScrubText masks every ID and phone number in s (see above). Every span
// of groups that reads as a personal number is masked: a span alone gets
// its number's mask, overlapping spans (a number that could be read two
// ways) lose all their digits.
func ScrubText(s string) string {
	groups := groupsOf(s)
	if len(groups) == 0 {
		return s
	}
	var out strings.Builder
	last := 0
	for _, run := range runsOf(s, groups) {
		n := len(run)
		cover := make([]int, n) // the end of the furthest span covering each group
		exact := map[[2]int]string{}
		for i := range n {
			digits := ""
			for j := i + 1; j <= n; j++ {
				digits += run[j-1].digits
				if j-i > 1 && len(digits) > maxSpanDigits {
					break
				}
				if masked, ok := classifySpan(digits, run[j-1].x, j-i == 1); ok {
					exact[[2]int{i, j}] = masked
					for k := i; k < j; k++ {
						cover[k] = max(cover[k], j)
					}
				}
			}
		}
		for i := 0; i < n; {
			if cover[i] == 0 {
				i++
				continue
			}
			// The stretch of groups covered from i on.
			j := cover[i]
			for k := i; k < j; k++ {
				j = max(j, cover[k])
			}
			out.WriteString(s[last:run[i].start])
			if masked, ok := exact[[2]int{i, j}]; ok && singleSpan(cover, i, j) {
				out.WriteString(masked)
			} else {
				out.WriteString(starDigits(s[run[i].start:run[j-1].end]))
			}
			last = run[j-1].end
			i = j
		}
	}
	out.WriteString(s[last:])
	return out.String()
}

// singleSpan reports whether no span other than [i, j) covers a group of
// it: every group's furthest span ends at j, and the classification of a
// shorter span starting inside would have been recorded with a smaller
// end only if it ended before j.
func singleSpan(cover []int, i, j int) bool {
	for k := i; k < j; k++ {
		if cover[k] != j {
			return false
		}
	}
	return true
}

// starDigits replaces every digit and X of s by a mask character.
func starDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if _, ok := digitValue(r); ok || isX(r) {
			return MaskRune
		}
		return r
	}, s)
}

// runsOf splits groups into runs: consecutive groups separated only by
// separators (at most three), the X of an ID ending its group's run, an
// inert group alone.
func runsOf(s string, groups []digitGroup) [][]digitGroup {
	var runs [][]digitGroup
	var cur []digitGroup
	for _, g := range groups {
		if g.inert {
			if len(cur) > 0 {
				runs = append(runs, cur)
			}
			cur = nil
			continue
		}
		if len(cur) > 0 {
			prev := cur[len(cur)-1]
			between := s[prev.end:g.start]
			joined := prev.x == 0 && between != "" && utf8.RuneCountInString(between) <= 3
			for _, r := range between {
				if !separatorRune(r) {
					joined = false
				}
			}
			if !joined {
				runs = append(runs, cur)
				cur = nil
			}
		}
		cur = append(cur, g)
	}
	if len(cur) > 0 {
		runs = append(runs, cur)
	}
	return runs
}

// classifySpan classifies the digits of a span (ending with the X x, if
// any): with the X as an ID number, else without it (the X then stays as
// written after the mask).
func classifySpan(digits string, x rune, single bool) (string, bool) {
	if masked, ok := classify(digits, x != 0, single); ok {
		return masked, true
	}
	if x != 0 {
		if masked, ok := classify(digits, false, single); ok {
			return masked + string(x), true
		}
	}
	return "", false
}

// classify reads digits (plus a final X when x) as a personal number and
// returns its mask; single is set when they were written as one group.
func classify(digits string, x, single bool) (string, bool) {
	id := digits
	if x {
		id += "X"
	}
	switch {
	case (len(id) == 18 || (len(id) == 15 && !x)) && id[0] != '0':
		if single || plausibleBirthDate(id) {
			return MaskIDNumber(id), true
		}
	case x:
		return "", false
	}
	if d, ok := mobile(digits); ok {
		return MaskPhone(d), true
	}
	if len(digits) >= 10 && len(digits) <= 12 && digits[0] == '0' && !strings.HasPrefix(digits, "00") {
		return MaskPhone(digits), true
	}
	if single && (len(digits) >= 15 || (len(digits) >= 12 && hasMobile(digits))) {
		return strings.Repeat(string(MaskRune), len(digits)-4) + digits[len(digits)-4:], true
	}
	return "", false
}

// mobile returns the 11-digit mainland mobile number digits are, after an
// optional 86 or 0086 prefix.
func mobile(digits string) (string, bool) {
	for _, p := range []string{"", "86", "0086"} {
		d, ok := strings.CutPrefix(digits, p)
		if ok && len(d) == 11 && d[0] == '1' && d[1] >= '3' {
			return d, true
		}
	}
	return "", false
}

// hasMobile reports whether digits hold a mobile number anywhere.
func hasMobile(digits string) bool {
	for i := 0; i+11 <= len(digits); i++ {
		if digits[i] == '1' && digits[i+1] >= '3' {
			return true
		}
	}
	return false
}

// plausibleBirthDate reports whether an 18- or 15-character ID number has a
// real birth date where its birth date belongs.
func plausibleBirthDate(id string) bool {
	date := ""
	switch len(id) {
	case 18:
		date = id[6:14]
	case 15:
		date = "19" + id[6:12]
	}
	t, err := time.Parse("20060102", date)
	return err == nil && t.Year() >= 1800
}
