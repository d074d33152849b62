package driver

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	mount "k8s.io/mount-utils"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/rds"
)

// Real loop-device tests of block volumes and expansion (see node_loop_test.go).

// nodeMountCount counts the mounts under dir (not globally: other test
// processes may mount and unmount meanwhile).
func nodeMountCount(t *testing.T, dir string) int {
	t.Helper()
	mis, err := mount.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range mis {
		if strings.HasPrefix(m.MountPoint, dir+"/") {
			n++
		}
	}
	return n
}

func TestNodeLoopBlockVolume(t *testing.T) {
	nodeRequireRoot(t)
	e := newNodeLoopEnv(t)
	vc := e.volume(nodeVolA, 64<<20)
	vcap := nodeBlockCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	target := filepath.Join(e.work, "plugins", "volumeDevices", "publish", nodeVolA, "pod1")

	e.must(e.stage(nodeVolA, vc, vcap))
	before := nodeMountCount(t, e.work)
	e.must(e.publish(nodeVolA, target, vcap, false))
	e.must(e.publish(nodeVolA, target, vcap, false)) // idempotent
	if n := nodeMountCount(t, e.work) - before; n != 1 {
		t.Fatalf("block publish added %d mounts, want exactly 1 (no devtmpfs propagation)", n)
	}
	if e.runner.formats() != 0 || e.runner.count("blkid") != 0 {
		t.Fatal("a block volume was probed or formatted")
	}
	if rdev, err := device.BlockRdev(target); err != nil {
		t.Fatalf("target is not a block device: %v", err)
	} else if want, _ := device.BlockRdev(e.device(nodeVolA)); rdev != want {
		t.Fatal("target is another device")
	}

	// Write 1 MiB through the target with dd and read it back with dd, both
	// with direct I/O so the data really goes through the block device.
	data := make([]byte, 1<<20)
	_, _ = rand.Read(data)
	src, back := filepath.Join(e.work, "dd-in"), filepath.Join(e.work, "dd-out")
	e.must(os.WriteFile(src, data, 0o600))
	for _, args := range [][]string{
		{"if=" + src, "of=" + target, "bs=1M", "count=1", "seek=4", "oflag=direct", "conv=notrunc,fsync"},
		{"if=" + target, "of=" + back, "bs=1M", "count=1", "skip=4", "iflag=direct"},
	} {
		if out, err := exec.Command("dd", args...).CombinedOutput(); err != nil {
			t.Fatalf("dd %v: %v: %s", args, err, out)
		}
	}
	got, err := os.ReadFile(back)
	e.must(err)
	if string(got) != string(data) {
		t.Fatal("dd read back different data than it wrote")
	}

	// Unstage while the device node is still bound at a target: refused.
	nodeWantCode(t, e.unstage(nodeVolA), codes.FailedPrecondition)
	if !e.attached(nodeVolA) {
		t.Fatal("block device disconnected while published")
	}

	stats, err := e.ns.NodeGetVolumeStats(context.Background(), &csi.NodeGetVolumeStatsRequest{VolumeId: nodeVolA, VolumePath: target})
	e.must(err)
	if u := stats.GetUsage(); len(u) != 1 || u[0].GetTotal() != 64<<20 || u[0].GetUnit() != csi.VolumeUsage_BYTES {
		t.Fatalf("stats = %v", u)
	}
	// Stats of a path that is not the volume: NotFound.
	_, err = e.ns.NodeGetVolumeStats(context.Background(), &csi.NodeGetVolumeStatsRequest{VolumeId: nodeVolA, VolumePath: e.work})
	nodeWantCode(t, err, codes.NotFound)
	_, err = e.ns.NodeGetVolumeStats(context.Background(), &csi.NodeGetVolumeStatsRequest{VolumeId: nodeVolA, VolumePath: filepath.Join(e.work, "nope")})
	nodeWantCode(t, err, codes.NotFound)

	// Expansion of a block volume: rescan, report the new size.
	e.grow(96 << 20)
	exp, err := e.ns.NodeExpandVolume(context.Background(), &csi.NodeExpandVolumeRequest{
		VolumeId: nodeVolA, VolumePath: target, VolumeCapability: vcap,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 96 << 20},
	})
	e.must(err)
	if exp.GetCapacityBytes() != 96<<20 {
		t.Fatalf("capacity = %d", exp.GetCapacityBytes())
	}

	// Read-only publish of the same device at a second target. The bind is
	// remounted ro, but Linux lets a device node on a read-only mount be
	// opened for writing: the container's device permission ("r", set by
	// the kubelet for read-only block volumes) is what enforces it.
	ro := target + "-ro"
	e.must(e.publish(nodeVolA, ro, vcap, true))
	e.must(e.publish(nodeVolA, ro, vcap, true))
	m, err := e.ns.mountAt(ro)
	e.must(err)
	if m == nil || !nodeMountReadOnly(m) {
		t.Fatalf("read-only block target mount = %+v", m)
	}
	nodeWantCode(t, e.publish(nodeVolA, ro, vcap, false), codes.AlreadyExists)
	e.must(e.unpublish(nodeVolA, ro))

	e.must(e.unpublish(nodeVolA, target))
	e.must(e.unpublish(nodeVolA, target))
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Fatalf("block target file left behind: %v", err)
	}
	e.must(e.unstage(nodeVolA))
	if e.attached(nodeVolA) {
		t.Fatal("still attached")
	}
}

