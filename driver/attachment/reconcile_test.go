package attachment

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/srvlab/rds-csi/driver"
	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/rdsfake"
)

func TestExportOffIsRestored(t *testing.T) {
	vol := volumeID(1)
	e := newEnv(t, []runtime.Object{readyNode("a"), rwoPV(vol), attachedVA(vol, "a", t0)})
	e.addRDSVolume(vol, false)
	s := e.startupPass()

	if v, _ := e.rds.Volume(vol); !v.Exported {
		t.Fatal("export not restored")
	}
	if n := e.rds.CallCount(rdsfake.MethodSetExport); n != 1 {
		t.Errorf("SetExport called %d times", n)
	}
	ev := e.sink.byReason(ReasonExportRestored)
	if len(ev) != 1 || ev[0].Type != corev1.EventTypeNormal || ev[0].Regarding.Name != vol || !strings.Contains(ev[0].Note, "node(s) a") {
		t.Fatalf("ExportRestored events = %+v", ev)
	}
	if s.ExportsRepaired != 1 || s.Attachments != 1 || s.Volumes != 1 {
		t.Errorf("summary = %+v", s)
	}
	if got := testutil.ToFloat64(e.m.ExportsRestored); got != 1 {
		t.Errorf("exports restored metric = %v", got)
	}
}

func TestMissingVolumeIsReportedOnce(t *testing.T) {
	vol := volumeID(1)
	e := newEnv(t, []runtime.Object{readyNode("a"), rwoPV(vol), attachedVA(vol, "a", t0)})
	s := e.startupPass()
	if s.MissingVolumes != 1 {
		t.Errorf("summary = %+v", s)
	}
	// A periodic resync sees it again: no second event.
	e.stepUntil(e.c.cfg.ResyncPeriod, "resync pass", func() bool { return e.syncCount(vol, "") >= 2 })
	ev := e.sink.byReason(ReasonVolumeMissingOnRDS)
	if len(ev) != 1 || ev[0].Type != corev1.EventTypeWarning || ev[0].Regarding.Kind != "PersistentVolume" {
		t.Fatalf("VolumeMissingOnRDS events = %+v", ev)
	}
	if got := testutil.ToFloat64(e.m.VolumesMissing); got != 1 {
		t.Errorf("missing metric = %v", got)
	}
	if e.rds.CallCount(rdsfake.MethodSetExport) != 0 {
		t.Error("SetExport called for a missing volume")
	}
}

// A full pass reads the RDS once (ListVolumes) for all healthy volumes.
func TestPassListsTheRDSOnce(t *testing.T) {
	var objs []runtime.Object
	for i := range 50 {
		vol := volumeID(i)
		objs = append(objs, rwoPV(vol), attachedVA(vol, fmt.Sprintf("n%d", i%5), t0))
	}
	for i := range 5 {
		objs = append(objs, readyNode(fmt.Sprintf("n%d", i)))
	}
	e := newEnv(t, objs)
	for i := range 50 {
		e.addRDSVolume(volumeID(i), i != 7) // one export off
	}
	s := e.startupPass()
	if s.Volumes != 50 || s.Processed != 50 || s.Attachments != 50 || s.ExportsRepaired != 1 {
		t.Errorf("summary = %+v", s)
	}
	if n := e.rds.CallCount(rdsfake.MethodListVolumes); n != 1 {
		t.Errorf("ListVolumes called %d times, want 1", n)
	}
	// Only the volume the listing shows unhealthy is read again.
	if n := e.rds.CallCount(rdsfake.MethodGetVolume); n != 1 {
		t.Errorf("GetVolume called %d times, want 1", n)
	}
}

