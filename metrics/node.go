package metrics

import "github.com/prometheus/client_golang/prometheus"

// Label values of the node metrics that are not supplied by the caller.
const (
	// Reconnect results (label result).
	NodeReconnectSuccess = "success"
	NodeReconnectFailure = "failure"

	// What happened to an orphan connection at node start (label action).
	NodeOrphanDisconnected = "disconnected" // unused, managed, disconnected
	NodeOrphanKept         = "kept"         // in use (mounted, claimed) or not provably unused
	NodeOrphanFailed       = "failed"       // the disconnect failed

	// Health scan results (label result).
	NodeScanSuccess = "success"
	NodeScanError   = "error" // sysfs or mountinfo could not be read

	// NodeConditionHealthy labels the volumes without a problem.
	NodeConditionHealthy = "Healthy"
)

// NodeLabels are the closed label sets of the node metrics that the node
// health watcher defines (path states, condition reasons). Every value is
// initialised to zero, so cardinality is fixed at registration.
type NodeLabels struct {
	PathStates []string
	Conditions []string // without NodeConditionHealthy, which is always added
}

// Node holds the metrics of the node plugin's health watcher
// (driver/nodehealth). No label names a volume or an NQN: a node has as
// many series as there are states and reasons, whatever it runs.
type Node struct {
	// Paths counts the managed NQNs on this node by path state (a staged
	// volume whose NQN has no controller at all counts as "absent").
	Paths *prometheus.GaugeVec
	// Volumes counts the staged volumes by condition (Healthy or the
	// reason of their first problem).
	Volumes *prometheus.GaugeVec
	// Reconnects counts reconnect attempts of lost paths by result.
	Reconnects *prometheus.CounterVec
	// Orphans counts managed connections found at node start without a
	// staged volume, by what was done with them.
	Orphans *prometheus.CounterVec
	// Scans counts full health passes by result.
	Scans *prometheus.CounterVec
}

// NewNode creates the node metrics, every series at zero, and registers
// them on reg; a nil reg leaves them unregistered (tests, disabled metrics).
func NewNode(reg prometheus.Registerer, labels NodeLabels) *Node {
	m := &Node{
		Paths: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace,
			Subsystem: "node",
			Name:      "nvme_paths",
			Help:      "Managed NQNs on this node by data-path state (live, resetting, connecting, new, unknown, deleting, dead, absent).",
		}, []string{"state"}),
		Volumes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace,
			Subsystem: "node",
			Name:      "volumes",
			Help:      "Volumes staged on this node by condition: Healthy, or the reason of their first problem.",
		}, []string{"condition"}),
		Reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Subsystem: "node",
			Name:      "nvme_reconnects_total",
			Help:      "Reconnect attempts of staged volumes whose path the kernel gave up, by result (success, failure).",
		}, []string{"result"}),
		Orphans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Subsystem: "node",
			Name:      "orphan_connections_total",
			Help:      "Managed connections without a staged volume found at node start, by action (disconnected, kept, failed).",
		}, []string{"action"}),
		Scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Subsystem: "node",
			Name:      "health_scans_total",
			Help:      "Full node health passes (sysfs and mountinfo read for every staged volume), by result (success, error).",
		}, []string{"result"}),
	}
	for _, s := range labels.PathStates {
		m.Paths.WithLabelValues(s)
	}
	m.Volumes.WithLabelValues(NodeConditionHealthy)
	for _, c := range labels.Conditions {
		m.Volumes.WithLabelValues(c)
	}
	for _, r := range []string{NodeReconnectSuccess, NodeReconnectFailure} {
		m.Reconnects.WithLabelValues(r)
	}
	for _, a := range []string{NodeOrphanDisconnected, NodeOrphanKept, NodeOrphanFailed} {
		m.Orphans.WithLabelValues(a)
	}
	for _, r := range []string{NodeScanSuccess, NodeScanError} {
		m.Scans.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.Paths, m.Volumes, m.Reconnects, m.Orphans, m.Scans)
	}
	return m
}

// SetCounts sets every series of g to its count in counts (missing: 0).
// Gauges are recomputed from scratch on every pass, so a state or reason
// that disappeared drops back to zero instead of keeping a stale count.
func SetCounts(g *prometheus.GaugeVec, labels []string, counts map[string]int) {
	for _, l := range labels {
		g.WithLabelValues(l).Set(float64(counts[l]))
	}
}
