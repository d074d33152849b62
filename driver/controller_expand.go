package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ControllerExpandVolume implements csi.ControllerServer. It only ever
// grows: a request at or below the current size succeeds with the current
// (real) size, which also makes retries idempotent.
func (cs *ControllerServer) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := validateID("volume_id", id); err != nil {
		return nil, err
	}
	cr := req.GetCapacityRange()
	if cr == nil || (cr.GetRequiredBytes() == 0 && cr.GetLimitBytes() == 0) {
		return nil, invalidArg("capacity_range is required")
	}
	size, _, err := capacityFor(cr, cs.cfg.MaxVolumeSize)
	if err != nil {
		return nil, err
	}
	if cr.GetRequiredBytes() == 0 {
		size = cr.GetLimitBytes() // only a limit: grow to it
	}
	if c := req.GetVolumeCapability(); c != nil {
		if p := capabilityProblem(c); p != "" {
			return nil, invalidArg("%s", p)
		}
	}
	if !isManagedVolumeID(id) {
		return nil, status.Errorf(codes.NotFound, "volume %s not found", id)
	}
	release, err := cs.begin(id)
	if err != nil {
		return nil, err
	}
	defer release()
	v, err := cs.cfg.RDS.GrowVolume(ctx, id, size)
	if err != nil {
		return nil, rdsStatus(err, "ControllerExpandVolume", id)
	}
	cs.logger(ctx).WithValues("volumeID", id).Info("Expanded volume", "requestedBytes", size, "sizeBytes", v.SizeBytes)
	// A file system must be grown on the node; a raw block device is grown
	// once the RDS grew the disk. Without a capability, assume a file system.
	nodeExpansion := req.GetVolumeCapability().GetBlock() == nil
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: v.SizeBytes, NodeExpansionRequired: nodeExpansion}, nil
}
