package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestOrphanMetricsRegisteredWithZeroSeries(t *testing.T) {
	reg := NewRegistry()
	m := NewOrphan(reg)
	want := `
# HELP rds_csi_orphans_deleted_total Orphans removed from the RDS (only with --orphan-delete), by kind (disk, file).
# TYPE rds_csi_orphans_deleted_total counter
rds_csi_orphans_deleted_total{kind="disk"} 0
rds_csi_orphans_deleted_total{kind="file"} 0
# HELP rds_csi_orphan_scans_total Orphan scans of the RDS by result (success, requeue, error).
# TYPE rds_csi_orphan_scans_total counter
rds_csi_orphan_scans_total{result="error"} 0
rds_csi_orphan_scans_total{result="requeue"} 0
rds_csi_orphan_scans_total{result="success"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rds_csi_orphans_deleted_total", "rds_csi_orphan_scans_total"); err != nil {
		t.Fatal(err)
	}
	m.Disks.Set(2)
	m.Bytes.Set(3 << 20)
	if n, err := testutil.GatherAndCount(reg, "rds_csi_orphan_disks", "rds_csi_orphan_files", "rds_csi_orphan_bytes"); err != nil || n != 3 {
		t.Fatalf("gauges: %d series, %v", n, err)
	}
	if got := testutil.ToFloat64(m.Disks); got != 2 {
		t.Errorf("orphan disks = %v", got)
	}
}
