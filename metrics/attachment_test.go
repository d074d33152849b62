package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAttachmentMetricsRegisteredWithZeroSeries(t *testing.T) {
	reg := NewRegistry()
	m := NewAttachment(reg)

	// Every label value exists before the first event, so alerts on
	// increase(...) work from the first scrape.
	want := `
# HELP rds_csi_attachment_stale_released_total Attachments released because their node was deleted, tainted out-of-service or NotReady past the grace period.
# TYPE rds_csi_attachment_stale_released_total counter
rds_csi_attachment_stale_released_total{reason="node-deleted"} 0
rds_csi_attachment_stale_released_total{reason="not-ready"} 0
rds_csi_attachment_stale_released_total{reason="out-of-service"} 0
# HELP rds_csi_attachment_reconcile_total Reconcile passes of one volume, by result (success, requeue, error).
# TYPE rds_csi_attachment_reconcile_total counter
rds_csi_attachment_reconcile_total{result="error"} 0
rds_csi_attachment_reconcile_total{result="requeue"} 0
rds_csi_attachment_reconcile_total{result="success"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"rds_csi_attachment_stale_released_total", "rds_csi_attachment_reconcile_total"); err != nil {
		t.Fatal(err)
	}

	m.StaleReleased.WithLabelValues(StaleReasonNotReady).Inc()
	m.Reconciles.WithLabelValues(ReconcileRequeue).Add(2)
	m.ReconcileDuration.Observe(0.002)
	m.ExportsRestored.Inc()
	m.VolumesMissing.Inc()
	m.Leader.Set(1)
	if got := testutil.ToFloat64(m.StaleReleased.WithLabelValues(StaleReasonNotReady)); got != 1 {
		t.Errorf("stale released not-ready = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Reconciles.WithLabelValues(ReconcileRequeue)); got != 2 {
		t.Errorf("reconcile requeue = %v, want 2", got)
	}
	for _, name := range []string{
		"rds_csi_attachment_reconcile_duration_seconds",
		"rds_csi_attachment_exports_restored_total",
		"rds_csi_attachment_volumes_missing_total",
		"rds_csi_attachment_leader",
	} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 1 {
			t.Errorf("%s: %d series, err %v; want 1", name, n, err)
		}
	}
}

func TestAttachmentMetricsWithoutRegistry(t *testing.T) {
	m := NewAttachment(nil)
	m.Reconciles.WithLabelValues(ReconcileSuccess).Inc() // usable, just not exported
	if got := testutil.ToFloat64(m.Reconciles.WithLabelValues(ReconcileSuccess)); got != 1 {
		t.Fatalf("got %v", got)
	}
}
