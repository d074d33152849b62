//go:build linux

package integration

import (
	"net/http"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/test/procs"
)

// notReadyBound is issue 3's bound from a dead RDS process to Probe
// answering not ready: the kernel resets the SSH connection when the
// process dies, so the driver hears of the loss at once, without waiting
// for a health check.
const notReadyBound = time.Second

// TestProbeAfterEmulatorKill: Probe is ready against bin/rds-sim; kill -9
// of the emulator makes it not ready within 1 s (connection_state 0,
// /readyz 503); restarting the emulator on the same port and data directory
// makes it ready again within the pending backoff step + 1 s, counting one
// more successful reconnect and exactly one outage in
// rds_csi_rds_reconnect_duration_seconds.
//
// The cases differ in when the emulator comes back, hence in the pending
// step: at once (the base step that follows every loss of a connection up
// less than 30 s), or after two failed redials (the third step, 4 s).
func TestProbeAfterEmulatorKill(t *testing.T) {
	for _, tc := range []struct {
		name string
		// failedRedials is how many redials must have failed (connection
		// refused) before the emulator is restarted.
		failedRedials int
	}{
		{name: "restart at once", failedRedials: 0},
		{name: "restart after two failed redials", failedRedials: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := procs.ShortTempDir(t)
			keys := procs.NewSSHKeys(t, dir)
			sim := newEmulator(dir, procs.FreeAddr(t), keys)
			sim.start(t)
			drv := startDriver(t, dir, sim.addr, keys, sim.hostKeyFile(t))
			t.Logf("first connect: Probe ready %s after the socket answered", drv.waitReady(t))
			if got := drv.connectionState(t); got != 1 {
				t.Fatalf("%s = %v while ready, want 1", mConnectionState, got)
			}
			// The first connect counts as a success too.
			successBefore := drv.reconnects(t, metrics.ReconnectSuccess)

			killed := time.Now()
			sim.kill9(t)
			took, ok := pollUntil(killed, notReadyBound, drv.notReady)
			if !ok {
				r, err := procs.Probe(drv.identity)
				t.Fatalf("Probe still ready=%v (err %v) %s after kill -9, want not ready within %s", r, err, took, notReadyBound)
			}
			t.Logf("kill -9 → Probe not ready after %s (bound %s)", took, notReadyBound)
			took, ok = pollUntil(killed, notReadyBound, func() bool { return drv.connectionState(t) == 0 })
			if !ok {
				t.Fatalf("%s{address=%q} still 1 %s after kill -9", mConnectionState, drv.rdsAddr, took)
			}
			t.Logf("kill -9 → %s{address=%q} 0 after %s", mConnectionState, drv.rdsAddr, took)
			if code, err := drv.httpStatus("/readyz"); err != nil || code != http.StatusServiceUnavailable {
				t.Errorf("/readyz while disconnected: %d, %v; want %d", code, err, http.StatusServiceUnavailable)
			}
			// Liveness is about the process: an outage must not fail it.
			if code, err := drv.httpStatus("/healthz"); err != nil || code != http.StatusOK {
				t.Errorf("/healthz while disconnected: %d, %v; want %d", code, err, http.StatusOK)
			}

			failedAtLoss := drv.reconnects(t, metrics.ReconnectFailure)
			if tc.failedRedials > 0 {
				// Redials after 1 s and 1+2 s (jittered) are refused.
				wait := withJitter(backoffStep(defaultReconnectBase, defaultReconnectMax, 0)) +
					withJitter(backoffStep(defaultReconnectBase, defaultReconnectMax, 1)) + time.Second
				took, ok := pollUntil(time.Now(), wait, func() bool {
					return drv.reconnects(t, metrics.ReconnectFailure)-failedAtLoss >= float64(tc.failedRedials)
				})
				if !ok {
					t.Fatalf("fewer than %d failed redials within %s", tc.failedRedials, took)
				}
				t.Logf("%d redials refused within %s of noticing the loss", tc.failedRedials, took)
			}

			restarted := time.Now()
			sim.start(t)
			listening := time.Since(restarted)
			// The step now pending: one per failure since the loss, plus
			// the step the loss itself scheduled (see TestReconnectBackoffSchedule).
			failed := int(drv.reconnects(t, metrics.ReconnectFailure) - failedAtLoss)
			pending := backoffStep(defaultReconnectBase, defaultReconnectMax, failed)
			bound := withJitter(pending) + time.Second
			took, ok = pollUntil(restarted, bound, drv.ready)
			if !ok {
				t.Fatalf("Probe not ready %s after restarting the emulator, want within %s (pending step %s after %d failed redials)",
					took, bound, pending, failed)
			}
			t.Logf("restart → Probe ready after %s (emulator listening after %s; pending step %s after %d failed redials; bound %s)",
				took, listening, pending, failed, bound)

			m := drv.metrics(t)
			if got, _ := m.get(mConnectionState, "address", drv.rdsAddr); got != 1 {
				t.Errorf("%s = %v after reconnecting, want 1", mConnectionState, got)
			}
			successAfter, _ := m.get(mReconnects, "status", metrics.ReconnectSuccess)
			if successAfter-successBefore != 1 {
				t.Errorf("%s{status=success}: %v before the outage, %v after; want exactly one more", mReconnects, successBefore, successAfter)
			}
			count, _ := m.get(mReconnectDuration + "_count")
			sum, _ := m.get(mReconnectDuration + "_sum")
			if count != 1 {
				t.Errorf("%s_count = %v, want 1 (one outage; the first connect is not one)", mReconnectDuration, count)
			}
			t.Logf("%s: success %v → %v, failure %v; outage recorded: count %v, sum %.3fs",
				mReconnects, successBefore, successAfter, failedAtLoss+float64(failed), count, sum)
			if code, err := drv.httpStatus("/readyz"); err != nil || code != http.StatusOK {
				t.Errorf("/readyz after reconnecting: %d, %v; want %d", code, err, http.StatusOK)
			}
		})
	}
}
