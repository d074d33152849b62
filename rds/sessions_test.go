package rds

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSessionLimiterShares(t *testing.T) {
	tests := []struct {
		name                                string
		limit                               int
		wantCommands, wantCopies, wantTotal int
	}{
		// commands: limit-1; copies: half of those (at least one);
		// the health check always finds the last slot.
		{name: "default", limit: DefaultMaxSessions, wantCommands: 7, wantCopies: 3, wantTotal: 8},
		{name: "four", limit: 4, wantCommands: 3, wantCopies: 1, wantTotal: 4},
		{name: "minimum", limit: minSessions, wantCommands: 1, wantCopies: 1, wantTotal: 2},
		{name: "below the minimum is raised", limit: 1, wantCommands: 1, wantCopies: 1, wantTotal: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newSessionLimiter(tc.limit)
			copies := takeAll(t, l, sessionCopy)
			if len(copies) != tc.wantCopies {
				t.Fatalf("%d copies admitted, want %d", len(copies), tc.wantCopies)
			}
			commands := takeAll(t, l, sessionCommand)
			if got := len(copies) + len(commands); got != tc.wantCommands {
				t.Fatalf("%d command sessions admitted, want %d", got, tc.wantCommands)
			}
			health := takeAll(t, l, sessionHealth)
			if len(health) != 1 {
				t.Fatalf("health check got %d sessions, want the one kept for it", len(health))
			}
			if limit, inUse, _ := l.snapshot(); inUse != tc.wantTotal || limit != tc.wantTotal {
				t.Fatalf("in use %d of %d, want %d", inUse, limit, tc.wantTotal)
			}
			for _, r := range append(append(copies, commands...), health...) {
				r.release()
				r.release() // a second release is a no-op
			}
			if _, inUse, n := l.snapshot(); inUse != 0 || n != 0 {
				t.Fatalf("after release: %d in use, %d copies", inUse, n)
			}
		})
	}
}

// takeAll acquires sessions of kind until one would have to wait.
func takeAll(t *testing.T, l *sessionLimiter, kind sessionKind) []*sessionSlot {
	t.Helper()
	var out []*sessionSlot
	for {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		l.mu.Lock()
		ok := l.admits(kind)
		l.mu.Unlock()
		if !ok {
			if _, err := l.acquire(ctx, nil, kind); !errors.Is(err, context.Canceled) {
				t.Fatalf("a full limiter answered %v", err)
			}
			return out
		}
		r, err := l.acquire(context.Background(), nil, kind)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
}

func TestSessionLimiterWaitersWake(t *testing.T) {
	l := newSessionLimiter(2) // one command slot
	first, err := l.acquire(context.Background(), nil, sessionCommand)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		r, err := l.acquire(context.Background(), nil, sessionCommand)
		if r != nil {
			r.release()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("second command admitted past the limit (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	first.release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}

	t.Run("connection end releases waiters", func(t *testing.T) {
		hold, _ := l.acquire(context.Background(), nil, sessionCommand)
		defer hold.release()
		done := make(chan struct{})
		close(done)
		if _, err := l.acquire(context.Background(), done, sessionCommand); !errors.Is(err, errConnectionEnded) {
			t.Fatalf("got %v, want errConnectionEnded", err)
		}
	})
}

func TestSessionLimiterRefusalLowersLimit(t *testing.T) {
	l := newSessionLimiter(8)
	var held []*sessionSlot
	for i := range 6 {
		r, err := l.acquire(context.Background(), nil, sessionCommand)
		if err != nil {
			t.Fatal(err)
		}
		if i < 4 { // the server accepted four; two more are still opening
			r.accepted()
		}
		held = append(held, r)
	}
	if limit, lowered := l.refused(); limit != 4 || !lowered {
		t.Fatalf("limit %d (lowered %v) after a refusal with 4 sessions open, want 4", limit, lowered)
	}
	if limit, lowered := l.refused(); limit != 4 || lowered {
		t.Fatalf("a second refusal at the same count: limit %d, lowered %v", limit, lowered)
	}
	held[5].release() // the refused ones give their slots back
	held[4].release()
	held = held[:4]
	// Four sessions open, limit 4: commands wait, the health check waits too
	// (the server has no room), nothing goes past what the server accepted.
	if l.admits(sessionCommand) || l.admits(sessionHealth) {
		t.Fatal("limiter admits past what the server accepted")
	}
	held[0].release()
	if l.admits(sessionCommand) {
		t.Fatal("three open: commands must leave the fourth to the health check")
	}
	if !l.admits(sessionHealth) {
		t.Fatal("health check has no slot")
	}
	for _, r := range held[1:] {
		r.release()
	}
	if limit, inUse, _ := l.snapshot(); inUse != 0 || limit != 4 || l.open != 0 {
		t.Fatalf("after release: limit %d, %d in use, %d open", limit, inUse, l.open)
	}
}
