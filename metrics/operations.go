package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Operations counts and times CSI RPCs. The gRPC interceptor is its only
// writer; method is the short RPC name ("CreateVolume"), code the gRPC
// status code name ("OK", "Unavailable").
type Operations struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewOperations creates the collectors and registers them on reg.
func NewOperations(reg prometheus.Registerer) (*Operations, error) {
	o := &Operations{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "operations_total",
			Help:      "CSI RPCs handled, by RPC method and gRPC status code.",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace,
			Name:      "operation_duration_seconds",
			Help:      "Duration of CSI RPCs, by RPC method.",
			// From sub-millisecond Probe calls to multi-second copies of
			// large volumes (RouterOS copies synchronously).
			Buckets: []float64{0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"method"}),
	}
	for _, c := range []prometheus.Collector{o.total, o.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// Observe records one finished RPC. A nil receiver does nothing, so callers
// without metrics need no special case.
func (o *Operations) Observe(method, code string, d time.Duration) {
	if o == nil {
		return
	}
	o.total.WithLabelValues(method, code).Inc()
	o.duration.WithLabelValues(method).Observe(d.Seconds())
}
