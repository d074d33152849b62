package attachment

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/srvlab/rds-csi/cmd/rds-csi/app"
	reconciler "github.com/srvlab/rds-csi/driver/attachment"
	"github.com/srvlab/rds-csi/test/harness"
)

// driverName is the driver's default --driver-name: the attacher of its
// VolumeAttachments and the driver of its PVs.
var driverName = app.DefaultConfig().DriverName

// controllerNamespace holds the controller Pods and the Lease.
const controllerNamespace = "rds-csi"

// podID is the controller Pod a process claims to be (downward API).
type podID struct {
	name, namespace string
	uid             types.UID
}

// cluster is the harness's control plane plus a client fast enough not to
// measure client-side throttling. No kube-controller-manager runs: the tests
// play the kubelet (Node status) and the external-attacher (VA status), so
// nothing else touches the objects.
type cluster struct {
	cp *harness.ControlPlane
	cs kubernetes.Interface
}

func startCluster(t testing.TB) *cluster {
	t.Helper()
	cp := harness.Start(t, harness.Options{})
	cfg := *cp.RESTConfig
	cfg.QPS, cfg.Burst = 500, 1000
	cs, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{cp: cp, cs: cs}
}

// apiCtx bounds one API call (or a few): the loopback API server answers in
// milliseconds, a hang must not eat the package's time budget.
func apiCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// ignoreExists lets setup steps shared by several Pods run more than once.
func ignoreExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// controllerPod creates a Pod object standing for one controller replica:
// it never runs (no kubelet), it exists so that events regarding it have a
// real name and UID and `kubectl describe pod` finds them.
func (c *cluster) controllerPod(t testing.TB, name string) podID {
	t.Helper()
	ctx, cancel := apiCtx()
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllerNamespace}}
	if _, err := c.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); ignoreExists(err) != nil {
		t.Fatal(err)
	}
	// The ServiceAccount admission plugin needs "default"; without
	// kube-controller-manager nobody else creates it.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: controllerNamespace}}
	if _, err := c.cs.CoreV1().ServiceAccounts(controllerNamespace).Create(ctx, sa, metav1.CreateOptions{}); ignoreExists(err) != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: controllerNamespace, Labels: map[string]string{"app": "rds-csi-controller"}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: "rds-csi", Image: "rds-csi:test"}},
		},
	}
	pod, err := c.cs.CoreV1().Pods(controllerNamespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return podID{name: pod.Name, namespace: pod.Namespace, uid: pod.UID}
}

// readyNode creates a Node with a Ready condition (status is a subresource:
// two calls, as the kubelet makes them).
func (c *cluster) readyNode(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := apiCtx()
	defer cancel()
	n, err := c.cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
		LastHeartbeatTime: now, LastTransitionTime: now, Reason: "KubeletReady"}}
	if _, err := c.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) deleteNode(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := apiCtx()
	defer cancel()
	if err := c.cs.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// vaName is how the external-attacher names VolumeAttachments: a hash of
// volume handle, attacher and node.
func vaName(handle, node string) string {
	return fmt.Sprintf("csi-%x", sha256.Sum256([]byte(handle+driverName+node)))
}

// attach creates the PV of a provisioned volume (named as the provisioner
// names it) and an attached VolumeAttachment on node: created by the
// attach/detach controller, then attached=true in its status as the
// external-attacher reports it.
func (c *cluster) attach(t testing.TB, pvName string, vol *csi.Volume, node string) {
	t.Helper()
	ctx, cancel := apiCtx()
	defer cancel()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(vol.GetCapacityBytes(), resource.BinarySI)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: driverName, VolumeHandle: vol.GetVolumeId(), FSType: "ext4", VolumeAttributes: vol.GetVolumeContext(),
			}},
		},
	}
	if _, err := c.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	va := &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: vaName(vol.GetVolumeId(), node)},
		Spec: storagev1.VolumeAttachmentSpec{
			Attacher: driverName, NodeName: node,
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To(pvName)},
		},
	}
	va, err := c.cs.StorageV1().VolumeAttachments().Create(ctx, va, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	va.Status.Attached = true
	if _, err := c.cs.StorageV1().VolumeAttachments().UpdateStatus(ctx, va, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// events lists events.k8s.io/v1 events of a reason regarding one object.
func (c *cluster) events(t testing.TB, namespace, reason, kind, name string) []eventsv1.Event {
	t.Helper()
	ctx, cancel := apiCtx()
	defer cancel()
	list, err := c.cs.EventsV1().Events(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("listing events in %s: %v", namespace, err)
		return nil
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Reason == reason && e.Regarding.Kind == kind && e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// waitEvent waits for the first event of a reason regarding one object.
func (c *cluster) waitEvent(t testing.TB, namespace, reason, kind, name string) eventsv1.Event {
	t.Helper()
	var found []eventsv1.Event
	waitFor(t, fmt.Sprintf("event %s regarding %s %s", reason, kind, name), coarsePoll, 15*time.Second, func() bool {
		found = c.events(t, namespace, reason, kind, name)
		return len(found) > 0
	})
	return found[0]
}

// lease reads the attachment Lease; nil while it does not exist.
func (c *cluster) lease(t testing.TB) *coordinationv1.Lease {
	t.Helper()
	ctx, cancel := apiCtx()
	defer cancel()
	l, err := c.cs.CoordinationV1().Leases(controllerNamespace).Get(ctx, reconciler.DefaultLeaseName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Logf("reading the Lease: %v", err)
		return nil
	}
	return l
}

// holder is the Lease's holderIdentity, "" when none.
func holder(l *coordinationv1.Lease) string {
	if l == nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}
