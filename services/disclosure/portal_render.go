package disclosure

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"time"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/flowchart"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

//go:embed portal/*.html portal/*.css
var portalFiles embed.FS

// Tabs of the portal's tab bar.
const (
	tabWallet    = "wallet"
	tabSubsidies = "subsidies"
	tabProcesses = "processes"
	tabPowers    = "powers"
	tabPostings  = "postings" // postings.go
)

// view is what a handler hands to the layout: the content template and its
// data.
type view struct {
	Template string
	Title    string
	Tab      string
	Data     any
}

// layoutData is the layout's data.
type layoutData struct {
	Village string
	// VillageName is the name the operator registered ("" before): shown
	// instead of the code.
	VillageName string
	// Archived: the village was archived (撤并); its records stay visible
	// under a notice, and complaints go to the town.
	Archived bool
	Title    string
	Tab      string
	CSS      template.CSS
	Data     any
}

var portalCSS = func() template.CSS {
	b, err := portalFiles.ReadFile("portal/style.css")
	if err != nil {
		panic(err)
	}
	return template.CSS(b) //nolint:gosec // G203: our own file, embedded at build time
}()

var portalFuncs = template.FuncMap{
	"yuan":     func(fen int64) string { return FormatYuan(fen) },
	"pathesc":  url.PathEscape,
	"datetime": func(t time.Time) string { return t.In(tz.Shanghai).Format("2006-01-02 15:04") },
	"ptime": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.In(tz.Shanghai).Format("2006-01-02 15:04")
	},
}

// portalTemplates holds one template set per content template, each with
// the layout.
var portalTemplates = func() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(portalFuncs).ParseFS(portalFiles, "portal/layout.html"))
	pages, err := fs.Glob(portalFiles, "portal/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "portal/"), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(layout.Clone()).ParseFS(portalFiles, p))
	}
	return out
}()

func (s *Service) render(village, villageName string, v view) ([]byte, error) {
	t, ok := portalTemplates[v.Template]
	if !ok {
		return nil, fmt.Errorf("no portal template %q", v.Template)
	}
	var b bytes.Buffer
	err := t.ExecuteTemplate(&b, "layout.html", layoutData{Village: village, VillageName: villageName, Archived: s.villageArchived(village), Title: v.Title, Tab: v.Tab, CSS: portalCSS, Data: v.Data})
	return b.Bytes(), err
}

// scrub masks ID and phone numbers in free text written by cadres (titles,
// descriptions, reasons, warnings) shown on the portal: personal.ScrubText,
// the one masking path of every public output.
func scrub(s string) string { return personal.ScrubText(s) }

// —— 我们的钱包 ——

type walletView struct {
	Village        string
	Year           int
	PrevYear       int
	NextYear       int // 0: no next year to show
	Income         int64
	Spending       int64
	Balance        int64
	Chart          template.HTML
	CategoryChart  template.HTML
	Months         [12]MonthTotals
	Categories     []CategoryTotals
	Entries        []walletEntry
	CSVURL, FDPURL string
}

type walletEntry struct {
	Seq           int64
	Date          string
	Kind          string
	Category      string
	Amount        string
	Description   string
	Counterparty  string
	ProcessURL    string
	Tracking      string
	Reversal      bool
	ReversesSeq   int64
	Reason        string
	Reversed      bool
	ReversedBySeq int64
}

