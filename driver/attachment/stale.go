package attachment

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/srvlab/rds-csi/metrics"
)

// StaleReason says why an attachment no longer counts. The values are the
// reason label of rds_csi_attachment_stale_released_total.
type StaleReason string

const (
	// NotStale: the node is present and healthy (or NotReady within the
	// grace period).
	NotStale StaleReason = ""
	// StaleNodeDeleted: the node is not in the (synced) cache or is being deleted.
	StaleNodeDeleted StaleReason = metrics.StaleReasonNodeDeleted
	// StaleOutOfService: the node carries node.kubernetes.io/out-of-service,
	// the operator's statement that it is shut down.
	StaleOutOfService StaleReason = metrics.StaleReasonOutOfService
	// StaleNotReady: the Ready condition has been False or Unknown for at
	// least the grace period.
	StaleNotReady StaleReason = metrics.StaleReasonNotReady
)

// action is the event action naming the reason (see events.go).
func (r StaleReason) action() string {
	switch r {
	case StaleNodeDeleted:
		return actionReleasePrefix + "NodeDeleted"
	case StaleOutOfService:
		return actionReleasePrefix + "OutOfService"
	default:
		return actionReleasePrefix + "NotReady"
	}
}

// describe is the human wording for event notes and errors.
func (r StaleReason) describe(grace time.Duration) string {
	switch r {
	case StaleNodeDeleted:
		return "node deleted"
	case StaleOutOfService:
		return "node tainted " + corev1.TaintNodeOutOfService
	case StaleNotReady:
		return "node NotReady for more than " + grace.String()
	}
	return "node healthy"
}

// staleness is the verdict on one node at one instant.
type staleness struct {
	Reason StaleReason
	// Until is set for a node that is NotReady but still within the grace
	// period: the instant it turns stale, so a recheck can be scheduled.
	Until time.Time
}

// nodeStaleness judges a node from the cache at time now. The order
// matters only for the reported reason: deletion beats the taint beats
// readiness. A node without a Ready condition (just registered) is not
// stale: the node lifecycle controller sets Unknown when it stops reporting.
func (c *Controller) nodeStaleness(nodeName string, now time.Time) staleness {
	obj, exists, err := c.nodeInformer.GetIndexer().GetByKey(nodeName)
	if err != nil || !exists {
		return staleness{Reason: StaleNodeDeleted}
	}
	return judgeNode(obj.(*corev1.Node), now, c.cfg.GracePeriod)
}

func judgeNode(n *corev1.Node, now time.Time, grace time.Duration) staleness {
	if n.DeletionTimestamp != nil {
		return staleness{Reason: StaleNodeDeleted}
	}
	if hasOutOfService(n) {
		return staleness{Reason: StaleOutOfService}
	}
	ready, since, ok := readyCondition(n)
	if !ok || ready {
		return staleness{}
	}
	if since.IsZero() {
		// No transition time: count from the node's creation, the earliest
		// moment it could have turned NotReady.
		since = n.CreationTimestamp.Time
	}
	staleAt := since.Add(grace)
	if !now.Before(staleAt) {
		return staleness{Reason: StaleNotReady}
	}
	return staleness{Until: staleAt}
}

// readyCondition returns whether the node is Ready, since when the
// condition has its current status, and whether the condition exists.
func readyCondition(n *corev1.Node) (ready bool, since time.Time, ok bool) {
	for i := range n.Status.Conditions {
		c := &n.Status.Conditions[i]
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue, c.LastTransitionTime.Time, true
		}
	}
	return false, time.Time{}, false
}

func hasOutOfService(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeOutOfService {
			return true
		}
	}
	return false
}
