package device

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const loopVol = "pvc-0b1c2d3e-aaaa-bbbb-cccc-000000000001"

// fakeLoopSys builds <sys>/block/loopN/loop/backing_file entries.
func fakeLoopSys(t *testing.T, backing map[string]string) string {
	t.Helper()
	sys := t.TempDir()
	for dev, file := range backing {
		d := filepath.Join(sys, "block", dev, "loop")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "backing_file"), []byte(file+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A detached loop device has no loop/ directory.
	if err := os.MkdirAll(filepath.Join(sys, "block", "loop7"), 0o755); err != nil {
		t.Fatal(err)
	}
	return sys
}

func newLoopRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "storage-pool", "metal-csi")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, loopVol+".img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return root
}

func TestLoopDeviceFromNQNAlone(t *testing.T) {
	root := newLoopRoot(t)
	file := filepath.Join(root, "storage-pool", "metal-csi", loopVol+".img")
	sys := fakeLoopSys(t, map[string]string{
		"loop3": file + " (deleted)",              // the emulator removed the file meanwhile
		"loop1": "/elsewhere/" + loopVol + ".img", // same name outside the root: not ours
		"loop2": filepath.Join(root, "storage-pool", "metal-csi", "pvc-other.img"),
	})
	r := &fakeRunner{}
	l, err := NewLoop(LoopOptions{Root: root, SysfsRoot: sys, Runner: r, DetachTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := l.Device(context.Background(), testNQN)
	if err != nil || dev != "/dev/loop3" {
		t.Fatalf("Device = %q, %v; want /dev/loop3", dev, err)
	}
	if _, err := l.Device(context.Background(), "nqn.2000-02.com.mikrotik:pvc-none"); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("unknown volume: %v", err)
	}
	// Disconnect detaches loop3 only; the fake never detaches, so it reports busy.
	err = l.Disconnect(context.Background(), testNQN)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Disconnect err = %v, want ErrBusy", err)
	}
	if calls := r.Calls(); len(calls) != 1 || calls[0] != "losetup -d /dev/loop3" {
		t.Fatalf("calls = %v", calls)
	}
}

func TestLoopRefusesUnmanagedAndEscapes(t *testing.T) {
	root := newLoopRoot(t)
	outside := filepath.Join(t.TempDir(), "pvc-0b1c2d3e-aaaa-bbbb-cccc-000000000002.img")
	if err := os.WriteFile(outside, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A symlink inside the root pointing outside it.
	if err := os.Symlink(outside, filepath.Join(root, "storage-pool", "metal-csi", filepath.Base(outside))); err != nil {
		t.Fatal(err)
	}
	r := &fakeRunner{answer: func(c Command) (Result, error) {
		t.Errorf("command ran: %v", c)
		return Result{}, nil
	}}
	l, err := NewLoop(LoopOptions{Root: root, SysfsRoot: fakeLoopSys(t, nil), Runner: r})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tg := range []Target{
		{NQN: bootNQN, FilePath: "/storage-pool/metal-csi/boot-node-a.img"},
		{NQN: testNQN, FilePath: "/storage-pool/../../etc/" + loopVol + ".img"},
		{NQN: testNQN, FilePath: "storage-pool/metal-csi/" + loopVol + ".img"},
		{NQN: testNQN, FilePath: "/storage-pool/metal-csi/pvc-someone-else.img"},
		{NQN: otherNQN, FilePath: "/storage-pool/metal-csi/" + filepath.Base(outside)},
		{NQN: testNQN, FilePath: ""},
	} {
		if _, err := l.Connect(ctx, tg); err == nil {
			t.Errorf("Connect(%+v) succeeded", tg)
		}
	}
	if err := l.Disconnect(ctx, bootNQN); !errors.Is(err, ErrUnmanagedNQN) {
		t.Fatalf("Disconnect(boot) = %v", err)
	}
}

// TestLoopRealDevice attaches a real loop device: needs root and loop support.
func TestLoopRealDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to attach loop devices")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("losetup not installed (util-linux)")
	}
	root := newLoopRoot(t)
	l, err := NewLoop(LoopOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Cleanup(func() { _ = l.Disconnect(ctx, testNQN) })
	tg := Target{NQN: testNQN, FilePath: "/storage-pool/metal-csi/" + loopVol + ".img"}
	dev, err := l.Connect(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dev, "/dev/loop") {
		t.Fatalf("device %q", dev)
	}
	again, err := l.Connect(ctx, tg)
	if err != nil || again != dev {
		t.Fatalf("second Connect = %q, %v; want %s", again, err, dev)
	}
	if got, err := l.Device(ctx, testNQN); err != nil || got != dev {
		t.Fatalf("Device = %q, %v", got, err)
	}
	size, err := SizeBytes(dev)
	if err != nil || size != 64<<20 {
		t.Fatalf("size = %d, %v", size, err)
	}
	// Grow the backing file as the emulator would, then rescan.
	if err := os.Truncate(filepath.Join(root, "storage-pool", "metal-csi", loopVol+".img"), 96<<20); err != nil {
		t.Fatal(err)
	}
	if err := l.Rescan(ctx, testNQN); err != nil {
		t.Fatal(err)
	}
	if size, err := SizeBytes(dev); err != nil || size != 96<<20 {
		t.Fatalf("size after rescan = %d, %v", size, err)
	}
	if err := l.Disconnect(ctx, testNQN); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Device(ctx, testNQN); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("after Disconnect: %v", err)
	}
	if err := l.Disconnect(ctx, testNQN); err != nil {
		t.Fatalf("second Disconnect: %v", err)
	}
}
