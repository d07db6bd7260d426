package inspection

// District views: every village by grade and inspection coverage, grouped by
// town, and orders and interviews counted by town and year, as JSON and as
// a staff HTML page (a heat map by grade).
//
// Scope: each town runs its own inspection instance with its own database,
// so one instance's district view covers what it knows — its own town. A
// district-wide view across towns needs an aggregation over every town's
// instance (or their event streams), which does not exist yet.

import (
	"bytes"
	"context"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
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
	Period string         `json:"period"`
	AsOf   time.Time      `json:"asOf"`
	Scope  string         `json:"scope"`
	Towns  []DistrictTown `json:"towns"`
}

const districtScope = "this instance's town only: each town runs its own inspection service and database; a district-wide aggregation is not built yet"

// District builds the overview for the current period.
func (s *Service) District(ctx context.Context) (DistrictView, error) {
	period := s.Rules.PeriodOf(s.now())
	ratings, err := s.ratingsOf(ctx, period)
	if err != nil {
		return DistrictView{}, err
	}
	known, err := s.KnownVillages(ctx)
	if err != nil {
		return DistrictView{}, err
	}
	visited, err := s.visitedVillages(ctx, 0)
	if err != nil {
		return DistrictView{}, err
	}
	byVillage := map[string]Rating{}
	for _, r := range ratings {
		byVillage[r.Village] = r
	}
	for v := range known {
		if _, ok := byVillage[v]; !ok {
			byVillage[v] = s.Rules.Initial(v, period)
		}
	}
	t := DistrictTown{Town: s.Town, TownName: s.TownName, Grades: map[string]int{"A": 0, "B": 0, "C": 0, "D": 0}, Villages: []DistrictVillage{}}
	universe := make([]string, 0, len(known))
	seen := map[string]bool{}
	for v, r := range byVillage {
		name := known[v]
		if name == "" {
			name = s.VillageNames[v]
		}
		_, isKnown := known[v]
		if isKnown {
			universe = append(universe, v)
		}
		seen[v] = visited[v] != ""
		t.Villages = append(t.Villages, DistrictVillage{Village: v, Name: name, Grade: r.Grade, Points: r.Points, Covered: visited[v] != "", LastVisit: visited[v]})
		t.Grades[string(r.Grade)]++
	}
	slices.SortFunc(t.Villages, func(a, b DistrictVillage) int { return strings.Compare(a.Village, b.Village) })
	t.Coverage = CoverageOf(universe, seen)
	if t.Orders, err = s.countByYear(ctx, `SELECT year, colour, count(*) FROM orders WHERE town = $1 GROUP BY year, colour`); err != nil {
		return DistrictView{}, err
	}
	if t.Interviews, err = s.countByYear(ctx, `SELECT extract(year FROM held_at AT TIME ZONE 'Asia/Shanghai')::int, '', count(*)
		FROM interviews WHERE town = $1 GROUP BY 1`); err != nil {
		return DistrictView{}, err
	}
	return DistrictView{Period: period.String(), AsOf: s.now(), Scope: districtScope, Towns: []DistrictTown{t}}, nil
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
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]YearCount, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b YearCount) int { return b.Year - a.Year })
	return out, nil
}

func (s *Service) districtRoutes(srv *httpapi.Server) {
	srv.HandleFunc("GET /v1/district/overview", s.districtOverview)
	srv.HandleFunc("GET /v1/district/overview/html", s.districtOverviewHTML)
}

const whyDistrict = "only district staff and the town's discipline office read the district overview"

func (s *Service) districtOverview(w http.ResponseWriter, r *http.Request) {
	if _, ok := need(w, r, s.canReadDistrict, whyDistrict); !ok {
		return
	}
	v, err := s.District(r.Context())
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, v)
}

func (s *Service) districtOverviewHTML(w http.ResponseWriter, r *http.Request) {
	if _, ok := need(w, r, s.canReadDistrict, whyDistrict); !ok {
		return
	}
	v, err := s.District(r.Context())
	if err != nil {
		httpapi.WriteError(w, r, err)
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

var districtPage = template.Must(template.New("district").Funcs(template.FuncMap{
	"date": func(t time.Time) string { return t.In(Shanghai).Format("2006年1月2日 15:04") },
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
<p class="note">考核期：{{.Period}}；数据截至：{{date .AsOf}}。</p>
<p class="note">说明：各镇（街道）的监督评级服务各自独立运行、各有数据库，本页仅包含本实例所属镇（街道）的数据；跨镇汇总的全区视图尚待建设。</p>
<p class="legend">评级：<span class="A">A 档</span><span class="B">B 档</span><span class="C">C 档</span><span class="D">D 档</span></p>
{{range .Towns}}
<h2>{{if .TownName}}{{.TownName}}{{else}}{{.Town}}{{end}}</h2>
<p>巡察覆盖：{{.Coverage.Covered}} / {{.Coverage.Total}} 个村（社区），覆盖率 {{.Coverage.Percent}}%{{if .Coverage.Uncovered}}；尚未覆盖 {{len .Coverage.Uncovered}} 个{{end}}。
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
{{end}}
</body>
</html>
`))
