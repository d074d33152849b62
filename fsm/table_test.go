package fsm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	lfsm "github.com/looplab/fsm"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/queue"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// testMachine is a machine that is not running: the test fires events itself.
type testMachine struct {
	*Machine
	reg *prometheus.Registry
	mf  *metrics.FSM
	rec *fakeRecorder
	clk *clocktesting.FakeClock
}

func newTestMachine(t *testing.T, initial State) *testMachine {
	t.Helper()
	reg := prometheus.NewRegistry()
	tm := &testMachine{reg: reg, mf: metrics.NewFSM(reg), rec: newFakeRecorder(), clk: clocktesting.NewFakeClock(epoch)}
	cfg := Config{Conn: newFakeConn(), Recorder: tm.rec, Metrics: tm.mf, Clock: tm.clk}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tm.Machine = newMachine(cfg.withDefaults(), initial)
	tm.rec.state = tm.State
	return tm
}

func (tm *testMachine) snapshot(t *testing.T) string {
	t.Helper()
	out, err := testutil.GatherAndFormat(tm.reg, expfmt.TypeTextPlain)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestTransitionTable fires every event in every state. Allowed pairs land
// in the right state, count the transition, publish the state to readers and
// gauges and only then record their one event; forbidden pairs are refused
// and change nothing.
func TestTransitionTable(t *testing.T) {
	const refused = State("")
	tests := []struct {
		from       State
		event      Event
		to         State // refused: the FSM must reject the event
		eventType  string
		reason     string
		reconnects string // reconnect_total status counted, if any
	}{
		{StateConnected, EventConnectionLost, StateDisconnected, EventTypeWarning, ReasonDisconnected, ""},
		{StateConnected, EventScheduleRetry, refused, "", "", ""},
		{StateConnected, EventAttempt, refused, "", "", ""},
		{StateConnected, EventReachable, refused, "", "", ""},
		{StateConnected, EventReconnected, refused, "", "", ""},
		{StateConnected, EventAttemptFailed, refused, "", "", ""},

		{StateDisconnected, EventConnectionLost, refused, "", "", ""},
		{StateDisconnected, EventScheduleRetry, StateBackoff, EventTypeWarning, ReasonUnstable, ""},
		{StateDisconnected, EventAttempt, StateReconnecting, EventTypeNormal, ReasonReconnecting, ""},
		{StateDisconnected, EventReachable, refused, "", "", ""}, // probing happens in Backoff only
		{StateDisconnected, EventReconnected, refused, "", "", ""},
		{StateDisconnected, EventAttemptFailed, refused, "", "", ""},

		{StateBackoff, EventConnectionLost, refused, "", "", ""},
		{StateBackoff, EventScheduleRetry, refused, "", "", ""},
		{StateBackoff, EventAttempt, StateReconnecting, EventTypeNormal, ReasonReconnecting, ""},
		{StateBackoff, EventReachable, StateReconnecting, EventTypeNormal, ReasonReconnecting, ""},
		{StateBackoff, EventReconnected, refused, "", "", ""},
		{StateBackoff, EventAttemptFailed, refused, "", "", ""},

		{StateReconnecting, EventConnectionLost, refused, "", "", ""},
		{StateReconnecting, EventScheduleRetry, refused, "", "", ""},
		{StateReconnecting, EventAttempt, refused, "", "", ""},
		{StateReconnecting, EventReachable, refused, "", "", ""},
		{StateReconnecting, EventReconnected, StateConnected, EventTypeNormal, ReasonReconnected, metrics.ReconnectSuccess},
		{StateReconnecting, EventAttemptFailed, StateBackoff, EventTypeWarning, ReasonReconnectFailed, metrics.ReconnectFailure},
	}

	// The table above must name every (state, event) pair exactly once.
	seen := map[[2]string]bool{}
	for _, tc := range tests {
		seen[[2]string{string(tc.from), string(tc.event)}] = true
	}
	if len(seen) != len(tests) || len(seen) != len(States)*len(Events) {
		t.Fatalf("%d distinct pairs in %d cases, want all %d", len(seen), len(tests), len(States)*len(Events))
	}

	for _, tc := range tests {
		t.Run(string(tc.from)+"/"+string(tc.event), func(t *testing.T) {
			tm := newTestMachine(t, tc.from)
			// A machine that was connected before, so the reconnect
			// reasons apply (the first connect is TestEventOrder's).
			tm.book.everConnected = true
			tm.book.connectedAt = epoch.Add(-time.Minute)
			tm.book.outageStart = epoch.Add(-10 * time.Second)
			tm.book.backoffStart = epoch.Add(-2 * time.Second)
			tm.book.attempts = 2
			sub := tm.Subscribe()
			before := tm.snapshot(t)

			err := tm.fire(context.Background(), tc.event, errors.New("cause"))

			if tc.to == refused {
				var invalid lfsm.InvalidEventError
				if !errors.As(err, &invalid) {
					t.Fatalf("fire = %v, want InvalidEventError", err)
				}
				if got := tm.State(); got != tc.from || tm.f.Current() != string(tc.from) {
					t.Errorf("state %s (FSM %s) after a refused event, want %s", got, tm.f.Current(), tc.from)
				}
				if after := tm.snapshot(t); after != before {
					t.Errorf("metrics changed by a refused event:\nbefore:\n%s\nafter:\n%s", before, after)
				}
				if recs := tm.rec.records(); len(recs) != 0 {
					t.Errorf("records for a refused event: %+v", recs)
				}
				if len(sub) != 0 {
					t.Error("subscriber notified by a refused event")
				}
				return
			}

			if err != nil {
				t.Fatalf("fire = %v", err)
			}
			if got := tm.State(); got != tc.to || tm.f.Current() != string(tc.to) {
				t.Errorf("state %s (FSM %s), want %s", got, tm.f.Current(), tc.to)
			}
			if got := tm.Connected(); got != (tc.to == StateConnected) {
				t.Errorf("Connected() = %v in %s", got, tc.to)
			}
			checkTransitionCounts(t, tm.mf, tc.from, tc.to, tc.event)
			for _, s := range States {
				if got, want := testutil.ToFloat64(tm.mf.State.WithLabelValues(string(s))), boolGauge(s == tc.to); got != want {
					t.Errorf("fsm_state{state=%s} = %v, want %v", s, got, want)
				}
			}
			if got, want := testutil.ToFloat64(tm.mf.Connection.WithLabelValues(testAddr)), boolGauge(tc.to == StateConnected); got != want {
				t.Errorf("connection_state = %v, want %v", got, want)
			}
			for _, status := range []string{metrics.ReconnectSuccess, metrics.ReconnectFailure} {
				if got, want := testutil.ToFloat64(tm.mf.Reconnects.WithLabelValues(status)), boolGauge(status == tc.reconnects); got != want {
					t.Errorf("reconnect_total{status=%s} = %v, want %v", status, got, want)
				}
			}
			wantOutages := 0
			if tc.to == StateConnected {
				wantOutages = 1 // a reconnect: the outage is observed
			}
			if got := histogramCount(t, tm.reg); got != wantOutages {
				t.Errorf("reconnect_duration observations = %d, want %d", got, wantOutages)
			}

			recs := tm.rec.records()
			if len(recs) != 1 {
				t.Fatalf("records = %+v, want exactly one", recs)
			}
			r := recs[0]
			if r.eventType != tc.eventType || r.reason != tc.reason {
				t.Errorf("record %s/%s, want %s/%s", r.eventType, r.reason, tc.eventType, tc.reason)
			}
			if !strings.Contains(r.note, testAddr) {
				t.Errorf("note %q does not name the RDS", r.note)
			}
			if r.state != tc.to {
				t.Errorf("event recorded while readers saw %s: the state must be published first", r.state)
			}
			if got := len(sub); got != int(boolGauge(tc.to == StateConnected)) {
				t.Errorf("subscriber has %d notifications, want one only on entering Connected", got)
			}
		})
	}
}

// checkTransitionCounts wants exactly one transition counted: from→to by ev.
func checkTransitionCounts(t *testing.T, mf *metrics.FSM, from, to State, ev Event) {
	t.Helper()
	for _, tr := range transitions {
		for _, src := range tr.src {
			got := testutil.ToFloat64(mf.Transitions.WithLabelValues(string(src), string(tr.dst), string(tr.event)))
			want := boolGauge(src == from && tr.dst == to && tr.event == ev)
			if got != want {
				t.Errorf("transitions_total{from=%s,to=%s,event=%s} = %v, want %v", src, tr.dst, tr.event, got, want)
			}
		}
	}
	if want := allowedTransitions(); testutil.CollectAndCount(mf.Transitions) != want {
		t.Errorf("%d transition series, want the %d allowed ones", testutil.CollectAndCount(mf.Transitions), want)
	}
}

// allowedTransitions counts the (from, event) edges of the table: 7.
func allowedTransitions() int {
	n := 0
	for _, tr := range transitions {
		n += len(tr.src)
	}
	return n
}

func histogramCount(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "rds_csi_rds_reconnect_duration_seconds" {
			return int(mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
	}
	t.Fatal("no reconnect duration histogram")
	return 0
}

// TestEventOrder walks a whole life: a failing first connect, a loss, a
// failed reconnect, one cut short by a probe that failed too, a successful
// reconnect, a flapping connection. The records come
// in transition order, the first connect has its own reasons, and only
// reconnects feed the outage histogram.
func TestEventOrder(t *testing.T) {
	tm := newTestMachine(t, startState)
	step := func(d time.Duration) { tm.clk.Step(d) }
	steps := []struct {
		advance time.Duration // fake time before the event
		event   Event
		reason  string
		note    string // substring
	}{
		{0, EventAttempt, ReasonConnecting, "connecting to 10.0.0.1:22 (attempt 1, after 0s backoff)"},
		{300 * time.Millisecond, EventAttemptFailed, ReasonConnectFailed, "attempt 1 to connect to 10.0.0.1:22 failed: cause"},
		{time.Second, EventAttempt, ReasonConnecting, "attempt 2, after 1s backoff"},
		{200 * time.Millisecond, EventReconnected, ReasonConnected, "connected to 10.0.0.1:22 (2 attempts, 1.5s after start)"},
		{time.Hour, EventConnectionLost, ReasonDisconnected, "lost connection to 10.0.0.1:22 after 1h0m0s connected: cause"},
		{0, EventAttempt, ReasonReconnecting, "reconnecting to 10.0.0.1:22 (attempt 1, after 0s backoff, 0s into the outage)"},
		{5 * time.Second, EventAttemptFailed, ReasonReconnectFailed, "attempt 1 to connect"},
		{300 * time.Millisecond, EventReachable, ReasonReconnecting,
			"attempt 2, after 300ms backoff, cut short: the RDS accepts TCP connections again, 5.3s into the outage"},
		{200 * time.Millisecond, EventAttemptFailed, ReasonReconnectFailed, "attempt 2 to connect"},
		{500 * time.Millisecond, EventAttempt, ReasonReconnecting, "attempt 3, after 500ms backoff, 6s into the outage"},
		{6300 * time.Millisecond, EventReconnected, ReasonReconnected, "connected to 10.0.0.1:22 after 12.3s outage (3 attempts)"},
		{2 * time.Second, EventConnectionLost, ReasonDisconnected, "after 2s connected"},
		{0, EventScheduleRetry, ReasonUnstable, "lasted only 2s"},
		{2 * time.Second, EventAttempt, ReasonReconnecting, "attempt 1, after 2s backoff"},
		{time.Second, EventReconnected, ReasonReconnected, "after 3s outage (1 attempt)"},
	}
	for i, s := range steps {
		step(s.advance)
		if err := tm.fire(context.Background(), s.event, errors.New("cause")); err != nil {
			t.Fatalf("step %d: %s: %v", i, s.event, err)
		}
	}
	recs := tm.rec.records()
	if len(recs) != len(steps) {
		t.Fatalf("%d records for %d transitions", len(recs), len(steps))
	}
	for i, s := range steps {
		if recs[i].reason != s.reason || !strings.Contains(recs[i].note, s.note) {
			t.Errorf("record %d = %s %q, want %s containing %q", i, recs[i].reason, recs[i].note, s.reason, s.note)
		}
	}
	if got := histogramCount(t, tm.reg); got != 2 {
		t.Errorf("outages observed = %d, want 2 (the first connect is not a reconnect)", got)
	}
	if got := testutil.ToFloat64(tm.mf.Reconnects.WithLabelValues(metrics.ReconnectSuccess)); got != 3 {
		t.Errorf("reconnect_total{success} = %v, want 3 (every successful attempt)", got)
	}
	if got := testutil.ToFloat64(tm.mf.Reconnects.WithLabelValues(metrics.ReconnectFailure)); got != 3 {
		t.Errorf("reconnect_total{failure} = %v, want 3", got)
	}
}

// TestCallbackKeys: looplab/fsm silently ignores a callback key that names no
// state or event, and before_/leave_ callbacks invite deadlocks. Every key
// must be enter_state/after_event or name a declared state or event, and
// every event must have its after_ callback (each transition records an event).
func TestCallbackKeys(t *testing.T) {
	tm := newTestMachine(t, startState)
	declaredState := map[string]bool{}
	for _, s := range States {
		declaredState[string(s)] = true
	}
	declaredEvent := map[string]bool{}
	for _, e := range Events {
		declaredEvent[string(e)] = true
	}
	for key := range tm.callbacks() {
		prefix, target, ok := strings.Cut(key, "_")
		switch {
		case !ok:
			t.Errorf("callback %q: short forms are ambiguous, use enter_/after_", key)
		case prefix == "before" || prefix == "leave":
			t.Errorf("callback %q: no before_/leave_ callbacks (they run before the state is written)", key)
		case key == "enter_state" || key == "after_event":
		case prefix == "enter" && declaredState[target]:
		case prefix == "after" && declaredEvent[target]:
		default:
			t.Errorf("callback %q names no declared state or event", key)
		}
	}
	for _, e := range Events {
		if _, ok := tm.callbacks()[afterKey(e)]; !ok {
			t.Errorf("event %s has no after_ callback: its transitions would record no event", e)
		}
	}
	// The table itself uses only declared states, and every state is reachable.
	reached := map[State]bool{startState: true}
	for _, tr := range transitions {
		if !declaredEvent[string(tr.event)] || !declaredState[string(tr.dst)] {
			t.Errorf("transition %s → %s uses an undeclared name", tr.event, tr.dst)
		}
		for _, s := range tr.src {
			if !declaredState[string(s)] {
				t.Errorf("transition %s from undeclared state %s", tr.event, s)
			}
		}
		reached[tr.dst] = true
	}
	if len(reached) != len(States) {
		t.Errorf("reachable states %v, want all of %v", reached, States)
	}
}

func TestStartState(t *testing.T) {
	cfg := Config{Conn: newFakeConn(), Clock: clocktesting.NewFakeClock(epoch)}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if m.State() != StateDisconnected || m.Connected() {
		t.Errorf("new machine in %s (connected %v), want Disconnected", m.State(), m.Connected())
	}
	if err := m.Alive(epoch); err == nil {
		t.Error("Alive before Run = nil, want an error")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "defaults", cfg: Config{Conn: newFakeConn()}, ok: true},
		{name: "no connection", cfg: Config{}},
		{name: "negative interval", cfg: Config{Conn: newFakeConn(), HealthInterval: -time.Second}},
		{name: "negative probe timeout", cfg: Config{Conn: newFakeConn(), ProbeTimeout: -time.Second}},
		{name: "negative probe interval turns probing off", cfg: Config{Conn: newFakeConn(), ProbeInterval: -1}, ok: true},
		{name: "bad backoff", cfg: Config{Conn: newFakeConn(), Backoff: queue.LimiterConfig{Base: 2 * time.Second, Max: time.Second}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Errorf("New() error = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
