package bench

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/srvlab/rds-csi/cmd/rds-csi/app"
	"github.com/srvlab/rds-csi/rds/sim"
)

// concurrencies of BenchmarkProvisioning: one provisioner worker, the
// external-provisioner's default (--worker-threads is 100, but 8 in flight
// is a busy cluster), and a burst such as a StatefulSet scale-up.
var concurrencies = []int{1, 8, 64}

// noHealthCheck keeps the driver's periodic /system identity print out of
// the emulator's command time: only the measured RPCs may talk to it.
func noHealthCheck(c *app.Config) { c.HealthInterval = time.Hour }

// BenchmarkProvisioning creates and deletes 1 GiB volumes, n at a time: one
// b.Loop iteration is a round of n concurrent CreateVolume calls followed
// by n concurrent DeleteVolume calls of the same volumes. The phases are
// separated so that the emulator's accounting can be split by RPC kind.
//
// Reported: ops/s (pairs per second of wall time), p50-ms/p99-ms of a
// pair's latency (create + delete of one volume), overhead-% (see
// overheadPct), and ns/op overridden to wall time per pair.
func BenchmarkProvisioning(b *testing.B) {
	env, d := start(b, sim.LatencyRealistic, noHealthCheck)
	var rows []*result
	for _, n := range concurrencies {
		r := &result{concurrency: n}
		ok := b.Run(fmt.Sprintf("concurrency=%d", n), func(b *testing.B) {
			*r = result{concurrency: n} // b.Run may call this again: keep the final run
			round := 0
			for b.Loop() {
				round++
				ids := make([]string, n)
				create, err := runPhase(env, n, func(i int) error {
					ctx, cancel := rpcCtx()
					defer cancel()
					resp, err := d.Controller.CreateVolume(ctx, createReq(fmt.Sprintf("bench-c%d-r%d-%d", n, round, i), gib))
					ids[i] = resp.GetVolume().GetVolumeId()
					return err
				})
				if err != nil {
					b.Fatalf("round %d: CreateVolume: %v", round, err)
				}
				del, err := runPhase(env, n, func(i int) error {
					ctx, cancel := rpcCtx()
					defer cancel()
					_, err := d.Controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: ids[i]})
					return err
				})
				if err != nil {
					b.Fatalf("round %d: DeleteVolume: %v", round, err)
				}
				r.add(create, del)
			}
			b.ReportMetric(float64(r.wall.Nanoseconds())/float64(r.pairs), "ns/op")
			b.ReportMetric(r.opsPerSec(), "ops/s")
			b.ReportMetric(ms(percentile(r.pair, 50)), "p50-ms")
			b.ReportMetric(ms(percentile(r.pair, 99)), "p99-ms")
			b.ReportMetric(r.overall(), "overhead-%")
		})
		if ok {
			rows = append(rows, r)
		}
	}
	printTable(os.Stdout, rows)
}
