package driver

import (
	"context"
	"errors"
	"path"
	"slices"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/srvlab/rds-csi/rds"
)

// Snapshots are independent, unexported copies of a volume's disk
// (copy-from), in the same directory as the source's backing file. RouterOS
// copies synchronously, so a snapshot is ready to use when CreateSnapshot
// returns. Everything else the driver knows about a snapshot is in its id
// (snapshotid.go).

// CreateSnapshot implements csi.ControllerServer.
func (cs *ControllerServer) CreateSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	name, src := req.GetName(), req.GetSourceVolumeId()
	if name == "" {
		return nil, invalidArg("name is required")
	}
	if err := validateID("source_volume_id", src); err != nil {
		return nil, err
	}
	meta := map[string]string{}
	for k, v := range req.GetParameters() {
		// VolumeSnapshotClass parameters: only the sidecar's metadata keys.
		if !strings.HasPrefix(k, reservedParamPrefix) {
			return nil, invalidArg("unknown parameter %q", k)
		}
		meta[k] = v
	}
	if !isManagedVolumeID(src) {
		return nil, status.Errorf(codes.NotFound, "source volume %s not found", src)
	}
	if len(src) > maxSnapshotSourceLen {
		return nil, invalidArg("source_volume_id %q is longer than %d characters: no snapshot id can hold it", src, maxSnapshotSourceLen)
	}
	prefix := snapshotLookupPrefix(name)
	logger := cs.logger(ctx).WithValues("name", name, "volumeID", src)
	if vs := meta[paramSnapshotName]; vs != "" { // from --extra-create-metadata
		logger = logger.WithValues("volumeSnapshot", meta[paramSnapshotNamespace]+"/"+vs)
	}
	// Lock the name, not the id: the id is known only once created.
	release, err := cs.begin(prefix)
	if err != nil {
		return nil, err
	}
	defer release()

	found, err := cs.cfg.RDS.ListVolumes(ctx, prefix)
	if err != nil {
		return nil, rdsStatus(err, "CreateSnapshot", name)
	}
	for _, v := range found {
		sid, ok := parseSnapshotID(v.ID)
		if !ok || SnapshotIDPrefix+sid.NameHash != prefix {
			continue
		}
		if sid.SourceVolumeID != src {
			return nil, status.Errorf(codes.AlreadyExists, "snapshot name %q is taken by %s of volume %s", name, v.ID, sid.SourceVolumeID)
		}
		logger.V(2).Info("Snapshot exists; answering the retry with it", "snapshotID", v.ID)
		return &csi.CreateSnapshotResponse{Snapshot: snapshotOf(v, sid)}, nil
	}

	source, err := cs.cfg.RDS.GetVolume(ctx, src)
	if err != nil {
		return nil, rdsStatus(err, "CreateSnapshot: source", src)
	}
	id, err := newSnapshotID(name, src, cs.now())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "CreateSnapshot %s: %v", name, err)
	}
	dir := path.Dir(source.FilePath)
	if rds.ValidateVolumePath(dir) != nil {
		dir = cs.cfg.DefaultVolumePath
	}
	v, err := cs.cfg.RDS.CreateVolume(ctx, rds.CreateVolumeRequest{
		ID:       id,
		FilePath: rds.FilePathFor(dir, id),
		CopyFrom: src, // SizeBytes 0: the source's size
	})
	if err != nil {
		return nil, createStatus(err, "CreateSnapshot", id)
	}
	sid, _ := parseSnapshotID(id)
	logger.Info("Created snapshot", "snapshotID", id, "sizeBytes", v.SizeBytes, "filePath", v.FilePath)
	return &csi.CreateSnapshotResponse{Snapshot: snapshotOf(v, sid)}, nil
}

// snapshotOf describes a snapshot disk.
func snapshotOf(v rds.Volume, sid snapshotID) *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId:     v.ID,
		SourceVolumeId: sid.SourceVolumeID,
		SizeBytes:      v.SizeBytes,
		CreationTime:   timestamppb.New(sid.Created),
		ReadyToUse:     true,
	}
}

