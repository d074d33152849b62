package attachment

import (
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/srvlab/rds-csi/driver"
)

// attachment is one node's use of a volume, derived from a
// VolumeAttachment with attached=true or from a pending publish.
type attachment struct {
	Node string
	// Since is the VA's creation time (the start of a migration is measured
	// from it), or when a pending publish was accepted.
	Since time.Time
	// VA is nil for a pending publish.
	VA *storagev1.VolumeAttachment
	// SingleNode: known to be a single-node attachment (its PV has no
	// ReadWriteMany access mode, or it was published single-node). Unknown
	// counts as multi-node: the publish request then decides.
	SingleNode bool
	Stale      staleness
}

// volumeState is everything known about one volume at one instant. It is
// computed from the caches on every question and never stored.
type volumeState struct {
	ID string
	// PV is the volume's PV, nil for an inline volume or a PV not cached.
	PV *corev1.PersistentVolume
	// regarding is the object events about the volume refer to: its PV,
	// else one of its VAs; nil when neither exists.
	regarding *corev1.ObjectReference
	// Attachments, oldest first, one per node.
	Attachments []attachment
	// VAs counts the volume's VolumeAttachments, attached or not.
	VAs int
	// AttachedVAs: nodes whose VA says attached=true (masked or not).
	AttachedVAs []string
	// MigrationTimeout from the volume context, clamped.
	MigrationTimeout time.Duration
}

// derive builds a volume's state from the caches and the pending set.
func (c *Controller) derive(volumeID string, now time.Time) volumeState {
	st := volumeState{ID: volumeID, MigrationTimeout: time.Duration(driver.DefaultMigrationTimeout) * time.Second}
	pvs := c.pvsOf(volumeID)
	singleNodePV := false
	if len(pvs) > 0 {
		// Several PVs with one handle would be an operator's copy; the
		// oldest is the volume's own.
		slices.SortFunc(pvs, func(a, b *corev1.PersistentVolume) int {
			return a.CreationTimestamp.Compare(b.CreationTimestamp.Time)
		})
		st.PV = pvs[0]
		st.regarding = pvRef(st.PV)
		st.MigrationTimeout = migrationTimeout(st.PV.Spec.CSI.VolumeAttributes)
		singleNodePV = !slices.Contains(st.PV.Spec.AccessModes, corev1.ReadWriteMany)
	}
	vas := c.vasOf(volumeID, pvs)
	st.VAs = len(vas)
	attached := map[string]bool{}
	for _, va := range vas {
		if st.regarding == nil {
			st.regarding = vaRef(va)
			if in := va.Spec.Source.InlineVolumeSpec; in != nil && in.CSI != nil {
				st.MigrationTimeout = migrationTimeout(in.CSI.VolumeAttributes)
			}
		}
		if va.Status.Attached && va.Spec.NodeName != "" {
			attached[va.Spec.NodeName] = true
		}
	}
	pubs, masked := c.pending.view(volumeID, attached, now)

	byNode := map[string]int{}
	for _, va := range vas {
		node := va.Spec.NodeName
		if !va.Status.Attached || node == "" {
			continue
		}
		single := singleNodePV
		if in := va.Spec.Source.InlineVolumeSpec; in != nil {
			single = !slices.Contains(in.AccessModes, corev1.ReadWriteMany)
		}
		a := attachment{Node: node, Since: va.CreationTimestamp.Time, VA: va, SingleNode: single}
		if i, dup := byNode[node]; dup {
			if a.Since.Before(st.Attachments[i].Since) {
				st.Attachments[i] = a
			}
			continue
		}
		if masked[node] {
			continue
		}
		byNode[node] = len(st.Attachments)
		st.Attachments = append(st.Attachments, a)
	}
	for node := range attached {
		st.AttachedVAs = append(st.AttachedVAs, node)
	}
	slices.Sort(st.AttachedVAs)
	for node, p := range pubs {
		if _, dup := byNode[node]; dup {
			continue
		}
		byNode[node] = len(st.Attachments)
		st.Attachments = append(st.Attachments, attachment{Node: node, Since: p.Since, SingleNode: !p.MultiNode})
	}
	// Before the node cache is synced every node would look deleted:
	// nothing is stale then (Publish refuses to decide anyway).
	if c.synced.Load() {
		for i := range st.Attachments {
			st.Attachments[i].Stale = c.nodeStaleness(st.Attachments[i].Node, now)
		}
	}
	slices.SortFunc(st.Attachments, func(a, b attachment) int {
		if d := a.Since.Compare(b.Since); d != 0 {
			return d
		}
		return strings.Compare(a.Node, b.Node)
	})
	return st
}

// live returns the attachments that count, oldest first.
func (s *volumeState) live() []attachment {
	var out []attachment
	for _, a := range s.Attachments {
		if a.Stale.Reason == NotStale {
			out = append(out, a)
		}
	}
	return out
}

// vaNodes returns the nodes whose attachment comes from an attached
// VolumeAttachment (stale or not; not the ones just unpublished), sorted.
func (s *volumeState) vaNodes() []string {
	var out []string
	for _, a := range s.Attachments {
		if a.VA != nil {
			out = append(out, a.Node)
		}
	}
	slices.Sort(out)
	return out
}

func nodesOf(as []attachment) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Node
	}
	return out
}

// migration describes a multi-node volume with two live attachments: the
// second one (newest) must end within the migration timeout.
type migration struct {
	Source, Target attachment
	Deadline       time.Time
}

// migration reports the volume's migration, if two nodes hold it.
func (s *volumeState) migration() (migration, bool) {
	live := s.live()
	if len(live) < 2 {
		return migration{}, false
	}
	src, tgt := live[len(live)-2], live[len(live)-1]
	if src.SingleNode || tgt.SingleNode {
		return migration{}, false // two nodes on a single-node volume is no migration
	}
	return migration{Source: src, Target: tgt, Deadline: tgt.Since.Add(s.MigrationTimeout)}, true
}

// migrationTimeout reads migrationTimeoutSeconds from a volume context:
// default when absent or not a number (a PV is not the place to reject
// it), clamped to [30 s, 1 h] like the StorageClass parameter.
func migrationTimeout(attrs map[string]string) time.Duration {
	n := driver.DefaultMigrationTimeout
	if v, ok := attrs[driver.CtxMigrationTimeout]; ok {
		if parsed, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			n = min(max(parsed, driver.MinMigrationTimeout), driver.MaxMigrationTimeout)
		}
	}
	return time.Duration(n) * time.Second
}