func (s *Service) walletView(ctx context.Context, village string, year int) (view, error) {
	sum, err := s.Summary(ctx, village, year)
	if err != nil {
		return view{}, err
	}
	wv := walletView{Village: village, Year: year, PrevYear: year - 1, Income: sum.IncomeFen, Spending: sum.SpendingFen,
		Balance: sum.BalanceFen, Chart: walletChart(sum), CategoryChart: categoryChart(sum), Months: sum.Months, Categories: sum.Categories,
		CSVURL: fmt.Sprintf("/v1/public/villages/%s/export/%d/ledger.csv", village, year),
		FDPURL: fmt.Sprintf("/v1/public/villages/%s/export/%d/datapackage.json", village, year)}
	if year < s.now().In(tz.Shanghai).Year() {
		wv.NextYear = year + 1
	}
	for _, l := range sum.Lines {
		e := walletEntry{Seq: l.Seq, Date: l.Date, Kind: l.Kind.Label(), Category: l.Category.Name(), Amount: FormatYuan(l.NetFen()),
			Description: scrub(l.Description), Counterparty: personal.MaskCounterparty(l.Counterparty), Tracking: l.TrackingNumber,
			Reversal: l.IsReversal(), ReversesSeq: l.ReversesSeq, Reason: scrub(l.Reason), Reversed: l.Reversed, ReversedBySeq: l.ReversedBySeq}
		if l.TrackingNumber != "" {
			e.ProcessURL = "/v/" + village + "/processes/" + url.PathEscape(l.TrackingNumber)
		}
		wv.Entries = append(wv.Entries, e)
	}
	return view{Template: "wallet", Title: fmt.Sprintf("我们的钱包 · %d年", year), Tab: tabWallet, Data: wv}, nil
}

// Colours of the chart; both reach 4.5:1 against white, as its labels do.
const (
	incomeColour   = "#1b5e20"
	spendingColour = "#b3261e"
)

