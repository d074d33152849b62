package nodehealth

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/rds"
)

// Acceptance 3 on real loop devices: three managed orphans (one mounted
// here, one mounted only in another mount namespace, one unused) and one
// foreign loop device: exactly the unused managed one is detached.
func TestOrphanCleanupAtStartOnRealLoopDevices(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: loop devices, mounts, namespaces")
	}
	for _, tool := range []string{"losetup", "mkfs.ext4", "mount", "umount", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	thirdVol := "pvc-0b1c2d3e-aaaa-bbbb-cccc-000000000003"
	root := t.TempDir()
	work := t.TempDir()
	file := func(dir, id string) string {
		p := filepath.Join(dir, id+rds.BackingFileSuffix)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, 32<<20); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v %s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	loop, err := device.NewLoop(device.LoopOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	// First, so that its goroutine check runs after every cleanup below.
	e := newEnv(t, func(c *Config) {
		c.Paths, c.Connector, c.MountInfoPath = loop, loop, device.DefaultMountInfo
	})
	ctx := context.Background()
	devs := map[string]string{}
	for _, id := range []string{testVol, otherVol, thirdVol} {
		rdsPath := "/storage-pool/metal-csi/" + id + rds.BackingFileSuffix
		file(filepath.Join(root, "storage-pool", "metal-csi"), id)
		dev, err := loop.Connect(ctx, device.Target{NQN: rds.NQNFor(id), FilePath: rdsPath})
		if err != nil {
			t.Fatal(err)
		}
		devs[id] = dev
	}
	// The host's own loop device, same file name pattern, outside the root.
	foreign := run("losetup", "--find", "--show", file(work, otherVol))
	mnt, hidden := filepath.Join(work, "mnt"), filepath.Join(work, "hidden")
	for _, d := range []string{mnt, hidden} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var holder *exec.Cmd
	t.Cleanup(func() {
		if holder != nil {
			_ = holder.Process.Kill()
			_ = holder.Wait()
		}
		_ = exec.Command("umount", mnt).Run()
		for _, d := range append([]string{foreign}, devs[testVol], devs[otherVol], devs[thirdVol]) {
			_ = exec.Command("losetup", "-d", d).Run()
		}
	})
	run("mkfs.ext4", "-q", devs[testVol])
	run("mount", devs[testVol], mnt)
	run("mkfs.ext4", "-q", devs[thirdVol])
	hctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	holder = exec.CommandContext(hctx, "unshare", "--mount", "--propagation", "private", "sh", "-c",
		"mount "+devs[thirdVol]+" "+hidden+" && echo mounted && exec sleep 60")
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "mounted" {
		t.Fatalf("the namespace holder did not mount: %q", line)
	}

	if err := e.store.MarkInitialized(); err != nil {
		t.Fatal(err)
	}
	if err := e.w.Start(e.ctx); err != nil {
		t.Fatal(err)
	}

	attached := func(id string) bool {
		_, err := loop.Device(ctx, rds.NQNFor(id))
		return err == nil
	}
	if attached(otherVol) {
		t.Error("the unused managed orphan is still attached")
	}
	if !attached(testVol) {
		t.Error("the orphan mounted here was detached")
	}
	if !attached(thirdVol) {
		t.Error("the orphan mounted in another mount namespace was detached")
	}
	if out, _ := exec.Command("losetup", "--list", "--noheadings", "--output", "NAME", foreign).Output(); strings.TrimSpace(string(out)) != foreign {
		t.Errorf("the foreign loop device %s was touched", foreign)
	}
	if n := len(e.rec.withReason(ReasonOrphanConnectionDisconnected)); n != 1 {
		t.Errorf("%d %s events, want 1", n, ReasonOrphanConnectionDisconnected)
	}
	if n := len(e.rec.withReason(ReasonOrphanConnectionInUse)); n != 2 {
		t.Errorf("%d %s events, want 2", n, ReasonOrphanConnectionInUse)
	}
}
