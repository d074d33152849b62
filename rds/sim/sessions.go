package sim

import "sync/atomic"

// sessionCount is the number of session channels open on one connection,
// for the session limit. A real RDS refuses sessions beyond its per-client
// limit; a driver that overlaps commands on one connection has to live with
// that, so the emulator can do it on demand.
//
// A session counts from its accept until the server is done with it: the
// command finished and the close sent, or, without a command, the client's
// close received. A command still running after the client hung up keeps
// counting, because on the device it still occupies its session.
type sessionCount struct{ open atomic.Int64 }

// acquire takes a place unless limit (> 0) sessions are open. Only the
// connection's channel loop acquires, so check-then-add cannot overshoot;
// concurrent releases only make the check conservative.
func (c *sessionCount) acquire(limit int) bool {
	if limit > 0 && c.open.Load() >= int64(limit) {
		return false
	}
	c.open.Add(1)
	return true
}

func (c *sessionCount) release() { c.open.Add(-1) }
