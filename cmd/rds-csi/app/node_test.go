package app

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/klog/v2/ktesting"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/rds"
)

// The node plugin cleans up orphan connections before its socket exists,
// and offers NodeGetVolumeHealth once it serves.
func TestRunNodeCleansOrphansBeforeServing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: attaches a loop device")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("losetup not installed")
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // never act on a cluster the test runs in
	const vol = "pvc-0b1c2d3e-aaaa-bbbb-cccc-0000000000aa"
	root := t.TempDir()
	rdsPath := rds.FilePathFor(rds.DefaultVolumePath, vol)
	file := filepath.Join(root, rdsPath)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, 16<<20); err != nil {
		t.Fatal(err)
	}
	loop, err := device.NewLoop(device.LoopOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// An orphan: connected, no staged volume, nothing mounted.
	if _, err := loop.Connect(ctx, device.Target{NQN: rds.NQNFor(vol), FilePath: rdsPath}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = loop.Disconnect(ctx, rds.NQNFor(vol)) })
	// A state directory from an earlier start (not new: cleanup applies).
	state := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, ".initialized"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	dir, err := os.MkdirTemp("", "rdscsi-node-") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "csi.sock")
	cfg := DefaultConfig()
	cfg.Mode, cfg.NodeID, cfg.Endpoint = ModeNode, "node-a", "unix://"+sock
	cfg.DeviceConnector, cfg.LoopRoot, cfg.NodeStateDir, cfg.MetricsAddress = "loop", root, state, ""

	_, rctx := ktesting.NewTestContext(t)
	rctx, cancel := context.WithCancel(rctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(rctx, cfg) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the socket never appeared")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The socket exists: the orphan must be gone already.
	if _, err := loop.Device(ctx, rds.NQNFor(vol)); !errors.Is(err, device.ErrNotConnected) {
		t.Fatalf("orphan still attached when the socket appeared: %v", err)
	}

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	caps, err := csi.NewNodeClient(conn).NodeGetCapabilities(ctx, &csi.NodeGetCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range caps.GetCapabilities() {
		found = found || c.GetRpc().GetType() == csi.NodeServiceCapability_RPC_GET_VOLUME_HEALTH
	}
	if !found {
		t.Fatalf("capabilities %v lack GET_VOLUME_HEALTH", caps.GetCapabilities())
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v after a stop", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
}
