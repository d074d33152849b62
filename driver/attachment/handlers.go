package attachment

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/client-go/tools/cache"
)

// Producers. Informer handlers only enqueue volume ids; all judgement
// happens in the worker. Objects from the informers' initial list are
// skipped: every reconcile term starts with a full pass over all volumes.
//
// Node filter (Nodes update constantly, mostly heartbeats):
//   - deletion, or deletionTimestamp appearing → the node's volumes, now;
//   - the out-of-service taint appearing or disappearing → now;
//   - the Ready condition's status changing → delayed: a node turning
//     NotReady is rechecked when it would turn stale (lastTransitionTime +
//     grace period); any other flip after one grace period. The delaying
//     queue keeps only the earliest pending time of a key, so a flapping
//     node costs at most about one reconcile per volume per grace period;
//   - anything else (heartbeats, labels, images, other taints and
//     conditions) → nothing.
//
// VolumeAttachment filter: creation, deletion, and updates that change
// attached, the node or the deletion timestamp → the VA's volume, now.
//
// PV filter: creation and deletion of the driver's PVs → the volume, now
// (deletion lets the pass forget what it had announced about the volume).

func (c *Controller) nodeHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			// A node (re-)registering: attachments released as
			// node-deleted count again and their records must reset.
			if n, ok := obj.(*corev1.Node); ok && !initial {
				c.enqueueNode(n.Name, 0)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*corev1.Node)
			cur, ok2 := newObj.(*corev1.Node)
			if !ok1 || !ok2 {
				return
			}
			if d, ok := c.nodeChange(old, cur); ok {
				c.enqueueNode(cur.Name, d)
			}
		},
		DeleteFunc: func(obj any) {
			if n, ok := unwrapTombstone(obj).(*corev1.Node); ok {
				c.enqueueNode(n.Name, 0)
			}
		},
	}
}

// nodeChange decides whether a node update matters and after what delay
// its volumes should be looked at.
func (c *Controller) nodeChange(old, cur *corev1.Node) (time.Duration, bool) {
	if hasOutOfService(old) != hasOutOfService(cur) || (old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) {
		return 0, true
	}
	if readyStatus(old) == readyStatus(cur) {
		return 0, false // heartbeat-only (or irrelevant) update
	}
	grace := c.cfg.GracePeriod
	ready, since, _ := readyCondition(cur)
	if ready || since.IsZero() {
		return grace, true
	}
	// Recheck exactly when the node would turn stale; never later than
	// one grace period from now, never in the past.
	d := since.Add(grace).Sub(c.clock.Now())
	return min(max(d, 0), grace), true
}

// readyStatus is the raw Ready status ("" without the condition): a
// False→Unknown change restarts the grace period (lastTransitionTime moves),
// so it is a flip too.
func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status
		}
	}
	return ""
}

func (c *Controller) vaHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if va, ok := obj.(*storagev1.VolumeAttachment); ok && !initial && c.ours(va) {
				c.enqueue(c.volumeOfVA(va), 0)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*storagev1.VolumeAttachment)
			cur, ok2 := newObj.(*storagev1.VolumeAttachment)
			if !ok1 || !ok2 || !c.ours(cur) {
				return
			}
			if old.Status.Attached != cur.Status.Attached || old.Spec.NodeName != cur.Spec.NodeName ||
				(old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) {
				c.enqueue(c.volumeOfVA(cur), 0)
			}
		},
		DeleteFunc: func(obj any) {
			if va, ok := unwrapTombstone(obj).(*storagev1.VolumeAttachment); ok && c.ours(va) {
				c.enqueue(c.volumeOfVA(va), 0)
			}
		},
	}
}

func (c *Controller) pvHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if pv, ok := obj.(*corev1.PersistentVolume); ok && !initial && c.ourPV(pv) {
				c.enqueue(pv.Spec.CSI.VolumeHandle, 0)
			}
		},
		DeleteFunc: func(obj any) {
			if pv, ok := unwrapTombstone(obj).(*corev1.PersistentVolume); ok && c.ourPV(pv) {
				c.enqueue(pv.Spec.CSI.VolumeHandle, 0)
			}
		},
	}
}

// unwrapTombstone returns the last known object of a deletion the informer
// only noticed after a relist.
func unwrapTombstone(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

// enqueueNode enqueues every volume with a VA or a pending publish on node.
func (c *Controller) enqueueNode(node string, after time.Duration) {
	for _, vol := range c.volumesOnNode(node) {
		c.enqueue(vol, after)
	}
}

// enqueue hands a volume id to the running term, if this replica leads;
// otherwise it is dropped: the next term starts with a full pass.
func (c *Controller) enqueue(volumeID string, after time.Duration) {
	if volumeID == "" {
		return
	}
	if c.onEnqueue != nil {
		c.onEnqueue(volumeID, after)
	}
	if t := c.term.Load(); t != nil {
		t.enqueue(volumeID, after)
	}
}
