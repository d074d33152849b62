package attachment

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Controller keeps attachment truth in step with the cluster and the RDS.
// See the package documentation for the life cycle. A nil *Controller is
// the disabled controller.
type Controller struct {
	cfg   Config
	clock clock.WithTicker
	log   klog.Logger // for informer callbacks, which have no context

	factory      informers.SharedInformerFactory
	nodeInformer cache.SharedIndexInformer
	vaInformer   cache.SharedIndexInformer
	pvInformer   cache.SharedIndexInformer
	// vscFactory and vscInformer watch VolumeSnapshotContents (nil when
	// not configured or not served).
	vscFactory  dynamicinformer.DynamicSharedInformerFactory
	vscInformer cache.SharedIndexInformer
	orphans     orphanMemo

	startOnce sync.Once
	startErr  error
	synced    atomic.Bool
	stopOnce  sync.Once
	stopInf   context.CancelFunc

	// publishMu makes each Publish/Unpublish decision atomic.
	publishMu sync.Mutex
	pending   *pendingSet
	memo      *memo

	// units are the RDS units (units.go); empty without an RDS.
	units []Unit

	// term is the running reconcile term (this replica leads), or nil.
	term atomic.Pointer[term]

	runStarted   chan struct{} // closed when Run starts
	runOnce      sync.Once
	firstPass    chan struct{} // closed when the first term's full pass completes
	firstOnce    sync.Once
	firstSummary Summary
	follower     chan struct{} // closed when another replica is seen leading
	followerOnce sync.Once
	leaderName   atomic.Value // string: the other replica's identity

	// Test hooks, set before Start.
	onEnqueue func(volumeID string, after time.Duration)
	onSync    func(volumeID string, o outcome)
	// onOrphanSync sees every orphan scan's result.
	onOrphanSync func(err error)
}

// New validates cfg and sets up the informers (not started; see Start).
func New(cfg Config) (*Controller, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Controller{
		cfg:        cfg,
		clock:      cfg.Clock,
		log:        cfg.Logger,
		pending:    newPendingSet(),
		memo:       newMemo(),
		runStarted: make(chan struct{}),
		firstPass:  make(chan struct{}),
		follower:   make(chan struct{}),
		units:      cfg.units(),
	}
	for i := range c.units {
		if c.units[i].Connected == nil {
			c.units[i].Connected = func() bool { return true }
		}
	}
	if c.log.GetSink() == nil {
		c.log = klog.Background().WithName("attachment")
	}
	if err := c.setupInformers(); err != nil {
		return nil, err
	}
	if err := c.setupSnapshotContents(); err != nil {
		return nil, err
	}
	return c, nil
}

// Start starts the informers and returns once their caches are synced (or
// ctx ends first: then an error). The informers run until ctx is done,
// Stop is called, or Run returns. Calling Start again returns the first
// result.
func (c *Controller) Start(ctx context.Context) error {
	if c == nil {
		return nil
	}
	c.startOnce.Do(func() {
		if c.cfg.Logger.GetSink() == nil {
			c.log = klog.FromContext(ctx).WithName("attachment")
		}
		infCtx, cancel := context.WithCancel(ctx)
		c.stopInf = cancel
		begin := time.Now()
		c.factory.Start(infCtx.Done())
		if res := c.factory.WaitForCacheSyncWithContext(ctx); res.Err != nil {
			c.startErr = fmt.Errorf("attachment: informer caches not synced: %w", res.Err)
			return
		}
		c.synced.Store(true)
		// Not waited for: the snapshot CRDs are optional, and until this
		// cache has synced no snapshot disk counts as an orphan.
		c.startSnapshotContents(infCtx)
		c.log.Info("Attachment informers synced", "duration", time.Since(begin).Round(time.Millisecond),
			"nodes", len(c.nodeInformer.GetStore().ListKeys()),
			"volumeAttachments", len(c.vaInformer.GetStore().ListKeys()),
			"persistentVolumes", len(c.pvInformer.GetStore().ListKeys()))
	})
	return c.startErr
}

// Stop stops the informers and waits for their goroutines. Idempotent; Run
// calls it on return. Publish decisions after Stop use a frozen cache.
func (c *Controller) Stop() {
	if c == nil {
		return
	}
	c.stopOnce.Do(func() {
		if c.stopInf != nil {
			c.stopInf()
		}
		c.factory.Shutdown()
		if c.vscFactory != nil {
			c.vscFactory.Shutdown()
		}
	})
}

// Run runs the reconciler until ctx is done: without leader election the
// workers, the periodic resync and the Reconnected subscription at once;
// with it, those only while this replica holds the Lease, re-entering the
// election after a loss. Every term starts with a full pass. Run returns
// after every goroutine it started (informers included) has ended. Start
// must have succeeded.
func (c *Controller) Run(ctx context.Context) error {
	if c == nil {
		<-ctx.Done()
		return nil
	}
	if !c.synced.Load() {
		return errors.New("attachment: Run called before a successful Start")
	}
	defer c.Stop()
	ctx = klog.NewContext(ctx, c.log)
	c.runOnce.Do(func() { close(c.runStarted) })
	if !c.cfg.LeaderElection {
		c.runTerm(ctx)
		return nil
	}
	c.runElection(ctx)
	return nil
}
