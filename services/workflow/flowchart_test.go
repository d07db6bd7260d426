package workflow

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

// wellFormed parses the SVG as XML and returns the class of each step group.
func wellFormed(t *testing.T, svg string) map[string]string {
	t.Helper()
	classes := map[string]string{}
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return classes
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "g" {
			var step, class string
			for _, a := range se.Attr {
				switch a.Name.Local {
				case "data-step":
					step = a.Value
				case "class":
					class = a.Value
				}
			}
			classes[step] = class
		}
	}
}

func TestFlowchartsOfEveryItem(t *testing.T) {
	cat := sampleCatalog(t)
	for i := range cat.Items {
		it := &cat.Items[i]
		svg := SVG(it, nil)
		classes := wellFormed(t, svg)
		if len(classes) != len(it.Steps) {
			t.Errorf("%s: %d step boxes, want %d", it.ID, len(classes), len(it.Steps))
		}
		m := Mermaid(it, nil)
		for _, s := range it.Steps {
			if !strings.Contains(svg, esc(s.Name)) || !strings.Contains(m, strings.ReplaceAll(s.ID, "-", "_")+"[") {
				t.Errorf("%s: step %s missing from a drawing", it.ID, s.ID)
			}
			for _, n := range s.Next {
				edge := strings.ReplaceAll(s.ID, "-", "_") + " --> " + strings.ReplaceAll(n, "-", "_")
				if !strings.Contains(m, edge) {
					t.Errorf("%s: Mermaid lacks %q", it.ID, edge)
				}
			}
		}
	}
}

func TestFlowchartMarksTheInstance(t *testing.T) {
	e := newEngine(t)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, Shanghai)
	inst, _, _ := e.Start(cadre("secretary"), StartInput{ItemID: "decision-major-matters", Village: village, Title: "议题", Now: now})
	if _, _, err := e.Complete(inst, cadre("secretary"), CompleteInput{StepID: "propose", Now: now}); err != nil {
		t.Fatal(err)
	}
	item := e.Catalog.Item("decision-major-matters")
	classes := wellFormed(t, SVG(item, StatesOf(inst)))
	if classes["propose"] != "step done" || classes["joint-meeting"] != "step current" || classes["plan-posting"] != "step todo" {
		t.Fatalf("classes %v", classes)
	}
	m := Mermaid(item, StatesOf(inst))
	if !strings.Contains(m, "class joint_meeting current") || !strings.Contains(m, "class propose done") {
		t.Fatalf("mermaid marks:\n%s", m)
	}
}

func TestFlowchartEscapesText(t *testing.T) {
	it := sampleCatalog(t).Items[0]
	it.Steps[0].Name = `<script>alert("x")</script>`
	svg := SVG(&it, nil)
	if strings.Contains(svg, "<script>") {
		t.Fatal("step name not escaped in SVG")
	}
	wellFormed(t, svg)
	if strings.Contains(Mermaid(&it, nil), "<script>") {
		t.Fatal("step name not escaped in Mermaid")
	}
}
