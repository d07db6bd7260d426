// Package flowchart draws a power item's process ("one matter, one process,
// one flowchart", 一事一流程一图表) as SVG or Mermaid text, optionally marking
// where an instance stands. Workflow serves the drawings through its API;
// disclosure embeds them in the public portal.
package flowchart

import (
	"fmt"
	"html"
	"strings"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// StepState colours a step in a drawing.
type StepState string

const (
	StateTodo    StepState = "todo"
	StateDone    StepState = "done"
	StateCurrent StepState = "current"
)

// layers places steps in rows by the longest path from the first step,
// ignoring the edges that close a loop (rework), so that every forward edge
// points down. back reports those loop-closing edges.
func layers(item *wuxiaov1.PowerItem) (rows [][]string, row map[string]int, back map[[2]string]bool) {
	back = map[[2]string]bool{}
	state := map[string]int{} // 1 on the DFS stack, 2 done
	var order []string        // reverse post-order = a topological order without back edges
	var dfs func(id string)
	dfs = func(id string) {
		state[id] = 1
		for _, n := range item.Step(id).Next {
			switch state[n] {
			case 0:
				dfs(n)
			case 1:
				back[[2]string{id, n}] = true
			}
		}
		state[id] = 2
		order = append(order, id)
	}
	dfs(item.Steps[0].ID)
	for _, s := range item.Steps { // unreachable steps (the operator flags them)
		if state[s.ID] == 0 {
			dfs(s.ID)
		}
	}
	row = map[string]int{}
	for i := len(order) - 1; i >= 0; i-- {
		id := order[i]
		for _, n := range item.Step(id).Next {
			if !back[[2]string{id, n}] && row[n] < row[id]+1 {
				row[n] = row[id] + 1
			}
		}
	}
	max := 0
	for _, r := range row {
		max = maxInt(max, r)
	}
	byRow := make([][]string, max+1)
	for _, s := range item.Steps {
		byRow[row[s.ID]] = append(byRow[row[s.ID]], s.ID)
	}
	return byRow, row, back
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// TimeLimitText is a step's time limit as villagers read it.
func TimeLimitText(s *wuxiaov1.Step) string {
	if s.TimeLimit == nil {
		return "不限时"
	}
	if s.TimeLimit.Calendar == "calendar" {
		return fmt.Sprintf("%d天", s.TimeLimit.Days)
	}
	return fmt.Sprintf("%d个工作日", s.TimeLimit.Days)
}

const (
	boxW, boxH = 260, 84
	// maxHandler runes fit one line of a box at 12px; longer names are
	// shortened (the full text is in the box's tooltip).
	maxHandler = 19
	gapX, gapY = 40, 56
	margin     = 24
)

// SVG draws an item's flowchart; states marks steps of an instance (nil for
// the bare process).
func SVG(item *wuxiaov1.PowerItem, states map[string]StepState) string {
	rows, row, back := layers(item)
	widest := 0
	for _, r := range rows {
		widest = maxInt(widest, len(r))
	}
	width := 2*margin + widest*boxW + (widest-1)*gapX + 120 // room for routed edges
	height := 2*margin + 40 + len(rows)*boxH + (len(rows)-1)*gapY
	pos := map[string][2]int{}
	for r, ids := range rows {
		rowW := len(ids)*boxW + (len(ids)-1)*gapX
		x0 := margin + 60 + (widest*boxW+(widest-1)*gapX-rowW)/2
		for i, id := range ids {
			pos[id] = [2]int{x0 + i*(boxW+gapX), margin + 40 + r*(boxH+gapY)}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="t-%s" font-family="sans-serif">`,
		width, height, width, height, item.ID)
	fmt.Fprintf(&b, `<title id="t-%s">%s流程图</title>`, item.ID, esc(item.Name))
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>`)
	b.WriteString(`<style>.step rect{fill:#fff;stroke:#667;stroke-width:1.5}.step.done rect{fill:#e6f4ea;stroke:#2e7d32}.step.current rect{fill:#fff4d6;stroke:#c25e00;stroke-width:3}.name{font-size:15px;font-weight:bold;fill:#1a1a1a}.meta{font-size:12px;fill:#444}.warn{font-size:12px;fill:#b3261e}.edge{stroke:#555;stroke-width:1.5;fill:none}</style>`)
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="name">%s</text>`, margin, margin+16, esc(item.Name))
	for _, s := range item.Steps {
		p := pos[s.ID]
		for _, n := range s.Next {
			q := pos[n]
			switch {
			case back[[2]string{s.ID, n}]: // rework loop: up the right side
				x := width - margin - 20
				fmt.Fprintf(&b, `<path class="edge" d="M%d,%d C%d,%d %d,%d %d,%d" stroke-dasharray="5 4" marker-end="url(#arrow)"/>`,
					p[0]+boxW, p[1]+boxH/2, x, p[1]+boxH/2, x, q[1]+boxH/2, q[0]+boxW, q[1]+boxH/2)
			case row[n] == row[s.ID]+1:
				fmt.Fprintf(&b, `<path class="edge" d="M%d,%d L%d,%d" marker-end="url(#arrow)"/>`, p[0]+boxW/2, p[1]+boxH, q[0]+boxW/2, q[1])
			default: // skips rows: down the left side, clear of the boxes between
				x := margin + 10
				fmt.Fprintf(&b, `<path class="edge" d="M%d,%d C%d,%d %d,%d %d,%d" marker-end="url(#arrow)"/>`,
					p[0], p[1]+boxH/2, x, p[1]+boxH/2, x, q[1]+boxH/2, q[0], q[1]+boxH/2)
			}
		}
	}
	for _, s := range item.Steps {
		p := pos[s.ID]
		state := states[s.ID]
		if state == "" {
			state = StateTodo
		}
		fmt.Fprintf(&b, `<g class="step %s" data-step="%s"><rect x="%d" y="%d" width="%d" height="%d" rx="8"/>`, state, esc(s.ID), p[0], p[1], boxW, boxH)
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="name">%s</text>`, p[0]+12, p[1]+24, esc(s.Name))
		fmt.Fprintf(&b, `<title>%s：%s，%s</title>`, esc(s.Name), esc(s.Handler), esc(s.Method))
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="meta">%s</text>`, p[0]+12, p[1]+44, esc(shorten(s.Handler, maxHandler)))
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="meta">时限：%s</text>`, p[0]+12, p[1]+62, TimeLimitText(&s))
		if n := len(item.ControlsOn(s.ID)); n > 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" class="warn">⚠ %d项控制</text>`, p[0]+12, p[1]+78, n)
		}
		if state == StateCurrent {
			fmt.Fprintf(&b, `<text x="%d" y="%d" class="warn">● 当前步骤</text>`, p[0]+boxW-84, p[1]+78)
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// esc escapes text for the SVG, dropping what XML cannot hold at all
// (control characters, U+FFFE/U+FFFF; invalid UTF-8 becomes U+FFFD): one
// such character in a catalog's text made the whole drawing malformed,
// which browsers refuse to show.
func esc(s string) string {
	return html.EscapeString(strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF {
			return r
		}
		return -1
	}, s))
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Mermaid returns the flowchart as Mermaid text, for documents and tools
// that render it themselves.
func Mermaid(item *wuxiaov1.PowerItem, states map[string]StepState) string {
	id := func(s string) string { return strings.ReplaceAll(s, "-", "_") }
	quote := func(s string) string { return strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;").Replace(s) }
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	for _, s := range item.Steps {
		fmt.Fprintf(&b, "  %s[\"%s<br/>%s · %s\"]\n", id(s.ID), quote(s.Name), quote(s.Handler), TimeLimitText(&s))
	}
	for _, s := range item.Steps {
		for _, n := range s.Next {
			fmt.Fprintf(&b, "  %s --> %s\n", id(s.ID), id(n))
		}
	}
	b.WriteString("  classDef done fill:#e6f4ea,stroke:#2e7d32\n  classDef current fill:#fff4d6,stroke:#c25e00,stroke-width:3px\n")
	for _, s := range item.Steps {
		if st := states[s.ID]; st == StateDone || st == StateCurrent {
			fmt.Fprintf(&b, "  class %s %s\n", id(s.ID), st)
		}
	}
	return b.String()
}
