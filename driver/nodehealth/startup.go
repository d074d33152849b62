package nodehealth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/klog/v2"
	mount "k8s.io/mount-utils"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/rds"
)

// Start loads the staged volumes and cleans up orphan connections. Call it
// once, before the CSI socket serves: no NodeStage can then race a
// disconnect. Only an unusable state directory is an error; a cleanup that
// cannot read the system is logged and skipped (nothing is disconnected
// on guesswork).
func (w *Watcher) Start(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("nodehealth")
	fresh, err := w.cfg.Store.Load(logger)
	if err != nil {
		return err
	}
	w.dropOtherBoots(logger)
	if !w.cfg.Store.Persistent() {
		logger.Info("No --node-state-dir: staged volumes are remembered in memory only, so orphan cleanup is off")
		return nil
	}
	ctx, cancel := context.WithTimeout(klog.NewContext(ctx, logger), w.cfg.StartupTimeout)
	defer cancel()
	paths, err := w.cfg.Paths.ManagedPaths(ctx)
	if err != nil {
		logger.Error(err, "Cannot list the managed connections: orphan cleanup skipped")
		return nil
	}
	if fresh {
		w.adopt(logger, paths)
		return nil
	}
	w.cleanupOrphans(ctx, paths)
	return nil
}

// dropOtherBoots forgets records of an earlier boot: their connections and
// mounts died with it, and the kubelet stages again what it still wants.
func (w *Watcher) dropOtherBoots(logger klog.Logger) {
	if w.bootID == "" {
		return
	}
	for _, v := range w.cfg.Store.List() {
		if v.BootID == "" || v.BootID == w.bootID {
			continue
		}
		if err := w.cfg.Store.Delete(v.ID); err != nil {
			logger.Error(err, "Cannot drop the record of an earlier boot", "volumeID", v.ID)
			continue
		}
		logger.Info("Dropped the record of a volume staged in an earlier boot", "volumeID", v.ID, "bootID", v.BootID)
	}
}

// adopt records every managed connection found at the first start with a
// new state directory: staged by an earlier version (or the earlier
// driver), none of them can be told from an orphan, so none is touched.
// They are watched; never reconnected (their parameters are unknown).
func (w *Watcher) adopt(logger klog.Logger, paths []device.PathHealth) {
	n := 0
	for _, p := range paths {
		id, ok := strings.CutPrefix(p.NQN, rds.NQNPrefix)
		if !ok {
			continue
		}
		if _, known := w.cfg.Store.Get(id); known {
			continue
		}
		if err := w.cfg.Store.Put(Volume{ID: id, NQN: p.NQN, BootID: w.bootID}); err != nil {
			logger.Error(err, "Cannot adopt a connection", "nqn", p.NQN)
			continue
		}
		n++
	}
	if err := w.cfg.Store.MarkInitialized(); err != nil {
		logger.Error(err, "Cannot mark the state directory initialized: the next start adopts again")
	}
	logger.Info("New state directory: existing managed connections adopted, orphan cleanup starts with the next restart", "adopted", n)
}

// cleanupOrphans disconnects every managed connection that belongs to no
// staged volume and that nothing uses. In doubt, it keeps.
func (w *Watcher) cleanupOrphans(ctx context.Context, paths []device.PathHealth) {
	logger := klog.FromContext(ctx)
	mis, err := device.ReadMountInfo(w.cfg.MountInfoPath)
	if err != nil {
		logger.Error(err, "Cannot read the mount table: orphan cleanup skipped")
		return
	}
	for _, p := range paths {
		id, ok := strings.CutPrefix(p.NQN, rds.NQNPrefix)
		if !ok || device.CheckManaged(w.cfg.ManagedPrefix, p.NQN) != nil {
			continue // never listed by a PathReader; never touched either
		}
		if _, staged := w.cfg.Store.Get(id); staged {
			continue
		}
		w.cleanupOrphan(ctx, mis, id, p)
	}
}

func (w *Watcher) cleanupOrphan(ctx context.Context, mis []mount.MountInfo, id string, p device.PathHealth) {
	logger := klog.FromContext(ctx).WithValues("nqn", p.NQN, "path", p.String())
	node := w.nodeRef()
	users, err := w.users(mis, p)
	if err == nil && len(users) == 0 {
		if w.cfg.Locks.TryAcquire(id) {
			defer w.cfg.Locks.Release(id)
			w.disconnectOrphan(ctx, logger, p)
			return
		}
		err = errVolumeBusy
	}
	w.cfg.Metrics.Orphans.WithLabelValues(metrics.NodeOrphanKept).Inc()
	why := fmt.Sprintf("in use by %s", strings.Join(users, ", "))
	if err != nil {
		why = fmt.Sprintf("cannot prove it unused: %v", err)
	}
	logger.Info("Orphan connection kept", "why", why)
	w.cfg.Recorder.Eventf(node, nil, eventWarning, ReasonOrphanConnectionInUse, ActionOrphanCleanup,
		"%s is connected on node %s without a staged volume but is kept: %s", p.NQN, w.cfg.NodeID, why)
}

func (w *Watcher) disconnectOrphan(ctx context.Context, logger klog.Logger, p device.PathHealth) {
	node := w.nodeRef()
	if err := w.cfg.Connector.Disconnect(ctx, p.NQN); err != nil {
		w.cfg.Metrics.Orphans.WithLabelValues(metrics.NodeOrphanFailed).Inc()
		logger.Error(err, "Cannot disconnect an orphan connection")
		w.cfg.Recorder.Eventf(node, nil, eventWarning, ReasonOrphanConnectionDisconnectFailed, ActionOrphanCleanup,
			"%s on node %s has no staged volume and is unused, but disconnecting it failed: %v", p.NQN, w.cfg.NodeID, err)
		return
	}
	w.cfg.Metrics.Orphans.WithLabelValues(metrics.NodeOrphanDisconnected).Inc()
	logger.Info("Orphan connection disconnected")
	w.cfg.Recorder.Eventf(node, nil, eventNormal, ReasonOrphanConnectionDisconnected, ActionOrphanCleanup,
		"%s was connected on node %s without a staged volume and unused: disconnected", p.NQN, w.cfg.NodeID)
}

// users lists what uses any device of a path: mounts in this namespace
// (filesystems on it, binds of its node) and exclusive holders anywhere on
// the host (a mount in another namespace, device-mapper, md).
func (w *Watcher) users(mis []mount.MountInfo, p device.PathHealth) ([]string, error) {
	var users []string
	var errs []error
	for _, dev := range p.Devices {
		u, err := device.Users(mis, dev)
		if err != nil {
			errs = append(errs, err)
		}
		users = append(users, u...)
		claimed, err := w.cfg.Claimed(dev)
		switch {
		case err != nil:
			errs = append(errs, err)
		case claimed:
			users = append(users, dev+" held exclusively (mounted in another mount namespace, or device-mapper/md)")
		}
	}
	return users, errors.Join(errs...)
}
