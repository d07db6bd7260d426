package workflow

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// Calendar decides which days are working days. Weekends are rest days
// unless listed as adjusted working days (调休上班); holidays are rest days.
// The State Council publishes each year's schedule in December, so it is
// configuration (a JSON file), not code.
type Calendar struct {
	holidays map[string]bool
	workdays map[string]bool
}

// CalendarFile is the JSON form of a calendar: dates as YYYY-MM-DD.
type CalendarFile struct {
	Holidays []string `json:"holidays"`
	Workdays []string `json:"workdays"`
}

// NewCalendar builds a calendar from explicit holiday and adjusted-workday lists.
func NewCalendar(f CalendarFile) (*Calendar, error) {
	c := &Calendar{holidays: map[string]bool{}, workdays: map[string]bool{}}
	for _, set := range []struct {
		dates []string
		into  map[string]bool
		what  string
	}{{f.Holidays, c.holidays, "holiday"}, {f.Workdays, c.workdays, "workday"}} {
		for _, d := range set.dates {
			if _, err := time.Parse(time.DateOnly, d); err != nil {
				return nil, fmt.Errorf("calendar %s %q: want YYYY-MM-DD", set.what, d)
			}
			set.into[d] = true
		}
	}
	for d := range c.holidays {
		if c.workdays[d] {
			return nil, fmt.Errorf("calendar: %s is both a holiday and a working day", d)
		}
	}
	return c, nil
}

// LoadCalendar reads a CalendarFile; an empty path gives weekends only.
func LoadCalendar(path string) (*Calendar, error) {
	if path == "" {
		return NewCalendar(CalendarFile{})
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f CalendarFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("calendar %s: %w", path, err)
	}
	return NewCalendar(f)
}

// IsWorkday reports whether the day of t (in Shanghai) is a working day.
func (c *Calendar) IsWorkday(t time.Time) bool {
	d := t.In(tz.Shanghai)
	key := d.Format(time.DateOnly)
	switch {
	case c.holidays[key]:
		return false
	case c.workdays[key]:
		return true
	}
	return d.Weekday() != time.Saturday && d.Weekday() != time.Sunday
}

// Due returns the deadline of a step entered at start that must be done
// within days calendar or working days: the end (midnight, Shanghai) of the
// last allowed day. The day the step is entered does not count.
func (c *Calendar) Due(start time.Time, days int, unit string) time.Time {
	d := start.In(tz.Shanghai)
	day := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, tz.Shanghai)
	for n := 0; n < days; {
		day = day.AddDate(0, 0, 1)
		if unit == "calendar" || c.IsWorkday(day) {
			n++
		}
	}
	return day.AddDate(0, 0, 1)
}

// DaysBetween counts whole calendar days from a to b in Shanghai (b after a),
// as a public posting's duration is counted: posted on the 1st and taken down
// on the 16th is 15 days.
func DaysBetween(a, b time.Time) int {
	da, db := a.In(tz.Shanghai), b.In(tz.Shanghai)
	ya := time.Date(da.Year(), da.Month(), da.Day(), 0, 0, 0, 0, time.UTC)
	yb := time.Date(db.Year(), db.Month(), db.Day(), 0, 0, 0, 0, time.UTC)
	return int(yb.Sub(ya).Hours() / 24)
}
