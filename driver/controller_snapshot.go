package driver

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/srvlab/rds-csi/rds"
)

// Snapshots are independent, unexported copies of a volume's disk
// (copy-from), in the same directory as the source's backing file. A copy
// may take minutes: it runs detached from the RPC (controller_copy.go), and
// its disk appears on the RDS only when the copy has finished, so a
// snapshot disk that exists is ready to use. Everything else the driver
// knows about a snapshot is in its id (snapshotid.go) and in the RDS's
// creation-time of its backing file.

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
	id, err := snapshotIDFor(name, src)
	if err != nil {
		return nil, invalidArg("CreateSnapshot %s: %v", name, err)
	}
	prefix := snapshotLookupPrefix(name)
	logger := cs.logger(ctx).WithValues("name", name, "volumeID", src, "snapshotID", id)
	if vs := meta[paramSnapshotName]; vs != "" { // from --extra-create-metadata
		logger = logger.WithValues("volumeSnapshot", meta[paramSnapshotNamespace]+"/"+vs)
	}
	// Lock the name: every id of it (either format, any source) shares the prefix.
	release, err := cs.begin(prefix)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := cs.copyInFlight("CreateSnapshot", id); err != nil {
		return nil, err
	}

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
		logger.V(2).Info("Snapshot exists; answering the retry with it", "existingID", v.ID)
		return cs.snapshotResponse(ctx, v, sid)
	}

	source, err := cs.cfg.RDS.GetVolume(ctx, src)
	if err != nil {
		return nil, rdsStatus(err, "CreateSnapshot: source", src)
	}
	dir := path.Dir(source.FilePath)
	if rds.ValidateVolumePath(dir) != nil {
		dir = cs.cfg.DefaultVolumePath
	}
	v, err := cs.createCopy(ctx, "CreateSnapshot", rds.CreateVolumeRequest{
		ID:       id,
		FilePath: rds.FilePathFor(dir, id),
		CopyFrom: src, // SizeBytes 0: the source's size
	})
	if err != nil {
		return nil, err
	}
	sid, _ := parseSnapshotID(id)
	logger.Info("Created snapshot", "sizeBytes", v.SizeBytes, "filePath", v.FilePath)
	return cs.snapshotResponse(ctx, v, sid)
}

// snapshotResponse describes one snapshot disk with its creation time.
func (cs *ControllerServer) snapshotResponse(ctx context.Context, v rds.Volume, sid snapshotID) (*csi.CreateSnapshotResponse, error) {
	times, err := cs.snapshotTimes(ctx, []rds.Volume{v})
	if err != nil {
		return nil, rdsStatus(err, "CreateSnapshot: creation time", v.ID)
	}
	return &csi.CreateSnapshotResponse{Snapshot: snapshotOf(v, sid, times[v.ID])}, nil
}

// snapshotTimes returns the creation time of each snapshot disk whose id
// does not carry one: the RDS's creation-time of its backing file, one
// file listing per directory. A disk whose file is not listed is an error,
// never a made-up time.
func (cs *ControllerServer) snapshotTimes(ctx context.Context, disks []rds.Volume) (map[string]time.Time, error) {
	byDir := map[string][]rds.Volume{}
	for _, v := range disks {
		if sid, ok := parseSnapshotID(v.ID); ok && sid.Created.IsZero() {
			byDir[path.Dir(v.FilePath)] = append(byDir[path.Dir(v.FilePath)], v)
		}
	}
	times := make(map[string]time.Time, len(disks))
	for dir, vs := range byDir {
		files, err := cs.cfg.RDS.ListFiles(ctx, dir)
		if err != nil {
			return nil, err
		}
		created := make(map[string]time.Time, len(files))
		for _, f := range files {
			created[f.Path] = f.Created
		}
		for _, v := range vs {
			t, ok := created[v.FilePath]
			if !ok {
				return nil, fmt.Errorf("%w: backing file %s of snapshot %s is not on the RDS", rds.ErrCommandFailed, v.FilePath, v.ID)
			}
			times[v.ID] = t
		}
	}
	return times, nil
}

// snapshotOf describes a snapshot disk. created is used when the id
// carries no creation time.
func snapshotOf(v rds.Volume, sid snapshotID, created time.Time) *csi.Snapshot {
	if !sid.Created.IsZero() {
		created = sid.Created
	}
	return &csi.Snapshot{
		SnapshotId:     v.ID,
		SourceVolumeId: sid.SourceVolumeID,
		SizeBytes:      v.SizeBytes,
		CreationTime:   timestamppb.New(created),
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
	if err := cs.copyInFlight("DeleteSnapshot", id); err != nil {
		return nil, err
	}
	// A snapshot lies in its source's directory, which may be a custom
	// volumePath: without its disk, its file is found by name.
	files, _, err := cs.backingFiles(ctx, "DeleteSnapshot", id, nil)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := cs.cfg.RDS.DeleteVolume(ctx, id, f); err != nil {
			return nil, rdsStatus(err, "DeleteSnapshot", id)
		}
	}
	logger.Info("Deleted snapshot", "filePaths", files)
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
	times, err := cs.snapshotTimes(ctx, []rds.Volume{v})
	if err != nil {
		return nil, rdsStatus(err, "GetSnapshot: creation time", id)
	}
	return &csi.GetSnapshotResponse{Snapshot: snapshotOf(v, sid, times[id])}, nil
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
	pageDisks := make([]rds.Volume, 0, len(page))
	for _, e := range page {
		pageDisks = append(pageDisks, e.v)
	}
	times, err := cs.snapshotTimes(ctx, pageDisks)
	if err != nil {
		return nil, rdsStatus(err, "ListSnapshots: creation times", SnapshotIDPrefix)
	}
	resp := &csi.ListSnapshotsResponse{NextToken: next, Entries: make([]*csi.ListSnapshotsResponse_Entry, 0, len(page))}
	for _, e := range page {
		resp.Entries = append(resp.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: snapshotOf(e.v, e.sid, times[e.v.ID])})
	}
	return resp, nil
}
