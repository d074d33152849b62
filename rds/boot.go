package rds

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// resourceCommand reads the RDS's system resources; only its uptime is used
// (with the clock, it dates the RDS's last start).
const resourceCommand = "/system resource print"

// uptimePattern is RouterOS's uptime: units from weeks down to seconds,
// zero units left out ("2w1d5h26m30s", "45s"); RouterOS 6 ends in a clock
// instead of h/m/s ("5d03:24:11", "00:00:09").
var uptimePattern = regexp.MustCompile(`^((?:[0-9]+[wdhms])*)(?:([0-9]{2,}):([0-9]{2}):([0-9]{2}))?$`)

var uptimeUnitPattern = regexp.MustCompile(`([0-9]+)([wdhms])`)

var uptimeUnits = map[string]time.Duration{
	"w": 7 * 24 * time.Hour, "d": 24 * time.Hour, "h": time.Hour, "m": time.Minute, "s": time.Second,
}

// parseUptime reads a RouterOS uptime value.
func parseUptime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	m := uptimePattern.FindStringSubmatch(s)
	if s == "" || m == nil {
		return 0, fmt.Errorf("%w: unreadable uptime %q", ErrCommandFailed, s)
	}
	var d time.Duration
	for _, u := range uptimeUnitPattern.FindAllStringSubmatch(m[1], -1) {
		n, err := strconv.ParseInt(u[1], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%w: unreadable uptime %q", ErrCommandFailed, s)
		}
		d += time.Duration(n) * uptimeUnits[u[2]]
	}
	if m[2] != "" {
		for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
			n, err := strconv.ParseInt(m[2+i], 10, 32)
			if err != nil || (i > 0 && n > 59) {
				return 0, fmt.Errorf("%w: unreadable uptime %q", ErrCommandFailed, s)
			}
			d += time.Duration(n) * unit
		}
	}
	return d, nil
}

// BootTime implements Client: the RDS clock minus its uptime. The clock is
// read first, so the result is at most one round trip early, and both values
// are whole seconds: callers compare with a margin of a few seconds.
func (c *SSHClient) BootTime(ctx context.Context) (time.Time, error) {
	now, err := c.Clock(ctx)
	if err != nil {
		return time.Time{}, err
	}
	out, err := c.exec(ctx, resourceCommand, nil)
	if err != nil {
		return time.Time{}, err
	}
	rec, err := ParseProperties(out)
	if err != nil {
		return time.Time{}, err
	}
	v, ok := rec.Get("uptime")
	if !ok {
		return time.Time{}, fmt.Errorf("%w: system resources without uptime: %q", ErrCommandFailed, out)
	}
	up, err := parseUptime(v)
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(-up), nil
}
