package app

import (
	"context"
	"errors"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/driver/attachment"
	"github.com/srvlab/rds-csi/driver/kube"
	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/rds"
)

// newAttachmentController builds the VolumeAttachment-backed attachment
// state and reconciler. It must be created before the FSM runs, because it
// subscribes to the Reconnected notification.
func newAttachmentController(cfg Config, client kubernetes.Interface, parts *controllerParts, resolve func(string) (string, string, bool),
	recorder kube.Recorder, reg *metricsSet, logger klog.Logger) (*attachment.Controller, error) {
	pod, _ := kube.PodFromEnv()
	namespace := cfg.LeaderElectionNamespace
	var podName, podNamespace string
	var podUID types.UID
	if pod != nil {
		podName, podNamespace, podUID = pod.Name, pod.Namespace, pod.UID
		if namespace == "" {
			namespace = pod.Namespace
		}
	}
	if cfg.LeaderElection {
		if namespace == "" {
			return nil, errors.New("--leader-election needs the Lease namespace: set --leader-election-namespace or POD_NAMESPACE")
		}
		if podName == "" {
			host, err := os.Hostname()
			if err != nil {
				return nil, fmt.Errorf("--leader-election needs an identity (POD_NAME or the hostname): %w", err)
			}
			podName = host
		}
	}
	// VolumeSnapshotContents (a CRD) keep snapshot disks out of the orphan
	// report; they are read through the dynamic client.
	_, restCfg, err := kube.NewClientset(cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("orphan report: %w", err)
	}
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("orphan report: dynamic client: %w", err)
	}
	ac := attachment.Config{
		Client:         client,
		DriverName:     cfg.DriverName,
		Namespace:      namespace,
		PodNamespace:   podNamespace,
		PodName:        podName,
		PodUID:         podUID,
		GracePeriod:    cfg.AttachmentGracePeriod,
		ResyncPeriod:   cfg.AttachmentResyncPeriod,
		Events:         recorder,
		Metrics:        metrics.NewAttachment(reg.registry),
		QueueMetrics:   reg.workqueue,
		LeaderElection: cfg.LeaderElection,
		LeaseDuration:  cfg.LeaseDuration,
		RenewDeadline:  cfg.RenewDeadline,
		RetryPeriod:    cfg.RetryPeriod,
		Logger:         logger.WithName("attachment"),

		OrphanGracePeriod: cfg.OrphanGracePeriod,
		OrphanDelete:      cfg.OrphanDelete,
		CopyTimeout:       cfg.RDSCopyTimeout,
		DefaultVolumePath: rds.DefaultVolumePath,
		Dynamic:           dyn,
		OrphanMetrics:     metrics.NewOrphan(reg.registry),
	}
	if one := parts.units[0]; len(parts.units) == 1 && one.spec.Legacy {
		// The single-RDS driver's reconciler, orphan report included.
		ac.RDS, ac.Connected, ac.Reconnected = one.conn, one.machine.Connected, one.machine.Subscribe()
	} else {
		// Per unit; the orphan report knows one RDS only and is off.
		logger.Info("Several RDS units (or a non-legacy one): the orphan report is off")
		ac.Resolve = resolve
		for _, u := range parts.units {
			ac.Units = append(ac.Units, attachment.Unit{
				Name: u.spec.Name, RDS: u.conn, Connected: u.machine.Connected, Reconnected: u.machine.Subscribe(),
			})
		}
	}
	return attachment.New(ac)
}

// awaitStartupPass waits for the attachment controller's first full pass
// (started by its Run) before the gRPC server may serve, bounded by
// --startup-reconcile-timeout. On timeout it says so and lets the caller serve
// anyway: a controller that never serves helps nobody, and publishes answer
// Unavailable until the caches are synced. When ctx ends first it returns
// at once; the caller checks ctx (a stop or a failed component is not a
// startup error of its own).
func awaitStartupPass(ctx context.Context, cfg Config, ac *attachment.Controller) {
	logger := klog.FromContext(ctx)
	waitCtx, cancel := context.WithTimeout(ctx, cfg.StartupReconcileTimeout)
	defer cancel()
	summary, err := ac.StartupPass(waitCtx)
	switch {
	case ctx.Err() != nil:
		logger.Info("Stopping before the startup attachment reconciliation finished")
	case err != nil:
		logger.Error(err, "Startup attachment reconciliation did not finish in time: serving anyway; it continues in the background",
			"timeout", cfg.StartupReconcileTimeout)
	case summary.Role == attachment.RoleFollower:
		// No pass ran here: its zero counts would read as "nothing to do".
		logger.Info("Another replica leads attachment reconciliation: serving without a startup pass of our own", "leader", summary.Leader)
	default:
		logger.Info("Startup attachment reconciliation finished before serving", "summary", summary.String())
	}
}
