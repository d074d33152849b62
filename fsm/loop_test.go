package fsm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/queue"
)

// armingClock reports every timer armed on it. Only the reconnect queue
// arms timers (the loop's own deadlines and probe schedule use After), and
// it arms one for its earliest waiting ticket, so the test reads each
// backoff as it is chosen, and knows the queue has it before stepping the
// clock. After calls (the loop's) are reported on afters, once registered.
type armingClock struct {
	*clocktesting.FakeClock
	armed  chan time.Duration
	afters chan time.Duration
}

func (c *armingClock) NewTimer(d time.Duration) clock.Timer {
	t := c.FakeClock.NewTimer(d)
	c.armed <- d
	return t
}

func (c *armingClock) After(d time.Duration) <-chan time.Time {
	ch := c.FakeClock.After(d)
	select {
	case c.afters <- d:
	default: // a test that reads afters reads them long before 10000
	}
	return ch
}

type harness struct {
	m      *Machine
	conn   *fakeConn
	rec    *fakeRecorder
	log    *logSink
	clk    *armingClock
	reg    *prometheus.Registry
	mf     *metrics.FSM
	sub    <-chan struct{}
	cancel context.CancelFunc
	done   chan error
}

// startLoop runs a machine on a fake clock: health every 2 s (3 s timeout),
// dials bounded by 10 s, stable after 30 s, backoff without jitter below the
// cap (the injected source picks the middle of the range), probes every
// 250 ms bounded by 1 s (the defaults). Every log line goes to h.log.
func startLoop(t *testing.T, conn *fakeConn, mod func(*Config)) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	h := &harness{
		conn: conn, rec: newFakeRecorder(), reg: reg, mf: metrics.NewFSM(reg), log: &logSink{},
		clk: &armingClock{FakeClock: clocktesting.NewFakeClock(epoch),
			armed: make(chan time.Duration, 100), afters: make(chan time.Duration, 10000)},
	}
	cfg := Config{
		Conn:           conn,
		Recorder:       h.rec,
		Metrics:        h.mf,
		QueueMetrics:   metrics.NewWorkqueue(reg),
		HealthInterval: 2 * time.Second,
		HealthTimeout:  3 * time.Second,
		DialTimeout:    10 * time.Second,
		StableAfter:    30 * time.Second,
		Backoff:        queue.LimiterConfig{Rand: func() float64 { return 0.5 }},
		Clock:          h.clk,
		Logger:         logr.New(h.log),
	}
	if mod != nil {
		mod(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	h.rec.state = m.State
	h.sub = m.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- m.Run(ctx) }()
	t.Cleanup(cancel) // a failed test must not leave the loop running
	return h
}

// expect receives the next records and checks their reasons, in order.
func (h *harness) expect(t *testing.T, reasons ...string) []record {
	t.Helper()
	got := make([]record, 0, len(reasons))
	for _, want := range reasons {
		r := recv(t, h.rec.next, "event "+want)
		if r.reason != want {
			t.Fatalf("record %s (%q), want %s; all so far: %+v", r.reason, r.note, want, append(got, r))
		}
		got = append(got, r)
	}
	return got
}

// backoff checks that the queue armed the next backoff with delay want, then
// lets it pass.
func (h *harness) backoff(t *testing.T, want time.Duration) {
	t.Helper()
	if got := recv(t, h.clk.armed, "a backoff"); got != want {
		t.Fatalf("backoff %v, want %v", got, want)
	}
	h.clk.Step(want)
}

// stop cancels Run and checks it returns and closes the connection.
func (h *harness) stop(t *testing.T) {
	t.Helper()
	h.cancel()
	if err := recv(t, h.done, "Run to return"); err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
	if _, closes := h.conn.counts(); closes != 1 {
		t.Errorf("Close called %d times at shutdown, want 1", closes)
	}
}

func (h *harness) counter(status string) float64 {
	return testutil.ToFloat64(h.mf.Reconnects.WithLabelValues(status))
}

