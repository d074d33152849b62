package fsm

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/queue"
)

var errFlap = errors.New("rds unavailable: connection to 10.0.0.1:22 closed: EOF")

// TestLoopFlappingBackoff is the booting (or overloaded) RDS that accepts
// every connection and drops it 200 ms after the handshake. Each successful
// dial is a Reconnected, but only a connection that stays up for StableAfter
// resets the failure count, so the redials after each drop follow the whole
// schedule: 1, 2, 4, 8, 16, 16 s, never the base step over and over. Then the
// connection stays up for StableAfter: its loss is redialled at once, and
// the next flap starts from the base step again.
func TestLoopFlappingBackoff(t *testing.T) {
	tests := []struct {
		name   string
		upFor  time.Duration // how long each connection lasts
		steps  []time.Duration
		stable time.Duration // StableAfter
	}{
		{name: "drop 200ms after each handshake", upFor: 200 * time.Millisecond, stable: 30 * time.Second,
			steps: []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 16 * time.Second}},
		{name: "drop just before StableAfter", upFor: 29 * time.Second, stable: 30 * time.Second,
			steps: []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			conn := newFakeConn()
			h := startLoop(t, conn, func(c *Config) {
				c.StableAfter = tc.stable
				c.Backoff = queue.LimiterConfig{Jitter: -1} // the exact steps; jitter is queue's test
			})
			h.expect(t, ReasonConnecting, ReasonConnected)

			for i, step := range tc.steps {
				h.clk.Step(tc.upFor)
				conn.drop(errFlap)
				recs := h.expect(t, ReasonDisconnected, ReasonUnstable)
				if !strings.Contains(recs[0].note, "closed: EOF") {
					t.Errorf("drop %d: note %q lacks the cause", i+1, recs[0].note)
				}
				h.backoff(t, step)
				recs = h.expect(t, ReasonReconnecting, ReasonReconnected)
				if want := fmt.Sprintf("attempt 1, after %s backoff", step); !strings.Contains(recs[0].note, want) {
					t.Errorf("drop %d: attempt note %q lacks %q", i+1, recs[0].note, want)
				}
			}
			n := float64(len(tc.steps))
			if got := h.counter(metrics.ReconnectSuccess); got != 1+n {
				t.Errorf("reconnect_total{success} = %v, want %v: one Reconnected per dial, no more", got, 1+n)
			}
			if got := h.transitions(StateDisconnected, StateBackoff, EventScheduleRetry); got != n {
				t.Errorf("Disconnected → Backoff %v times, want %v", got, n)
			}

			// Up for StableAfter: the loss is redialled at once and resets
			// the schedule, so the next flap waits the base step.
			h.clk.Step(tc.stable)
			conn.drop(errFlap)
			h.expect(t, ReasonDisconnected, ReasonReconnecting, ReasonReconnected)
			h.clk.Step(tc.upFor)
			conn.drop(errFlap)
			h.expect(t, ReasonDisconnected, ReasonUnstable)
			h.backoff(t, time.Second)
			h.expect(t, ReasonReconnecting, ReasonReconnected)
			if connects, _ := conn.counts(); connects != len(tc.steps)+3 {
				t.Errorf("Connect called %d times, want %d", connects, len(tc.steps)+3)
			}
			if got := conn.probeCount(); got != 0 {
				t.Errorf("%d TCP probes: a connection that dropped must never be probed for", got)
			}
			h.noErrors(t)
			h.stop(t)
		})
	}
}
