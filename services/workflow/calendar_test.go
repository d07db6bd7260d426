package workflow

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/tz"
)

func day(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, tz.Shanghai)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCalendarDue(t *testing.T) {
	// An illustrative National Day week: 1-7 October off, Sunday 11 October worked.
	cal, err := NewCalendar(CalendarFile{
		Holidays: []string{"2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07"},
		Workdays: []string{"2026-10-11"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		start string
		days  int
		unit  string
		want  string // the deadline: midnight at the end of this day
	}{
		{"3 working days from a Monday", "2026-11-23 09:00", 3, "working", "2026-11-26"},
		{"3 working days from a Thursday skip the weekend", "2026-11-26 16:00", 3, "working", "2026-12-01"},
		{"3 calendar days from a Thursday", "2026-11-26 16:00", 3, "calendar", "2026-11-29"},
		{"working days skip the holidays, count the adjusted Sunday", "2026-09-30 10:00", 3, "working", "2026-10-11"},
		{"late evening counts as that day in Shanghai", "2026-11-23 23:30", 1, "working", "2026-11-24"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := cal.Due(day(tc.start), tc.days, tc.unit)
			want := day(tc.want+" 00:00").AddDate(0, 0, 1)
			if !got.Equal(want) {
				t.Fatalf("due %s, want %s", got.In(tz.Shanghai), want)
			}
		})
	}
}

func TestCalendarRejectsBadInput(t *testing.T) {
	for _, f := range []CalendarFile{
		{Holidays: []string{"2026/10/01"}},
		{Holidays: []string{"2026-10-01"}, Workdays: []string{"2026-10-01"}},
	} {
		if _, err := NewCalendar(f); err == nil {
			t.Errorf("accepted %+v", f)
		}
	}
}

func TestDaysBetween(t *testing.T) {
	if n := DaysBetween(day("2026-11-01 18:00"), day("2026-11-16 08:00")); n != 15 {
		t.Fatalf("got %d days, want 15", n)
	}
	// UTC evening is already the next day in Shanghai.
	utc := time.Date(2026, 11, 1, 20, 0, 0, 0, time.UTC) // 2 Nov 04:00 in Shanghai
	if n := DaysBetween(utc, day("2026-11-03 12:00")); n != 1 {
		t.Fatalf("got %d days, want 1", n)
	}
}

// TestOfficialCalendar: with nothing configured, the State Council's
// schedule (github.com/6tail/lunar-go) decides: Spring Festival and the
// adjusted Saturdays and Sundays (调休) of 2026 and 2027.
func TestOfficialCalendar(t *testing.T) {
	cal := OfficialCalendar()
	cases := []struct {
		date    string
		workday bool
		why     string
	}{
		{"2026-01-01", false, "New Year's Day (Thursday)"},
		{"2026-01-04", true, "Sunday worked for New Year (调休)"},
		{"2026-02-13", true, "Friday before Spring Festival"},
		{"2026-02-14", true, "Saturday worked for Spring Festival (调休)"},
		{"2026-02-15", false, "Spring Festival holiday starts (Sunday)"},
		{"2026-02-16", false, "除夕 (Monday)"},
		{"2026-02-17", false, "春节 (Tuesday)"},
		{"2026-02-20", false, "Spring Festival holiday (Friday)"},
		{"2026-02-23", false, "last day of the Spring Festival holiday (Monday)"},
		{"2026-02-24", true, "back to work (Tuesday)"},
		{"2026-02-28", true, "Saturday worked for Spring Festival (调休)"},
		{"2026-03-01", false, "an ordinary Sunday"},
		{"2026-10-01", false, "National Day"},
		{"2026-10-10", true, "Saturday worked for National Day (调休)"},
		{"2027-01-31", true, "Sunday worked for Spring Festival 2027 (调休)"},
		{"2027-02-05", false, "Spring Festival 2027 holiday starts (Friday)"},
		{"2027-02-08", false, "Spring Festival 2027 holiday (Monday)"},
		{"2027-02-12", false, "Spring Festival 2027 holiday (Friday)"},
		{"2027-02-14", true, "Sunday worked for Spring Festival 2027 (调休)"},
		{"2027-02-15", true, "an ordinary Monday"},
	}
	for _, tc := range cases {
		t.Run(tc.date, func(t *testing.T) {
			if got := cal.IsWorkday(day(tc.date + " 10:00")); got != tc.workday {
				t.Fatalf("%s (%s): workday %v, want %v", tc.date, tc.why, got, tc.workday)
			}
		})
	}
	if _, last := OfficialYears(); last < 2027 {
		t.Fatalf("the official schedule ends in %d: update github.com/6tail/lunar-go", last)
	}
}

// TestOfficialCalendarDue: deadlines in working days across Spring Festival.
func TestOfficialCalendarDue(t *testing.T) {
	cal := OfficialCalendar()
	cases := []struct {
		name  string
		start string
		days  int
		want  string
	}{
		{"entered Friday 13 February 2026: the adjusted Saturday counts, then the holiday", "2026-02-13 09:00", 2, "2026-02-24"},
		{"entered the last holiday: Tuesday, Wednesday, Thursday", "2026-02-23 09:00", 3, "2026-02-26"},
		{"5 working days from Thursday 26 February 2026 count Saturday 28 February", "2026-02-26 09:00", 5, "2026-03-04"},
		{"3 working days from Friday 29 January 2027 count Sunday 31 January", "2027-01-29 09:00", 3, "2027-02-02"},
		{"entered Thursday 4 February 2027: the holiday, then Sunday 14 February", "2027-02-04 09:00", 1, "2027-02-14"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := cal.Due(day(tc.start), tc.days, "working")
			if want := day(tc.want+" 00:00").AddDate(0, 0, 1); !got.Equal(want) {
				t.Fatalf("due %s, want end of %s", got.In(tz.Shanghai), tc.want)
			}
		})
	}
}