// TestLoopReconnects is the incident: the RDS restarts. The loss is seen,
// the first redial goes out at once, failures back off 1, 2, 4 s, the
// reconnect is observed and subscribers hear about it; a connection lost
// before StableAfter keeps backing off (8 s: the reconnect did not reset the
// schedule); the loss of a stable one resets it (1 s).
func TestLoopReconnects(t *testing.T) {
	defer goleak.VerifyNone(t)
	conn := newFakeConn()
	h := startLoop(t, conn, nil)

	// Start: Disconnected → Reconnecting at once, no clock step needed.
	h.expect(t, ReasonConnecting, ReasonConnected)
	recv(t, h.sub, "the first-connect notification")
	if !h.m.Connected() {
		t.Fatal("not Connected after the first connect")
	}

	// The RDS restarts after the connection was stable.
	h.clk.Step(30 * time.Second)
	conn.set(func(c *fakeConn) { c.failConnects = 3 })
	conn.lost <- errors.New("ssh: connection closed")
	recs := h.expect(t, ReasonDisconnected, ReasonReconnecting, ReasonReconnectFailed)
	if !strings.Contains(recs[0].note, "ssh: connection closed") || !strings.Contains(recs[1].note, "after 0s backoff") {
		t.Errorf("notes %q / %q: want the cause, and an immediate first redial", recs[0].note, recs[1].note)
	}
	if h.m.Connected() {
		t.Error("Connected() during the outage")
	}
	for _, d := range []time.Duration{time.Second, 2 * time.Second} {
		h.backoff(t, d)
		h.expect(t, ReasonReconnecting, ReasonReconnectFailed)
	}
	h.backoff(t, 4*time.Second)
	recs = h.expect(t, ReasonReconnecting, ReasonReconnected)
	if want := "after 4s backoff"; !strings.Contains(recs[0].note, want) {
		t.Errorf("attempt note %q lacks %q", recs[0].note, want)
	}
	if want := "connected to 10.0.0.1:22 after 7s outage (4 attempts)"; recs[1].note != want {
		t.Errorf("reconnected note %q, want %q", recs[1].note, want)
	}
	recv(t, h.sub, "the reconnect notification")
	if got := h.counter(metrics.ReconnectFailure); got != 3 {
		t.Errorf("reconnect_total{failure} = %v, want 3", got)
	}
	if got := h.counter(metrics.ReconnectSuccess); got != 2 {
		t.Errorf("reconnect_total{success} = %v, want 2 (first connect and reconnect)", got)
	}
	wantHistogram := `
# HELP rds_csi_rds_reconnect_duration_seconds Length of RDS outages: from losing the connection to having it back.
# TYPE rds_csi_rds_reconnect_duration_seconds histogram
rds_csi_rds_reconnect_duration_seconds_bucket{rds="default",le="0.1"} 0
rds_csi_rds_reconnect_duration_seconds_bucket{rds="default",le="0.5"} 0
rds_csi_rds_reconnect_duration_seconds_bucket{rds="default",le="1"} 0
rds_csi_rds_reconnect_duration_seconds_bucket{rds="default",le="2"} 0
rds_csi_rds_reconnect_duration_seconds_bucket{rds="default",le="5"} 0
rds_csi_rds_reconnect_duration_seconds_bucket{rds="default",le="10"} 1
rds_csi_rds_reconnect_duration_seconds_bucket{rds="default",le="30"} 1
rds_csi_rds_reconnect_duration_seconds_bucket{rds="default",le="60"} 1
rds_csi_rds_reconnect_duration_seconds_bucket{rds="default",le="+Inf"} 1
rds_csi_rds_reconnect_duration_seconds_sum{rds="default"} 7
rds_csi_rds_reconnect_duration_seconds_count{rds="default"} 1
`
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(wantHistogram), "rds_csi_rds_reconnect_duration_seconds"); err != nil {
		t.Error(err)
	}

	// Flapping: lost again at once. No immediate redial (a connection that
	// did not stay up goes through Backoff), and since a success alone does
	// not reset the schedule (only StableAfter up does), the wait is the
	// step after the three failures: 8 s, not the base step.
	conn.lost <- errors.New("ssh: connection closed")
	h.expect(t, ReasonDisconnected, ReasonUnstable)
	h.backoff(t, 8*time.Second)
	h.expect(t, ReasonReconnecting, ReasonReconnected)

	// Stable for StableAfter, then lost: redialled at once, and the
	// failure after it waits the base step again.
	h.clk.Step(30 * time.Second)
	conn.set(func(c *fakeConn) { c.failConnects = 1 })
	conn.lost <- errors.New("ssh: connection closed")
	h.expect(t, ReasonDisconnected, ReasonReconnecting, ReasonReconnectFailed)
	h.backoff(t, time.Second)
	h.expect(t, ReasonReconnecting, ReasonReconnected)

	// Two more Connected entries without reading: coalesced into one.
	if n := len(h.sub); n != 1 {
		t.Errorf("subscriber holds %d notifications, want 1 (coalesced)", n)
	}
	if connects, _ := conn.counts(); connects != 8 {
		t.Errorf("Connect called %d times, want 8", connects)
	}
	// One AddRateLimited per entry into Backoff: 3 + 1 + 1.
	wantRetries := `
# HELP workqueue_retries_total Total number of rate-limited (delayed) adds handled by the workqueue.
# TYPE workqueue_retries_total counter
workqueue_retries_total{name="rds_reconnect"} 5
`
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(wantRetries), "workqueue_retries_total"); err != nil {
		t.Error(err)
	}
	h.stop(t)
}

