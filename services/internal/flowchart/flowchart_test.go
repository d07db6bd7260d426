package flowchart

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// sampleCatalog reads the sample power list the operator ships.
func sampleCatalog(t testing.TB) *wuxiaov1.PowerCatalogSpec {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "samples", "powercatalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc wuxiaov1.PowerCatalog
	if err := yaml.Unmarshal(data, &pc); err != nil {
		t.Fatal(err)
	}
	return &pc.Spec
}

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

func TestFlowchartEscapesText(t *testing.T) {
	it := *sampleCatalog(t).Items[0].DeepCopy()
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

func TestFlowchartMarksStates(t *testing.T) {
	item := sampleCatalog(t).Item("decision-major-matters")
	states := map[string]StepState{"propose": StateDone, "joint-meeting": StateCurrent}
	classes := wellFormed(t, SVG(item, states))
	if classes["propose"] != "step done" || classes["joint-meeting"] != "step current" || classes["plan-posting"] != "step todo" {
		t.Fatalf("classes %v", classes)
	}
	if !strings.Contains(SVG(item, states), "当前步骤") || strings.Contains(SVG(item, nil), "当前步骤") {
		t.Fatal("the current step is marked only when there is one")
	}
	m := Mermaid(item, states)
	if !strings.Contains(m, "class joint_meeting current") || !strings.Contains(m, "class propose done") {
		t.Fatalf("mermaid marks:\n%s", m)
	}
}
