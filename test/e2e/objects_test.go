//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// What a kubelet would have registered (Nodes, CSINodes), the controller's
// own Pod, and the namespace of the scenarios. The driver's objects
// (CSIDriver, classes, RBAC) come from deploy/ (deploy_test.go).

// annotationControllerManagedAttach makes kube-controller-manager's
// attach/detach controller, not a kubelet, attach volumes of Pods on the node.
const annotationControllerManagedAttach = "volumes.kubernetes.io/controller-managed-attach-detach"

func (c *cluster) createClusterObjects(t *testing.T) {
	t.Helper()
	_, err := c.kube.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}, metav1.CreateOptions{})
	must(t, err)
	c.createNode(t, controlPlaneNode)
	c.createNode(t, workerNode)
	c.createControllerPod(t)
}

// createControllerPod creates the Pod the controller reports as. Nothing
// runs it; it only has to exist with a UID so that events regarding it show
// in `kubectl describe pod`. It is bound to a registered node: the Pod
// garbage collector deletes Pods bound to nodes that do not exist.
func (c *cluster) createControllerPod(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	spec := c.deploy.controller.Spec.Template.Spec
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: controllerPod, Namespace: c.driverNamespace, Labels: c.deploy.controller.Spec.Template.Labels},
		Spec: corev1.PodSpec{
			NodeName:                     controlPlaneNode,
			ServiceAccountName:           spec.ServiceAccountName,
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: "rds-csi", Image: c.deploy.container(t, "").Image}},
		},
	}
	// The ServiceAccount admission plugin rejects Pods whose service
	// account does not exist yet (deploy's is applied just before).
	eventually(t, waitTimeout, "Pod "+controllerPod+" created", func() (bool, string, error) {
		_, err := c.kube.CoreV1().Pods(c.driverNamespace).Create(ctx, pod, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
		return err == nil, "", err
	})
}

// createNode registers a node the way a kubelet with controller-managed
// attach/detach would: the Node with a Ready condition (status subresource)
// and a CSINode naming our driver with nodeID = node name. The CSINode is
// owned by the Node (as the kubelet does), so deleting the Node deletes it.
func (c *cluster) createNode(t *testing.T, name string) {
	t.Helper()
	c.createNodeWith(t, name, nil)
}

// createNodeWith is createNode with the topology keys the node plugin
// reports (a CSINode's drivers cannot change later).
func (c *cluster) createNodeWith(t *testing.T, name string, topologyKeys []string) {
	t.Helper()
	ctx := context.Background()
	node, err := c.kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Labels:      map[string]string{corev1.LabelHostname: name, corev1.LabelOSStable: "linux"},
		Annotations: map[string]string{annotationControllerManagedAttach: "true"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating node %s: %v", name, err)
	}
	// A patch, not an update: controllers annotate new nodes at once and an
	// update would race them.
	now := metav1.NewTime(time.Now())
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "e2e: no kubelet, set by the test", LastHeartbeatTime: now, LastTransitionTime: now,
	}}}})
	must(t, err)
	if _, err := c.kube.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		t.Fatalf("setting node %s Ready: %v", name, err)
	}
	_, err = c.kube.StorageV1().CSINodes().Create(ctx, &storagev1.CSINode{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: name, UID: node.UID}},
		},
		Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{Name: driverName, NodeID: name, TopologyKeys: topologyKeys}}},
	}, metav1.CreateOptions{})
	must(t, err)
}

// must fails the test on an API error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
