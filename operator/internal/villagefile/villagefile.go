// Package villagefile reads and writes the spreadsheets town IT staff keep
// their villages in (CSV or XLSX, headers in Chinese or English), and checks
// every row against the rules the Village CRD and the operator enforce, so
// that `kubectl wuxiao villages import` can report every mistake at once, by
// row number, before anything reaches the cluster.
//
// One row is one village: 村名, 村代码, optionally 类型 (村/社区) and 对象名
// (the Village object's name), then one column per official role. A role
// cell holds one or more people, separated by ；or a new line, each written
// as a name and a mobile number and/or an e-mail address:
//
//	村名,村代码,党组织书记,村委会主任,两委委员,报账员,监察联络员
//	岩头村,330213100201,张伟 13800000001,李强 13800000002,王芳 13800000003；赵敏 zm@example.org,...
//
// The package is pure (no API calls): the cluster's state comes in as
// arguments, what to apply goes out as objects.
package villagefile

import (
	"fmt"
	"strings"
	"unicode/utf8"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// Column is what a header names.
type Column int

const (
	ColUnknown Column = iota
	ColDisplayName
	ColCode
	ColKind
	ColName
	// ColRole is a role column; Header.Role says which.
	ColRole
)

// RoleColumn is one official role's column: the header written on export
// and every header accepted on import.
type RoleColumn struct {
	Role    wuxiaov1.OfficialRole
	Header  string   // written on export
	Aliases []string // accepted on import besides Header and the role's id
	// Max is how many people may hold the role in one village (0: any).
	Max int
}

// RoleColumns lists the roles in the order of the spreadsheet's columns.
// Max mirrors the Village CRD's CEL rules (at most one secretary, one
// director).
var RoleColumns = []RoleColumn{
	{wuxiaov1.RoleSecretary, "党组织书记", []string{"书记", "村党组织书记", "支部书记", "党支部书记"}, 1},
	{wuxiaov1.RoleDirector, "村委会主任", []string{"主任", "村主任", "居委会主任"}, 1},
	{wuxiaov1.RoleCommitteeMember, "两委委员", []string{"委员", "村两委委员"}, 0},
	{wuxiaov1.RoleAccountant, "报账员", []string{"会计", "报账员/会计"}, 0},
	{wuxiaov1.RoleCashier, "出纳", nil, 0},
	{wuxiaov1.RoleSupervisionChair, "村务监督委员会主任", []string{"监委会主任", "村监委主任", "监督委员会主任"}, 0},
	{wuxiaov1.RoleLiaisonOfficer, "监察联络员", []string{"联络员", "监察联络站联络员"}, 0},
}

// Headers of the village columns, written on export (Chinese) and accepted
// on import (Chinese or English, any case).
var (
	headerDisplayName = []string{"村名", "村（社区）名称", "名称", "村名称", "displayname", "display name", "village"}
	headerCode        = []string{"村代码", "代码", "行政区划代码", "村（社区）代码", "code"}
	headerKind        = []string{"类型", "kind", "type"}
	headerName        = []string{"对象名", "资源名", "name"}
)

// RoleLabel is the Chinese name of a role, for messages.
func RoleLabel(r wuxiaov1.OfficialRole) string {
	for _, c := range RoleColumns {
		if c.Role == r {
			return c.Header
		}
	}
	return string(r)
}

// Header is one column of the file.
type Header struct {
	Index int
	Text  string
	Col   Column
	Role  wuxiaov1.OfficialRole
}

func normalizeHeader(s string) string {
	s = strings.TrimSpace(strings.TrimPrefix(s, "\ufeff"))
	s = strings.ReplaceAll(s, "(", "（")
	s = strings.ReplaceAll(s, ")", "）")
	return strings.ToLower(s)
}

func classify(text string) (Column, wuxiaov1.OfficialRole) {
	h := normalizeHeader(text)
	in := func(list []string) bool {
		for _, a := range list {
			if h == normalizeHeader(a) {
				return true
			}
		}
		return false
	}
	switch {
	case in(headerDisplayName):
		return ColDisplayName, ""
	case in(headerCode):
		return ColCode, ""
	case in(headerKind):
		return ColKind, ""
	case in(headerName):
		return ColName, ""
	}
	for _, c := range RoleColumns {
		if h == string(c.Role) || h == normalizeHeader(c.Header) || in(c.Aliases) {
			return ColRole, c.Role
		}
	}
	return ColUnknown, ""
}

// Problem is one mistake found in the file. Row is the spreadsheet's row
// number (the header is row 1); 0 means the file as a whole.
type Problem struct {
	Row     int
	Column  string
	Message string
	// Warning problems do not stop the import.
	Warning bool
}

func (p Problem) String() string {
	var where []string
	if p.Row > 0 {
		where = append(where, fmt.Sprintf("第 %d 行", p.Row))
	}
	if p.Column != "" {
		where = append(where, "【"+p.Column+"】")
	}
	s := p.Message
	if len(where) > 0 {
		s = strings.Join(where, " ") + "：" + s
	}
	if p.Warning {
		s = "提醒 " + s
	}
	return s
}

// Errors returns the problems that stop an import.
func Errors(ps []Problem) []Problem {
	var out []Problem
	for _, p := range ps {
		if !p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// Person is one entry of a role cell.
type Person struct {
	Name  string
	Phone string
	Email string
	Role  wuxiaov1.OfficialRole
}

// Row is one village of the file, as written.
type Row struct {
	// Line is the spreadsheet's row number.
	Line        int
	Name        string // the Village object's name; empty: chosen on Resolve
	DisplayName string
	Code        string
	Kind        wuxiaov1.VillageKind
	// People in the order of the role columns, then of each cell.
	People []Person
	// Officials are People with their ids, set by Resolve.
	Officials []wuxiaov1.Official
}

// Parse reads the records of a file (the first is the header) into rows,
// with every problem of the header and of each cell's shape.
func Parse(records [][]string) ([]Row, []Problem) {
	var problems []Problem
	if len(records) == 0 {
		return nil, []Problem{{Message: "文件是空的：第 1 行应为表头（村名、村代码、各职务列）"}}
	}
	var headers []Header
	seen := map[string]int{}
	for i, text := range records[0] {
		if strings.TrimSpace(text) == "" {
			continue
		}
		col, role := classify(text)
		h := Header{Index: i, Text: strings.TrimSpace(strings.TrimPrefix(text, "\ufeff")), Col: col, Role: role}
		if col == ColUnknown {
			problems = append(problems, Problem{Row: 1, Column: h.Text, Message: "不认识的列名。可用的列名：" + knownHeaders()})
			continue
		}
		key := fmt.Sprint(col, role)
		if prev, dup := seen[key]; dup {
			problems = append(problems, Problem{Row: 1, Column: h.Text, Message: fmt.Sprintf("与第 %s 列重复，同一内容只能有一列", columnLetter(prev))})
			continue
		}
		seen[key] = i
		headers = append(headers, h)
	}
	if _, ok := seen[fmt.Sprint(ColDisplayName, wuxiaov1.OfficialRole(""))]; !ok {
		problems = append(problems, Problem{Row: 1, Message: "缺少「村名」列"})
	}
	if _, ok := seen[fmt.Sprint(ColCode, wuxiaov1.OfficialRole(""))]; !ok {
		problems = append(problems, Problem{Row: 1, Message: "缺少「村代码」列"})
	}
	if len(Errors(problems)) > 0 {
		return nil, problems
	}
	rows := make([]Row, 0, len(records)-1)
	for n, rec := range records[1:] {
		line := n + 2
		if blank(rec) {
			continue
		}
		r := Row{Line: line}
		cell := func(h Header) string {
			if h.Index < len(rec) {
				return strings.TrimSpace(rec[h.Index])
			}
			return ""
		}
		var kindText string
		for _, h := range headers {
			v := cell(h)
			switch h.Col {
			case ColDisplayName:
				r.DisplayName = v
			case ColCode:
				r.Code = normalizeCode(v)
			case ColKind:
				kindText = v
			case ColName:
				r.Name = v
			}
		}
		switch strings.ToLower(kindText) {
		case "":
			r.Kind = wuxiaov1.VillageKindVillage
			if strings.HasSuffix(r.DisplayName, "社区") {
				r.Kind = wuxiaov1.VillageKindCommunity
			}
		case "村", "行政村", "village":
			r.Kind = wuxiaov1.VillageKindVillage
		case "社区", "community":
			r.Kind = wuxiaov1.VillageKindCommunity
		default:
			problems = append(problems, Problem{Row: line, Column: "类型", Message: fmt.Sprintf("「%s」不是可用的类型，应为「村」或「社区」", kindText)})
		}
		for _, c := range RoleColumns {
			for _, h := range headers {
				if h.Col != ColRole || h.Role != c.Role {
					continue
				}
				people, ps := parseCell(cell(h), c.Role)
				for _, p := range ps {
					problems = append(problems, Problem{Row: line, Column: h.Text, Message: p})
				}
				r.People = append(r.People, people...)
			}
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 && len(Errors(problems)) == 0 {
		problems = append(problems, Problem{Message: "文件里没有村：表头下面一行一个村"})
	}
	return rows, problems
}

func knownHeaders() string {
	names := []string{"村名", "村代码", "类型", "对象名"}
	for _, c := range RoleColumns {
		names = append(names, c.Header)
	}
	return strings.Join(names, "、")
}

func blank(rec []string) bool {
	for _, s := range rec {
		if strings.TrimSpace(s) != "" {
			return false
		}
	}
	return true
}

// columnLetter is a spreadsheet column's letter (0 → A).
func columnLetter(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('A'+(i-1)%26)) + s
	}
	return s
}

// normalizeCode undoes what spreadsheets do to long numbers typed into a
// cell: surrounding spaces, a trailing ".0", an apostrophe prefix.
func normalizeCode(s string) string {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "'"))
	s = strings.TrimSuffix(s, ".0")
	return strings.ReplaceAll(s, " ", "")
}

// parseCell splits a role cell into people. Entries are separated by ；;
// 、 or new lines; within an entry, the contact is the token with an @
// (e-mail) or of digits (mobile number, dashes and +86 allowed).
func parseCell(cell string, role wuxiaov1.OfficialRole) ([]Person, []string) {
	if cell == "" {
		return nil, nil
	}
	var people []Person
	var problems []string
	entries := strings.FieldsFunc(cell, func(r rune) bool {
		return r == '；' || r == ';' || r == '\n' || r == '\r' || r == '、'
	})
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		p := Person{Role: role}
		var name []string
		for _, tok := range strings.FieldsFunc(e, func(r rune) bool {
			switch r {
			case ' ', '\t', '\u3000', ',', '，', ':', '：', '(', ')', '（', '）', '<', '>', '/', '|':
				return true
			}
			return false
		}) {
			switch {
			case strings.Contains(tok, "@"):
				if p.Email != "" {
					problems = append(problems, fmt.Sprintf("「%s」写了两个电子邮箱，每人只填一个", e))
				}
				p.Email = strings.ToLower(tok)
			case looksLikePhone(tok):
				if p.Phone != "" {
					problems = append(problems, fmt.Sprintf("「%s」写了两个号码，每人只填一个手机号", e))
				}
				p.Phone = normalizePhone(tok)
			default:
				name = append(name, tok)
			}
		}
		p.Name = strings.Join(name, " ")
		people = append(people, p)
	}
	return people, problems
}

func looksLikePhone(tok string) bool {
	digits := 0
	for _, r := range tok {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '-' || r == '+':
		default:
			return false
		}
	}
	return digits >= 5
}

func normalizePhone(tok string) string {
	tok = strings.ReplaceAll(tok, "-", "")
	tok = strings.TrimPrefix(tok, "+86")
	if len(tok) == 13 && strings.HasPrefix(tok, "86") {
		tok = tok[2:]
	}
	return tok
}

func runes(s string) int { return utf8.RuneCountInString(s) }
