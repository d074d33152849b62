package driver

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	mount "k8s.io/mount-utils"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/rds"
)

// These tests drive the node service against real loop devices, real
// mkfs/blkid/mount and real ext4/xfs. They need root and the tools of
// e2fsprogs, xfsprogs and util-linux.

// nodeCountingRunner runs real commands, counts them by name, and lets a
// test replace the answer of chosen commands.
type nodeCountingRunner struct {
	real      device.Runner
	mu        sync.Mutex
	counts    map[string]int
	intercept func(c device.Command) (device.Result, error, bool)
}

func (r *nodeCountingRunner) Run(ctx context.Context, c device.Command) (device.Result, error) {
	r.mu.Lock()
	r.counts[c.Name]++
	hook := r.intercept
	r.mu.Unlock()
	if hook != nil {
		if res, err, ok := hook(c); ok {
			return res, err
		}
	}
	return r.real.Run(ctx, c)
}

func (r *nodeCountingRunner) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[name]
}

func (r *nodeCountingRunner) formats() int { return r.count("mkfs.ext4") + r.count("mkfs.xfs") }

type nodeLoopEnv struct {
	t      *testing.T
	root   string // the emulator's data dir (loop root)
	work   string // kubelet-like directory for staging and targets
	conn   *device.Loop
	runner *nodeCountingRunner
	ns     *NodeServer
}

func nodeRequireRoot(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: attaches loop devices and mounts filesystems")
	}
	for _, tool := range append([]string{"losetup", "blkid", "mount", "umount"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install util-linux e2fsprogs xfsprogs)", tool)
		}
	}
}

func newNodeLoopEnv(t *testing.T) *nodeLoopEnv {
	t.Helper()
	e := &nodeLoopEnv{t: t, root: t.TempDir(), work: t.TempDir()}
	// Registered after the TempDirs, so it runs before their removal: no
	// RemoveAll ever walks into a mounted filesystem.
	t.Cleanup(e.cleanup)
	var err error
	// One runner for the node service and the connector: tests see (and
	// may script) losetup as well as mkfs and mount.
	e.runner = &nodeCountingRunner{real: device.NewExecRunner(time.Minute), counts: map[string]int{}}
	if e.conn, err = device.NewLoop(device.LoopOptions{Root: e.root, Runner: e.runner}); err != nil {
		t.Fatal(err)
	}
	e.ns, err = NewNodeServer(NodeConfig{NodeID: "node-a", Connector: e.conn, Runner: e.runner, ResizeWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// cleanup unmounts everything under the work dir (deepest first) and
// detaches every loop device backed by a file under the root, even after a
// failed test.
func (e *nodeLoopEnv) cleanup() {
	for range 3 {
		mis, err := mount.ParseMountInfo("/proc/self/mountinfo")
		if err != nil {
			e.t.Errorf("cleanup: %v", err)
			return
		}
		var mine []string
		for _, m := range mis {
			if strings.HasPrefix(m.MountPoint, e.work+"/") {
				mine = append(mine, m.MountPoint)
			}
		}
		if len(mine) == 0 {
			break
		}
		sort.Sort(sort.Reverse(sort.StringSlice(mine)))
		for _, p := range mine {
			if out, err := exec.Command("umount", p).CombinedOutput(); err != nil {
				e.t.Logf("cleanup: umount %s: %v %s; lazy", p, err, out)
				_ = exec.Command("umount", "-l", p).Run()
			}
		}
	}
	out, _ := exec.Command("losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.HasPrefix(f[1], e.root+"/") {
			if out, err := exec.Command("losetup", "-d", f[0]).CombinedOutput(); err != nil {
				e.t.Errorf("cleanup: losetup -d %s: %v %s", f[0], err, out)
			}
		}
	}
}

// volume creates a sparse backing file as the emulator would and returns
// the volume context the controller would hand out.
func (e *nodeLoopEnv) volume(id string, size int64) map[string]string {
	e.t.Helper()
	rdsPath := rds.FilePathFor(rds.DefaultVolumePath, id)
	file := filepath.Join(e.root, rdsPath)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		e.t.Fatal(err)
	}
	f, err := os.Create(file)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		e.t.Fatal(err)
	}
	f.Close()
	return map[string]string{CtxFilePath: rdsPath, CtxNQN: rds.NQNFor(id)}
}

func (e *nodeLoopEnv) grow(size int64) { // the tests grow volume A only
	id := nodeVolA
	e.t.Helper()
	if err := os.Truncate(filepath.Join(e.root, rds.FilePathFor(rds.DefaultVolumePath, id)), size); err != nil {
		e.t.Fatal(err)
	}
}

