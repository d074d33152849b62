//go:build linux

package integration

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/fsm"
	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/test/procs"
)

// envFullBackoff=1 adds the production schedule (see the package doc).
const envFullBackoff = "RDS_CSI_FULL_BACKOFF"

// handshakeSlack is added to the +20 % tolerance of every measured
// interval: it covers the failed attempt itself (TCP connect and the SSH
// version exchange with a listener that closes at once, a few ms), the
// poll resolution where readiness is polled, and scheduling on a shared
// 2-core machine.
const handshakeSlack = 100 * time.Millisecond

// backoffSchedule is one reconnect configuration of rds-csi.
type backoffSchedule struct {
	name      string
	base, max time.Duration
	flags     []string
	full      bool // needs RDS_CSI_FULL_BACKOFF=1
}

func (s backoffSchedule) steps(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = backoffStep(s.base, s.max, i)
	}
	return out
}

// checkInterval logs a measured interval and fails the test unless it lies
// within −20 % … +20 % + handshakeSlack of want.
func checkInterval(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	lo, hi := want*8/10, want*12/10+handshakeSlack
	verdict := "ok"
	if got < lo || got > hi {
		verdict = "OUT OF TOLERANCE"
		t.Errorf("%s: %s, want %s (−20 %%…+20 %% + %s: %s…%s)", what, got, want, handshakeSlack, lo, hi)
	}
	t.Logf("%-34s %8.3fs  (expected %6.3fs, %+6.1f%%) %s", what, got.Seconds(), want.Seconds(),
		100*(got.Seconds()/want.Seconds()-1), verdict)
}

// TestReconnectBackoffSchedule measures, from outside the process, when
// rds-csi dials an RDS that accepts TCP connections and drops them at once:
//
//  1. From startup: the first attempt is immediate (Disconnected →
//     Reconnecting), and every failure waits the next step of the reconnect
//     queue (Reconnecting → Backoff): base·2ⁿ capped at max, ±10 % jitter,
//     i.e. 1, 2, 4, 8, 16, 16 s in production.
//  2. A success: the real emulator takes the port over and the driver
//     connects once the pending step (max, the limiter is saturated) is
//     over. The failures before happened after TCP connected (the bare
//     listener accepts), so no TCP probe cuts the step short. A success
//     alone does not reset the schedule.
//  3. The emulator is killed again and the bare listener takes the port
//     back. The connection had been up far less than fsm.DefaultStableAfter
//     (30 s), so loop.disconnect treats it as flapping: Connected →
//     Disconnected → Backoff (scheduleRetry, one AddRateLimited), the first
//     redial comes one step after the loss, not at once, and since only a
//     stable connection resets the failure count, that step and the next
//     ones stay at max. (A loss after ≥ 30 s redials at once and starts
//     again from base: TestReconnectAfterStableConnection.)
//
// The scaled schedule (base 250 ms, max 4 s) always runs; the production one
// only with RDS_CSI_FULL_BACKOFF=1 (about 80 s).
func TestReconnectBackoffSchedule(t *testing.T) {
	for _, s := range []backoffSchedule{
		{name: "scaled 250ms…4s", base: 250 * time.Millisecond, max: 4 * time.Second,
			flags: []string{"--reconnect-base=250ms", "--reconnect-max=4s"}},
		{name: "production 1s…16s", base: defaultReconnectBase, max: defaultReconnectMax, full: true},
	} {
		t.Run(s.name, func(t *testing.T) {
			if s.full && os.Getenv(envFullBackoff) != "1" {
				t.Skipf("set %s=1 to measure the production schedule (about 80 s)", envFullBackoff)
			}
			dir := procs.ShortTempDir(t)
			keys := procs.NewSSHKeys(t, dir)
			sim := newEmulator(dir, procs.FreeAddr(t), keys)
			// rds-sim creates its host key on its first start: run it once
			// so the driver can pin the key, then hand the port over.
			sim.start(t)
			hostKey := sim.hostKeyFile(t)
			sim.kill9(t)
			bare := listenBare(t, sim.addr)

			launched := time.Now()
			drv := startDriver(t, dir, sim.addr, keys, hostKey, s.flags...)

			t.Log("phase 1: failing from startup")
			first := bare.next(t, startupTimeout)
			t.Logf("%-34s %8.3fs", "rds-csi start → attempt 1", first.Sub(launched).Seconds())
			prev := first
			steps := s.steps(6)
			for i, want := range steps {
				at := bare.next(t, withJitter(want)+2*time.Second)
				checkInterval(t, fmt.Sprintf("attempt %d → attempt %d", i+1, i+2), at.Sub(prev), want)
				prev = at
			}
			// Every accepted connection is one failed attempt. The last one
			// is counted a moment after its accept (once the dropped SSH
			// handshake fails), hence the poll.
			attempts := float64(len(steps) + 1)
			failures := func() bool { return drv.reconnects(t, metrics.ReconnectFailure) == attempts }
			if _, ok := pollUntil(time.Now(), time.Second, failures); !ok {
				t.Errorf("%s{status=failure} = %v after %v dropped attempts, want one per attempt",
					mReconnects, drv.reconnects(t, metrics.ReconnectFailure), attempts)
			}

			t.Log("phase 2: the emulator takes the port over")
			bare.close()
			sim.start(t)
			pending := backoffStep(s.base, s.max, len(steps)) // saturated: max
			took, ok := pollUntil(prev, withJitter(pending)+time.Second, drv.ready)
			if !ok {
				t.Fatalf("not connected %s after the last refused attempt (pending step %s)", took, pending)
			}
			checkInterval(t, fmt.Sprintf("attempt %d → connected", len(steps)+1), took, pending)
			if got := drv.reconnects(t, metrics.ReconnectSuccess); got != 1 {
				t.Errorf("%s{status=success} = %v, want 1", mReconnects, got)
			}

			t.Log("phase 3: connection lost after a short time up; no reset, the steps stay at max")
			killed := time.Now()
			sim.kill9(t)
			bare = listenBare(t, sim.addr)
			prev = killed
			for i, want := range []time.Duration{s.max, s.max, s.max} {
				at := bare.next(t, withJitter(want)+2*time.Second)
				what := fmt.Sprintf("attempt %d → attempt %d", i, i+1)
				if i == 0 {
					what = "kill -9 → attempt 1 (Backoff)"
				}
				checkInterval(t, what, at.Sub(prev), want)
				prev = at
			}
			m := drv.metrics(t)
			viaBackoff, _ := m.get(mTransitions, "from", string(fsm.StateDisconnected), "to", string(fsm.StateBackoff), "event", string(fsm.EventScheduleRetry))
			atOnce, _ := m.get(mTransitions, "from", string(fsm.StateDisconnected), "to", string(fsm.StateReconnecting), "event", string(fsm.EventAttempt))
			if viaBackoff != 1 || atOnce != 1 {
				t.Errorf("transitions Disconnected→Backoff %v, Disconnected→Reconnecting %v; want 1 and 1 (the flapping loss, the startup dial)", viaBackoff, atOnce)
			}
		})
	}
}

