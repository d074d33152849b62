//go:build linux

package integration

import (
	"testing"
	"time"

	"github.com/srvlab/rds-csi/test/procs"
)

// startupTimeout bounds a child's startup (listening, first connect): far
// above the tens of ms it takes, for a loaded machine.
const startupTimeout = 10 * time.Second

// killTimeout bounds how long a child takes to be reaped after SIGKILL.
const killTimeout = 5 * time.Second

// startProc is procs.Start failing the test on error. If the test failed,
// the child's log is printed at cleanup, after the child is stopped, so it
// is complete.
func startProc(tb testing.TB, name, logPath, bin string, args ...string) *procs.Proc {
	tb.Helper()
	p, err := procs.Start(tb, name, logPath, bin, args...)
	if err != nil {
		tb.Fatal(err)
	}
	// Registered after Start's own Cleanup, so it runs first: it stops the
	// child itself, and Start's Stop is then a no-op.
	tb.Cleanup(func() {
		if tb.Failed() {
			p.Stop()
			p.DumpLog(tb)
		}
	})
	return p
}
