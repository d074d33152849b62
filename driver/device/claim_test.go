package device

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	mount "k8s.io/mount-utils"
)

func TestReadOnlyAfterError(t *testing.T) {
	tests := []struct {
		name        string
		mount, supr []string
		want        bool
	}{
		{"healthy rw", []string{"rw", "relatime"}, []string{"rw", "errors=remount-ro"}, false},
		{"ext4 after an error, Linux 6.x", []string{"rw", "relatime"}, []string{"rw", "errors=remount-ro", "emergency_ro"}, true},
		{"ext4 after an error, older kernels", []string{"rw"}, []string{"ro", "errors=remount-ro"}, true},
		{"mounted read-only on purpose", []string{"ro"}, []string{"ro"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &mount.MountInfo{MountOptions: tc.mount, SuperOptions: tc.supr}
			if got := ReadOnlyAfterError(m); got != tc.want {
				t.Fatalf("ReadOnlyAfterError = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClaimedOfAbsentDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for mknod")
	}
	// A node whose major no driver serves: ENXIO, like a device that is gone.
	p := filepath.Join(t.TempDir(), "gone")
	if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(240, 77))); err != nil {
		t.Fatal(err)
	}
	if claimed, err := Claimed(p); claimed || err != nil {
		t.Fatalf("Claimed(no device) = %v, %v; want false, nil", claimed, err)
	}
	if claimed, err := Claimed(filepath.Join(t.TempDir(), "missing")); claimed || err != nil {
		t.Fatalf("Claimed(missing node) = %v, %v; want false, nil", claimed, err)
	}
}

// Claimed sees a mount that this process's mountinfo does not show: one in
// another mount namespace. Users (mountinfo) sees only ours.
func TestClaimedSeesMountsInOtherNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: loop devices, mounts, namespaces")
	}
	for _, tool := range []string{"losetup", "mkfs.ext4", "mount", "umount", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 32<<20); err != nil {
		t.Fatal(err)
	}
	cmdCtx, cancelCmds := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelCmds()
	out, err := exec.CommandContext(cmdCtx, "losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Fatal(err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	if out, err := exec.CommandContext(cmdCtx, "mkfs.ext4", "-q", dev).CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v %s", err, out)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	users := func() []string {
		t.Helper()
		mis, err := ReadMountInfo(DefaultMountInfo)
		if err != nil {
			t.Fatal(err)
		}
		u, err := Users(mis, dev)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	claimed := func() bool {
		t.Helper()
		c, err := Claimed(dev)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	if claimed() || len(users()) != 0 {
		t.Fatalf("fresh device: claimed %v, users %v", claimed(), users())
	}

	// Mounted here: both see it.
	if out, err := exec.CommandContext(cmdCtx, "mount", dev, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	if !claimed() || !slices.Equal(users(), []string{mnt}) {
		t.Errorf("mounted here: claimed %v, users %v", claimed(), users())
	}
	if out, err := exec.CommandContext(cmdCtx, "umount", mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}

	// Mounted in a private mount namespace only (the host's view from a
	// container that sees only /var/lib/kubelet): mountinfo misses it, the
	// exclusive open does not.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	holder := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c",
		"mount "+dev+" "+mnt+" && echo mounted && exec sleep 60")
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = holder.Process.Kill()
			_ = holder.Wait()
		}
	}
	defer stop()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "mounted" {
		t.Fatalf("the namespace holder did not mount: %q", line)
	}
	if len(users()) != 0 {
		t.Fatalf("a private namespace's mount leaked into ours: %v", users())
	}
	if !claimed() {
		t.Fatal("Claimed missed a filesystem mounted in another mount namespace")
	}
	// The namespace dies with its last process, and its mount with it; the
	// kernel may release the filesystem a moment later (deferred mntput).
	stop()
	deadline := time.Now().Add(10 * time.Second)
	for claimed() {
		if time.Now().After(deadline) {
			t.Fatal("still claimed 10s after the namespace ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
