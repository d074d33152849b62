package driver

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/rds"
)

// copyInFlight answers Aborted while this process still copies into id: a
// retry must neither start a second copy nor report a copy that has not
// finished. Call it before looking at the RDS.
func (cs *ControllerServer) copyInFlight(op, id string) error {
	if c := cs.copies.get(id); c != nil && !c.finished() {
		return status.Errorf(codes.Aborted, "%s %s: the copy from %s started %s ago is still running; retry later",
			op, id, c.source, cs.now().Sub(c.started).Round(time.Second))
	}
	return nil
}

// createCopy creates the disk req describes (req.CopyFrom set) through the
// copy tracker and returns it once the copy has finished. The caller holds
// the request's lock and saw no disk req.ID on the RDS. A caller whose
// deadline ends first gets a retryable error; the copy goes on, and the
// retry collects its result.
func (cs *ControllerServer) createCopy(ctx context.Context, op string, req rds.CreateVolumeRequest) (rds.Volume, error) {
	logger := cs.logger(ctx).WithValues("copyInto", req.ID, "copyFrom", req.CopyFrom)
	if prev := cs.copies.get(req.ID); prev != nil {
		// Finished (copyInFlight let us through): a success would have
		// shown as the disk, so this is a failure nobody collected. Try
		// again; its error was answered to the caller that waited, or is
		// logged now.
		cs.copies.collect(req.ID, prev)
		if prev.err != nil {
			logger.V(2).Info("Retrying a copy that failed earlier", "err", prev.err)
		}
	}
	c := cs.copies.start(ctx, req.ID, req.CopyFrom, func(ctx context.Context) (rds.Volume, error) {
		return cs.cfg.RDS.CreateVolume(ctx, req)
	})
	v, err, ok := cs.copies.wait(ctx, c)
	if !ok {
		logger.V(2).Info("Caller stopped waiting; the copy continues and the retry collects it")
		code := codes.DeadlineExceeded
		if errors.Is(ctx.Err(), context.Canceled) {
			code = codes.Canceled
		}
		return rds.Volume{}, status.Errorf(code, "%s %s: the copy from %s continues on the RDS; retry to collect it", op, req.ID, req.CopyFrom)
	}
	cs.copies.collect(req.ID, c)
	if errors.Is(err, rds.ErrAlreadyExists) {
		// The target's file without its disk and no copy of ours into it.
		return rds.Volume{}, cs.leftoverFile(ctx, op, req.ID, req.FilePath, err)
	}
	if err != nil {
		return rds.Volume{}, rdsStatus(err, op, req.ID)
	}
	return v, nil
}
