package bench

import (
	"fmt"
	"io"
	"time"
)

// result accumulates every round of one concurrency level.
type result struct {
	concurrency int
	pairs       int           // CreateVolume+DeleteVolume pairs done
	wall        time.Duration // summed wall time of all phases
	create      []time.Duration
	delete      []time.Duration
	pair        []time.Duration // create + delete latency of the same volume
	createRPC   time.Duration
	deleteRPC   time.Duration
	createEmu   time.Duration
	deleteEmu   time.Duration
	commands    int64
}

func (r *result) add(create, del phase) {
	r.pairs += len(create.latencies)
	r.wall += create.wall + del.wall
	r.create = append(r.create, create.latencies...)
	r.delete = append(r.delete, del.latencies...)
	for i := range create.latencies {
		r.pair = append(r.pair, create.latencies[i]+del.latencies[i])
	}
	r.createRPC += create.rpcTime()
	r.deleteRPC += del.rpcTime()
	r.createEmu += create.emuTime
	r.deleteEmu += del.emuTime
	r.commands += create.commands + del.commands
}

// overheadPct is the driver's share on top of the RDS: the time the RPCs
// took beyond the emulated time of their own commands, relative to that
// emulated time. Both sums run over the same RPCs, so the ratio is the
// per-RPC overhead averaged by time, whatever the concurrency: at 64 the
// emulator sleeps for many commands at once, and comparing the round's
// wall clock with the summed command time would be meaningless.
func overheadPct(rpc, emu time.Duration) float64 {
	if emu <= 0 {
		return 0
	}
	return 100 * float64(rpc-emu) / float64(emu)
}

func (r *result) opsPerSec() float64 { return float64(r.pairs) / r.wall.Seconds() }

func (r *result) overall() float64 {
	return overheadPct(r.createRPC+r.deleteRPC, r.createEmu+r.deleteEmu)
}

// perRPC splits the mean RPC latency into the emulator's part (its
// command time: injected latency plus its own execution, including waits
// for its state lock) and the driver's part (everything else: gRPC, the
// driver's code, SSH on both ends, waiting for a session slot).
func (r *result) perRPC() (emu, drv time.Duration) {
	n := time.Duration(len(r.create) + len(r.delete))
	if n == 0 {
		return 0, 0
	}
	emu = (r.createEmu + r.deleteEmu) / n
	return emu, (r.createRPC+r.deleteRPC)/n - emu
}

func printTable(w io.Writer, rows []*result) {
	_, _ = fmt.Fprintln(w, "\nProvisioning against rds-sim --latency=realistic, 1 GiB volumes; op = CreateVolume+DeleteVolume")
	_, _ = fmt.Fprintf(w, "%5s %6s %8s %9s %9s %11s %11s %11s %11s %10s %10s %9s %9s %9s %8s\n",
		"conc", "ops", "ops/s", "p50 ms", "p99 ms", "create p50", "create p99", "delete p50", "delete p99",
		"emu ms/rpc", "drv ms/rpc", "ovh cr %", "ovh del %", "ovh all %", "cmds/op")
	for _, r := range rows {
		emu, drv := r.perRPC()
		_, _ = fmt.Fprintf(w, "%5d %6d %8.2f %9.1f %9.1f %11.1f %11.1f %11.1f %11.1f %10.1f %10.2f %9.2f %9.2f %9.2f %8.1f\n",
			r.concurrency, r.pairs, r.opsPerSec(), ms(percentile(r.pair, 50)), ms(percentile(r.pair, 99)),
			ms(percentile(r.create, 50)), ms(percentile(r.create, 99)),
			ms(percentile(r.delete, 50)), ms(percentile(r.delete, 99)), ms(emu), ms(drv),
			overheadPct(r.createRPC, r.createEmu), overheadPct(r.deleteRPC, r.deleteEmu), r.overall(),
			float64(r.commands)/float64(r.pairs))
	}
	_, _ = fmt.Fprintln(w, "overhead = (Σ RPC latency − Σ emulated time of those RPCs' commands) / Σ emulated command time; target ≤ 5 %")
}
