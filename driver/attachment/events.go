package attachment

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
)

// EventSink is where events go: exactly the Eventf of client-go's
// tools/events EventRecorder (events.k8s.io/v1), so the driver's recorder
// plugs in without an adapter. Events about PVs, Nodes and
// VolumeAttachments (cluster-scoped) land in namespace "default".
type EventSink interface {
	Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

type nopSink struct{}

func (nopSink) Eventf(runtime.Object, runtime.Object, string, string, string, string, ...any) {}

// Event reasons. The events.k8s.io series logic keys on (type, reason,
// action, regarding, related) and keeps only the first note of a series, so
// whatever must stay distinguishable goes into reason, action or related.
const (
	// ReasonStaleAttachmentReleased (Warning, regarding the PV, related the
	// Node): an attachment stopped counting because its node is gone,
	// out-of-service or NotReady past the grace period. Warning because a
	// node with attached storage failed and an operator should know, even
	// though the driver has handled it.
	ReasonStaleAttachmentReleased = "StaleAttachmentReleased"
	// ReasonVolumeMissingOnRDS (Warning, regarding the PV): a volume that
	// is attached does not exist on the RDS.
	ReasonVolumeMissingOnRDS = "VolumeMissingOnRDS"
	// ReasonExportRestored (Normal, regarding the PV): the NVMe/TCP export
	// of an attached volume was off and has been turned back on.
	ReasonExportRestored = "ExportRestored"
	// ReasonMigrationTimeout (Warning, regarding the PV): a multi-node
	// volume has had two attachments for longer than migrationTimeoutSeconds.
	ReasonMigrationTimeout = "MigrationTimeout"
	// ReasonStartupReconciliation (Normal, regarding the controller Pod):
	// the numbers of a reconcile term's first full pass.
	ReasonStartupReconciliation = "StartupReconciliation"
	// ReasonOrphanDisk (Warning, regarding the controller Pod): a disk under
	// the managed naming rule belongs to no PV or VolumeSnapshotContent of
	// the driver and is older than the orphan grace period. One event per
	// orphan (its own action), again only if it comes back.
	ReasonOrphanDisk = "OrphanDisk"
	// ReasonOrphanFile (Warning, regarding the controller Pod): the same
	// for a backing file without a disk.
	ReasonOrphanFile = "OrphanFile"
	// ReasonOrphanDeleted (Normal, regarding the controller Pod): an orphan
	// was removed (--orphan-delete).
	ReasonOrphanDeleted = "OrphanDeleted"
)

// Event actions (events.k8s.io requires one). The release action carries
// the reason so that a node that was NotReady and is later deleted gets a
// second, separate event.
const (
	actionReleasePrefix = "Release" // + NodeDeleted | OutOfService | NotReady
	actionCheckRDS      = "CheckRDS"
	actionRestoreExport = "RestoreExport"
	actionPublish       = "Publish"
	actionReconcile     = "Reconcile"
)

// Kubernetes event types, spelled here to keep the core/v1 import small.
const (
	eventNormal  = corev1.EventTypeNormal
	eventWarning = corev1.EventTypeWarning
)

// pvRef is the regarding object of a volume's events: its PV, or for an
// inline volume the VolumeAttachment. References are built by hand because
// cached objects carry no TypeMeta and the stripped PV must not be
// round-tripped through a scheme.
func pvRef(pv *corev1.PersistentVolume) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "PersistentVolume", Name: pv.Name, UID: pv.UID}
}

func vaRef(va *storagev1.VolumeAttachment) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "storage.k8s.io/v1", Kind: "VolumeAttachment", Name: va.Name, UID: va.UID}
}

func nodeRef(name string) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: name}
}

// podRef is the controller Pod, or nil when its name or namespace is unknown.
func (c *Controller) podRef() *corev1.ObjectReference {
	if c.cfg.PodName == "" || c.cfg.PodNamespace == "" {
		return nil
	}
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: c.cfg.PodNamespace, Name: c.cfg.PodName, UID: c.cfg.PodUID}
}

// emit logs an event and hands it to the sink. A nil regarding object
// (e.g. no Pod name configured) only logs.
func (c *Controller) emit(logger klog.Logger, regarding, related *corev1.ObjectReference, eventtype, reason, action, format string, args ...any) {
	note := fmt.Sprintf(format, args...)
	logger.Info("Event", "type", eventtype, "reason", reason, "note", note)
	if regarding == nil {
		return
	}
	if related == nil {
		c.cfg.Events.Eventf(regarding, nil, eventtype, reason, action, "%s", note)
		return
	}
	c.cfg.Events.Eventf(regarding, related, eventtype, reason, action, "%s", note)
}
