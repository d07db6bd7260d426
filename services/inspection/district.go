package inspection

// District views: every village by grade and inspection coverage, grouped by
// town, and orders and interviews counted by town and year, as JSON and as
// a staff HTML page (a heat map by grade).
//
// Scope: each town runs its own inspection instance with its own database.
// One instance per district runs the district projection (district_feed.go,
// with Service.DistrictWide set; the operator's District names its town) and
// shows district staff every town: its own town from its own tables (the
// source of the events, no lag), the other towns from the projection of
// their streams. The other instances answer district staff with a 409
// naming that town (Service.DistrictViewTown), or saying that no town does
// (NoDistrictView). A town's discipline office
// sees its own town only, on its own instance. Without the projection and
// without a town to point at (tools, tests), the view is the instance's
// town only, for everyone.

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// DistrictVillage is one village's line in the district view.
type DistrictVillage struct {
	Village string `json:"village"`
	Name    string `json:"name,omitempty"`
	Grade   Grade  `json:"grade"`
	Points  int    `json:"points"`
	Covered bool   `json:"covered"`
	// LastVisit is the day a tour last visited it.
	LastVisit string `json:"lastVisit,omitempty"`
}

// YearCount counts records of a town in a year.
type YearCount struct {
	Year   int `json:"year"`
	Total  int `json:"total"`
	Blue   int `json:"blue,omitempty"`
	Yellow int `json:"yellow,omitempty"`
	Red    int `json:"red,omitempty"`
}

// DistrictTown is one town's part of the district view.
type DistrictTown struct {
	Town       string            `json:"town"`
	TownName   string            `json:"townName"`
	Grades     map[string]int    `json:"grades"`
	Coverage   Coverage          `json:"coverage"`
	Villages   []DistrictVillage `json:"villages"`
	Orders     []YearCount       `json:"orders"`
	Interviews []YearCount       `json:"interviews"`
}

// DistrictView is the district overview as this instance knows it.
type DistrictView struct {
	Period string `json:"period"`
	// Year the visits were counted in; 0 counts every visit.
	Year int       `json:"year,omitempty"`
	AsOf time.Time `json:"asOf"`
	// DistrictWide is true when Towns holds every town the projection
	// knows, false when only this instance's town.
	DistrictWide bool   `json:"districtWide"`
	Scope        string `json:"scope"`
	// Grades and Coverage add up the towns listed (e.g. 295 of 347
	// villages covered: 85.0%).
	Grades   map[string]int `json:"grades"`
	Coverage Coverage       `json:"coverage"`
	Towns    []DistrictTown `json:"towns"`
}

const (
	districtScope     = "this instance's town only: each town runs its own inspection service and database, and this instance does not run the district projection"
	districtWideScope = "the whole district: this town from its own records, the other towns from their inspection and tenant streams (their points are those of their latest change of grade)"
	districtTownScope = "this town only: a town's discipline office sees its own town"
)

// TypeDistrictViewElsewhere is the problem type of a district-wide request
// to an instance that does not run the district projection.
const TypeDistrictViewElsewhere = httpapi.ProblemBase + "inspection/district-view-elsewhere"

// districtViewElsewhere is the 409 that sends district staff to the town
// whose instance builds the district overview; the town is also in the
// member districtViewTown, for clients to follow.
func (s *Service) districtViewElsewhere() *httpapi.Problem {
	if s.DistrictViewTown == NoDistrictView {
		// Sending staff to a town that does not exist would waste their
		// time: the platform team has to name an existing town.
		return &httpapi.Problem{Type: TypeDistrictViewElsewhere, Title: "No town's instance builds the district overview",
			Status: http.StatusConflict,
			Detail: fmt.Sprintf("this is the inspection service of town %s, which holds its own town only; no town's inspection service builds the district overview at the moment (the District names no existing town in spec.districtView.town): ask the platform team to name one",
				s.Town)}
	}
	return (&httpapi.Problem{Type: TypeDistrictViewElsewhere, Title: "The district overview is built by another town's instance",
		Status: http.StatusConflict,
		Detail: fmt.Sprintf("this is the inspection service of town %s, which holds its own town only; the district overview of every town is built by the inspection service of town %s: ask that town's instance",
			s.Town, s.DistrictViewTown)}).With("districtViewTown", s.DistrictViewTown)
}

