// Package workcalendar is the data format of a working-day calendar: the
// holidays (法定节假日) and adjusted working days (调休上班) a district
// publishes on top of (or instead of) the State Council's schedule. The
// operator validates a District's or Town's calendar with Parse before it
// hands it to the town's workflow service, which reads it with Parse too, so
// that what the operator accepts is exactly what the service loads.
//
// The format is YAML or JSON (JSON is YAML), dates as YYYY-MM-DD:
//
//	holidays:   # rest days, whatever weekday they fall on
//	  - 2026-02-16
//	workdays:   # adjusted working days (a Saturday or Sunday worked)
//	  - 2026-02-14
//
// Both keys are optional; no other key is allowed.
package workcalendar

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// File is a parsed calendar, each list sorted and without repeats.
type File struct {
	// Holidays are rest days (YYYY-MM-DD).
	Holidays []string `json:"holidays"`
	// Workdays are adjusted working days (YYYY-MM-DD).
	Workdays []string `json:"workdays"`
}

// Keys of the format.
const (
	KeyHolidays = "holidays"
	KeyWorkdays = "workdays"
)

// MaxBytes bounds a calendar: a decade of schedules is a few KiB.
const MaxBytes = 64 << 10

// Parse reads a calendar in YAML or JSON. Its error names every problem with
// its line: an unknown key, a value that is not a list of dates, a date that
// is not a real YYYY-MM-DD day, a day listed both as a holiday and as a
// working day. Empty data is an empty calendar.
func Parse(data []byte) (File, error) {
	if len(data) > MaxBytes {
		return File{}, fmt.Errorf("the calendar is %d bytes, more than the %d allowed", len(data), MaxBytes)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return File{}, fmt.Errorf("not YAML or JSON: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return File{Holidays: []string{}, Workdays: []string{}}, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return File{Holidays: []string{}, Workdays: []string{}}, nil
	}
	if root.Kind != yaml.MappingNode {
		return File{}, fmt.Errorf("line %d: want a mapping with the keys %s and %s", root.Line, KeyHolidays, KeyWorkdays)
	}
	var problems []error
	lines := map[string]map[string]int{KeyHolidays: {}, KeyWorkdays: {}} // key -> date -> first line
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		seen, known := lines[k.Value]
		if !known {
			problems = append(problems, fmt.Errorf("line %d: unknown key %q (the keys are %s and %s)", k.Line, k.Value, KeyHolidays, KeyWorkdays))
			continue
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue
		}
		if v.Kind != yaml.SequenceNode {
			problems = append(problems, fmt.Errorf("line %d: %s must be a list of dates (YYYY-MM-DD)", v.Line, k.Value))
			continue
		}
		for _, d := range v.Content {
			if d.Kind != yaml.ScalarNode {
				problems = append(problems, fmt.Errorf("line %d: %s entry is not a date (YYYY-MM-DD)", d.Line, k.Value))
				continue
			}
			if _, err := time.Parse(time.DateOnly, d.Value); err != nil || len(d.Value) != len(time.DateOnly) {
				problems = append(problems, fmt.Errorf("line %d: %s %q is not a date (YYYY-MM-DD, a day that exists)", d.Line, strings.TrimSuffix(k.Value, "s"), d.Value))
				continue
			}
			if _, dup := seen[d.Value]; !dup {
				seen[d.Value] = d.Line
			}
		}
	}
	f := File{Holidays: sortedKeys(lines[KeyHolidays]), Workdays: sortedKeys(lines[KeyWorkdays])}
	for _, d := range f.Holidays {
		if wl, both := lines[KeyWorkdays][d]; both {
			problems = append(problems, fmt.Errorf("line %d and line %d: %s is both a holiday and a working day", lines[KeyHolidays][d], wl, d))
		}
	}
	if len(problems) > 0 {
		return File{}, errors.Join(problems...)
	}
	return f, nil
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// JSON is the calendar in its canonical form, as the operator hands it to
// the workflow service: JSON, which every version of the service reads.
func (f File) JSON() []byte {
	if f.Holidays == nil {
		f.Holidays = []string{}
	}
	if f.Workdays == nil {
		f.Workdays = []string{}
	}
	b, _ := json.MarshalIndent(f, "", "  ") // strings only: cannot fail
	return append(b, '\n')
}
