package inspection

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"sync"
	"time"
)

// Numbers hands out the sequence numbers of numbered documents (notices,
// supervision orders): 1, 2, 3… per series and year, without gaps. The
// store implements it with a row per series and year, locked in the
// transaction that records the document; Counter is the in-memory version.
type Numbers interface {
	Next(series string, year int) (int, error)
}

// Counter is an in-memory Numbers, for tests and tools.
type Counter struct {
	mu   sync.Mutex
	last map[string]int
}

// Next returns the next number of a series in a year.
func (c *Counter) Next(series string, year int) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[string]int{}
	}
	k := fmt.Sprintf("%s/%d", series, year)
	c.last[k]++
	return c.last[k], nil
}

// DocNumber formats a document number the way Chinese official documents
// are numbered: prefix, year in 〔〕, number, 号 — e.g. 奉纪预〔2026〕3号.
func DocNumber(prefix string, year, seq int) string {
	return fmt.Sprintf("%s〔%d〕%d号", prefix, year, seq)
}

// endOfDay is the midnight ending the day `days` days after t's day
// (Shanghai): a deadline of "15 days" issued on 3 March ends when 18 March
// does.
func endOfDay(t time.Time, days int) time.Time {
	d := t.In(Shanghai)
	return time.Date(d.Year(), d.Month(), d.Day()+days+1, 0, 0, 0, 0, Shanghai)
}

// lastDay is the day a deadline (a midnight) ends.
func lastDay(deadline time.Time) time.Time { return deadline.Add(-time.Nanosecond).In(Shanghai) }

// dateCN writes a date as 2026年3月5日.
func dateCN(t time.Time) string {
	t = t.In(Shanghai)
	return fmt.Sprintf("%d年%d月%d日", t.Year(), t.Month(), t.Day())
}

var chineseDigits = []string{"〇", "一", "二", "三", "四", "五", "六", "七", "八", "九"}

func chineseNumber(n int) string { // 1–31
	switch {
	case n < 10:
		return chineseDigits[n]
	case n == 10:
		return "十"
	case n < 20:
		return "十" + chineseDigits[n%10]
	case n%10 == 0:
		return chineseDigits[n/10] + "十"
	}
	return chineseDigits[n/10] + "十" + chineseDigits[n%10]
}

// dateSeal writes a date in Chinese numerals, as under a signature:
// 二〇二六年三月五日.
func dateSeal(t time.Time) string {
	t = t.In(Shanghai)
	var y strings.Builder
	for _, r := range fmt.Sprint(t.Year()) {
		y.WriteString(chineseDigits[r-'0'])
	}
	return y.String() + "年" + chineseNumber(int(t.Month())) + "月" + chineseNumber(t.Day()) + "日"
}

// NoticeKind is the kind of notice a change of grade brings.
type NoticeKind string

const (
	// NoticeWarning (预警通知书) is issued when a village falls to C.
	NoticeWarning NoticeKind = "warning"
	// NoticeRectification (整改通知书) is issued when a village falls to D.
	NoticeRectification NoticeKind = "rectification"
)

// Title is the document's title.
func (k NoticeKind) Title() string {
	if k == NoticeRectification {
		return "整改通知书"
	}
	return "预警通知书"
}

// NoticeFor says which notice, if any, a change of grade brings: a fall to C
// a warning notice, a fall to D (from A, B or C) a rectification notice. A
// rise (D→C, C→B…) brings none.
func NoticeFor(ch *GradeChange) (NoticeKind, bool) {
	if ch == nil || !ch.Worse() {
		return "", false
	}
	switch ch.To {
	case GradeC:
		return NoticeWarning, true
	case GradeD:
		return NoticeRectification, true
	}
	return "", false
}

