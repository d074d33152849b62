package metrics

import "github.com/prometheus/client_golang/prometheus"

// Reconnect outcome labels of FSM.Reconnects.
const (
	ReconnectSuccess = "success"
	ReconnectFailure = "failure"
)

// FSM holds the metrics of one RDS unit's connection state machine: every
// series carries that unit's label rds="<name>". Only the FSM's
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
	ReconnectDuration prometheus.Observer
}

// UnitLabel names the RDS unit on every connection metric.
const UnitLabel = "rds"

// FSMSet is the connection metrics of every RDS unit: one registration,
// one curried view per unit.
type FSMSet struct {
	transitions *prometheus.CounterVec
	state       *prometheus.GaugeVec
	connection  *prometheus.GaugeVec
	reconnects  *prometheus.CounterVec
	duration    *prometheus.HistogramVec
}

// Unit returns the metrics of the unit called name.
func (s *FSMSet) Unit(name string) *FSM {
	l := prometheus.Labels{UnitLabel: name}
	return &FSM{
		Transitions:       s.transitions.MustCurryWith(l),
		State:             s.state.MustCurryWith(l),
		Connection:        s.connection.MustCurryWith(l),
		Reconnects:        s.reconnects.MustCurryWith(l),
		ReconnectDuration: s.duration.WithLabelValues(name),
	}
}

// NewFSM registers the FSM metrics on reg (nil: unregistered, for tests and
// callers that do not export metrics) for a single unit named "default".
func NewFSM(reg prometheus.Registerer) *FSM { return NewFSMSet(reg).Unit("default") }

// NewFSMSet registers the connection metrics of every unit on reg (nil:
// unregistered).
func NewFSMSet(reg prometheus.Registerer) *FSMSet {
	m := &FSMSet{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "fsm", Name: "transitions_total",
			Help: "Transitions of the RDS connection state machine.",
		}, []string{UnitLabel, "from", "to", "event"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "rds", Name: "connection_fsm_state",
			Help: "1 for the current state of the RDS connection state machine, 0 for the others.",
		}, []string{UnitLabel, "state"}),
		connection: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "rds", Name: "connection_state",
			Help: "1 while the SSH control connection to the RDS is established, else 0.",
		}, []string{UnitLabel, "address"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "rds", Name: "reconnect_total",
			Help: "Attempts to (re)connect to the RDS by outcome.",
		}, []string{UnitLabel, "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "rds", Name: "reconnect_duration_seconds",
			Help:    "Length of RDS outages: from losing the connection to having it back.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60},
		}, []string{UnitLabel}),
	}
	if reg != nil {
		reg.MustRegister(m.transitions, m.state, m.connection, m.reconnects, m.duration)
	}
	return m
}