// DeleteSnapshot implements csi.ControllerServer: idempotent; an id that is
// not a snapshot id of this driver is success without touching the RDS (it
// can name no snapshot, and must never delete a volume).
func (cs *ControllerServer) DeleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	id := req.GetSnapshotId()
	if err := validateID("snapshot_id", id); err != nil {
		return nil, err
	}
	logger := cs.logger(ctx).WithValues("snapshotID", id)
	if _, ok := parseSnapshotID(id); !ok {
		logger.V(2).Info("Not a snapshot of this driver; nothing to delete")
		return &csi.DeleteSnapshotResponse{}, nil
	}
	release, err := cs.begin(id)
	if err != nil {
		return nil, err
	}
	defer release()
	filePath, err := cs.backingFile(ctx, "DeleteSnapshot", id)
	if err != nil {
		return nil, err
	}
	if err := cs.cfg.RDS.DeleteVolume(ctx, id, filePath); err != nil {
		return nil, rdsStatus(err, "DeleteSnapshot", id)
	}
	logger.Info("Deleted snapshot", "filePath", filePath)
	return &csi.DeleteSnapshotResponse{}, nil
}

// GetSnapshot implements csi.ControllerServer.
func (cs *ControllerServer) GetSnapshot(ctx context.Context, req *csi.GetSnapshotRequest) (*csi.GetSnapshotResponse, error) {
	id := req.GetSnapshotId()
	if err := validateID("snapshot_id", id); err != nil {
		return nil, err
	}
	sid, ok := parseSnapshotID(id)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "snapshot %s not found", id)
	}
	if err := cs.gate(); err != nil {
		return nil, err
	}
	v, err := cs.cfg.RDS.GetVolume(ctx, id)
	if err != nil {
		return nil, rdsStatus(err, "GetSnapshot", id)
	}
	return &csi.GetSnapshotResponse{Snapshot: snapshotOf(v, sid)}, nil
}

// ListSnapshots implements csi.ControllerServer. Filters that match nothing
// give an empty list, not an error.
func (cs *ControllerServer) ListSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	if err := validateMaxEntries(req.GetMaxEntries()); err != nil {
		return nil, err
	}
	if err := pageStart(req.GetStartingToken(), SnapshotIDPrefix); err != nil {
		return nil, err
	}
	byID, bySource := req.GetSnapshotId(), req.GetSourceVolumeId()
	if byID != "" {
		if err := validateID("snapshot_id", byID); err != nil {
			return nil, err
		}
	}
	if bySource != "" {
		if err := validateID("source_volume_id", bySource); err != nil {
			return nil, err
		}
	}
	empty := &csi.ListSnapshotsResponse{}
	if _, ok := parseSnapshotID(byID); byID != "" && !ok {
		return empty, nil
	}
	if err := cs.gate(); err != nil {
		return nil, err
	}

	var disks []rds.Volume
	if byID != "" {
		v, err := cs.cfg.RDS.GetVolume(ctx, byID)
		switch {
		case errors.Is(err, rds.ErrNotFound):
			return empty, nil
		case err != nil:
			return nil, rdsStatus(err, "ListSnapshots", byID)
		}
		disks = []rds.Volume{v}
	} else {
		var err error
		if disks, err = cs.cfg.RDS.ListVolumes(ctx, SnapshotIDPrefix); err != nil {
			return nil, rdsStatus(err, "ListSnapshots", SnapshotIDPrefix)
		}
	}

	type entry struct {
		v   rds.Volume
		sid snapshotID
	}
	var all []entry
	for _, v := range disks {
		sid, ok := parseSnapshotID(v.ID)
		if !ok || (bySource != "" && sid.SourceVolumeID != bySource) {
			continue
		}
		all = append(all, entry{v, sid})
	}
	slices.SortFunc(all, func(a, b entry) int { return strings.Compare(a.v.ID, b.v.ID) })
	page, next := paginate(all, func(e entry) string { return e.v.ID }, req.GetStartingToken(), req.GetMaxEntries())
	resp := &csi.ListSnapshotsResponse{NextToken: next, Entries: make([]*csi.ListSnapshotsResponse_Entry, 0, len(page))}
	for _, e := range page {
		resp.Entries = append(resp.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: snapshotOf(e.v, e.sid)})
	}
	return resp, nil
}
