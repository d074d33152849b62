package attachment

import (
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// memo remembers which conditions have already been announced, so that an
// event and a counter fire once per episode instead of on every pass. It
// holds no decision state: losing it (restart, new leader) only repeats an
// announcement. An episode ends when a pass no longer sees the condition,
// so a node that recovers and fails again is announced again.
type memo struct {
	mu   sync.Mutex
	vols map[string]*volumeMemo
}

type volumeMemo struct {
	released  map[releaseKey]bool
	missing   bool   // VolumeMissingOnRDS announced
	migration string // the migration whose timeout was announced
}

type releaseKey struct {
	Node   string
	Reason StaleReason
}

func newMemo() *memo { return &memo{vols: map[string]*volumeMemo{}} }

func (m *memo) get(vol string) *volumeMemo {
	v := m.vols[vol]
	if v == nil {
		v = &volumeMemo{}
		m.vols[vol] = v
	}
	return v
}

// gc drops a volume's entry once it holds nothing.
func (m *memo) gc(vol string) {
	if v := m.vols[vol]; v != nil && len(v.released) == 0 && !v.missing && v.migration == "" {
		delete(m.vols, vol)
	}
}

// releases replaces the volume's set of stale attachments with current and
// returns those not announced before.
func (m *memo) releases(vol string, current []releaseKey) []releaseKey {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.get(vol)
	var fresh []releaseKey
	next := make(map[releaseKey]bool, len(current))
	for _, k := range current {
		if !v.released[k] {
			fresh = append(fresh, k)
		}
		next[k] = true
	}
	v.released = next
	m.gc(vol)
	return fresh
}

// setMissing records whether the volume is missing on the RDS and reports
// whether that is news.
func (m *memo) setMissing(vol string, missing bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.get(vol)
	news := missing && !v.missing
	v.missing = missing
	m.gc(vol)
	return news
}

// setMigration records the migration currently overdue ("" for none) and
// reports whether it had not been announced.
func (m *memo) setMigration(vol, key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.get(vol)
	news := key != "" && v.migration != key
	v.migration = key
	m.gc(vol)
	return news
}

// forget drops everything about a volume that has gone.
func (m *memo) forget(vol string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.vols, vol)
}

func migrationKey(mg migration) string {
	return mg.Target.Node + "@" + mg.Target.Since.UTC().Format(time.RFC3339Nano)
}

// warnMigrationTimeout announces an overdue migration once.
func (c *Controller) warnMigrationTimeout(logger klog.Logger, st *volumeState, mg migration, now time.Time) {
	if !c.memo.setMigration(st.ID, migrationKey(mg)) {
		return
	}
	c.emit(logger, st.regarding, nil, eventWarning, ReasonMigrationTimeout, actionPublish,
		"volume %s has been attached to nodes %s and %s for %s, longer than migrationTimeoutSeconds=%d "+
			"(second attachment on %s since %s): the live migration looks stuck; attaching to any other node is refused until one of them detaches",
		st.ID, mg.Source.Node, mg.Target.Node, now.Sub(mg.Target.Since).Round(time.Second),
		int(st.MigrationTimeout/time.Second), mg.Target.Node, mg.Target.Since.UTC().Format(time.RFC3339))
}
