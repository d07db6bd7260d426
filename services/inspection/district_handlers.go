package inspection

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

func (s *Service) districtRoutes(srv *httpapi.Server) {
	srv.HandleFunc("GET /v1/district/overview", s.districtOverview)
	srv.HandleFunc("GET /v1/district/overview/html", s.districtOverviewHTML)
}

const whyDistrict = "only district staff and the town's discipline office read the district overview"

// districtView answers the overview for the principal: district staff see
// every town (those limited to a 片组 this town's part), the town's
// discipline office its own (canReadDistrict lets no other town's staff in).
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
	// Only district staff without a 片组 see every town at once: this
	// service does not know the other towns' groups, so an official
	// limited to one gets the town's own part (the door let them in only
	// if this town is in their group).
	v, err := s.District(r.Context(), p.DistrictWide(), year)
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
	if p, ok := identity.FromContext(r.Context()); ok && p.DistrictWide() && s.elsewhere() {
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
