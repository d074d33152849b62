package nodehealth

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/metrics"
)

// errVolumeBusy: a node RPC holds the volume's lock; the attempt is retried
// after the backoff step (the RPC may well settle the matter meanwhile).
var errVolumeBusy = errors.New("a node operation is in progress on the volume")

// syncReconnect is the reconnect queue's worker: one attempt per call. Its
// error makes queue.Run back the volume off (AddRateLimited once); nil
// forgets it. Under the volume's lock it reads the facts again, so that a
// path the kernel (or a NodeStage) has meanwhile restored, or a volume
// unstaged meanwhile, is left alone.
func (w *Watcher) syncReconnect(ctx context.Context, id string) error {
	logger := klog.FromContext(ctx).WithValues("volumeID", id)
	if !w.cfg.Locks.TryAcquire(id) {
		return fmt.Errorf("reconnect of %s postponed: %w", id, errVolumeBusy)
	}
	defer w.cfg.Locks.Release(id)

	vol, ok := w.cfg.Store.Get(id)
	if !ok {
		w.settled(id)
		return nil
	}
	mis, misErr := device.ReadMountInfo(w.cfg.MountInfoPath)
	f := w.gather(ctx, vol, mis, misErr)
	if f.pathErr != nil || f.mountsErr != nil {
		// Cannot tell: retry rather than act blind or give up.
		return fmt.Errorf("reconnect of %s: %w", id, errors.Join(f.pathErr, f.mountsErr))
	}
	if !w.wantsReconnect(f) {
		logger.V(2).Info("Reconnect no longer needed", "path", f.path.String())
		w.settled(id)
		return nil
	}
	// The managed prefix is checked here as well as in the connector: a
	// record is a file on disk.
	if err := device.CheckManaged(w.cfg.ManagedPrefix, vol.NQN); err != nil {
		logger.Error(err, "Refusing to reconnect")
		w.settled(id)
		return nil
	}

	t := *vol.Target
	attempt := w.reconnect.NumRequeues(id) + 1
	logger = logger.WithValues("nqn", t.NQN, "attempt", attempt)
	logger.Info("Reconnecting", "address", t.Address, "port", t.Port,
		"ctrlLossTmo", t.CtrlLossTmo, "reconnectDelay", t.ReconnectDelay, "keepAliveTmo", t.KeepAliveTmo)
	cctx, cancel := context.WithTimeout(klog.NewContext(ctx, logger), w.cfg.ReconnectTimeout)
	dev, err := w.cfg.Connector.Connect(cctx, t)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return err // shutting down: neither a failure nor an event
		}
		w.cfg.Metrics.Reconnects.WithLabelValues(metrics.NodeReconnectFailure).Inc()
		w.event(vol, eventWarning, ReasonReconnectFailed, ActionReconnect,
			"volume %s on node %s: reconnect attempt %d failed, retrying with backoff: %v", vol.ID, w.cfg.NodeID, attempt, err)
		return fmt.Errorf("reconnecting %s: %w", t.NQN, err)
	}
	w.cfg.Metrics.Reconnects.WithLabelValues(metrics.NodeReconnectSuccess).Inc()
	logger.Info("Reconnected", "device", dev)
	w.event(vol, eventNormal, ReasonReconnected, ActionReconnect,
		"volume %s on node %s: reconnected (device %s, ctrlLossTmo=%d reconnectDelay=%d keepAliveTmo=%d) after %d attempt(s)",
		vol.ID, w.cfg.NodeID, dev, t.CtrlLossTmo, t.ReconnectDelay, t.KeepAliveTmo, attempt)
	w.settled(id)
	return nil
}

// settled ends a reconnect episode and re-evaluates the volume.
func (w *Watcher) settled(id string) {
	w.mu.Lock()
	delete(w.pending, id)
	w.mu.Unlock()
	w.health.Add(id)
}
