//go:build linux

package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/srvlab/rds-csi/driver"
	"github.com/srvlab/rds-csi/driver/attachment"
	"github.com/srvlab/rds-csi/rds"
)

// testAttach proves the attachment rules through the real attach/detach
// controller and csi-attacher:
//
//  1. A Pod bound to node attach-a makes kube-controller-manager create a
//     VolumeAttachment; csi-attacher calls ControllerPublish and marks it
//     attached with the NVMe/TCP target as attachment metadata. Deleting the
//     Pod detaches the volume (VolumeAttachment gone).
//  2. The RWO volume attached to attach-b (VolumeAttachment created as the
//     attach/detach controller does) is refused on attach-c with an
//     attachError naming attach-b, until attach-b is deleted; then the
//     attachment on attach-b is stale and attach-c attaches, although
//     attach-b's VolumeAttachment still exists (nobody detached it: the
//     driver released it by itself).
func (c *cluster) testAttach(t *testing.T) {
	c.dumpOnFailure(t)
	ctx := context.Background()
	const nodeA, nodeB, nodeC = "attach-a", "attach-b", "attach-c"
	for _, n := range []string{nodeA, nodeB, nodeC} {
		c.createNode(t, n)
	}
	t.Cleanup(func() {
		for _, n := range []string{nodeA, nodeB, nodeC} {
			_ = c.kube.CoreV1().Nodes().Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})
	const claim = "attach"
	c.createPVC(t, c.newPVC(t, claim, "1Gi"))
	pv := c.waitBound(t, claim)
	handle := pv.Spec.CSI.VolumeHandle

	// 1. Through a Pod and the attach/detach controller.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "attach-user", Namespace: testNamespace},
		Spec: corev1.PodSpec{
			NodeName:                     nodeA,
			AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{
				Name: "app", Image: "busybox",
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
			}}},
		},
	}
	eventually(t, waitTimeout, "Pod "+pod.Name+" created", func() (bool, string, error) {
		// The ServiceAccount admission plugin needs "default" in the namespace.
		_, err := c.kube.CoreV1().Pods(testNamespace).Create(ctx, pod, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
		return err == nil, "", err
	})
	vaA := attachmentName(handle, nodeA)
	c.waitAttached(t, vaA, nodeA)
	va, err := c.kube.StorageV1().VolumeAttachments().Get(ctx, vaA, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := va.Status.AttachmentMetadata[driver.PubNQN], rds.NQNFor(handle); got != want {
		t.Errorf("VolumeAttachment %s: attachment metadata %s=%q, want %q (all: %v)", vaA, driver.PubNQN, got, want, va.Status.AttachmentMetadata)
	}
	c.forceDeletePod(t, pod.Name)
	c.waitVAGone(t, vaA)

	// 2. Refused elsewhere until the holder's node is deleted.
	vaB, vaC := attachmentName(handle, nodeB), attachmentName(handle, nodeC)
	t.Cleanup(func() {
		for _, name := range []string{vaB, vaC} {
			_ = c.kube.StorageV1().VolumeAttachments().Delete(context.Background(), name, metav1.DeleteOptions{})
		}
	})
	c.createVA(t, pv.Name, nodeB)
	c.waitAttached(t, vaB, nodeB)
	c.createVA(t, pv.Name, nodeC)
	var refusal string
	eventually(t, waitTimeout, "VolumeAttachment "+vaC+" refused", func() (bool, string, error) {
		if err := c.alive(); err != nil {
			return false, "", err
		}
		va, err := c.kube.StorageV1().VolumeAttachments().Get(ctx, vaC, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		if va.Status.Attached {
			return false, "", fatalf("%s attached to %s while the RWO volume is attached to %s", vaC, nodeC, nodeB)
		}
		if va.Status.AttachError == nil {
			return false, "no attachError yet", nil
		}
		refusal = va.Status.AttachError.Message
		return strings.Contains(refusal, nodeB), "attachError: " + refusal, nil
	})
	t.Logf("refusal on %s: %s", nodeC, refusal)
	if !strings.Contains(refusal, "FailedPrecondition") {
		t.Errorf("attachError %q: want FailedPrecondition (the attacher retries it)", refusal)
	}

	if err := c.kube.CoreV1().Nodes().Delete(ctx, nodeB, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting node %s: %v", nodeB, err)
	}
	c.waitAttached(t, vaC, nodeC)
	if va, err := c.kube.StorageV1().VolumeAttachments().Get(ctx, vaB, metav1.GetOptions{}); err != nil {
		t.Errorf("VolumeAttachment %s of the deleted node: %v; want it still present (released by the driver, not detached)", vaB, err)
	} else {
		t.Logf("VolumeAttachment %s of deleted node %s still present, attached=%v: the driver released it as stale", vaB, nodeB, va.Status.Attached)
	}
	// The operator learns why from the PV (the event lands in "default",
	// where deploy's RBAC must allow the controller to write it).
	eventually(t, waitTimeout, "kubectl describe pv showing "+attachment.ReasonStaleAttachmentReleased, func() (bool, string, error) {
		out, err := c.cp.Kubectl("describe", "pv", pv.Name)
		if err != nil {
			return false, "", err
		}
		_, events, _ := strings.Cut(out, "\nEvents:")
		return containsWord(events, attachment.ReasonStaleAttachmentReleased) && strings.Contains(events, nodeB), "events:" + events, nil
	})

	// Detach both (the attacher unpublishes attach-b by the node id it
	// recorded, although the node is gone), then delete the volume.
	for _, name := range []string{vaB, vaC} {
		if err := c.kube.StorageV1().VolumeAttachments().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		c.waitVAGone(t, name)
	}
	c.deletePVCAndWait(t, claim, pv)
}

// attachmentName is the name kube-controller-manager gives the
// VolumeAttachment of a CSI volume on a node: "csi-" and the hex SHA-256 of
// volume handle, driver name and node name concatenated. Using it for the
// objects the test creates makes them indistinguishable from the real ones.
func attachmentName(handle, node string) string {
	return fmt.Sprintf("csi-%x", sha256.Sum256([]byte(handle+driverName+node)))
}

// createVA creates the VolumeAttachment the attach/detach controller would
// create for the PV on node.
func (c *cluster) createVA(t *testing.T, pvName, node string) {
	t.Helper()
	pv, err := c.kube.CoreV1().PersistentVolumes().Get(context.Background(), pvName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	va := &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: attachmentName(pv.Spec.CSI.VolumeHandle, node)},
		Spec: storagev1.VolumeAttachmentSpec{
			Attacher: driverName,
			NodeName: node,
			Source:   storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To(pvName)},
		},
	}
	if _, err := c.kube.StorageV1().VolumeAttachments().Create(context.Background(), va, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating VolumeAttachment for %s on %s: %v", pvName, node, err)
	}
}

