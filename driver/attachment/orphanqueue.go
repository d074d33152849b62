package attachment

import (
	"context"
	"sync"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/queue"
)

// The orphan scan is one workqueue item of its own queue ("orphan"), in the
// leader's term: enqueued when the term starts, on every resync and on
// Reconnected; one worker. The queue discipline is the attachment queue's:
// Get → Done always → Forget on success, AddRateLimited exactly once on
// failure; producers leave the key alone while it waits out a backoff (an
// Add would run it now and again when the delay ends), except Reconnected,
// which ends the backoff (its reason, the outage, is over).

const orphanKey = "orphan-scan"

type orphanQueue struct {
	q       queue.Interface[string]
	mu      sync.Mutex
	backoff bool
}

func (o *orphanQueue) setBackoff(on bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.backoff = on
}

// enqueue asks for a scan unless one waits out a backoff.
func (o *orphanQueue) enqueue() {
	if o == nil {
		return
	}
	o.mu.Lock()
	waiting := o.backoff
	o.mu.Unlock()
	if !waiting {
		o.q.Add(orphanKey)
	}
}

// retryNow ends the backoff and scans at once.
func (o *orphanQueue) retryNow() {
	if o == nil {
		return
	}
	o.setBackoff(false)
	o.q.Forget(orphanKey)
	o.q.Add(orphanKey)
}

// newOrphanQueue returns the term's orphan queue, or nil without an RDS.
func (c *Controller) newOrphanQueue() (*orphanQueue, error) {
	if c.cfg.RDS == nil || c.cfg.NoOrphanReport {
		return nil, nil
	}
	q, err := queue.New[string](queue.Config{
		Name:            "orphan",
		Limiter:         c.cfg.Backoff,
		MetricsProvider: c.cfg.QueueMetrics,
		Clock:           c.clock,
	})
	if err != nil {
		return nil, err
	}
	return &orphanQueue{q: q}, nil
}

// runOrphans runs the orphan worker until ctx is done.
func (c *Controller) runOrphans(ctx context.Context, o *orphanQueue) {
	if o == nil {
		return
	}
	stop := context.AfterFunc(ctx, o.q.ShutDown)
	defer stop()
	for c.processOrphans(ctx, o) {
	}
}

func (c *Controller) processOrphans(ctx context.Context, o *orphanQueue) bool {
	key, shutdown := o.q.Get()
	if shutdown {
		return false
	}
	defer o.q.Done(key)
	if ctx.Err() != nil {
		return true
	}
	o.setBackoff(false)
	err := c.syncOrphans(ctx)
	if c.onOrphanSync != nil {
		c.onOrphanSync(err)
	}
	switch {
	case err == nil:
		o.q.Forget(key)
	case ctx.Err() != nil:
	default:
		o.setBackoff(true)
		o.q.AddRateLimited(key)
		klog.FromContext(ctx).V(2).Info("Orphan scan failed, retrying with backoff", "err", err.Error(), "failures", o.q.NumRequeues(key))
	}
	return true
}
