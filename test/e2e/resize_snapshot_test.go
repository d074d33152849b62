//go:build linux

package e2e

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var (
	volumeSnapshotGVR        = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshots"}
	volumeSnapshotContentGVR = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshotcontents"}
)

// testResizeAndSnapshot: growing a claim grows the disk on the emulator
// (csi-resizer → ControllerExpandVolume); a VolumeSnapshot of it becomes
// readyToUse (snapshot-controller + csi-snapshotter → CreateSnapshot, a
// copy on the emulator); a claim restored from the snapshot is provisioned
// from it. Deleting everything removes every disk.
func (c *cluster) testResizeAndSnapshot(t *testing.T) {
	c.dumpOnFailure(t)
	ctx := context.Background()
	const claim, snapName, restored = "grow", "grow-snap", "restored"
	const small, large = int64(1 << 30), int64(2 << 30)

	c.createPVC(t, c.newPVC(t, claim, "1Gi"))
	pv := c.waitBound(t, claim)
	handle := pv.Spec.CSI.VolumeHandle
	c.waitDisk(t, handle, small)

	// Resize.
	patch := fmt.Sprintf(`{"spec":{"resources":{"requests":{"storage":"%d"}}}}`, large)
	if _, err := c.kube.CoreV1().PersistentVolumeClaims(testNamespace).Patch(ctx, claim, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("resizing PVC %s: %v", claim, err)
	}
	eventually(t, waitTimeout, "PV "+pv.Name+" grown to 2Gi", func() (bool, string, error) {
		if err := c.alive(); err != nil {
			return false, "", err
		}
		got, err := c.kube.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		capacity := got.Spec.Capacity[corev1.ResourceStorage]
		return capacity.Value() >= large, "capacity " + capacity.String(), nil
	})
	size := c.waitDisk(t, handle, large)
	t.Logf("disk %s grown to %d bytes", handle, size)
	// No kubelet finishes a file-system expansion; the claim says so.
	if pvc, err := c.kube.CoreV1().PersistentVolumeClaims(testNamespace).Get(ctx, claim, metav1.GetOptions{}); err == nil {
		capacity := pvc.Status.Capacity[corev1.ResourceStorage]
		t.Logf("PVC %s: status capacity %s, conditions %v", claim, capacity.String(), conditionTypes(pvc.Status.Conditions))
	}

	// Snapshot.
	snap := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "snapshot.storage.k8s.io/v1",
		"kind":       "VolumeSnapshot",
		"metadata":   map[string]any{"name": snapName, "namespace": testNamespace},
		"spec": map[string]any{
			"volumeSnapshotClassName": c.snapshotClass,
			"source":                  map[string]any{"persistentVolumeClaimName": claim},
		},
	}}
	snaps := c.dyn.Resource(volumeSnapshotGVR).Namespace(testNamespace)
	if _, err := snaps.Create(ctx, snap, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating VolumeSnapshot: %v", err)
	}
	var contentName string
	eventually(t, waitTimeout, "VolumeSnapshot "+snapName+" readyToUse", func() (bool, string, error) {
		if err := c.alive(); err != nil {
			return false, "", err
		}
		got, err := snaps.Get(ctx, snapName, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		ready, _, _ := unstructured.NestedBool(got.Object, "status", "readyToUse")
		contentName, _, _ = unstructured.NestedString(got.Object, "status", "boundVolumeSnapshotContentName")
		msg, _, _ := unstructured.NestedString(got.Object, "status", "error", "message")
		return ready, fmt.Sprintf("readyToUse=%v content=%q error=%q", ready, contentName, msg), nil
	})
	content, err := c.dyn.Resource(volumeSnapshotContentGVR).Get(ctx, contentName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snapshotHandle, _, _ := unstructured.NestedString(content.Object, "status", "snapshotHandle")
	restoreSize, _, _ := unstructured.NestedInt64(content.Object, "status", "restoreSize")
	t.Logf("snapshot %s: content %s, handle %s, restoreSize %d", snapName, contentName, snapshotHandle, restoreSize)
	if snapshotHandle == "" || restoreSize < large {
		t.Errorf("VolumeSnapshotContent %s: snapshotHandle %q restoreSize %d, want a handle and at least %d bytes", contentName, snapshotHandle, restoreSize, large)
	}
	c.waitDisk(t, snapshotHandle, large)

	// Restore.
	pvc := c.newPVC(t, restored, "2Gi")
	pvc.Spec.DataSource = &corev1.TypedLocalObjectReference{APIGroup: ptr.To("snapshot.storage.k8s.io"), Kind: "VolumeSnapshot", Name: snapName}
	c.createPVC(t, pvc)
	restoredPV := c.waitBound(t, restored)
	c.waitDisk(t, restoredPV.Spec.CSI.VolumeHandle, large)
	if got := restoredPV.Spec.Capacity[corev1.ResourceStorage]; got.Cmp(*resource.NewQuantity(large, resource.BinarySI)) < 0 {
		t.Errorf("restored PV %s capacity %s, want at least 2Gi", restoredPV.Name, got.String())
	}

	// Clean up through the API: every disk must go.
	c.deletePVCAndWait(t, restored, restoredPV)
	if err := snaps.Delete(ctx, snapName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitTimeout, "VolumeSnapshotContent "+contentName+" deleted", func() (bool, string, error) {
		_, err := c.dyn.Resource(volumeSnapshotContentGVR).Get(ctx, contentName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, "still there", err
	})
	c.waitDiskGone(t, snapshotHandle)
	c.deletePVCAndWait(t, claim, pv)
}

func conditionTypes(conds []corev1.PersistentVolumeClaimCondition) []string {
	var types []string
	for _, c := range conds {
		types = append(types, string(c.Type)+"="+string(c.Status))
	}
	return types
}
