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

// What an existing volume was created from, for CreateVolume retries: its
// directory (from its disk's backing file) and its content source (from its
// records, volumenames.go). The caller holds the volume's lock.

// sourceRecords returns the source hashes recorded for volumeID, and the
// record disks themselves.
func (cs *ControllerServer) sourceRecords(ctx context.Context, volumeID string) (map[string]rds.Volume, error) {
	prefix := sourceRecordListPrefix(volumeID)
	disks, err := cs.cfg.RDS.ListVolumes(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := map[string]rds.Volume{}
	for _, d := range disks {
		if vol, hash, ok := parseSourceRecord(d.ID); ok && vol == volumeID {
			out[hash] = d
		}
	}
	return out, nil
}

// sameOrigin answers AlreadyExists unless the existing volume was made in
// volumePath from the request's content source (or from none, for none).
func (cs *ControllerServer) sameOrigin(ctx context.Context, existing rds.Volume, volumePath string, src *csi.VolumeContentSource) error {
	if dir := path.Dir(existing.FilePath); dir != volumePath {
		return status.Errorf(codes.AlreadyExists, "volume %s exists with its backing file in %s; the request asks for volumePath %s",
			existing.ID, dir, volumePath)
	}
	records, err := cs.sourceRecords(ctx, existing.ID)
	if err != nil {
		return rdsStatus(err, "CreateVolume: content-source records", existing.ID)
	}
	key := sourceKey(src)
	switch {
	case key == "" && len(records) > 0:
		return status.Errorf(codes.AlreadyExists, "volume %s exists and was created from a content source; the request has none", existing.ID)
	case key != "" && len(records) == 0:
		return status.Errorf(codes.AlreadyExists, "volume %s exists and was created without a content source (or before content sources were recorded); the request asks for %s",
			existing.ID, key)
	case key != "":
		if _, ok := records[sourceHash(key)]; !ok {
			return status.Errorf(codes.AlreadyExists, "volume %s exists and was created from another content source than %s", existing.ID, key)
		}
	}
	return nil
}

// recordSource adds the record "volumeID is made from key" in dir before
// the copy starts, so that a volume whose disk exists always has its record
// (a disk without one was created empty). A record for another source, with
// no disk yet, is an earlier attempt under the same name whose copy may
// still run on the RDS: AlreadyExists, as for a finished volume.
func (cs *ControllerServer) recordSource(ctx context.Context, volumeID, dir, key string) error {
	records, err := cs.sourceRecords(ctx, volumeID)
	if err != nil {
		return rdsStatus(err, "CreateVolume: content-source records", volumeID)
	}
	want := sourceHash(key)
	if _, ok := records[want]; ok {
		return nil // a retry of this very request
	}
	if len(records) > 0 {
		return status.Errorf(codes.AlreadyExists, "an earlier CreateVolume of volume %s used another content source (its record is on the RDS, "+
			"prefix %s): the same name cannot be created from %s", volumeID, sourceRecordListPrefix(volumeID), key)
	}
	req := rds.CreateVolumeRequest{ID: sourceRecordID(volumeID, key), FilePath: rds.FilePathFor(dir, sourceRecordID(volumeID, key)), SizeBytes: sourceRecordBytes}
	_, err = cs.cfg.RDS.CreateVolume(ctx, req)
	if errors.Is(err, rds.ErrAlreadyExists) {
		// Our lookup saw no record; the record's name holds the source's
		// hash, so a disk by that name now is this very record, made by an
		// earlier attempt's add that outlived its caller.
		_, gerr := cs.cfg.RDS.GetVolume(ctx, req.ID)
		switch {
		case gerr == nil:
			return nil
		case !errors.Is(gerr, rds.ErrNotFound):
			return rdsStatus(gerr, "CreateVolume: content-source record", req.ID)
		}
		// Its file without its disk: an add still running, or the remains
		// of one (or of an interrupted delete).
		return cs.leftoverFile(ctx, "CreateVolume: content-source record", req.ID, req.FilePath, err)
	}
	if err != nil {
		return rdsStatus(err, "CreateVolume: content-source record", req.ID)
	}
	cs.logger(ctx).V(2).Info("Recorded the content source", "volumeID", volumeID, "record", req.ID, "source", key)
	return nil
}

// deleteSourceRecords removes every record of a deleted volume: the record
// disks with their files, then record files left without their disk by an
// interrupted earlier delete (found in dirs, the directories the volume's
// files were in, and the default volume path).
func (cs *ControllerServer) deleteSourceRecords(ctx context.Context, volumeID string, dirs []string) error {
	records, err := cs.sourceRecords(ctx, volumeID)
	if err != nil {
		return err
	}

	for _, d := range records {
		if !strings.HasSuffix(d.FilePath, "/"+d.ID+rds.BackingFileSuffix) {
			cs.logger(ctx).Info("Content-source record with a backing file of another name: left for an operator", "record", d.ID, "filePath", d.FilePath)
			continue
		}
		if err := cs.cfg.RDS.DeleteVolume(ctx, d.ID, d.FilePath); err != nil {
			return err
		}
	}
	return cs.deleteSourceRecordFiles(ctx, volumeID, dirs)
}

// deleteSourceRecordFiles removes files named like a record of volumeID
// (vsrc-<volumeID>-<hash>.img) that no disk uses: only names this driver
// gives its records, only for this volume.
func (cs *ControllerServer) deleteSourceRecordFiles(ctx context.Context, volumeID string, dirs []string) error {
	seen := map[string]bool{}
	for _, dir := range append(dirs, cs.cfg.DefaultVolumePath) {
		if seen[dir] || rds.ValidateVolumePath(dir) != nil {
			continue
		}
		seen[dir] = true
		files, err := cs.cfg.RDS.ListFiles(ctx, dir)
		if err != nil {
			return err
		}
		for _, f := range files {
			if path.Dir(f.Path) != dir {
				continue
			}
			slot, ok := strings.CutSuffix(path.Base(f.Path), rds.BackingFileSuffix)
			if vol, _, isRecord := parseSourceRecord(slot); !ok || !isRecord || vol != volumeID {
				continue
			}
			// DeleteVolume: the disk (absent, normally) and then the file.
			if err := cs.cfg.RDS.DeleteVolume(ctx, slot, f.Path); err != nil {
				return err
			}
			cs.logger(ctx).Info("Removed a content-source record file left without its disk", "volumeID", volumeID, "filePath", f.Path)
		}
	}
	return nil
}
