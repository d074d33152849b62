package queue

import (
	"errors"
	"fmt"

	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// Interface is the typed rate-limited workqueue this package builds.
type Interface[T comparable] = workqueue.TypedRateLimitingInterface[T]

// Config describes one queue.
type Config struct {
	// Name labels the queue's metrics (name="…"); required, because a queue
	// without a name emits no metrics at all.
	Name string
	// Limiter shapes the per-item backoff of AddRateLimited.
	Limiter LimiterConfig
	// MetricsProvider receives this queue's metrics; nil means none. One
	// provider may serve several queues with different names.
	MetricsProvider workqueue.MetricsProvider
	// Clock drives delays and metrics; nil means the real clock.
	Clock clock.WithTicker
	// SharedBackoff gives all items one failure count (NewSharedLimiter).
	// It is for a queue of tickets: each retry of one operation is a new
	// item, so that a ticket superseded while it still waits (the retry
	// already happened another way) can be told apart from the next one
	// when it comes out. Reusing one key could not do that: the delaying
	// queue merges an AddRateLimited of an item already waiting into the
	// earlier ready time, and the next step would come early.
	SharedBackoff bool
}

// Validate reports a missing name or a bad limiter.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("queue name is required"))
	}
	if err := c.Limiter.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("queue %q: %w", c.Name, err))
	}
	return errors.Join(errs...)
}

// New returns a started queue (its delay goroutine runs until ShutDown).
func New[T comparable](cfg Config) (Interface[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	limiter := NewLimiter[T](cfg.Limiter)
	if cfg.SharedBackoff {
		limiter = NewSharedLimiter[T](cfg.Limiter)
	}
	return workqueue.NewTypedRateLimitingQueueWithConfig(limiter,
		workqueue.TypedRateLimitingQueueConfig[T]{
			Name:            cfg.Name,
			MetricsProvider: cfg.MetricsProvider,
			Clock:           cfg.Clock,
		}), nil
}
