package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNodeMetricsRegisteredWithZeroSeries(t *testing.T) {
	reg := NewRegistry()
	NewNode(reg, NodeLabels{PathStates: []string{"live", "absent"}, Conditions: []string{"PathLost"}})
	want := `
# HELP rds_csi_node_nvme_paths Managed NQNs on this node by data-path state (live, resetting, connecting, new, unknown, deleting, dead, absent).
# TYPE rds_csi_node_nvme_paths gauge
rds_csi_node_nvme_paths{state="absent"} 0
rds_csi_node_nvme_paths{state="live"} 0
# HELP rds_csi_node_volumes Volumes staged on this node by condition: Healthy, or the reason of their first problem.
# TYPE rds_csi_node_volumes gauge
rds_csi_node_volumes{condition="Healthy"} 0
rds_csi_node_volumes{condition="PathLost"} 0
# HELP rds_csi_node_nvme_reconnects_total Reconnect attempts of staged volumes whose path the kernel gave up, by result (success, failure).
# TYPE rds_csi_node_nvme_reconnects_total counter
rds_csi_node_nvme_reconnects_total{result="failure"} 0
rds_csi_node_nvme_reconnects_total{result="success"} 0
# HELP rds_csi_node_orphan_connections_total Managed connections without a staged volume found at node start, by action (disconnected, kept, failed).
# TYPE rds_csi_node_orphan_connections_total counter
rds_csi_node_orphan_connections_total{action="disconnected"} 0
rds_csi_node_orphan_connections_total{action="failed"} 0
rds_csi_node_orphan_connections_total{action="kept"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"rds_csi_node_nvme_paths", "rds_csi_node_volumes", "rds_csi_node_nvme_reconnects_total",
		"rds_csi_node_orphan_connections_total"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "rds_csi_node_health_scans_total"); err != nil || n != 2 {
		t.Fatalf("scans series = %d, %v; want 2", n, err)
	}
}

func TestSetCountsResetsVanishedLabels(t *testing.T) {
	m := NewNode(nil, NodeLabels{PathStates: []string{"live", "dead"}})
	labels := []string{"live", "dead"}
	SetCounts(m.Paths, labels, map[string]int{"live": 2, "dead": 1})
	SetCounts(m.Paths, labels, map[string]int{"live": 3})
	if got := testutil.ToFloat64(m.Paths.WithLabelValues("dead")); got != 0 {
		t.Errorf("dead = %v after it vanished, want 0", got)
	}
	if got := testutil.ToFloat64(m.Paths.WithLabelValues("live")); got != 3 {
		t.Errorf("live = %v, want 3", got)
	}
}
