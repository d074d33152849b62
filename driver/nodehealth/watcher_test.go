package nodehealth

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/metrics"
)

// The ticker drives passes on the fake clock: no pass without a tick.
func TestTickerDrivesPasses(t *testing.T) {
	e := newEnv(t)
	e.run()
	n := e.w.Scans()
	if n != 1 {
		t.Fatalf("%d passes before any tick, want the one at start", n)
	}
	// Keep stepping until the ticker (armed in Run) has fired once: a step
	// taken before it was armed is simply not seen by it.
	waitUntil(t, "a pass from the ticker", func() bool {
		e.clock.Step(time.Hour)
		return e.w.Scans() > n
	})
}

// Metrics count paths and volumes with fixed labels; a foreign NQN is not
// counted.
func TestPassCountsPathsAndVolumes(t *testing.T) {
	e := newEnv(t)
	e.connected(0, testNQN, 1)
	e.connected(2, bootNQN, 2)
	staging := filepath.Join(t.TempDir(), "globalmount")
	e.mount(staging, 1)
	if err := e.w.Staged(stagedVolume(staging, "/t")); err != nil {
		t.Fatal(err)
	}
	// Staged block volume whose NQN has no controller at all.
	if err := e.w.Staged(Volume{ID: otherVol, NQN: otherNQN, Block: true}); err != nil {
		t.Fatal(err)
	}
	e.run()
	e.pass()
	m := e.w.cfg.Metrics
	for state, want := range map[device.PathState]float64{device.PathLive: 1, device.PathAbsent: 1, device.PathDead: 0} {
		if got := testutil.ToFloat64(m.Paths.WithLabelValues(string(state))); got != want {
			t.Errorf("paths{state=%s} = %v, want %v", state, got, want)
		}
	}
	for cond, want := range map[string]float64{metrics.NodeConditionHealthy: 1, ReasonPathLost: 1} {
		if got := testutil.ToFloat64(m.Volumes.WithLabelValues(cond)); got != want {
			t.Errorf("volumes{condition=%s} = %v, want %v", cond, got, want)
		}
	}
	if n, err := testutil.GatherAndCount(e.reg, "rds_csi_node_nvme_paths"); err != nil || n != len(device.PathStates) {
		t.Errorf("path series = %d, %v; want %d (fixed)", n, err, len(device.PathStates))
	}
	// Unstaging forgets the volume's condition.
	if err := e.w.Unstaged(otherVol); err != nil {
		t.Fatal(err)
	}
	e.pass()
	if got := testutil.ToFloat64(m.Volumes.WithLabelValues(ReasonPathLost)); got != 0 {
		t.Errorf("volumes{PathLost} = %v after unstage, want 0", got)
	}
	if _, ok := e.w.Condition(e.ctx, otherVol); ok {
		t.Error("condition of an unstaged volume")
	}
}