// TestCalendarFileOverridesOfficial: a district's file extends the official
// schedule (a local holiday) and overrides it (a day the library lists as
// an adjusted workday, given as a holiday; a holiday made a working day).
func TestCalendarFileOverridesOfficial(t *testing.T) {
	cal, err := ParseCalendar([]byte("holidays:\n  - 2026-02-14   # the district keeps the Saturday off\n  - 2026-06-01\nworkdays:\n  - 2026-02-23\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		date    string
		workday bool
	}{
		{"2026-02-14", false}, // official adjusted workday, overridden
		{"2026-02-23", true},  // official holiday, overridden
		{"2026-06-01", false}, // a Monday, extended
		{"2026-02-28", true},  // official adjusted workday, kept
		{"2026-02-17", false}, // official holiday, kept
	} {
		if got := cal.IsWorkday(day(tc.date + " 10:00")); got != tc.workday {
			t.Errorf("%s: workday %v, want %v", tc.date, got, tc.workday)
		}
	}
}

// TestCalendarWatcher: a changed file takes effect in the same Calendar
// (the Engine's) without a restart; a bad file keeps the last good one.
func TestCalendarWatcher(t *testing.T) {
	path := filepath.Join(t.TempDir(), "calendar.json")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cal := OfficialCalendar()
	w := &CalendarWatcher{Path: path, Calendar: cal}
	june1 := day("2026-06-01 10:00") // a Monday
	steps := []struct {
		name    string
		file    string // "" removes the file
		result  string
		workday bool
	}{
		{"missing at start: official schedule", "", CalendarUnreadable, true},
		{"a local holiday", `{"holidays": ["2026-06-01"]}`, CalendarLoaded, false},
		{"same content again: nothing to do", `{"holidays": ["2026-06-01"]}`, calendarUnchanged, false},
		{"invalid: the last good stays", `{"holidays": ["2026-06-31"]}`, CalendarInvalid, false},
		{"unknown key: the last good stays", "holiday: [2026-06-01]\n", CalendarInvalid, false},
		{"removed: the last good stays", "", CalendarUnreadable, false},
		{"fixed: in force", "workdays: []\nholidays: []\n", CalendarLoaded, true},
	}
	for _, s := range steps {
		if s.file == "" {
			_ = os.Remove(path)
		} else {
			write(s.file)
		}
		got, _ := w.Check(context.Background())
		if got != s.result || cal.IsWorkday(june1) != s.workday {
			t.Fatalf("%s: result %q, 1 June a workday %v; want %q, %v", s.name, got, cal.IsWorkday(june1), s.result, s.workday)
		}
	}
}
