package attachment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/driver"
	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/rds"
)

// What the orphan report does with a scan: metrics, one event per orphan
// (while it stays an orphan; again if it comes back), and with
// --orphan-delete the removal of what is provably unused. Never removed:
// a disk whose NVMe/TCP export is on (the RDS shows no connected hosts, so
// an export may be in use by a host outside the cluster's knowledge: an
// operator turns it off first), anything owned again by the time of the
// removal (re-checked from the caches and the RDS right before), and any
// file that is not named <slot>.img.

// orphanMemo remembers the orphans already announced.
type orphanMemo struct {
	mu        sync.Mutex
	announced map[string]bool
}

// fresh replaces the set with the scan's and returns the orphans not
// announced before.
func (m *orphanMemo) fresh(found []orphan) []orphan {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := make(map[string]bool, len(found))
	var out []orphan
	for _, o := range found {
		if !m.announced[o.key()] {
			out = append(out, o)
		}
		next[o.key()] = true
	}
	m.announced = next
	return out
}

// orphanAction is the event action of one orphan: events.k8s.io keeps only
// the first note of events that share reason, action and objects, so each
// orphan gets its own action.
func orphanAction(verb string, o orphan) string {
	sum := sha256.Sum256([]byte(o.key()))
	return verb + "-" + hex.EncodeToString(sum[:])[:16]
}

// syncOrphans is the orphan queue's work: scan, report, and remove when
// allowed. An error requeues the scan with backoff.
func (c *Controller) syncOrphans(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("orphans")
	if c.cfg.RDS == nil {
		return nil
	}
	if !c.cfg.Connected() {
		c.cfg.OrphanMetrics.Scans.WithLabelValues(metrics.OrphanScanRequeue).Inc()
		return errNotConnected
	}
	scan, err := c.scanOrphans(ctx)
	if err != nil {
		result := metrics.OrphanScanError
		if errors.Is(err, rds.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			result = metrics.OrphanScanRequeue
		}
		c.cfg.OrphanMetrics.Scans.WithLabelValues(result).Inc()
		return err
	}
	var disks, files int
	var bytes int64
	for _, o := range scan.Orphans {
		if o.Kind == metrics.OrphanKindDisk {
			disks++
		} else {
			files++
		}
		bytes += o.Bytes
	}
	c.cfg.OrphanMetrics.Disks.Set(float64(disks))
	c.cfg.OrphanMetrics.Files.Set(float64(files))
	c.cfg.OrphanMetrics.Bytes.Set(float64(bytes))
	for _, o := range c.orphans.fresh(scan.Orphans) {
		c.announceOrphan(logger, o)
	}
	logger.V(2).Info("Orphan scan", "rdsClock", scan.Now, "orphanDisks", disks, "orphanFiles", files, "bytes", bytes, "delete", c.cfg.OrphanDelete)
	if c.cfg.OrphanDelete {
		for _, o := range scan.Orphans {
			if err := c.deleteOrphan(ctx, logger, o); err != nil {
				c.cfg.OrphanMetrics.Scans.WithLabelValues(metrics.OrphanScanError).Inc()
				return fmt.Errorf("removing orphan %s %s: %w", o.Kind, o.Path, err)
			}
		}
	}
	c.cfg.OrphanMetrics.Scans.WithLabelValues(metrics.OrphanScanSuccess).Inc()
	return nil
}

func (c *Controller) announceOrphan(logger klog.Logger, o orphan) {
	age := o.Age.Round(time.Second)
	switch o.Kind {
	case metrics.OrphanKindDisk:
		hint := "remove it by hand, or run the controller with --orphan-delete"
		if o.Exported {
			hint = "its NVMe/TCP export is on, so --orphan-delete leaves it alone: turn the export off once no host uses it"
		}
		c.emit(logger, c.podRef(), nil, eventWarning, ReasonOrphanDisk, orphanAction("Report", o),
			"orphan %s disk %s (backing file %s, %d bytes, created %s on the RDS, %s ago) belongs to no PersistentVolume or VolumeSnapshotContent of this driver; %s",
			o.SlotKind, o.Slot, o.Path, o.Bytes, o.Created.UTC().Format(time.RFC3339), age, hint)
	default:
		c.emit(logger, c.podRef(), nil, eventWarning, ReasonOrphanFile, orphanAction("Report", o),
			"orphan backing file %s (%d bytes, created %s on the RDS, %s ago) has no disk and belongs to no PersistentVolume or VolumeSnapshotContent of this driver; "+
				"remove it by hand, or run the controller with --orphan-delete", o.Path, o.Bytes, o.Created.UTC().Format(time.RFC3339), age)
	}
}

// deleteOrphan removes one orphan if it still is one and may be removed.
func (c *Controller) deleteOrphan(ctx context.Context, logger klog.Logger, o orphan) error {
	logger = logger.WithValues("slot", o.Slot, "filePath", o.Path)
	if path.Base(o.Path) != o.Slot+rds.BackingFileSuffix {
		return nil // only <slot>.img is ever removed
	}
	if o.Kind == metrics.OrphanKindDisk && o.Exported {
		logger.V(2).Info("Orphan disk left alone: its export is on")
		return nil
	}
	// Owned again since the scan (a PV just created)?
	if kind, owner, source := driver.ManagedSlot(o.Slot); c.ownership().owned(kind, o.Slot, owner, source) {
		logger.Info("No longer an orphan: left alone")
		return nil
	}
	v, err := c.cfg.RDS.GetVolume(ctx, o.Slot)
	switch {
	case o.Kind == metrics.OrphanKindDisk && errors.Is(err, rds.ErrNotFound):
		return nil // gone meanwhile
	case o.Kind == metrics.OrphanKindDisk && err == nil:
		if v.Exported || v.FilePath != o.Path {
			logger.Info("Orphan disk changed since the scan: left alone", "exported", v.Exported, "nowFilePath", v.FilePath)
			return nil
		}
		if err := c.cfg.RDS.DeleteVolume(ctx, o.Slot, o.Path); err != nil {
			return err
		}
	case o.Kind == metrics.OrphanKindFile && errors.Is(err, rds.ErrNotFound):
		if err := c.cfg.RDS.RemoveFile(ctx, o.Path); err != nil {
			return err
		}
	case o.Kind == metrics.OrphanKindFile && err == nil:
		logger.Info("A disk of the file's name appeared since the scan: left alone", "diskFilePath", v.FilePath)
		return nil
	default:
		return err
	}
	c.cfg.OrphanMetrics.Deleted.WithLabelValues(o.Kind).Inc()
	c.emit(logger, c.podRef(), nil, eventNormal, ReasonOrphanDeleted, orphanAction("Delete", o),
		"removed orphan %s %s (%s, %d bytes, %s old on the RDS clock; --orphan-delete)", o.Kind, o.Slot, o.Path, o.Bytes, o.Age.Round(time.Second))
	return nil
}
