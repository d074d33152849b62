package procs

import (
	"net"
	"testing"
)

// FreeAddr returns a loopback host:port that was free a moment ago. The
// children bind it themselves; the tiny race with other processes on the
// machine is accepted (a clash fails loudly, never silently).
func FreeAddr(tb testing.TB) string {
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
