package attachment

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/queue"
)

// term is one stretch of running the reconcile workers: the whole of Run
// without leader election, one leadership with it. Each term has its own
// queue, shut down when the term ends (waiting items are dropped), and
// starts with a full pass, so nothing carries over between terms that the
// caches cannot rebuild.
type term struct {
	q queue.Interface[string]
	// orphans is the orphan scan's queue (nil without an RDS).
	orphans *orphanQueue

	mu sync.Mutex
	// backoff holds the keys waiting out a failure delay. Producers leave
	// them alone: an Add would process the key now *and* again when its
	// delay ends, bypassing the backoff (workqueue semantics). Their next
	// pass reads the caches fresh anyway.
	backoff map[string]struct{}

	// views hold the current pass's listing of each unit, by unit name
	// (the map is filled when the term starts and only read afterwards).
	views map[string]*atomic.Pointer[rdsView]
	// initial is the term's first full pass (set once, before the workers
	// start; atomic because StartupPass reads it from outside).
	initial atomic.Pointer[pass]
}

func (t *term) inBackoff(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.backoff[key]
	return ok
}

func (t *term) setBackoff(key string, on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if on {
		t.backoff[key] = struct{}{}
	} else {
		delete(t.backoff, key)
	}
}

// enqueue adds a key now or after a delay, unless it is waiting out a
// backoff.
func (t *term) enqueue(key string, after time.Duration) {
	if t.inBackoff(key) {
		return
	}
	if after > 0 {
		t.q.AddAfter(key, after)
		return
	}
	t.q.Add(key)
}

// retryNow ends a key's backoff and processes it at once: used when the
// reason for the backoff (the RDS connection) has just come back. The
// key's pending delayed entry still fires later: one extra, harmless pass.
func (t *term) retryNow(key string) {
	t.setBackoff(key, false)
	t.q.Forget(key)
	t.q.Add(key)
}

// runTerm runs one term until ctx is done and returns after all of its
// goroutines have ended.
func (c *Controller) runTerm(ctx context.Context) {
	logger := klog.FromContext(ctx)
	q, err := queue.New[string](queue.Config{
		Name:            "attachment",
		Limiter:         c.cfg.Backoff,
		MetricsProvider: c.cfg.QueueMetrics,
		Clock:           c.clock,
	})
	if err != nil { // validated in New: unreachable
		logger.Error(err, "Cannot create the attachment queue")
		return
	}
	orphans, err := c.newOrphanQueue()
	if err != nil { // validated in New: unreachable
		logger.Error(err, "Cannot create the orphan queue")
		return
	}
	t := &term{q: q, orphans: orphans, backoff: map[string]struct{}{}, views: map[string]*atomic.Pointer[rdsView]{}}
	for _, u := range c.units {
		t.views[u.Name] = &atomic.Pointer[rdsView]{}
	}

	// Publish the term before listing the volumes: a change that lands in
	// between is then enqueued by its handler instead of being lost.
	c.term.Store(t)
	c.cfg.Metrics.Leader.Set(1)
	defer func() {
		c.term.CompareAndSwap(t, nil)
		c.cfg.Metrics.Leader.Set(0)
		// The orphan gauges are the leader's: another replica reports now.
		c.cfg.OrphanMetrics.Disks.Set(0)
		c.cfg.OrphanMetrics.Files.Set(0)
		c.cfg.OrphanMetrics.Bytes.Set(0)
	}()

	// A Reconnected notification that arrived while this replica had no
	// term (a follower keeps its FSM connected, and the first connect
	// notifies too) is stale: the full pass below covers it. Acting on it
	// would announce a reconnect that did not happen and run a second full
	// pass. Drained here, before the pass, and not in reconnectLoop: there
	// it raced with (and could swallow) a real reconnect right after the
	// pass started.
	for _, u := range c.units {
		if u.Reconnected != nil {
			select {
			case <-u.Reconnected:
			default:
			}
		}
	}

	keys := c.allVolumes(false)
	initial := newPass(keys)
	t.initial.Store(initial)
	c.newView(t)
	for _, k := range keys {
		q.Add(k)
	}
	logger.Info("Attachment reconcile term started", "volumes", len(keys), "workers", c.cfg.Workers)

	t.orphans.enqueue()

	var wg sync.WaitGroup
	wg.Go(func() { c.announcePass(ctx, initial) })
	wg.Go(func() { c.resyncLoop(ctx, t) })
	wg.Go(func() { c.reconnectLoop(ctx, t) })
	wg.Go(func() { c.runOrphans(ctx, t.orphans) })
	c.work(ctx, t)
	wg.Wait()
	logger.Info("Attachment reconcile term ended")
}

// resyncLoop enqueues every volume each ResyncPeriod.
func (c *Controller) resyncLoop(ctx context.Context, t *term) {
	tick := c.clock.NewTicker(c.cfg.ResyncPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
			keys := c.allVolumes(false)
			klog.FromContext(ctx).V(2).Info("Periodic attachment resync", "volumes", len(keys))
			c.newView(t)
			for _, k := range keys {
				t.enqueue(k, 0)
			}
			t.orphans.enqueue()
		}
	}
}

// reconnectLoop reconciles every attached volume when the RDS connection
// comes back: exports may have been lost with an RDS restart, and volumes
// waiting out a backoff because of the outage should not wait any longer.
// With several units, one loop per unit, each reconciling its own volumes
// only.
func (c *Controller) reconnectLoop(ctx context.Context, t *term) {
	var wg sync.WaitGroup
	for i := range c.units {
		if u := &c.units[i]; u.Reconnected != nil {
			wg.Go(func() { c.unitReconnectLoop(ctx, t, u) })
		}
	}
	wg.Wait()
}

// unitReconnectLoop is reconnectLoop for one unit.
func (c *Controller) unitReconnectLoop(ctx context.Context, t *term, u *Unit) {
	// Notifications from before the term were drained by runTerm.
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-u.Reconnected:
			if !ok {
				return
			}
			var keys []string
			for _, k := range c.allVolumes(true) {
				if ku, _, ok := c.resolve(k); len(c.cfg.Units) == 0 || (ok && ku == u) {
					keys = append(keys, k)
				}
			}
			logger := klog.FromContext(ctx)
			if u.Name != "" {
				logger = logger.WithValues("rds", u.Name)
			}
			logger.Info("RDS reconnected: reconciling every attached volume", "volumes", len(keys))
			c.newUnitView(t, u)
			for _, k := range keys {
				if c.onEnqueue != nil {
					c.onEnqueue(k, 0)
				}
				t.retryNow(k)
			}
			t.orphans.retryNow()
		}
	}
}
