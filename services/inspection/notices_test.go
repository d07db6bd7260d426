package inspection

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var yantou = Addressee{Village: vil, VillageName: "岩头村", Town: "330213100", TownName: "溪口镇"}

func TestNoticeFor(t *testing.T) {
	tests := []struct {
		from, to Grade
		want     NoticeKind
	}{
		{GradeA, GradeB, ""},
		{GradeA, GradeC, NoticeWarning},
		{GradeB, GradeC, NoticeWarning},
		{GradeA, GradeD, NoticeRectification},
		{GradeB, GradeD, NoticeRectification},
		{GradeC, GradeD, NoticeRectification},
		{GradeD, GradeC, ""},
		{GradeD, GradeA, ""},
		{GradeC, GradeB, ""},
		{GradeB, GradeA, ""},
	}
	for _, tt := range tests {
		got, ok := NoticeFor(&GradeChange{From: tt.from, To: tt.to})
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%s→%s: %q %v, want %q", tt.from, tt.to, got, ok, tt.want)
		}
	}
	if _, ok := NoticeFor(nil); ok {
		t.Error("no change, a notice")
	}
}

// fall rates the base facts, then base plus more, and returns the change
// and the new rating.
func fall(t *testing.T, base, more []Fact) (*GradeChange, Rating) {
	t.Helper()
	prev := Rate(DefaultRules(), vil, y2026, base)
	next := Rate(DefaultRules(), vil, y2026, append(append([]Fact{}, base...), more...))
	ch := Diff(prev, next)
	if ch == nil {
		t.Fatalf("no change of grade (%d %s → %d %s)", prev.Points, prev.Grade, next.Points, next.Grade)
	}
	return ch, next
}

var toC = []Fact{
	{ID: "w1", Village: vil, Kind: FactWarning, Subkind: "conflict-of-interest", At: day(3, 2), Ref: "XK-2026-0042", Note: "工程款收款人为村干部近亲属"},
	{ID: "c1", Village: vil, Kind: FactComplaint, Subkind: ComplaintSubstantiated, At: day(4, 8), Ref: "JB-2026-007", Note: "低保评定优亲厚友"},
	{ID: "f1", Village: vil, Kind: FactFinding, Subkind: SeverityMajor, At: day(5, 20), Note: "集体资产出租未公开招租"},
	{ID: "w2", Village: vil, Kind: FactWarning, Subkind: "posting-duration", At: day(6, 1), Ref: "XK-2026-0050"},
	{ID: "r0", Village: vil, Kind: FactRectification, Subkind: RectificationOnTime, At: day(6, 2)},
} // 100-10-5-8-5+2 = 74: C

