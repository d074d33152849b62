package driver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/driver/device"
)

const nodeTestVol = "pvc-5f0e6a7e-1111-2222-3333-444455556666"

// nodeFakeConnector records calls; Device answers dev or ErrNotConnected.
type nodeFakeConnector struct {
	mu          sync.Mutex
	dev         string
	connects    []device.Target
	disconnects []string
	connectErr  error
}

func (f *nodeFakeConnector) Connect(_ context.Context, t device.Target) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connects = append(f.connects, t)
	return f.dev, f.connectErr
}

func (f *nodeFakeConnector) Disconnect(_ context.Context, nqn string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disconnects = append(f.disconnects, nqn)
	return nil
}

func (f *nodeFakeConnector) Device(context.Context, string) (string, error) {
	if f.dev == "" {
		return "", device.ErrNotConnected
	}
	return f.dev, nil
}

func (f *nodeFakeConnector) Rescan(context.Context, string) error { return nil }

func nodeNewTest(t *testing.T, conn device.Connector) *NodeServer {
	t.Helper()
	ns, err := NewNodeServer(NodeConfig{NodeID: "node-a", MaxVolumesPerNode: 40, Connector: conn})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func nodeMountCap(fs string, mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: fs}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

func nodeBlockCap(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

func nodeWantCode(t *testing.T, err error, c codes.Code) {
	t.Helper()
	if status.Code(err) != c {
		t.Fatalf("code = %s (%v), want %s", status.Code(err), err, c)
	}
}

func TestNewNodeServerValidates(t *testing.T) {
	if _, err := NewNodeServer(NodeConfig{Connector: &nodeFakeConnector{}}); err == nil {
		t.Error("missing NodeID accepted")
	}
	if _, err := NewNodeServer(NodeConfig{NodeID: "n"}); err == nil {
		t.Error("missing Connector accepted")
	}
	if _, err := NewNodeServer(NodeConfig{NodeID: "n", Connector: &nodeFakeConnector{}, MaxVolumesPerNode: -1}); err == nil {
		t.Error("negative MaxVolumesPerNode accepted")
	}
}

func TestNodeCapabilitiesAndInfo(t *testing.T) {
	ns := nodeNewTest(t, &nodeFakeConnector{})
	caps, err := ns.NodeGetCapabilities(context.Background(), &csi.NodeGetCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[csi.NodeServiceCapability_RPC_Type]bool{}
	for _, c := range caps.GetCapabilities() {
		got[c.GetRpc().GetType()] = true
	}
	for _, want := range []csi.NodeServiceCapability_RPC_Type{
		csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
		csi.NodeServiceCapability_RPC_EXPAND_VOLUME,
		csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
		csi.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	} {
		if !got[want] {
			t.Errorf("missing %s", want)
		}
	}
	if len(got) != 4 {
		t.Errorf("capabilities = %v", got)
	}
	info, err := ns.NodeGetInfo(context.Background(), &csi.NodeGetInfoRequest{})
	if err != nil || info.GetNodeId() != "node-a" || info.GetMaxVolumesPerNode() != 40 || info.GetAccessibleTopology() != nil {
		t.Fatalf("info = %v, %v", info, err)
	}
}

func TestNodeStageValidation(t *testing.T) {
	conn := &nodeFakeConnector{}
	ns := nodeNewTest(t, conn)
	staging := t.TempDir()
	good := func() *csi.NodeStageVolumeRequest {
		return &csi.NodeStageVolumeRequest{
			VolumeId:          nodeTestVol,
			StagingTargetPath: staging,
			VolumeCapability:  nodeMountCap("ext4", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER),
			VolumeContext:     map[string]string{CtxNVMeAddress: "10.0.0.1"},
		}
	}
	for name, mutate := range map[string]func(r *csi.NodeStageVolumeRequest){
		"no volume id":      func(r *csi.NodeStageVolumeRequest) { r.VolumeId = "" },
		"hostile volume id": func(r *csi.NodeStageVolumeRequest) { r.VolumeId = "pvc-x;reboot" },
		"no staging path":   func(r *csi.NodeStageVolumeRequest) { r.StagingTargetPath = "" },
		"relative staging":  func(r *csi.NodeStageVolumeRequest) { r.StagingTargetPath = "a/b" },
		"unclean staging":   func(r *csi.NodeStageVolumeRequest) { r.StagingTargetPath = staging + "/../x" },
		"no capability":     func(r *csi.NodeStageVolumeRequest) { r.VolumeCapability = nil },
		"btrfs":             func(r *csi.NodeStageVolumeRequest) { r.VolumeCapability = nodeMountCap("btrfs", 1) },
		"no access mode":    func(r *csi.NodeStageVolumeRequest) { r.VolumeCapability.AccessMode = nil },
		"multi-node mount": func(r *csi.NodeStageVolumeRequest) {
			r.VolumeCapability = nodeMountCap("ext4", csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)
		},
		"multi-node reader": func(r *csi.NodeStageVolumeRequest) {
			r.VolumeCapability = nodeBlockCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)
		},
		"bind flag": func(r *csi.NodeStageVolumeRequest) { r.VolumeCapability.GetMount().MountFlags = []string{"rbind"} },
		"foreign nqn": func(r *csi.NodeStageVolumeRequest) {
			r.PublishContext = map[string]string{PubNQN: "nqn.2000-02.com.mikrotik:boot-node-a"}
		},
		"other volume's nqn": func(r *csi.NodeStageVolumeRequest) { r.VolumeContext[CtxNQN] = "nqn.2000-02.com.mikrotik:pvc-other" },
		"bad port":           func(r *csi.NodeStageVolumeRequest) { r.VolumeContext[CtxNVMePort] = "70000" },
		"bad ctrlLossTmo":    func(r *csi.NodeStageVolumeRequest) { r.VolumeContext[CtxCtrlLossTmo] = "-5" },
		"bad keepAlive":      func(r *csi.NodeStageVolumeRequest) { r.VolumeContext[CtxKeepAliveTmo] = "x" },
		"escaping file path": func(r *csi.NodeStageVolumeRequest) { r.VolumeContext[CtxFilePath] = "/storage-pool/../etc/x.img" },
	} {
		t.Run(name, func(t *testing.T) {
			r := good()
			mutate(r)
			_, err := ns.NodeStageVolume(context.Background(), r)
			nodeWantCode(t, err, codes.InvalidArgument)
		})
	}
	if len(conn.connects) != 0 {
		t.Fatalf("connector called for invalid requests: %v", conn.connects)
	}
}

func TestNodeTargetFromContexts(t *testing.T) {
	vol := map[string]string{
		CtxNVMeAddress: "10.0.0.1", CtxNVMePort: "4421", CtxFilePath: "/storage-pool/metal-csi/" + nodeTestVol + ".img",
		CtxCtrlLossTmo: "600", CtxReconnectDelay: "10", CtxKeepAliveTmo: "15",
	}
	pub := map[string]string{PubNVMeAddress: "10.0.0.9"}
	tg, err := nodeTarget(nodeTestVol, device.DefaultManagedPrefix, pub, vol)
	if err != nil {
		t.Fatal(err)
	}
	want := device.Target{NQN: "nqn.2000-02.com.mikrotik:" + nodeTestVol, Address: "10.0.0.9", Port: 4421,
		CtrlLossTmo: 600, ReconnectDelay: 10, KeepAliveTmo: 15, FilePath: vol[CtxFilePath]}
	if tg != want {
		t.Fatalf("target = %+v\nwant     %+v", tg, want)
	}
	tg, err = nodeTarget(nodeTestVol, device.DefaultManagedPrefix, nil, map[string]string{CtxNVMeAddress: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if tg.Port != 4420 || tg.CtrlLossTmo != -1 || tg.ReconnectDelay != 5 || tg.KeepAliveTmo != 0 {
		t.Fatalf("defaults = %+v", tg)
	}
}

func TestNodeAbortedWhileBusy(t *testing.T) {
	ns := nodeNewTest(t, &nodeFakeConnector{})
	if !ns.locks.TryAcquire(nodeTestVol) {
		t.Fatal("lock")
	}
	defer ns.locks.Release(nodeTestVol)
	_, err := ns.NodeUnstageVolume(context.Background(), &csi.NodeUnstageVolumeRequest{VolumeId: nodeTestVol, StagingTargetPath: t.TempDir()})
	nodeWantCode(t, err, codes.Aborted)
	_, err = ns.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: nodeTestVol, TargetPath: t.TempDir()})
	nodeWantCode(t, err, codes.Aborted)
}

// A mount table that cannot be read must never be taken for "not mounted":
// unstage must not disconnect, unpublish must not remove.
func TestNodeMountCheckErrorsAreErrors(t *testing.T) {
	conn := &nodeFakeConnector{dev: "/dev/null"}
	ns, err := NewNodeServer(NodeConfig{NodeID: "n", Connector: conn, MountInfoPath: "/nonexistent/mountinfo"})
	if err != nil {
		t.Fatal(err)
	}
	staging := t.TempDir()
	_, err = ns.NodeUnstageVolume(context.Background(), &csi.NodeUnstageVolumeRequest{VolumeId: nodeTestVol, StagingTargetPath: staging})
	nodeWantCode(t, err, codes.Internal)
	if len(conn.disconnects) != 0 {
		t.Fatalf("disconnected despite an unreadable mount table: %v", conn.disconnects)
	}
	target := filepath.Join(t.TempDir(), "target")
	if err := os.Mkdir(target, 0o750); err != nil {
		t.Fatal(err)
	}
	_, err = ns.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: nodeTestVol, TargetPath: target})
	nodeWantCode(t, err, codes.Internal)
	if _, err := os.Stat(target); err != nil {
		t.Fatalf("target removed: %v", err)
	}
}

