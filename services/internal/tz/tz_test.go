package tz

import (
	"testing"
	"time"
)

func TestShanghai(t *testing.T) {
	for _, tc := range []struct {
		utc  time.Time
		want string
	}{
		{time.Date(2026, 1, 1, 15, 59, 0, 0, time.UTC), "2026-01-01 23:59"},
		{time.Date(2026, 1, 1, 16, 0, 0, 0, time.UTC), "2026-01-02 00:00"},
		{time.Date(2026, 7, 1, 16, 0, 0, 0, time.UTC), "2026-07-02 00:00"}, // no summer time
	} {
		if got := tc.utc.In(Shanghai).Format("2006-01-02 15:04"); got != tc.want {
			t.Errorf("%s in Shanghai = %s, want %s", tc.utc, got, tc.want)
		}
	}
}