// elsewhere tells whether district-wide requests belong to another town's
// instance.
func (s *Service) elsewhere() bool {
	return !s.DistrictWide && s.DistrictViewTown != "" && s.DistrictViewTown != s.Town
}

// District builds the overview for the current period, counting visits of
// year (every visit when 0): every town when wide (district staff on an
// instance running the projection), else this town only. A wide request to
// an instance that knows the projection runs elsewhere fails with
// districtViewElsewhere rather than pass this town off as the district.
func (s *Service) District(ctx context.Context, wide bool, year int) (DistrictView, error) {
	if wide && s.elsewhere() {
		return DistrictView{}, s.districtViewElsewhere()
	}
	period := s.Rules.PeriodOf(s.now())
	own, err := s.ownDistrictTown(ctx, period, year)
	if err != nil {
		return DistrictView{}, err
	}
	v := DistrictView{Period: period.String(), Year: year, AsOf: s.now(), Scope: districtScope, Towns: []DistrictTown{own}}
	switch {
	case wide && s.DistrictWide:
		others, err := s.projectedTowns(ctx, period, year)
		if err != nil {
			return DistrictView{}, err
		}
		v.Towns = append(v.Towns, others...)
		slices.SortFunc(v.Towns, func(a, b DistrictTown) int { return strings.Compare(a.Town, b.Town) })
		v.DistrictWide, v.Scope = true, districtWideScope
	case s.DistrictWide || s.elsewhere():
		v.Scope = districtTownScope
	}
	v.Grades, v.Coverage = sumTowns(v.Towns)
	return v, nil
}

// sumTowns adds up the towns' grades and coverage (percent rounded down
// like CoverageOf; uncovered villages in town order).
func sumTowns(towns []DistrictTown) (map[string]int, Coverage) {
	grades := map[string]int{"A": 0, "B": 0, "C": 0, "D": 0}
	c := Coverage{Uncovered: []string{}}
	for _, t := range towns {
		for g, n := range t.Grades {
			grades[g] += n
		}
		c.Total += t.Coverage.Total
		c.Covered += t.Coverage.Covered
		c.Uncovered = append(c.Uncovered, t.Coverage.Uncovered...)
	}
	if c.Total > 0 {
		c.Percent = math.Floor(float64(c.Covered)*1000/float64(c.Total)) / 10
	}
	return grades, c
}

// townGrade is a village's grade and points.
type townGrade struct {
	grade  Grade
	points int
}

// buildTown lays out a town: every known village (unrated ones at the
// initial grade) and every rated one; coverage counts the known ones only
// (visits to villages outside the universe do not count).
func (s *Service) buildTown(town, townName string, period Period, known map[string]string, rated map[string]townGrade, visited map[string]string) DistrictTown {
	t := DistrictTown{Town: town, TownName: townName, Grades: map[string]int{"A": 0, "B": 0, "C": 0, "D": 0},
		Villages: []DistrictVillage{}, Orders: []YearCount{}, Interviews: []YearCount{}}
	all := map[string]townGrade{}
	for v, g := range rated {
		all[v] = g
	}
	for v := range known {
		if _, ok := all[v]; !ok {
			r := s.Rules.Initial(v, period)
			all[v] = townGrade{r.Grade, r.Points}
		}
	}
	universe := make([]string, 0, len(known))
	seen := map[string]bool{}
	for v, g := range all {
		if _, ok := known[v]; ok {
			universe = append(universe, v)
		}
		seen[v] = visited[v] != ""
		t.Villages = append(t.Villages, DistrictVillage{Village: v, Name: known[v], Grade: g.grade, Points: g.points,
			Covered: visited[v] != "", LastVisit: visited[v]})
		t.Grades[string(g.grade)]++
	}
	slices.SortFunc(t.Villages, func(a, b DistrictVillage) int { return strings.Compare(a.Village, b.Village) })
	t.Coverage = CoverageOf(universe, seen)
	return t
}

