// Package inproc runs rds-csi in the test's own process (app.Run; the
// controller by default, any mode through WithConfig), talking to an RDS
// emulator from simtest over real SSH, and hands the test a gRPC client on
// the driver's unix socket. Used by the sanity, controller and bench suites.
//
// Running the driver in-process (instead of the built binary) keeps the race
// detector and the test's deadline on the driver's goroutines too; the
// demo test covers the binaries.
package inproc
