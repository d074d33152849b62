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
	base := []time.Duration{1, 2, 4, 8, 16, 16}
	for i := range base {
		base[i] *= time.Second
	}
	seeded := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name   string
		rand   func() float64
		factor float64 // 0: any within ±10 %
	}{
		{name: "middle of the jitter range is exact", rand: sequence(0.5), factor: 1},
		{name: "lowest jitter", rand: sequence(0), factor: 0.9},
		{name: "highest jitter", rand: sequence(1 - 1e-12), factor: 1.1},
		{name: "random jitter stays within ±10 %", rand: seeded.Float64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLimiter[string](LimiterConfig{Rand: tc.rand})
			check := func(step int, got, want time.Duration) {
				t.Helper()
				if tc.factor == 0 {
					lo, hi := time.Duration(float64(want)*0.9), time.Duration(float64(want)*1.1)
					if got < lo || got > hi {
						t.Errorf("delay %d = %v, want within [%v, %v]", step, got, lo, hi)
					}
					return
				}
				if w := time.Duration(float64(want) * tc.factor); absDiff(got, w) > time.Microsecond {
					t.Errorf("delay %d = %v, want %v", step, got, w)
				}
			}
			for i, want := range base {
				check(i, l.When("rds"), want)
			}
			if n := l.NumRequeues("rds"); n != len(base) {
				t.Errorf("NumRequeues = %d, want %d", n, len(base))
			}
			l.Forget("rds")
			if n := l.NumRequeues("rds"); n != 0 {
				t.Errorf("NumRequeues after Forget = %d, want 0", n)
			}
			check(len(base), l.When("rds"), time.Second)
		})
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