// ownDistrictTown is this town's part, from its own tables.
func (s *Service) ownDistrictTown(ctx context.Context, period Period, year int) (DistrictTown, error) {
	ratings, err := s.ratingsOf(ctx, period)
	if err != nil {
		return DistrictTown{}, err
	}
	known, err := s.KnownVillages(ctx)
	if err != nil {
		return DistrictTown{}, err
	}
	visited, err := s.visitedVillages(ctx, year)
	if err != nil {
		return DistrictTown{}, err
	}
	rated := make(map[string]townGrade, len(ratings))
	for _, r := range ratings {
		rated[r.Village] = townGrade{r.Grade, r.Points}
	}
	named := make(map[string]string, len(known))
	for v, n := range known {
		if n == "" {
			n = s.VillageNames[v]
		}
		named[v] = n
	}
	t := s.buildTown(s.Town, s.TownName, period, named, rated, visited)
	for i, v := range t.Villages {
		if v.Name == "" {
			t.Villages[i].Name = s.VillageNames[v.Village]
		}
	}
	if t.Orders, err = s.countByYear(ctx, `SELECT year, colour, count(*) FROM orders WHERE town = $1 GROUP BY year, colour`); err != nil {
		return DistrictTown{}, err
	}
	if t.Interviews, err = s.countByYear(ctx, `SELECT extract(year FROM held_at AT TIME ZONE 'Asia/Shanghai')::int, '', count(*)
		FROM interviews WHERE town = $1 GROUP BY 1`); err != nil {
		return DistrictTown{}, err
	}
	return t, nil
}

// projectedTown collects one other town's rows of the projection.
type projectedTown struct {
	known      map[string]string
	rated      map[string]townGrade
	visited    map[string]string
	orders     map[int]*YearCount
	interviews map[int]*YearCount
}

// projectedTowns builds every town of the projection but this one (read
// from its own tables instead), sorted by town.
func (s *Service) projectedTowns(ctx context.Context, period Period, year int) ([]DistrictTown, error) {
	towns := map[string]*projectedTown{}
	get := func(town string) *projectedTown {
		t := towns[town]
		if t == nil {
			t = &projectedTown{known: map[string]string{}, rated: map[string]townGrade{}, visited: map[string]string{},
				orders: map[int]*YearCount{}, interviews: map[int]*YearCount{}}
			towns[town] = t
		}
		return t
	}
	var town, village, text string
	var n, y int
	queries := []struct {
		sql  string
		args []any
		scan []any
		fold func()
	}{
		{`SELECT town, code, name FROM district_villages WHERE town <> $1 AND archived_at IS NULL`, nil, []any{&town, &village, &text},
			func() { get(town).known[village] = text }},
		{`SELECT town, village, grade, points FROM district_grades WHERE town <> $1 AND period = $2`, []any{period.String()},
			[]any{&town, &village, &text, &n}, func() { get(town).rated[village] = townGrade{Grade(text), n} }},
		{`SELECT town, village, to_char(max(visited_on), 'YYYY-MM-DD') FROM district_visits
			WHERE town <> $1 AND ($2 = 0 OR extract(year FROM visited_on) = $2) GROUP BY town, village`, []any{year},
			[]any{&town, &village, &text}, func() { get(town).visited[village] = text }},
		{`SELECT town, colour, year, count(*) FROM district_orders WHERE town <> $1 GROUP BY town, year, colour`, nil,
			[]any{&town, &text, &y, &n}, func() { foldYear(get(town).orders, y, text, n) }},
		{`SELECT town, '', extract(year FROM held_at AT TIME ZONE 'Asia/Shanghai')::int, count(*) FROM district_interviews
			WHERE town <> $1 GROUP BY 1, 3`, nil, []any{&town, &text, &y, &n}, func() { foldYear(get(town).interviews, y, "", n) }},
	}
	for _, q := range queries {
		rows, err := s.Pool.Query(ctx, q.sql, append([]any{s.Town}, q.args...)...)
		if err != nil {
			return nil, err
		}
		if _, err := pgx.ForEachRow(rows, q.scan, func() error { q.fold(); return nil }); err != nil {
			return nil, err
		}
	}
	out := make([]DistrictTown, 0, len(towns))
	for code, p := range towns {
		t := s.buildTown(code, "", period, p.known, p.rated, p.visited)
		t.Orders, t.Interviews = sortedYears(p.orders), sortedYears(p.interviews)
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b DistrictTown) int { return strings.Compare(a.Town, b.Town) })
	return out, nil
}