func TestNodeUnstageNotConnectedIsSuccess(t *testing.T) {
	conn := &nodeFakeConnector{}
	ns := nodeNewTest(t, conn)
	staging := t.TempDir()
	for range 2 {
		if _, err := ns.NodeUnstageVolume(context.Background(), &csi.NodeUnstageVolumeRequest{VolumeId: nodeTestVol, StagingTargetPath: staging}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(staging); err != nil {
		t.Fatalf("staging path removed: %v", err)
	}
	if len(conn.disconnects) != 0 {
		t.Fatalf("disconnects = %v", conn.disconnects)
	}
	// An id whose NQN falls outside the managed prefix is refused outright.
	_, err := ns.NodeUnstageVolume(context.Background(), &csi.NodeUnstageVolumeRequest{VolumeId: "boot-node-a", StagingTargetPath: staging})
	nodeWantCode(t, err, codes.InvalidArgument)
}

func TestNodeRemoveTarget(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, f func(p string) error) string {
		p := filepath.Join(dir, name)
		if err := f(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	emptyDir := mk("empty", func(p string) error { return os.Mkdir(p, 0o750) })
	fullDir := mk("full", func(p string) error {
		if err := os.Mkdir(p, 0o750); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(p, "precious"), []byte("data"), 0o640)
	})
	emptyFile := mk("emptyfile", func(p string) error { return os.WriteFile(p, nil, 0o640) })
	fullFile := mk("fullfile", func(p string) error { return os.WriteFile(p, []byte("data"), 0o640) })
	link := mk("link", func(p string) error { return os.Symlink(fullDir, p) })

	for _, p := range []string{emptyDir, emptyFile, filepath.Join(dir, "absent")} {
		if err := nodeRemoveTarget(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists", p)
		}
	}
	for _, p := range []string{fullDir, fullFile, link} {
		err := nodeRemoveTarget(p)
		if !errors.Is(err, errNodeTargetNotEmpty) {
			t.Errorf("%s: err = %v", p, err)
		}
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(fullDir, "precious")); err != nil || string(b) != "data" {
		t.Fatal("data lost")
	}
}

func TestNodeMountinfoEscape(t *testing.T) {
	if got := nodeMountinfoEscape("/a b\\c"); got != `/a\040b\134c` {
		t.Fatalf("got %q", got)
	}
	if !strings.Contains(nodeMountinfoEscape("/x\ty"), `\011`) {
		t.Fatal("tab")
	}
}
