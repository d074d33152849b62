package metrics

import "github.com/prometheus/client_golang/prometheus"

// Reconnect outcome labels of FSM.Reconnects.
const (
	ReconnectSuccess = "success"
	ReconnectFailure = "failure"
)

// FSM holds the metrics of the RDS connection state machine. Only the FSM's
// driving loop writes them; package fsm initialises every series it uses so
// that dashboards see zeros, not gaps, before the first transition.
type FSM struct {
	// Transitions counts every transition: rds_csi_fsm_transitions_total{from,to,event}.
	Transitions *prometheus.CounterVec
	// State is 1 for the current FSM state and 0 for the others:
	// rds_csi_rds_connection_fsm_state{state}.
	State *prometheus.GaugeVec
	// Connection is 1 while Connected, else 0: rds_csi_rds_connection_state{address}.
	Connection *prometheus.GaugeVec
	// Reconnects counts connection attempts by outcome: rds_csi_rds_reconnect_total{status}.
	Reconnects *prometheus.CounterVec
	// ReconnectDuration is the outage length, from leaving Connected to
	// re-entering it: rds_csi_rds_reconnect_duration_seconds.
	ReconnectDuration prometheus.Histogram
}

// NewFSM registers the FSM metrics on reg (nil: unregistered, for tests and
// callers that do not export metrics).
func NewFSM(reg prometheus.Registerer) *FSM {
	m := &FSM{
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "fsm", Name: "transitions_total",
			Help: "Transitions of the RDS connection state machine.",
		}, []string{"from", "to", "event"}),
		State: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "rds", Name: "connection_fsm_state",
			Help: "1 for the current state of the RDS connection state machine, 0 for the others.",
		}, []string{"state"}),
		Connection: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "rds", Name: "connection_state",
			Help: "1 while the SSH control connection to the RDS is established, else 0.",
		}, []string{"address"}),
		Reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "rds", Name: "reconnect_total",
			Help: "Attempts to (re)connect to the RDS by outcome.",
		}, []string{"status"}),
		ReconnectDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "rds", Name: "reconnect_duration_seconds",
			Help:    "Length of RDS outages: from losing the connection to having it back.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Transitions, m.State, m.Connection, m.Reconnects, m.ReconnectDuration)
	}
	return m
}
