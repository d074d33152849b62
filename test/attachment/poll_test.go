package attachment

import (
	"testing"
	"time"
)

// Poll intervals: fine for what is measured (latencies of a second or
// two), coarser for plain waiting.
const (
	finePoll   = 20 * time.Millisecond
	coarsePoll = 100 * time.Millisecond
)

// pollUntil calls cond every interval until it returns true or timeout
// passes. It returns the time cond first held, and false on timeout. A
// timestamp taken right after the successful check is at most one interval
// plus the check's own duration late.
func pollUntil(interval, timeout time.Duration, cond func() bool) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return time.Now(), true
		}
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		time.Sleep(interval)
	}
}

// waitFor is pollUntil that fails the test on timeout.
func waitFor(t testing.TB, what string, interval, timeout time.Duration, cond func() bool) time.Time {
	t.Helper()
	at, ok := pollUntil(interval, timeout, cond)
	if !ok {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
	return at
}
