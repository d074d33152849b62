package metrics

import "github.com/prometheus/client_golang/prometheus"

// Label values of the attachment metrics. They are fixed sets, initialised
// to zero at registration so that dashboards and alerts see every series
// from the start instead of "no data" until the first occurrence.
const (
	// Stale-attachment release reasons (label reason).
	StaleReasonNodeDeleted  = "node-deleted"
	StaleReasonOutOfService = "out-of-service"
	StaleReasonNotReady     = "not-ready"

	// Reconcile results (label result).
	ReconcileSuccess = "success" // done; nothing left to retry
	ReconcileRequeue = "requeue" // RDS not connected or unavailable: retried with backoff
	ReconcileError   = "error"   // any other failure: retried with backoff
)

// Attachment holds the metrics of the attachment reconciler
// (driver/attachment).
type Attachment struct {
	// StaleReleased counts attachments released because their node was
	// deleted, tainted out-of-service or NotReady past the grace period;
	// each (volume, node, reason) is counted once.
	StaleReleased *prometheus.CounterVec
	// Reconciles counts reconcile passes of one volume by result.
	Reconciles *prometheus.CounterVec
	// ReconcileDuration times one volume's reconcile pass, RDS calls included.
	ReconcileDuration prometheus.Histogram
	// ExportsRestored counts NVMe/TCP exports turned back on for attached volumes.
	ExportsRestored prometheus.Counter
	// VolumesMissing counts attached volumes found missing on the RDS (once
	// per volume until it is seen again or detached).
	VolumesMissing prometheus.Counter
	// Leader is 1 while this replica runs the reconcile workers.
	Leader prometheus.Gauge
}

// NewAttachment creates the attachment metrics and registers them on reg;
// a nil reg leaves them unregistered (tests, disabled metrics).
func NewAttachment(reg prometheus.Registerer) *Attachment {
	m := &Attachment{
		StaleReleased: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Subsystem: "attachment",
			Name:      "stale_released_total",
			Help:      "Attachments released because their node was deleted, tainted out-of-service or NotReady past the grace period.",
		}, []string{"reason"}),
		Reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Subsystem: "attachment",
			Name:      "reconcile_total",
			Help:      "Reconcile passes of one volume, by result (success, requeue, error).",
		}, []string{"result"}),
		ReconcileDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace,
			Subsystem: "attachment",
			Name:      "reconcile_duration_seconds",
			Help:      "Duration of one volume's reconcile pass, RDS calls included.",
			// From a pure cache pass (tens of µs) to a slow RDS round trip.
			Buckets: []float64{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10},
		}),
		ExportsRestored: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace,
			Subsystem: "attachment",
			Name:      "exports_restored_total",
			Help:      "NVMe/TCP exports found off for an attached volume and turned back on.",
		}),
		VolumesMissing: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace,
			Subsystem: "attachment",
			Name:      "volumes_missing_total",
			Help:      "Attached volumes found missing on the RDS.",
		}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace,
			Subsystem: "attachment",
			Name:      "leader",
			Help:      "1 while this replica runs the attachment reconcile workers, else 0.",
		}),
	}
	for _, r := range []string{StaleReasonNodeDeleted, StaleReasonOutOfService, StaleReasonNotReady} {
		m.StaleReleased.WithLabelValues(r)
	}
	for _, r := range []string{ReconcileSuccess, ReconcileRequeue, ReconcileError} {
		m.Reconciles.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.StaleReleased, m.Reconciles, m.ReconcileDuration,
			m.ExportsRestored, m.VolumesMissing, m.Leader)
	}
	return m
}