// walletChart draws income and spending per month as grouped bars, with a
// text alternative; it scales to the phone's width.
func walletChart(sum Summary) template.HTML {
	// Sized for a phone: drawn at about its natural size on a 360px-wide
	// screen, so the labels stay readable.
	const (
		w, h          = 360, 230
		left, right   = 44, 4
		top, bottom   = 30, 34
		plotW, plotH  = w - left - right, h - top - bottom
		groupW        = plotW / 12
		barW          = 11
		gridLines     = 4
		labelFontSize = 11
	)
	var max int64
	for _, m := range sum.Months {
		max = maxOf(max, m.IncomeFen, m.SpendingFen)
	}
	scale := niceCeiling(max)
	y := func(fen int64) int {
		if fen <= 0 {
			return top + plotH
		}
		return top + plotH - int(float64(fen)/float64(scale)*plotH)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title chart-desc" font-family="sans-serif">`, w, h)
	fmt.Fprintf(&b, `<title id="chart-title">%d年每月收入与支出</title>`, sum.Year)
	fmt.Fprintf(&b, `<desc id="chart-desc">全年收入%s元，支出%s元，结余%s元。</desc>`, FormatYuan(sum.IncomeFen), FormatYuan(sum.SpendingFen), FormatYuan(sum.BalanceFen))
	for i := 0; i <= gridLines; i++ {
		v := scale / gridLines * int64(i)
		gy := y(v)
		if i == 0 {
			gy = top + plotH
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#d0d0d0" stroke-width="1"/>`, left, gy, w-right, gy)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" font-size="%d" fill="#333">%s</text>`, left-6, gy+4, labelFontSize, shortYuan(v))
	}
	for i, m := range sum.Months {
		x0 := left + i*groupW + (groupW-2*barW)/2
		for j, bar := range []struct {
			fen    int64
			colour string
			label  string
		}{{m.IncomeFen, incomeColour, "收入"}, {m.SpendingFen, spendingColour, "支出"}} {
			by := y(bar.fen)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%d月%s %s元</title></rect>`,
				x0+j*barW, by, barW, top+plotH-by, bar.colour, m.Month, bar.label, FormatYuan(bar.fen))
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="%d" fill="#333">%d</text>`,
			left+i*groupW+groupW/2, h-bottom+16, labelFontSize, m.Month)
	}
	fmt.Fprintf(&b, `<rect x="%d" y="8" width="12" height="12" fill="%s"/><text x="%d" y="18" font-size="%d" fill="#1a1a1a">收入</text>`,
		left, incomeColour, left+16, labelFontSize)
	fmt.Fprintf(&b, `<rect x="%d" y="8" width="12" height="12" fill="%s"/><text x="%d" y="18" font-size="%d" fill="#1a1a1a">支出</text>`,
		left+56, spendingColour, left+72, labelFontSize)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="%d" fill="#333">月份</text>`, left+plotW/2, h-4, labelFontSize)
	fmt.Fprintf(&b, `<text x="%d" y="18" text-anchor="end" font-size="%d" fill="#333">单位：元</text></svg>`, w-right, labelFontSize)
	return template.HTML(b.String()) //nolint:gosec // G203: built here from numbers and fixed text only
}

// categoryChart draws the year's amount per category as horizontal bars
// (categories without money left out), income and spending in their colours.
func categoryChart(sum Summary) template.HTML {
	var rows []CategoryTotals
	var largest int64
	for _, c := range sum.Categories {
		if c.AmountFen != 0 {
			rows = append(rows, c)
			largest = maxOf(largest, c.AmountFen, -c.AmountFen)
		}
	}
	if len(rows) == 0 {
		return ""
	}
	const (
		w, rowH, labelW, valueW = 360, 26, 112, 92
		barMax                  = w - labelW - valueW
	)
	h := len(rows)*rowH + 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-labelledby="cat-title" font-family="sans-serif">`, w, h)
	fmt.Fprintf(&b, `<title id="cat-title">%d年各科目金额</title>`, sum.Year)
	for i, c := range rows {
		y := 4 + i*rowH
		colour := incomeColour
		if c.Kind == KindSpending {
			colour = spendingColour
		}
		bw := int(float64(max(c.AmountFen, 0)) / float64(largest) * barMax)
		fmt.Fprintf(&b, `<text x="0" y="%d" font-size="12" fill="#1a1a1a">%s</text>`, y+16, template.HTMLEscapeString(c.Name))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="18" fill="%s"/>`, labelW, y+2, max(bw, 1), colour)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" font-size="12" fill="#1a1a1a">%s</text>`, w, y+16, FormatYuan(c.AmountFen))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // G203: names escaped above, the rest numbers
}

func maxOf(a int64, bs ...int64) int64 {
	for _, b := range bs {
		a = max(a, b)
	}
	return a
}

// niceCeiling rounds fen up to 1, 2 or 5 times a power of ten (at least 100
// fen = 1 元), so the axis reads in round numbers.
func niceCeiling(fen int64) int64 {
	if fen <= 100 {
		return 400
	}
	p := int64(1)
	for p*10 <= fen {
		p *= 10
	}
	for _, m := range []int64{1, 2, 4, 5, 10} {
		if p*m >= fen && (p*m)%4 == 0 {
			return p * m
		}
	}
	return p * 10
}

// shortYuan labels an axis: 12000000 fen → "12万".
func shortYuan(fen int64) string {
	yuan := fen / 100
	switch {
	case yuan >= 10000 && yuan%10000 == 0:
		return strconv.FormatInt(yuan/10000, 10) + "万"
	case yuan >= 10000:
		return strconv.FormatFloat(float64(yuan)/10000, 'f', 1, 64) + "万"
	}
	return strconv.FormatInt(yuan, 10)
}

// —— 补贴去哪了 ——

type subsidiesView struct {
	Village    string
	Year       int
	PrevYear   int
	NextYear   int
	Programmes []ProgrammeTotals
	TotalFen   int64
	Payments   []PublicPayment
}

func (s *Service) subsidiesView(ctx context.Context, village string, year int) (view, error) {
	all, err := s.Payments(ctx, village)
	if err != nil {
		return view{}, err
	}
	prefix := fmt.Sprintf("%04d-", year)
	var inYear []Payment
	for _, p := range all {
		if strings.HasPrefix(p.PaidOn, prefix) {
			inYear = append(inYear, p)
		}
	}
	sv := subsidiesView{Village: village, Year: year, PrevYear: year - 1, Programmes: SummarizePayments(all, year), Payments: PublicPayments(inYear)}
	for i := range sv.Payments {
		sv.Payments[i].Reason = scrub(sv.Payments[i].Reason)
	}
	for _, t := range sv.Programmes {
		sv.TotalFen += t.AmountFen
	}
	if year < s.now().In(tz.Shanghai).Year() {
		sv.NextYear = year + 1
	}
	return view{Template: "subsidies", Title: fmt.Sprintf("补贴去哪了 · %d年", year), Tab: tabSubsidies, Data: sv}, nil
}

type lookupView struct {
	Asked    bool
	Problem  string
	Items    []PublicPayment
	TotalFen int64
}

// —— 流程到哪了 ——

type processView struct {
	Village     string
	Process     Process
	Title       string
	ItemName    string
	ItemURL     string
	Status      string
	CurrentStep string
	Chart       template.HTML
	Steps       []processStepRow
	Warnings    []ProcessWarning
	Postings    []processPosting   // postings.go
	Application []applicationStage // applications.go
}

type processStepRow struct {
	Name string
	At   string
}

var statusLabels = map[string]string{ProcessRunning: "办理中", ProcessCompleted: "已办结", ProcessWithdrawn: "已撤回"}

func (s *Service) processView(ctx context.Context, village, tracking string) (view, error) {
	p, err := s.LoadProcess(ctx, village, tracking)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return view{}, notFoundError{"没有找到这个流程", "本村没有办件编号为“" + tracking + "”的流程，请核对编号。"}
		}
		return view{}, err
	}
	pv := processView{Village: village, Process: p, Title: scrub(p.Title), ItemName: p.ItemName, Status: statusLabels[p.Status]}
	pv.Process.WithdrawReason = scrub(p.WithdrawReason)
	item := s.catalogItem(p.ItemID)
	stepName := func(id, fallback string) string {
		if item != nil && item.Step(id) != nil {
			return item.Step(id).Name
		}
		if fallback != "" {
			return fallback
		}
		return id
	}
	states := map[string]flowchart.StepState{}
	for _, st := range p.Steps {
		states[st.StepID] = flowchart.StateDone
		pv.Steps = append(pv.Steps, processStepRow{Name: stepName(st.StepID, st.StepName), At: st.CompletedAt.In(tz.Shanghai).Format("2006-01-02 15:04")})
	}
	if p.Status == ProcessRunning {
		current := p.CurrentStep
		if current == "" && len(p.Steps) == 0 && item != nil {
			current = item.Steps[0].ID // started, nothing done yet
		}
		if current != "" {
			states[current] = flowchart.StateCurrent
			pv.CurrentStep = stepName(current, "")
		}
	}
	if item != nil {
		pv.Chart = template.HTML(flowchart.SVG(item, states)) //nolint:gosec // G203: the package escapes every text it draws
		pv.ItemURL = "/v/" + village + "/powers/" + url.PathEscape(item.ID)
		if pv.ItemName == "" {
			pv.ItemName = item.Name
		}
	}
	for _, w := range p.Warnings {
		w.Message, w.StepID = scrub(w.Message), stepName(w.StepID, "")
		pv.Warnings = append(pv.Warnings, w)
	}
	if pv.Postings, err = s.processPostings(ctx, village, p.InstanceID); err != nil {
		return view{}, err
	}
	app, err := s.loadApplication(ctx, p.InstanceID)
	if err != nil {
		return view{}, err
	}
	pv.Application = applicationStages(app, p.Status)
	return view{Template: "process", Title: "流程到哪了 · " + p.TrackingNumber, Tab: tabProcesses, Data: pv}, nil
}

