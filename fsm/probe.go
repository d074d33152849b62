package fsm

import "context"

// Probing: after a dial that failed before TCP connected, nothing listens at
// the RDS's address (rebooting, SSH service down). Waiting out the backoff
// step then only delays recovery: after a 20 s outage the next step is 16 s
// away although the RDS answers within a second. So while in Backoff the
// loop tries a bare TCP connect every ProbeInterval (no SSH, closed at once)
// and dials as soon as one connects (EventReachable). The step's ticket stays
// in the queue and is dropped when it comes out (backoff.go).
//
// A probe that connects proves only that something listens: if the dial then
// fails at the handshake, the next step is waited out in full, without
// probing, so a listening but unhealthy RDS is never redialled every probe.

// probeResult is one probe's outcome, for the step it was started in.
type probeResult struct {
	ticket ticket
	err    error
}

// onProbeDue starts a probe, at most one at a time.
func (l *loop) onProbeDue() {
	l.probeDue = nil
	if l.m.State() != StateBackoff || l.ticket == 0 {
		return
	}
	if l.probing {
		// The previous probe outlived its timeout (it ignores its context):
		// try again later rather than pile them up.
		l.probeDue = l.m.cfg.Clock.After(l.m.cfg.ProbeInterval)
		return
	}
	ctx, cancel := context.WithCancel(l.ctx)
	tk := l.ticket
	l.probing, l.probeCancel = true, cancel
	l.probeDeadline = l.m.cfg.Clock.After(l.m.cfg.ProbeTimeout)
	l.wg.Go(func() { l.probeDone <- probeResult{ticket: tk, err: l.m.cfg.Conn.ProbeTCP(ctx)} })
}

// onProbeTimeout cancels the probe; its result still comes through probeDone.
func (l *loop) onProbeTimeout() {
	l.probeDeadline = nil
	l.probeCancel()
}

// onProbeResult dials at once when the probe connected in the step it was
// started for, and schedules the next probe when it did not.
func (l *loop) onProbeResult(r probeResult) {
	l.probing = false
	l.probeDeadline = nil
	l.probeCancel()
	if l.m.State() != StateBackoff || r.ticket != l.ticket {
		return // the step ended meanwhile
	}
	if r.err != nil {
		l.logger.V(5).Info("RDS not listening yet", "state", l.m.State(), "err", r.err)
		l.probeDue = l.m.cfg.Clock.After(l.m.cfg.ProbeInterval)
		return
	}
	l.logger.V(2).Info("The RDS accepts TCP connections again, dialling without waiting out the backoff step",
		"state", l.m.State(), "waited", l.m.cfg.Clock.Since(l.m.book.backoffStart))
	l.leaveBackoff()
	l.attempt(EventReachable)
}
