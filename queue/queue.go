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
	return workqueue.NewTypedRateLimitingQueueWithConfig(NewLimiter[T](cfg.Limiter),
		workqueue.TypedRateLimitingQueueConfig[T]{
			Name:            cfg.Name,
			MetricsProvider: cfg.MetricsProvider,
			Clock:           cfg.Clock,
		}), nil
}