func (e *nodeLoopEnv) staging(id string) string { return filepath.Join(e.work, "staging", id) }
func (e *nodeLoopEnv) target(id, pod string) string {
	return filepath.Join(e.work, "pods", pod, "volumes", id, "mount")
}

func (e *nodeLoopEnv) stage(id string, vc map[string]string, vcap *csi.VolumeCapability) error {
	_, err := e.ns.NodeStageVolume(context.Background(), &csi.NodeStageVolumeRequest{
		VolumeId: id, StagingTargetPath: e.staging(id), VolumeCapability: vcap, VolumeContext: vc,
	})
	return err
}

func (e *nodeLoopEnv) unstage(id string) error {
	_, err := e.ns.NodeUnstageVolume(context.Background(), &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: e.staging(id)})
	return err
}

func (e *nodeLoopEnv) publish(id, target string, vcap *csi.VolumeCapability, ro bool) error {
	_, err := e.ns.NodePublishVolume(context.Background(), &csi.NodePublishVolumeRequest{
		VolumeId: id, StagingTargetPath: e.staging(id), TargetPath: target, VolumeCapability: vcap, Readonly: ro,
	})
	return err
}

func (e *nodeLoopEnv) unpublish(id, target string) error {
	_, err := e.ns.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target})
	return err
}

func (e *nodeLoopEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *nodeLoopEnv) device(id string) string {
	e.t.Helper()
	dev, err := e.conn.Device(context.Background(), rds.NQNFor(id))
	if err != nil {
		e.t.Fatal(err)
	}
	return dev
}

func (e *nodeLoopEnv) attached(id string) bool {
	_, err := e.conn.Device(context.Background(), rds.NQNFor(id))
	return err == nil
}

func nodeFSUUID(t *testing.T, dev string) string {
	t.Helper()
	out, err := exec.Command("blkid", "-p", "-s", "UUID", "-o", "value", dev).Output()
	if err != nil {
		t.Fatalf("blkid %s: %v", dev, err)
	}
	return strings.TrimSpace(string(out))
}

func nodeStatfsBytes(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Blocks) * st.Bsize
}

func nodeIsMountPoint(t *testing.T, path string) bool {
	t.Helper()
	mis, err := mount.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mis {
		if m.MountPoint == path {
			return true
		}
	}
	return false
}

const (
	nodeVolA = "pvc-0a0a0a0a-0000-4000-8000-00000000000a"
	nodeVolB = "pvc-0b0b0b0b-0000-4000-8000-00000000000b"
	nodeSize = 512 << 20 // mkfs.xfs needs 300 MiB
)

