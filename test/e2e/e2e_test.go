//go:build linux

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/test/harness"
)

// TestE2E starts one cluster and runs the scenarios against it, in order.
// Manifests dry-runs a first installation on the bare cluster; then the
// driver is installed and every later scenario leaves the cluster as it found
// it (apart from nodes it deleted); RDSOutage, which kills the emulator, runs
// last. Afterwards the logs of every process are checked for RBAC denials
// and data races.
func TestE2E(t *testing.T) {
	start := time.Now()
	c := newCluster(t)
	t.Run("Manifests", c.testManifests)
	c.installDriver(t)
	t.Logf("cluster up and driver installed in %v", time.Since(start).Round(time.Millisecond))

	t.Run("Provision", c.testProvision)
	t.Run("Attach", c.testAttach)
	t.Run("StaleAttachment", c.testStaleAttachment)
	t.Run("BlockMigration", c.testBlockMigration)
	t.Run("ResizeAndSnapshot", c.testResizeAndSnapshot)
	t.Run("RDSOutage", c.testRDSOutage)

	c.checkLogs(t)
}

// checkLogs stops the processes and scans their complete logs:
//
//   - "is forbidden" in the controller's or a sidecar's log: deploy's RBAC
//     lacks a permission they use. Many such failures are only logged (an
//     event that is never recorded, an informer that never syncs), so no
//     scenario would notice them otherwise.
//   - "WARNING: DATA RACE" in the controller's or the emulator's log, when
//     they are built with -race (the test binary is).
//
// The processes are stopped here, not in the harness's cleanup, so the
// logs are complete and still on disk.
func (c *cluster) checkLogs(t *testing.T) {
	t.Helper()
	procs := append([]*harness.Process{c.controller.proc, c.rds.Process()}, c.sidecars...)
	for i := len(procs) - 1; i >= 0; i-- {
		_ = procs[i].Stop()
	}
	for _, p := range append([]*harness.Process{c.controller.proc}, c.sidecars...) {
		for _, line := range grepFile(t, p.LogPath, "is forbidden") {
			t.Errorf("%s was denied by RBAC: %s", p.Name, line)
		}
	}
	if !raceEnabled {
		return
	}
	logs := []string{c.controller.proc.LogPath}
	sims, _ := filepath.Glob(filepath.Join(c.cp.LogDir, "rds-sim*.log"))
	for _, path := range append(logs, sims...) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Error(err)
			continue
		}
		if i := strings.Index(string(data), "WARNING: DATA RACE"); i >= 0 {
			t.Errorf("data race in %s:\n%s", path, firstLines(string(data[i:]), 60))
		}
	}
}

// grepFile returns the lines of the file containing s (at most 10).
func grepFile(t *testing.T, path, s string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return nil
	}
	var hits []string
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.Contains(line, s) && len(hits) < 10 {
			hits = append(hits, line)
		}
	}
	return hits
}

// firstLines returns the first n lines of s.
func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}
