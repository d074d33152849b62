package sim

import "time"

// clockPrint answers "/system clock print" as RouterOS 7 does: property
// names right-aligned, the emulator's clock in UTC (every file time it
// prints is UTC too, so gmt-offset is +00:00).
func clockPrint(now time.Time) string {
	now = now.UTC()
	return "                  time: " + now.Format("15:04:05") + "\r\n" +
		"                  date: " + now.Format("2006-01-02") + "\r\n" +
		"  time-zone-autodetect: no\r\n" +
		"        time-zone-name: UTC\r\n" +
		"            gmt-offset: +00:00\r\n" +
		"            dst-active: no\r\n"
}
