package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/driver"
	"github.com/srvlab/rds-csi/driver/attachment"
	"github.com/srvlab/rds-csi/driver/kube"
	"github.com/srvlab/rds-csi/driver/nodehealth"
	"github.com/srvlab/rds-csi/metrics"
)

// metricsSet is the registry and the shared workqueue metrics provider.
type metricsSet struct {
	registry  *prometheus.Registry
	workqueue *metrics.Workqueue
}

// Version is the driver version reported by GetPluginInfo and --version;
// set with -ldflags "-X github.com/srvlab/rds-csi/cmd/rds-csi/app.Version=...".
var Version = "dev"

// Revision is the source revision --version prints; set like Version (the
// Makefile and the Dockerfile do). Empty: the toolchain's VCS stamp, if any.
var Revision = ""

// Run builds every component the configured mode needs and runs them until
// ctx ends; then it stops them in order (gRPC drained, queues shut down, SSH
// closed) and returns once every goroutine it started has ended. An
// unreachable RDS is never a reason to return: the FSM keeps retrying.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	logger := klog.FromContext(ctx).WithValues("mode", cfg.Mode)
	ctx = klog.NewContext(ctx, logger)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	reg := metrics.NewRegistry()
	ops, err := metrics.NewOperations(reg)
	if err != nil {
		return err
	}
	queueMetrics := metrics.NewWorkqueue(reg)
	metricSet := &metricsSet{registry: reg, workqueue: queueMetrics}

	// The controller talks to Kubernetes for events and attachments; the
	// node plugin only records events (about the Pods using a volume, from
	// podInfoOnMount, and about its Node): it reads nothing.
	var client kubernetes.Interface
	if cfg.HasController() || cfg.HasNode() {
		if client, err = kubeClient(ctx, cfg); err != nil {
			return err
		}
	}
	recorder := kube.NewRecorder(ctx, client, cfg.DriverName)
	defer recorder.Shutdown()

	var (
		wg         sync.WaitGroup
		runErrs    = make(chan error, 4)
		identity   *driver.IdentityServer
		controller csi.ControllerServer
		node       csi.NodeServer
		live       func() error
		ready      func() bool
		attachCtl  *attachment.Controller
		health     *nodehealth.Watcher
	)
	goRun := func(name string, f func() error) {
		wg.Go(func() {
			if err := f(); err != nil && !errors.Is(err, context.Canceled) {
				runErrs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		})
	}
	defer wg.Wait()
	defer cancel() // runs before wg.Wait: stop everything, then wait for it

	var parts *controllerParts
	if cfg.HasController() {
		if parts, err = newController(cfg, client, recorder, metricSet, logger); err != nil {
			return err
		}
		attachCtl = parts.attachCtl
		controller, live, ready = parts.service, parts.live, parts.ready
		for _, u := range parts.units {
			goRun("connection FSM "+u.spec.Name, func() error { return u.machine.Run(ctx) })
		}
		if attachCtl != nil {
			goRun("attachment reconciler", func() error {
				if err := attachCtl.Start(ctx); err != nil {
					return err
				}
				return attachCtl.Run(ctx)
			})
		}
	}

	if cfg.HasNode() {
		ns, watcher, err := newNode(cfg, recorder, metricSet, logger)
		if err != nil {
			return err
		}
		node, health = ns, watcher
	}

	nodeTopology, _ := ParseNodeTopology(cfg.NodeTopology) // validated
	var identityOpts []driver.IdentityOption
	if (parts != nil && parts.hasTopology) || (cfg.HasNode() && len(nodeTopology) > 0) {
		identityOpts = append(identityOpts, driver.WithTopology())
	}
	identity = driver.NewIdentityServer(cfg.DriverName, Version, cfg.HasController(), ready, identityOpts...)
	server, err := driver.NewServer(driver.ServerConfig{
		Endpoint:   cfg.Endpoint,
		Identity:   identity,
		Controller: controller,
		Node:       node,
		Metrics:    ops,
		Logger:     logger,
	})
	if err != nil {
		if health != nil {
			health.Shutdown()
		}
		return err
	}

	if cfg.MetricsAddress != "" {
		hc := metrics.HTTPConfig{Gatherer: reg, Live: live, Ready: ready}
		if parts != nil {
			hc.Units = parts.readiness
		}
		handler := metrics.NewHandler(hc)
		goRun("metrics server", func() error { return metrics.Serve(ctx, cfg.MetricsAddress, handler) })
	}

	if attachCtl != nil {
		// The socket does not exist before the first pass: nothing can
		// publish on stale attachment state left over from before a restart.
		awaitStartupPass(ctx, cfg, attachCtl)
	}
	if health != nil && ctx.Err() != nil {
		health.Shutdown() // stopped during the startup pass: it will never run
	} else if health != nil {
		// Orphan cleanup before the socket exists: no NodeStage can race a
		// disconnect of a connection it is about to use.
		if err := health.Start(ctx); err != nil {
			health.Shutdown()
			return fmt.Errorf("node health watcher: %w", err)
		}
		goRun("node health watcher", func() error { return health.Run(ctx) })
	}
	// ctx may have ended during the startup pass: a signal (a clean stop) or
	// a component that failed (its error is in runErrs). Either way there is
	// nothing to serve; the shutdown below reports what happened.
	if ctx.Err() == nil {
		if err := server.Listen(); err != nil {
			return err
		}
		logger.Info("Serving CSI", "endpoint", cfg.Endpoint, "driver", cfg.DriverName, "version", Version)
		goRun("gRPC server", func() error { return server.Serve(ctx) })
	}

	<-ctx.Done()
	cancel()
	wg.Wait()
	close(runErrs)
	var errs []error
	for err := range runErrs {
		errs = append(errs, err)
	}
	logger.Info("Stopped")
	return errors.Join(errs...)
}

// dialTimeout bounds one SSH dial+handshake: the health timeout is the
// budget an operator already chose for "the RDS answers".
func (c *Config) dialTimeout() time.Duration { return max(c.HealthTimeout, 2*time.Second) }

// probeInterval maps the flag (0 or negative: off) to fsm.Config, where
// zero means the default and a negative value turns probing off.
func (c *Config) probeInterval() time.Duration {
	if c.ProbeInterval <= 0 {
		return -1
	}
	return c.ProbeInterval
}

// kubeClient returns the clientset, or nil without a cluster (said once).
func kubeClient(ctx context.Context, cfg Config) (kubernetes.Interface, error) {
	client, _, err := kube.NewClientset(cfg.Kubeconfig)
	if errors.Is(err, kube.ErrNoCluster) {
		klog.FromContext(ctx).Info("No Kubernetes cluster (no --kubeconfig, not in a Pod): events go to the log, attachment reconciliation is off")
		return nil, nil
	}
	return client, err
}

// nodeExists tells ControllerPublish whether a node id is real. With the node
// plugin in the same process (mode all, e.g. sanity) the only node is ours;
// otherwise, without Kubernetes, every well-formed id is accepted. With
// Kubernetes the attachment controller answers from its Node cache.
func nodeExists(cfg Config) func(context.Context, string) (bool, error) {
	if cfg.Mode != ModeAll {
		return nil
	}
	return func(_ context.Context, nodeID string) (bool, error) { return nodeID == cfg.NodeID, nil }
}