// TestReconnectAfterStableConnection (RDS_CSI_FULL_BACKOFF=1 only: it holds
// a connection for 32 s): the loss of a connection that was up at least
// fsm.DefaultStableAfter is redialled at once (Connected → Disconnected →
// Reconnecting, no scheduleRetry), and the failures after it follow the
// schedule from the base step: 1 s, 2 s.
func TestReconnectAfterStableConnection(t *testing.T) {
	if os.Getenv(envFullBackoff) != "1" {
		t.Skipf("set %s=1 to run it (holds a connection for %s)", envFullBackoff, fsm.DefaultStableAfter)
	}
	dir := procs.ShortTempDir(t)
	keys := procs.NewSSHKeys(t, dir)
	sim := newEmulator(dir, procs.FreeAddr(t), keys)
	sim.start(t)
	drv := startDriver(t, dir, sim.addr, keys, sim.hostKeyFile(t))
	drv.waitReady(t)

	hold := fsm.DefaultStableAfter + 2*time.Second
	if took, dropped := pollUntil(time.Now(), hold, func() bool { return !drv.ready() }); dropped {
		t.Fatalf("connection dropped after %s of the %s hold", took, hold)
	}
	t.Logf("connected and ready for %s (stable after %s)", hold, fsm.DefaultStableAfter)
	redialLabels := []string{"from", string(fsm.StateDisconnected), "to", string(fsm.StateReconnecting), "event", string(fsm.EventAttempt)}
	backoffLabels := []string{"from", string(fsm.StateDisconnected), "to", string(fsm.StateBackoff), "event", string(fsm.EventScheduleRetry)}
	redialsBefore := drv.metric(t, mTransitions, redialLabels...)

	killed := time.Now()
	sim.kill9(t)
	bare := listenBare(t, sim.addr)
	// The immediate redial races with the bare listener for the port: it is
	// refused (usually) or accepted and dropped. Either way it is counted
	// at once, long before a base step could have passed.
	const immediate = 300 * time.Millisecond
	took, ok := pollUntil(killed, immediate, func() bool { return drv.metric(t, mTransitions, redialLabels...) > redialsBefore })
	if !ok {
		t.Fatalf("no Disconnected → Reconnecting within %s of kill -9", immediate)
	}
	t.Logf("%-34s %8.3fs  (immediate, bound %s)", "kill -9 → redial", took.Seconds(), immediate)
	if got := drv.metric(t, mTransitions, backoffLabels...); got != 0 {
		t.Errorf("Disconnected → Backoff happened %v times, want 0 after a stable connection", got)
	}

	prev := killed
	first := bare.next(t, withJitter(defaultReconnectBase)+2*time.Second)
	if first.Sub(killed) < defaultReconnectBase/2 {
		t.Logf("the immediate redial reached the bare listener after %s", first.Sub(killed))
		first = bare.next(t, withJitter(defaultReconnectBase)+2*time.Second)
	}
	checkInterval(t, "kill -9 → attempt after redial", first.Sub(prev), defaultReconnectBase)
	second := bare.next(t, withJitter(2*defaultReconnectBase)+2*time.Second)
	checkInterval(t, "next attempt", second.Sub(first), 2*defaultReconnectBase)
}
