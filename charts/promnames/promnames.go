// Package promnames reads the queries out of Wuxiao's alert rules and Grafana
// dashboards (charts/wuxiao-operator/monitoring) and the metric names out of
// those queries, for the tests that hold them against metrics.md
// (charts/monitoring_test.go) and against a real Prometheus scraping a real
// district (hack/e2e/monitoring_test.go).
//
// The names are read with a small lexer rather than Prometheus' own PromQL
// parser, whose module would bring the whole Prometheus server into go.mod:
// string literals, label matchers, range and subquery brackets and grouping
// label lists are dropped, and of the identifiers left, those called as
// functions and PromQL's keywords are not metrics.
package promnames

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

var (
	stringLit = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'` + "|`[^`]*`")
	matchers  = regexp.MustCompile(`\{[^{}]*\}`)
	brackets  = regexp.MustCompile(`\[[^\[\]]*\]`)
	grouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	// An identifier, and whether a call's parenthesis follows it.
	ident    = regexp.MustCompile(`([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?`)
	keywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "offset",
		"bool", "and", "or", "unless", "atan2", "inf", "nan", "Inf", "NaN", "start", "end"}
	// label_values(<query>, <label>): Grafana's variable query.
	labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)
)

// MetricNames returns the metric names expr selects, sorted, each once.
func MetricNames(expr string) []string {
	if m := labelValues.FindStringSubmatch(expr); m != nil {
		expr = m[1]
	}
	e := stringLit.ReplaceAllString(expr, `""`)
	e = matchers.ReplaceAllString(e, " ")
	// Subqueries nest brackets in brackets only through functions, which
	// hold no brackets themselves once matchers are gone; twice is enough.
	e = brackets.ReplaceAllString(brackets.ReplaceAllString(e, " "), " ")
	for {
		n := grouping.ReplaceAllString(e, " ")
		if n == e {
			break
		}
		e = n
	}
	var names []string
	for _, m := range ident.FindAllStringSubmatchIndex(e, -1) {
		name, call := e[m[2]:m[3]], m[4] >= 0
		// Preceded by a digit or a dot: a number's exponent or a
		// duration's unit (offset 1h), not a name.
		number := m[0] > 0 && strings.ContainsRune("0123456789.", rune(e[m[0]-1]))
		if call || number || slices.Contains(keywords, name) || slices.Contains(names, name) {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// BaseName is the metric a stored series name belongs to: a histogram's
// _bucket, _count and _sum series are its base name's.
func BaseName(series string) string {
	for _, s := range []string{"_bucket", "_count", "_sum"} {
		if b, ok := strings.CutSuffix(series, s); ok {
			return b
		}
	}
	return series
}

// Query is one PromQL expression and where it comes from.
type Query struct {
	// Where names the alert, or the dashboard file and panel title.
	Where string
	Expr  string
}

// Alert is one alerting rule of a rule file.
type Alert struct {
	Name        string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// RuleFile is a Prometheus rule file.
type RuleFile struct {
	Groups []struct {
		Name  string  `json:"name"`
		Rules []Alert `json:"rules"`
	} `json:"groups"`
}

// Alerts reads the alerting rules of a rule file, in file order.
func Alerts(path string) ([]Alert, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f RuleFile
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Alert
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Name != "" {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// AlertQueries are the expressions of the rule file's alerts.
func AlertQueries(path string) ([]Query, error) {
	alerts, err := Alerts(path)
	if err != nil {
		return nil, err
	}
	out := make([]Query, 0, len(alerts))
	for _, a := range alerts {
		out = append(out, Query{Where: "alert " + a.Name, Expr: a.Expr})
	}
	return out, nil
}

// Dashboard is the part of a Grafana dashboard the checks read.
type Dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// Panel is a dashboard panel (rows hold their collapsed panels).
type Panel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []Panel `json:"panels"`
}

// Dashboards reads every *.json of dir, by file name.
func Dashboards(dir string) (map[string]Dashboard, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	out := map[string]Dashboard{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d Dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out, nil
}

// Queries are the dashboard's panel targets and query variables.
func (d Dashboard) Queries(file string) []Query {
	var out []Query
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out = append(out, Query{Where: fmt.Sprintf("%s panel %q", file, p.Title), Expr: t.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := ""
		switch x := v.Query.(type) {
		case string:
			q = x
		case map[string]any:
			q, _ = x["query"].(string)
		}
		out = append(out, Query{Where: fmt.Sprintf("%s variable $%s", file, v.Name), Expr: q})
	}
	return out
}

// DashboardQueries are the queries of every dashboard of dir.
func DashboardQueries(dir string) ([]Query, error) {
	ds, err := Dashboards(dir)
	if err != nil {
		return nil, err
	}
	files := make([]string, 0, len(ds))
	for f := range ds {
		files = append(files, f)
	}
	sort.Strings(files)
	var out []Query
	for _, f := range files {
		out = append(out, ds[f].Queries(f)...)
	}
	return out, nil
}

// Names maps every metric name the queries select to where they use it.
func Names(queries []Query) map[string][]string {
	out := map[string][]string{}
	for _, q := range queries {
		for _, n := range MetricNames(q.Expr) {
			out[n] = append(out[n], q.Where)
		}
	}
	return out
}
