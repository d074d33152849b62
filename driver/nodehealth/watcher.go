package nodehealth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/driver/kube"
	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/queue"
)

// Defaults of Config.
const (
	DefaultInterval         = 10 * time.Second
	DefaultReconnectBase    = 2 * time.Second
	DefaultReconnectMax     = 2 * time.Minute
	DefaultReconnectTimeout = 2 * time.Minute
	DefaultStartupTimeout   = 2 * time.Minute
)

// Queue names (label name="…" of the workqueue metrics).
const (
	HealthQueue    = "node_health"
	ReconnectQueue = "node_reconnect"
)

// scanKey is the health queue's key for a full pass; rds.ValidateID never
// accepts it as a volume id.
const scanKey = "*"

// reconnectWorkers: after an RDS outage every volume of the node may need a
// reconnect, each of which can take a command timeout; a few at a time.
const reconnectWorkers = 2

// Locker is the node service's per-volume lock (driver.VolumeLocks): the
// watcher changes a volume only while no node RPC works on it.
type Locker interface {
	TryAcquire(id string) bool
	Release(id string)
}

// Config wires a Watcher.
type Config struct {
	// NodeID names this Node in events. Required.
	NodeID string
	// ManagedPrefix: nothing outside it is ever disconnected or reconnected
	// (checked here too, not only by the connector). Required.
	ManagedPrefix string
	// Paths reads path health (the connector: device.NVMeTCP or device.Loop). Required.
	Paths device.PathReader
	// Connector reconnects lost paths and disconnects orphans. Required.
	Connector device.Connector
	// Store holds the staged volumes. Required.
	Store *Store
	// Locks is the node service's per-volume lock. Required.
	Locks Locker
	// Recorder records events; nil: events go to the log.
	Recorder Recorder
	// Metrics; nil: kept but not exported.
	Metrics *metrics.Node
	// QueueMetrics receives the two queues' workqueue metrics; nil: none.
	QueueMetrics workqueue.MetricsProvider
	// MountInfoPath (default /proc/self/mountinfo) and BootIDPath (default
	// /proc/sys/kernel/random/boot_id) are injectable for tests.
	MountInfoPath string
	BootIDPath    string
	// Interval between full passes (default DefaultInterval).
	Interval time.Duration
	// Backoff of reconnect attempts (defaults DefaultReconnectBase/Max, ±10 % jitter).
	Backoff queue.LimiterConfig
	// ReconnectTimeout bounds one reconnect attempt (default DefaultReconnectTimeout).
	ReconnectTimeout time.Duration
	// StartupTimeout bounds Start's orphan cleanup (default DefaultStartupTimeout).
	StartupTimeout time.Duration
	// Claimed reports an exclusively held device (default device.Claimed).
	Claimed func(dev string) (bool, error)
	// Clock drives the pass ticker and the queues (default: real clock).
	Clock clock.WithTicker
}

// Watcher watches the staged volumes of this node (see the package doc).
// Run must be called: it runs the queues and shuts them down.
type Watcher struct {
	cfg    Config
	bootID string

	health    queue.Interface[string]
	reconnect queue.Interface[string]

	mu      sync.Mutex
	conds   map[string]Condition // last condition per volume id, written by the health worker
	pending map[string]bool      // volume ids handed to the reconnect queue and not finished

	scans atomic.Uint64
}

// New validates cfg, fills in defaults and creates the queues.
func New(cfg Config) (*Watcher, error) {
	var errs []error
	for _, req := range []struct {
		name    string
		missing bool
	}{
		{"NodeID", cfg.NodeID == ""}, {"ManagedPrefix", cfg.ManagedPrefix == ""}, {"Paths", cfg.Paths == nil},
		{"Connector", cfg.Connector == nil}, {"Store", cfg.Store == nil}, {"Locks", cfg.Locks == nil},
	} {
		if req.missing {
			errs = append(errs, fmt.Errorf("nodehealth: %s is required", req.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Recorder == nil {
		cfg.Recorder = kube.NewLogRecorder(klog.Background().WithName("nodehealth"))
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.MountInfoPath == "" {
		cfg.MountInfoPath = device.DefaultMountInfo
	}
	if cfg.BootIDPath == "" {
		cfg.BootIDPath = DefaultBootIDPath
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Backoff.Base == 0 {
		cfg.Backoff.Base = DefaultReconnectBase
	}
	if cfg.Backoff.Max == 0 {
		cfg.Backoff.Max = DefaultReconnectMax
	}
	if cfg.ReconnectTimeout <= 0 {
		cfg.ReconnectTimeout = DefaultReconnectTimeout
	}
	if cfg.StartupTimeout <= 0 {
		cfg.StartupTimeout = DefaultStartupTimeout
	}
	if cfg.Claimed == nil {
		cfg.Claimed = device.Claimed
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	health, err := queue.New[string](queue.Config{
		Name: HealthQueue, MetricsProvider: cfg.QueueMetrics, Clock: cfg.Clock,
		// Only ever Add: a pass that fails is simply the next tick's to redo.
		Limiter: queue.LimiterConfig{Base: cfg.Interval, Max: cfg.Interval},
	})
	if err != nil {
		return nil, err
	}
	reconnect, err := queue.New[string](queue.Config{
		Name: ReconnectQueue, MetricsProvider: cfg.QueueMetrics, Clock: cfg.Clock, Limiter: cfg.Backoff,
	})
	if err != nil {
		health.ShutDown()
		return nil, err
	}
	return &Watcher{
		cfg:       cfg,
		bootID:    readBootID(cfg.BootIDPath),
		health:    health,
		reconnect: reconnect,
		conds:     map[string]Condition{},
		pending:   map[string]bool{},
	}, nil
}

// NewMetrics creates the node metrics with the watcher's label sets and
// registers them on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *metrics.Node {
	return metrics.NewNode(reg, metrics.NodeLabels{PathStates: pathStateLabels(), Conditions: Reasons})
}

func pathStateLabels() []string {
	states := make([]string, 0, len(device.PathStates))
	for _, s := range device.PathStates {
		states = append(states, string(s))
	}
	return states
}

// Run runs the pass ticker and both queues until ctx ends, then shuts the
// queues down and returns once every worker has finished.
func (w *Watcher) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("nodehealth")
	ctx = klog.NewContext(ctx, logger)
	logger.Info("Watching staged volumes", "interval", w.cfg.Interval, "bootID", w.bootID)
	var wg sync.WaitGroup
	wg.Go(func() { queue.Run(ctx, w.health, 1, w.syncHealth) })
	wg.Go(func() { queue.Run(ctx, w.reconnect, reconnectWorkers, w.syncReconnect) })
	wg.Go(func() {
		w.Scan() // at once: a restart must not wait a period to see a lost path
		t := w.cfg.Clock.NewTicker(w.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
				w.Scan()
			}
		}
	})
	wg.Wait()
	return nil
}

// Shutdown ends the queues of a watcher that will never Run (its start
// failed). Run does the same on its own when its context ends.
func (w *Watcher) Shutdown() {
	w.health.ShutDown()
	w.reconnect.ShutDown()
}

// Scan enqueues a full pass over every staged volume.
func (w *Watcher) Scan() { w.health.Add(scanKey) }

// Scans reports how many full passes have completed.
func (w *Watcher) Scans() uint64 { return w.scans.Load() }
