package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/driver/nodehealth"
)

// NodeGetVolumeHealth implements csi.NodeServer (alpha in CSI v1.13, which
// removed the volume_condition of NodeGetVolumeStats: this RPC is where a
// volume's condition lives now). The answer comes from the health
// watcher's last pass; a volume the pass has not seen yet is read at once
// (sysfs and the mount table: no command runs in the request path). Every
// problem is one entry: INACCESSIBLE when the volume cannot be used from
// this node, DEGRADED when it can with limits (read-only after an error).
func (ns *NodeServer) NodeGetVolumeHealth(ctx context.Context, req *csi.NodeGetVolumeHealthRequest) (*csi.NodeGetVolumeHealthResponse, error) {
	if ns.cfg.Health == nil {
		return nil, status.Error(codes.Unimplemented, "volume health is not watched on this node")
	}
	id := req.GetVolumeId()
	if err := validateVolumeHandle(id); err != nil {
		return nil, err
	}
	staging, published := req.GetStagingTargetPath(), req.GetVolumePublishPath()
	for field, p := range map[string]string{"staging_target_path": staging, "volume_publish_path": published} {
		if p != "" {
			if err := nodeCheckPath(field, p); err != nil {
				return nil, err
			}
		}
	}
	// Read-only: no lock, so that polling never makes an RPC answer Aborted.
	cond, ok := ns.cfg.Health.Condition(ctx, id)
	if !ok {
		var err error
		if cond, err = ns.inspectUnrecorded(ctx, id, staging); err != nil {
			return nil, err
		}
	}
	health := &csi.VolumeHealth{VolumeId: id}
	for _, p := range cond.Problems {
		st := csi.VolumeHealthErrorType_INACCESSIBLE
		if p.Degraded {
			st = csi.VolumeHealthErrorType_DEGRADED
		}
		health.HealthStatuses = append(health.HealthStatuses, &csi.VolumeHealth_VolumeHealthEntry{
			Status: st, Reason: p.Reason, Message: p.Message,
		})
	}
	return &csi.NodeGetVolumeHealthResponse{VolumeHealth: health}, nil
}

// inspectUnrecorded judges a volume the node has no record of (staged
// before the state directory existed, or, without one, before a restart)
// from the request's staging path: mounted there, it is a filesystem
// volume; otherwise only its path can be judged. A volume with neither a
// connection nor a staging mount is not on this node.
func (ns *NodeServer) inspectUnrecorded(ctx context.Context, id, staging string) (nodehealth.Condition, error) {
	vol := nodehealth.Volume{ID: id, NQN: nodeNQN(id), Block: true}
	if err := device.CheckManaged(ns.cfg.ManagedNQNPrefix, vol.NQN); err != nil {
		return nodehealth.Condition{}, status.Errorf(codes.NotFound, "volume %s: %v", id, err)
	}
	if staging != "" {
		m, err := ns.mountAt(staging)
		if err != nil {
			return nodehealth.Condition{}, nodeInternal(id, "checking the staging path", err)
		}
		if m != nil {
			vol.Block, vol.StagingPath = false, staging
		}
	}
	cond := ns.cfg.Health.Inspect(ctx, vol)
	if vol.Block && cond.Path.State == device.PathAbsent {
		return cond, nodeErrorf(codes.NotFound, id, "not staged on this node")
	}
	return cond, nil
}
