package fsm

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/rds"
)

var errDiedAtOnce = errors.New("rds unavailable: connection to 10.0.0.1:22 closed: session limit reached")

// TestLoopLossWhileReconnecting: a redial whose new connection dies before
// the loop acts on the dial result. Whichever the loop reads first, the loss
// or the dial result, the attempt counts as failed (Reconnecting → Backoff):
// never Connected, no RDSReconnected, Probe never ready, no subscriber
// notification, and the backoff schedule goes on. A stale loss (of an older
// connection) read while dialling changes nothing.
func TestLoopLossWhileReconnecting(t *testing.T) {
	tests := []struct {
		name string
		// dies runs in the dial goroutine right after Connect succeeded
		// with generation gen, before the loop sees the result.
		dies func(c *fakeConn, gen uint64)
		// after runs once the loop has reacted to the dial result.
		after     func(t *testing.T, h *harness, gen uint64)
		connected bool // the dial must count as a success
	}{
		{
			name: "loss read before the dial result",
			dies: func(c *fakeConn, _ uint64) {
				c.drop(errDiedAtOnce)
				c.drained() // the loop reads it while Reconnecting
			},
		},
		{
			name: "dial result read before the loss",
			// The transport already knows (Current says down), the loss is
			// not delivered yet; it arrives after the verdict and is stale.
			dies: func(c *fakeConn, _ uint64) { c.markDown() },
			after: func(t *testing.T, h *harness, gen uint64) {
				h.conn.lost <- &rds.LostError{Generation: gen, Err: errDiedAtOnce}
				waitUntil(t, func() bool { return len(h.conn.lost) == 0 }, "the loop to read the late loss")
			},
		},
		{
			name: "stale loss of the previous connection read while dialling",
			dies: func(c *fakeConn, gen uint64) {
				c.lost <- &rds.LostError{Generation: gen - 1, Err: errors.New("old connection closed")}
				c.drained()
			},
			connected: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			conn := newFakeConn()
			h := startLoop(t, conn, nil)
			h.expect(t, ReasonConnecting, ReasonConnected)
			recv(t, h.sub, "the first-connect notification")

			// A stable connection is lost: redialled at once, and that
			// dial's connection dies at once.
			h.clk.Step(30 * time.Second)
			conn.set(func(c *fakeConn) { c.afterConnect = tc.dies })
			conn.drop(errors.New("rds unavailable: connection to 10.0.0.1:22 closed"))
			if tc.connected {
				h.expect(t, ReasonDisconnected, ReasonReconnecting, ReasonReconnected)
				if !h.m.Connected() {
					t.Fatal("not Connected after a stale loss during the dial")
				}
				h.stop(t)
				return
			}
			recs := h.expect(t, ReasonDisconnected, ReasonReconnecting, ReasonReconnectFailed)
			if want := "lost right after connecting"; !strings.Contains(recs[2].note, want) {
				t.Errorf("failure note %q lacks %q", recs[2].note, want)
			}
			gen, _ := conn.Current()
			if tc.after != nil {
				tc.after(t, h, gen)
			}
			if h.m.State() != StateBackoff {
				t.Fatalf("state %s, want Backoff", h.m.State())
			}
			for _, r := range h.rec.records() {
				if r.state == StateConnected && r.reason != ReasonConnected {
					t.Errorf("record %s while Connected: the dead connection was taken for a live one", r.reason)
				}
			}
			if len(h.sub) != 0 {
				t.Error("subscribers notified of a connection that was already dead")
			}
			if got := h.counter(metrics.ReconnectSuccess); got != 1 {
				t.Errorf("reconnect_total{success} = %v, want 1 (the first connect only)", got)
			}
			if got := h.transitions(StateReconnecting, StateBackoff, EventAttemptFailed); got != 1 {
				t.Errorf("Reconnecting → Backoff %v times, want 1", got)
			}

			// The schedule goes on (the stable loss had reset it), and the
			// next connection lives.
			h.backoff(t, time.Second)
			h.expect(t, ReasonReconnecting, ReasonReconnected)
			recv(t, h.sub, "the reconnect notification")
			h.noErrors(t)
			h.stop(t)
		})
	}
}

// TestLoopLossAfterConnected: the other order at its extreme, the loss
// arrives after the loop went Connected. It is the current connection's
// loss, so Connected → Disconnected → Backoff (it was not stable): the
// attempt ends in Backoff either way, one AddRateLimited. A stale loss read
// while Connected is ignored.
func TestLoopLossAfterConnected(t *testing.T) {
	tests := []struct {
		name      string
		staleGen  bool // the loss names the previous generation
		wantState State
	}{
		{name: "loss of the current connection", wantState: StateBackoff},
		{name: "stale loss of the previous connection", staleGen: true, wantState: StateConnected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			conn := newFakeConn()
			conn.failConnects = 1
			h := startLoop(t, conn, nil)
			h.expect(t, ReasonConnecting, ReasonConnectFailed)
			h.backoff(t, time.Second)
			h.expect(t, ReasonConnecting, ReasonConnected)

			gen, _ := conn.Current()
			if tc.staleGen {
				gen--
			}
			conn.lost <- &rds.LostError{Generation: gen, Err: errDiedAtOnce}
			waitUntil(t, func() bool { return len(conn.lost) == 0 }, "the loop to read the loss")
			if tc.wantState == StateConnected {
				// Nothing may happen: prove the loop is past the loss by
				// a health check that it starts on the next tick.
				h.clk.Step(2 * time.Second)
				recv(t, conn.pingCalls, "a health check after the stale loss")
				if h.m.State() != StateConnected || len(h.rec.records()) != 4 {
					t.Fatalf("state %s, records %+v: a stale loss must change nothing", h.m.State(), h.rec.records())
				}
				h.stop(t)
				return
			}
			h.expect(t, ReasonDisconnected, ReasonUnstable)
			// Two failures now (the first connect and this one): 2 s.
			h.backoff(t, 2*time.Second)
			h.expect(t, ReasonReconnecting, ReasonReconnected)
			h.noErrors(t)
			h.stop(t)
		})
	}
}
