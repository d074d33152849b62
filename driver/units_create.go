package driver

import (
	"context"
	"maps"
	"strconv"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// CreateVolume implements csi.ControllerServer: choose the unit
// (units_place.go), then let that unit's service create the disk.
//
//   - A content source (snapshot or volume) decides: copies stay on their
//     source's unit. A StorageClass pinning another unit is InvalidArgument
//     naming both: RouterOS copies only within one RDS.
//   - Else the parameter "rds" decides.
//   - Else the unit is placed by topology and free space.
func (uc *UnitsController) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	name := req.GetName()
	if name == "" {
		return nil, invalidArg("name is required")
	}
	params := maps.Clone(req.GetParameters())
	if params == nil {
		params = map[string]string{}
	}
	pinned, err := uc.pinnedUnit(params)
	if err != nil {
		return nil, err
	}
	delete(params, ParamRDS)

	r := proto.CloneOf(req)
	r.Parameters = params
	src, err := uc.sourceUnit(r)
	if err != nil {
		return nil, err
	}
	if src != nil && pinned != nil && src != pinned {
		return nil, status.Errorf(codes.InvalidArgument,
			"the content source %s is on RDS unit %s but the StorageClass pins RDS unit %s (parameter %s): snapshots and clones stay on their source's unit",
			sourceName(req.GetVolumeContentSource()), src.Name, pinned.Name, ParamRDS)
	}

	// One attempt of a name at a time: the unit it lands on must be the
	// one every retry finds.
	if !uc.names.TryAcquire(name) {
		return nil, busy(name)
	}
	defer uc.names.Release(name)

	u := src
	if u == nil {
		u = pinned
	}
	if u == nil {
		if u, err = uc.place(ctx, name, req); err != nil {
			return nil, err
		}
	} else if !u.reachableFromAny(req.GetAccessibilityRequirements().GetRequisite()) {
		return nil, status.Errorf(codes.ResourceExhausted, "RDS unit %s (topology %v) is not reachable from any requisite topology of the request", u.Name, u.Topology)
	}
	if !u.connected() {
		return nil, u.notConnected()
	}
	if u.NVMePort != 0 {
		if _, set := params[ParamNVMePort]; !set {
			params[ParamNVMePort] = strconv.Itoa(u.NVMePort)
		}
	}
	uc.remember(name, u)
	klogFor(ctx, uc.logger).V(2).Info("CreateVolume goes to RDS unit", "name", name, "rds", u.Name)
	resp, err := u.cs.CreateVolume(ctx, r)
	if err != nil {
		return nil, err
	}
	u.outVolume(resp.GetVolume())
	if resp.GetVolume() != nil {
		// What the CO sent, not the unit's slots.
		resp.Volume.ContentSource = req.GetVolumeContentSource()
	}
	return resp, nil
}

// pinnedUnit returns the unit the "rds" parameter names, nil without one.
func (uc *UnitsController) pinnedUnit(params map[string]string) (*unit, error) {
	name, ok := params[ParamRDS]
	if !ok {
		return nil, nil
	}
	u, ok := uc.byName[name]
	if !ok {
		return nil, invalidArg("parameter %s=%q: no such RDS unit (configured: %v)", ParamRDS, name, uc.UnitNames())
	}
	return u, nil
}

// sourceUnit resolves a content source to its unit and rewrites r's source
// to the slot the unit's service knows; nil without a source.
func (uc *UnitsController) sourceUnit(r *csi.CreateVolumeRequest) (*unit, error) {
	src := r.GetVolumeContentSource()
	switch {
	case src.GetSnapshot() != nil:
		u, slot, err := uc.resolve("volume_content_source.snapshot.snapshot_id", src.GetSnapshot().GetSnapshotId())
		if err != nil {
			return nil, err
		}
		src.GetSnapshot().SnapshotId = slot
		return u, nil
	case src.GetVolume() != nil:
		u, slot, err := uc.resolve("volume_content_source.volume.volume_id", src.GetVolume().GetVolumeId())
		if err != nil {
			return nil, err
		}
		src.GetVolume().VolumeId = slot
		return u, nil
	}
	return nil, nil
}

// sourceName names a content source for messages.
func sourceName(src *csi.VolumeContentSource) string {
	if s := src.GetSnapshot(); s != nil {
		return "snapshot " + s.GetSnapshotId()
	}
	return "volume " + src.GetVolume().GetVolumeId()
}

// remember records where name was sent.
func (uc *UnitsController) remember(name string, u *unit) {
	uc.placedMu.Lock()
	defer uc.placedMu.Unlock()
	uc.placed[name] = u.Name
}

// remembered returns the unit name was sent to earlier, or nil.
func (uc *UnitsController) remembered(name string) *unit {
	uc.placedMu.Lock()
	defer uc.placedMu.Unlock()
	return uc.byName[uc.placed[name]]
}
