package driver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/srvlab/rds-csi/driver/nodehealth"
)

// withHealth gives the loop environment's node service a running health
// watcher over the real /sys and /proc/self/mountinfo.
func (e *nodeLoopEnv) withHealth() *nodeHealthEnv {
	e.t.Helper()
	h := nodeStartHealth(e.t, e.conn, e.conn, "")
	var err error
	e.ns, err = NewNodeServer(NodeConfig{NodeID: "node-a", Connector: e.conn, Runner: e.runner, Health: h.w, Locks: h.locks})
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// publishForPod publishes as the kubelet does with podInfoOnMount.
func (e *nodeLoopEnv) publishForPod(id, target string, vcap *csi.VolumeCapability, namespace, pod string) error {
	_, err := e.ns.NodePublishVolume(context.Background(), &csi.NodePublishVolumeRequest{
		VolumeId: id, StagingTargetPath: e.staging(id), TargetPath: target, VolumeCapability: vcap,
		VolumeContext: map[string]string{ctxPodName: pod, ctxPodNamespace: namespace, ctxPodUID: "uid-" + pod},
	})
	return err
}

// Acceptance 4: the loop device behind a published volume is detached →
// the volume's condition is abnormal; the data mount is not removed.
func TestNodeLoopDetachedDeviceIsAbnormalAndMountsStay(t *testing.T) {
	nodeRequireRoot(t, "mkfs.ext4")
	e := newNodeLoopEnv(t)
	h := e.withHealth()
	vc := e.volume(nodeVolA, 64<<20)
	vcap := nodeMountCap("ext4", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	target := e.target(nodeVolA, "pod1")
	e.must(e.stage(nodeVolA, vc, vcap))
	e.must(e.publishForPod(nodeVolA, target, vcap, "apps", "pod1"))
	e.must(os.WriteFile(filepath.Join(target, "keep.txt"), []byte("precious"), 0o644))
	h.pass()
	if msgs, _, err := nodeHealthOf(t, e.ns, nodeVolA, e.staging(nodeVolA)); err != nil || len(msgs) != 0 {
		t.Fatalf("healthy volume: %v, %v", msgs, err)
	}

	dev := e.device(nodeVolA)
	mountsBefore := nodeMountCount(t, e.work)
	umounts := e.runner.count("umount")
	// Someone detaches the device under the mounted filesystem: the kernel
	// only marks it autoclear; it goes when its last user does.
	lctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(lctx, "losetup", "-d", dev).CombinedOutput(); err != nil {
		t.Fatalf("losetup -d %s: %v %s", dev, err, out)
	}
	h.pass()
	msgs, statuses, err := nodeHealthOf(t, e.ns, nodeVolA, e.staging(nodeVolA))
	if err != nil {
		t.Fatal(err)
	}
	msg := msgs[nodehealth.ReasonPathDeleting]
	if !strings.Contains(msg, filepath.Base(dev)+" deleting") || statuses[nodehealth.ReasonPathDeleting] != "INACCESSIBLE" {
		t.Fatalf("health after detach %v %v, want %s naming %s", msgs, statuses, nodehealth.ReasonPathDeleting, dev)
	}
	ev := h.rec.withReason(nodehealth.ReasonPathDeleting)
	if len(ev) != 1 || ev[0].Kind != "Pod" || ev[0].Namespace != "apps" || ev[0].Name != "pod1" {
		t.Fatalf("events %+v, want one regarding Pod apps/pod1", ev)
	}
	// Nothing was unmounted, by command or otherwise; the data is there.
	if n := nodeMountCount(t, e.work); n != mountsBefore {
		t.Fatalf("mounts %d → %d", mountsBefore, n)
	}
	if e.runner.count("umount") != umounts || !nodeIsMountPoint(t, target) || !nodeIsMountPoint(t, e.staging(nodeVolA)) {
		t.Fatal("the health watcher unmounted something")
	}
	if b, err := os.ReadFile(filepath.Join(target, "keep.txt")); err != nil || string(b) != "precious" {
		t.Fatalf("data: %q, %v", b, err)
	}

	// The kubelet cleans up: the device goes with its last user, and the
	// volume is not on this node any more.
	e.must(e.unpublish(nodeVolA, target))
	e.must(e.unstage(nodeVolA))
	if e.attached(nodeVolA) {
		t.Fatal("still attached after unstage")
	}
	_, _, err = nodeHealthOf(t, e.ns, nodeVolA, e.staging(nodeVolA))
	nodeWantCode(t, err, codes.NotFound)
}

// A filesystem the kernel switched to read-only after an error is a
// DEGRADED volume; nothing is remounted.
func TestNodeLoopReadOnlyAfterErrorIsDegraded(t *testing.T) {
	nodeRequireRoot(t, "mkfs.ext4")
	e := newNodeLoopEnv(t)
	h := e.withHealth()
	vc := e.volume(nodeVolA, 64<<20)
	vcap := nodeMountCap("ext4", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	vcap.GetMount().MountFlags = []string{"errors=remount-ro"}
	e.must(e.stage(nodeVolA, vc, vcap))
	trigger := filepath.Join("/sys/fs/ext4", filepath.Base(e.device(nodeVolA)), "trigger_fs_error")
	if _, err := os.Stat(trigger); err != nil {
		e.must(e.unstage(nodeVolA))
		t.Skipf("this kernel cannot inject an ext4 error (%v)", err)
	}
	h.pass()
	if msgs, _, _ := nodeHealthOf(t, e.ns, nodeVolA, ""); len(msgs) != 0 {
		t.Fatalf("healthy volume: %v", msgs)
	}
	// ext4_error() as an I/O error would call it; errors=remount-ro does the rest.
	e.must(os.WriteFile(trigger, []byte("1"), 0o200))
	h.pass()
	msgs, statuses, err := nodeHealthOf(t, e.ns, nodeVolA, "")
	e.must(err)
	if statuses[nodehealth.ReasonReadOnlyAfterError] != "DEGRADED" || len(msgs) != 1 {
		t.Fatalf("health %v %v, want only %s DEGRADED", msgs, statuses, nodehealth.ReasonReadOnlyAfterError)
	}
	if err := os.WriteFile(filepath.Join(e.staging(nodeVolA), "x"), nil, 0o644); err == nil {
		t.Fatal("the filesystem still takes writes: the error injection did not work")
	}
	e.must(e.unstage(nodeVolA))
}

// Stage and unstage keep the watcher's record: the connect parameters of
// the volume context, and nothing after unstage.
func TestNodeLoopStageRecordsTheVolume(t *testing.T) {
	nodeRequireRoot(t)
	e := newNodeLoopEnv(t)
	h := e.withHealth()
	vc := e.volume(nodeVolA, 64<<20)
	vc[CtxCtrlLossTmo], vc[CtxReconnectDelay], vc[CtxKeepAliveTmo] = "600", "10", "15"
	vcap := nodeBlockCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	target := filepath.Join(e.work, "plugins", "volumeDevices", "publish", nodeVolA, "pod1")
	e.must(e.stage(nodeVolA, vc, vcap))
	e.must(e.publishForPod(nodeVolA, target, vcap, "apps", "pod1"))
	c, ok := h.w.Condition(context.Background(), nodeVolA)
	if !ok || c.Abnormal() {
		t.Fatalf("condition %+v, %v", c, ok)
	}
	v, ok := h.reload().Get(nodeVolA)
	if !ok || v.Target == nil || v.Target.CtrlLossTmo != 600 || v.Target.ReconnectDelay != 10 || v.Target.KeepAliveTmo != 15 ||
		!v.Block || len(v.Publishes) != 1 || v.Publishes[0].Pod == nil || v.Publishes[0].Pod.Name != "pod1" {
		t.Fatalf("record %+v", v)
	}
	e.must(e.unpublish(nodeVolA, target))
	e.must(e.unstage(nodeVolA))
	if _, ok := h.reload().Get(nodeVolA); ok {
		t.Fatal("record kept after unstage: the watcher could reconnect it")
	}
}
