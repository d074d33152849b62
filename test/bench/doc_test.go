// Package bench measures the controller against the RDS emulator with
// hardware-like latency (rds/sim's realistic model): provisioning
// throughput and latency at several concurrencies, the driver's own overhead
// on top of the time the RDS itself spends, and how fast CreateVolume fails
// while the RDS is down.
//
//	go test -bench . -run '^$' -benchtime=10s ./test/bench/
//
// The driver runs in-process (test/controller/inproc) and is called over its
// CSI unix socket; the emulator is reached over real SSH on loopback.
package bench
