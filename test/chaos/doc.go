// Package chaos is the driver's chaos suite: concurrent provisioner-like
// workers run volume, snapshot, restore and clone lifecycles against one
// rds-sim and one rds-csi (controller mode, no kubeconfig), both real
// processes, while a fault injector breaks the RDS and the driver under
// them. At the end, with every fault off and both processes up, the suite
// inspects the RDS over SSH and fails on any figure that is not zero.
//
// # What runs
//
// TestMain builds bin/rds-sim and bin/rds-csi (plain go build, never -race:
// their timing is part of what is measured) into a temporary directory
// through test/procs, as test/integration does. TestChaos starts the
// emulator (--copy-rate so that a copy takes 0.5-3 s: sizes of
// 256 MiB-1.5 GiB, sparse, at 512 MiB/s;
// --latency=realistic by default, see below) and
// the driver (--mode=controller, --rds-copy-timeout=20s so that a copy cut
// off by an RDS restart is cleaned up in bounded time, --rds-command-timeout=10s
// because the driver wants it at most the copy timeout, --reconnect-base=250ms
// --reconnect-max=4s so that the scaled reconnect schedule of
// test/integration keeps the run short; every other flag at its default).
// Every child runs in its own process group and dies with the test binary.
//
// Workers talk CSI over the unix socket with the csi Go client, like
// external-provisioner and external-snapshotter: every request is retried
// with the same arguments until it answers OK, each attempt under its own
// deadline (30 s, or 3 s for the "short" lifecycles), with a jittered
// exponential pause (100 ms doubling up to 2 s) after Unavailable,
// DeadlineExceeded, Aborted, ResourceExhausted and Canceled. Any other code
// is a finding: no request the suite sends is invalid, so no final answer
// is legitimate. A finding does not stop the lifecycle (the request is
// retried like the rest), so that its resources are still cleaned up. While
// faults go on, a request is never given up (a driver restart restarts the
// driver's wait for a dead copy, so progress under faults is measured, not
// bounded: the slowest request per operation is printed); a request still
// without OK 2 minutes after the last fault (and after its own first
// attempt) is given up, a finding.
//
// Lifecycles (kinds drawn evenly, order shuffled by the seed):
//
//	volume:   CreateVolume → DeleteVolume
//	snapshot: CreateVolume(src) → CreateSnapshot → DeleteSnapshot → DeleteVolume(src)
//	restore:  CreateVolume(src) → CreateSnapshot → CreateVolume(from snapshot)
//	          → DeleteVolume(restored) → DeleteSnapshot → DeleteVolume(src)
//	clone:    CreateVolume(src) → CreateVolume(from src) → DeleteVolume(clone) → DeleteVolume(src)
//
// Volume names are pvc-<uuid> (what external-provisioner sends; the driver
// uses them as the volume id and disk slot), snapshot names
// snapshot-<uuid>; snapshot disks are snap-<first 16 hex digits of
// sha256(name)>-<source volume id>, so they are grouped by that hash; a
// volume made from a content source also has a record disk
// vsrc-<volume id>-<16 hex> (driver/volumenames.go), owned by the volume.
//
// The fault injector, after a calm pause of 2-5 s (random, seeded), applies
// one fault, waits for its duration and reverts it, then pauses again; so
// faults never overlap and one is always either active or at most 5 s away:
//
//	rds-kill      kill -9 the emulator, restart it after 0.5-5 s (same --data-dir and --listen)
//	drop          POST /drop (every SSH connection cut)
//	hang          PUT /faults/hang on for 1-4 s, then off
//	max-sessions  PUT /faults/max-sessions 2 for 2-6 s, then 0
//	disk-full     PUT /faults/disk-full on for 1-4 s, then off
//	flap          PUT /faults/flap 200ms-1s for 2-5 s, then off
//	driver-kill   kill -9 rds-csi, restart it after 0-1 s (same socket and metrics address)
//
// The injector runs until every lifecycle has been handed to a worker; the
// last ones (at most one per worker) finish in calm.
//
// # Checks during the run
//
// After every OK of a CreateVolume, CreateSnapshot (with ready_to_use) or
// delete, the suite reads the whole RDS state over its own SSH connection
// (`/disk print detail` and `/file print detail`, parsed with
// rds.ParseRecords) and records a contradiction when the disk is missing
// (or still there after a delete, or its size differs from the answer).
// Every such reading also checks that no name has two disks of one kind,
// that no name whose delete returned OK earlier has a disk or file again,
// and that every disk and file in the pool belongs to a lifecycle: the pool
// starts empty (checked) and only the driver writes to it.
//
// # Emulator latency
//
// By default the emulator answers with hardware-like latency
// (--latency=realistic: /disk add 0.5-1 s, /disk remove 0.5-1 s, prints
// 50-200 ms, SSH authentication 200-500 ms). A command runs to completion
// when its caller is cut off, so the latency between a command's receipt
// and its effect is exactly where a retry races the attempt it replaces,
// and where a connection loss splits a two-command step (disk remove, then
// file remove). Without it (RDS_CSI_CHAOS_LATENCY=none) those windows are
// microseconds wide and such races practically never show: use none only
// to separate a latency-dependent finding from the rest.
//
// # Figures
//
// With all faults off and both processes up, the suite waits for
// quiescence (Probe ready, RDS listing and the driver's go_goroutines
// unchanged over three readings 1 s apart, at most the copy timeout plus
// 30 s), then prints and fails the test on any non-zero of:
//
//  1. disks or backing files (content-source records included) left on the
//     RDS for names whose delete returned OK, plus any disk or file in the
//     pool that no lifecycle owns (outside the managed naming, or of a name
//     no lifecycle used);
//  2. names with two or more disks of one kind: volume, snapshot name (by
//     hash), a volume's content-source records (seen at any reading during
//     the run or at the end);
//  3. OK answers contradicted by the RDS state (see above);
//  4. RPCs that returned more than 1 s after their deadline (wall time of
//     the call against its per-call deadline);
//  5. non-retryable codes during the run;
//  6. panics: "panic:", "fatal error:" or a recovered "Panic in GRPC
//     handler" in any log of the driver or the emulator;
//  7. goroutines of the driver not back to baseline: go_goroutines from the
//     driver's --metrics-address after the first start (connected, idle:
//     the baseline) against the driver running at the end after quiescence,
//     with a tolerance of +5. The final process may be a later one than the
//     baseline's (the driver is killed during the run); both are then idle
//     processes of the same binary and flags, which is what the comparison
//     needs. The tolerance covers what legitimately differs between two
//     idle moments: the SSH connection's keepalive and session goroutines
//     mid-health-check, a reconnect timer, gRPC's per-connection transport
//     goroutines of the test's one client (which may have reconnected) and
//     the klog flush daemon; a leak per request or per copy would exceed it
//     after hundreds of lifecycles;
//  8. lifecycles that did not complete (a request given up 2 min into the
//     calm, or after the harness's own 30 min cap), fault-injector errors and
//     RDS readings that failed for 60 s (a check that could not be made is
//     never reported as passed).
//
// It also prints the lifecycles completed per kind, the RPC count, the
// retries and the codes seen, the slowest request per operation (first
// attempt to OK), the faults injected per kind, the duration,
// the seed and the command that reruns with it. The seed fixes the fault
// schedule (kinds, pauses, durations), the lifecycle order, names and sizes
// and every backoff jitter; the interleaving with the processes still
// depends on timing, so a rerun exercises the same schedule, not the same
// history.
//
// On failure the working directory (process logs, events.log with every
// fault and finding) is kept and its path printed.
//
// # Environment
//
//	RDS_CSI_CHAOS_SEED              seed (default: time-based; always printed)
//	RDS_CSI_CHAOS_LIFECYCLES        lifecycles with 30 s per-call deadlines (default 40)
//	RDS_CSI_CHAOS_SHORT_LIFECYCLES  lifecycles with 3 s per-call deadlines (default 12)
//	RDS_CSI_CHAOS_WORKERS           concurrent workers (default 8)
//	RDS_CSI_CHAOS_LATENCY           emulator latency: realistic (default) or none
//	RDS_CSI_CHAOS_REPORT            also write the figures to this file (make test
//	                                prints it: go test hides a passing test's log)
//
// Both kinds of lifecycle run at the same time, mixed in one queue. The
// defaults are the bounded run of `make test` (1.5-3 minutes on two cores
// when nothing is found; a request given up adds its 3 minutes);
// `make chaos` runs the acceptance size, 1,000 and 300 lifecycles with 16
// workers. Typical use:
//
//	go test -count=1 -v -run TestChaos ./test/chaos/
//	RDS_CSI_CHAOS_SEED=42 go test -count=1 -v -run TestChaos ./test/chaos/
//	make chaos
package chaos
