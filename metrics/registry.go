// Package metrics owns the driver's Prometheus registry and every rds_csi_*
// metric. Each concern has its own file with a struct of collectors and a
// constructor that registers them on a given Registerer, so tests use a fresh
// registry and nothing touches the global default registry.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric of the driver.
const Namespace = "rds_csi"

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}
