package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestOperations(t *testing.T) {
	reg := prometheus.NewRegistry()
	o, err := NewOperations(reg)
	if err != nil {
		t.Fatal(err)
	}
	o.Observe("CreateVolume", "OK", 30*time.Millisecond)
	o.Observe("CreateVolume", "OK", time.Second)
	o.Observe("CreateVolume", "Unavailable", time.Millisecond)
	want := `
# HELP rds_csi_operations_total CSI RPCs handled, by RPC method and gRPC status code.
# TYPE rds_csi_operations_total counter
rds_csi_operations_total{code="OK",method="CreateVolume"} 2
rds_csi_operations_total{code="Unavailable",method="CreateVolume"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rds_csi_operations_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "rds_csi_operation_duration_seconds"); n != 1 {
		t.Fatalf("duration series %d", n)
	}
	if _, err := NewOperations(reg); err == nil {
		t.Fatal("double registration accepted")
	}
	var none *Operations
	none.Observe("Probe", "OK", time.Millisecond) // nil-safe
}
