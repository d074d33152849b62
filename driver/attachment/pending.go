package attachment

import (
	"sync"
	"time"
)

// pendingSet bridges the short gap between a CSI call and the
// VolumeAttachment status that reflects it: the external-attacher writes
// attached=true only after ControllerPublish returned, and attached=false
// (or deletes the VA) only after ControllerUnpublish returned. Without it
// two concurrent publishes to different nodes could both be accepted, and
// a volume just unpublished would still look attached. Entries expire
// (Config.InFlightTTL) and are pruned as soon as the cache catches up, so
// this is never the only truth: losing it on restart costs at most one
// retried publish.
type pendingSet struct {
	mu sync.Mutex
	// publishes: volume → node → an accepted publish whose VA is not
	// (yet) attached in the cache.
	publishes map[string]map[string]pendingPublish
	// unpublishes: volume → node → expiry of a successful unpublish whose
	// VA still shows attached=true in the cache.
	unpublishes map[string]map[string]time.Time
}

type pendingPublish struct {
	Since     time.Time
	Expires   time.Time
	MultiNode bool
}

func newPendingSet() *pendingSet {
	return &pendingSet{
		publishes:   map[string]map[string]pendingPublish{},
		unpublishes: map[string]map[string]time.Time{},
	}
}

// addPublish records an accepted publish (and cancels an unpublish mark for
// the same node: the node wants the volume again).
func (p *pendingSet) addPublish(volume, node string, now time.Time, ttl time.Duration, multiNode bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	deleteNested(p.unpublishes, volume, node)
	m := p.publishes[volume]
	if m == nil {
		m = map[string]pendingPublish{}
		p.publishes[volume] = m
	}
	since := now
	if old, ok := m[node]; ok {
		since = old.Since // a retried publish is the same attachment
	}
	m[node] = pendingPublish{Since: since, Expires: now.Add(ttl), MultiNode: multiNode}
}

// addUnpublish forgets the pending publishes of the nodes and masks their
// VAs until the cache shows them detached.
func (p *pendingSet) addUnpublish(volume string, nodes []string, now time.Time, ttl time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.unpublishes[volume]
	if m == nil {
		m = map[string]time.Time{}
		p.unpublishes[volume] = m
	}
	for _, n := range nodes {
		deleteNested(p.publishes, volume, n)
		m[n] = now.Add(ttl)
	}
}

// view returns the live pending publishes of a volume and the masked
// nodes, pruning what expired or what the cache now shows: a publish whose
// VA is attached, an unpublish whose VA is gone or detached.
func (p *pendingSet) view(volume string, attachedVA map[string]bool, now time.Time) (map[string]pendingPublish, map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pubs map[string]pendingPublish
	for node, pp := range p.publishes[volume] {
		if !now.Before(pp.Expires) || attachedVA[node] {
			deleteNested(p.publishes, volume, node)
			continue
		}
		if pubs == nil {
			pubs = map[string]pendingPublish{}
		}
		pubs[node] = pp
	}
	var masked map[string]bool
	for node, exp := range p.unpublishes[volume] {
		if !now.Before(exp) || !attachedVA[node] {
			deleteNested(p.unpublishes, volume, node)
			continue
		}
		if masked == nil {
			masked = map[string]bool{}
		}
		masked[node] = true
	}
	return pubs, masked
}

// dropPublish forgets one pending publish (its node turned stale).
func (p *pendingSet) dropPublish(volume, node string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	deleteNested(p.publishes, volume, node)
}

// volumesOnNode lists the volumes with a pending publish on the node.
func (p *pendingSet) volumesOnNode(node string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for vol, m := range p.publishes {
		if _, ok := m[node]; ok {
			out = append(out, vol)
		}
	}
	return out
}

func deleteNested[V any](m map[string]map[string]V, outer, inner string) {
	if in, ok := m[outer]; ok {
		delete(in, inner)
		if len(in) == 0 {
			delete(m, outer)
		}
	}
}

// publishesOf lists the nodes with a pending publish of the volume.
func (p *pendingSet) publishesOf(volume string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for node := range p.publishes[volume] {
		out = append(out, node)
	}
	return out
}
