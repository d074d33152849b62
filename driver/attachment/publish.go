package attachment

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/driver"
)

// The Controller is the cluster-backed driver.Attachments: every answer is
// derived from the informer caches at the moment of the question, so a
// stale attachment stops blocking as soon as it is stale, whether or not a
// reconcile worker has run (or this replica leads).
var _ driver.Attachments = (*Controller)(nil)

// ErrNotSynced is returned by Publish, NodeExists and Ready before Start has
// synced the caches: a decision from a half-filled cache would see live
// nodes as deleted. It wraps driver.ErrAttachmentsNotReady, which the
// controller answers with Unavailable (the external-attacher retries).
var ErrNotSynced = fmt.Errorf("%w: not synced with the Kubernetes API yet", driver.ErrAttachmentsNotReady)

// Attachments returns the driver.Attachments to hand to the CSI controller
// service: the Controller itself, or for a nil (disabled) Controller the
// driver's in-memory tracker.
func (c *Controller) Attachments() driver.Attachments {
	if c == nil {
		return driver.NewMemoryAttachments()
	}
	return c
}

// Publish implements driver.Attachments.
//
// Rules: the same node again succeeds. Otherwise the live (non-stale)
// attachments on other nodes decide: none → accepted; single-node publish →
// refused naming them; multi-node (MULTI_NODE_MULTI_WRITER block, KubeVirt
// live migration) → accepted as the second node if the other one is also
// multi-node, refused beyond driver.MaxMultiNodeAttachments; a refusal while
// a migration has outlived its migrationTimeoutSeconds says so and raises a
// MigrationTimeout Warning on the PV. Refusals wrap driver.ErrAttachedElsewhere.
func (c *Controller) Publish(ctx context.Context, volumeID, nodeID string, multiNode bool) error {
	if !c.synced.Load() {
		return ErrNotSynced
	}
	logger := klog.FromContext(ctx).WithValues("volumeID", volumeID, "nodeID", nodeID)

	// One decision at a time: derive-then-record must be atomic, or two
	// concurrent publishes to different nodes would both see a free volume.
	c.publishMu.Lock()
	defer c.publishMu.Unlock()

	now := c.clock.Now()
	st := c.derive(volumeID, now)
	var others []attachment
	for _, a := range st.Attachments {
		if a.Node == nodeID {
			// Idempotent: the node has it already (even if the node looks
			// stale: it is the one asking, so it is evidently alive). A
			// pending publish gets its TTL refreshed.
			if a.VA == nil {
				c.pending.addPublish(volumeID, nodeID, now, c.cfg.InFlightTTL, multiNode)
			}
			logger.V(4).Info("Publish: already attached to this node")
			return nil
		}
		if a.Stale.Reason == NotStale {
			others = append(others, a)
		} else {
			logger.V(2).Info("Publish: ignoring stale attachment", "staleNode", a.Node, "reason", a.Stale.Reason)
		}
	}

	if err := c.admit(logger, &st, others, nodeID, multiNode, now); err != nil {
		logger.V(2).Info("Publish refused", "err", err.Error())
		return err
	}
	c.pending.addPublish(volumeID, nodeID, now, c.cfg.InFlightTTL, multiNode)
	logger.V(2).Info("Publish accepted", "otherNodes", nodesOf(others), "multiNode", multiNode)
	return nil
}

