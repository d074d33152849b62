package metrics

import "github.com/prometheus/client_golang/prometheus"

// Label values of the orphan metrics.
const (
	// Orphan kinds (label kind of rds_csi_orphans_deleted_total).
	OrphanKindDisk = "disk" // a disk (and its backing file)
	OrphanKindFile = "file" // a backing file without a disk

	// Scan results (label result of rds_csi_orphan_scans_total).
	OrphanScanSuccess = "success"
	OrphanScanRequeue = "requeue" // RDS not connected or unavailable, caches not ready
	OrphanScanError   = "error"
)

// Orphan holds the metrics of the orphan report (driver/attachment): disks
// and backing files under the managed naming rule that belong to no PV or
// VolumeSnapshotContent of this driver and are older than the grace period.
// The gauges describe the last complete scan of the leader; 0 elsewhere.
type Orphan struct {
	// Disks is the number of orphan disks.
	Disks prometheus.Gauge
	// Files is the number of orphan backing files without a disk.
	Files prometheus.Gauge
	// Bytes is the size of every orphan disk and file.
	Bytes prometheus.Gauge
	// Deleted counts orphans removed (only with --orphan-delete), by kind.
	Deleted *prometheus.CounterVec
	// Scans counts orphan scans by result.
	Scans *prometheus.CounterVec
}

// NewOrphan creates the orphan metrics and registers them on reg; a nil reg
// leaves them unregistered.
func NewOrphan(reg prometheus.Registerer) *Orphan {
	m := &Orphan{
		Disks: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace,
			Name:      "orphan_disks",
			Help:      "Disks under the managed naming rule that belong to no PV or VolumeSnapshotContent of this driver and are older than the orphan grace period (last scan).",
		}),
		Files: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace,
			Name:      "orphan_files",
			Help:      "Backing files under the managed naming rule without a disk, belonging to no PV or VolumeSnapshotContent, older than the grace period plus the copy timeout (last scan).",
		}),
		Bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace,
			Name:      "orphan_bytes",
			Help:      "Bytes held by orphan disks and orphan backing files (last scan).",
		}),
		Deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "orphans_deleted_total",
			Help:      "Orphans removed from the RDS (only with --orphan-delete), by kind (disk, file).",
		}, []string{"kind"}),
		Scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "orphan_scans_total",
			Help:      "Orphan scans of the RDS by result (success, requeue, error).",
		}, []string{"result"}),
	}
	for _, k := range []string{OrphanKindDisk, OrphanKindFile} {
		m.Deleted.WithLabelValues(k)
	}
	for _, r := range []string{OrphanScanSuccess, OrphanScanRequeue, OrphanScanError} {
		m.Scans.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.Disks, m.Files, m.Bytes, m.Deleted, m.Scans)
	}
	return m
}
