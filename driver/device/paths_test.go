package device

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// kernelStates reads the states the kernel can print (testdata README).
func kernelStates(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(recorded(t, "nvme-ctrl-states.txt"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	if len(out) != 8 {
		t.Fatalf("nvme-ctrl-states.txt lists %d states, want 8", len(out))
	}
	return out
}

func TestNVMePathHealthEveryKernelState(t *testing.T) {
	want := map[string]struct {
		state   PathState
		devices int
		gaveUp  bool
	}{
		StateNew:          {PathNew, 1, false},
		StateLive:         {PathLive, 1, false},
		StateResetting:    {PathResetting, 1, false},
		StateConnecting:   {PathConnecting, 1, false},
		StateDeleting:     {PathDeleting, 0, true},
		StateDeletingNoIO: {PathDeleting, 0, true},
		StateDead:         {PathDead, 0, true},
		StateUnknown:      {PathUnknown, 1, false},
	}
	for _, state := range kernelStates(t) {
		t.Run(state, func(t *testing.T) {
			w, ok := want[state]
			if !ok {
				t.Fatalf("kernel state %q has no expectation: map it in pathStateOf and here", state)
			}
			fs := newFakeSys(t)
			fs.subsystem("nvme-subsys0", testNQN, "nvme0", "nvme0n1")
			fs.controller("nvme0", testNQN, state, "nvme0c0n1")
			fs.write(filepath.Join(fs.sys, "class", "nvme", "nvme0", "address"), "traddr=10.42.0.1,trsvcid=4420\n")
			fs.devNode("nvme0n1")
			p, err := newTestNVMe(t, fs, &fakeRunner{}).PathHealth(context.Background(), testNQN)
			if err != nil {
				t.Fatal(err)
			}
			if p.State != w.state || len(p.Devices) != w.devices || p.GaveUp() != w.gaveUp {
				t.Fatalf("%s: state %s, %d devices, gave up %v; want %s, %d, %v", p, p.State, len(p.Devices), p.GaveUp(), w.state, w.devices, w.gaveUp)
			}
			if len(p.Controllers) != 1 || p.Controllers[0].State != state || p.Controllers[0].Address != "traddr=10.42.0.1,trsvcid=4420" {
				t.Fatalf("controllers = %+v", p.Controllers)
			}
		})
	}
}

// A path is as good as its best controller.
func TestNVMePathHealthAggregates(t *testing.T) {
	tests := []struct {
		name   string
		states []string
		want   PathState
		gaveUp bool
	}{
		{"no controller", nil, PathAbsent, true},
		{"one live path of two", []string{StateConnecting, StateLive}, PathLive, false},
		{"resetting beats connecting", []string{StateConnecting, StateResetting}, PathResetting, false},
		{"connecting beats dead", []string{StateDead, StateConnecting}, PathConnecting, false},
		{"deleting beats dead", []string{StateDead, StateDeletingNoIO}, PathDeleting, true},
		{"all dead", []string{StateDead, StateDead}, PathDead, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeSys(t)
			var entries []string
			for i, st := range tc.states {
				name := "nvme" + string(rune('0'+i))
				entries = append(entries, name)
				fs.controller(name, testNQN, st, "nvme0c"+string(rune('0'+i))+"n1")
			}
			fs.subsystem("nvme-subsys0", testNQN, append(entries, "nvme0n1")...)
			fs.devNode("nvme0n1")
			p, err := newTestNVMe(t, fs, &fakeRunner{}).PathHealth(context.Background(), testNQN)
			if err != nil {
				t.Fatal(err)
			}
			if p.State != tc.want || p.GaveUp() != tc.gaveUp {
				t.Fatalf("%s: gave up %v; want %s, %v", p, p.GaveUp(), tc.want, tc.gaveUp)
			}
			if len(p.Controllers) != len(tc.states) {
				t.Fatalf("controllers = %+v, want every one, dead ones included", p.Controllers)
			}
		})
	}
}

func TestNVMeManagedPathsNeverListsForeignNQNs(t *testing.T) {
	fs := newFakeSys(t)
	fs.subsystem("nvme-subsys0", testNQN, "nvme0", "nvme0n1")
	fs.controller("nvme0", testNQN, StateLive, "nvme0c0n1")
	fs.subsystem("nvme-subsys1", otherNQN, "nvme1")
	fs.controller("nvme1", otherNQN, StateDead)
	fs.subsystem("nvme-subsys2", bootNQN, "nvme2", "nvme2n1")
	fs.controller("nvme2", bootNQN, StateLive, "nvme2c2n1")
	// An orphaned managed subsystem without controllers: nothing connected.
	fs.subsystem("nvme-subsys3", "nqn.2000-02.com.mikrotik:pvc-0b1c2d3e-aaaa-bbbb-cccc-000000000003")
	fs.devNode("nvme0n1", "nvme2n1")
	c := newTestNVMe(t, fs, &fakeRunner{})
	paths, err := c.ManagedPaths(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range paths {
		got = append(got, p.NQN+"="+string(p.State))
	}
	want := []string{testNQN + "=live", otherNQN + "=dead"}
	if !slices.Equal(got, want) {
		t.Fatalf("ManagedPaths = %v, want %v", got, want)
	}
	if _, err := c.PathHealth(context.Background(), bootNQN); !errors.Is(err, ErrUnmanagedNQN) {
		t.Fatalf("PathHealth(boot) err = %v, want ErrUnmanagedNQN", err)
	}
}

func TestNVMePathHealthUnreadableSysfsIsAnError(t *testing.T) {
	fs := newFakeSys(t)
	fs.write(filepath.Join(fs.sys, "class", "nvme"), "x") // a file, not a directory
	c := newTestNVMe(t, fs, &fakeRunner{})
	if p, err := c.PathHealth(context.Background(), testNQN); err == nil {
		t.Fatalf("PathHealth = %s on an unreadable sysfs, want an error (never 'absent')", p)
	}
	if _, err := c.ManagedPaths(context.Background()); err == nil {
		t.Fatal("ManagedPaths succeeded on an unreadable sysfs")
	}
}

func TestLoopPathHealthFromFakeSysfs(t *testing.T) {
	root := newLoopRoot(t)
	file := filepath.Join(root, "storage-pool", "metal-csi", loopVol+".img")
	sys := fakeLoopSys(t, map[string]string{
		"loop3": file,
		"loop1": "/elsewhere/" + loopVol + ".img", // outside the root: not ours
	})
	l, err := NewLoop(LoopOptions{Root: root, SysfsRoot: sys, Runner: &fakeRunner{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(want PathState, gaveUp bool) {
		t.Helper()
		p, err := l.PathHealth(ctx, testNQN)
		if err != nil {
			t.Fatal(err)
		}
		if p.State != want || p.GaveUp() != gaveUp {
			t.Fatalf("%s: gave up %v; want %s, %v", p, p.GaveUp(), want, gaveUp)
		}
	}
	check(PathLive, false)
	write := func(name, content string) {
		t.Helper()
		writeFile(t, filepath.Join(sys, "block", "loop3", "loop", name), content)
	}
	write("autoclear", "1\n") // losetup -d on a busy device
	check(PathDeleting, false)
	write("backing_file", file+" (deleted)\n")
	check(PathDead, false) // still a device until its last user goes
	paths, err := l.ManagedPaths(ctx)
	if err != nil || len(paths) != 1 || paths[0].NQN != testNQN {
		t.Fatalf("ManagedPaths = %v, %v; want only %s", paths, err, testNQN)
	}
	if _, err := l.PathHealth(ctx, bootNQN); !errors.Is(err, ErrUnmanagedNQN) {
		t.Fatalf("PathHealth(boot) = %v", err)
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
