package attachment

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/rds"
)

// errNotConnected is the requeue reason while the connection FSM is not
// Connected: the RDS is not asked at all then.
var errNotConnected = errors.New("the RDS is not connected")

// outcome is what one reconcile of a volume did.
type outcome struct {
	result string // metrics.Reconcile*
	err    error  // why, for requeue and error
	// recheck > 0 asks for another pass after that delay (a deadline).
	recheck time.Duration

	attachments    int // attached VolumeAttachments
	released       int // stale attachments newly released
	exportRepaired bool
	missing        bool
}

// sync reconciles one volume: announce stale attachments, watch migration
// deadlines, check the RDS. It never writes to the Kubernetes API except
// events; VolumeAttachments belong to the attach/detach controller and the
// external-attacher.
func (c *Controller) sync(ctx context.Context, t *term, volumeID string) outcome {
	logger := klog.FromContext(ctx)
	now := c.clock.Now()
	st := c.derive(volumeID, now)
	o := outcome{result: metrics.ReconcileSuccess, attachments: len(st.vaNodes())}
	if st.PV == nil && st.VAs == 0 && len(st.Attachments) == 0 {
		c.memo.forget(volumeID) // the volume is gone
		return o
	}

	var next time.Time
	soonest := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}

	// Stale attachments already stopped counting when they turned stale
	// (derive judges at every question); here they are announced, once.
	var stale []releaseKey
	for _, a := range st.Attachments {
		switch {
		case a.Stale.Reason != NotStale && a.VA == nil:
			// A pending publish to a dead node: just forget it.
			c.pending.dropPublish(volumeID, a.Node)
		case a.Stale.Reason != NotStale:
			stale = append(stale, releaseKey{Node: a.Node, Reason: a.Stale.Reason})
		case !a.Stale.Until.IsZero():
			soonest(a.Stale.Until)
		}
	}
	for _, k := range c.memo.releases(volumeID, stale) {
		o.released++
		c.cfg.Metrics.StaleReleased.WithLabelValues(string(k.Reason)).Inc()
		c.emit(logger.WithValues("nodeID", k.Node), st.regarding, nodeRef(k.Node), eventWarning,
			ReasonStaleAttachmentReleased, k.Reason.action(),
			"attachment of volume %s to node %s released: %s; the volume may now be attached to another node "+
				"(the VolumeAttachment is left to the attach/detach controller)",
			volumeID, k.Node, k.Reason.describe(c.cfg.GracePeriod))
	}

	if mg, ok := st.migration(); ok {
		if now.Before(mg.Deadline) {
			soonest(mg.Deadline)
		} else {
			c.warnMigrationTimeout(logger, &st, mg, now)
		}
	} else {
		c.memo.setMigration(volumeID, "")
	}
	if !next.IsZero() {
		o.recheck = max(next.Sub(now), time.Millisecond)
	}

	c.checkRDS(ctx, t, &st, &o)
	return o
}

// checkRDS makes sure an attached volume exists on the RDS and is exported.
// Only volumes with an attached VolumeAttachment are checked (stale ones
// included: the volume is about to be attached elsewhere and needs its
// export); a pending publish is ControllerPublish's own business, and a
// volume just unpublished is no longer this check's concern.
func (c *Controller) checkRDS(ctx context.Context, t *term, st *volumeState, o *outcome) {
	attachedTo := st.vaNodes()
	// Ids of no unit (outside the managed prefix) are never sent to an RDS
	// by a volume operation (driver/volumeid.go); the reconciler follows
	// suit.
	u, slot, ok := c.resolve(st.ID)
	if len(attachedTo) == 0 || !ok {
		if len(c.units) == 0 || len(attachedTo) == 0 {
			c.memo.setMissing(st.ID, false)
		}
		return
	}
	if !u.Connected() {
		o.result, o.err = metrics.ReconcileRequeue, errNotConnected
		return
	}
	logger := klog.FromContext(ctx)
	nodes := strings.Join(attachedTo, ", ")

	vol, err := c.rdsVolume(ctx, t, u, slot)
	switch {
	case errors.Is(err, rds.ErrNotFound):
		o.missing = true
		if c.memo.setMissing(st.ID, true) {
			c.cfg.Metrics.VolumesMissing.Inc()
			c.emit(logger, st.regarding, nil, eventWarning, ReasonVolumeMissingOnRDS, actionCheckRDS,
				"volume %s is attached to node(s) %s but does not exist on the RDS; its data is not reachable", st.ID, nodes)
		}
		return
	case err != nil:
		c.rdsFailure(o, fmt.Errorf("reading volume %s from the RDS: %w", st.ID, err))
		return
	}
	c.memo.setMissing(st.ID, false)
	if vol.Exported {
		return
	}
	if err := u.RDS.SetExport(ctx, slot, true); err != nil {
		c.rdsFailure(o, fmt.Errorf("restoring the NVMe/TCP export of %s: %w", st.ID, err))
		return
	}
	o.exportRepaired = true
	c.cfg.Metrics.ExportsRestored.Inc()
	c.emit(logger, st.regarding, nil, eventNormal, ReasonExportRestored, actionRestoreExport,
		"NVMe/TCP export of volume %s was off while attached to node(s) %s; turned it back on", st.ID, nodes)
}

// rdsFailure classifies an RDS error: unreachable → requeue, else error.
// Both are retried with backoff; neither is dropped.
func (c *Controller) rdsFailure(o *outcome, err error) {
	o.err = err
	if errors.Is(err, rds.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		o.result = metrics.ReconcileRequeue
		return
	}
	o.result = metrics.ReconcileError
}
