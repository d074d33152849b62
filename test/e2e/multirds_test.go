//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/srvlab/rds-csi/test/harness"
)

// TestE2EMultiRDS is acceptance point 3 of issue 13 on a real API server
// with the real external-provisioner (--enable-capacity, Topology, from
// deploy/): two RDS units with a topology each (unit "default" on emulator A
// in segment rack-a, 20 GiB; unit "b" on emulator B in rack-b, 60 GiB) and
// one node in each segment.
//
//   - CSIStorageCapacity objects appear per segment with each unit's free
//     space, and follow it within one poll after a volume is made;
//   - a WaitForFirstConsumer claim that fits only on B binds on B: the real
//     kube-scheduler (from the tools build) schedules a Pod using it to the
//     rack-b node, because the rack-a node's RDS has too little room, and a
//     claim that fits nowhere keeps its Pod unschedulable for lack of
//     storage.
func TestE2EMultiRDS(t *testing.T) {
	c := newCluster(t)
	c.dumpOnFailureMulti(t)
	a := startEmulatorSized(t, c.cp, c.bins.Sim, "20G")
	b := startEmulatorSized(t, c.cp, c.bins.Sim, "60G")
	c.rds = a
	config := filepath.Join(t.TempDir(), "rds.yaml")
	unit := func(name string, e *emulator, rack string) string {
		return fmt.Sprintf("- name: %s\n  address: %s\n  privateKey: %s\n  hostKey: %s\n  topology:\n    %s: %s\n",
			name, e.Addr, e.ClientKey, e.HostKeyPub, topologyKey, rack)
	}
	if err := os.WriteFile(config, []byte("units:\n"+unit("default", a, "rack-a")+unit("b", b, "rack-b")), 0o600); err != nil {
		t.Fatal(err)
	}
	c.controllerExtra = map[string]string{
		"rds-config": config, "rds-address": "", "rds-user": "", "rds-private-key": "", "rds-host-key": "",
	}
	c.provisionerExtra = map[string]string{"capacity-poll-interval": capacityPoll.String()}

	c.deploy.install(t, c)
	ctx := context.Background()
	_, err := c.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}, metav1.CreateOptions{})
	must(t, err)
	c.createNode(t, controlPlaneNode)
	for node, rack := range map[string]string{nodeRackA: "rack-a", nodeRackB: "rack-b"} {
		c.createNodeWith(t, node, []string{topologyKey})
		c.placeNode(t, node, rack)
	}
	c.createControllerPod(t)
	c.controller = startController(t, c, c.bins.CSI)
	c.startSidecars(t)
	c.sidecars = append(c.sidecars, c.cp.StartBinary(harness.BinKubeScheduler,
		"--kubeconfig="+c.cp.KubeconfigPath, "--leader-elect=false", fmt.Sprintf("--secure-port=%d", freePorts(t, 1)[0]), "--v=3"))

	// 1. One CSIStorageCapacity per segment, each with its unit's room.
	want := map[string]int64{"rack-a": 20 << 30, "rack-b": 60 << 30}
	start := time.Now()
	c.waitCapacity(t, want)
	t.Logf("CSIStorageCapacity per segment %v after %v", want, time.Since(start).Round(time.Millisecond))

	// 2. A 10 GiB volume on B (the scheduler's choice stood in for by the
	// annotation): the rack-b object follows within one poll.
	track := c.newPVC(t, "track", "10Gi")
	track.Annotations = map[string]string{annotationSelectedNode: nodeRackB}
	c.createPVC(t, track)
	pv := c.waitBound(t, "track")
	bound := time.Now()
	if !strings.HasPrefix(pv.Spec.CSI.VolumeHandle, "b:") {
		t.Errorf("volume handle %s: want on unit b", pv.Spec.CSI.VolumeHandle)
	}
	want["rack-b"] = 50 << 30
	c.waitCapacity(t, want)
	took := time.Since(bound)
	t.Logf("rack-b capacity followed the new volume %v after it was bound (poll interval %v)", took.Round(time.Millisecond), capacityPoll)
	if took > capacityPoll+5*time.Second {
		t.Errorf("capacity took %v to follow, more than one poll (%v)", took, capacityPoll)
	}

	// 3. 30 GiB fit only on B (A has 20 GiB).
	big := c.newPVC(t, "big", "30Gi")
	big.Annotations = map[string]string{}
	c.createPVC(t, big)
	c.createPodFor(t, "big-user", "big")
	pv = c.waitBound(t, "big")
	if !strings.HasPrefix(pv.Spec.CSI.VolumeHandle, "b:") {
		t.Errorf("volume handle %s: want on unit b", pv.Spec.CSI.VolumeHandle)
	}
	if na := pv.Spec.NodeAffinity; na == nil || na.Required == nil || len(na.Required.NodeSelectorTerms) != 1 || !strings.Contains(fmt.Sprint(na.Required.NodeSelectorTerms), "rack-b") {
		t.Errorf("PV node affinity %v: want the rack-b segment", na)
	}
	// The scheduler binds the Pod once its claim is bound (PreBind).
	var pod *corev1.Pod
	eventually(t, waitTimeout, "Pod big-user bound to a node", func() (bool, string, error) {
		var err error
		pod, err = c.kube.CoreV1().Pods(testNamespace).Get(ctx, "big-user", metav1.GetOptions{})
		return err == nil && pod.Spec.NodeName != "", "", err
	})
	if pod.Spec.NodeName != nodeRackB {
		t.Errorf("Pod scheduled to %q, want %s (the only node whose RDS has room)", pod.Spec.NodeName, nodeRackB)
	}
	t.Logf("kube-scheduler put the Pod on %s; PV %s on unit b", pod.Spec.NodeName, pv.Spec.CSI.VolumeHandle)

	// And the scheduler does read the capacity objects: a claim that
	// fits on no unit keeps its Pod unschedulable for lack of storage.
	huge := c.newPVC(t, "huge", "100Gi")
	huge.Annotations = map[string]string{}
	c.createPVC(t, huge)
	c.createPodFor(t, "huge-user", "huge")
	eventually(t, waitTimeout, "Pod huge-user unschedulable for lack of storage", func() (bool, string, error) {
		p, err := c.kube.CoreV1().Pods(testNamespace).Get(ctx, "huge-user", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse {
				return strings.Contains(cond.Message, "storage"), cond.Message, nil
			}
		}
		return false, "not yet considered", nil
	})
	want["rack-b"] = 20 << 30
	c.waitCapacity(t, want)
}

