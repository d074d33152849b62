package sim

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Connection is one TCP connection the SSH listener accepted, refused ones
// included. Timing tests read the list to measure a client's dial schedule
// (backoff, reconnects) and the server's flapping.
type Connection struct {
	// Remote is the client's address, host:port.
	Remote string
	// AcceptedAt is when the TCP accept returned.
	AcceptedAt time.Time
	// HandshakeAt is when the SSH handshake (authentication included)
	// completed; zero when it never did (refuse fault, bad key, cut short).
	HandshakeAt time.Time
	// ClosedAt is when the server finished with the connection; zero while
	// it is open.
	ClosedAt time.Time
}

// connLog records every accepted connection and the connection counters.
type connLog struct {
	accepted        atomic.Int64
	handshakes      atomic.Int64
	sessionsRefused atomic.Int64

	mu    sync.Mutex
	conns []Connection
}

// accept records a new connection and returns its index for the updates.
func (l *connLog) accept(remote string) int {
	l.accepted.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conns = append(l.conns, Connection{Remote: remote, AcceptedAt: time.Now()})
	return len(l.conns) - 1
}

func (l *connLog) handshake(i int) {
	l.handshakes.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conns[i].HandshakeAt = time.Now()
}

func (l *connLog) closed(i int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conns[i].ClosedAt = time.Now()
}

func (l *connLog) list() []Connection {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.conns)
}

// Connections lists every connection accepted since the server was
// created, in accept order.
func (s *Server) Connections() []Connection { return s.connLog.list() }