// countByYear runs a (year, colour, count) query and folds it by year.
func (s *Service) countByYear(ctx context.Context, sql string) ([]YearCount, error) {
	rows, err := s.Pool.Query(ctx, sql, s.Town)
	if err != nil {
		return nil, err
	}
	by := map[int]*YearCount{}
	var year, n int
	var colour string
	if _, err := pgx.ForEachRow(rows, []any{&year, &colour, &n}, func() error {
		foldYear(by, year, colour, n)
		return nil
	}); err != nil {
		return nil, err
	}
	return sortedYears(by), nil
}

func foldYear(by map[int]*YearCount, year int, colour string, n int) {
	c := by[year]
	if c == nil {
		c = &YearCount{Year: year}
		by[year] = c
	}
	c.Total += n
	switch Colour(colour) {
	case Blue:
		c.Blue += n
	case Yellow:
		c.Yellow += n
	case Red:
		c.Red += n
	}
}

func sortedYears(by map[int]*YearCount) []YearCount {
	out := make([]YearCount, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b YearCount) int { return b.Year - a.Year })
	return out
}

func (s *Service) districtRoutes(srv *httpapi.Server) {
	srv.HandleFunc("GET /v1/district/overview", s.districtOverview)
	srv.HandleFunc("GET /v1/district/overview/html", s.districtOverviewHTML)
}

const whyDistrict = "only district staff and the town's discipline office read the district overview"

// districtView answers the overview for the principal: district staff see
// every town, the town's discipline office its own (canReadDistrict lets
// no other town's staff in).
func (s *Service) districtView(w http.ResponseWriter, r *http.Request) (DistrictView, bool) {
	p, ok := need(w, r, s.canReadDistrict, whyDistrict)
	if !ok {
		return DistrictView{}, false
	}
	year, prob := yearParam(r)
	if prob != nil {
		httpapi.WriteProblem(w, r, prob)
		return DistrictView{}, false
	}
	v, err := s.District(r.Context(), p.Role.IsDistrictRole(), year)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return DistrictView{}, false
	}
	return v, true
}

func (s *Service) districtOverview(w http.ResponseWriter, r *http.Request) {
	if v, ok := s.districtView(w, r); ok {
		_ = httpapi.WriteJSON(w, http.StatusOK, v)
	}
}

func (s *Service) districtOverviewHTML(w http.ResponseWriter, r *http.Request) {
	if p, ok := identity.FromContext(r.Context()); ok && p.Role.IsDistrictRole() && s.elsewhere() {
		// Staff follow a link in a browser: tell them in Chinese where the
		// overview is, with the same status as the JSON problem.
		var buf bytes.Buffer
		seat := s.DistrictViewTown
		if seat == NoDistrictView {
			seat = ""
		}
		if err := elsewherePage.Execute(&buf, seat); err != nil {
			httpapi.WriteError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "private, no-store")
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write(buf.Bytes())
		return
	}
	v, ok := s.districtView(w, r)
	if !ok {
		return
	}
	var buf bytes.Buffer
	if err := districtPage.Execute(&buf, v); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "private, no-store")
	_, _ = w.Write(buf.Bytes())
}

// elsewherePage answers district staff on an instance without the overview:
// where it is built ({{.}}, a town), or that no town builds it ("").
var elsewherePage = template.Must(template.New("elsewhere").Parse(`<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>全区村级评级与巡察覆盖概览</title>
</head>
<body>
<h1>全区村级评级与巡察覆盖概览</h1>
{{if .}}<p id="district-view-elsewhere" data-town="{{.}}">全区概览由镇（街道）“{{.}}”的监督评级服务统一生成；本服务仅保存本镇（街道）的数据。请前往该镇（街道）的服务查看全区概览。</p>
{{else}}<p id="district-view-nowhere">目前没有任何镇（街道）的监督评级服务生成全区概览；本服务仅保存本镇（街道）的数据。请联系平台运维团队指定生成全区概览的镇（街道）。</p>
{{end}}</body>
</html>
`))

