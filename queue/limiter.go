package queue

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// Defaults of LimiterConfig. 16 s caps the reconnect delay low enough that an
// RDS back from a restart is noticed within seconds, and 10 % jitter keeps the
// controller and node plugins from dialling in lockstep.
const (
	DefaultBase   = time.Second
	DefaultMax    = 16 * time.Second
	DefaultJitter = 0.1
)

// LimiterConfig shapes the per-item exponential backoff: delay n (counting
// from 0) is min(Base·2ⁿ, Max) spread uniformly over ±Jitter of itself. The
// factor 2 is fixed by the wrapped workqueue.TypedItemExponentialFailureRateLimiter.
type LimiterConfig struct {
	// Base is the delay after the first failure; zero selects DefaultBase.
	Base time.Duration
	// Max caps the delay before jitter; zero selects DefaultMax.
	Max time.Duration
	// Jitter is a fraction in [0, 1); zero selects DefaultJitter, a negative
	// value turns jitter off.
	Jitter float64
	// Rand returns uniform values in [0, 1); nil selects math/rand/v2.
	// Injected by tests for a predictable schedule. It is called from every
	// goroutine that calls AddRateLimited, so it must be goroutine-safe.
	Rand func() float64
}

// withDefaults fills in zero fields.
func (c LimiterConfig) withDefaults() LimiterConfig {
	if c.Base == 0 {
		c.Base = DefaultBase
	}
	if c.Max == 0 {
		c.Max = DefaultMax
	}
	if c.Jitter == 0 {
		c.Jitter = DefaultJitter
	}
	if c.Jitter < 0 {
		c.Jitter = 0
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	return c
}

// Validate reports settings that cannot produce a sane schedule.
func (c LimiterConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Base < 0 {
		errs = append(errs, fmt.Errorf("backoff base %v is negative", c.Base))
	}
	if c.Max < c.Base {
		errs = append(errs, fmt.Errorf("backoff max %v is below base %v", c.Max, c.Base))
	}
	// A jitter of 1 or more could make a delay zero or negative, which the
	// delaying queue turns into an immediate retry: a hot loop.
	if c.Jitter >= 1 {
		errs = append(errs, fmt.Errorf("backoff jitter %v must be below 1", c.Jitter))
	}
	return errors.Join(errs...)
}

// jittered spreads the delays of an exponential limiter. Forget and
// NumRequeues pass through, so Forget resets the schedule to Base.
type jittered[T comparable] struct {
	workqueue.TypedRateLimiter[T]
	jitter float64
	rand   func() float64
}

// NewLimiter returns the jittered exponential per-item limiter described by
// cfg (defaults filled in). Call Validate first when cfg comes from a user.
func NewLimiter[T comparable](cfg LimiterConfig) workqueue.TypedRateLimiter[T] {
	cfg = cfg.withDefaults()
	return &jittered[T]{
		TypedRateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[T](cfg.Base, cfg.Max),
		jitter:           cfg.Jitter,
		rand:             cfg.Rand,
	}
}

// When raises the item's failure count (through the wrapped limiter) and
// returns its next delay.
func (l *jittered[T]) When(item T) time.Duration {
	d := l.TypedRateLimiter.When(item)
	if l.jitter == 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + l.jitter*(2*l.rand()-1)))
}
