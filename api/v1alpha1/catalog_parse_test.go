package v1alpha1

import (
	"strings"
	"testing"
)

func TestParseResolvedCatalog(t *testing.T) {
	const item = `{"id":"a","name":"A","category":"funds","basis":["x"],"steps":[{"id":"s1","name":"S","handler":"h","role":"director","method":"m"%s}]}`
	doc := func(version, items string) string {
		return `{"name":"c","version":"` + version + `","title":"t","items":[` + items + `]}`
	}
	ok := strings.Replace(item, "%s", "", 1)
	for _, tc := range []struct {
		name, doc, err string
	}{
		{"valid", doc("2020.1", ok), ""},
		{"not JSON", "{", "power catalog: unexpected end of JSON input"},
		{"no version", doc("", ok), `power catalog "c": no version or no items`},
		{"no items", doc("2020.1", ""), `power catalog "c": no version or no items`},
		{"item twice", doc("2020.1", ok+","+ok), `power catalog "c": item a listed twice`},
		{"no steps", doc("2020.1", `{"id":"a","name":"A","steps":[]}`), `power catalog "c": item a has no steps`},
		{"unknown next", doc("2020.1", strings.Replace(item, "%s", `,"next":["s9"]`, 1)), `power catalog "c": item a step s1 leads to unknown step s9`},
		{"nobody can start", doc("2020.1", strings.Replace(ok, `"role":"director"`, `"role":"mayor"`, 1)),
			`power catalog "c": item a: nobody can start the item: its first step s1 names the role "mayor", which no one holds; set role to one of ` + stepRoleList()},
		{"never ends", doc("2020.1", strings.Replace(item, "%s", `,"next":["s1"]`, 1)),
			`power catalog "c": item a: step s1: a step cannot follow itself; remove "s1" from its next steps; the process never ends: at least one step must have no next step`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseResolvedCatalog([]byte(tc.doc))
			if tc.err == "" {
				if err != nil || c.Name != "c" || len(c.Items) != 1 {
					t.Fatalf("got %+v, %v", c, err)
				}
				return
			}
			if err == nil || err.Error() != tc.err {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}