func TestNodeLoopExpandXFSOnline(t *testing.T) {
	nodeRequireRoot(t, "mkfs.xfs", "xfs_growfs")
	e := newNodeLoopEnv(t)
	vc := e.volume(nodeVolA, nodeSize)
	vcap := nodeMountCap("xfs", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	target := e.target(nodeVolA, "pod1")
	e.must(e.stage(nodeVolA, vc, vcap))
	e.must(e.publish(nodeVolA, target, vcap, false))
	before := nodeStatfsBytes(t, target)

	e.grow(2 * nodeSize)
	exp, err := e.ns.NodeExpandVolume(context.Background(), &csi.NodeExpandVolumeRequest{
		VolumeId: nodeVolA, VolumePath: target, VolumeCapability: vcap,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * nodeSize},
	})
	e.must(err)
	if exp.GetCapacityBytes() != 2*nodeSize {
		t.Fatalf("capacity = %d", exp.GetCapacityBytes())
	}
	after := nodeStatfsBytes(t, target)
	if after < before+nodeSize*9/10 {
		t.Fatalf("filesystem %d → %d bytes: not grown", before, after)
	}
	// Idempotent.
	_, err = e.ns.NodeExpandVolume(context.Background(), &csi.NodeExpandVolumeRequest{VolumeId: nodeVolA, VolumePath: target})
	e.must(err)
	e.must(e.unpublish(nodeVolA, target))
	e.must(e.unstage(nodeVolA))
}

// nodeHasCapSysResource reads CapEff: online ext4 growth needs CAP_SYS_RESOURCE (24).
func nodeHasCapSysResource(t *testing.T) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	e := err
	if e != nil {
		t.Fatal(e)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			var caps uint64
			for _, c := range strings.TrimSpace(v) {
				caps = caps<<4 | uint64(strings.IndexRune("0123456789abcdef", c))
			}
			return caps&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	t.Fatal("no CapEff")
	return false
}

