package workflow

import (
	"fmt"
	"maps"
	"os"
	"sync/atomic"
	"time"

	"github.com/6tail/lunar-go/HolidayUtil"

	"github.com/wuxiao/wuxiao/api/workcalendar"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// Calendar decides which days are working days. Weekends are rest days
// unless listed as adjusted working days (调休上班); holidays are rest days.
// The State Council publishes each year's schedule in November or December:
// the default calendar (OfficialCalendar) carries the schedules
// github.com/6tail/lunar-go has, and a district's calendar file (the
// api/workcalendar format, which the operator validates and hands over)
// overrides or extends them. A Calendar's days can be replaced while it is
// in use (Reload), so that a new schedule takes effect without a restart.
type Calendar struct {
	days atomic.Pointer[calendarDays]
}

type calendarDays struct {
	holidays map[string]bool
	workdays map[string]bool
}

// CalendarFile is a calendar's data: dates as YYYY-MM-DD.
type CalendarFile = workcalendar.File

// NewCalendar builds a calendar from explicit holiday and adjusted-workday
// lists only (no official schedule beneath: tests, or a district that wants
// none).
func NewCalendar(f CalendarFile) (*Calendar, error) {
	d := &calendarDays{holidays: map[string]bool{}, workdays: map[string]bool{}}
	if err := d.add(f); err != nil {
		return nil, err
	}
	c := &Calendar{}
	c.days.Store(d)
	return c, nil
}

// add puts f's days over d: a day f lists as a holiday is no longer an
// adjusted working day, and the other way round.
func (d *calendarDays) add(f CalendarFile) error {
	for _, set := range []struct {
		dates      []string
		into, from map[string]bool
		what       string
	}{{f.Holidays, d.holidays, d.workdays, "holiday"}, {f.Workdays, d.workdays, d.holidays, "workday"}} {
		for _, day := range set.dates {
			if _, err := time.Parse(time.DateOnly, day); err != nil {
				return fmt.Errorf("calendar %s %q: want YYYY-MM-DD", set.what, day)
			}
		}
	}
	for _, h := range f.Holidays {
		for _, w := range f.Workdays {
			if h == w {
				return fmt.Errorf("calendar: %s is both a holiday and a working day", h)
			}
		}
	}
	for _, day := range f.Holidays {
		d.holidays[day] = true
		delete(d.workdays, day)
	}
	for _, day := range f.Workdays {
		d.workdays[day] = true
		delete(d.holidays, day)
	}
	return nil
}

// officialFirstYear and officialLastYear bound the years read from the
// library's schedule (it starts in 2001; later years are absent until a
// new release carries them, which OfficialYears reports).
const (
	officialFirstYear = 2001
	officialLastYear  = 2100
)

var official = func() *calendarDays {
	d := &calendarDays{holidays: map[string]bool{}, workdays: map[string]bool{}}
	for y := officialFirstYear; y <= officialLastYear; y++ {
		for e := HolidayUtil.GetHolidaysByYear(y).Front(); e != nil; e = e.Next() {
			h := e.Value.(*HolidayUtil.Holiday)
			if h.IsWork() {
				d.workdays[h.GetDay()] = true
			} else {
				d.holidays[h.GetDay()] = true
			}
		}
	}
	return d
}()

// OfficialCalendar is the State Council's published schedule of holidays
// and adjusted working days, as github.com/6tail/lunar-go carries it (go.mod
// pins the version: a year's schedule arrives with a new release).
func OfficialCalendar() *Calendar {
	c := &Calendar{}
	c.days.Store(official)
	return c
}

// OfficialYears returns the first and the last year the official schedule
// covers.
func OfficialYears() (first, last int) {
	for day := range official.holidays {
		y, _ := time.Parse(time.DateOnly, day)
		if first == 0 || y.Year() < first {
			first = y.Year()
		}
		if y.Year() > last {
			last = y.Year()
		}
	}
	return first, last
}

// ParseCalendar reads a calendar file (api/workcalendar: YAML or JSON) and
// puts its days over the official schedule.
func ParseCalendar(data []byte) (*Calendar, error) {
	f, err := workcalendar.Parse(data)
	if err != nil {
		return nil, err
	}
	d := &calendarDays{holidays: maps.Clone(official.holidays), workdays: maps.Clone(official.workdays)}
	if err := d.add(f); err != nil {
		return nil, err
	}
	c := &Calendar{}
	c.days.Store(d)
	return c, nil
}

// LoadCalendar reads a calendar file over the official schedule; an empty
// path gives the official schedule alone.
func LoadCalendar(path string) (*Calendar, error) {
	if path == "" {
		return OfficialCalendar(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseCalendar(data)
	if err != nil {
		return nil, fmt.Errorf("calendar %s: %w", path, err)
	}
	return c, nil
}

// Replace makes c decide as o does from now on (a reloaded calendar file).
// Deadlines already computed stay as they are.
func (c *Calendar) Replace(o *Calendar) {
	d := o.days.Load()
	if d == nil {
		d = official
	}
	c.days.Store(d)
}

// IsWorkday reports whether the day of t (in Shanghai) is a working day.
func (c *Calendar) IsWorkday(t time.Time) bool {
	d := t.In(tz.Shanghai)
	key := d.Format(time.DateOnly)
	days := c.days.Load()
	if days == nil { // a zero Calendar is the official schedule
		days = official
	}
	switch {
	case days.holidays[key]:
		return false
	case days.workdays[key]:
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
