package driver

import (
	"context"
	"errors"
	"path"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/rds"
)

// Where the backing file of a disk is, for deletes. With the disk present
// its own file-path says. Without it (a retry after "/disk remove" went
// through and its answer was lost, or a disk removed by hand) the file can
// be anywhere this driver put it: under the default volume path, or under a
// StorageClass's custom volumePath that the id alone does not tell. Two
// sources name it: the cluster (the PV's volume context records the file
// path) and the RDS's own file list, read for files named <id>.img, the
// managed naming rule. Only files of that exact name are ever removed, so a
// file this driver did not create is never touched.

// backingFiles returns the files to remove with disk id: the disk's own
// when it exists (diskFound true), else the leftovers found for it.
func (cs *ControllerServer) backingFiles(ctx context.Context, op, id string, known []string) (files []string, diskFound bool, err error) {
	v, err := cs.cfg.RDS.GetVolume(ctx, id)
	switch {
	case err == nil && rds.ValidatePath(v.FilePath) == nil && path.Base(v.FilePath) == id+rds.BackingFileSuffix:
		return []string{v.FilePath}, true, nil
	case err == nil:
		// Not made by this driver or its predecessor: the RDS client only
		// removes <id>.img files, and guessing another file is how data
		// gets lost. An operator decides.
		return nil, true, status.Errorf(codes.FailedPrecondition, "disk %s has the backing file %q, not named %s%s; remove it by hand", id, v.FilePath, id, rds.BackingFileSuffix)
	case !errors.Is(err, rds.ErrNotFound):
		return nil, false, rdsStatus(err, op, id)
	}
	files, err = cs.leftoverFiles(ctx, op, id, known)
	return files, false, err
}

// leftoverFiles finds the files named <id>.img on the pools of the default
// volume path and of the known paths. known are the paths the cluster
// records for the volume: with any, only those are removed (another file of
// the same name elsewhere is left to the orphan report); without, a single
// file of that name is the volume's, and several are ambiguous (none is
// removed, the orphan report shows them).
func (cs *ControllerServer) leftoverFiles(ctx context.Context, op, id string, known []string) ([]string, error) {
	logger := cs.logger(ctx).WithValues("volumeID", id)
	name := id + rds.BackingFileSuffix
	var valid []string
	pools := []string{rds.PoolOf(cs.cfg.DefaultVolumePath)}
	for _, k := range known {
		if rds.ValidatePath(k) != nil || path.Base(k) != name {
			logger.Info("Ignoring a recorded backing file not named after the volume", "filePath", k)
			continue
		}
		valid = append(valid, k)
		if p := rds.PoolOf(k); !slices.Contains(pools, p) {
			pools = append(pools, p)
		}
	}
	var found []string
	for _, pool := range pools {
		list, err := cs.cfg.RDS.ListFiles(ctx, "/"+pool)
		if err != nil {
			return nil, rdsStatus(err, op+": looking for a leftover backing file", id)
		}
		for _, f := range list {
			if path.Base(f.Path) == name {
				found = append(found, f.Path)
			}
		}
	}
	slices.Sort(found)
	switch {
	case len(found) == 0:
		return nil, nil
	case len(valid) > 0:
		var out []string
		for _, f := range found {
			if slices.Contains(valid, f) {
				out = append(out, f)
			} else {
				logger.Info("Leaving a file of the volume's name that its PV does not name (see the orphan report)", "filePath", f)
			}
		}
		return out, nil
	case len(found) == 1:
		return found, nil
	default:
		logger.Info("Several files carry the volume's name and nothing tells which is its own: removing none (see the orphan report)", "files", found)
		return nil, nil
	}
}
