package attachment

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// runElection competes for the Lease until ctx is done. Each leadership is
// one reconcile term (full pass first); losing the Lease cancels the term's
// context, which stops its workers and drops its queue, and the replica
// competes again. It returns after every goroutine it started has ended.
func (c *Controller) runElection(ctx context.Context) {
	logger := klog.FromContext(ctx)
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: c.cfg.Namespace, Name: c.cfg.LeaseName},
		Client:     c.cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: c.cfg.PodName},
	}
	for ctx.Err() == nil {
		c.elect(ctx, lock)
		// Lost the Lease (or failed to build the elector): compete again
		// after a pause, unless shutting down.
		timer := time.NewTimer(c.cfg.RetryPeriod)
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
		timer.Stop()
	}
	logger.V(2).Info("Attachment leader election stopped")
}

// elect runs one leader election until the Lease is lost or ctx is done.
func (c *Controller) elect(ctx context.Context, lock resourcelock.Interface) {
	logger := klog.FromContext(ctx)

	// OnStartedLeading runs in a goroutine that leaderelection starts and
	// does not wait for. The flag and WaitGroup let elect wait for a term
	// that started, and keep one from starting after elect has returned.
	var (
		mu      sync.Mutex
		stopped bool
		led     bool
		terms   sync.WaitGroup
	)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		Name:            c.cfg.LeaseName,
		LeaseDuration:   c.cfg.LeaseDuration,
		RenewDeadline:   c.cfg.RenewDeadline,
		RetryPeriod:     c.cfg.RetryPeriod,
		ReleaseOnCancel: true, // hand over at once on shutdown instead of after LeaseDuration
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				mu.Lock()
				if stopped {
					mu.Unlock()
					return
				}
				led = true
				terms.Add(1)
				mu.Unlock()
				defer terms.Done()
				logger.Info("Acquired the attachment Lease: starting the reconcile workers", "lease", c.cfg.LeaseName)
				c.runTerm(klog.NewContext(lctx, logger))
			},
			// Called whenever Run returns, also when this replica never
			// led (ctx cancelled while waiting): only log what really happened.
			OnStoppedLeading: func() {
				mu.Lock()
				wasLeader := led
				mu.Unlock()
				if wasLeader {
					logger.Info("Released or lost the attachment Lease: reconcile workers stop", "lease", c.cfg.LeaseName)
				} else {
					logger.V(2).Info("Left the attachment leader election without having led", "lease", c.cfg.LeaseName)
				}
			},
			OnNewLeader: func(identity string) {
				if identity != c.cfg.PodName {
					logger.Info("Another replica leads attachment reconciliation", "leader", identity)
					c.followerOnce.Do(func() {
						c.leaderName.Store(identity)
						close(c.follower)
					})
				}
			},
		},
	})
	if err != nil { // the timings were validated in New: unreachable
		logger.Error(err, "Cannot set up attachment leader election")
		return
	}
	le.Run(ctx)
	mu.Lock()
	stopped = true
	mu.Unlock()
	terms.Wait()
}
