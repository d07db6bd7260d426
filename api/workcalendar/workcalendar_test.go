package workcalendar

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name     string
		data     string
		holidays []string
		workdays []string
	}{
		{"empty", "", []string{}, []string{}},
		{"null document", "~\n", []string{}, []string{}},
		{"YAML, unquoted dates, sorted and deduplicated", "holidays:\n  - 2026-02-17\n  - 2026-02-16\n  - 2026-02-16\nworkdays:\n  - 2026-02-14\n",
			[]string{"2026-02-16", "2026-02-17"}, []string{"2026-02-14"}},
		{"JSON", `{"holidays": ["2027-02-08"], "workdays": ["2027-01-31", "2027-02-14"]}`,
			[]string{"2027-02-08"}, []string{"2027-01-31", "2027-02-14"}},
		{"only workdays, holidays null", "holidays:\nworkdays: [2026-02-28]\n", []string{}, []string{"2026-02-28"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.Holidays, tc.holidays) || !slices.Equal(f.Workdays, tc.workdays) {
				t.Fatalf("got %+v, want holidays %v workdays %v", f, tc.holidays, tc.workdays)
			}
			again, err := Parse(f.JSON())
			if err != nil || !slices.Equal(again.Holidays, f.Holidays) || !slices.Equal(again.Workdays, f.Workdays) {
				t.Fatalf("canonical JSON %s reads back as %+v, %v", f.JSON(), again, err)
			}
		})
	}
}

func TestParseNamesTheBadLine(t *testing.T) {
	cases := []struct {
		name string
		data string
		want []string // every one in the error
	}{
		{"not a date", "holidays:\n  - 2026-02-16\n  - 2026-02-30\n", []string{`line 3: holiday "2026-02-30" is not a date`}},
		{"slashes", "workdays: [2026/02/14]\n", []string{`line 1: workday "2026/02/14" is not a date`}},
		{"short month", "holidays:\n  - 2026-2-16\n", []string{`line 2: holiday "2026-2-16"`}},
		{"both", "holidays:\n  - 2026-02-16\nworkdays:\n  - 2026-02-14\n  - 2026-02-16\n",
			[]string{"line 2 and line 5: 2026-02-16 is both a holiday and a working day"}},
		{"unknown key", "holidays: []\nworkday:\n  - 2026-02-14\n", []string{`line 2: unknown key "workday"`}},
		{"not a list", "holidays: 2026-02-16\n", []string{"line 1: holidays must be a list"}},
		{"not a mapping", "- 2026-02-16\n", []string{"line 1: want a mapping"}},
		{"nested entry", "holidays:\n  - [2026-02-16]\n", []string{"line 2: holidays entry is not a date"}},
		{"every problem at once", "holidays:\n  - 2026-13-01\nextra: 1\n", []string{"line 2:", `line 3: unknown key "extra"`}},
		{"not YAML", "holidays: [\n", []string{"not YAML or JSON"}},
		{"too big", "holidays: []\n" + strings.Repeat("#", MaxBytes), []string{"more than the"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
