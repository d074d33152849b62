package fsm

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/srvlab/rds-csi/metrics"
)

const (
	testProbeInterval = 250 * time.Millisecond
	testProbeTimeout  = 100 * time.Millisecond // distinct from every other After
)

// probeStep lets one probe interval pass and waits for the probe it starts.
func (h *harness) probeStep(t *testing.T) {
	t.Helper()
	h.clk.Step(testProbeInterval)
	recv(t, h.conn.probeCalls, "a TCP probe")
}

// TestLoopProbe: in Backoff after a dial that failed before TCP connected,
// the loop probes TCP every ProbeInterval and dials as soon as a probe
// connects; the step's ticket, when it comes out later, is dropped without
// an error and neither dials early nor moves the next step. After any
// failure that happened once TCP was connected (handshake, a connection that
// dropped), there is no probing: the step is waited out in full.
func TestLoopProbe(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		// setup prepares the connection before Run.
		setup func(c *fakeConn)
		run   func(t *testing.T, h *harness)
	}{
		{
			name: "refused: dial at the first probe that connects",
			setup: func(c *fakeConn) {
				c.connectErrs = []error{errRefused}
				c.probeErrs = []error{errProbeRefused, errProbeRefused, nil}
			},
			run: func(t *testing.T, h *harness) {
				h.expect(t, ReasonConnecting, ReasonConnectFailed)
				if got := recv(t, h.clk.armed, "the backoff"); got != time.Second {
					t.Fatalf("backoff %v, want 1s", got)
				}
				h.waitAfter(t, testProbeInterval)
				for range 2 { // refused twice: probing goes on
					h.probeStep(t)
					h.waitAfter(t, testProbeInterval)
				}
				h.probeStep(t) // connects
				recs := h.expect(t, ReasonConnecting, ReasonConnected)
				if want := "after 800ms backoff, cut short"; !strings.Contains(recs[0].note, want) {
					t.Errorf("note %q lacks %q", recs[0].note, want)
				}
				if got := h.transitions(StateBackoff, StateReconnecting, EventReachable); got != 1 {
					t.Errorf("Backoff → Reconnecting (reachable) %v times, want 1", got)
				}
				// The step's ticket comes out at 1 s: dropped, quietly.
				h.clk.Step(time.Second - 3*testProbeInterval)
				waitUntil(t, func() bool { return h.log.logged("already cut short") == 1 }, "the stale ticket")
				if connects, _ := h.conn.counts(); connects != 2 || !h.m.Connected() {
					t.Errorf("after the stale ticket: %d connects, state %s; want 2, Connected", connects, h.m.State())
				}
			},
		},
		{
			name: "the early dial fails at the handshake: next step in full, the stale ticket does not dial",
			setup: func(c *fakeConn) {
				c.connectErrs = []error{errRefused, errHandshake}
				c.probeErr = nil // the port answers at once
			},
			run: func(t *testing.T, h *harness) {
				h.expect(t, ReasonConnecting, ReasonConnectFailed)
				if got := recv(t, h.clk.armed, "the backoff"); got != time.Second {
					t.Fatalf("backoff %v, want 1s", got)
				}
				h.waitAfter(t, testProbeInterval)
				h.probeStep(t) // t = 250 ms: connects, the dial fails at the handshake
				h.expect(t, ReasonConnecting, ReasonConnectFailed)
				// Ticket 2 (2 s, until 2.25 s) waits behind ticket 1 (until
				// 1 s): the queue re-arms for ticket 1's remaining 750 ms.
				if got := recv(t, h.clk.armed, "the re-armed backoff"); got != 750*time.Millisecond {
					t.Fatalf("armed %v, want 750ms (ticket 1 first)", got)
				}
				h.noAfter(t, testProbeInterval, "a handshake failure must not be probed for")
				h.clk.Step(750 * time.Millisecond) // t = 1 s: the stale ticket
				waitUntil(t, func() bool { return h.log.logged("already cut short") == 1 }, "the stale ticket")
				if got := recv(t, h.clk.armed, "ticket 2's timer"); got != 1250*time.Millisecond {
					t.Fatalf("armed %v, want the 1.25s left of ticket 2's 2s step", got)
				}
				if connects, _ := h.conn.counts(); connects != 2 || h.m.State() != StateBackoff {
					t.Fatalf("%d connects, state %s at the stale ticket; want 2, Backoff (no early dial)", connects, h.m.State())
				}
				h.clk.Step(1250 * time.Millisecond) // t = 2.25 s: the step is over
				recs := h.expect(t, ReasonConnecting, ReasonConnected)
				if want := "attempt 3, after 2s backoff)"; !strings.Contains(recs[0].note, want) {
					t.Errorf("note %q lacks %q: the step must be neither early nor late", recs[0].note, want)
				}
				if got := h.conn.probeCount(); got != 1 {
					t.Errorf("%d probes, want 1", got)
				}
			},
		},
		{
			name:  "handshake failure: no probing",
			setup: func(c *fakeConn) { c.failConnects = 1; c.probeErr = nil },
			run: func(t *testing.T, h *harness) {
				h.expect(t, ReasonConnecting, ReasonConnectFailed)
				h.noAfterBackoff(t, time.Second)
			},
		},
		{
			name: "flapping connection: no probing",
			setup: func(c *fakeConn) {
				c.probeErr = nil
			},
			run: func(t *testing.T, h *harness) {
				h.expect(t, ReasonConnecting, ReasonConnected)
				h.clk.Step(200 * time.Millisecond)
				h.conn.drop(errFlap)
				h.expect(t, ReasonDisconnected, ReasonUnstable)
				h.noAfterBackoff(t, time.Second)
			},
		},
		{
			name:  "probing turned off",
			mod:   func(c *Config) { c.ProbeInterval = -1 },
			setup: func(c *fakeConn) { c.connectErrs = []error{errRefused}; c.probeErr = nil },
			run: func(t *testing.T, h *harness) {
				h.expect(t, ReasonConnecting, ReasonConnectFailed)
				h.noAfterBackoff(t, time.Second)
			},
		},
		{
			name:  "a probe that hangs is cut at ProbeTimeout and probing goes on",
			setup: func(c *fakeConn) { c.connectErrs = []error{errRefused}; c.blockProbe = true },
			run: func(t *testing.T, h *harness) {
				h.expect(t, ReasonConnecting, ReasonConnectFailed)
				recv(t, h.clk.armed, "the backoff")
				h.waitAfter(t, testProbeInterval)
				h.probeStep(t)
				h.waitAfter(t, testProbeTimeout)
				h.conn.set(func(c *fakeConn) { c.blockProbe = false; c.probeErr = nil })
				h.clk.Step(testProbeTimeout) // cancels it: the next one is due an interval later
				h.waitAfter(t, testProbeInterval)
				h.probeStep(t)
				recs := h.expect(t, ReasonConnecting, ReasonConnected)
				if want := "after 600ms backoff, cut short"; !strings.Contains(recs[0].note, want) {
					t.Errorf("note %q lacks %q", recs[0].note, want)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			conn := newFakeConn()
			if tc.setup != nil {
				tc.setup(conn)
			}
			h := startLoop(t, conn, func(c *Config) {
				c.ProbeInterval, c.ProbeTimeout = testProbeInterval, testProbeTimeout
				if tc.mod != nil {
					tc.mod(c)
				}
			})
			tc.run(t, h)
			h.noErrors(t)
			h.stop(t)
		})
	}
}

// noAfterBackoff checks that the step just entered (want) arms no probe and
// is waited out in full: the dial comes exactly want later, with no probe.
func (h *harness) noAfterBackoff(t *testing.T, want time.Duration) {
	t.Helper()
	// The queue arming its timer proves the loop has decided on probing
	// (backoff arms the probe timer first).
	if got := recv(t, h.clk.armed, "the backoff"); got != want {
		t.Fatalf("backoff %v, want %v", got, want)
	}
	h.noAfter(t, testProbeInterval, "no probing after this failure")
	attempt, success := ReasonConnecting, ReasonConnected
	if h.counter(metrics.ReconnectSuccess) > 0 {
		attempt, success = ReasonReconnecting, ReasonReconnected
	}
	h.clk.Step(want)
	recs := h.expect(t, attempt, success)
	if !strings.Contains(recs[0].note, "after "+want.String()+" backoff)") && !strings.Contains(recs[0].note, "after "+want.String()+" backoff,") {
		t.Errorf("note %q: want the whole %s step, not cut short", recs[0].note, want)
	}
	if got := h.conn.probeCount(); got != 0 {
		t.Errorf("%d TCP probes, want none", got)
	}
}
