package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestFSMMetricNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewFSM(reg)
	m.Transitions.WithLabelValues("Connected", "Disconnected", "connectionLost").Inc()
	m.State.WithLabelValues("Connected").Set(1)
	m.Connection.WithLabelValues("10.0.0.1:22").Set(1)
	m.Reconnects.WithLabelValues(ReconnectSuccess).Inc()
	m.ReconnectDuration.Observe(12.3)

	for _, name := range []string{
		"rds_csi_fsm_transitions_total",
		"rds_csi_rds_connection_fsm_state",
		"rds_csi_rds_connection_state",
		"rds_csi_rds_reconnect_total",
		"rds_csi_rds_reconnect_duration_seconds",
	} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 1 {
			t.Errorf("%s: %d series (err %v), want 1", name, n, err)
		}
	}
}

func TestFSMWithoutRegistry(t *testing.T) {
	m := NewFSM(nil) // must not touch any registry
	m.Reconnects.WithLabelValues(ReconnectFailure).Inc()
	if got := testutil.ToFloat64(m.Reconnects.WithLabelValues(ReconnectFailure)); got != 1 {
		t.Errorf("failure counter = %v, want 1", got)
	}
	NewFSM(nil) // twice is fine without a registry
}
