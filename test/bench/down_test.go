package bench

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/rds/sim"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// BenchmarkCreateVolumeWhileDown measures how long CreateVolume takes to
// answer Unavailable while the RDS is unreachable and the connection FSM
// knows it (Backoff or Reconnecting): the goal is < 100 ms, so that the
// provisioner's retries are cheap and never pile up behind SSH timeouts.
// Two outages: the emulator gone (listener closed, dials refused by the
// kernel) and the emulator refusing SSH (TCP accepted, then closed, as a
// rebooting RouterOS does).
func BenchmarkCreateVolumeWhileDown(b *testing.B) {
	for _, o := range []struct {
		name string
		down func(env *simtest.Env) error
	}{
		{"emulator-closed", func(env *simtest.Env) error { return env.Server.Close() }},
		{"ssh-refused", func(env *simtest.Env) error {
			env.Server.SetFault(sim.FaultRefuse, true)
			env.Server.Drop()
			return nil
		}},
	} {
		b.Run(o.name, func(b *testing.B) {
			env, d := start(b, sim.LatencyNone, nil)
			if err := o.down(env); err != nil {
				b.Fatal(err)
			}
			d.WaitReady(b, false, 10*time.Second)
			var lat []time.Duration
			i := 0
			for b.Loop() {
				i++
				ctx, cancel := rpcCtx()
				t0 := time.Now()
				_, err := d.Controller.CreateVolume(ctx, createReq(fmt.Sprintf("down-%d", i), gib))
				lat = append(lat, time.Since(t0))
				cancel()
				if status.Code(err) != codes.Unavailable {
					b.Fatalf("CreateVolume while down: %v, want Unavailable", err)
				}
			}
			b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
			b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
			b.ReportMetric(ms(percentile(lat, 100)), "max-ms")
		})
	}
}
