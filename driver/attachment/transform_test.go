package attachment

import (
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/srvlab/rds-csi/driver"
	"github.com/srvlab/rds-csi/queue"
)

func TestTransformNodeKeepsOnlyWhatIsRead(t *testing.T) {
	n := nodeWith("a", corev1.ConditionFalse, t0, outOfService,
		corev1.Taint{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute})
	n.Labels = map[string]string{"kubernetes.io/hostname": "a"}
	n.Annotations = map[string]string{"huge": strings.Repeat("x", 4096)}
	n.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
	n.Status.Images = []corev1.ContainerImage{{Names: []string{"registry/img:1"}, SizeBytes: 1}}
	n.Status.VolumesInUse = []corev1.UniqueVolumeName{"v"}
	n.Status.VolumesAttached = []corev1.AttachedVolume{{Name: "v", DevicePath: "/dev/x"}}
	n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse})
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}}
	n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}

	out, err := transformNode(n)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Node)
	want := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "a", UID: n.UID, CreationTimestamp: n.CreationTimestamp},
		Spec:       corev1.NodeSpec{Taints: []corev1.Taint{outOfService}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(t0), Reason: "KubeletReady",
		}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("transformed node\n got %+v\nwant %+v", got, want)
	}
	again, _ := transformNode(got)
	if !reflect.DeepEqual(again, got) {
		t.Fatal("node transform is not idempotent")
	}
}

func TestTransformVAAndPV(t *testing.T) {
	vol := volumeID(1)
	va := attachedVA(vol, "a", t0)
	va.Annotations = map[string]string{"a": "b"}
	va.Finalizers = []string{"external-attacher/" + testDriver}
	va.Status.AttachmentMetadata = map[string]string{"nqn": "x"}
	va.Status.AttachError = &storagev1.VolumeError{Message: "boom"}
	tf := transformVA(testDriver)
	out, _ := tf(va)
	got := out.(*storagev1.VolumeAttachment)
	if got.Annotations != nil || got.Finalizers != nil || got.Status.AttachmentMetadata != nil || got.Status.AttachError != nil ||
		!got.Status.Attached || got.Spec.NodeName != "a" || *got.Spec.Source.PersistentVolumeName != vol {
		t.Fatalf("VA = %+v", got)
	}
	again, _ := tf(got)
	if !reflect.DeepEqual(again, got) {
		t.Fatal("VA transform is not idempotent")
	}

	foreign := attachedVA(vol, "a", t0)
	foreign.Spec.Attacher = "other"
	out, _ = tf(foreign)
	if f := out.(*storagev1.VolumeAttachment); f.Spec.NodeName != "" || f.Spec.Source.PersistentVolumeName != nil || f.Status.Attached {
		t.Fatalf("foreign VA not reduced to a stub: %+v", f)
	}

	pv := rwxPV(vol, map[string]string{driver.CtxMigrationTimeout: "60", driver.CtxNQN: "nqn", driver.CtxFilePath: "/p"})
	pv.Spec.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
	pv.Spec.ClaimRef = &corev1.ObjectReference{Name: "claim"}
	pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{}
	pf := transformPV(testDriver)
	out, _ = pf(pv)
	gotPV := out.(*corev1.PersistentVolume)
	if gotPV.Spec.Capacity != nil || gotPV.Spec.ClaimRef != nil || gotPV.Spec.NodeAffinity != nil ||
		!reflect.DeepEqual(gotPV.Spec.CSI.VolumeAttributes, map[string]string{driver.CtxMigrationTimeout: "60", driver.CtxFilePath: "/p"}) ||
		gotPV.Spec.CSI.VolumeHandle != vol || len(gotPV.Spec.AccessModes) != 1 {
		t.Fatalf("PV = %+v", gotPV)
	}
	other := rwoPV("pv-other")
	other.Spec.CSI.Driver = "other"
	out, _ = pf(other)
	if out.(*corev1.PersistentVolume).Spec.CSI != nil {
		t.Fatal("foreign PV not reduced to a stub")
	}
}

func TestConfigValidation(t *testing.T) {
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "client") || !strings.Contains(err.Error(), "driver name") {
		t.Fatalf("empty config: %v", err)
	}
	cs := fake.NewClientset()
	for name, cfg := range map[string]Config{
		"negative grace":       {GracePeriod: -time.Second},
		"LE without pod name":  {LeaderElection: true, Namespace: "ns"},
		"lease <= renew":       {LeaderElection: true, Namespace: "ns", PodName: "p", LeaseDuration: 5 * time.Second, RenewDeadline: 5 * time.Second},
		"renew <= 1.2 x retry": {LeaderElection: true, Namespace: "ns", PodName: "p", RenewDeadline: 2 * time.Second, RetryPeriod: 2 * time.Second},
		"backoff max < base":   {Backoff: queue.LimiterConfig{Base: time.Minute, Max: time.Second}},
	} {
		cfg.Client, cfg.DriverName = cs, testDriver
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c, err := New(Config{Client: cs, DriverName: testDriver})
	if err != nil {
		t.Fatal(err)
	}
	c.Stop()
	if c.cfg.GracePeriod != DefaultGracePeriod || c.cfg.ResyncPeriod != DefaultResyncPeriod || c.cfg.LeaseDuration != 15*time.Second ||
		c.cfg.RenewDeadline != 10*time.Second || c.cfg.RetryPeriod != 2*time.Second {
		t.Errorf("defaults = %+v", c.cfg)
	}
}
