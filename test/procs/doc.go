// Package procs runs the real rds-sim and rds-csi binaries as children of a
// test binary, for the suites that watch them from outside (test/integration
// and test/chaos; test/attachment uses only BuildBinaries): building the
// binaries, starting and signalling the children,
// and what they need on the command line (SSH keys, a free address, a short
// directory for unix sockets), plus the CSI Probe through which a suite
// sees that a driver child serves.
//
// Every child runs in its own process group, so a signal reaches whatever it
// forks; it dies with the test binary (Pdeathsig), so no emulator or driver
// outlives a crashed run on a shared machine; and it is stopped in
// t.Cleanup. A child still running after the tests is a leak: RunWithBinaries
// kills it and fails the run.
//
// The process part is Linux-only (Pdeathsig).
package procs