// —— 权力清单 ——

// categoryLabels name the power categories as the town's list does.
var categoryLabels = map[wuxiaov1.Category]string{
	wuxiaov1.CategoryDecision:     "小决策",
	wuxiaov1.CategoryFunds:        "小资金（资产、资源）",
	wuxiaov1.CategoryProject:      "小项目",
	wuxiaov1.CategoryDuty:         "小职责",
	wuxiaov1.CategoryOrganisation: "小组织建设",
	wuxiaov1.CategoryService:      "便民服务（最多跑一次）",
}

func categoryLabel(c wuxiaov1.Category) string {
	if l, ok := categoryLabels[c]; ok {
		return l
	}
	return string(c)
}

type powersView struct {
	Village string
	Title   string
	Version string
	Groups  []powerGroup
	Count   int
}

type powerGroup struct {
	Label string
	Items []powerLink
}

type powerLink struct {
	Name, Description, URL string
	// Apply: villagers apply for it online (its first step is theirs),
	// on the workflow service's /a/{village}/{item}.
	Apply bool
}

func (s *Service) catalogItem(id string) *wuxiaov1.PowerItem {
	if s.Catalog == nil {
		return nil
	}
	return s.Catalog.Item(id)
}

func (s *Service) powersView() view {
	pv := powersView{}
	if c := s.Catalog; c != nil {
		pv.Title, pv.Version = c.Title, c.Version
		cats := append([]wuxiaov1.Category{}, wuxiaov1.AllCategories...)
		for _, it := range c.Items { // categories the code does not know yet
			if _, ok := categoryLabels[it.Category]; !ok && !contains(cats, it.Category) {
				cats = append(cats, it.Category)
			}
		}
		for _, cat := range cats {
			g := powerGroup{Label: categoryLabel(cat)}
			for _, it := range c.Items {
				if it.Category == cat {
					g.Items = append(g.Items, powerLink{Name: it.Name, Description: it.Description, URL: url.PathEscape(it.ID),
						Apply: len(it.Steps) > 0 && string(it.Steps[0].Role) == "villager"})
				}
			}
			if len(g.Items) > 0 {
				pv.Groups = append(pv.Groups, g)
				pv.Count += len(g.Items)
			}
		}
	}
	return view{Template: "powers", Title: "权力清单", Tab: tabPowers, Data: pv}
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

type powerView struct {
	Item     *wuxiaov1.PowerItem
	Category string
	Chart    template.HTML
	Steps    []powerStep
	Controls []powerControl
}

type powerStep struct {
	Name, Handler, Method, TimeLimit, Next string
}

type powerControl struct {
	Step, Description, Norm, Basis string
}

func (s *Service) powerView(id string) (view, error) {
	item := s.catalogItem(id)
	if item == nil {
		return view{}, notFoundError{"权力清单中没有这一项", "没有找到编号为“" + id + "”的权力事项。清单之外无权力。"}
	}
	pv := powerView{Item: item, Category: categoryLabel(item.Category), Chart: template.HTML(flowchart.SVG(item, nil))} //nolint:gosec // G203: the package escapes every text it draws
	for i := range item.Steps {
		st := &item.Steps[i]
		var next []string
		for _, n := range st.Next {
			if ns := item.Step(n); ns != nil {
				next = append(next, ns.Name)
			}
		}
		nextText := strings.Join(next, "、")
		if nextText == "" {
			nextText = "办结"
		}
		pv.Steps = append(pv.Steps, powerStep{Name: st.Name, Handler: st.Handler, Method: st.Method,
			TimeLimit: flowchart.TimeLimitText(st), Next: nextText})
	}
	for _, c := range item.Controls {
		pc := powerControl{Description: c.Description}
		if st := item.Step(c.Step); st != nil {
			pc.Step = st.Name
		}
		if n := item.Norm(c.Norm); n != nil {
			pc.Norm, pc.Basis = n.Text, n.Basis
		}
		pv.Controls = append(pv.Controls, pc)
	}
	return view{Template: "power", Title: item.Name, Tab: tabPowers, Data: pv}, nil
}