// admit applies the attachment rules to a publish on a new node.
func (c *Controller) admit(logger klog.Logger, st *volumeState, others []attachment, nodeID string, multiNode bool, now time.Time) error {
	if len(others) == 0 {
		return nil
	}
	if !multiNode {
		return fmt.Errorf("%w: volume %s is attached to node %s%s", driver.ErrAttachedElsewhere,
			st.ID, strings.Join(nodesOf(others), ", "), c.staleHints(others, now))
	}
	for _, a := range others {
		if a.SingleNode {
			return fmt.Errorf("%w: volume %s is attached single-node to node %s%s", driver.ErrAttachedElsewhere,
				st.ID, a.Node, c.staleHints(others, now))
		}
	}
	if len(others) < driver.MaxMultiNodeAttachments {
		return nil // the second node: a live migration starts
	}
	if m, ok := st.migration(); ok && !now.Before(m.Deadline) {
		c.warnMigrationTimeout(logger, st, m, now)
		return fmt.Errorf("%w: volume %s: the live migration from node %s to node %s exceeded migrationTimeoutSeconds=%d "+
			"(second attachment since %s); refusing node %s until one of them detaches",
			driver.ErrAttachedElsewhere, st.ID, m.Source.Node, m.Target.Node, int(st.MigrationTimeout/time.Second),
			m.Target.Since.UTC().Format(time.RFC3339), nodeID)
	}
	return fmt.Errorf("%w: volume %s is attached to nodes %s (a live migration; at most %d nodes)%s",
		driver.ErrAttachedElsewhere, st.ID, strings.Join(nodesOf(others), ", "), driver.MaxMultiNodeAttachments,
		c.staleHints(others, now))
}

// staleHints tells the operator when a blocking NotReady node will stop
// blocking, so a refusal reads as "wait" rather than "stuck".
func (c *Controller) staleHints(others []attachment, now time.Time) string {
	var hints []string
	for _, a := range others {
		if !a.Stale.Until.IsZero() {
			hints = append(hints, fmt.Sprintf("node %s is NotReady and is released in %s if it stays so",
				a.Node, a.Stale.Until.Sub(now).Round(time.Second)))
		}
	}
	if len(hints) == 0 {
		return ""
	}
	return " (" + strings.Join(hints, "; ") + ")"
}

// Unpublish implements driver.Attachments. It never fails: a node or a
// volume that no longer exists has nothing to let go of. nodeID "" means
// every node.
func (c *Controller) Unpublish(ctx context.Context, volumeID, nodeID string) error {
	c.publishMu.Lock()
	defer c.publishMu.Unlock()
	now := c.clock.Now()
	nodes := []string{nodeID}
	if nodeID == "" {
		st := c.derive(volumeID, now)
		nodes = append(nodesOf(st.Attachments), st.AttachedVAs...)
	}
	c.pending.addUnpublish(volumeID, nodes, now, c.cfg.InFlightTTL)
	klog.FromContext(ctx).V(2).Info("Unpublished", "volumeID", volumeID, "nodeID", nodeID)
	return nil
}

// Ready implements driver.Attachments: ErrNotSynced until Start has synced
// the caches, when PublishedNodes could take a live attachment for none.
func (c *Controller) Ready() error {
	if !c.synced.Load() {
		return ErrNotSynced
	}
	return nil
}

// PublishedNodes implements driver.Attachments: every node the volume is
// published to, sorted, stale attachments included. It reads only caches.
//
// Staleness only decides whether an attachment blocks a publish elsewhere
// (Publish); the volume stays published to the stale node until that is
// undone (ControllerUnpublish, or its VolumeAttachment detached or gone).
// This is what the external-attacher compares with status.attached every
// --reconcile-sync: leaving a stale node out would read as "detached
// behind my back" and make it re-publish the VolumeAttachment over and over
// (and fail with NotFound for a deleted node). DeleteVolume refuses while
// the list is not empty: a NotReady node may still write.
func (c *Controller) PublishedNodes(volumeID string) []string {
	st := c.derive(volumeID, c.clock.Now())
	nodes := nodesOf(st.Attachments)
	slices.Sort(nodes)
	return slices.Compact(nodes)
}

// NodeExists reports whether a CSI node id (the Kubernetes node name, as
// NodeGetInfo reports it) names a node in the synced cache: the
// driver.ControllerConfig.NodeExists hook, answered without I/O. The nil
// (disabled) Controller knows no nodes and says yes to all.
func (c *Controller) NodeExists(_ context.Context, nodeID string) (bool, error) {
	if c == nil {
		return true, nil
	}
	if !c.synced.Load() {
		return false, ErrNotSynced
	}
	_, ok, err := c.nodeInformer.GetIndexer().GetByKey(nodeID)
	return ok, err
}
