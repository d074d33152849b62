package fsm

import (
	"context"
	"time"
)

// ticket is one backoff step: every entry into Backoff adds a new ticket to
// the reconnect queue with AddRateLimited (exactly once per failed attempt),
// and the loop dials when that ticket comes out. All tickets share one
// failure count (queue.Config.SharedBackoff), so the steps grow 1, 2, 4 … s
// across tickets and one Forget resets them.
//
// Why not one reused key: a probe may end a step early (probe.go), while the
// step's item still waits in the delaying queue. If the early dial fails, the
// next AddRateLimited of the same key would be merged into the earlier ready
// time of the waiting one (the delaying queue keeps the sooner), and the next
// step would come early; Add instead would process the key twice. A fresh
// ticket keeps its own ready time, and the old one is recognised as
// superseded when it comes out: Done, and nothing else.
type ticket uint64

// anyTicket names the shared failure count in Forget: any item would do.
const anyTicket ticket = 0

// backoffState is the loop's part for Backoff: the ticket it waits for and
// the TCP probe that may cut the wait short.
type backoffState struct {
	ticket     ticket // the ticket Backoff waits for; 0 outside Backoff
	lastTicket ticket // tickets are numbered from 1

	// probeDue fires when the next probe is due (nil: none scheduled).
	// Probing runs only in Backoff after a failure before TCP connected.
	probeDue      <-chan time.Time
	probeDone     chan probeResult
	probing       bool
	probeCancel   context.CancelFunc
	probeDeadline <-chan time.Time
}

// backoff enters one backoff step after a failed attempt or a flapping
// connection (the state is Backoff already). unreachable: the failure came
// before TCP connected, so probing may end the step early. The probe timer
// is armed before AddRateLimited: tests that see the queue arm its timer
// know the probe timer (if any) is armed too.
func (l *loop) backoff(unreachable bool) {
	l.probeDue = nil
	if unreachable && l.m.cfg.ProbeInterval > 0 {
		l.probeDue = l.m.cfg.Clock.After(l.m.cfg.ProbeInterval)
	}
	l.lastTicket++
	l.ticket = l.lastTicket
	l.q.AddRateLimited(l.ticket)
}

// leaveBackoff forgets the step being waited out (its ticket becomes stale)
// and stops probing for it.
func (l *loop) leaveBackoff() {
	l.ticket = 0
	l.probeDue = nil
	if l.probing {
		l.probeCancel() // its result still comes, and is ignored (ticket)
		l.probeDeadline = nil
	}
}

// onTicket: a ticket came out of the backoff queue. The current one ends the
// step: dial. One superseded by a probe that connected (the loop dialled
// already, and any later failure has its own ticket) is only Done: it
// neither dials early nor delays the step now running.
func (l *loop) onTicket(tk ticket) {
	l.q.Done(tk)
	if tk != l.ticket {
		l.logger.V(4).Info("Backoff ticket of a step already cut short, dropping it", "ticket", tk, "current", l.ticket, "state", l.m.State())
		return
	}
	if l.m.State() != StateBackoff {
		l.logger.Error(nil, "Reconnect ticket outside Backoff, ignoring it", "ticket", tk, "state", l.m.State())
		return
	}
	l.leaveBackoff()
	l.attempt(EventAttempt)
}