func TestNodeLoopExpandExt4(t *testing.T) {
	nodeRequireRoot(t, "mkfs.ext4", "resize2fs", "e2fsck", "dumpe2fs")
	e := newNodeLoopEnv(t)
	vc := e.volume(nodeVolA, nodeSize)
	vcap := nodeMountCap("ext4", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	target := e.target(nodeVolA, "pod1")
	e.must(e.stage(nodeVolA, vc, vcap))
	e.must(e.publish(nodeVolA, target, vcap, false))
	e.must(os.WriteFile(filepath.Join(target, "keep.txt"), []byte("precious"), 0o644))
	before := nodeStatfsBytes(t, target)

	e.grow(2 * nodeSize)
	req := &csi.NodeExpandVolumeRequest{
		VolumeId: nodeVolA, VolumePath: target, VolumeCapability: vcap,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * nodeSize},
	}
	_, err := e.ns.NodeExpandVolume(context.Background(), req)
	if nodeHasCapSysResource(t) {
		// A machine that allows online growth must grow.
		e.must(err)
		if after := nodeStatfsBytes(t, target); after <= before {
			t.Fatalf("not grown: %d → %d", before, after)
		}
		t.Log("CAP_SYS_RESOURCE present: online ext4 growth checked instead of its refusal")
	} else {
		// Our machines: the refusal must be a clear error, never success.
		nodeWantCode(t, err, codes.FailedPrecondition)
		t.Logf("online ext4 growth refused as expected: %v", err)
		if !strings.Contains(err.Error(), "Permission denied to resize filesystem") {
			t.Fatalf("error lacks the resize2fs message: %v", err)
		}
		if after := nodeStatfsBytes(t, target); after != before {
			t.Fatalf("size changed %d → %d despite the error", before, after)
		}
	}

	// Offline: unpublish, unstage, stage again. Stage grows the unmounted
	// filesystem (e2fsck -f, resize2fs) before mounting it.
	e.must(e.unpublish(nodeVolA, target))
	e.must(e.unstage(nodeVolA))
	e.grow(3 * nodeSize)
	e.must(e.stage(nodeVolA, vc, vcap))
	e.must(e.publish(nodeVolA, target, vcap, false))
	if after := nodeStatfsBytes(t, target); after < 3*nodeSize*9/10 {
		t.Fatalf("filesystem is %d bytes after staging a %d-byte device: offline growth did not happen", after, 3*nodeSize)
	}
	if b, err := os.ReadFile(filepath.Join(target, "keep.txt")); err != nil || string(b) != "precious" {
		t.Fatalf("data after offline growth: %q, %v", b, err)
	}
	// NodeExpandVolume now finds nothing to grow and succeeds even without
	// CAP_SYS_RESOURCE.
	req.CapacityRange.RequiredBytes = 3 * nodeSize
	exp, err := e.ns.NodeExpandVolume(context.Background(), req)
	e.must(err)
	if exp.GetCapacityBytes() != 3*nodeSize {
		t.Fatalf("capacity = %d", exp.GetCapacityBytes())
	}
	if n := e.runner.formats(); n != 1 {
		t.Fatalf("formats = %d", n)
	}
	e.must(e.unpublish(nodeVolA, target))
	e.must(e.unstage(nodeVolA))
}

// The growth helper on an unmounted ext4 device, directly.
func TestNodeLoopGrowExt4Offline(t *testing.T) {
	nodeRequireRoot(t, "mkfs.ext4", "resize2fs", "e2fsck", "dumpe2fs")
	e := newNodeLoopEnv(t)
	vc := e.volume(nodeVolA, nodeSize)
	ctx := context.Background()
	dev, err := e.conn.Connect(ctx, device.Target{NQN: rds.NQNFor(nodeVolA), FilePath: vc[CtxFilePath]})
	e.must(err)
	e.must(e.ns.mkfs(ctx, dev, "ext4"))
	size0, err := e.ns.extSize(ctx, dev)
	e.must(err)
	e.grow(2 * nodeSize)
	e.must(e.conn.Rescan(ctx, rds.NQNFor(nodeVolA)))
	need, err := e.ns.extNeedsGrowth(ctx, dev)
	e.must(err)
	if !need {
		t.Fatal("growth not detected")
	}
	e.must(e.ns.growFS(ctx, dev, "ext4", ""))
	size1, err := e.ns.extSize(ctx, dev)
	e.must(err)
	if size1 < 2*size0*9/10 {
		t.Fatalf("ext4 %d → %d bytes", size0, size1)
	}
	if need, _ := e.ns.extNeedsGrowth(ctx, dev); need {
		t.Fatal("still needs growth after growing")
	}
	// xfs refuses to grow unmounted; the helper says so instead of pretending.
	if err := e.ns.growFS(ctx, dev, "xfs", ""); err == nil {
		t.Fatal("offline xfs growth accepted")
	}
	e.must(e.conn.Disconnect(ctx, rds.NQNFor(nodeVolA)))
}

// Regression: a request deadline that ends while NodeExpandVolume waits for
// the kernel to see the grown device is DeadlineExceeded (retryable), not
// Internal.
func TestNodeLoopExpandWaitDeadlineIsRetryable(t *testing.T) {
	nodeRequireRoot(t)
	e := newNodeLoopEnv(t)
	vc := e.volume(nodeVolA, 64<<20)
	vcap := nodeBlockCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	target := filepath.Join(e.work, "plugins", "volumeDevices", "publish", nodeVolA, "pod1")
	e.must(e.stage(nodeVolA, vc, vcap))
	e.must(e.publish(nodeVolA, target, vcap, false))

	// The backing file is not grown: the device never reaches the size, and
	// the request deadline ends before ResizeWait (5 s).
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := e.ns.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{
		VolumeId: nodeVolA, VolumePath: target, VolumeCapability: vcap,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 96 << 20},
	})
	nodeWantCode(t, err, codes.DeadlineExceeded)

	e.must(e.unpublish(nodeVolA, target))
	e.must(e.unstage(nodeVolA))
}
