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

// LimiterConfig shapes the per-item exponential backoff: step n (counting
// from 0) is s = min(Base·2ⁿ, Max), and the delay is uniform in
// [s·(1−Jitter), min(s·(1+Jitter), Max)]. No delay exceeds Max: a capped step
// is jittered below the cap only, so clients that all reached the cap still
// spread out instead of dialling in lockstep. The factor 2 is fixed by the
// wrapped workqueue.TypedItemExponentialFailureRateLimiter.
type LimiterConfig struct {
	// Base is the delay after the first failure; zero selects DefaultBase.
	Base time.Duration
	// Max caps every delay, jitter included; zero selects DefaultMax.
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

// jittered spreads the delays of an exponential limiter below its cap.
// Forget resets the schedule to Base. With shared set, every item counts
// against one failure count (the zero item's).
type jittered[T comparable] struct {
	inner  workqueue.TypedRateLimiter[T]
	max    time.Duration
	jitter float64
	rand   func() float64
	shared bool
}

// NewLimiter returns the jittered exponential per-item limiter described by
// cfg (defaults filled in). Call Validate first when cfg comes from a user.
func NewLimiter[T comparable](cfg LimiterConfig) workqueue.TypedRateLimiter[T] {
	return newLimiter[T](cfg, false)
}

// NewSharedLimiter is NewLimiter with one failure count for all items: every
// When raises it, any Forget resets it. For a queue whose items are
// successive tickets of one retried operation (see Config.SharedBackoff).
func NewSharedLimiter[T comparable](cfg LimiterConfig) workqueue.TypedRateLimiter[T] {
	return newLimiter[T](cfg, true)
}

func newLimiter[T comparable](cfg LimiterConfig, shared bool) *jittered[T] {
	cfg = cfg.withDefaults()
	return &jittered[T]{
		inner:  workqueue.NewTypedItemExponentialFailureRateLimiter[T](cfg.Base, cfg.Max),
		max:    cfg.Max,
		jitter: cfg.Jitter,
		rand:   cfg.Rand,
		shared: shared,
	}
}

// key is the item whose failure count item uses.
func (l *jittered[T]) key(item T) T {
	if l.shared {
		var zero T
		return zero
	}
	return item
}

// When raises the item's failure count (through the wrapped limiter) and
// returns its next delay. The jitter is applied to the capped step and then
// bounded by Max again: jitter after the cap alone made the 16 s step last
// up to 17.6 s.
func (l *jittered[T]) When(item T) time.Duration {
	step := l.inner.When(l.key(item))
	if l.jitter == 0 {
		return step
	}
	lo := float64(step) * (1 - l.jitter)
	hi := min(float64(step)*(1+l.jitter), float64(l.max))
	return time.Duration(lo + l.rand()*(hi-lo))
}

// Forget resets the item's failure count (all items' when shared).
func (l *jittered[T]) Forget(item T) { l.inner.Forget(l.key(item)) }

// NumRequeues is the item's failure count (the shared one when shared).
func (l *jittered[T]) NumRequeues(item T) int { return l.inner.NumRequeues(l.key(item)) }
