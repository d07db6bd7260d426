package workflow

import (
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
