package harness_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/srvlab/rds-csi/test/harness"
)

const attacher = "rds.csi.srvlab.io"

// TestControlPlane starts etcd, kube-apiserver and kube-controller-manager,
// then proves that the first watch on a fresh cluster delivers events (the
// failure mode of Debian's etcd 3.4 with a current API server) and that the
// controller manager runs its controllers.
func TestControlPlane(t *testing.T) {
	const plainUser = "system:serviceaccount:kube-system:rds-csi-test"
	cp := harness.Start(t, harness.Options{
		ControllerManager: true,
		Users:             []harness.User{{Name: plainUser, Groups: []string{"system:serviceaccounts", "system:authenticated"}}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := cp.Clientset

	// Static-token users without bindings are authenticated but RBAC denies them.
	plain, err := kubernetes.NewForConfig(cp.RESTConfigFor(plainUser))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("listing nodes as %s: want Forbidden, got %v", plainUser, err)
	}

	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server version %s", v.GitVersion)
	if !strings.HasPrefix(v.GitVersion, "v1.") || v.GitVersion == "v0.0.0-master+$Format:%H$" {
		t.Errorf("kube-apiserver built without version ldflags: %q", v.GitVersion)
	}

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        "node-1",
		Annotations: map[string]string{"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
	}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	vas := cs.StorageV1().VolumeAttachments()
	list, err := vas.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := vas.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	va := &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: "va-1"},
		Spec: storagev1.VolumeAttachmentSpec{
			Attacher: attacher,
			NodeName: node.Name,
			Source:   storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To("pv-1")},
		},
	}
	if va, err = vas.Create(ctx, va, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, watch.Added, func(got *storagev1.VolumeAttachment) bool { return got.Name == va.Name })

	// What csi-attacher does after ControllerPublishVolume: write the status subresource.
	va.Status = storagev1.VolumeAttachmentStatus{Attached: true, AttachmentMetadata: map[string]string{"nqn": "test"}}
	if _, err := vas.UpdateStatus(ctx, va, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, watch.Modified, func(got *storagev1.VolumeAttachment) bool { return got.Status.Attached })

	if err := vas.Delete(ctx, va.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, watch.Deleted, func(got *storagev1.VolumeAttachment) bool { return got.Name == va.Name })

	// kube-controller-manager answered /healthz inside Start; prove its
	// controllers act: the service-account controller creates "default" in a
	// new namespace and the root-CA publisher creates kube-root-ca.crt.
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "harness-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if _, err := cs.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false, ignoreNotFound(err)
		}
		_, err := cs.CoreV1().ConfigMaps(ns.Name).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err == nil, ignoreNotFound(err)
	})
	if err != nil {
		t.Fatalf("kube-controller-manager did not populate namespace %s: %v", ns.Name, err)
	}

	out, err := cp.Kubectl("get", "volumeattachments,nodes", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "node/node-1") {
		t.Errorf("kubectl output %q lacks node/node-1", out)
	}
}

// TestSnapshotCRDs applies the snapshot CRDs shipped with the tools, checks
// that the API serves them and runs the snapshot-controller against them.
func TestSnapshotCRDs(t *testing.T) {
	cp := harness.Start(t, harness.Options{})
	cp.ApplyCRDs("")
	out, err := cp.Kubectl("get", "volumesnapshots,volumesnapshotcontents,volumesnapshotclasses,volumegroupsnapshots", "-A")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kubectl: %s", strings.TrimSpace(out))

	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	p := cp.StartBinary(harness.BinSnapshotController,
		"--kubeconfig="+cp.KubeconfigPath, "--leader-election=false", "--http-endpoint="+addr)
	hc := &http.Client{Timeout: 2 * time.Second}
	err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		if exited, werr := p.Exited(); exited {
			return false, errors.Join(errors.New("snapshot-controller exited"), werr)
		}
		resp, err := hc.Get("http://" + addr + "/metrics")
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("snapshot-controller: %v", err)
	}
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func expectEvent(t *testing.T, w watch.Interface, typ watch.EventType, match func(*storagev1.VolumeAttachment) bool) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed while waiting for %s", typ)
			}
			got, isVA := ev.Object.(*storagev1.VolumeAttachment)
			if ev.Type == typ && isVA && match(got) {
				return
			}
			t.Logf("ignoring %s event %T", ev.Type, ev.Object)
		case <-timeout:
			t.Fatalf("no %s VolumeAttachment event within 30s", typ)
		}
	}
}