// TestLoopFirstConnectFails: an RDS down at startup backs off like any
// outage, with first-connect reasons, and is not an outage for the histogram.
func TestLoopFirstConnectFails(t *testing.T) {
	defer goleak.VerifyNone(t)
	conn := newFakeConn()
	conn.failConnects = 2
	h := startLoop(t, conn, nil)

	h.expect(t, ReasonConnecting, ReasonConnectFailed)
	// A loss report while in Backoff concerns no live connection: ignored.
	conn.lost <- errors.New("late report")
	waitUntil(t, func() bool { return len(conn.lost) == 0 }, "the loop to read the loss")
	h.backoff(t, time.Second)
	h.expect(t, ReasonConnecting, ReasonConnectFailed)
	h.backoff(t, 2*time.Second)
	recs := h.expect(t, ReasonConnecting, ReasonConnected)
	if want := "connected to 10.0.0.1:22 (3 attempts, 3s after start)"; recs[1].note != want {
		t.Errorf("note %q, want %q", recs[1].note, want)
	}
	recv(t, h.sub, "the first-connect notification")
	if got := histogramCount(t, h.reg); got != 0 {
		t.Errorf("outages observed = %d, want 0: the first connect is not a reconnect", got)
	}
	h.stop(t)
}

// TestLoopHealthCheckTimeout: a Ping that hangs counts as a lost connection
// once HealthTimeout passes, without blocking the loop.
func TestLoopHealthCheckTimeout(t *testing.T) {
	defer goleak.VerifyNone(t)
	conn := newFakeConn()
	h := startLoop(t, conn, func(c *Config) { c.StableAfter = time.Nanosecond })
	h.expect(t, ReasonConnecting, ReasonConnected)

	conn.set(func(c *fakeConn) { c.blockPing = true })
	h.clk.Step(2 * time.Second)
	recv(t, conn.pingCalls, "the health check")
	if !h.m.Connected() {
		t.Fatal("a running health check must not change the state")
	}
	h.clk.Step(3 * time.Second)
	recs := h.expect(t, ReasonDisconnected, ReasonReconnecting, ReasonReconnected)
	if want := "health check timed out after 3s"; !strings.Contains(recs[0].note, want) {
		t.Errorf("note %q lacks %q", recs[0].note, want)
	}
	h.stop(t)
}

// TestLoopHealthCheckFails: a failing Ping is a lost connection too; lost
// 2 s after connecting, the connection was not stable, so it backs off.
func TestLoopHealthCheckFails(t *testing.T) {
	defer goleak.VerifyNone(t)
	conn := newFakeConn()
	h := startLoop(t, conn, nil)
	h.expect(t, ReasonConnecting, ReasonConnected)

	conn.set(func(c *fakeConn) { c.pingErr = errors.New("rds unavailable: session closed") })
	h.clk.Step(2 * time.Second)
	recs := h.expect(t, ReasonDisconnected, ReasonUnstable)
	if want := "health check failed: rds unavailable: session closed"; !strings.Contains(recs[0].note, want) {
		t.Errorf("note %q lacks %q", recs[0].note, want)
	}
	conn.set(func(c *fakeConn) { c.pingErr = nil })
	h.backoff(t, time.Second)
	h.expect(t, ReasonReconnecting, ReasonReconnected)
	h.stop(t)
}

