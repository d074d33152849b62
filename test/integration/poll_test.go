//go:build linux

package integration

import "time"

// pollInterval is how often conditions are checked: the resolution of every
// latency the tests measure.
const pollInterval = 20 * time.Millisecond

// pollUntil checks cond at once and then every pollInterval until it holds or
// timeout (counted from start) has passed. It returns the time from start to
// the check that succeeded (or to giving up) and whether cond held.
func pollUntil(start time.Time, timeout time.Duration, cond func() bool) (time.Duration, bool) {
	return pollEvery(start, timeout, pollInterval, cond)
}

// pollEvery is pollUntil with its own interval, for conditions that cost
// more than a Probe and need no 20 ms resolution.
func pollEvery(start time.Time, timeout, interval time.Duration, cond func() bool) (time.Duration, bool) {
	deadline := start.Add(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Now().After(deadline) {
			return time.Since(start), false
		}
		<-tick.C
	}
}