// NoticeConfig is a town's configuration of notices.
type NoticeConfig struct {
	// WarningPrefix and RectificationPrefix start the documents' numbers:
	// 奉纪预〔2026〕3号, 奉纪整〔2026〕1号.
	WarningPrefix       string `json:"warningPrefix"`
	RectificationPrefix string `json:"rectificationPrefix"`
	// WarningDays is how long a village has to answer a warning notice,
	// RectificationDays to rectify after a rectification notice (calendar
	// days, ending at midnight of the last day).
	WarningDays       int `json:"warningDays"`
	RectificationDays int `json:"rectificationDays"`
	// District signs first: 中共奉化区纪委.
	District string `json:"district"`
	// TownIssuer signs second and receives the answers; empty means the
	// town's name followed by 纪委 (e.g. 溪口镇纪委). Subdistricts set theirs
	// (e.g. 锦屏街道纪工委).
	TownIssuer string `json:"townIssuer,omitempty"`
}

// DefaultNoticeConfig is Fenghua's.
func DefaultNoticeConfig() NoticeConfig {
	return NoticeConfig{WarningPrefix: "奉纪预", RectificationPrefix: "奉纪整", WarningDays: 15, RectificationDays: 30, District: "中共奉化区纪委"}
}

// Validate checks the configuration, naming each field at fault.
func (c NoticeConfig) Validate() error {
	var errs []error
	if strings.TrimSpace(c.WarningPrefix) == "" {
		errs = append(errs, fieldErr("warningPrefix", "is required"))
	}
	if strings.TrimSpace(c.RectificationPrefix) == "" {
		errs = append(errs, fieldErr("rectificationPrefix", "is required"))
	}
	if c.WarningPrefix != "" && c.WarningPrefix == c.RectificationPrefix {
		errs = append(errs, fieldErr("rectificationPrefix", "must differ from warningPrefix, or two notices would share a number"))
	}
	if c.WarningDays < 1 || c.WarningDays > 366 {
		errs = append(errs, fieldErr("warningDays", "must be between 1 and 366, got %d", c.WarningDays))
	}
	if c.RectificationDays < 1 || c.RectificationDays > 366 {
		errs = append(errs, fieldErr("rectificationDays", "must be between 1 and 366, got %d", c.RectificationDays))
	}
	if strings.TrimSpace(c.District) == "" {
		errs = append(errs, fieldErr("district", "is required (it signs the notices)"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("notices: %w", errors.Join(errs...))
	}
	return nil
}

// Addressee is the village a notice is addressed to.
type Addressee struct {
	Village     string // code
	VillageName string // e.g. 岩头村, 锦溪社区
	Town        string // code
	TownName    string // e.g. 溪口镇
}

// Notice is a warning or rectification notice addressed to a village.
type Notice struct {
	// Number, Year and Seq are given when the notice is signed; a draft
	// has none.
	Number      string     `json:"number,omitempty"`
	Kind        NoticeKind `json:"kind"`
	Year        int        `json:"year,omitempty"`
	Seq         int        `json:"seq,omitempty"`
	Village     string     `json:"village"`
	VillageName string     `json:"villageName"`
	Town        string     `json:"town"`
	TownName    string     `json:"townName"`
	// Issuers sign the notice: the district's commission, then the town's.
	Issuers []string `json:"issuers"`
	// IssuedAt is when the notice was signed (zero for a draft).
	IssuedAt time.Time `json:"issuedAt,omitzero"`
	Period   Period    `json:"period"`
	From     Grade     `json:"from"`
	Grade    Grade     `json:"grade"`
	Points   int       `json:"points"`
	// Reasons are the period's deductions, with their dates, in order.
	Reasons []string `json:"reasons"`
	// CadreReasons are the reasons as the village's cadres read them: the
	// deductions kept from them (see redact.go) summed into one 其他扣分
	// line. Set when it differs from Reasons; notices issued before it
	// existed lack it.
	CadreReasons []string `json:"cadreReasons,omitempty"`
	// Deadline to answer (C) or rectify (D): midnight ending the last day,
	// Days after signing (zero for a draft).
	Deadline time.Time `json:"deadline,omitzero"`
	Days     int       `json:"days,omitempty"`
	// Text is the whole notice as plain text.
	Text string `json:"text"`
}

// IssueNotice drafts the notice a change of grade brings and signs it at
// once, numbered from numbers (DraftNotice, then Sign); it returns nil when
// the change brings none. r is the rating the change led to and now the
// time of issue. The service drafts and lets the town's discipline office
// sign (notice_lifecycle.go); this is the two steps in one, for tools.
func IssueNotice(cfg NoticeConfig, numbers Numbers, ch *GradeChange, r Rating, to Addressee, now time.Time) (*Notice, error) {
	if numbers == nil && ch != nil {
		if _, ok := NoticeFor(ch); ok {
			return nil, errors.New("notice: no Numbers to number the notice with")
		}
	}
	n, err := DraftNotice(cfg, ch, r, to, now)
	if err != nil || n == nil {
		return nil, err
	}
	if err := n.Sign(cfg, numbers, now); err != nil {
		return nil, err
	}
	return n, nil
}

// DraftNotice drafts the notice a change of grade brings, unnumbered and
// undated, with the days the village will have to answer once it is
// signed; it returns nil when the change brings none. r is the rating the
// change led to and now the time of drafting.
func DraftNotice(cfg NoticeConfig, ch *GradeChange, r Rating, to Addressee, now time.Time) (*Notice, error) {
	kind, ok := NoticeFor(ch)
	if !ok {
		return nil, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var errs []error
	if to.Village != r.Village || ch.Village != r.Village {
		errs = append(errs, fieldErr("village", "the change (%q), the rating (%q) and the addressee (%q) concern different villages", ch.Village, r.Village, to.Village))
	}
	if ch.To != r.Grade || ch.Period != r.Period {
		errs = append(errs, fieldErr("rating", "is not the rating the change led to (%s %s, change to %s %s)", r.Period, r.Grade, ch.Period, ch.To))
	}
	if strings.TrimSpace(to.VillageName) == "" {
		errs = append(errs, fieldErr("villageName", "is required (the notice is addressed to it)"))
	}
	if strings.TrimSpace(to.TownName) == "" && cfg.TownIssuer == "" {
		errs = append(errs, fieldErr("townName", "is required (the town's commission signs the notice)"))
	}
	if now.IsZero() {
		errs = append(errs, fieldErr("issuedAt", "is required"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("notice: %w", errors.Join(errs...))
	}
	days := cfg.WarningDays
	if kind == NoticeRectification {
		days = cfg.RectificationDays
	}
	townIssuer := cfg.TownIssuer
	if townIssuer == "" {
		townIssuer = to.TownName + "纪委"
	}
	n := &Notice{
		Kind: kind, Village: to.Village, VillageName: to.VillageName, Town: to.Town, TownName: to.TownName,
		Issuers: []string{cfg.District, townIssuer}, Period: r.Period,
		From: ch.From, Grade: r.Grade, Points: r.Points, Reasons: reasons(r), Days: days,
	}
	if cadre := reasons(cadreRating(r)); !slices.Equal(cadre, n.Reasons) {
		n.CadreReasons = cadre
	}
	n.Text = n.plainText()
	return n, nil
}

// Signed reports whether the notice was signed: numbered and dated.
func (n *Notice) Signed() bool { return n.Number != "" }

// Sign numbers and dates a draft at now (its series: the town and kind, by
// year), and sets its deadline: the notice's days after now. The issuers
// are those the notice was drafted with.
func (n *Notice) Sign(cfg NoticeConfig, numbers Numbers, now time.Time) error {
	if n.Signed() {
		return fmt.Errorf("notice %s is signed already", n.Number)
	}
	if numbers == nil {
		return errors.New("notice: no Numbers to number the notice with")
	}
	if now.IsZero() {
		return fieldErr("issuedAt", "is required")
	}
	prefix := cfg.WarningPrefix
	if n.Kind == NoticeRectification {
		prefix = cfg.RectificationPrefix
	}
	if strings.TrimSpace(prefix) == "" {
		return fieldErr("prefix", "the %s prefix is required", n.Kind)
	}
	days := n.Days
	if days < 1 {
		days = cfg.WarningDays
		if n.Kind == NoticeRectification {
			days = cfg.RectificationDays
		}
	}
	year := now.In(Shanghai).Year()
	seq, err := numbers.Next(n.Town+"/"+string(n.Kind), year)
	if err != nil {
		return fmt.Errorf("notice number: %w", err)
	}
	n.Number, n.Year, n.Seq, n.IssuedAt, n.Deadline, n.Days = DocNumber(prefix, year, seq), year, seq, now, endOfDay(now, days), days
	n.Text = n.plainText()
	return nil
}

// reasons lists a rating's deductions, in chronological order.
func reasons(r Rating) []string {
	out := []string{}
	for _, c := range r.Contributions {
		if c.Points >= 0 {
			continue
		}
		var b strings.Builder
		if c.Fact.Kind != FactOther { // the 其他扣分 line has no date
			b.WriteString(dateCN(c.Fact.At))
			b.WriteString("，")
		}
		b.WriteString(c.Label)
		if c.Fact.Note != "" {
			b.WriteString("：")
			b.WriteString(c.Fact.Note)
		}
		if c.Fact.Ref != "" {
			b.WriteString("（编号：")
			b.WriteString(c.Fact.Ref)
			b.WriteString("）")
		}
		fmt.Fprintf(&b, "，扣%d分", -c.Points)
		if c.Capped {
			b.WriteString("（本期该项扣分已达上限）")
		}
		b.WriteString("。")
		out = append(out, b.String())
	}
	return out
}

// community reports whether the addressee is an urban community (社区),
// whose committee is a residents' committee, not a villagers' one.
func (n *Notice) community() bool { return strings.HasSuffix(n.VillageName, "社区") }

// you is how the notice addresses the village in its body: 你村 or 你社区.
func (n *Notice) you() string {
	if n.community() {
		return "你社区"
	}
	return "你村"
}

// committee is the village's self-governing committee.
func (n *Notice) committee() string {
	if n.community() {
		return "居民委员会"
	}
	return "村民委员会"
}

// addressee is the salutation: the village's party organisation and its
// villagers' (or, for a community, residents') committee.
func (n *Notice) addressee() string { return n.VillageName + "党组织、" + n.committee() }

func (n *Notice) townIssuer() string {
	if len(n.Issuers) > 1 {
		return n.Issuers[len(n.Issuers)-1]
	}
	return n.TownName + "纪委"
}

// opening is the first paragraph: the score, the grade and what follows.
func (n *Notice) opening() string {
	s := fmt.Sprintf("根据村级小微权力“动态预警”积分管理办法，经考评，%s%s政治生态建设考评积分为%d分，由%s档降为%s档。",
		n.you(), n.Period.Label(), n.Points, n.From, n.Grade)
	if n.Kind == NoticeRectification {
		s += "现责令限期整改。"
	} else {
		s += "现予以预警。"
	}
	if len(n.Reasons) > 0 {
		s += "主要扣分事项如下："
	}
	return s
}

// requirement is the paragraph after the reasons: what to do by when.
func (n *Notice) requirement() string {
	due, town := dateCN(lastDay(n.Deadline)), n.townIssuer()
	if !n.Signed() {
		due = fmt.Sprintf("签发之日起%d日内", n.Days)
	}
	if n.Kind == NoticeRectification {
		return fmt.Sprintf("请%s党组织、%s对照上述问题立即整改，明确整改责任人、整改措施和整改时限，于%s前将整改情况书面报送%s。"+
			"逾期未整改或整改不到位的，将对相关村干部进行批评教育、通报批评，并与村干部年度考核挂钩。", n.you(), n.committee(), due, town)
	}
	return fmt.Sprintf("请%s党组织高度重视，认真查找问题原因，逐项说明情况并提出改进措施，于%s前书面报送%s。"+
		"%s将视情对村主要负责人进行约谈、提醒谈话。", n.you(), due, town, town)
}

func (n *Notice) plainText() string {
	var b strings.Builder
	b.WriteString(strings.Join(n.Issuers, " "))
	b.WriteString("\n")
	b.WriteString(n.Kind.Title())
	b.WriteString("\n")
	b.WriteString(n.numberLine())
	b.WriteString("\n\n致：")
	b.WriteString(n.addressee())
	b.WriteString("\n\n")
	b.WriteString(n.opening())
	b.WriteString("\n")
	for i, r := range n.Reasons {
		fmt.Fprintf(&b, "%d. %s\n", i+1, r)
	}
	b.WriteString(n.requirement())
	b.WriteString("\n\n")
	for _, s := range n.Issuers {
		b.WriteString(s)
		b.WriteString("\n")
	}
	b.WriteString(n.dateLine())
	b.WriteString("\n")
	return b.String()
}

// numberLine and dateLine are the number and the date under the
// signatures, or what stands in their place on a draft.
func (n *Notice) numberLine() string {
	if !n.Signed() {
		return "（草稿，签发时编号）"
	}
	return n.Number
}

func (n *Notice) dateLine() string {
	if !n.Signed() {
		return "（草稿，未签发）"
	}
	return dateSeal(n.IssuedAt)
}

var noticeTemplate = template.Must(template.New("notice").Parse(`<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>{{.Title}} {{.Number}}</title>
<style>
@page { size: A4; margin: 37mm 26mm 35mm 28mm; }
body { font-family: "FangSong", "仿宋", "STFangsong", "Noto Serif CJK SC", serif; font-size: 16pt; line-height: 1.75; color: #000; }
.masthead { text-align: center; color: #c00; font-family: "SimSun", "宋体", "Noto Serif CJK SC", serif; font-size: 22pt; font-weight: bold; letter-spacing: 0.1em; }
h1 { text-align: center; font-family: "SimHei", "黑体", "Noto Sans CJK SC", sans-serif; font-size: 22pt; font-weight: normal; margin: 0.5em 0 0.2em; }
.number { text-align: center; margin: 0; }
hr { border: 0; border-top: 2px solid #c00; margin: 0.6em 0 1.2em; }
p { margin: 0; text-indent: 2em; }
p.to { text-indent: 0; }
ol { margin: 0.3em 0 0.3em 2em; padding: 0; }
.sign { margin-top: 3em; text-align: right; }
.sign p { text-indent: 0; }
</style>
</head>
<body>
<div class="masthead">{{range $i, $s := .Issuers}}{{if $i}} {{end}}{{$s}}{{end}}</div>
<h1>{{.Title}}</h1>
<p class="number">{{.Number}}</p>
<hr>
<p class="to">致：{{.To}}</p>
<p>{{.Opening}}</p>
{{if .Reasons}}<ol>
{{range .Reasons}}<li>{{.}}</li>
{{end}}</ol>
{{end}}<p>{{.Requirement}}</p>
<div class="sign">
{{range .Issuers}}<p>{{.}}</p>
{{end}}<p>{{.Date}}</p>
</div>
</body>
</html>
`))

// ForCadres is the notice as the addressed village's cadres read it: with
// CadreReasons as its reasons, text and HTML rendered again. ok is false
// for a notice issued before CadreReasons existed that may name facts kept
// from cadres; it is then shown as issued.
func (n *Notice) ForCadres() (out *Notice, html string, ok bool, err error) {
	if n.CadreReasons == nil {
		return n, "", false, nil
	}
	c := *n
	c.Reasons, c.CadreReasons = slices.Clone(n.CadreReasons), nil
	c.Text = c.plainText()
	html, err = c.HTML()
	return &c, html, true, err
}

// HTML renders the notice as a printable document (A4, official layout).
// Every text is escaped: notes come from events and can hold anything.
func (n *Notice) HTML() (string, error) {
	var b bytes.Buffer
	err := noticeTemplate.Execute(&b, map[string]any{
		"Title": n.Kind.Title(), "Number": n.numberLine(), "Issuers": n.Issuers, "To": n.addressee(),
		"Opening": n.opening(), "Reasons": n.Reasons, "Requirement": n.requirement(), "Date": n.dateLine(),
	})
	if err != nil {
		return "", fmt.Errorf("rendering notice %s: %w", n.Number, err)
	}
	return b.String(), nil
}
