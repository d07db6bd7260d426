package workflow

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/flowchart"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// wellFormed parses the SVG as XML and returns the class of each step group.
func wellFormed(t *testing.T, svg string) map[string]string {
	t.Helper()
	classes := map[string]string{}
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
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

func TestFlowchartMarksTheInstance(t *testing.T) {
	e := newEngine(t)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai)
	inst, _, _ := e.Start(cadre("secretary"), StartInput{ItemID: "decision-major-matters", Village: village, Title: "议题", Now: now})
	if _, _, err := e.Complete(inst, cadre("secretary"), CompleteInput{StepID: "propose", Now: now}); err != nil {
		t.Fatal(err)
	}
	item := e.Catalog.Item("decision-major-matters")
	classes := wellFormed(t, flowchart.SVG(item, StatesOf(inst)))
	if classes["propose"] != "step done" || classes["joint-meeting"] != "step current" || classes["plan-posting"] != "step todo" {
		t.Fatalf("classes %v", classes)
	}
	m := flowchart.Mermaid(item, StatesOf(inst))
	if !strings.Contains(m, "class joint_meeting current") || !strings.Contains(m, "class propose done") {
		t.Fatalf("mermaid marks:\n%s", m)
	}
}
