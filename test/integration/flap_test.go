//go:build linux

package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/test/procs"
)

const (
	// flapAfter: rds-sim closes every SSH connection this long after its
	// handshake, like an RDS that is booting or hits its session limit.
	flapAfter = 200 * time.Millisecond
	// flapWindow is how long the emulator flaps before the verdict.
	flapWindow = 60 * time.Second
	// maxReconnectedInWindow is the acceptance bound on Reconnected events
	// in flapWindow. The schedule gives 6 (dials at about 1.2, 3.4, 7.6,
	// 15.8, 32 and 48 s); the old behaviour, a reset on every handshake,
	// about 50.
	maxReconnectedInWindow = 8
	// flapSlack is added to the upper bound of every interval: the driver
	// starts its step when it reads the loss, a moment after the emulator
	// closed the connection, and timers fire late on a loaded 2-core machine.
	flapSlack = 250 * time.Millisecond
)

// TestFlappingRDS: an RDS that accepts every SSH connection and drops it
// 200 ms after the handshake (rds-sim --flap-after=200ms) for 60 s. A
// successful handshake alone must not reset the backoff (only a connection
// up for fsm.DefaultStableAfter does), so the driver redials 1, 2, 4, 8, 16,
// 16 s after each drop (±10 %, the production schedule) instead of every
// second, and there are at most 8 Reconnected events (one per
// rds_csi_rds_reconnect_total{status="success"} after the first connect) in
// the 60 s. Every connection the emulator accepted completed its handshake:
// the driver sent no bare TCP probe (the drops happen after TCP connected,
// so each step is waited out in full). Then PUT /faults/flap off: the next
// dial connects for good.
//
// One attachment pass per Reconnected is not observable here: without
// Kubernetes the controller runs no attachment reconciler (test/attachment
// covers the reconnect pass).
//
// It runs by default and takes about 70 s: the dials come from the
// emulator's GET /connections (acceptedAt, handshakeAt, closedAt).
func TestFlappingRDS(t *testing.T) {
	dir := procs.ShortTempDir(t)
	keys := procs.NewSSHKeys(t, dir)
	sim := newEmulator(dir, procs.FreeAddr(t), keys)
	sim.control = procs.FreeAddr(t)
	sim.args = []string{"--flap-after=" + flapAfter.String()}
	sim.start(t)
	hostKey := sim.hostKeyFile(t)
	launched := time.Now()
	drv := startDriver(t, dir, sim.addr, keys, hostKey)

	steps := backoffSchedule{base: defaultReconnectBase, max: defaultReconnectMax}.steps(6)
	// The driver's connections: from the first that completed a handshake
	// on (the test's own listening check came before, and the emulator may
	// stamp its accept after the driver's launch).
	var dials []simConnection
	enough := func() bool {
		dials = driverConnections(sim.connections(t))
		// One per step after the first connect, the last one handshaken
		// (then it is not a probe).
		return len(dials) > len(steps) && !dials[len(dials)-1].HandshakeAt.IsZero()
	}
	var total time.Duration
	for _, s := range steps {
		total += s
	}
	if took, ok := pollEvery(launched, total+time.Duration(len(steps)+1)*(flapAfter+flapSlack)+5*time.Second, 100*time.Millisecond, enough); !ok {
		t.Fatalf("%d driver connections after %s, want %d (the first connect and one per step)", len(dials), took, len(steps)+1)
	}

	first := dials[0].HandshakeAt
	t.Logf("%-34s %8.3fs", "rds-csi start → first handshake", first.Sub(launched).Seconds())
	for i, want := range steps {
		prev, next := dials[i], dials[i+1]
		// The drop is when the flap timer was due, not closedAt: the
		// emulator stamps closedAt when it has finished with the
		// connection, possibly a moment after the driver saw the close, and
		// that would shorten the interval below the step's jitter range. A
		// late flap timer only lengthens it (flapSlack).
		drop := prev.HandshakeAt.Add(flapAfter)
		checkFlapInterval(t, fmt.Sprintf("drop %d → dial %d", i+1, i+2), next.AcceptedAt.Sub(drop), want)
	}
	for i, c := range dials {
		if c.HandshakeAt.IsZero() {
			t.Errorf("connection %d (accepted %s after the first handshake) never completed a handshake: a TCP probe or a failed dial while flapping",
				i+1, c.AcceptedAt.Sub(first).Round(time.Millisecond))
		}
	}

	// The verdict on Reconnected over the whole window.
	time.Sleep(time.Until(first.Add(flapWindow)))
	reconnected := drv.reconnects(t, metrics.ReconnectSuccess) - 1 // the first connect is no reconnect
	t.Logf("%-34s %8.0f   (bound %d)", fmt.Sprintf("Reconnected in %s", flapWindow), reconnected, maxReconnectedInWindow)
	if reconnected > maxReconnectedInWindow {
		t.Errorf("%v Reconnected in %s of flapping, want at most %d", reconnected, flapWindow, maxReconnectedInWindow)
	}
	if reconnected < float64(len(steps)) {
		t.Errorf("only %v Reconnected in %s: the emulator did not flap as configured", reconnected, flapWindow)
	}

	// Flapping off: the dial already scheduled (at most one capped step
	// away) makes a connection that stays.
	sim.put(t, "/faults/flap", "off")
	off := time.Now()
	connectedAfterOff := func() bool {
		conns := sim.connections(t)
		return len(conns) > 0 && conns[len(conns)-1].HandshakeAt.After(off) && drv.ready()
	}
	took, ok := pollEvery(off, defaultReconnectMax+2*time.Second, 50*time.Millisecond, connectedAfterOff)
	if !ok {
		t.Fatalf("no ready connection %s after flapping was turned off", took)
	}
	t.Logf("%-34s %8.3fs  (at most one capped step)", "flapping off → ready", took.Seconds())
	if took, dropped := pollUntil(time.Now(), 2*flapAfter+time.Second, drv.notReady); dropped {
		t.Fatalf("the connection made after flapping was turned off dropped after %s", took)
	}
}

// driverConnections drops the connections before the first handshake: the
// test's own TCP checks while the emulator started.
func driverConnections(all []simConnection) []simConnection {
	for i, c := range all {
		if !c.HandshakeAt.IsZero() {
			return all[i:]
		}
	}
	return nil
}

// checkFlapInterval: got must lie within step ±10 % (the jitter), never above
// the cap, plus flapSlack above.
func checkFlapInterval(t *testing.T, what string, got, step time.Duration) {
	t.Helper()
	lo := step * 9 / 10
	hi := min(step*11/10, defaultReconnectMax) + flapSlack
	verdict := "ok"
	if got < lo || got > hi {
		verdict = "OUT OF TOLERANCE"
		t.Errorf("%s: %s, want %s ±10 %% (%s…%s, slack %s)", what, got, step, lo, hi, flapSlack)
	}
	t.Logf("%-34s %8.3fs  (step %6.3fs, %+6.1f%%) %s", what, got.Seconds(), step.Seconds(),
		100*(got.Seconds()/step.Seconds()-1), verdict)
}
