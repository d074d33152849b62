//go:build linux

package integration

import (
	"time"

	"github.com/srvlab/rds-csi/queue"
)

// The production reconnect backoff (rds-csi's flag defaults), as issue 3
// states it: 1, 2, 4, 8, 16, 16 s. Literal on purpose: a changed default
// must fail the acceptance tests, not silently move them.
const (
	defaultReconnectBase = time.Second
	defaultReconnectMax  = 16 * time.Second
)

// backoffStep is the reconnect delay after n failures (n from 0), before
// jitter: min(base·2ⁿ, max), the wrapped workqueue exponential limiter.
func backoffStep(base, max time.Duration, n int) time.Duration {
	d := base
	for range n {
		if d >= max {
			break
		}
		d *= 2
	}
	return min(d, max)
}

// withJitter bounds how long a step can last once the reconnect queue's
// jitter (±queue.DefaultJitter) is applied; a capped step never exceeds the
// cap, so for it this is generous.
func withJitter(step time.Duration) time.Duration {
	return time.Duration(float64(step) * (1 + queue.DefaultJitter))
}