var districtPage = template.Must(template.New("district").Funcs(template.FuncMap{
	"date":    func(t time.Time) string { return t.In(Shanghai).Format("2006年1月2日 15:04") },
	"percent": func(p float64) string { return strconv.FormatFloat(p, 'f', 1, 64) },
}).Parse(`<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>全区村级评级与巡察覆盖概览</title>
<style>
body { font-family: "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #bbb; padding: 0.3rem 0.6rem; text-align: center; }
th { background: #eee; }
.A { background: #c8e6c9; } .B { background: #fff59d; } .C { background: #ffcc80; } .D { background: #ef9a9a; }
.uncovered { color: #b71c1c; font-weight: bold; }
.note { color: #555; font-size: 0.9rem; }
.legend span { display: inline-block; padding: 0.1rem 0.6rem; margin-right: 0.4rem; }
</style>
</head>
<body>
<h1>全区村级评级与巡察覆盖概览</h1>
<p class="note">考核期：{{.Period}}；巡察统计：{{if .Year}}{{.Year}}年{{else}}历年{{end}}；数据截至：{{date .AsOf}}。</p>
{{if .DistrictWide}}<p class="note">说明：本页汇总全区各镇（街道）的数据。本镇（街道）数据取自本服务记录；其他镇（街道）数据取自其监督评级服务发布的事件，可能有数秒延迟，其积分为最近一次评级变动时的积分。</p>
<p id="district-total">全区巡察覆盖：{{.Coverage.Covered}} / {{.Coverage.Total}} 个村（社区），覆盖率 {{percent .Coverage.Percent}}%；共 {{len .Towns}} 个镇（街道）。
评级分布：A 档 {{index .Grades "A"}} 个，B 档 {{index .Grades "B"}} 个，C 档 {{index .Grades "C"}} 个，D 档 {{index .Grades "D"}} 个。</p>
{{else if eq .Scope "this town only: a town's discipline office sees its own town"}}<p class="note">说明：镇（街道）纪委仅可查看本镇（街道）的数据；全区数据由区纪委监委查看。</p>
{{else}}<p class="note">说明：各镇（街道）的监督评级服务各自独立运行、各有数据库，本实例未启用全区汇总，本页仅包含本实例所属镇（街道）的数据；跨镇汇总请启用全区汇总。</p>
{{end}}<p class="legend">评级：<span class="A">A 档</span><span class="B">B 档</span><span class="C">C 档</span><span class="D">D 档</span></p>
{{range .Towns}}
<section class="town" data-town="{{.Town}}">
<h2>{{if .TownName}}{{.TownName}}{{else}}{{.Town}}{{end}}</h2>
<p>巡察覆盖：{{.Coverage.Covered}} / {{.Coverage.Total}} 个村（社区），覆盖率 {{percent .Coverage.Percent}}%{{if .Coverage.Uncovered}}；尚未覆盖 {{len .Coverage.Uncovered}} 个{{end}}。
评级分布：A 档 {{index .Grades "A"}} 个，B 档 {{index .Grades "B"}} 个，C 档 {{index .Grades "C"}} 个，D 档 {{index .Grades "D"}} 个。</p>
<table>
<thead><tr><th>村（社区）</th><th>代码</th><th>评级</th><th>积分</th><th>巡察</th></tr></thead>
<tbody>
{{range .Villages}}<tr class="{{.Grade}}"><td>{{if .Name}}{{.Name}}{{else}}—{{end}}</td><td>{{.Village}}</td><td>{{.Grade}}</td><td>{{.Points}}</td><td>{{if .Covered}}已覆盖（{{.LastVisit}}）{{else}}<span class="uncovered">未覆盖</span>{{end}}</td></tr>
{{else}}<tr><td colspan="5">暂无村（社区）数据</td></tr>
{{end}}</tbody>
</table>
<h3>三色督查令（按年度）</h3>
<table>
<thead><tr><th>年度</th><th>合计</th><th>蓝色</th><th>黄色</th><th>红色</th></tr></thead>
<tbody>
{{range .Orders}}<tr><td>{{.Year}}</td><td>{{.Total}}</td><td>{{.Blue}}</td><td>{{.Yellow}}</td><td>{{.Red}}</td></tr>
{{else}}<tr><td colspan="5">暂无督查令</td></tr>
{{end}}</tbody>
</table>
<h3>约谈（按年度）</h3>
<table>
<thead><tr><th>年度</th><th>次数</th></tr></thead>
<tbody>
{{range .Interviews}}<tr><td>{{.Year}}</td><td>{{.Total}}</td></tr>
{{else}}<tr><td colspan="2">暂无约谈记录</td></tr>
{{end}}</tbody>
</table>
</section>
{{end}}
</body>
</html>
`))
