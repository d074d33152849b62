//go:build linux

package integration

import (
	"context"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/srvlab/rds-csi/test/procs"
)

// BenchmarkProbe is Identity.Probe as a sidecar sees it: over the unix
// socket of a real rds-csi connected to bin/rds-sim, through gRPC and the
// driver's interceptor. The in-process counterparts are
// driver.BenchmarkProbe and fsm.BenchmarkConnected.
func BenchmarkProbe(b *testing.B) {
	dir := procs.ShortTempDir(b)
	keys := procs.NewSSHKeys(b, dir)
	sim := newEmulator(dir, procs.FreeAddr(b), keys)
	sim.start(b)
	drv := startDriver(b, dir, sim.addr, keys, sim.hostKeyFile(b))
	drv.waitReady(b)

	ctx, req := context.Background(), &csi.ProbeRequest{}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := drv.identity.Probe(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if !resp.GetReady().GetValue() {
			b.Fatal("Probe not ready")
		}
	}
}
