// Package attachment keeps the controller's attachment truth in step with
// the cluster and the RDS, by itself.
//
// Why it exists: after an RDS crash the earlier driver's in-memory
// attachment table still listed nodes that were long gone, refused to attach
// the volumes elsewhere, and told nobody; a 3 h outage became 5 h. Here the
// state is never held only in memory:
//
//   - Attachment truth is derived, on every question, from the
//     VolumeAttachment objects of this driver in a shared informer cache
//     (VA → spec.source.persistentVolumeName → PV → spec.csi.volumeHandle, or
//     the inline volume spec), plus a small expiring set of publishes that
//     were accepted but whose VA does not show attached=true yet. A restart or
//     a second replica derives the same answer.
//   - An attachment whose node is deleted, tainted
//     node.kubernetes.io/out-of-service, or NotReady for longer than the
//     grace period is stale: it stops blocking a publish elsewhere at once,
//     without waiting for any worker. It is still reported as published
//     (PublishedNodes) until it is unpublished: the external-attacher
//     reconciles VolumeAttachments against that list, and DeleteVolume must
//     not remove a disk a NotReady node may still write.
//   - A rate-limited workqueue keyed by volume id reconciles each volume:
//     it announces releases (metric + event), checks the volume on the RDS
//     when connected (missing → VolumeMissingOnRDS, export off → SetExport and
//     ExportRestored) and retries with backoff while the RDS is unreachable.
//     It never deletes VolumeAttachment objects: that is the attach/detach
//     controller's and the external-attacher's job.
//
// Producers only enqueue keys (see handlers.go for the filters): node
// deletion, Ready flips (delayed until the node would turn stale), changes of
// the out-of-service taint, VolumeAttachment changes, PV creation/deletion,
// the connection FSM's Reconnected notification, a periodic resync and the
// full pass every reconcile term starts with.
//
// The leader also runs the orphan report (orphans.go): one item in a queue
// of its own, scanned at the start of a term, on every resync and on
// Reconnected.
//
// With leader election only the leader runs the workers and writes
// reconciliation events; every replica keeps its informers and answers
// Publish decisions from them.
//
// Wiring (cmd/rds-csi):
//
//	ctrl, err := attachment.New(attachment.Config{...}) // before the FSM runs: it subscribes to Reconnected
//	controllerCfg.Attachments = ctrl.Attachments()      // a driver.Attachments
//	controllerCfg.NodeExists = ctrl.NodeExists          // answered from the Node cache
//	go func() { ctrl.Start(ctx); ctrl.Run(ctx) }()      // informers synced, then workers / election
//	sum, err := ctrl.StartupPass(tctx)                  // bounded by --startup-reconcile-timeout
//
// Start returns once the caches are synced; Run returns when ctx is done,
// after everything it started (informers included) has stopped;
// StartupPass waits for the first full pass that Run starts (or for another
// replica to be seen leading). Before the sync, Publish and NodeExists
// answer ErrNotSynced (driver.ErrAttachmentsNotReady: Unavailable).
//
// A nil *Controller is the disabled controller: Start, Run and StartupPass
// do nothing and Attachments returns the driver's in-memory tracker, so a
// clusterless run needs no special casing.
package attachment
