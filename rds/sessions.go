package rds

import (
	"context"
	"sync"
)

// sessionLimiter bounds the sessions open at once on one SSH connection, so
// the driver never provokes a RouterOS refusal itself. One slot is kept for
// the health check: commands may hold at most limit-1 sessions, the health
// check may take the last one, so a burst of commands (or long copies) can
// never starve the check that decides whether the connection is alive.
// Copies may hold at most half of the command slots, so a copy of minutes
// never blocks the short commands of other RPCs.
//
// When the server refuses a session anyway (its own limit is lower than
// ours), the limit drops to the number of sessions it accepted at that
// moment: the next callers queue instead of being refused in turn.
type sessionLimiter struct {
	mu     sync.Mutex
	limit  int // total, health slot included; at least 2
	inUse  int // slots taken, sessions being opened included
	open   int // sessions the server accepted and has not closed
	copies int
	// changed is closed and replaced whenever a slot frees or the limit
	// changes, waking every waiter to re-check (waiters are few and the
	// check is cheap; fairness matters less than never losing a wake-up).
	changed chan struct{}
}

// minSessions: one for commands, one for the health check.
const minSessions = 2

func newSessionLimiter(limit int) *sessionLimiter {
	return &sessionLimiter{limit: max(limit, minSessions), changed: make(chan struct{})}
}

// sessionKind decides which share of the limit a session may use.
type sessionKind int

const (
	sessionCommand sessionKind = iota
	sessionCopy
	sessionHealth
)

// admits reports whether a session of kind may open now. Called with mu held.
func (l *sessionLimiter) admits(kind sessionKind) bool {
	switch kind {
	case sessionHealth:
		return l.inUse < l.limit
	case sessionCopy:
		return l.inUse < l.limit-1 && l.copies < l.copyShare()
	default:
		return l.inUse < l.limit-1
	}
}

// copyShare is how many copies may run at once: half the command slots,
// at least one.
func (l *sessionLimiter) copyShare() int { return max(1, (l.limit-1)/2) }

// sessionSlot is one acquired slot.
type sessionSlot struct {
	l      *sessionLimiter
	kind   sessionKind
	once   sync.Once
	opened bool // guarded by l.mu
}

// accepted records that the server opened the slot's session.
func (s *sessionSlot) accepted() {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	if !s.opened {
		s.opened = true
		s.l.open++
	}
}

// release frees the slot; only the first call counts. Call it when the
// server has closed the session (not merely when the caller gave up: the
// command may still run on the RDS, as RouterOS keeps running commands
// whose client left), or when the session never opened.
func (s *sessionSlot) release() { s.once.Do(func() { s.l.release(s) }) }

// acquire waits for a slot of kind until ctx or done ends.
func (l *sessionLimiter) acquire(ctx context.Context, done <-chan struct{}, kind sessionKind) (*sessionSlot, error) {
	for {
		l.mu.Lock()
		if l.admits(kind) {
			l.inUse++
			if kind == sessionCopy {
				l.copies++
			}
			l.mu.Unlock()
			return &sessionSlot{l: l, kind: kind}, nil
		}
		wake := l.changed
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-done:
			return nil, errConnectionEnded
		}
	}
}

func (l *sessionLimiter) release(s *sessionSlot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inUse--
	if s.opened {
		l.open--
	}
	if s.kind == sessionCopy {
		l.copies--
	}
	l.wakeLocked()
}

// refused lowers the limit to the sessions the server had open when it
// refused one more: that is what it accepts. Returns the limit and whether
// it changed.
func (l *sessionLimiter) refused() (limit int, lowered bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if accepted := max(l.open, minSessions); accepted < l.limit {
		l.limit = accepted
		l.wakeLocked()
		return l.limit, true
	}
	return l.limit, false
}

func (l *sessionLimiter) wakeLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// snapshot returns the current limit and use, for logs and tests.
func (l *sessionLimiter) snapshot() (limit, inUse, copies int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit, l.inUse, l.copies
}
