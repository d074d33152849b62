package attachment

import (
	"context"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/metrics"
)

// work runs the term's workers until ctx is done, then shuts the queue
// down and waits for them. (queue.Run has the same discipline; this loop
// exists because a volume waiting for the RDS is routine here, not an
// error to log at error level for every key, and because the term tracks
// backoff and its full pass per key.)
func (c *Controller) work(ctx context.Context, t *term) {
	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Go(func() {
			for c.processNext(ctx, t) {
			}
		})
	}
	<-ctx.Done()
	t.q.ShutDown()
	wg.Wait()
}

// processNext handles one key: Get → Done always → Forget on success or
// AddRateLimited exactly once on failure (each call raises the key's
// failure count). It reports false once the queue is shut down.
func (c *Controller) processNext(ctx context.Context, t *term) bool {
	key, shutdown := t.q.Get()
	if shutdown {
		return false
	}
	defer t.q.Done(key)
	if ctx.Err() != nil {
		return true // the term is ending: drain without work
	}
	t.setBackoff(key, false)

	logger := klog.FromContext(ctx).WithValues("volumeID", key)
	begin := time.Now() // real time: the histogram measures work, not the injected clock
	o := c.sync(klog.NewContext(ctx, logger), t, key)
	c.cfg.Metrics.ReconcileDuration.Observe(time.Since(begin).Seconds())
	c.cfg.Metrics.Reconciles.WithLabelValues(o.result).Inc()
	t.initial.Load().observe(key, o)
	if c.onSync != nil {
		c.onSync(key, o)
	}

	if o.result == metrics.ReconcileSuccess {
		t.q.Forget(key)
		if o.recheck > 0 {
			// A deadline (a NotReady node turning stale, a migration
			// timing out): not a failure, so not rate-limited.
			t.q.AddAfter(key, o.recheck)
		}
		return true
	}
	if ctx.Err() != nil {
		return true // the failure is the shutdown; the next term starts over
	}
	t.setBackoff(key, true)
	t.q.AddRateLimited(key)
	if o.result == metrics.ReconcileError {
		logger.Error(o.err, "Attachment reconcile failed, retrying with backoff", "failures", t.q.NumRequeues(key))
	} else {
		logger.V(2).Info("Attachment reconcile needs the RDS, retrying with backoff", "reason", o.err.Error(), "failures", t.q.NumRequeues(key))
	}
	return true
}
