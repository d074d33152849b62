//go:build linux

package e2e

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
)

// testBlockMigration: deploy's second StorageClass, the one for KubeVirt
// live migration (Immediate, raw block, ReadWriteMany), provisions with its
// own parameters, lets exactly two nodes attach the volume at once (source
// and target of a migration) and refuses a third with an attachError naming
// both holders.
func (c *cluster) testBlockMigration(t *testing.T) {
	c.dumpOnFailure(t)
	ctx := context.Background()
	class := c.multiNodeBlockClass(t)
	nodes := []string{"migrate-src", "migrate-dst", "migrate-third"}
	for _, n := range nodes {
		c.createNode(t, n)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			_ = c.kube.CoreV1().Nodes().Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})

	const claim = "vm-disk"
	pvc := c.newPVC(t, claim, "1Gi")
	pvc.Spec.StorageClassName = ptr.To(class)
	pvc.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	pvc.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock)
	delete(pvc.Annotations, annotationSelectedNode) // the class binds immediately
	c.createPVC(t, pvc)
	pv := c.waitBound(t, claim)
	handle := pv.Spec.CSI.VolumeHandle
	c.waitDisk(t, handle, 1<<30)

	vas := make([]string, len(nodes))
	for i, n := range nodes {
		vas[i] = attachmentName(handle, n)
	}
	t.Cleanup(func() {
		for _, name := range vas {
			_ = c.kube.StorageV1().VolumeAttachments().Delete(context.Background(), name, metav1.DeleteOptions{})
		}
	})
	for i, n := range nodes[:2] {
		c.createVA(t, pv.Name, n)
		c.waitAttached(t, vas[i], n)
	}
	c.createVA(t, pv.Name, nodes[2])
	var refusal string
	eventually(t, waitTimeout, "VolumeAttachment on "+nodes[2]+" refused", func() (bool, string, error) {
		if err := c.alive(); err != nil {
			return false, "", err
		}
		va, err := c.kube.StorageV1().VolumeAttachments().Get(ctx, vas[2], metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		if va.Status.Attached {
			return false, "", fatalf("a third node attached the volume")
		}
		if va.Status.AttachError == nil {
			return false, "no attachError yet", nil
		}
		refusal = va.Status.AttachError.Message
		return strings.Contains(refusal, nodes[0]) && strings.Contains(refusal, nodes[1]), "attachError: " + refusal, nil
	})
	t.Logf("refusal on %s: %s", nodes[2], refusal)

	for _, name := range vas {
		if err := c.kube.StorageV1().VolumeAttachments().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		c.waitVAGone(t, name)
	}
	c.deletePVCAndWait(t, claim, pv)
}

// multiNodeBlockClass returns deploy's StorageClass that binds immediately
// and is meant for multi-node block volumes (named for it: "rwx").
func (c *cluster) multiNodeBlockClass(t *testing.T) string {
	t.Helper()
	var names []string
	for _, o := range c.deploy.objs {
		if o.GetKind() != "StorageClass" {
			continue
		}
		names = append(names, o.GetName())
		mode, _, _ := unstructured.NestedString(o.Object, "volumeBindingMode")
		if strings.Contains(o.GetName(), "rwx") && mode == string(storagev1.VolumeBindingImmediate) {
			return o.GetName()
		}
	}
	t.Fatalf("%s renders no Immediate \"rwx\" StorageClass (have %v)", deployOverlay, names)
	return ""
}
