package driver

import (
	"context"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/driver/nodehealth"
)

// Pod identity the kubelet adds to NodePublish's volume context when the
// CSIDriver has podInfoOnMount: events about a volume regard its Pods
// without any API read.
const (
	ctxPodName      = "csi.storage.k8s.io/pod.name"
	ctxPodNamespace = "csi.storage.k8s.io/pod.namespace"
	ctxPodUID       = "csi.storage.k8s.io/pod.uid"
)

// The node RPCs tell the health watcher what they did. Stage and unstage
// fail when it cannot be recorded: a staged volume the node forgets could
// be taken for an orphan at the next start, and a forgotten unstage could
// be reconnected. Publishes only name Pods for events: their loss is logged.

// recordStaged remembers a staged volume with the parameters it was
// connected with, which a reconnect reuses.
func (ns *NodeServer) recordStaged(id string, t device.Target, staging string, vcap nodeVolumeCap) error {
	if ns.cfg.Health == nil {
		return nil
	}
	v := nodehealth.Volume{ID: id, NQN: t.NQN, Target: &t, Block: vcap.Block, ReadOnly: vcap.ReadOnly}
	if !vcap.Block {
		v.StagingPath = staging
	}
	if err := ns.cfg.Health.Staged(v); err != nil {
		return nodeInternal(id, "recording the staged volume", err)
	}
	return nil
}

// recordUnstaged forgets a volume before it is disconnected, so that the
// watcher never reconnects what unstage is taking away.
func (ns *NodeServer) recordUnstaged(id string) error {
	if ns.cfg.Health == nil {
		return nil
	}
	if err := ns.cfg.Health.Unstaged(id); err != nil {
		return nodeInternal(id, "forgetting the staged volume", err)
	}
	return nil
}

func (ns *NodeServer) recordPublished(ctx context.Context, id, target string, volCtx map[string]string) {
	if ns.cfg.Health == nil {
		return
	}
	p := nodehealth.Publish{TargetPath: target}
	if name, namespace := volCtx[ctxPodName], volCtx[ctxPodNamespace]; name != "" && namespace != "" {
		p.Pod = &nodehealth.PodRef{Namespace: namespace, Name: name, UID: volCtx[ctxPodUID]}
	}
	if err := ns.cfg.Health.Published(id, p); err != nil {
		nodeLog(ctx).Error(err, "Cannot record the publish target: events will not name its Pod")
	}
}

func (ns *NodeServer) recordUnpublished(ctx context.Context, id, target string) {
	if ns.cfg.Health == nil {
		return
	}
	if err := ns.cfg.Health.Unpublished(id, target); err != nil {
		nodeLog(ctx).Error(err, "Cannot forget the publish target")
	}
}

// touch asks the watcher to look at a volume soon (stats polling does).
func (ns *NodeServer) touch(id string) {
	if ns.cfg.Health != nil {
		ns.cfg.Health.Touch(id)
	}
}