func TestIssueNotice(t *testing.T) {
	cfg := DefaultNoticeConfig()
	nums := &Counter{}
	issued := day(6, 3)

	// A falls to C: a warning notice, answer within 15 days.
	ch, r := fall(t, nil, toC)
	n, err := IssueNotice(cfg, nums, ch, r, yantou, issued)
	if err != nil {
		t.Fatal(err)
	}
	if n.Number != "奉纪预〔2026〕1号" || n.Kind != NoticeWarning || n.Grade != GradeC || n.From != GradeA || n.Points != 74 {
		t.Errorf("notice = %s %s %s→%s %d", n.Number, n.Kind, n.From, n.Grade, n.Points)
	}
	if want := time.Date(2026, 6, 19, 0, 0, 0, 0, Shanghai); !n.Deadline.Equal(want) {
		t.Errorf("deadline %v, want %v (end of 18 June)", n.Deadline, want)
	}
	wantReasons := []string{
		"2026年3月2日，违规预警（利益冲突未回避）：工程款收款人为村干部近亲属（编号：XK-2026-0042），扣10分。",
		"2026年4月8日，信访举报（经查属实）：低保评定优亲厚友（编号：JB-2026-007），扣5分。",
		"2026年5月20日，巡察发现问题（较重）：集体资产出租未公开招租，扣8分。",
		"2026年6月1日，违规预警（公示时间不足）（编号：XK-2026-0050），扣5分。",
	}
	if strings.Join(n.Reasons, "\n") != strings.Join(wantReasons, "\n") {
		t.Errorf("reasons:\n%s", strings.Join(n.Reasons, "\n"))
	}
	for _, want := range []string{
		"中共奉化区纪委 溪口镇纪委\n预警通知书\n奉纪预〔2026〕1号\n",
		"致：岩头村党组织、村民委员会",
		"经考评，你村2026年度政治生态建设考评积分为74分，由A档降为C档。现予以预警。主要扣分事项如下：",
		"1. 2026年3月2日，",
		"4. 2026年6月1日，",
		"于2026年6月18日前书面报送溪口镇纪委",
		"约谈、提醒谈话",
		"\n中共奉化区纪委\n溪口镇纪委\n二〇二六年六月三日\n",
	} {
		if !strings.Contains(n.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, n.Text)
		}
	}

	// C falls further to D: a rectification notice, numbered in its own
	// series, 30 days to rectify.
	ch2, r2 := fall(t, toC, []Fact{{ID: "o1", Village: vil, Kind: FactOrder, Subkind: string(Yellow), At: day(7, 1), Ref: "奉纪督〔2026〕2号", Note: "巡察发现问题未按期整改到位（履职不力）"}})
	if ch2.From != GradeC || ch2.To != GradeD || len(ch2.Because) != 1 {
		t.Fatalf("change %+v", ch2)
	}
	n2, err := IssueNotice(cfg, nums, ch2, r2, yantou, day(7, 2))
	if err != nil {
		t.Fatal(err)
	}
	if n2.Number != "奉纪整〔2026〕1号" || n2.Kind != NoticeRectification || !n2.Deadline.Equal(time.Date(2026, 8, 2, 0, 0, 0, 0, Shanghai)) {
		t.Errorf("notice = %s %s %v", n2.Number, n2.Kind, n2.Deadline)
	}
	for _, want := range []string{"整改通知书\n奉纪整〔2026〕1号", "由C档降为D档。现责令限期整改。", "请你村党组织、村民委员会对照上述问题立即整改", "于2026年8月1日前将整改情况书面报送溪口镇纪委", "与村干部年度考核挂钩", "5. 2026年7月1日，三色督查令（黄色）"} {
		if !strings.Contains(n2.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, n2.Text)
		}
	}

	// Another village of the same town falls to C: the next warning number.
	jinxi := Addressee{Village: other, VillageName: "锦溪社区", Town: yantou.Town, TownName: "溪口镇"}
	var jinxiFacts []Fact
	for _, f := range toC {
		f.Village = jinxi.Village
		jinxiFacts = append(jinxiFacts, f)
	}
	prev := Rate(DefaultRules(), jinxi.Village, y2026, nil)
	next := Rate(DefaultRules(), jinxi.Village, y2026, jinxiFacts)
	n3, err := IssueNotice(cfg, nums, Diff(prev, next), next, jinxi, day(8, 1))
	if err != nil {
		t.Fatal(err)
	}
	if n3.Number != "奉纪预〔2026〕2号" {
		t.Errorf("number %s", n3.Number)
	}
	if !strings.Contains(n3.Text, "致：锦溪社区党组织、居民委员会") || !strings.Contains(n3.Text, "你社区2026年度") {
		t.Errorf("community addressee:\n%s", n3.Text)
	}

	// A new year starts the series again; another town has its own series.
	n4, err := IssueNotice(cfg, nums, ch, r, yantou, time.Date(2027, 1, 5, 9, 0, 0, 0, Shanghai))
	if err != nil {
		t.Fatal(err)
	}
	shangtian := yantou
	shangtian.Town, shangtian.TownName = "330213101", "尚田街道"
	cfg5 := cfg
	cfg5.TownIssuer, cfg5.WarningPrefix = "尚田街道纪工委", "尚纪预"
	n5, err := IssueNotice(cfg5, nums, ch, r, shangtian, day(9, 1))
	if err != nil {
		t.Fatal(err)
	}
	if n4.Number != "奉纪预〔2027〕1号" || n5.Number != "尚纪预〔2026〕1号" {
		t.Errorf("numbers %s %s", n4.Number, n5.Number)
	}
	if strings.Join(n5.Issuers, " ") != "中共奉化区纪委 尚田街道纪工委" || !strings.Contains(n5.Text, "书面报送尚田街道纪工委") {
		t.Errorf("issuers %v\n%s", n5.Issuers, n5.Text)
	}
}

