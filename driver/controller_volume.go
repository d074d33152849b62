package driver

import (
	"context"
	"errors"
	"path"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/rds"
)

// CreateVolume implements csi.ControllerServer. It is idempotent by name:
// the volume id is a function of the name (volumeid.go), so a retry finds
// the disk it created and answers with it as long as its size still fits
// the request. The size is rounded up by the RDS client and the response
// reports the disk's real size.
func (cs *ControllerServer) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	name := req.GetName()
	if name == "" {
		return nil, invalidArg("name is required")
	}
	capFS, err := validateCapabilities(req.GetVolumeCapabilities())
	if err != nil {
		return nil, err
	}
	if len(req.GetMutableParameters()) > 0 {
		return nil, invalidArg("mutable_parameters are not supported (no VolumeAttributesClass support)")
	}
	logger := cs.logger(ctx)
	params, err := parseVolumeParams(logger, req.GetParameters(), cs.cfg.DefaultNVMeAddress, cs.cfg.DefaultVolumePath)
	if err != nil {
		return nil, err
	}
	fsType := capFS
	switch {
	case fsType == "" && params.FSType != "":
		fsType = params.FSType
	case fsType == "":
		fsType = DefaultFSType
	case params.FSType != "" && params.FSType != fsType:
		logger.Info("Volume capability and StorageClass name different file systems; the capability wins", "capability", fsType, "parameter", params.FSType)
	}
	size, limit, err := capacityFor(req.GetCapacityRange(), cs.cfg.MaxVolumeSize)
	if err != nil {
		return nil, err
	}
	sourceID, err := contentSourceID(req.GetVolumeContentSource())
	if err != nil {
		return nil, err
	}

	id := volumeIDForName(name)
	logger = logger.WithValues("volumeID", id, "name", name)
	// From --extra-create-metadata: they map the disk to its claim.
	if pvc := params.Metadata[paramPVCName]; pvc != "" {
		logger = logger.WithValues("pvc", params.Metadata[paramPVCNamespace]+"/"+pvc, "pv", params.Metadata[paramPVName])
	}
	release, err := cs.begin(id)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := cs.copyInFlight("CreateVolume", id); err != nil {
		return nil, err
	}

	resp := func(v rds.Volume) *csi.CreateVolumeResponse {
		return &csi.CreateVolumeResponse{Volume: &csi.Volume{
			VolumeId:      v.ID,
			CapacityBytes: v.SizeBytes,
			VolumeContext: params.volumeContext(v, fsType),
			ContentSource: req.GetVolumeContentSource(),
		}}
	}

	existing, err := cs.cfg.RDS.GetVolume(ctx, id)
	switch {
	case err == nil:
		if err := fitsExisting(existing, req.GetCapacityRange()); err != nil {
			return nil, err
		}
		// CSI: the same name with another content source or another
		// volumePath is AlreadyExists, never the existing volume answered
		// as if made from what the retry names.
		if err := cs.sameOrigin(ctx, existing, params.VolumePath, req.GetVolumeContentSource()); err != nil {
			return nil, err
		}
		logger.V(2).Info("Volume exists; answering the retry with it", "sizeBytes", existing.SizeBytes)
		return resp(existing), nil
	case !errors.Is(err, rds.ErrNotFound):
		return nil, rdsStatus(err, "CreateVolume", id)
	}

	if sourceID != "" {
		src, err := cs.cfg.RDS.GetVolume(ctx, sourceID)
		if err != nil {
			return nil, rdsStatus(err, "CreateVolume: content source", sourceID)
		}
		// A copy is at least as large as its source.
		size = max(size, src.SizeBytes)
		if limit > 0 && size > limit {
			return nil, status.Errorf(codes.OutOfRange, "content source %s has %d bytes, more than the limit %d", sourceID, src.SizeBytes, limit)
		}
		if err := cs.recordSource(ctx, id, params.VolumePath, sourceKey(req.GetVolumeContentSource())); err != nil {
			return nil, err
		}
	}

	create := rds.CreateVolumeRequest{
		ID:        id,
		FilePath:  rds.FilePathFor(params.VolumePath, id),
		SizeBytes: size,
		Export:    true,
		Port:      params.NVMePort,
		NQN:       rds.NQNFor(id),
		CopyFrom:  sourceID,
	}
	var v rds.Volume
	if sourceID != "" {
		v, err = cs.createCopy(ctx, "CreateVolume", create)
	} else if v, err = cs.cfg.RDS.CreateVolume(ctx, create); errors.Is(err, rds.ErrAlreadyExists) {
		// No disk but its file: an earlier attempt's add still running
		// (its caller gave up, RouterOS did not), or its dead remains.
		err = cs.leftoverFile(ctx, "CreateVolume", id, create.FilePath, err)
	} else if err != nil {
		err = rdsStatus(err, "CreateVolume", id)
	}
	if err != nil {
		return nil, err
	}
	if limit > 0 && v.SizeBytes > limit {
		// The RDS rounded past the limit: undo rather than hand out a
		// volume the request forbids.
		if derr := cs.cfg.RDS.DeleteVolume(ctx, id, v.FilePath); derr != nil {
			logger.Error(derr, "Could not remove a volume that exceeded its size limit")
		} else if derr := cs.deleteSourceRecords(ctx, id, []string{params.VolumePath}); derr != nil {
			logger.Error(derr, "Could not remove the content-source record of a volume that exceeded its size limit")
		}
		return nil, status.Errorf(codes.OutOfRange, "the RDS allocates %d bytes for %d requested, more than the limit %d", v.SizeBytes, size, limit)
	}
	logger.Info("Created volume", "sizeBytes", v.SizeBytes, "filePath", v.FilePath, "contentSource", sourceID)
	return resp(v), nil
}

