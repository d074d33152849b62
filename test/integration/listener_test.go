//go:build linux

package integration

import (
	"net"
	"testing"
	"time"
)

// bareListener stands in for an RDS that is reachable at the TCP level but
// refuses to talk: it accepts every connection, notes when, and closes it at
// once, so each of the driver's connection attempts fails right after the
// TCP handshake and shows up as one accept timestamp.
type bareListener struct {
	l       net.Listener
	accepts chan time.Time
	done    chan struct{}
}

// listenBare binds addr (retrying briefly: the emulator that held it may
// have died a moment ago) and accepts until closed.
func listenBare(tb testing.TB, addr string) *bareListener {
	tb.Helper()
	var l net.Listener
	var err error
	if _, ok := pollUntil(time.Now(), 2*time.Second, func() bool {
		l, err = net.Listen("tcp", addr)
		return err == nil
	}); !ok {
		tb.Fatalf("bare listener on %s: %v", addr, err)
	}
	b := &bareListener{l: l, accepts: make(chan time.Time, 128), done: make(chan struct{})}
	go b.serve()
	tb.Cleanup(b.close)
	return b
}

func (b *bareListener) serve() {
	defer close(b.done)
	for {
		c, err := b.l.Accept()
		if err != nil {
			return // closed
		}
		at := time.Now()
		_ = c.Close()
		select {
		case b.accepts <- at:
		default: // nobody counts this many attempts; never block the loop
		}
	}
}

// next returns the next accept time, failing the test after timeout.
func (b *bareListener) next(tb testing.TB, timeout time.Duration) time.Time {
	tb.Helper()
	select {
	case at := <-b.accepts:
		return at
	case <-time.After(timeout):
		tb.Fatalf("no connection attempt on %s within %s", b.l.Addr(), timeout)
		return time.Time{}
	}
}

// close stops accepting and frees the port; safe to call twice.
func (b *bareListener) close() {
	_ = b.l.Close()
	<-b.done
}
