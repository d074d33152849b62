//go:build linux

package integration

import (
	"net/http"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/test/procs"
)

// TestProbeAfterEmulatorFreeze: SIGSTOP on the emulator leaves every TCP
// connection open (the kernel even accepts new ones) while nothing answers,
// so only the health check can notice. Probe must turn not ready within
// one health interval (the next tick) plus the health timeout (the Ping's
// deadline); SIGCONT must make it ready again within the pending backoff
// step + 1 s. Once with the production defaults (2 s + 3 s), once with
// short flags.
//
// The test freezes the emulator right after the first connect, which comes
// a few ms after the loop started its health ticker: the next tick is
// almost a whole interval away, so this is the worst case, interval +
// timeout. The margin covers the poll resolution and timers firing late on
// a loaded 2-core machine (seen: +170 ms at load average 8); it stays well
// below one interval, so a missed or skipped health check would still fail.
func TestProbeAfterEmulatorFreeze(t *testing.T) {
	for _, tc := range []struct {
		name              string
		interval, timeout time.Duration
		margin            time.Duration
		flags             []string
	}{
		{name: "defaults 2s+3s", interval: 2 * time.Second, timeout: 3 * time.Second, margin: 500 * time.Millisecond},
		{name: "short 500ms+1s", interval: 500 * time.Millisecond, timeout: time.Second, margin: 250 * time.Millisecond,
			flags: []string{"--rds-health-interval=500ms", "--rds-health-timeout=1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := procs.ShortTempDir(t)
			keys := procs.NewSSHKeys(t, dir)
			sim := newEmulator(dir, procs.FreeAddr(t), keys)
			sim.start(t)
			drv := startDriver(t, dir, sim.addr, keys, sim.hostKeyFile(t), tc.flags...)
			drv.waitReady(t)

			stopped := time.Now()
			sim.freeze(t)
			bound := tc.interval + tc.timeout + tc.margin
			took, ok := pollUntil(stopped, bound, drv.notReady)
			if !ok {
				t.Fatalf("Probe still ready %s after SIGSTOP, want not ready within %s (interval %s + timeout %s + %s)",
					took, bound, tc.interval, tc.timeout, tc.margin)
			}
			t.Logf("SIGSTOP → Probe not ready after %s (bound %s)", took, bound)
			// A Ping already in flight (and answered) before the stop takes
			// a few ms, so no verdict can come before a full timeout.
			if earliest := tc.timeout - 100*time.Millisecond; took < earliest {
				t.Errorf("not ready after only %s: before any health check could time out (%s)", took, tc.timeout)
			}
			if got := drv.connectionState(t); got != 0 {
				t.Errorf("%s = %v while frozen, want 0", mConnectionState, got)
			}
			if code, err := drv.httpStatus("/readyz"); err != nil || code != http.StatusServiceUnavailable {
				t.Errorf("/readyz while frozen: %d, %v; want %d", code, err, http.StatusServiceUnavailable)
			}
			if code, err := drv.httpStatus("/healthz"); err != nil || code != http.StatusOK {
				t.Errorf("/healthz while frozen: %d, %v; want %d (liveness is about the process)", code, err, http.StatusOK)
			}
			failedAtLoss := drv.reconnects(t, metrics.ReconnectFailure)

			resumed := time.Now()
			sim.thaw(t)
			failed := int(drv.reconnects(t, metrics.ReconnectFailure) - failedAtLoss)
			pending := backoffStep(defaultReconnectBase, defaultReconnectMax, failed)
			bound = withJitter(pending) + time.Second
			took, ok = pollUntil(resumed, bound, drv.ready)
			if !ok {
				t.Fatalf("Probe not ready %s after SIGCONT, want within %s (pending step %s after %d failed redials)", took, bound, pending, failed)
			}
			t.Logf("SIGCONT → Probe ready after %s (pending step %s after %d failed redials; bound %s)", took, pending, failed, bound)
			if got, _ := drv.metrics(t).get(mReconnectDuration + "_count"); got != 1 {
				t.Errorf("%s_count = %v, want 1", mReconnectDuration, got)
			}
		})
	}
}
