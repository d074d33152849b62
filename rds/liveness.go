package rds

import "errors"

// ErrUnreachable marks a Connect that failed before TCP connected: the
// connection was refused, there was no route, or the TCP connect timed out.
// Nothing listened at the address, so the RDS is down or still booting and a
// bare TCP connect (ProbeTCP) is enough to notice it is back. It is always
// wrapped together with ErrUnavailable; the message is the dial error's.
// A failure after TCP connected (handshake, authentication) never wraps it.
var ErrUnreachable = errors.New("rds unreachable over TCP")

// unreachableError adds ErrUnreachable to a dial error without changing its
// message (the message already says "dial …: connection refused").
type unreachableError struct{ err error }

func (e *unreachableError) Error() string   { return e.err.Error() }
func (e *unreachableError) Unwrap() []error { return []error{ErrUnreachable, e.err} }

// LostError is the value Connection.Lost delivers: the loss of the
// connection that the Connect numbered Generation established. The
// generation lets the FSM ignore the stale loss of an older connection and
// recognise the loss of the connection its pending dial has just made.
type LostError struct {
	Generation uint64
	Err        error // wraps ErrUnavailable
}

func (e *LostError) Error() string { return e.Err.Error() }
func (e *LostError) Unwrap() error { return e.Err }

// LostGeneration returns the generation a loss reported on Lost concerns,
// and false when err carries none (an implementation that does not tag).
func LostGeneration(err error) (uint64, bool) {
	var lost *LostError
	if errors.As(err, &lost) {
		return lost.Generation, true
	}
	return 0, false
}