func TestNotConnectedIsRequeuedWithBackoff(t *testing.T) {
	vol := volumeID(1)
	e := newEnv(t, []runtime.Object{readyNode("a"), rwoPV(vol), attachedVA(vol, "a", t0)})
	e.addRDSVolume(vol, false)
	e.connected.Store(false)
	s := e.startupPass()
	if s.Requeued != 1 || s.Processed != 1 {
		t.Fatalf("summary = %+v", s)
	}
	t.Logf("summary: %s", s)
	tm := e.c.term.Load()
	if !tm.inBackoff(vol) || tm.q.NumRequeues(vol) != 1 {
		t.Fatalf("after one failure: in backoff %v, requeues %d", tm.inBackoff(vol), tm.q.NumRequeues(vol))
	}
	// A producer does not cut the backoff short.
	e.c.enqueue(vol, 0)
	time.Sleep(20 * time.Millisecond)
	if n := e.syncCount(vol, ""); n != 1 {
		t.Fatalf("enqueue during backoff processed the key: %d syncs", n)
	}
	// The delays grow 1 s, 2 s, 4 s: the key comes back each time, never dropped.
	for i, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		e.stepUntil(d, "retry", func() bool { return e.syncCount(vol, metrics.ReconcileRequeue) >= i+2 })
	}
	if got := e.counter(e.m.Reconciles, metrics.ReconcileRequeue); got < 4 {
		t.Errorf("requeue counter = %d, want >= 4", got)
	}
	if n := e.c.term.Load().q.NumRequeues(vol); n < 4 {
		t.Errorf("NumRequeues = %d: the failure count must grow", n)
	}
	if e.rds.CallCount("") != 0 {
		t.Errorf("the RDS was called while not connected: %v", e.rds.Calls())
	}

	// Connected again: the next retry repairs the export.
	e.connected.Store(true)
	e.stepUntil(8*time.Second, "success", func() bool { return e.syncCount(vol, metrics.ReconcileSuccess) == 1 })
	if v, _ := e.rds.Volume(vol); !v.Exported {
		t.Error("export not restored after reconnect")
	}
	waitFor(t, "forget", func() bool { return e.c.term.Load().q.NumRequeues(vol) == 0 })
}

func TestRDSUnavailableIsRequeued(t *testing.T) {
	vol := volumeID(1)
	e := newEnv(t, []runtime.Object{readyNode("a"), rwoPV(vol), attachedVA(vol, "a", t0)})
	e.addRDSVolume(vol, true)
	e.rds.SetError(rdsfake.MethodListVolumes, fmt.Errorf("dial: %w", rds.ErrUnavailable))
	e.rds.SetError(rdsfake.MethodGetVolume, fmt.Errorf("dial: %w", rds.ErrUnavailable))
	s := e.startupPass()
	if s.Requeued != 1 {
		t.Fatalf("summary = %+v", s)
	}
	e.rds.SetError(rdsfake.MethodListVolumes, nil)
	e.rds.SetError(rdsfake.MethodGetVolume, nil)
	e.stepUntil(time.Second, "success", func() bool { return e.syncCount(vol, metrics.ReconcileSuccess) == 1 })

	// Any other failure is an error, also retried.
	e.rds.SetError(rdsfake.MethodGetVolume, fmt.Errorf("parse: %w", rds.ErrCommandFailed))
	e.addRDSVolume(vol, false)
	e.c.enqueue(vol, 0)
	waitFor(t, "error", func() bool { return e.syncCount(vol, metrics.ReconcileError) == 1 })
	e.stepUntil(time.Second, "error retried", func() bool { return e.syncCount(vol, metrics.ReconcileError) >= 2 })
}

func TestReconnectedEnqueuesEveryAttachedVolume(t *testing.T) {
	var objs []runtime.Object
	var attached []string
	for i := range 4 {
		vol := volumeID(i)
		objs = append(objs, rwoPV(vol))
		if i < 3 {
			objs = append(objs, attachedVA(vol, "a", t0))
			attached = append(attached, vol)
		}
	}
	detached := attachedVA(volumeID(9), "a", t0)
	detached.Status.Attached = false
	objs = append(objs, readyNode("a"), rwoPV(volumeID(9)), detached)
	e := newEnv(t, objs)
	e.connected.Store(false) // the outage: everything attached waits in backoff
	e.startupPass()
	e.resetEnqueued()

	e.connected.Store(true)
	e.reconnect <- struct{}{}
	if got := e.reconnectPass(t, "reconnect pass", attached); !slices.Equal(got, attached) {
		t.Fatalf("Reconnected enqueued %v, want every attached volume %v", got, attached)
	}
}

