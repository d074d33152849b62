package driver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/driver/device/devicetest"
	"github.com/srvlab/rds-csi/driver/nodehealth"
	"github.com/srvlab/rds-csi/rds"
)

// nodeFakeNVMe is a node whose NVMe topology is a fake sysfs: nvme0 serves
// nodeTestVol as /dev/nvme0n1 (a block node 240:1 no driver serves), and
// its staging path is mounted from 240:1 in a fake mount table.
type nodeFakeNVMe struct {
	sys     *devicetest.Sysfs
	staging string
	health  *nodeHealthEnv
	ns      *NodeServer
}

func newNodeFakeNVMe(t *testing.T) *nodeFakeNVMe {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the fake /dev holds real block device nodes (mknod)")
	}
	f := &nodeFakeNVMe{sys: devicetest.NewSysfs(t), staging: filepath.Join(t.TempDir(), "globalmount")}
	nqn := rds.NQNFor(nodeTestVol)
	f.sys.Subsystem("nvme-subsys0", nqn, "nvme0", "nvme0n1")
	f.sys.Controller("nvme0", nqn, device.StateLive, "nvme0c0n1")
	f.sys.BlockNode("nvme0n1", 240, 1)
	if err := os.MkdirAll(f.staging, 0o750); err != nil {
		t.Fatal(err)
	}
	mountinfo := filepath.Join(t.TempDir(), "mountinfo")
	table := "1 0 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n" +
		fmt.Sprintf("100 1 240:1 / %s rw,relatime shared:2 - ext4 /dev/nvme0n1 rw\n", f.staging)
	if err := os.WriteFile(mountinfo, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	conn, err := device.NewNVMeTCP(device.NVMeTCPOptions{
		SysfsRoot: f.sys.Sys, DevRoot: f.sys.Dev, HostNQNFile: filepath.Join(t.TempDir(), "none"),
		Runner: nodeNoCommands{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.health = nodeStartHealth(t, conn, conn, mountinfo)
	f.ns, err = NewNodeServer(NodeConfig{NodeID: "node-a", Connector: conn, MountInfoPath: mountinfo, Health: f.health.w, Locks: f.health.locks})
	if err != nil {
		t.Fatal(err)
	}
	tg := device.Target{NQN: nqn, Address: "10.42.0.1", Port: 4420, CtrlLossTmo: 600, ReconnectDelay: 10}
	if err := f.ns.recordStaged(nodeTestVol, tg, f.staging, nodeVolumeCap{FSType: "ext4"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// Acceptance 1: a managed controller goes connecting (or any other state
// without a live path) → the volume's health is abnormal with a message
// after one pass; back to live → normal after the next one. The answer
// comes from the pass: before it, the RPC still says what the last pass saw.
// (CSI v1.13 carries conditions in NodeGetVolumeHealth, not in
// NodeGetVolumeStats.)
func TestNodeVolumeHealthFollowsControllerStateWithinOnePass(t *testing.T) {
	for _, state := range []string{device.StateConnecting, device.StateResetting, device.StateNew, device.StateUnknown} {
		t.Run(state, func(t *testing.T) {
			f := newNodeFakeNVMe(t)
			f.health.pass()
			if msgs, _, err := nodeHealthOf(t, f.ns, nodeTestVol, f.staging); err != nil || len(msgs) != 0 {
				t.Fatalf("live: health %v, %v; want no problem", msgs, err)
			}

			f.sys.SetState("nvme0", state)
			if msgs, _, _ := nodeHealthOf(t, f.ns, nodeTestVol, f.staging); len(msgs) != 0 {
				t.Fatalf("abnormal before any pass saw it: %v (the request path must not read sysfs itself)", msgs)
			}
			f.health.pass()
			msgs, statuses, err := nodeHealthOf(t, f.ns, nodeTestVol, f.staging)
			if err != nil {
				t.Fatal(err)
			}
			reason := nodehealth.ReasonPathReconnecting
			if state == device.StateUnknown {
				reason = nodehealth.ReasonPathStateUnknown
			}
			if len(msgs) != 1 || !strings.Contains(msgs[reason], "nvme0 "+state) || !strings.Contains(msgs[reason], "traddr=10.42.0.1") {
				t.Fatalf("%s: health %v, want %s naming nvme0 %s and its address", state, msgs, reason, state)
			}
			if statuses[reason] != csi.VolumeHealthErrorType_INACCESSIBLE.String() {
				t.Fatalf("status %s, want INACCESSIBLE", statuses[reason])
			}

			f.sys.SetState("nvme0", device.StateLive)
			f.health.pass()
			if msgs, _, err := nodeHealthOf(t, f.ns, nodeTestVol, f.staging); err != nil || len(msgs) != 0 {
				t.Fatalf("back to live: health %v, %v; want no problem", msgs, err)
			}
			if n := len(f.health.rec.withReason(nodehealth.ReasonVolumeRecovered)); n != 1 {
				t.Errorf("%d %s events, want 1", n, nodehealth.ReasonVolumeRecovered)
			}
			if ev := f.health.rec.withReason(reason); len(ev) != 1 || ev[0].Kind != "Node" || ev[0].Type != "Warning" {
				t.Errorf("events %+v, want one Warning on the Node (no Pod known)", ev)
			}
		})
	}
}

func TestNodeVolumeHealthRequests(t *testing.T) {
	f := newNodeFakeNVMe(t)
	caps, err := f.ns.NodeGetCapabilities(context.Background(), &csi.NodeGetCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range caps.GetCapabilities() {
		found = found || c.GetRpc().GetType() == csi.NodeServiceCapability_RPC_GET_VOLUME_HEALTH
	}
	if !found {
		t.Fatal("GET_VOLUME_HEALTH not advertised with a health watcher")
	}
	tests := []struct {
		name string
		req  *csi.NodeGetVolumeHealthRequest
		want codes.Code
	}{
		{"staged volume", &csi.NodeGetVolumeHealthRequest{VolumeId: nodeTestVol}, codes.OK},
		{"no id", &csi.NodeGetVolumeHealthRequest{}, codes.InvalidArgument},
		{"relative path", &csi.NodeGetVolumeHealthRequest{VolumeId: nodeTestVol, VolumePublishPath: "a/b"}, codes.InvalidArgument},
		{"unknown volume, no paths", &csi.NodeGetVolumeHealthRequest{VolumeId: "pvc-0b1c2d3e-0000-0000-0000-00000000dead"}, codes.NotFound},
		{"unknown volume, nothing there", &csi.NodeGetVolumeHealthRequest{VolumeId: "pvc-0b1c2d3e-0000-0000-0000-00000000dead", StagingTargetPath: "/nonexistent"}, codes.NotFound},
		{"foreign id", &csi.NodeGetVolumeHealthRequest{VolumeId: "boot-node-a", StagingTargetPath: "/x"}, codes.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.ns.NodeGetVolumeHealth(context.Background(), tc.req)
			if tc.want == codes.OK {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			nodeWantCode(t, err, tc.want)
		})
	}
	// Without a watcher the RPC is not offered.
	bare := nodeNewTest(t, &nodeFakeConnector{})
	_, err = bare.NodeGetVolumeHealth(context.Background(), &csi.NodeGetVolumeHealthRequest{VolumeId: nodeTestVol})
	nodeWantCode(t, err, codes.Unimplemented)
}

// nodeNoCommands fails the test on any command: health never runs one.
type nodeNoCommands struct{ t *testing.T }

func (r nodeNoCommands) Run(_ context.Context, c device.Command) (device.Result, error) {
	r.t.Errorf("command ran: %s", c)
	return device.Result{}, nil
}
