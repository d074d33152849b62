package attachment

import (
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	reconciler "github.com/srvlab/rds-csi/driver/attachment"
	"github.com/srvlab/rds-csi/metrics"
)

// Issue 5, acceptance point 3: the controller restarts while the node of an
// attached volume is gone (Node deleted, VolumeAttachment left behind). The
// new process's first reconcile pass releases that attachment before the
// CSI socket exists, so no ControllerPublish can be decided on the stale
// state, and reports the pass with StartupReconciliation on its Pod.
//
// Order proof:
//   - the driver's log (decisive): klog writes each line synchronously, so
//     line order is event order; the release line precedes "finished
//     before serving", which app.Run logs right before it binds the socket,
//     and "Serving CSI", logged after the bind;
//   - clocks (same machine): the release event's eventTime, stamped by the
//     driver when it emitted the event, precedes the socket's mtime (set
//     when the socket was bound) and the moment the test first saw it.
//
// coarseFileClock bounds how far a file's timestamps (the kernel's coarse
// clock, one tick: 1–10 ms) may lag the moment of the change.
const coarseFileClock = 10 * time.Millisecond

func TestStartupReleasesDeadNodeBeforeServing(t *testing.T) {
	env := setup(t)
	pod := env.cluster.controllerPod(t, "rds-csi-controller-0")
	sock := socketPath(t)
	first := env.startDriver(t, driverOpts{name: "rds-csi-1", pod: pod, sock: sock})
	first.waitSocket(t)
	first.waitReady(t)

	env.cluster.readyNode(t, "worker-dead")
	env.cluster.readyNode(t, "worker-live")
	deadPV, livePV := pvName(), pvName()
	deadVol, liveVol := first.createVolume(t, deadPV), first.createVolume(t, livePV)
	env.cluster.attach(t, deadPV, deadVol, "worker-dead")
	env.cluster.attach(t, livePV, liveVol, "worker-live")
	waitFor(t, "both volumes reconciled", coarsePoll, 20*time.Second, func() bool { return first.reconciles() >= 2 })

	// Stop the controller (as a rolling update or eviction would), then
	// lose the node while nobody watches.
	if !first.proc.stop() {
		t.Fatal("rds-csi-1 needed SIGKILL to stop")
	}
	if _, err := os.Lstat(sock); err == nil {
		t.Fatalf("socket %s still exists after a graceful stop", sock)
	}
	env.cluster.deleteNode(t, "worker-dead")
	deadVA := vaName(deadVol.GetVolumeId(), "worker-dead")
	func() {
		ctx, cancel := apiCtx()
		defer cancel()
		if _, err := env.cluster.cs.StorageV1().VolumeAttachments().Get(ctx, deadVA, metav1.GetOptions{}); err != nil {
			t.Fatalf("the dead node's VolumeAttachment must remain: %v", err)
		}
	}()

	second := env.startDriver(t, driverOpts{name: "rds-csi-2", pod: pod, sock: sock})
	seenAt := second.waitSocket(t)
	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	boundAt := fi.ModTime()
	second.waitReady(t)

	// Clocks.
	ev := env.cluster.waitEvent(t, metav1.NamespaceDefault, reconciler.ReasonStaleAttachmentReleased, "PersistentVolume", deadPV)
	releasedAt := ev.EventTime.Time
	t.Logf("event: %s %s %s/%s (related %v): %s", releasedAt.Format(time.StampMicro), ev.Type, ev.Regarding.Kind, ev.Regarding.Name, ev.Related, ev.Note)
	t.Logf("MEASURED order: process start → StaleAttachmentReleased (eventTime) %v; → socket mtime %v; → socket first seen by the 20 ms poll %v",
		releasedAt.Sub(second.startedAt).Round(time.Millisecond), boundAt.Sub(releasedAt).Round(time.Microsecond),
		seenAt.Sub(releasedAt).Round(time.Millisecond))
	if !releasedAt.Before(seenAt) {
		t.Errorf("StaleAttachmentReleased at %s, after the socket was already there at %s",
			releasedAt.Format(time.StampMicro), seenAt.Format(time.StampMicro))
	}
	// File times come from the kernel's coarse clock (the last tick, up to
	// 10 ms behind): release < mtime proves release < bind; the reverse
	// within a tick proves nothing either way, so only the log order
	// below decides then.
	switch gap := boundAt.Sub(releasedAt); {
	case gap > 0:
		t.Logf("clock proof: release precedes the socket's bind time by at least %v", gap.Round(time.Microsecond))
	case gap > -coarseFileClock:
		t.Logf("clock comparison inconclusive: socket mtime %v before the release, within the file clock's granularity", -gap)
	default:
		t.Errorf("socket bound at %s, %v before StaleAttachmentReleased at %s",
			boundAt.Format(time.StampMicro), -gap, releasedAt.Format(time.StampMicro))
	}
	if ev.Type != corev1.EventTypeWarning || ev.Related == nil || ev.Related.Kind != "Node" || ev.Related.Name != "worker-dead" {
		t.Errorf("release event: type %q, related %+v; want Warning about Node worker-dead", ev.Type, ev.Related)
	}

	// The log, in order.
	lines := second.log(t)
	iRel := findLine(lines, 0, `"Event"`, `reason="`+reconciler.ReasonStaleAttachmentReleased+`"`, deadVol.GetVolumeId())
	iDone := findLine(lines, 0, `"Startup attachment reconciliation finished before serving"`)
	iServe := findLine(lines, 0, `"Serving CSI"`)
	if iRel < 0 || iDone < 0 || iServe < 0 || iRel >= iDone || iDone >= iServe {
		t.Fatalf("log order: release line %d, pass finished %d, serving %d; want 0 ≤ release < finished < serving", iRel, iDone, iServe)
	}
	t.Logf("MEASURED log order: release (line %d, %s) → pass finished (line %d, +%v) → Serving CSI (line %d, +%v)",
		iRel, lines[iRel].at.Format(time.StampMicro), iDone, lines[iDone].at.Sub(lines[iRel].at).Round(time.Microsecond),
		iServe, lines[iServe].at.Sub(lines[iRel].at).Round(time.Microsecond))
	if !strings.Contains(lines[iDone].text, "1 stale released") {
		t.Errorf("the startup summary does not count the release: %s", lines[iDone].text)
	}

	// Only the dead node's attachment was released, once.
	if evs := env.cluster.events(t, metav1.NamespaceDefault, reconciler.ReasonStaleAttachmentReleased, "PersistentVolume", livePV); len(evs) != 0 {
		t.Errorf("the live node's attachment was released: %+v", evs)
	}
	if n := second.metric("rds_csi_attachment_stale_released_total", map[string]string{"reason": metrics.StaleReasonNodeDeleted}); n != 1 {
		t.Errorf("stale_released_total{reason=%s} = %v, want 1", metrics.StaleReasonNodeDeleted, n)
	}

	// StartupReconciliation on the controller Pod, as an operator sees it.
	// Both processes reported a pass; the second one's counts the release.
	var describe string
	waitFor(t, "StartupReconciliation in kubectl describe pod", coarsePoll, 15*time.Second, func() bool {
		out, err := env.cluster.cp.Kubectl("describe", "pod", pod.name, "-n", pod.namespace)
		if err != nil {
			t.Logf("%v", err)
			return false
		}
		describe = out
		_, events, ok := strings.Cut(out, "\nEvents:")
		return ok && strings.Contains(events, reconciler.ReasonStartupReconciliation) && strings.Contains(events, "1 stale released")
	})
	_, events, _ := strings.Cut(describe, "\nEvents:")
	t.Logf("kubectl describe pod %s -n %s, Events:%s", pod.name, pod.namespace, events)
}
