package bench

import (
	"errors"
	"sync"
	"time"

	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// phase is one batch of RPCs started at the same moment, measured against
// the emulator's own accounting of the same interval.
type phase struct {
	latencies []time.Duration // one per RPC, as the client saw it
	wall      time.Duration   // start of the batch to the end of its last RPC
	emuTime   time.Duration   // emulator command time spent meanwhile
	commands  int64           // commands the emulator received meanwhile
}

// rpcTime is the summed latency of the phase's RPCs.
func (p phase) rpcTime() time.Duration {
	var sum time.Duration
	for _, l := range p.latencies {
		sum += l
	}
	return sum
}

// runPhase calls rpc(0..n-1) on n goroutines at once and waits for all.
// The emulator's counters are read before the first RPC starts and after
// the last one returned; the emulator books a command's time before it
// answers, so every command of these RPCs is inside the difference. Only
// these RPCs may talk to the emulator meanwhile (the benchmark turns the
// driver's health check off), or their time would be counted too.
func runPhase(env *simtest.Env, n int, rpc func(i int) error) (phase, error) {
	before := env.Server.Stats()
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			t0 := time.Now()
			errs[i] = rpc(i)
			lat[i] = time.Since(t0)
		})
	}
	wg.Wait()
	wall := time.Since(start)
	after := env.Server.Stats()
	return phase{
		latencies: lat,
		wall:      wall,
		emuTime:   after.CommandTime - before.CommandTime,
		commands:  after.Commands - before.Commands,
	}, errors.Join(errs...)
}
