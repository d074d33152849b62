//go:build linux

package e2e

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// pollInterval: short, because every wait is a condition in a real cluster
// that is usually met within a second or two.
const pollInterval = 250 * time.Millisecond

// waitTimeout bounds one condition. Generous: the machines are shared (two
// cores) and the binaries may run under the race detector.
const waitTimeout = 90 * time.Second

// fatalError stops a wait at once (a process died, an object is in a state
// it can never leave); other errors are retried as transient.
type fatalError struct{ error }

func fatalf(format string, args ...any) error { return fatalError{fmt.Errorf(format, args...)} }

// eventually polls check until it reports done, fails the test after
// timeout with the last status and error, or at once on a fatalError. The
// status string describes what was seen; it makes a timeout self-explaining.
func eventually(t testing.TB, timeout time.Duration, what string, check func() (done bool, status string, err error)) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var (
		lastStatus string
		lastErr    error
	)
	for {
		done, status, err := check()
		if done && err == nil {
			t.Logf("%s: after %v", what, time.Since(start).Round(time.Millisecond))
			return
		}
		var fe fatalError
		if errors.As(err, &fe) {
			t.Fatalf("waiting for %s: %v", what, fe.error)
		}
		lastStatus, lastErr = status, err
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not done after %v; last seen: %s (error: %v)", what, timeout, lastStatus, lastErr)
		}
		time.Sleep(pollInterval)
	}
}
