package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/proto"
)

// Calls that name one volume or snapshot: resolve the unit from the id, ask
// that unit's service with the slot, and put the unit back into every id of
// the answer. A unit that is not connected answers Unavailable naming it,
// before its service is asked (its own gate would say the same, without the
// name).

// route resolves id and checks the unit's connection.
func (uc *UnitsController) route(field, id string) (*unit, string, error) {
	u, slot, err := uc.resolve(field, id)
	if err != nil {
		return nil, "", err
	}
	if !u.connected() {
		return nil, "", u.notConnected()
	}
	return u, slot, nil
}

// DeleteVolume implements csi.ControllerServer.
func (uc *UnitsController) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	u, slot, err := uc.route("volume_id", req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	r := proto.CloneOf(req)
	r.VolumeId = slot
	return u.cs.DeleteVolume(ctx, r)
}

// ControllerPublishVolume implements csi.ControllerServer.
func (uc *UnitsController) ControllerPublishVolume(ctx context.Context, req *csi.ControllerPublishVolumeRequest) (*csi.ControllerPublishVolumeResponse, error) {
	u, slot, err := uc.route("volume_id", req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	r := proto.CloneOf(req)
	r.VolumeId = slot
	return u.cs.ControllerPublishVolume(ctx, r)
}

// ControllerUnpublishVolume implements csi.ControllerServer.
func (uc *UnitsController) ControllerUnpublishVolume(ctx context.Context, req *csi.ControllerUnpublishVolumeRequest) (*csi.ControllerUnpublishVolumeResponse, error) {
	u, slot, err := uc.route("volume_id", req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	r := proto.CloneOf(req)
	r.VolumeId = slot
	return u.cs.ControllerUnpublishVolume(ctx, r)
}

// ValidateVolumeCapabilities implements csi.ControllerServer.
func (uc *UnitsController) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	u, slot, err := uc.route("volume_id", req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	r := proto.CloneOf(req)
	r.VolumeId = slot
	return u.cs.ValidateVolumeCapabilities(ctx, r)
}

// ControllerExpandVolume implements csi.ControllerServer.
func (uc *UnitsController) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	u, slot, err := uc.route("volume_id", req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	r := proto.CloneOf(req)
	r.VolumeId = slot
	return u.cs.ControllerExpandVolume(ctx, r)
}

// ControllerGetVolume implements csi.ControllerServer.
func (uc *UnitsController) ControllerGetVolume(ctx context.Context, req *csi.ControllerGetVolumeRequest) (*csi.ControllerGetVolumeResponse, error) {
	u, slot, err := uc.route("volume_id", req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	r := proto.CloneOf(req)
	r.VolumeId = slot
	resp, err := u.cs.ControllerGetVolume(ctx, r)
	if err != nil {
		return nil, err
	}
	u.outVolume(resp.GetVolume())
	return resp, nil
}

// ControllerGetVolumeHealth implements csi.ControllerServer.
func (uc *UnitsController) ControllerGetVolumeHealth(ctx context.Context, req *csi.ControllerGetVolumeHealthRequest) (*csi.ControllerGetVolumeHealthResponse, error) {
	u, slot, err := uc.route("volume_id", req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	r := proto.CloneOf(req)
	r.VolumeId = slot
	resp, err := u.cs.ControllerGetVolumeHealth(ctx, r)
	if err != nil {
		return nil, err
	}
	if resp.GetVolumeHealth() != nil {
		resp.VolumeHealth.VolumeId = u.handle(resp.VolumeHealth.GetVolumeId())
	}
	return resp, nil
}

// CreateSnapshot implements csi.ControllerServer: the snapshot is on its
// source's unit.
func (uc *UnitsController) CreateSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	if req.GetName() == "" {
		return nil, invalidArg("name is required")
	}
	u, slot, err := uc.route("source_volume_id", req.GetSourceVolumeId())
	if err != nil {
		return nil, err
	}
	r := proto.CloneOf(req)
	r.SourceVolumeId = slot
	resp, err := u.cs.CreateSnapshot(ctx, r)
	if err != nil {
		return nil, err
	}
	u.outSnapshot(resp.GetSnapshot())
	return resp, nil
}

// DeleteSnapshot implements csi.ControllerServer.
func (uc *UnitsController) DeleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	u, slot, err := uc.route("snapshot_id", req.GetSnapshotId())
	if err != nil {
		return nil, err
	}
	r := proto.CloneOf(req)
	r.SnapshotId = slot
	return u.cs.DeleteSnapshot(ctx, r)
}

// GetSnapshot implements csi.ControllerServer.
func (uc *UnitsController) GetSnapshot(ctx context.Context, req *csi.GetSnapshotRequest) (*csi.GetSnapshotResponse, error) {
	u, slot, err := uc.route("snapshot_id", req.GetSnapshotId())
	if err != nil {
		return nil, err
	}
	r := proto.CloneOf(req)
	r.SnapshotId = slot
	resp, err := u.cs.GetSnapshot(ctx, r)
	if err != nil {
		return nil, err
	}
	u.outSnapshot(resp.GetSnapshot())
	return resp, nil
}

// outVolume turns a unit service's volume into what the CO sees: its
// handle, and the unit's topology.
func (u *unit) outVolume(v *csi.Volume) {
	if v == nil {
		return
	}
	v.VolumeId = u.handle(v.GetVolumeId())
	if len(u.Topology) > 0 {
		v.AccessibleTopology = []*csi.Topology{{Segments: u.topology()}}
	}
	switch {
	case v.GetContentSource().GetSnapshot() != nil:
		s := v.ContentSource.GetSnapshot()
		s.SnapshotId = u.handle(s.GetSnapshotId())
	case v.GetContentSource().GetVolume() != nil:
		s := v.ContentSource.GetVolume()
		s.VolumeId = u.handle(s.GetVolumeId())
	}
}

// outSnapshot turns a unit service's snapshot into what the CO sees.
func (u *unit) outSnapshot(s *csi.Snapshot) {
	if s == nil {
		return
	}
	s.SnapshotId = u.handle(s.GetSnapshotId())
	s.SourceVolumeId = u.handle(s.GetSourceVolumeId())
}
