package sim

import (
	"strconv"
	"strings"
	"time"
)

// resourcePrint answers "/system resource print" as RouterOS 7 does on an
// RDS2216, property names right-aligned. Only uptime changes: the driver
// reads it to date the last restart (a restart of the emulator process
// starts it again, as a reboot does).
func resourcePrint(uptime time.Duration) string {
	return "                   uptime: " + formatUptime(uptime) + "\r\n" +
		"                  version: 7.16 (stable)\r\n" +
		"               build-time: 2024-09-20 13:00:27\r\n" +
		"              free-memory: 12.1GiB\r\n" +
		"             total-memory: 15.6GiB\r\n" +
		"                      cpu: ARM64\r\n" +
		"                cpu-count: 4\r\n" +
		"                 cpu-load: 1%\r\n" +
		"        architecture-name: arm64\r\n" +
		"               board-name: RDS2216\r\n" +
		"                 platform: MikroTik\r\n"
}

// formatUptime writes RouterOS 7's uptime: weeks down to seconds, zero
// units left out, "0s" for nothing.
func formatUptime(d time.Duration) string {
	secs := int64(d / time.Second)
	var b strings.Builder
	for _, u := range []struct {
		unit string
		secs int64
	}{{"w", 7 * 86400}, {"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1}} {
		if n := secs / u.secs; n > 0 {
			b.WriteString(strconv.FormatInt(n, 10) + u.unit)
			secs -= n * u.secs
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}
