// Package integration proves the RDS connection's acceptance points at the
// process level: the real rds-sim and rds-csi binaries run as subprocesses,
// and the tests watch them from outside, the way Kubernetes does, over the
// CSI unix socket (Identity.Probe) and the metrics address (/metrics,
// /readyz).
//
// TestMain builds both binaries once into a temporary directory; test/procs
// builds and starts them. Every child runs in its own process group, dies
// with the test binary (Pdeathsig) and is killed in t.Cleanup; its log is
// kept in a file and printed when the test fails.
//
// The timing assertions are acceptance measurements with explicit
// tolerances; every measured interval is logged, so `go test -v` shows the
// numbers. The tests run one after the other (never t.Parallel): they
// measure wall-clock latencies on a shared machine.
//
// Environment:
//
//	RDS_CSI_FULL_BACKOFF=1  also measure the production reconnect schedule
//	                        (1, 2, 4, 8, 16, 16 s) and the loss of a stable
//	                        (≥ 30 s) connection: about two more minutes. By
//	                        default only the scaled schedule runs
//	                        (--reconnect-base=250ms --reconnect-max=4s), which
//	                        keeps the rest of the package under a minute.
//	RDS_CSI_LONG_OUTAGES=1  TestRecoveryAfterOutage also with 60 s and 120 s
//	                        outages (the 20 s one always runs): about three
//	                        more minutes.
//
// Always running and long: TestFlappingRDS (about 70 s: 60 s of flapping and
// the last capped step) and TestRecoveryAfterOutage/20s (about 25 s).
//
// Typical use:
//
//	go test -race -v ./test/integration/
//	RDS_CSI_FULL_BACKOFF=1 go test -v -run Backoff -timeout 10m ./test/integration/
//	RDS_CSI_LONG_OUTAGES=1 go test -v -run TestRecoveryAfterOutage -timeout 10m ./test/integration/
//	go test -run '^$' -bench Probe ./test/integration/
package integration
