package nodehealth

import (
	"context"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/metrics"
)

// syncHealth is the health queue's worker. It never fails: what cannot be
// read becomes a HealthUnknown problem, and the next tick reads again.
func (w *Watcher) syncHealth(ctx context.Context, key string) error {
	if key == scanKey {
		w.syncPass(ctx)
		return nil
	}
	w.syncVolume(ctx, key)
	return nil
}

// syncPass evaluates every staged volume against one reading of the mount
// table, and recounts the path states of every managed NQN.
func (w *Watcher) syncPass(ctx context.Context) {
	logger := klog.FromContext(ctx)
	mis, misErr := device.ReadMountInfo(w.cfg.MountInfoPath)
	vols := w.cfg.Store.List()
	staged := map[string]bool{}
	for _, vol := range vols {
		staged[vol.ID] = true
		w.apply(ctx, w.gather(ctx, vol, mis, misErr))
	}
	w.mu.Lock()
	for id := range w.conds {
		if !staged[id] {
			delete(w.conds, id) // unstaged meanwhile
		}
	}
	w.mu.Unlock()
	w.countVolumes()

	result := metrics.NodeScanSuccess
	paths, err := w.cfg.Paths.ManagedPaths(ctx)
	switch {
	case err != nil:
		logger.Error(err, "Cannot list the managed data paths")
		result = metrics.NodeScanError
	case misErr != nil:
		logger.Error(misErr, "Cannot read the mount table")
		result = metrics.NodeScanError
	}
	if err == nil {
		w.countPaths(paths, vols)
	}
	w.cfg.Metrics.Scans.WithLabelValues(result).Inc()
	w.scans.Add(1)
}

// syncVolume evaluates one volume, or forgets it when it is not staged.
func (w *Watcher) syncVolume(ctx context.Context, id string) {
	vol, ok := w.cfg.Store.Get(id)
	if !ok {
		w.mu.Lock()
		delete(w.conds, id)
		w.mu.Unlock()
		w.countVolumes()
		return
	}
	mis, misErr := device.ReadMountInfo(w.cfg.MountInfoPath)
	w.apply(ctx, w.gather(ctx, vol, mis, misErr))
	w.countVolumes()
}

// apply records a volume's new condition, announces transitions and hands
// a lost path to the reconnect queue once.
func (w *Watcher) apply(ctx context.Context, f facts) {
	vol := f.vol
	logger := klog.FromContext(ctx).WithValues("volumeID", vol.ID, "nqn", vol.NQN)
	cond := Condition{Problems: evaluate(f), Path: f.path}
	w.mu.Lock()
	prev, had := w.conds[vol.ID]
	w.conds[vol.ID] = cond
	w.mu.Unlock()

	switch {
	case cond.Abnormal() && (!had || prev.Reason() != cond.Reason()):
		logger.Info("Volume is abnormal", "reason", cond.Reason(), "message", cond.Message(), "path", f.path.String())
		p := cond.Problems[0]
		w.event(vol, eventWarning, p.Reason, ActionVolumeHealth, "volume %s on node %s: %s", vol.ID, w.cfg.NodeID, p.Message)
	case !cond.Abnormal() && had && prev.Abnormal():
		logger.Info("Volume is healthy again", "was", prev.Reason(), "path", f.path.String())
		w.event(vol, eventNormal, ReasonVolumeRecovered, ActionVolumeHealth, "volume %s on node %s is healthy again (was %s)", vol.ID, w.cfg.NodeID, prev.Reason())
	}

	if !w.wantsReconnect(f) {
		return
	}
	w.mu.Lock()
	already := w.pending[vol.ID]
	w.pending[vol.ID] = true
	w.mu.Unlock()
	if !already {
		// Added once per episode: a key waiting out its backoff must not be
		// Added again (that would retry it at once and again later).
		logger.Info("The kernel gave up the path of a staged volume: reconnecting", "path", f.path.String())
		w.reconnect.Add(vol.ID)
	}
}

// countVolumes recounts the staged volumes by condition.
func (w *Watcher) countVolumes() {
	counts := map[string]int{}
	w.mu.Lock()
	for _, c := range w.conds {
		counts[c.Reason()]++
	}
	w.mu.Unlock()
	metrics.SetCounts(w.cfg.Metrics.Volumes, append([]string{metrics.NodeConditionHealthy}, Reasons...), counts)
}

// countPaths recounts the managed NQNs by path state; a staged volume whose
// NQN has no controller at all counts as absent.
func (w *Watcher) countPaths(paths []device.PathHealth, vols []Volume) {
	counts := map[string]int{}
	seen := map[string]bool{}
	for _, p := range paths {
		counts[string(p.State)]++
		seen[p.NQN] = true
	}
	for _, v := range vols {
		if !seen[v.NQN] {
			counts[string(device.PathAbsent)]++
		}
	}
	metrics.SetCounts(w.cfg.Metrics.Paths, pathStateLabels(), counts)
}