// TestLoopDialTimeout: a dial that hangs is cancelled after DialTimeout and
// counts as a failed attempt.
func TestLoopDialTimeout(t *testing.T) {
	defer goleak.VerifyNone(t)
	conn := newFakeConn()
	conn.blockConnect = true
	h := startLoop(t, conn, nil)
	h.expect(t, ReasonConnecting)
	recv(t, conn.connectCalls, "the dial")

	conn.set(func(c *fakeConn) { c.blockConnect = false })
	h.clk.Step(10 * time.Second)
	recs := h.expect(t, ReasonConnectFailed)
	if want := "timed out after 10s"; !strings.Contains(recs[0].note, want) {
		t.Errorf("note %q lacks %q", recs[0].note, want)
	}
	h.backoff(t, time.Second)
	h.expect(t, ReasonConnecting, ReasonConnected)
	h.stop(t)
}

// TestLoopShutdownWithDialInFlight: cancelling Run ends the dial in flight
// and every goroutine of the loop.
func TestLoopShutdownWithDialInFlight(t *testing.T) {
	defer goleak.VerifyNone(t)
	conn := newFakeConn()
	conn.blockConnect = true
	h := startLoop(t, conn, nil)
	recv(t, conn.connectCalls, "the dial")
	h.stop(t)
	if h.m.Connected() {
		t.Error("Connected after a dial that never finished")
	}
}

// TestLoopHeartbeat: the loop ticks while idle, so /healthz can tell a
// wedged loop from a quiet one.
func TestLoopHeartbeat(t *testing.T) {
	defer goleak.VerifyNone(t)
	conn := newFakeConn()
	conn.failConnects = 1000 // idle in Backoff most of the time
	h := startLoop(t, conn, func(c *Config) { c.Backoff = queue.LimiterConfig{Base: time.Hour, Max: time.Hour, Jitter: -1} })
	h.expect(t, ReasonConnecting, ReasonConnectFailed)
	if err := h.m.Live(); err != nil {
		t.Errorf("Live() = %v while running", err)
	}
	for range 3 {
		h.clk.Step(2 * time.Second)
		now := h.clk.Now()
		waitUntil(t, func() bool { return h.m.LastProgress().Equal(now) }, "a heartbeat at "+now.String())
	}
	if err := h.m.Alive(h.clk.Now().Add(10 * time.Second)); err != nil {
		t.Errorf("Alive 10 s after the last beat = %v, want nil (5 intervals allowed)", err)
	}
	if err := h.m.Alive(h.clk.Now().Add(11 * time.Second)); err == nil || !strings.Contains(err.Error(), "stalled") {
		t.Errorf("Alive 11 s after the last beat = %v, want a stall", err)
	}
	if err := h.m.Run(context.Background()); err == nil {
		t.Error("a second Run succeeded; exactly one goroutine may drive the machine")
	}
	h.stop(t)
}

func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitAfter reads the loop's After calls until one of d: the probe schedule
// uses its own durations, the others are dial and ping deadlines.
func (h *harness) waitAfter(t *testing.T, d time.Duration) {
	t.Helper()
	for recv(t, h.clk.afters, fmt.Sprintf("After(%v)", d)) != d {
	}
}

// noAfter fails if the loop called After(d) since the last read.
func (h *harness) noAfter(t *testing.T, d time.Duration, why string) {
	t.Helper()
	for {
		select {
		case got := <-h.clk.afters:
			if got == d {
				t.Fatalf("After(%v) armed: %s", d, why)
			}
		default:
			return
		}
	}
}

// transitions is one transition counter.
func (h *harness) transitions(from, to State, ev Event) float64 {
	return testutil.ToFloat64(h.mf.Transitions.WithLabelValues(string(from), string(to), string(ev)))
}

// noErrors fails on any error the loop logged.
func (h *harness) noErrors(t *testing.T) {
	t.Helper()
	if errs := h.log.errorLines(); len(errs) > 0 {
		t.Errorf("the loop logged errors: %q", errs)
	}
}
