package nodehealth

import (
	"context"
	"fmt"
	"slices"

	"github.com/srvlab/rds-csi/driver/device"
)

// What the node service calls: it reports what its RPCs did (each call only
// writes the store and enqueues the volume) and asks for conditions.

// Touch enqueues one volume's evaluation (the node's own calls do).
func (w *Watcher) Touch(id string) { w.health.Add(id) }

// Staged records a volume that NodeStage has just staged; an idempotent
// restage keeps the publishes already recorded.
func (w *Watcher) Staged(v Volume) error {
	if old, ok := w.cfg.Store.Get(v.ID); ok {
		v.Publishes = old.Publishes
	}
	v.BootID = w.bootID
	if err := w.cfg.Store.Put(v); err != nil {
		return fmt.Errorf("recording staged volume %s: %w", v.ID, err)
	}
	w.health.Add(v.ID)
	return nil
}

// Unstaged forgets a volume that NodeUnstage is about to disconnect: from
// now on nothing reconnects it.
func (w *Watcher) Unstaged(id string) error {
	if err := w.cfg.Store.Delete(id); err != nil {
		return fmt.Errorf("forgetting unstaged volume %s: %w", id, err)
	}
	w.health.Add(id)
	return nil
}

// Published records a publish target (and its Pod) of a staged volume; a
// volume without a record (staged before the state directory existed) is
// left alone.
func (w *Watcher) Published(id string, p Publish) error {
	_, err := w.cfg.Store.Update(id, func(v *Volume) {
		v.Publishes = slices.DeleteFunc(v.Publishes, func(o Publish) bool { return o.TargetPath == p.TargetPath })
		v.Publishes = append(v.Publishes, p)
	})
	w.health.Add(id)
	return err
}

// Unpublished forgets a publish target.
func (w *Watcher) Unpublished(id, target string) error {
	_, err := w.cfg.Store.Update(id, func(v *Volume) {
		v.Publishes = slices.DeleteFunc(v.Publishes, func(o Publish) bool { return o.TargetPath == target })
	})
	w.health.Add(id)
	return err
}

// Condition returns the condition of a staged volume: the one the last
// pass computed, or, before the first pass has seen the volume, one read
// now (sysfs and the mount table only). False: not staged on this node.
func (w *Watcher) Condition(ctx context.Context, id string) (Condition, bool) {
	vol, ok := w.cfg.Store.Get(id)
	if !ok {
		return Condition{}, false
	}
	w.mu.Lock()
	c, ok := w.conds[id]
	w.mu.Unlock()
	if ok {
		return c, true
	}
	// Not stored: the health worker alone records conditions, so that it
	// alone sees (and announces) transitions.
	return w.Inspect(ctx, vol), true
}

// Inspect computes the condition of a volume the store need not know (for
// instance one staged before the state directory existed, from the paths
// a request names). Nothing is stored, announced or repaired.
func (w *Watcher) Inspect(ctx context.Context, vol Volume) Condition {
	mis, misErr := device.ReadMountInfo(w.cfg.MountInfoPath)
	f := w.gather(ctx, vol, mis, misErr)
	return Condition{Problems: evaluate(f), Path: f.path}
}
