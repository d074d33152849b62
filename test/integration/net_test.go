//go:build linux

package integration

import (
	"net"
	"os"
	"testing"
)

// freeAddr returns a loopback host:port that was free a moment ago. The
// children bind it themselves; the tiny race with other processes on the
// machine is accepted (a clash fails loudly, never silently).
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr
}

// shortTempDir is a temporary directory with a short path: a unix socket
// path must fit in 108 bytes, and t.TempDir embeds the (sub)test name. It is
// removed at cleanup, after the children (registered later) are stopped.
func shortTempDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "rdscsi-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			tb.Errorf("removing %s: %v", dir, err)
		}
	})
	return dir
}
