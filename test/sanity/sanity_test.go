// Package sanity runs the csi-test sanity suite against the driver in
// --mode=all, talking to the RDS emulator over real SSH, with the loop device
// connector so that the node specs format and mount real block devices.
package sanity

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/cmd/rds-csi/app"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

func TestSanity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the node specs attach loop devices and mount filesystems: run as root (CI does)")
	}
	env := simtest.Start(t)
	dir := t.TempDir()
	socket := filepath.Join(dir, "csi.sock")

	cfg := app.DefaultConfig()
	cfg.Mode = app.ModeAll
	cfg.Endpoint = "unix://" + socket
	cfg.NodeID = "sanity-node"
	cfg.RDSAddress = env.Addr
	cfg.RDSPrivateKey = env.ClientKeyPath
	cfg.RDSHostKey = env.HostKeyPath
	cfg.MetricsAddress = ""
	cfg.DeviceConnector = "loop"
	cfg.LoopRoot = env.DataDir

	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("driver stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("driver did not stop within 30s")
		}
	})
	waitForSocket(t, socket, done)

	sc := sanity.NewTestConfig()
	sc.Address = socket
	sc.TargetPath = filepath.Join(dir, "target")
	sc.StagingPath = filepath.Join(dir, "staging")
	// xfs: our machines drop CAP_SYS_RESOURCE, so online ext4 growth (which
	// NodeExpandVolume on a mounted volume needs) is refused by the kernel.
	sc.TestVolumeParameters = map[string]string{"csi.storage.k8s.io/fstype": "xfs"}
	sc.TestVolumeSize = 1 << 30
	sc.TestVolumeExpandSize = 2 << 30
	sanity.Test(t, sc)
}

func waitForSocket(t *testing.T, socket string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if fi, err := os.Stat(socket); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("driver exited before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket %s not created within 30s", socket)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
