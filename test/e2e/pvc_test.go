//go:build linux

package e2e

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
)

// Claims and their volumes: create, wait for binding, delete and wait until
// the disk is gone from the emulator.

// annotationSelectedNode is how kube-scheduler tells the provisioner which
// node a WaitForFirstConsumer claim's first Pod goes to.
const annotationSelectedNode = "volume.kubernetes.io/selected-node"

// newPVC returns a ReadWriteOnce filesystem claim of deploy's default
// StorageClass. When the class waits for the first consumer, the claim
// carries the annotation kube-scheduler would add (no scheduler runs).
func (c *cluster) newPVC(t *testing.T, name, size string) *corev1.PersistentVolumeClaim {
	t.Helper()
	ann := map[string]string{}
	sc := c.deploy.objectNamed("StorageClass", c.storageClass)
	if mode, _, _ := unstructured.NestedString(sc.Object, "volumeBindingMode"); mode == string(storagev1.VolumeBindingWaitForFirstConsumer) {
		ann[annotationSelectedNode] = workerNode
	}
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace, Annotations: ann},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To(c.storageClass),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			},
		},
	}
}

func (c *cluster) createPVC(t *testing.T, pvc *corev1.PersistentVolumeClaim) {
	t.Helper()
	if _, err := c.kube.CoreV1().PersistentVolumeClaims(testNamespace).Create(context.Background(), pvc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating PVC %s: %v", pvc.Name, err)
	}
}

// waitBound waits until the claim is Bound and returns its PV, after
// checking that the PV is one of our driver's.
func (c *cluster) waitBound(t *testing.T, name string) *corev1.PersistentVolume {
	t.Helper()
	ctx := context.Background()
	var pvName string
	eventually(t, waitTimeout, "PVC "+name+" Bound", func() (bool, string, error) {
		if err := c.alive(); err != nil {
			return false, "", err
		}
		pvc, err := c.kube.CoreV1().PersistentVolumeClaims(testNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		pvName = pvc.Spec.VolumeName
		return pvc.Status.Phase == corev1.ClaimBound, fmt.Sprintf("phase %s, volume %q", pvc.Status.Phase, pvName), nil
	})
	pv, err := c.kube.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != driverName {
		t.Fatalf("PV %s is not a %s volume: %+v", pv.Name, driverName, pv.Spec.PersistentVolumeSource)
	}
	return pv
}

// waitDisk waits until the emulator holds the volume's disk (state and
// backing file) with at least minSize bytes, and returns the file size.
func (c *cluster) waitDisk(t *testing.T, id string, minSize int64) int64 {
	t.Helper()
	var size int64
	eventually(t, waitTimeout, fmt.Sprintf("disk %s of at least %d bytes on the emulator", id, minSize), func() (bool, string, error) {
		inState, stateSize, fileSize, err := c.rds.DiskState(id)
		if err != nil {
			return false, "", err
		}
		size = fileSize
		return inState && stateSize >= minSize && fileSize >= minSize,
			fmt.Sprintf("in state %v (size %d), backing file size %d (-1: none)", inState, stateSize, fileSize), nil
	})
	return size
}

// deletePVCAndWait deletes the claim and waits until its PV is gone and the
// emulator has neither the disk nor its backing file (reclaim policy Delete).
func (c *cluster) deletePVCAndWait(t *testing.T, name string, pv *corev1.PersistentVolume) {
	t.Helper()
	ctx := context.Background()
	pvName := pv.Name
	err := c.kube.CoreV1().PersistentVolumeClaims(testNamespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("deleting PVC %s: %v", name, err)
	}
	eventually(t, waitTimeout, "PV "+pvName+" deleted", func() (bool, string, error) {
		if err := c.alive(); err != nil {
			return false, "", err
		}
		pv, err := c.kube.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		if err != nil {
			return false, "", err
		}
		return false, fmt.Sprintf("phase %s %s", pv.Status.Phase, pv.Status.Message), nil
	})
	c.waitDiskGone(t, pv.Spec.CSI.VolumeHandle)
}

// waitDiskGone waits until the emulator has neither the disk nor its file.
func (c *cluster) waitDiskGone(t *testing.T, id string) {
	t.Helper()
	eventually(t, waitTimeout, "disk "+id+" removed from the emulator", func() (bool, string, error) {
		inState, _, fileSize, err := c.rds.DiskState(id)
		if err != nil {
			return false, "", err
		}
		return !inState && fileSize < 0, fmt.Sprintf("in state %v, backing file size %d", inState, fileSize), nil
	})
}
