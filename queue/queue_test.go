package queue

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

// waitFor bounds every wait on another goroutine: generous for a loaded CI
// machine, yet no test ever sleeps for the backoff itself.
const waitFor = 10 * time.Second

// armingClock is a fake clock that reports every timer the delaying queue
// arms. The delaying queue arms a timer only for its next item, with the
// remaining delay, so the first duration reported after AddRateLimited is
// exactly the backoff chosen, and its arrival proves the queue has seen the
// item (stepping the clock earlier would shift the item's ready time).
type armingClock struct {
	*clocktesting.FakeClock
	armed chan time.Duration
}

func newArmingClock() *armingClock {
	return &armingClock{
		FakeClock: clocktesting.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)),
		armed:     make(chan time.Duration, 100),
	}
}

func (c *armingClock) NewTimer(d time.Duration) clock.Timer {
	t := c.FakeClock.NewTimer(d)
	c.armed <- d
	return t
}

func (c *armingClock) drain() {
	for {
		select {
		case <-c.armed:
		default:
			return
		}
	}
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// call is one invocation of the sync function under test; the test decides
// its outcome through reply.
type call struct {
	item  string
	at    time.Time
	reply chan error
}

// TestBackoffSchedule drives a failing item through Run on a fake clock and
// checks every delay: 1, 2, 4, 8, 16, 16 s (with the jitter the injected
// source picks, never above the 16 s cap), then the reset to 1 s after a
// success (Forget).
func TestBackoffSchedule(t *testing.T) {
	defer goleak.VerifyNone(t)

	clk := newArmingClock()
	// Jitter sources per AddRateLimited: both ends and the middle of ±10 %.
	rnd := sequence(0, 0.5, 0.75, 0.25, 0.5, 0.75, 0.5)
	q, err := New[string](Config{Name: "test", Clock: clk, Limiter: LimiterConfig{Rand: rnd}})
	if err != nil {
		t.Fatal(err)
	}
	calls := make(chan call)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, q, 1, func(_ context.Context, item string) error {
			c := call{item: item, at: clk.Now(), reply: make(chan error)}
			calls <- c
			return <-c.reply
		})
	}()

	q.Add("vol-1")
	c := recv(t, calls, "first sync")
	failure := errors.New("rds unavailable")
	// want: step s = base·2ⁿ capped at 16 s, delay s·0.9 + r·(min(s·1.1, 16 s) − s·0.9)
	// for r from rnd: uncapped steps ±10 %, capped ones in [14.4 s, 16 s].
	schedule := []time.Duration{900 * time.Millisecond, 2 * time.Second, 4200 * time.Millisecond,
		7600 * time.Millisecond, 15200 * time.Millisecond, 15600 * time.Millisecond}
	for i, want := range schedule {
		clk.drain() // re-arms of the previous wait, if any
		c.reply <- failure
		got := recv(t, clk.armed, "the backoff timer")
		if absDiff(got, want) > time.Microsecond {
			t.Fatalf("backoff %d = %v, want %v", i, got, want)
		}
		// One step for the whole delay: the armed timer already pins the
		// delay, and splitting the step would race the queue's own 10 s
		// heartbeat re-arming the timer against the fake clock.
		start := clk.Now()
		clk.Step(got)
		c = recv(t, calls, "the retry")
		if waited := c.at.Sub(start); waited != got {
			t.Fatalf("backoff %d: retried after %v, want %v", i, waited, got)
		}
		if n := q.NumRequeues("vol-1"); n != i+1 {
			t.Fatalf("after %d failures NumRequeues = %d (AddRateLimited must run once per failure)", i+1, n)
		}
	}

	c.reply <- nil // success: Forget
	q.Add("vol-1")
	c = recv(t, calls, "the sync after success")
	if n := q.NumRequeues("vol-1"); n != 0 {
		t.Fatalf("NumRequeues after success = %d, want 0 (Forget)", n)
	}
	clk.drain()
	c.reply <- failure
	if got := recv(t, clk.armed, "the backoff timer after reset"); got != time.Second {
		t.Fatalf("first backoff after success = %v, want 1s", got)
	}

	cancel()
	recv(t, done, "Run to return")
}

