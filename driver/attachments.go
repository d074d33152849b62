package driver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// ErrAttachedElsewhere: a publish would exceed the volume's attachment rule
// (one node; two for a MULTI_NODE_MULTI_WRITER block live migration). The
// controller answers FailedPrecondition, which the external-attacher retries
// with backoff until the other node lets go.
var ErrAttachedElsewhere = errors.New("volume is attached to another node")

// ErrAttachmentsNotReady: the attachment state cannot decide yet (e.g. its
// Kubernetes caches are not synced). The controller answers Unavailable, so
// the external-attacher retries instead of failing the attach.
var ErrAttachmentsNotReady = errors.New("attachment state not ready")

// MaxMultiNodeAttachments bounds MULTI_NODE_MULTI_WRITER block volumes: a
// KubeVirt live migration needs the source and the target node, no more.
const MaxMultiNodeAttachments = 2

// Attachments is the controller's view of which nodes a volume is published
// to. The controller calls Publish/Unpublish from ControllerPublishVolume /
// ControllerUnpublishVolume (under the volume's lock) and PublishedNodes for
// DeleteVolume, ListVolumes and ControllerGetVolume.
//
// The in-memory MemoryAttachments below is the basic implementation. A
// VolumeAttachment-informer-backed one replaces it in a cluster: it rebuilds
// the state from the API continuously, drops stale attachments (node gone or
// NotReady past a grace period, migration timeout) and must honour the same
// contract (stale attachments stop blocking Publish, but stay in
// PublishedNodes until unpublished). Implementations are safe for concurrent
// use.
type Attachments interface {
	// Publish records that nodeID uses volumeID. Publishing to a node that
	// already has it succeeds. multiNode is true for a
	// MULTI_NODE_MULTI_WRITER capability. When the rules forbid another
	// node the error wraps ErrAttachedElsewhere and names the holder.
	Publish(ctx context.Context, volumeID, nodeID string, multiNode bool) error
	// Unpublish forgets nodeID's use of volumeID; nodeID "" forgets every
	// node (CSI: an unpublish without node id is from all nodes). Unknown
	// volumes or nodes are success.
	Unpublish(ctx context.Context, volumeID, nodeID string) error
	// PublishedNodes returns every node the volume is published to, sorted;
	// empty when none. An attachment that no longer blocks a publish
	// elsewhere (stale: its node is gone, out of service or NotReady past a
	// grace period) is still listed until it is unpublished: the
	// external-attacher reconciles VolumeAttachments against this list, and
	// DeleteVolume must not remove a disk a node may still write. It must
	// not block on I/O.
	PublishedNodes(volumeID string) []string
	// Ready returns nil when PublishedNodes is complete, else an error
	// wrapping ErrAttachmentsNotReady (e.g. caches not synced yet: an empty
	// answer would only mean "not known yet"). It must not block on I/O.
	Ready() error
}

// MemoryAttachments keeps attachments in process memory: lost on restart,
// never stale-checked. Good for tests, csi-sanity and clusterless runs.
type MemoryAttachments struct {
	mu sync.Mutex
	// volumes: volume id → node id → whether that publish was multi-node.
	volumes map[string]map[string]bool
}

var _ Attachments = (*MemoryAttachments)(nil)

// NewMemoryAttachments returns an empty tracker.
func NewMemoryAttachments() *MemoryAttachments {
	return &MemoryAttachments{volumes: map[string]map[string]bool{}}
}

// Publish implements Attachments. A second node is admitted only when both
// the existing and the new publish are multi-node, up to
// MaxMultiNodeAttachments nodes.
func (m *MemoryAttachments) Publish(_ context.Context, volumeID, nodeID string, multiNode bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	nodes := m.volumes[volumeID]
	if _, ok := nodes[nodeID]; ok {
		nodes[nodeID] = multiNode
		return nil
	}
	if len(nodes) > 0 {
		others := sortedKeys(nodes)
		allMulti := multiNode
		for _, n := range others {
			allMulti = allMulti && nodes[n]
		}
		if !allMulti || len(nodes) >= MaxMultiNodeAttachments {
			return fmt.Errorf("%w: volume %s is published to node(s) %v", ErrAttachedElsewhere, volumeID, others)
		}
	}
	if nodes == nil {
		nodes = map[string]bool{}
		m.volumes[volumeID] = nodes
	}
	nodes[nodeID] = multiNode
	return nil
}

// Unpublish implements Attachments.
func (m *MemoryAttachments) Unpublish(_ context.Context, volumeID, nodeID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if nodeID == "" {
		delete(m.volumes, volumeID)
		return nil
	}
	delete(m.volumes[volumeID], nodeID)
	if len(m.volumes[volumeID]) == 0 {
		delete(m.volumes, volumeID)
	}
	return nil
}

// Ready implements Attachments: the in-memory state is always complete.
func (m *MemoryAttachments) Ready() error { return nil }

// PublishedNodes implements Attachments.
func (m *MemoryAttachments) PublishedNodes(volumeID string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sortedKeys(m.volumes[volumeID])
}

func sortedKeys(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}