func TestNodeLoopFilesystemLifecycleNeverReformats(t *testing.T) {
	for _, fsType := range []string{"ext4", "xfs"} {
		t.Run(fsType, func(t *testing.T) {
			nodeRequireRoot(t, "mkfs."+fsType)
			e := newNodeLoopEnv(t)
			vc := e.volume(nodeVolA, nodeSize)
			vcap := nodeMountCap(fsType, csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
			target := e.target(nodeVolA, "pod1")

			e.must(e.stage(nodeVolA, vc, vcap))
			e.must(e.stage(nodeVolA, vc, vcap)) // idempotent
			if n := e.runner.formats(); n != 1 {
				t.Fatalf("formats after first stage = %d, want 1", n)
			}
			uuid := nodeFSUUID(t, e.device(nodeVolA))
			e.must(e.publish(nodeVolA, target, vcap, false))
			e.must(e.publish(nodeVolA, target, vcap, false)) // idempotent
			e.must(os.WriteFile(filepath.Join(target, "keep.txt"), []byte("precious"), 0o644))

			stats, err := e.ns.NodeGetVolumeStats(context.Background(), &csi.NodeGetVolumeStatsRequest{VolumeId: nodeVolA, VolumePath: target})
			e.must(err)
			if u := stats.GetUsage(); len(u) != 2 || u[0].GetTotal() <= 0 || u[0].GetUsed() <= 0 || u[1].GetTotal() <= 0 {
				t.Fatalf("stats = %v", u)
			}

			e.must(e.unpublish(nodeVolA, target))
			e.must(e.unpublish(nodeVolA, target)) // idempotent
			if _, err := os.Lstat(target); !os.IsNotExist(err) {
				t.Fatalf("target not removed: %v", err)
			}
			e.must(e.unstage(nodeVolA))
			e.must(e.unstage(nodeVolA)) // idempotent
			if e.attached(nodeVolA) {
				t.Fatal("loop device still attached after unstage")
			}
			if _, err := os.Stat(e.staging(nodeVolA)); err != nil {
				t.Fatalf("staging dir removed (the kubelet owns it): %v", err)
			}

			e.must(e.stage(nodeVolA, vc, vcap))
			e.must(e.publish(nodeVolA, target, vcap, true)) // read-only this time
			b, err := os.ReadFile(filepath.Join(target, "keep.txt"))
			if err != nil || string(b) != "precious" {
				t.Fatalf("data after restage: %q, %v", b, err)
			}
			if err := os.WriteFile(filepath.Join(target, "x"), nil, 0o644); err == nil {
				t.Fatal("read-only publish is writable")
			}
			if n := e.runner.formats(); n != 1 {
				t.Fatalf("formats = %d after restage, want 1 (reformatted!)", n)
			}
			if got := nodeFSUUID(t, e.device(nodeVolA)); got != uuid {
				t.Fatalf("filesystem UUID changed %s → %s", uuid, got)
			}
			e.must(e.unpublish(nodeVolA, target))
			e.must(e.unstage(nodeVolA))
		})
	}
}

func TestNodeLoopFailedProbeNeverFormats(t *testing.T) {
	nodeRequireRoot(t, "mkfs.ext4")
	cases := map[string]func(c device.Command) (device.Result, error){
		// blkid usage / internal error.
		"exit 4": func(c device.Command) (device.Result, error) {
			return device.Result{ExitCode: 4}, &device.ExitError{Command: c.String(), Code: 4}
		},
		// "nothing found" but with a complaint: not a clean answer.
		"exit 2 with stderr": func(c device.Command) (device.Result, error) {
			res := device.Result{ExitCode: 2, Stderr: []byte("blkid: error: " + c.Args[len(c.Args)-1] + ": Input/output error")}
			return res, &device.ExitError{Command: c.String(), Code: 2, Output: res.Output()}
		},
		"timeout": func(c device.Command) (device.Result, error) {
			return device.Result{ExitCode: -1}, device.ErrCommandTimeout
		},
		// blkid missing from the image.
		"not installed": func(c device.Command) (device.Result, error) {
			return device.Result{ExitCode: -1}, exec.ErrNotFound
		},
	}
	for name, answer := range cases {
		t.Run(name, func(t *testing.T) {
			e := newNodeLoopEnv(t)
			vc := e.volume(nodeVolA, 64<<20) // blank
			e.runner.intercept = func(c device.Command) (device.Result, error, bool) {
				if c.Name == "blkid" {
					res, err := answer(c)
					return res, err, true
				}
				return device.Result{}, nil, false
			}
			err := e.stage(nodeVolA, vc, nodeMountCap("ext4", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER))
			if err == nil {
				t.Fatal("stage succeeded on a failed probe")
			}
			if n := e.runner.formats(); n != 0 {
				t.Fatalf("mkfs ran %d times after a failed probe", n)
			}
			if nodeIsMountPoint(t, e.staging(nodeVolA)) {
				t.Fatal("staging path mounted")
			}
			t.Logf("refused with: %v", err)
			e.must(e.unstage(nodeVolA))
		})
	}
}

// A device without any signature but with data in its first MiB (say, a
// filesystem blkid does not know, or a half-written mkfs) is not blank.
func TestNodeLoopDataWithoutSignatureIsNotBlank(t *testing.T) {
	nodeRequireRoot(t, "mkfs.ext4")
	e := newNodeLoopEnv(t)
	vc := e.volume(nodeVolA, 64<<20)
	f, err := os.OpenFile(filepath.Join(e.root, vc[CtxFilePath]), os.O_WRONLY, 0)
	e.must(err)
	junk := make([]byte, 4096)
	_, _ = rand.Read(junk)
	junk[0], junk[1] = 0, 0 // make sure it resembles no known magic at offset 0
	_, err = f.WriteAt(junk, 200<<10)
	e.must(err)
	e.must(f.Close())
	err = e.stage(nodeVolA, vc, nodeMountCap("ext4", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER))
	nodeWantCode(t, err, codes.FailedPrecondition)
	if n := e.runner.formats(); n != 0 {
		t.Fatalf("mkfs ran %d times", n)
	}
	e.must(e.unstage(nodeVolA))
}

func TestNodeLoopFilesystemMismatchIsRefused(t *testing.T) {
	nodeRequireRoot(t, "mkfs.ext4", "mkfs.xfs")
	e := newNodeLoopEnv(t)
	vc := e.volume(nodeVolA, nodeSize)
	e.must(e.stage(nodeVolA, vc, nodeMountCap("xfs", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)))
	e.must(e.unstage(nodeVolA))
	err := e.stage(nodeVolA, vc, nodeMountCap("ext4", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER))
	nodeWantCode(t, err, codes.FailedPrecondition)
	if n := e.runner.formats(); n != 1 {
		t.Fatalf("formats = %d, want 1", n)
	}
	e.must(e.unstage(nodeVolA))
}

func TestNodeLoopUnpublishNeverRemovesData(t *testing.T) {
	nodeRequireRoot(t, "mkfs.ext4")
	e := newNodeLoopEnv(t)

	// A target directory holding files that is not mounted: something wrote
	// into the bare directory. It stays, and the call fails.
	target := e.target(nodeVolA, "pod1")
	e.must(os.MkdirAll(target, 0o750))
	e.must(os.WriteFile(filepath.Join(target, "user-data"), []byte("x"), 0o644))
	err := e.unpublish(nodeVolA, target)
	nodeWantCode(t, err, codes.FailedPrecondition)
	if _, err := os.Stat(filepath.Join(target, "user-data")); err != nil {
		t.Fatalf("user data removed: %v", err)
	}

	// Absent target: success.
	e.must(e.unpublish(nodeVolA, filepath.Join(e.work, "never-existed")))

	// A published volume: unmount, then the now-empty directory goes; the
	// data stays on the volume.
	vc := e.volume(nodeVolB, 64<<20)
	vcap := nodeMountCap("ext4", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	tb := e.target(nodeVolB, "pod2")
	e.must(e.stage(nodeVolB, vc, vcap))
	e.must(e.publish(nodeVolB, tb, vcap, false))
	e.must(os.WriteFile(filepath.Join(tb, "on-volume"), []byte("y"), 0o644))
	// Stacked: the same bind twice at the target. Both go.
	e.must(exec.Command("mount", "--bind", e.staging(nodeVolB), tb).Run())
	e.must(e.unpublish(nodeVolB, tb))
	if _, err := os.Lstat(tb); !os.IsNotExist(err) {
		t.Fatalf("target left behind: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.staging(nodeVolB), "on-volume")); err != nil {
		t.Fatalf("data on the volume lost: %v", err)
	}
	e.must(e.unstage(nodeVolB))
}

func TestNodeLoopUnstageRefusesWhileInUse(t *testing.T) {
	nodeRequireRoot(t, "mkfs.ext4")
	e := newNodeLoopEnv(t)
	vc := e.volume(nodeVolA, 64<<20)
	vcap := nodeMountCap("ext4", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	target := e.target(nodeVolA, "pod1")
	e.must(e.stage(nodeVolA, vc, vcap))
	e.must(e.publish(nodeVolA, target, vcap, false))
	// The CO unstages while a pod still has the volume published.
	err := e.unstage(nodeVolA)
	nodeWantCode(t, err, codes.FailedPrecondition)
	if !e.attached(nodeVolA) {
		t.Fatal("device disconnected under a published volume")
	}
	if !nodeIsMountPoint(t, target) {
		t.Fatal("publish target lost its mount")
	}
	e.must(e.unpublish(nodeVolA, target))
	e.must(e.unstage(nodeVolA))
}

func TestNodeLoopStagedOnStaleDeviceIsRemounted(t *testing.T) {
	nodeRequireRoot(t, "mkfs.ext4")
	e := newNodeLoopEnv(t)
	vcap := nodeMountCap("ext4", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	// Volume B's filesystem sits at A's staging path, as after a
	// renumbering left a stale device mounted there.
	vcb := e.volume(nodeVolB, 64<<20)
	e.must(e.stage(nodeVolB, vcb, vcap))
	e.must(os.MkdirAll(e.staging(nodeVolA), 0o750))
	e.must(exec.Command("mount", e.device(nodeVolB), e.staging(nodeVolA)).Run())

	vca := e.volume(nodeVolA, 64<<20)
	// B is also still mounted at its own staging path: remounting A's
	// staging path would leave one filesystem reachable from two devices
	// later on. Refuse.
	err := e.stage(nodeVolA, vca, vcap)
	nodeWantCode(t, err, codes.FailedPrecondition)
	// Unstaging B unmounts its staging path but must not disconnect a device
	// that is still mounted (at A's staging path).
	nodeWantCode(t, e.unstage(nodeVolB), codes.FailedPrecondition)
	if !e.attached(nodeVolB) {
		t.Fatal("B disconnected while mounted")
	}
	// Now the stale mount is the only user: stage A replaces it.
	e.must(e.stage(nodeVolA, vca, vcap))
	m, err := e.ns.mountAt(e.staging(nodeVolA))
	e.must(err)
	rdev, err := device.BlockRdev(e.device(nodeVolA))
	e.must(err)
	if !nodeSameDev(m, rdev) {
		t.Fatalf("staging path of A mounted from %d:%d, not A's device", m.Major, m.Minor)
	}
	e.must(e.unstage(nodeVolB))
	e.must(e.unstage(nodeVolA))
}
