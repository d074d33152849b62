package nodehealth

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// Recorder records events (kube.Recorder satisfies it; so does its
// log-only fallback without a cluster).
type Recorder interface {
	Eventf(regarding, related runtime.Object, eventType, reason, action, note string, args ...any)
}

// Event actions (events.k8s.io requires one).
const (
	ActionVolumeHealth  = "VolumeHealth"
	ActionReconnect     = "NVMeReconnect"
	ActionOrphanCleanup = "OrphanCleanup"
)

// Event reasons besides the problem reasons (condition.go), which are
// recorded as Warning events when a volume turns abnormal.
const (
	// ReasonVolumeRecovered: a volume is normal again (Normal).
	ReasonVolumeRecovered = "VolumeRecovered"
	// ReasonReconnected: a lost path was reconnected (Normal).
	ReasonReconnected = "NVMeReconnected"
	// ReasonReconnectFailed: a reconnect attempt failed; retried with backoff (Warning).
	ReasonReconnectFailed = "NVMeReconnectFailed"
	// ReasonOrphanConnectionDisconnected: an unused managed connection
	// without a staged volume was disconnected at node start (Normal, on the
	// Node). "Connection": not the controller's orphan disks on the RDS.
	ReasonOrphanConnectionDisconnected = "OrphanConnectionDisconnected"
	// ReasonOrphanConnectionInUse: such a connection is in use and was kept (Warning, on the Node).
	ReasonOrphanConnectionInUse = "OrphanConnectionInUse"
	// ReasonOrphanConnectionDisconnectFailed: its disconnect failed (Warning, on the Node).
	ReasonOrphanConnectionDisconnectFailed = "OrphanConnectionDisconnectFailed"
)

// Event types.
const (
	eventNormal  = corev1.EventTypeNormal
	eventWarning = corev1.EventTypeWarning
)

// regarding returns what events about vol are about: the Pods it is
// published for (kubectl describe pod shows them), or this Node when no
// Pod is known. Pods come from podInfoOnMount, so no API read is needed.
func (w *Watcher) regarding(vol Volume) []runtime.Object {
	var out []runtime.Object
	seen := map[string]bool{}
	for _, p := range vol.Publishes {
		if p.Pod == nil || p.Pod.Name == "" || p.Pod.Namespace == "" || seen[p.Pod.Namespace+"/"+p.Pod.Name] {
			continue
		}
		seen[p.Pod.Namespace+"/"+p.Pod.Name] = true
		out = append(out, &corev1.ObjectReference{
			APIVersion: "v1", Kind: "Pod", Namespace: p.Pod.Namespace, Name: p.Pod.Name, UID: types.UID(p.Pod.UID),
		})
	}
	if len(out) == 0 {
		out = append(out, w.nodeRef())
	}
	return out
}

// nodeRef is this Node. Its UID is the node name, as the kubelet sets it
// for its own Node events: kubectl describe node finds those (the real UID
// would need a read of the Node object, which the node plugin has no right to).
func (w *Watcher) nodeRef() *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: w.cfg.NodeID, UID: types.UID(w.cfg.NodeID)}
}

// event records one event about vol on everything it regards.
func (w *Watcher) event(vol Volume, eventType, reason, action, note string, args ...any) {
	for _, obj := range w.regarding(vol) {
		w.cfg.Recorder.Eventf(obj, nil, eventType, reason, action, note, args...)
	}
}