// TestSharedBackoffTickets: with SharedBackoff, each retry is its own item
// (a ticket). A ticket added while an older one still waits keeps its own,
// later ready time (one reused key would be merged into the earlier one),
// and the delays follow one shared schedule.
func TestSharedBackoffTickets(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := newArmingClock()
	q, err := New[int](Config{Name: "tickets", Clock: clk, SharedBackoff: true, Limiter: LimiterConfig{Jitter: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer q.ShutDown()

	q.AddRateLimited(1) // 1 s
	if got := recv(t, clk.armed, "the first ticket's timer"); got != time.Second {
		t.Fatalf("ticket 1 armed %v, want 1s", got)
	}
	clk.Step(300 * time.Millisecond)
	q.AddRateLimited(2) // 2 s from now: the shared count is at 2
	// The queue re-arms for its head, ticket 1, with what is left of it.
	if got := recv(t, clk.armed, "the re-armed timer"); got != 700*time.Millisecond {
		t.Fatalf("re-armed %v, want 700ms (ticket 1 still first)", got)
	}
	clk.Step(700 * time.Millisecond)
	if got, _ := q.Get(); got != 1 {
		t.Fatalf("got ticket %d, want 1", got)
	}
	q.Done(1)
	if got := recv(t, clk.armed, "ticket 2's timer"); got != 1300*time.Millisecond {
		t.Fatalf("ticket 2 armed %v, want the 1.3s left of its own 2s", got)
	}
	if q.Len() != 0 {
		t.Fatalf("queue length %d while ticket 2 waits", q.Len())
	}
	clk.Step(1300 * time.Millisecond)
	if got, _ := q.Get(); got != 2 {
		t.Fatalf("got ticket %d, want 2", got)
	}
	q.Done(2)
	if n := q.NumRequeues(3); n != 2 {
		t.Errorf("shared NumRequeues = %d, want 2", n)
	}
	q.Forget(2)
	if n := q.NumRequeues(1); n != 0 {
		t.Errorf("NumRequeues after Forget = %d, want 0", n)
	}
}

func TestRunDiscipline(t *testing.T) {
	defer goleak.VerifyNone(t)

	tests := []struct {
		name         string
		err          error
		wantRequeues int
		wantRetry    bool
	}{
		{name: "success forgets", err: nil, wantRequeues: 0},
		{name: "failure requeues once", err: errors.New("boom"), wantRequeues: 1, wantRetry: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newArmingClock()
			q, err := New[string](Config{Name: "discipline", Clock: clk, Limiter: LimiterConfig{Jitter: -1}})
			if err != nil {
				t.Fatal(err)
			}
			// A previous failure, so that Forget is observable.
			q.AddRateLimited("x")
			clk.Step(recv(t, clk.armed, "the seed timer"))
			synced := make(chan string, 1)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				Run(ctx, q, 2, func(_ context.Context, item string) error {
					synced <- item
					return tc.err
				})
			}()
			recv(t, synced, "sync")
			if tc.wantRetry {
				// The retry arrives only through the backoff, proving Done
				// was called (an item never Done is never handed out again).
				d := recv(t, clk.armed, "the retry timer")
				if d != 2*time.Second {
					t.Errorf("retry delay = %v, want 2s", d)
				}
				if n := q.NumRequeues("x"); n != 2 {
					t.Errorf("NumRequeues = %d, want 2", n)
				}
				clk.Step(d)
				recv(t, synced, "the retry")
			} else {
				waitUntil(t, func() bool { return q.NumRequeues("x") == tc.wantRequeues }, "Forget")
				q.Add("x") // Done was called, so the item is handed out again
				recv(t, synced, "the sync after Done")
			}
			cancel()
			recv(t, done, "Run to return")
			if !q.ShuttingDown() {
				t.Error("Run returned without shutting the queue down")
			}
		})
	}
}

func TestRunEndsOnShutDown(t *testing.T) {
	defer goleak.VerifyNone(t)
	q, err := New[string](Config{Name: "shutdown", Clock: newArmingClock()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(context.Background(), q, 3, func(context.Context, string) error { return nil })
	}()
	q.ShutDown()
	recv(t, done, "Run to return after ShutDown")
}

func TestRunCancelledSyncIsNotRetried(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := newArmingClock()
	q, err := New[string](Config{Name: "cancel", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, q, 1, func(ctx context.Context, _ string) error {
			once.Do(func() { close(started) })
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	q.Add("x")
	recv(t, started, "sync")
	cancel()
	recv(t, done, "Run to return")
	if n := q.NumRequeues("x"); n != 0 {
		t.Errorf("NumRequeues = %d: a sync cancelled by shutdown must not count as a failure", n)
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New[string](Config{}); err == nil {
		t.Error("New without a name succeeded; the queue would emit no metrics")
	}
	if _, err := New[string](Config{Name: "x", Limiter: LimiterConfig{Jitter: 2}}); err == nil {
		t.Error("New with jitter 2 succeeded")
	}
}

func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
