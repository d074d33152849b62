package driver

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/rds"
)

// bootMargin absorbs the whole-second rounding of RouterOS times and the
// round trip between the clock read and the uptime read (rds.BootTime).
const bootMargin = 3 * time.Second

// leftoverFile handles a create refused with "already exists" although the
// caller, holding the id's lock, saw no disk: the backing file at
// filePath (this request's own path, named by the pure id) exists without
// a disk. It is either the target of an earlier attempt's command still
// running on the RDS (its caller gave up; RouterOS did not), or the remains
// of one the RDS never finished (it restarted mid-command) or of an
// interrupted delete. The RDS's own times tell them apart, so the answer
// does not depend on this process's memory (a restarted driver decides as
// the old one would):
//   - a disk appeared meanwhile: the command finished, Aborted, the retry
//     collects it;
//   - the file was created before the RDS last started: no command
//     survives a restart, so it is dead;
//   - the file is older than the copy timeout, the longest one of our
//     commands may run (a plain add is bounded by it too, since RouterOS
//     does not stop it at our command timeout): dead;
//   - otherwise a command may still be writing it: Aborted, retry later.
//
// A dead file is removed (only filePath, never another file) and the answer
// is Aborted, so that the retry creates afresh. Every answer is retryable
// but one: an RDS that gives no creation time leaves the decision to an
// operator (FailedPrecondition).
func (cs *ControllerServer) leftoverFile(ctx context.Context, op, id, filePath string, cause error) error {
	logger := cs.logger(ctx).WithValues("volumeID", id, "filePath", filePath)
	if _, err := cs.cfg.RDS.GetVolume(ctx, id); err == nil {
		return status.Errorf(codes.Aborted, "%s %s: an earlier attempt's command created the disk meanwhile; retry to collect it", op, id)
	} else if !errors.Is(err, rds.ErrNotFound) {
		return rdsStatus(err, op, id)
	}
	if d, err := cs.cfg.RDS.DiskByFile(ctx, filePath); err == nil {
		// Another disk's file at the path this name needs: never ours to
		// touch.
		return status.Errorf(codes.FailedPrecondition, "%s %s: its backing file %s belongs to the disk %s; inspect it on the RDS", op, id, filePath, d.ID)
	} else if !errors.Is(err, rds.ErrNotFound) {
		return rdsStatus(err, op, id)
	}
	files, err := cs.cfg.RDS.ListFiles(ctx, path.Dir(filePath))
	if err != nil {
		return rdsStatus(err, op+": reading the backing file's creation time", id)
	}
	i := slices.IndexFunc(files, func(f rds.File) bool { return f.Path == filePath })
	if i < 0 {
		return status.Errorf(codes.Aborted, "%s %s: its backing file %s was there and is gone now; retry: %v", op, id, filePath, cause)
	}
	created := files[i].Created
	if created.IsZero() {
		return status.Errorf(codes.FailedPrecondition, "%s %s: its backing file %s exists without a disk and the RDS gives no creation time to tell an unfinished command from a dead one; inspect and remove it on the RDS: %v",
			op, id, filePath, cause)
	}
	dead, why, err := cs.deadFile(ctx, created, cs.cfg.CopyTimeout)
	if err != nil {
		return rdsStatus(err, op+": reading the RDS clock", id)
	}
	if !dead {
		return status.Errorf(codes.Aborted, "%s %s: its backing file %s exists without a disk: %s; retry later: %v", op, id, filePath, why, cause)
	}
	// A disk may have taken the file since the first look (a command
	// that finished just now is not dead after all).
	if d, err := cs.cfg.RDS.DiskByFile(ctx, filePath); err == nil {
		return status.Errorf(codes.Aborted, "%s %s: the disk %s took the file meanwhile; retry", op, id, d.ID)
	} else if !errors.Is(err, rds.ErrNotFound) {
		return rdsStatus(err, op, id)
	}
	if err := cs.cfg.RDS.RemoveFile(ctx, filePath); err != nil {
		return rdsStatus(err, op+": removing a dead command's backing file", id)
	}
	logger.Info("Removed a backing file left without its disk", "created", created, "reason", why)
	return status.Errorf(codes.Aborted, "%s %s: removed the backing file %s left without its disk (%s); retry to create it afresh", op, id, filePath, why)
}

// deadFile tells whether a file created at created (RDS time) can still be
// written by a running command: not when the RDS restarted after it, nor
// when it is older than maxAge. why says which, or what is awaited.
func (cs *ControllerServer) deadFile(ctx context.Context, created time.Time, maxAge time.Duration) (bool, string, error) {
	boot, err := cs.cfg.RDS.BootTime(ctx)
	if err != nil {
		return false, "", err
	}
	if !boot.IsZero() && created.Add(bootMargin).Before(boot) {
		return true, fmt.Sprintf("created %s, before the RDS last started at %s", created.Format(time.RFC3339), boot.Format(time.RFC3339)), nil
	}
	now, err := cs.cfg.RDS.Clock(ctx)
	if err != nil {
		return false, "", err
	}
	age := now.Sub(created)
	if age > maxAge {
		return true, fmt.Sprintf("created %s ago, longer than a command may run (%s)", age.Round(time.Second), maxAge), nil
	}
	return false, fmt.Sprintf("created %s ago: a command started earlier may still be writing it (taken for dead after %s, or once the RDS restarts)",
		age.Round(time.Second), maxAge), nil
}