// waitAttached waits until the VolumeAttachment exists for node and is
// attached.
func (c *cluster) waitAttached(t *testing.T, name, node string) {
	t.Helper()
	eventually(t, waitTimeout, "VolumeAttachment "+name+" on "+node+" attached", func() (bool, string, error) {
		if err := c.alive(); err != nil {
			return false, "", err
		}
		va, err := c.kube.StorageV1().VolumeAttachments().Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, "not created yet", nil
		}
		if err != nil {
			return false, "", err
		}
		if va.Spec.NodeName != node {
			return false, "", fatalf("VolumeAttachment %s is for node %s, want %s", name, va.Spec.NodeName, node)
		}
		status := fmt.Sprintf("attached=%v", va.Status.Attached)
		if va.Status.AttachError != nil {
			status += ", attachError: " + va.Status.AttachError.Message
		}
		return va.Status.Attached, status, nil
	})
}

// waitVAGone waits until the VolumeAttachment is deleted (its finalizer
// is removed by csi-attacher after ControllerUnpublish).
func (c *cluster) waitVAGone(t *testing.T, name string) {
	t.Helper()
	eventually(t, waitTimeout, "VolumeAttachment "+name+" gone", func() (bool, string, error) {
		if err := c.alive(); err != nil {
			return false, "", err
		}
		va, err := c.kube.StorageV1().VolumeAttachments().Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		if err != nil {
			return false, "", err
		}
		status := fmt.Sprintf("attached=%v deleting=%v", va.Status.Attached, va.DeletionTimestamp != nil)
		if va.Status.DetachError != nil {
			status += ", detachError: " + va.Status.DetachError.Message
		}
		return false, status, nil
	})
}

// forceDeletePod deletes a Pod at once (no kubelet would ever confirm a
// graceful deletion) and waits until it is gone.
func (c *cluster) forceDeletePod(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	err := c.kube.CoreV1().Pods(testNamespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("deleting Pod %s: %v", name, err)
	}
	eventually(t, waitTimeout, "Pod "+name+" gone", func() (bool, string, error) {
		_, err := c.kube.CoreV1().Pods(testNamespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, "still there", err
	})
}