const (
	topologyKey  = "topology.rds.csi.srvlab.io/rds"
	nodeRackA    = "e2e-rack-a"
	nodeRackB    = "e2e-rack-b"
	capacityPoll = 5 * time.Second
)

// placeNode gives a node what its kubelet would: the topology label (the
// node plugin's --node-topology; the CSINode's key is set at creation), room
// for Pods (the scheduler filters nodes without allocatable resources) and
// no not-ready taint.
func (c *cluster) placeNode(t *testing.T, name, rack string) {
	t.Helper()
	ctx := context.Background()
	// The API server taints new nodes not-ready; the node-lifecycle
	// controller, which would lift it, does not run here.
	labels, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{topologyKey: rack}}, "spec": map[string]any{"taints": nil}})
	must(t, err)
	_, err = c.kube.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, labels, metav1.PatchOptions{})
	must(t, err)
	room := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}
	status, err := json.Marshal(map[string]any{"status": map[string]any{"capacity": room, "allocatable": room}})
	must(t, err)
	_, err = c.kube.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, status, metav1.PatchOptions{}, "status")
	must(t, err)
}

// waitCapacity waits until the CSIStorageCapacity objects of the default
// StorageClass say want (segment value → bytes).
func (c *cluster) waitCapacity(t *testing.T, want map[string]int64) {
	t.Helper()
	eventually(t, waitTimeout, fmt.Sprintf("CSIStorageCapacity %v", want), func() (bool, string, error) {
		if err := c.alive(); err != nil {
			return false, "", err
		}
		list, err := c.kube.StorageV1().CSIStorageCapacities(c.driverNamespace).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, "", err
		}
		got := map[string]int64{}
		for _, o := range list.Items {
			if o.StorageClassName != c.storageClass || o.Capacity == nil || o.NodeTopology == nil {
				continue
			}
			got[o.NodeTopology.MatchLabels[topologyKey]] = o.Capacity.Value()
		}
		for seg, v := range want {
			if got[seg] != v {
				return false, fmt.Sprintf("have %v", got), nil
			}
		}
		return len(got) == len(want), fmt.Sprintf("have %v", got), nil
	})
}

// createPodFor creates a Pod using the claim and leaves its placement to
// kube-scheduler.
func (c *cluster) createPodFor(t *testing.T, name, claim string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
			}}},
		},
	}
	_, err := c.kube.CoreV1().Pods(testNamespace).Create(context.Background(), pod, metav1.CreateOptions{})
	must(t, err)
}

// dumpOnFailureMulti prints the capacity objects and nodes when t failed.
func (c *cluster) dumpOnFailureMulti(t *testing.T) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		out, err := c.cp.Kubectl("get", "csistoragecapacities,csinodes,nodes,pvc,pv,pods", "-A", "-o", "yaml")
		if err != nil {
			out += "\n" + err.Error()
		}
		t.Logf("----- cluster objects -----\n%s", out)
	})
}
