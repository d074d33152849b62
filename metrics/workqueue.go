package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// Workqueue is a workqueue.MetricsProvider backed by one set of vectors
// labelled by queue name. Pass it per queue in the queue config (never
// through workqueue.SetProvider); any number of queues with different names
// share it, because the vectors are registered once, here. The names follow
// the Kubernetes components' workqueue_* metrics so existing dashboards fit.
type Workqueue struct {
	depth        *prometheus.GaugeVec
	adds         *prometheus.CounterVec
	retries      *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	workDuration *prometheus.HistogramVec
	unfinished   *prometheus.GaugeVec
	longest      *prometheus.GaugeVec
}

var _ workqueue.MetricsProvider = (*Workqueue)(nil)

// workqueueBuckets span 1 µs to 1000 s: a reconcile item takes milliseconds
// when the RDS answers and up to a command timeout when it does not.
var workqueueBuckets = prometheus.ExponentialBuckets(1e-6, 10, 10)

// NewWorkqueue registers the workqueue_* vectors on reg (nil: unregistered).
func NewWorkqueue(reg prometheus.Registerer) *Workqueue {
	name := []string{"name"}
	m := &Workqueue{
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_depth",
			Help: "Current depth of the workqueue.",
		}, name),
		adds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workqueue_adds_total",
			Help: "Total number of adds handled by the workqueue.",
		}, name),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workqueue_retries_total",
			Help: "Total number of rate-limited (delayed) adds handled by the workqueue.",
		}, name),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "workqueue_queue_duration_seconds",
			Help:    "How long in seconds an item stays in the workqueue before being requested.",
			Buckets: workqueueBuckets,
		}, name),
		workDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "workqueue_work_duration_seconds",
			Help:    "How long in seconds processing an item from the workqueue takes.",
			Buckets: workqueueBuckets,
		}, name),
		unfinished: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_unfinished_work_seconds",
			Help: "Seconds of work in progress not yet observed by work_duration; large values mean stuck workers.",
		}, name),
		longest: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_longest_running_processor_seconds",
			Help: "Seconds the longest running processor of the workqueue has been running.",
		}, name),
	}
	if reg != nil {
		reg.MustRegister(m.depth, m.adds, m.retries, m.latency, m.workDuration, m.unfinished, m.longest)
	}
	return m
}

// NewDepthMetric implements workqueue.MetricsProvider.
func (m *Workqueue) NewDepthMetric(name string) workqueue.GaugeMetric {
	return m.depth.WithLabelValues(name)
}

// NewAddsMetric implements workqueue.MetricsProvider.
func (m *Workqueue) NewAddsMetric(name string) workqueue.CounterMetric {
	return m.adds.WithLabelValues(name)
}

// NewLatencyMetric implements workqueue.MetricsProvider.
func (m *Workqueue) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return m.latency.WithLabelValues(name)
}

// NewWorkDurationMetric implements workqueue.MetricsProvider.
func (m *Workqueue) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return m.workDuration.WithLabelValues(name)
}

// NewUnfinishedWorkSecondsMetric implements workqueue.MetricsProvider.
func (m *Workqueue) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return m.unfinished.WithLabelValues(name)
}

// NewLongestRunningProcessorSecondsMetric implements workqueue.MetricsProvider.
func (m *Workqueue) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return m.longest.WithLabelValues(name)
}

// NewRetriesMetric implements workqueue.MetricsProvider.
func (m *Workqueue) NewRetriesMetric(name string) workqueue.CounterMetric {
	return m.retries.WithLabelValues(name)
}