// contentSourceID validates a content source and returns the disk to copy
// (a snapshot or volume id), or "" for an empty volume. A source that cannot
// be one of this driver's is NotFound without asking the RDS.
func contentSourceID(src *csi.VolumeContentSource) (string, error) {
	if src == nil {
		return "", nil
	}
	switch {
	case src.GetSnapshot() != nil:
		id := src.GetSnapshot().GetSnapshotId()
		if err := validateID("volume_content_source.snapshot.snapshot_id", id); err != nil {
			return "", err
		}
		if _, ok := parseSnapshotID(id); !ok {
			return "", status.Errorf(codes.NotFound, "source snapshot %s not found", id)
		}
		return id, nil
	case src.GetVolume() != nil:
		id := src.GetVolume().GetVolumeId()
		if err := validateID("volume_content_source.volume.volume_id", id); err != nil {
			return "", err
		}
		if !isManagedVolumeID(id) {
			return "", status.Errorf(codes.NotFound, "source volume %s not found", id)
		}
		return id, nil
	default:
		return "", invalidArg("volume_content_source names neither a snapshot nor a volume")
	}
}

// fitsExisting checks an existing disk against a retried request: at least
// the required bytes, at most the limit.
func fitsExisting(v rds.Volume, cr *csi.CapacityRange) error {
	if v.SizeBytes < cr.GetRequiredBytes() || (cr.GetLimitBytes() > 0 && v.SizeBytes > cr.GetLimitBytes()) {
		return status.Errorf(codes.AlreadyExists, "volume %s exists with %d bytes, incompatible with the requested range [%d, %d]",
			v.ID, v.SizeBytes, cr.GetRequiredBytes(), cr.GetLimitBytes())
	}
	return nil
}

// DeleteVolume implements csi.ControllerServer: idempotent; refuses a
// volume that any node still has (a stale attachment too: its node may
// still write until the VolumeAttachment is detached); removes the disk, its
// backing file wherever this driver put it (controller_files.go) and its
// content-source records.
func (cs *ControllerServer) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := validateID("volume_id", id); err != nil {
		return nil, err
	}
	logger := cs.logger(ctx).WithValues("volumeID", id)
	if !isManagedVolumeID(id) {
		logger.V(2).Info("Not a volume of this driver; nothing to delete")
		return &csi.DeleteVolumeResponse{}, nil
	}
	release, err := cs.begin(id)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := cs.copyInFlight("DeleteVolume", id); err != nil {
		return nil, err
	}
	if err := cs.cfg.Attachments.Ready(); err != nil {
		return nil, rdsStatus(err, "DeleteVolume", id)
	}
	if nodes := cs.cfg.Attachments.PublishedNodes(id); len(nodes) > 0 {
		return nil, status.Errorf(codes.FailedPrecondition,
			"volume %s is still published to node(s) %s (an attachment counts until it is detached, also when its node is NotReady, deleted or out of service)",
			id, strings.Join(nodes, ", "))
	}
	var known []string
	if cs.cfg.BackingFiles != nil {
		known = cs.cfg.BackingFiles(id)
	}
	files, diskFound, err := cs.backingFiles(ctx, "DeleteVolume", id, known)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := cs.cfg.RDS.DeleteVolume(ctx, id, f); err != nil {
			return nil, rdsStatus(err, "DeleteVolume", id)
		}
		if !diskFound {
			logger.Info("Removed a backing file left without its disk", "filePath", f)
		}
	}
	dirs := make([]string, 0, len(files))
	for _, f := range files {
		dirs = append(dirs, path.Dir(f))
	}
	if err := cs.deleteSourceRecords(ctx, id, dirs); err != nil {
		return nil, rdsStatus(err, "DeleteVolume: content-source records", id)
	}
	logger.Info("Deleted volume", "filePaths", files, "diskFound", diskFound)
	return &csi.DeleteVolumeResponse{}, nil
}
