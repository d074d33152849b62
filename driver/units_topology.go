package driver

import (
	"maps"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// Topology. A unit's topology is a set of segments (key → value) that a node
// must have to reach it; a unit without one is reachable from every node.
// A node reports the segments it reaches (NodeGetInfo); the external-
// provisioner passes node segments as accessibility requirements and the
// unit's segments come back as the volume's accessible_topology.

// ParamRDS is the StorageClass (and GetCapacity) parameter pinning an RDS
// unit by name.
const ParamRDS = "rds"

// topology returns a copy of the unit's segments.
func (u *unit) topology() map[string]string { return maps.Clone(u.Topology) }

// reachableFrom reports whether a node with segments t reaches the unit:
// every segment of the unit is among t's.
func (u *unit) reachableFrom(t *csi.Topology) bool {
	for k, v := range u.Topology {
		if t.GetSegments()[k] != v {
			return false
		}
	}
	return true
}

// reachableFromAny: no topologies means no constraint.
func (u *unit) reachableFromAny(ts []*csi.Topology) bool {
	if len(ts) == 0 {
		return true
	}
	for _, t := range ts {
		if u.reachableFrom(t) {
			return true
		}
	}
	return false
}
