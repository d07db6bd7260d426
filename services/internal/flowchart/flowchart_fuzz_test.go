package flowchart

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// fuzzItem builds a power item: ids of the shape the CRD allows, any text
// in names, handlers and methods (the CRD does not restrict it), and a flow
// from graph (a bitmask of next steps per step; loops allowed, a step never
// follows itself and only existing steps follow, as the operator checks).
func fuzzItem(id string, names []string, graph []byte) *wuxiaov1.PowerItem {
	item := &wuxiaov1.PowerItem{ID: id, Name: names[0]}
	n := 1 + int(graph[0]%8)
	for i := 0; i < n; i++ {
		s := wuxiaov1.Step{ID: fmt.Sprintf("step-%d", i), Name: names[(1+i)%len(names)],
			Handler: names[(2+i)%len(names)], Method: names[(3+i)%len(names)]}
		if i < len(graph)-1 {
			m := graph[i+1]
			for j := 0; j < n; j++ {
				if m&(1<<j) != 0 && j != i {
					s.Next = append(s.Next, fmt.Sprintf("step-%d", j))
				}
			}
			switch m % 3 {
			case 1:
				s.TimeLimit = &wuxiaov1.TimeLimit{Days: int32(m), Calendar: "calendar"}
			case 2:
				s.TimeLimit = &wuxiaov1.TimeLimit{Days: int32(m)}
			}
		}
		item.Steps = append(item.Steps, s)
		if i%2 == 1 {
			item.Controls = append(item.Controls, wuxiaov1.Control{ID: fmt.Sprintf("c%d", i), Step: s.ID})
		}
	}
	return item
}

// itemID makes any text an id of the CRD's shape ([a-z0-9-], at most 63).
func itemID(s string) string {
	id := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r == '-':
			return '-'
		}
		return -1
	}, s)
	id = strings.Trim(id, "-")
	if id == "" {
		id = "x"
	}
	return id[:min(len(id), 63)]
}

// FuzzSVG: the drawing is well-formed XML with an <svg> root, one box per
// step carrying its id, and every step's name as text, whatever the
// catalog's text holds; Mermaid's labels never let a name end its quote.
func FuzzSVG(f *testing.F) {
	f.Add("decision-major-matters", "重大事项决策", "村党组织提议", "村两委", "会议", []byte{3, 0b010, 0b100, 0}, uint8(1))
	f.Add("a", "<script>&amp;\"'", "]]><!--", "x\x01y", "\ufffe", []byte{4, 0b0010, 0b0101, 0b1000, 0b0001}, uint8(2))
	f.Add("funds-expenditure", "\xff\xfe", "步骤\n名称", "经办人（很长很长很长很长很长很长很长很长的名字）", "", []byte{8, 255, 255, 255, 255, 255, 255, 255, 255}, uint8(0))
	f.Add("z", "", "", "", "", []byte{0}, uint8(3))
	f.Fuzz(func(t *testing.T, id, name, step, handler, method string, graph []byte, state uint8) {
		if len(graph) == 0 {
			graph = []byte{0}
		}
		item := fuzzItem(itemID(id), []string{name, step, handler, method}, graph)
		states := map[string]StepState{}
		for i, s := range item.Steps {
			states[s.ID] = []StepState{"", StateTodo, StateDone, StateCurrent}[(int(state)+i)%4]
		}
		svg := SVG(item, states)
		checkSVG(t, item, svg)
		mm := Mermaid(item, states)
		for _, s := range item.Steps {
			if !strings.Contains(mm, "\n  "+strings.ReplaceAll(s.ID, "-", "_")+"[\"") {
				t.Fatalf("Mermaid has no node for %s:\n%s", s.ID, mm)
			}
		}
		for _, line := range strings.Split(mm, "\n") {
			if i := strings.Index(line, `["`); i >= 0 && strings.Count(line[i:], `"`) != 2 && !strings.ContainsAny(name+step+handler+method, "\r\n") {
				t.Fatalf("a name ends its Mermaid quote early: %q", line)
			}
		}
	})
}

func checkSVG(t *testing.T, item *wuxiaov1.PowerItem, svg string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	dec.Strict = true
	depth := 0
	boxes := map[string]int{}
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML (%v):\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 && tok.Name.Local != "svg" {
				t.Fatalf("root element %s", tok.Name.Local)
			}
			if tok.Name.Local == "script" || tok.Name.Local == "foreignObject" {
				t.Fatalf("text became an element <%s>", tok.Name.Local)
			}
			for _, a := range tok.Attr {
				if a.Name.Local == "data-step" {
					boxes[a.Value]++
				}
				if strings.HasPrefix(strings.ToLower(a.Name.Local), "on") {
					t.Fatalf("text became an event handler %s", a.Name.Local)
				}
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			text.Write(tok)
		}
	}
	if depth != 0 {
		t.Fatalf("unbalanced SVG:\n%s", svg)
	}
	for _, s := range item.Steps {
		if boxes[s.ID] != 1 {
			t.Fatalf("step %s has %d boxes", s.ID, boxes[s.ID])
		}
	}
	if len(boxes) != len(item.Steps) {
		t.Fatalf("%d boxes for %d steps", len(boxes), len(item.Steps))
	}
	for _, s := range item.Steps {
		if want := xmlText(s.Name); !strings.Contains(text.String(), want) {
			t.Fatalf("step name %q (as %q) is not in the drawing's text", s.Name, want)
		}
	}
}

// xmlText is what an XML reader sees of s: the characters XML allows, line
// ends normalised.
func xmlText(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF {
			return r
		}
		return -1
	}, s)
}
