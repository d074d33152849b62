package attachment

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/srvlab/rds-csi/driver"
	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/rds"
)

// The orphan report. Disks and backing files under the managed naming rule
// (driver.ManagedSlot) that belong to nothing of this driver in the cluster
// use capacity forever: a failed provision, a crash between two steps, a
// manual copy. The leader finds them on every resync and Reconnected (one
// workqueue item, orphanqueue.go), reports them (metrics, one event per
// orphan on the controller Pod) and, only with --orphan-delete, removes the
// ones that are provably unused.
//
// Belonging: a volume disk (and a content-source record of the volume)
// belongs to a PV of the driver with that handle, or to a VolumeAttachment
// naming it, or to a publish in flight. A snapshot disk belongs to a
// VolumeSnapshotContent of the driver with that handle, or to one still
// being cut from its source volume; without a usable VolumeSnapshotContent
// cache no snapshot disk is an orphan.
//
// Age is the RDS's own: the backing file's creation-time against the RDS
// clock, both read from the RDS, never the controller's "now". An object is
// an orphan only once it is older than the grace period; whatever may be
// the target of a copy still running (every backing file without a disk,
// snapshot disks, copied volumes and their records: a copy's file is dated
// from the copy's start, its disk appears at the end) must be older than
// the grace period plus the copy timeout. An object whose file the RDS does
// not list has no known age and is never an orphan.

// orphan is one finding.
type orphan struct {
	Kind     string // metrics.OrphanKindDisk or metrics.OrphanKindFile
	SlotKind driver.SlotKind
	Slot     string // the disk slot, or the file's name without .img
	Path     string // the backing file
	Bytes    int64
	Created  time.Time
	Age      time.Duration
	Exported bool // disks only
}

// key identifies an orphan across scans (events are sent once per key).
func (o orphan) key() string { return o.Kind + ":" + o.Slot + ":" + o.Path }

// orphanScan is the outcome of one scan.
type orphanScan struct {
	Now     time.Time // the RDS clock
	Orphans []orphan
}

// managedPrefixes are the slot prefixes listed; ListVolumes matches
// anywhere, keeps true prefixes, and driver.ManagedSlot decides.
var managedPrefixes = []string{driver.VolumeIDPrefix, driver.SnapshotIDPrefix, driver.SourceRecordPrefix}

// scanOrphans reads the RDS and the caches and returns the orphans.
func (c *Controller) scanOrphans(ctx context.Context) (orphanScan, error) {
	client := c.cfg.RDS
	now, err := client.Clock(ctx)
	if err != nil {
		return orphanScan{}, fmt.Errorf("reading the RDS clock: %w", err)
	}
	var disks []rds.Volume
	for _, p := range managedPrefixes {
		list, err := client.ListVolumes(ctx, p)
		if err != nil {
			return orphanScan{}, fmt.Errorf("listing disks %s*: %w", p, err)
		}
		disks = append(disks, list...)
	}
	pools := []string{rds.PoolOf(c.cfg.DefaultVolumePath)}
	addPool := func(p string) {
		if rds.ValidatePath(p) == nil && !slices.Contains(pools, rds.PoolOf(p)) {
			pools = append(pools, rds.PoolOf(p))
		}
	}
	for _, d := range disks {
		addPool(d.FilePath)
	}
	for _, o := range c.pvInformer.GetStore().List() {
		if p := pvFilePath(o); p != "" {
			addPool(p)
		}
	}
	created := map[string]rds.File{}
	for _, pool := range pools {
		files, err := client.ListFiles(ctx, "/"+pool)
		if err != nil {
			return orphanScan{}, fmt.Errorf("listing files of pool %s: %w", pool, err)
		}
		for _, f := range files {
			created[f.Path] = f
		}
	}

	own := c.ownership()
	scan := orphanScan{Now: now}
	used := map[string]bool{}
	copied := map[string]bool{} // volumes with a content-source record: made by a copy
	for _, d := range disks {
		used[d.FilePath] = true
		if kind, owner, _ := driver.ManagedSlot(d.ID); kind == driver.SlotSourceRecord {
			copied[owner] = true
		}
	}
	for _, d := range disks {
		kind, owner, source := driver.ManagedSlot(d.ID)
		if kind == "" || own.owned(kind, d.ID, owner, source) {
			continue
		}
		f, ok := created[d.FilePath]
		if !ok {
			continue // no known age
		}
		minAge := c.cfg.OrphanGracePeriod
		if kind != driver.SlotVolume || copied[owner] {
			minAge += c.cfg.CopyTimeout
		}
		if age := now.Sub(f.Created); age >= minAge {
			scan.Orphans = append(scan.Orphans, orphan{Kind: metrics.OrphanKindDisk, SlotKind: kind, Slot: d.ID, Path: d.FilePath,
				Bytes: d.SizeBytes, Created: f.Created, Age: age, Exported: d.Exported})
		}
	}
	for p, f := range created {
		if used[p] || !strings.HasSuffix(p, rds.BackingFileSuffix) {
			continue
		}
		slot := strings.TrimSuffix(path.Base(p), rds.BackingFileSuffix)
		kind, owner, source := driver.ManagedSlot(slot)
		if kind == "" || own.owned(kind, slot, owner, source) {
			continue
		}
		if age := now.Sub(f.Created); age >= c.cfg.OrphanGracePeriod+c.cfg.CopyTimeout {
			scan.Orphans = append(scan.Orphans, orphan{Kind: metrics.OrphanKindFile, SlotKind: kind, Slot: slot, Path: p,
				Bytes: f.SizeBytes, Created: f.Created, Age: age})
		}
	}
	slices.SortFunc(scan.Orphans, func(a, b orphan) int { return strings.Compare(a.key(), b.key()) })
	return scan, nil
}

// ownership answers "does anything of the driver in the cluster own this
// slot?" from the caches, read once per scan.
type ownership struct {
	c              *Controller
	snapHandles    map[string]bool
	pendingSources map[string]bool
	snapsKnown     bool
}

func (c *Controller) ownership() ownership {
	h, p, ok := c.snapshotOwners()
	return ownership{c: c, snapHandles: h, pendingSources: p, snapsKnown: ok}
}

func (o ownership) owned(kind driver.SlotKind, slot, owner, source string) bool {
	switch kind {
	case driver.SlotVolume, driver.SlotSourceRecord:
		return o.c.volumeOwned(owner)
	case driver.SlotSnapshot:
		return !o.snapsKnown || o.snapHandles[slot] || o.pendingSources[source]
	}
	return true
}

// volumeOwned: a PV of the driver, a VolumeAttachment or a publish in
// flight names the volume.
func (c *Controller) volumeOwned(volumeID string) bool {
	pvs := c.pvsOf(volumeID)
	if len(pvs) > 0 || len(c.vasOf(volumeID, pvs)) > 0 {
		return true
	}
	return len(c.pending.publishesOf(volumeID)) > 0
}