func TestStaleReleaseAnnouncedOnce(t *testing.T) {
	vol1, vol2 := volumeID(1), volumeID(2)
	e := newEnv(t, []runtime.Object{
		readyNode("a"), readyNode("b"),
		rwoPV(vol1), attachedVA(vol1, "a", t0), rwoPV(vol2), attachedVA(vol2, "b", t0),
	})
	e.addRDSVolume(vol1, true)
	e.addRDSVolume(vol2, true)
	if s := e.startupPass(); s.StaleReleased != 0 {
		t.Fatalf("summary = %+v", s)
	}

	e.deleteNode("a")
	waitFor(t, "release of node a", func() bool { return len(e.sink.byReason(ReasonStaleAttachmentReleased)) == 1 })
	ev := e.sink.byReason(ReasonStaleAttachmentReleased)[0]
	if ev.Type != corev1.EventTypeWarning || ev.Regarding.Kind != "PersistentVolume" || ev.Regarding.Name != vol1 ||
		ev.Related == nil || ev.Related.Kind != "Node" || ev.Related.Name != "a" || ev.Action != "ReleaseNodeDeleted" ||
		!strings.Contains(ev.Note, "node deleted") {
		t.Fatalf("event = %+v", ev)
	}
	if got := e.counter(e.m.StaleReleased, metrics.StaleReasonNodeDeleted); got != 1 {
		t.Errorf("node-deleted counter = %d", got)
	}

	// Node b goes NotReady now: nothing before the grace period, a release
	// right after it, without any other trigger than the delayed recheck.
	n, _ := e.cs.CoreV1().Nodes().Get(e.ctx, "b", metav1.GetOptions{})
	n.Status.Conditions[0].Status = corev1.ConditionFalse
	n.Status.Conditions[0].LastTransitionTime = metav1.NewTime(e.clock.Now())
	e.updateNode(n)
	e.waitNode("b", func(n *corev1.Node, _ bool) bool { return n != nil && readyStatus(n) == corev1.ConditionFalse })
	waitFor(t, "delayed enqueue", func() bool { return e.c.term.Load().q.Len() == 0 && len(e.enqueued()) > 0 })
	e.clock.Step(29 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if len(e.sink.byReason(ReasonStaleAttachmentReleased)) != 1 {
		t.Fatal("released before the grace period")
	}
	mustRefuse(t, e.c.Publish(e.ctx, vol2, "a2", false), "node b")
	e.stepUntil(time.Second, "release of node b", func() bool { return len(e.sink.byReason(ReasonStaleAttachmentReleased)) == 2 })
	if got := e.counter(e.m.StaleReleased, metrics.StaleReasonNotReady); got != 1 {
		t.Errorf("not-ready counter = %d", got)
	}

	// Resync: both still stale, nothing announced again.
	e.stepUntil(e.c.cfg.ResyncPeriod, "resync", func() bool { return e.syncCount(vol1, "") >= 3 && e.syncCount(vol2, "") >= 3 })
	if n := len(e.sink.byReason(ReasonStaleAttachmentReleased)); n != 2 {
		t.Fatalf("%d release events after resync, want 2", n)
	}
	// Released means "no longer blocks a publish elsewhere"; the node is
	// still published until its VolumeAttachment is detached.
	if s := e.c.PublishedNodes(vol1); len(s) != 1 || s[0] != "a" {
		t.Errorf("PublishedNodes(%s) = %v, want [a]", vol1, s)
	}
	// The VolumeAttachments are left alone.
	vas, _ := e.cs.StorageV1().VolumeAttachments().List(e.ctx, metav1.ListOptions{})
	if len(vas.Items) != 2 {
		t.Errorf("%d VolumeAttachments left, want 2 (never deleted)", len(vas.Items))
	}
}

func TestOutOfServiceReleasedAtOnce(t *testing.T) {
	vol := volumeID(1)
	e := newEnv(t, []runtime.Object{readyNode("a"), rwoPV(vol), attachedVA(vol, "a", t0)})
	e.addRDSVolume(vol, true)
	e.startupPass()
	n, _ := e.cs.CoreV1().Nodes().Get(e.ctx, "a", metav1.GetOptions{})
	n.Spec.Taints = []corev1.Taint{outOfService}
	e.updateNode(n)
	waitFor(t, "release", func() bool { return len(e.sink.byReason(ReasonStaleAttachmentReleased)) == 1 })
	if ev := e.sink.byReason(ReasonStaleAttachmentReleased)[0]; ev.Action != "ReleaseOutOfService" {
		t.Errorf("event = %+v", ev)
	}
	if got := e.counter(e.m.StaleReleased, metrics.StaleReasonOutOfService); got != 1 {
		t.Errorf("out-of-service counter = %d", got)
	}
}

func TestMigrationTimeoutRaisedByReconcile(t *testing.T) {
	vol := volumeID(1)
	e := newEnv(t, []runtime.Object{
		readyNode("a"), readyNode("b"),
		rwxPV(vol, map[string]string{driver.CtxMigrationTimeout: "30"}),
		attachedVA(vol, "a", t0.Add(-time.Hour)), attachedVA(vol, "b", t0.Add(-10*time.Second)),
	})
	e.addRDSVolume(vol, true)
	e.startupPass()
	if n := len(e.sink.byReason(ReasonMigrationTimeout)); n != 0 {
		t.Fatalf("%d MigrationTimeout events early", n)
	}
	e.clock.Step(19 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := len(e.sink.byReason(ReasonMigrationTimeout)); n != 0 {
		t.Fatalf("%d MigrationTimeout events before the deadline", n)
	}
	// The recheck set for the deadline fires; no other trigger exists.
	e.stepUntil(time.Second, "MigrationTimeout", func() bool { return len(e.sink.byReason(ReasonMigrationTimeout)) == 1 })
	if ev := e.sink.byReason(ReasonMigrationTimeout)[0]; ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Note, "migrationTimeoutSeconds=30") {
		t.Fatalf("event = %+v", ev)
	}
}

func TestStartupPassSummaryAndEvent(t *testing.T) {
	objs := []runtime.Object{readyNode("a")}
	for i := range 4 {
		objs = append(objs, rwoPV(volumeID(i)))
	}
	// 0: healthy, 1: export off, 2: missing, 3: on a deleted node; 4: PV only.
	for i := range 4 {
		node := "a"
		if i == 3 {
			node = "gone"
		}
		objs = append(objs, attachedVA(volumeID(i), node, t0))
	}
	objs = append(objs, rwoPV(volumeID(4)))
	e := newEnv(t, objs)
	e.addRDSVolume(volumeID(0), true)
	e.addRDSVolume(volumeID(1), false)
	e.addRDSVolume(volumeID(3), true)
	s := e.startupPass()
	want := Summary{Role: RoleLeader, Volumes: 5, Processed: 5, Attachments: 4, StaleReleased: 1, ExportsRepaired: 1, MissingVolumes: 1}
	s.Duration = 0
	if s != want {
		t.Fatalf("summary = %+v\nwant      %+v", s, want)
	}
	waitFor(t, "startup event", func() bool { return len(e.sink.byReason(ReasonStartupReconciliation)) == 1 })
	ev := e.sink.byReason(ReasonStartupReconciliation)[0]
	if ev.Type != corev1.EventTypeNormal || ev.Regarding.Kind != "Pod" || ev.Regarding.Name != "rds-csi-controller-0" ||
		ev.Regarding.Namespace != "kube-system" || !strings.Contains(ev.Note, "4 attachments, 1 stale released, 1 exports repaired, 1 missing") {
		t.Fatalf("event = %+v", ev)
	}
	if got := e.counter(e.m.Reconciles, metrics.ReconcileSuccess); got != 5 {
		t.Errorf("success counter = %d", got)
	}
	if n, _ := testutil.GatherAndCount(e.reg, "rds_csi_attachment_reconcile_duration_seconds"); n != 1 {
		t.Errorf("duration histogram missing")
	}
	if got := testutil.ToFloat64(e.m.Leader); got != 1 {
		t.Errorf("leader gauge = %v", got)
	}
}

func TestStartupPassTimeout(t *testing.T) {
	vol := volumeID(1)
	e := newEnv(t, []runtime.Object{readyNode("a"), rwoPV(vol), attachedVA(vol, "a", t0), rwoPV(volumeID(2))})
	release := make(chan struct{})
	defer close(release)
	e.rds.SetHook(rdsfake.MethodListVolumes, func(ctx context.Context) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return fmt.Errorf("%w: hung", rds.ErrUnavailable)
	})
	e.run()
	ctx, cancel := context.WithTimeout(e.ctx, 200*time.Millisecond)
	defer cancel()
	s, err := e.c.StartupPass(ctx)
	if err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("StartupPass = %+v, %v; want an incomplete-pass error", s, err)
	}
	if s.Volumes != 2 || s.Processed != 1 {
		t.Errorf("partial summary = %+v, want 1 of 2 processed", s)
	}
}

func TestStartupPassNeedsRun(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(e.ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := e.c.StartupPass(ctx); err == nil || !strings.Contains(err.Error(), "Run is not running") {
		t.Fatalf("err = %v", err)
	}
}

// Regression: the StartupReconciliation event regards the controller Pod in
// the Pod's own namespace, not in the Lease namespace
// (--leader-election-namespace), which may differ.
func TestStartupEventInPodNamespace(t *testing.T) {
	e := newEnvOn(t, fake.NewClientset(), func(c *Config) { c.Namespace = "rds-leases" })
	e.startupPass()
	waitFor(t, "startup event", func() bool { return len(e.sink.byReason(ReasonStartupReconciliation)) == 1 })
	ev := e.sink.byReason(ReasonStartupReconciliation)[0]
	if ev.Regarding == nil || ev.Regarding.Kind != "Pod" || ev.Regarding.Namespace != "kube-system" || ev.Regarding.Name != "rds-csi-controller-0" {
		t.Fatalf("startup event regards %+v, want Pod kube-system/rds-csi-controller-0", ev.Regarding)
	}
}
