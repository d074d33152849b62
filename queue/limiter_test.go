package queue

import (
	"math/rand/v2"
	"testing"
	"time"
)

// sequence returns a Rand that yields vals in turn (then repeats the last).
func sequence(vals ...float64) func() float64 {
	i := 0
	return func() float64 {
		v := vals[min(i, len(vals)-1)]
		i++
		return v
	}
}

func TestLimiterSchedule(t *testing.T) {
	steps := []time.Duration{1, 2, 4, 8, 16, 16}
	for i := range steps {
		steps[i] *= time.Second
	}
	const maxDelay = 16 * time.Second
	seeded := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		rand func() float64
		// want is the delay of one step; nil: anything within the range.
		want func(step time.Duration) time.Duration
	}{
		{name: "middle of the range: uncapped steps exact, capped ones 5 % below the cap", rand: sequence(0.5),
			want: func(s time.Duration) time.Duration {
				if s == maxDelay {
					return maxDelay * 95 / 100
				}
				return s
			}},
		{name: "lowest jitter: 10 % below every step", rand: sequence(0),
			want: func(s time.Duration) time.Duration { return s * 9 / 10 }},
		{name: "highest jitter: 10 % above, but never above the cap", rand: sequence(1 - 1e-12),
			want: func(s time.Duration) time.Duration { return min(s*11/10, maxDelay) }},
		{name: "random jitter stays in range", rand: seeded.Float64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLimiter[string](LimiterConfig{Rand: tc.rand})
			check := func(step int, got, s time.Duration) {
				t.Helper()
				if got > maxDelay {
					t.Errorf("delay %d = %v exceeds the cap %v", step, got, maxDelay)
				}
				if tc.want == nil {
					lo, hi := s*9/10, min(s*11/10, maxDelay)
					if got < lo || got > hi {
						t.Errorf("delay %d = %v, want within [%v, %v]", step, got, lo, hi)
					}
					return
				}
				if w := tc.want(s); absDiff(got, w) > time.Microsecond {
					t.Errorf("delay %d = %v, want %v", step, got, w)
				}
			}
			for i, s := range steps {
				check(i, l.When("rds"), s)
			}
			if n := l.NumRequeues("rds"); n != len(steps) {
				t.Errorf("NumRequeues = %d, want %d", n, len(steps))
			}
			l.Forget("rds")
			if n := l.NumRequeues("rds"); n != 0 {
				t.Errorf("NumRequeues after Forget = %d, want 0", n)
			}
			check(len(steps), l.When("rds"), time.Second)
		})
	}
}

// TestLimiterNeverExceedsMax: whatever the configuration and the draw, no
// delay is above Max, and a capped step is still spread (not pinned to Max).
func TestLimiterNeverExceedsMax(t *testing.T) {
	tests := []struct {
		name string
		cfg  LimiterConfig
	}{
		{name: "defaults", cfg: LimiterConfig{}},
		{name: "max just above base: even the first step is capped by jitter", cfg: LimiterConfig{Base: time.Second, Max: 1050 * time.Millisecond}},
		{name: "max equals base", cfg: LimiterConfig{Base: time.Second, Max: time.Second, Jitter: 0.5}},
		{name: "scaled", cfg: LimiterConfig{Base: 250 * time.Millisecond, Max: 4 * time.Second, Jitter: 0.3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Rand = rand.New(rand.NewPCG(3, 4)).Float64
			l := NewLimiter[int](cfg)
			cfg = cfg.withDefaults()
			atCap := map[time.Duration]bool{}
			for i := range 2000 {
				if i%20 == 0 {
					l.Forget(1)
				}
				d := l.When(1)
				if d > cfg.Max || d < time.Duration(float64(cfg.Base)*(1-cfg.Jitter))-time.Nanosecond {
					t.Fatalf("delay %v outside [%v·(1−%v), %v]", d, cfg.Base, cfg.Jitter, cfg.Max)
				}
				if l.NumRequeues(1) > 10 {
					atCap[d] = true
				}
			}
			if len(atCap) < 10 {
				t.Errorf("capped delays take only %d distinct values: clients would dial in lockstep", len(atCap))
			}
		})
	}
}

// TestSharedLimiter: every item counts against one schedule, and Forget of
// any item resets it (the FSM's reconnect tickets).
func TestSharedLimiter(t *testing.T) {
	l := NewSharedLimiter[int](LimiterConfig{Jitter: -1})
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if got := l.When(i + 1); got != want {
			t.Errorf("ticket %d: delay %v, want %v", i+1, got, want)
		}
	}
	if n := l.NumRequeues(42); n != 3 {
		t.Errorf("NumRequeues of another item = %d, want the shared 3", n)
	}
	l.Forget(7)
	if got := l.When(8); got != time.Second {
		t.Errorf("delay after Forget = %v, want 1s", got)
	}
}

func TestLimiterItemsAreIndependent(t *testing.T) {
	l := NewLimiter[string](LimiterConfig{Jitter: -1})
	for range 3 {
		l.When("a")
	}
	if got := l.When("b"); got != time.Second {
		t.Errorf("first delay of b = %v, want 1s (a's failures must not count)", got)
	}
	if got := l.When("a"); got != 8*time.Second {
		t.Errorf("fourth delay of a = %v, want 8s", got)
	}
}

func TestLimiterConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     LimiterConfig
		wantErr bool
		first   time.Duration // with jitter off
		cap     time.Duration
	}{
		{name: "defaults", cfg: LimiterConfig{}, first: time.Second, cap: 16 * time.Second},
		{name: "custom", cfg: LimiterConfig{Base: 100 * time.Millisecond, Max: 400 * time.Millisecond}, first: 100 * time.Millisecond, cap: 400 * time.Millisecond},
		{name: "max below base", cfg: LimiterConfig{Base: 2 * time.Second, Max: time.Second}, wantErr: true},
		{name: "negative base", cfg: LimiterConfig{Base: -time.Second}, wantErr: true},
		{name: "jitter of one could reach zero", cfg: LimiterConfig{Jitter: 1}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			cfg := tc.cfg
			cfg.Jitter = -1
			l := NewLimiter[int](cfg)
			if got := l.When(1); got != tc.first {
				t.Errorf("first delay = %v, want %v", got, tc.first)
			}
			for range 20 {
				l.When(1)
			}
			if got := l.When(1); got != tc.cap {
				t.Errorf("capped delay = %v, want %v", got, tc.cap)
			}
		})
	}
}

func absDiff(a, b time.Duration) time.Duration {
	if a > b {
		return a - b
	}
	return b - a
}
