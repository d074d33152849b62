package controller

import (
	"testing"
	"time"

	"github.com/srvlab/rds-csi/test/controller/scrape"
	"github.com/srvlab/rds-csi/test/inproc"
)

// Metric names as an operator's dashboard uses them.
const (
	mState       = "rds_csi_rds_connection_fsm_state"
	mConnection  = "rds_csi_rds_connection_state"
	mTransitions = "rds_csi_fsm_transitions_total"
	mReconnects  = "rds_csi_rds_reconnect_total"
	mOutage      = "rds_csi_rds_reconnect_duration_seconds"
)

func scrapeNow(t *testing.T, d *inproc.Driver) scrape.Families {
	t.Helper()
	f, err := scrape.Get(rpcCtx(t), d.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// currentState is the label of the one state gauge that is 1; "" if none
// or several are (both are bugs).
func currentState(f scrape.Families) string {
	state := ""
	for _, s := range f.Series(mState) {
		if s.Value == 1 {
			if state != "" {
				return ""
			}
			state = s.Labels["state"]
		}
	}
	return state
}

func transitions(f scrape.Families, from, to, event string) float64 {
	v, _ := f.Value(mTransitions, map[string]string{"from": from, "to": to, "event": event})
	return v
}

// TestFSMMetricsAcrossRestart restarts the emulator (all connections cut,
// the listener gone for a moment, state kept) and reads, from /metrics as
// Prometheus would, that the driver saw the loss, went through the
// reconnect states and came back: state gauges, transition counters, the
// reconnect counter and the outage-length histogram.
func TestFSMMetricsAcrossRestart(t *testing.T) {
	env, d := setup(t, inproc.WithMetrics(), inproc.WithConfig(fastReconnect))

	before := scrapeNow(t, d)
	if s := currentState(before); s != "Connected" {
		t.Fatalf("state before the restart: %q, want Connected", s)
	}
	addr := map[string]string{"address": env.Addr}
	if v, ok := before.Value(mConnection, addr); !ok || v != 1 {
		t.Errorf("%s%v = %v (present %v), want 1", mConnection, addr, v, ok)
	}

	if err := env.Server.Close(); err != nil {
		t.Fatal(err)
	}
	d.WaitReady(t, false, 10*time.Second)
	during := scrapeNow(t, d)
	if s := currentState(during); s == "Connected" || s == "" {
		t.Errorf("state while the emulator is down: %q, want one of Disconnected, Backoff, Reconnecting", s)
	}
	if v, _ := during.Value(mConnection, addr); v != 0 {
		t.Errorf("%s while down = %v, want 0", mConnection, v)
	}
	// Stay down until a reconnect attempt has failed, so the failure
	// counter and the Reconnecting→Backoff path are exercised too.
	failedBefore, _ := before.Value(mReconnects, map[string]string{"status": "failure"})
	waitMetric(t, d, 10*time.Second, func(f scrape.Families) bool {
		v, _ := f.Value(mReconnects, map[string]string{"status": "failure"})
		return v > failedBefore
	})

	env.Restart(t)
	d.WaitReady(t, true, 10*time.Second)
	after := scrapeNow(t, d)
	if s := currentState(after); s != "Connected" {
		t.Errorf("state after the restart: %q, want Connected", s)
	}
	if v, _ := after.Value(mConnection, addr); v != 1 {
		t.Errorf("%s after the restart = %v, want 1", mConnection, v)
	}

	delta := func(from, to, event string) float64 {
		return transitions(after, from, to, event) - transitions(before, from, to, event)
	}
	if n := delta("Connected", "Disconnected", "connectionLost"); n != 1 {
		t.Errorf("Connected→Disconnected (connectionLost) counted %v times, want 1", n)
	}
	// A connection younger than the FSM's stability threshold counts as
	// flapping and goes through Backoff; an older one is redialled at once.
	if n := delta("Disconnected", "Backoff", "scheduleRetry") + delta("Disconnected", "Reconnecting", "attempt"); n != 1 {
		t.Errorf("leaving Disconnected counted %v times, want 1", n)
	}
	if n := delta("Reconnecting", "Connected", "reconnected"); n != 1 {
		t.Errorf("Reconnecting→Connected counted %v times, want 1", n)
	}
	if n := delta("Backoff", "Reconnecting", "attempt"); n < 1 {
		t.Errorf("Backoff→Reconnecting counted %v times, want at least 1", n)
	}
	if n := delta("Reconnecting", "Backoff", "attemptFailed"); n < 1 {
		t.Errorf("Reconnecting→Backoff (attemptFailed) counted %v times, want at least 1", n)
	}

	okBefore, _ := before.Value(mReconnects, map[string]string{"status": "success"})
	okAfter, _ := after.Value(mReconnects, map[string]string{"status": "success"})
	if okAfter-okBefore != 1 {
		t.Errorf("%s{status=success} rose by %v, want 1", mReconnects, okAfter-okBefore)
	}
	n0, _, _ := before.Histogram(mOutage, nil)
	n1, sum, ok := after.Histogram(mOutage, nil)
	if !ok || n1-n0 != 1 || sum <= 0 {
		t.Errorf("%s: %d → %d observations (sum %vs), want one more with a positive length", mOutage, n0, n1, sum)
	}
	failed, _ := after.Value(mReconnects, map[string]string{"status": "failure"})
	if failed <= failedBefore {
		t.Errorf("%s{status=failure} did not rise (%v → %v)", mReconnects, failedBefore, failed)
	}
	t.Logf("outage seen by the driver: %.3fs; failed reconnect attempts: %v; transitions: %v",
		sum, failed, transitionSummary(before, after))
}

// transitionSummary lists the transitions counted between two scrapes.
func transitionSummary(before, after scrape.Families) map[string]float64 {
	out := map[string]float64{}
	for _, s := range after.Series(mTransitions) {
		if d := s.Value - transitions(before, s.Labels["from"], s.Labels["to"], s.Labels["event"]); d > 0 {
			out[s.Labels["from"]+"→"+s.Labels["to"]] = d
		}
	}
	return out
}

// waitMetric scrapes until cond holds.
func waitMetric(t *testing.T, d *inproc.Driver, timeout time.Duration, cond func(scrape.Families) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond(scrapeNow(t, d)) {
		if time.Now().After(deadline) {
			t.Fatalf("metrics condition not met within %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
