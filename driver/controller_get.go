package driver

import (
	"context"
	"strconv"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/srvlab/rds-csi/rds"
)

// Read-only RPCs about one volume or the pool. They take no per-volume lock:
// reading while a publish or an expansion runs is harmless, and answering
// Aborted to a read would only add retries.

// ValidateVolumeCapabilities implements csi.ControllerServer.
func (cs *ControllerServer) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	id := req.GetVolumeId()
	if err := validateID("volume_id", id); err != nil {
		return nil, err
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, invalidArg("volume_capabilities are required")
	}
	if !isManagedVolumeID(id) {
		return nil, status.Errorf(codes.NotFound, "volume %s not found", id)
	}
	if err := cs.gate(); err != nil {
		return nil, err
	}
	if _, err := cs.cfg.RDS.GetVolume(ctx, id); err != nil {
		return nil, rdsStatus(err, "ValidateVolumeCapabilities", id)
	}
	for _, c := range req.GetVolumeCapabilities() {
		if p := capabilityProblem(c); p != "" {
			return &csi.ValidateVolumeCapabilitiesResponse{Message: p}, nil
		}
	}
	if len(req.GetParameters()) > 0 {
		if _, err := parseVolumeParams(cs.logger(ctx), req.GetParameters(), cs.cfg.DefaultNVMeAddress, cs.cfg.DefaultVolumePath); err != nil {
			return &csi.ValidateVolumeCapabilitiesResponse{Message: status.Convert(err).Message()}, nil
		}
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
		Parameters:         req.GetParameters(),
	}}, nil
}

// ControllerGetVolume implements csi.ControllerServer.
func (cs *ControllerServer) ControllerGetVolume(ctx context.Context, req *csi.ControllerGetVolumeRequest) (*csi.ControllerGetVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := validateID("volume_id", id); err != nil {
		return nil, err
	}
	if !isManagedVolumeID(id) {
		return nil, status.Errorf(codes.NotFound, "volume %s not found", id)
	}
	if err := cs.gate(); err != nil {
		return nil, err
	}
	if err := cs.cfg.Attachments.Ready(); err != nil {
		return nil, rdsStatus(err, "ControllerGetVolume", id)
	}
	v, err := cs.cfg.RDS.GetVolume(ctx, id)
	if err != nil {
		return nil, rdsStatus(err, "ControllerGetVolume", id)
	}
	return &csi.ControllerGetVolumeResponse{
		Volume: diskVolume(v),
		Status: &csi.ControllerGetVolumeResponse_VolumeStatus{PublishedNodeIds: cs.cfg.Attachments.PublishedNodes(id)},
	}, nil
}

// diskVolume describes an existing disk. Only what the disk itself knows
// goes into the context: StorageClass parameters (address, timeouts) are
// not stored on the RDS.
func diskVolume(v rds.Volume) *csi.Volume {
	ctx := map[string]string{CtxFilePath: v.FilePath}
	if v.NQN != "" {
		ctx[CtxNQN] = v.NQN
	}
	if v.NVMeTCPPort != 0 {
		ctx[CtxNVMePort] = strconv.Itoa(v.NVMeTCPPort)
	}
	return &csi.Volume{VolumeId: v.ID, CapacityBytes: v.SizeBytes, VolumeContext: ctx}
}

// GetCapacity implements csi.ControllerServer: the free bytes of the pool
// that holds the StorageClass's volumePath.
func (cs *ControllerServer) GetCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	params, err := parseVolumeParams(cs.logger(ctx), req.GetParameters(), cs.cfg.DefaultNVMeAddress, cs.cfg.DefaultVolumePath)
	if err != nil {
		return nil, err
	}
	// CSI: report the capacity usable for volumes with all of these
	// capabilities; none is usable for an unsupported one.
	for _, c := range req.GetVolumeCapabilities() {
		if capabilityProblem(c) != "" {
			return &csi.GetCapacityResponse{}, nil
		}
	}
	if err := cs.gate(); err != nil {
		return nil, err
	}
	c, err := cs.cfg.RDS.PoolCapacity(ctx, params.VolumePath)
	if err != nil {
		return nil, rdsStatus(err, "GetCapacity", params.VolumePath)
	}
	free := max(c.FreeBytes, 0)
	// The scheduler compares a claim with maximum_volume_size whenever it is
	// set, so it must not promise more than is free.
	return &csi.GetCapacityResponse{
		AvailableCapacity: free,
		MaximumVolumeSize: wrapperspb.Int64(min(cs.cfg.MaxVolumeSize, free)),
	}, nil
}