func TestNoNoticeWithoutFall(t *testing.T) {
	cfg := DefaultNoticeConfig()
	nums := &Counter{}
	base := append(append([]Fact{}, toC...), Fact{ID: "o1", Village: vil, Kind: FactOrder, Subkind: string(Yellow), At: day(7, 1)}) // 64: D
	tests := []struct {
		name       string
		base, more []Fact
	}{
		{"A to B", nil, []Fact{{ID: "o1", Village: vil, Kind: FactOrder, Subkind: string(Red), At: day(7, 1)}}},
		{"D to C", base, []Fact{
			{ID: "b1", Village: vil, Kind: FactRectification, Subkind: RectificationOnTime, At: day(8, 1)},
			{ID: "b2", Village: vil, Kind: FactRectification, Subkind: RectificationOnTime, At: day(8, 2)},
			{ID: "b3", Village: vil, Kind: FactRectification, Subkind: RectificationOnTime, At: day(8, 3)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, r := fall(t, tt.base, tt.more)
			n, err := IssueNotice(cfg, nums, ch, r, yantou, day(9, 1))
			if n != nil || err != nil {
				t.Errorf("notice %v, err %v", n, err)
			}
		})
	}
	if n, err := IssueNotice(cfg, nums, nil, Rating{}, yantou, day(9, 1)); n != nil || err != nil {
		t.Errorf("nil change: notice %v, err %v", n, err)
	}
	if n, _ := nums.Next("330213100/warning", 2026); n != 1 {
		t.Errorf("a number was used up: next is %d", n)
	}
}

func TestIssueNoticeValidation(t *testing.T) {
	ch, r := fall(t, nil, toC)
	broken := DefaultNoticeConfig()
	broken.WarningDays = 0
	broken.RectificationPrefix = broken.WarningPrefix
	tests := []struct {
		name   string
		cfg    NoticeConfig
		r      Rating
		to     Addressee
		now    time.Time
		fields []string
	}{
		{"other village", DefaultNoticeConfig(), r, Addressee{Village: other, VillageName: "锦溪社区", TownName: "溪口镇"}, day(6, 3), []string{"village:"}},
		{"stale rating", DefaultNoticeConfig(), Rate(DefaultRules(), vil, y2026, nil), yantou, day(6, 3), []string{"rating:"}},
		{"no names", DefaultNoticeConfig(), r, Addressee{Village: vil}, day(6, 3), []string{"villageName:", "townName:"}},
		{"no time", DefaultNoticeConfig(), r, yantou, time.Time{}, []string{"issuedAt:"}},
		{"bad config", broken, r, yantou, day(6, 3), []string{"warningDays:", "rectificationPrefix:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := IssueNotice(tt.cfg, &Counter{}, ch, tt.r, tt.to, tt.now)
			if err == nil {
				t.Fatalf("issued %s", n.Number)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("no FieldError in %v", err)
			}
			for _, f := range tt.fields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error does not name %s: %v", f, err)
				}
			}
		})
	}
}

type failingNumbers struct{}

func (failingNumbers) Next(string, int) (int, error) { return 0, errors.New("database down") }

func TestIssueNoticeNumbersFail(t *testing.T) {
	ch, r := fall(t, nil, toC)
	if _, err := IssueNotice(DefaultNoticeConfig(), failingNumbers{}, ch, r, yantou, day(6, 3)); err == nil || !strings.Contains(err.Error(), "database down") {
		t.Errorf("err = %v", err)
	}
	if _, err := IssueNotice(DefaultNoticeConfig(), nil, ch, r, yantou, day(6, 3)); err == nil {
		t.Error("issued without numbers")
	}
}

func TestNoticeConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*NoticeConfig)
		field  string
	}{
		{"default", func(*NoticeConfig) {}, ""},
		{"no warning prefix", func(c *NoticeConfig) { c.WarningPrefix = " " }, "warningPrefix:"},
		{"no rectification prefix", func(c *NoticeConfig) { c.RectificationPrefix = "" }, "rectificationPrefix:"},
		{"same prefix", func(c *NoticeConfig) { c.RectificationPrefix = c.WarningPrefix }, "rectificationPrefix:"},
		{"zero days", func(c *NoticeConfig) { c.RectificationDays = 0 }, "rectificationDays:"},
		{"too many days", func(c *NoticeConfig) { c.WarningDays = 400 }, "warningDays:"},
		{"no district", func(c *NoticeConfig) { c.District = "" }, "district:"},
	}
	for _, tt := range tests {
		c := DefaultNoticeConfig()
		tt.modify(&c)
		err := c.Validate()
		if (tt.field == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.field)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.field)
		}
	}
}

