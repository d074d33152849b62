package rds

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// closedAddr is a loopback address nothing listens on (a moment ago).
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// acceptAndClose is a listener that accepts TCP and closes at once: TCP
// connects, the SSH handshake fails.
func acceptAndClose(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	return l.Addr().String()
}

// TestConnectClassifiesUnreachable: only a Connect that failed before TCP
// connected wraps ErrUnreachable (the FSM probes for those); the message
// stays the dial error's, and ErrUnavailable is wrapped in every case.
func TestConnectClassifiesUnreachable(t *testing.T) {
	srv := newFakeRDS(t, answers(nil))
	tests := []struct {
		name            string
		addr            string
		wantUnreachable bool
		wantText        string
	}{
		{name: "connection refused", addr: closedAddr(t), wantUnreachable: true, wantText: "connection refused"},
		{name: "TCP connects, handshake fails", addr: acceptAndClose(t), wantText: "handshake"},
		{name: "name does not resolve", addr: "rds.invalid:22", wantText: "dial"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.config(t)
			cfg.Address = tc.addr
			cfg.DialTimeout = 2 * time.Second
			c, err := NewSSHClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Connect(context.Background())
			if err == nil {
				t.Fatal("Connect succeeded")
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("%v does not wrap ErrUnavailable", err)
			}
			if got := errors.Is(err, ErrUnreachable); got != tc.wantUnreachable {
				t.Errorf("errors.Is(%v, ErrUnreachable) = %v, want %v", err, got, tc.wantUnreachable)
			}
			if !strings.Contains(err.Error(), tc.wantText) || strings.Contains(err.Error(), ErrUnreachable.Error()) {
				t.Errorf("message %q: want the dial error's own text (%q), unchanged", err, tc.wantText)
			}
			if gen, up := c.Current(); gen != 0 || up {
				t.Errorf("Current() = %d, %v after a failed Connect, want 0, false", gen, up)
			}
		})
	}
}

func TestProbeTCP(t *testing.T) {
	tests := []struct {
		name string
		addr string
		ok   bool
	}{
		{name: "listening (even if it drops us at once)", addr: acceptAndClose(t), ok: true},
		{name: "refused", addr: closedAddr(t)},
	}
	srv := newFakeRDS(t, answers(nil))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.config(t)
			cfg.Address = tc.addr
			c, err := NewSSHClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), channelWait)
			defer cancel()
			err = c.ProbeTCP(ctx)
			if (err == nil) != tc.ok {
				t.Errorf("ProbeTCP = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrUnavailable) {
				t.Errorf("%v does not wrap ErrUnavailable", err)
			}
		})
	}
}

// TestCurrentAndTaggedLosses: every successful Connect is a new generation;
// Current follows the connection's life, and its loss names it.
func TestCurrentAndTaggedLosses(t *testing.T) {
	srv := newFakeRDS(t, answers(map[string]reply{identityCommand: {Stdout: "  name: rds\r\n"}}))
	c := connected(t, srv)
	if gen, up := c.Current(); gen != 1 || !up {
		t.Fatalf("Current() = %d, %v after the first Connect, want 1, true", gen, up)
	}

	srv.dropAll()
	err := waitLost(t, c)
	if gen, ok := LostGeneration(err); !ok || gen != 1 {
		t.Errorf("LostGeneration(%v) = %d, %v; want 1, true", err, gen, ok)
	}
	if gen, up := c.Current(); gen != 1 || up {
		t.Errorf("Current() = %d, %v once its loss was signalled, want 1, false", gen, up)
	}

	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if gen, up := c.Current(); gen != 2 || !up {
		t.Errorf("Current() = %d, %v after reconnecting, want 2, true", gen, up)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if gen, up := c.Current(); gen != 2 || up {
		t.Errorf("Current() = %d, %v after Close, want 2, false", gen, up)
	}
	noLost(t, c)
}
