package driver

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/rds"
)

// Volume health. CSI v1.13 removed the alpha VolumeCondition fields of
// ControllerGetVolume and ListVolumes (VOLUME_CONDITION); volume health is
// answered by the alpha RPCs ControllerGetVolumeHealth and
// ControllerListVolumeHealth instead (capabilities GET_VOLUME_HEALTH and
// LIST_VOLUME_HEALTH). A volume is abnormal when the RDS says so:
//
//	DiskMissing         INACCESSIBLE  the disk is gone, its backing file is still there
//	DiskAndFileMissing  DATA_LOSS     the disk and its backing file are gone (a PV still names it)
//	BackingFileMissing  DATA_LOSS     the disk exists, its backing file does not
//	ExportDisabled      DEGRADED      the NVMe/TCP export is off (ControllerPublish, and for
//	                                  attached volumes the reconciler, turn it back on)
//
// An empty list of statuses means healthy.

// Health reasons (CamelCase, as CSI asks).
const (
	HealthDiskMissing        = "DiskMissing"
	HealthDiskAndFileMissing = "DiskAndFileMissing"
	HealthBackingFileMissing = "BackingFileMissing"
	HealthExportDisabled     = "ExportDisabled"
)

func healthEntry(t csi.VolumeHealthErrorType, reason, format string, args ...any) *csi.VolumeHealth_VolumeHealthEntry {
	return &csi.VolumeHealth_VolumeHealthEntry{Status: t, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// diskHealth judges an existing disk; files are the RDS's file paths of its
// directory (nil: not listed, the file is not judged).
func diskHealth(v rds.Volume, files map[string]bool) []*csi.VolumeHealth_VolumeHealthEntry {
	var out []*csi.VolumeHealth_VolumeHealthEntry
	if files != nil && rds.ValidateVolumePath(path.Dir(v.FilePath)) == nil && !files[v.FilePath] {
		out = append(out, healthEntry(csi.VolumeHealthErrorType_DATA_LOSS, HealthBackingFileMissing,
			"disk %s exists on the RDS but its backing file %s does not", v.ID, v.FilePath))
	}
	if !v.Exported {
		out = append(out, healthEntry(csi.VolumeHealthErrorType_DEGRADED, HealthExportDisabled,
			"the NVMe/TCP export of disk %s is off; nodes cannot connect until it is turned on (ControllerPublish does, the attachment reconciler does for attached volumes)", v.ID))
	}
	return out
}

// dirFiles lists the files of each directory once.
func (cs *ControllerServer) dirFiles(ctx context.Context, dirs []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, dir := range dirs {
		if rds.ValidateVolumePath(dir) != nil {
			continue
		}
		list, err := cs.cfg.RDS.ListFiles(ctx, dir)
		if err != nil {
			return nil, err
		}
		for _, f := range list {
			out[f.Path] = true
		}
	}
	return out, nil
}

// ControllerGetVolumeHealth implements csi.ControllerServer.
func (cs *ControllerServer) ControllerGetVolumeHealth(ctx context.Context, req *csi.ControllerGetVolumeHealthRequest) (*csi.ControllerGetVolumeHealthResponse, error) {
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
	resp := func(entries []*csi.VolumeHealth_VolumeHealthEntry) *csi.ControllerGetVolumeHealthResponse {
		return &csi.ControllerGetVolumeHealthResponse{VolumeHealth: &csi.VolumeHealth{VolumeId: id, HealthStatuses: entries}}
	}
	v, err := cs.cfg.RDS.GetVolume(ctx, id)
	switch {
	case err == nil:
		files, err := cs.dirFiles(ctx, []string{path.Dir(v.FilePath)})
		if err != nil {
			return nil, rdsStatus(err, "ControllerGetVolumeHealth: backing file", id)
		}
		return resp(diskHealth(v, files)), nil
	case !errors.Is(err, rds.ErrNotFound):
		return nil, rdsStatus(err, "ControllerGetVolumeHealth", id)
	}
	// No disk. The volume still exists for the CO when its backing file is
	// on the RDS or a PV names it; otherwise it is simply not found.
	var known []string
	if cs.cfg.BackingFiles != nil {
		known = cs.cfg.BackingFiles(id)
	}
	left, err := cs.leftoverFiles(ctx, "ControllerGetVolumeHealth", id, known)
	if err != nil {
		return nil, err
	}
	switch {
	case len(left) > 0:
		return resp([]*csi.VolumeHealth_VolumeHealthEntry{healthEntry(csi.VolumeHealthErrorType_INACCESSIBLE, HealthDiskMissing,
			"disk %s does not exist on the RDS (removed behind the driver's back?); its backing file %s is still there", id, strings.Join(left, ", "))}), nil
	case len(known) > 0:
		return resp([]*csi.VolumeHealth_VolumeHealthEntry{healthEntry(csi.VolumeHealthErrorType_DATA_LOSS, HealthDiskAndFileMissing,
			"disk %s and its backing file %s do not exist on the RDS, but a PersistentVolume still names the volume", id, strings.Join(known, ", "))}), nil
	}
	return nil, status.Errorf(codes.NotFound, "volume %s not found: no disk and no backing file on the RDS", id)
}

// ControllerListVolumeHealth implements csi.ControllerServer: the health of
// every volume disk on the RDS, paginated like ListVolumes (one file
// listing per directory on the page).
func (cs *ControllerServer) ControllerListVolumeHealth(ctx context.Context, req *csi.ControllerListVolumeHealthRequest) (*csi.ControllerListVolumeHealthResponse, error) {
	if err := validateMaxEntries(req.GetMaxEntries()); err != nil {
		return nil, err
	}
	if err := pageStart(req.GetStartingToken(), VolumeIDPrefix); err != nil {
		return nil, err
	}
	if err := cs.gate(); err != nil {
		return nil, err
	}
	vols, err := cs.cfg.RDS.ListVolumes(ctx, VolumeIDPrefix)
	if err != nil {
		return nil, rdsStatus(err, "ControllerListVolumeHealth", VolumeIDPrefix)
	}
	vols = slices.DeleteFunc(vols, func(v rds.Volume) bool { return !isManagedVolumeID(v.ID) })
	slices.SortFunc(vols, func(a, b rds.Volume) int { return strings.Compare(a.ID, b.ID) })
	page, next := paginate(vols, volumeIDOf, req.GetStartingToken(), req.GetMaxEntries())
	var dirs []string
	for _, v := range page {
		if d := path.Dir(v.FilePath); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	files, err := cs.dirFiles(ctx, dirs)
	if err != nil {
		return nil, rdsStatus(err, "ControllerListVolumeHealth: backing files", VolumeIDPrefix)
	}
	resp := &csi.ControllerListVolumeHealthResponse{NextToken: next, Entries: make([]*csi.VolumeHealth, 0, len(page))}
	for _, v := range page {
		resp.Entries = append(resp.Entries, &csi.VolumeHealth{VolumeId: v.ID, HealthStatuses: diskHealth(v, files)})
	}
	return resp, nil
}
