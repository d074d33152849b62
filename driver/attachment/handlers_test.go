package attachment

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// handlerEnv: three nodes with one attached volume each.
func handlerEnv(t *testing.T) *env {
	var objs []runtime.Object
	for i, n := range []string{"a", "b", "c"} {
		vol := volumeID(i)
		objs = append(objs, readyNode(n), rwoPV(vol), attachedVA(vol, n, t0.Add(-time.Hour)))
	}
	return newEnv(t, objs)
}

// sentinel makes a change the handler must see (node c's taint) and waits
// for its enqueue: every earlier update has then been handled, in order.
func (e *env) sentinel() {
	e.t.Helper()
	n, err := e.cs.CoreV1().Nodes().Get(e.ctx, "c", metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	if hasOutOfService(n) {
		n.Spec.Taints = nil
	} else {
		n.Spec.Taints = []corev1.Taint{outOfService}
	}
	e.updateNode(n)
	waitFor(e.t, "sentinel enqueue", func() bool {
		for _, r := range e.enqueued() {
			if r.Volume == volumeID(2) {
				return true
			}
		}
		return false
	})
}

func (e *env) enqueuedExcept(vol string) []enqueueRecord {
	var out []enqueueRecord
	for _, r := range e.enqueued() {
		if r.Volume != vol {
			out = append(out, r)
		}
	}
	return out
}

func TestHeartbeatOnlyNodeUpdatesEnqueueNothing(t *testing.T) {
	e := handlerEnv(t)
	for i := range 20 {
		n, err := e.cs.CoreV1().Nodes().Get(e.ctx, "a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Status.Conditions[0].LastHeartbeatTime = metav1.NewTime(t0.Add(time.Duration(i) * time.Second))
		n.Status.Conditions[0].Message = "still fine"
		n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: []string{"img"}})
		n.Status.VolumesInUse = []corev1.UniqueVolumeName{"kubernetes.io/csi/" + testDriver + "^" + corev1.UniqueVolumeName(volumeID(0))}
		n.Labels = map[string]string{"round": string(rune('a' + i))}
		n.Spec.Taints = []corev1.Taint{{Key: "node.kubernetes.io/unschedulable", Effect: corev1.TaintEffectNoSchedule}}
		e.updateNode(n)
	}
	e.sentinel()
	if got := e.enqueuedExcept(volumeID(2)); len(got) != 0 {
		t.Fatalf("heartbeat-only updates enqueued %v", got)
	}
}

func TestNodeChangesEnqueueTheirVolumes(t *testing.T) {
	e := handlerEnv(t)
	grace := e.c.cfg.GracePeriod

	// Ready → NotReady (transition 10 s ago): rechecked when it turns stale.
	n, _ := e.cs.CoreV1().Nodes().Get(e.ctx, "a", metav1.GetOptions{})
	n.Status.Conditions[0].Status = corev1.ConditionFalse
	n.Status.Conditions[0].LastTransitionTime = metav1.NewTime(e.clock.Now().Add(-10 * time.Second))
	e.updateNode(n)
	// Out-of-service taint: now.
	n, _ = e.cs.CoreV1().Nodes().Get(e.ctx, "b", metav1.GetOptions{})
	n.Spec.Taints = []corev1.Taint{outOfService}
	e.updateNode(n)
	e.sentinel()

	got := map[string]time.Duration{}
	for _, r := range e.enqueued() {
		got[r.Volume] = r.After
	}
	if d, ok := got[volumeID(0)]; !ok || d != grace-10*time.Second {
		t.Errorf("NotReady node: enqueued %v (present %v), want after %v", d, ok, grace-10*time.Second)
	}
	if d, ok := got[volumeID(1)]; !ok || d != 0 {
		t.Errorf("out-of-service node: enqueued after %v (present %v), want now", d, ok)
	}

	// NotReady → Ready: one grace period later (coalesces with flapping).
	e.resetEnqueued()
	n, _ = e.cs.CoreV1().Nodes().Get(e.ctx, "a", metav1.GetOptions{})
	n.Status.Conditions[0].Status = corev1.ConditionTrue
	e.updateNode(n)
	e.sentinel()
	if got := e.enqueuedExcept(volumeID(2)); len(got) != 1 || got[0].Volume != volumeID(0) || got[0].After != grace {
		t.Errorf("Ready again: enqueued %v, want %s after %v", got, volumeID(0), grace)
	}

	// Deletion: now.
	e.resetEnqueued()
	e.deleteNode("a")
	waitFor(t, "deletion enqueue", func() bool { return len(e.enqueued()) > 0 })
	if got := e.enqueued(); len(got) != 1 || got[0].Volume != volumeID(0) || got[0].After != 0 {
		t.Errorf("deleted node: enqueued %v", got)
	}
}

func TestVAChangesEnqueueTheirVolume(t *testing.T) {
	e := handlerEnv(t)
	vol := volumeID(7)
	e.create(rwoPV(vol))
	va := attachedVA(vol, "a", t0)
	va.Status.Attached = false
	e.create(va)
	waitFor(t, "PV and VA enqueues", func() bool { return len(e.enqueued()) >= 2 })
	for _, r := range e.enqueued() {
		if r.Volume != vol || r.After != 0 {
			t.Fatalf("enqueued %+v, want %s now", r, vol)
		}
	}
	// An attach error (a field the transform drops) enqueues nothing; the
	// status flip does.
	e.resetEnqueued()
	cur, _ := e.cs.StorageV1().VolumeAttachments().Get(e.ctx, va.Name, metav1.GetOptions{})
	cur.Status.AttachError = nil
	cur.Status.AttachmentMetadata = map[string]string{"k": "v"}
	if _, err := e.cs.StorageV1().VolumeAttachments().UpdateStatus(e.ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cur.Status.Attached = true
	if _, err := e.cs.StorageV1().VolumeAttachments().UpdateStatus(e.ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitVA(va.Name, func(v *storagev1.VolumeAttachment, ok bool) bool { return ok && v.Status.Attached })
	waitFor(t, "status flip enqueue", func() bool { return len(e.enqueued()) > 0 })
	if got := e.enqueued(); len(got) != 1 {
		t.Fatalf("enqueued %v, want exactly the attached flip", got)
	}
}
