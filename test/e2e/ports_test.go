//go:build linux

package e2e

import (
	"net"
	"testing"
)

// freePorts returns n distinct free loopback ports. All n are held open
// together while they are chosen, so they cannot coincide (consecutive
// harness.FreePort calls may hand out the same just-released port). Another
// process may still take one before it is bound.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = l.Close() }()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
