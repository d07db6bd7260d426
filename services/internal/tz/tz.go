// Package tz holds the services' one time zone: periods, days, deadlines
// and dates on pages are counted in China, wherever the server runs.
package tz

import "time"

// Shanghai is Asia/Shanghai, or UTC+8 where the machine has no tzdata
// (China has had no daylight saving time since 1991, so the two agree).
var Shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}()