func TestNoticeHTML(t *testing.T) {
	facts := append([]Fact{}, toC...)
	facts[0].Note = `<script>alert("x")</script> & 收款人`
	ch, r := fall(t, nil, facts)
	to := yantou
	to.VillageName = `岩头<b>村`
	n, err := IssueNotice(DefaultNoticeConfig(), &Counter{}, ch, r, to, day(6, 3))
	if err != nil {
		t.Fatal(err)
	}
	html, err := n.HTML()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<html lang="zh-CN">`,
		"<title>预警通知书 奉纪预〔2026〕1号</title>",
		"@page { size: A4;",
		`<div class="masthead">中共奉化区纪委 溪口镇纪委</div>`,
		"<h1>预警通知书</h1>",
		`<p class="number">奉纪预〔2026〕1号</p>`,
		`<p class="to">致：岩头&lt;b&gt;村党组织、村民委员会</p>`,
		"<li>2026年3月2日，违规预警（利益冲突未回避）：&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; 收款人（编号：XK-2026-0042），扣10分。</li>",
		"<li>2026年6月1日，",
		"于2026年6月18日前书面报送溪口镇纪委",
		"<p>中共奉化区纪委</p>\n<p>溪口镇纪委</p>\n<p>二〇二六年六月三日</p>",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Contains(html, "<script>") || strings.Contains(html, "<b>") {
		t.Error("HTML is not escaped")
	}
	if strings.Count(html, "<li>") != 4 {
		t.Errorf("%d reasons", strings.Count(html, "<li>"))
	}
}

func TestDates(t *testing.T) {
	tests := []struct {
		at         time.Time
		cn, seal   string
		days       int
		deadline   string
		lastDayStr string
	}{
		{time.Date(2026, 3, 5, 9, 0, 0, 0, Shanghai), "2026年3月5日", "二〇二六年三月五日", 15, "2026-03-21 00:00", "2026年3月20日"},
		{time.Date(2026, 12, 31, 23, 59, 0, 0, Shanghai), "2026年12月31日", "二〇二六年十二月三十一日", 7, "2027-01-08 00:00", "2027年1月7日"},
		{time.Date(2030, 10, 20, 0, 0, 0, 0, Shanghai), "2030年10月20日", "二〇三〇年十月二十日", 30, "2030-11-20 00:00", "2030年11月19日"},
		{time.Date(2026, 11, 11, 0, 0, 0, 0, Shanghai), "2026年11月11日", "二〇二六年十一月十一日", 1, "2026-11-13 00:00", "2026年11月12日"},
		// 20:00 UTC on 1 February is 2 February in China.
		{time.Date(2026, 2, 1, 20, 0, 0, 0, time.UTC), "2026年2月2日", "二〇二六年二月二日", 15, "2026-02-18 00:00", "2026年2月17日"},
	}
	for _, tt := range tests {
		if got := dateCN(tt.at); got != tt.cn {
			t.Errorf("dateCN = %s, want %s", got, tt.cn)
		}
		if got := dateSeal(tt.at); got != tt.seal {
			t.Errorf("dateSeal = %s, want %s", got, tt.seal)
		}
		d := endOfDay(tt.at, tt.days)
		if got := d.In(Shanghai).Format("2006-01-02 15:04"); got != tt.deadline {
			t.Errorf("endOfDay(%v, %d) = %s, want %s", tt.at, tt.days, got, tt.deadline)
		}
		if got := dateCN(lastDay(d)); got != tt.lastDayStr {
			t.Errorf("lastDay = %s, want %s", got, tt.lastDayStr)
		}
	}
	if got := DocNumber("奉纪预", 2026, 3); got != "奉纪预〔2026〕3号" {
		t.Errorf("DocNumber = %s", got)
	}
}

func TestNoticeReasonsCapped(t *testing.T) {
	rules := DefaultRules()
	rules.Kinds[FactWarning].Subkinds["deadline"] = SubkindRule{Label: "办理超期", Points: -4, Cap: 6}
	facts := append(append([]Fact{}, toC...), warnings("d", "deadline", 3, day(9, 1))...)
	r := Rate(rules, vil, y2026, facts) // 74 - 4 - 2 - 0 = 68: D
	ch := Diff(rules.Initial(vil, y2026), r)
	n, err := IssueNotice(DefaultNoticeConfig(), &Counter{}, ch, r, yantou, day(9, 5))
	if err != nil {
		t.Fatal(err)
	}
	got := n.Reasons[len(n.Reasons)-2:]
	want := []string{"2026年9月1日，违规预警（办理超期），扣4分。", "2026年9月2日，违规预警（办理超期），扣2分（本期该项扣分已达上限）。"}
	if strings.Join(got, "|") != strings.Join(want, "|") || len(n.Reasons) != 6 {
		t.Errorf("reasons %q", n.Reasons)
	}
}
