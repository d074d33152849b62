package device

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	testNQN  = "nqn.2000-02.com.mikrotik:pvc-0b1c2d3e-aaaa-bbbb-cccc-000000000001"
	otherNQN = "nqn.2000-02.com.mikrotik:pvc-0b1c2d3e-aaaa-bbbb-cccc-000000000002"
	// A host booting from the same RDS: same vendor prefix, not a PV.
	bootNQN = "nqn.2000-02.com.mikrotik:boot-node-a"
)

func newTestNVMe(t *testing.T, fs *fakeSys, r *fakeRunner) *NVMeTCP {
	t.Helper()
	hostnqn := filepath.Join(t.TempDir(), "hostnqn")
	if err := os.WriteFile(hostnqn, []byte("nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := NewNVMeTCP(NVMeTCPOptions{
		SysfsRoot: fs.sys, DevRoot: fs.dev, HostNQNFile: hostnqn, Runner: r,
		AttachTimeout: 500 * time.Millisecond, PollInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testTarget() Target {
	return Target{NQN: testNQN, Address: "10.42.0.1", Port: 4420, CtrlLossTmo: -1, ReconnectDelay: 5}
}

func TestNVMeDeviceMultipath(t *testing.T) {
	fs := newFakeSys(t)
	// Native multipath: head nvme0n1 under the subsystem, hidden path
	// nvme0c0n1 under the controller; only the head has a /dev node.
	fs.subsystem("nvme-subsys0", testNQN, "nvme0", "nvme0n1")
	fs.controller("nvme0", testNQN, "live", "nvme0c0n1")
	fs.devNode("nvme0", "nvme0n1")
	// An unrelated subsystem must not be picked.
	fs.subsystem("nvme-subsys1", otherNQN, "nvme1", "nvme1n1")
	fs.controller("nvme1", otherNQN, "live", "nvme1c1n1")
	fs.devNode("nvme1", "nvme1n1")
	c := newTestNVMe(t, fs, &fakeRunner{})

	dev, err := c.Device(context.Background(), testNQN)
	if err != nil || dev != filepath.Join(fs.dev, "nvme0n1") {
		t.Fatalf("Device = %q, %v; want %s/nvme0n1", dev, err, fs.dev)
	}
}

func TestNVMeDeviceHiddenPathOnly(t *testing.T) {
	fs := newFakeSys(t)
	// Subsystem listing lacks the head (seen while it is being created):
	// the hidden path nvme2c5n1 still maps to head nvme2n1.
	fs.subsystem("nvme-subsys2", testNQN, "nvme5")
	fs.controller("nvme5", testNQN, "live", "nvme2c5n1")
	fs.devNode("nvme2n1")
	c := newTestNVMe(t, fs, &fakeRunner{})
	dev, err := c.Device(context.Background(), testNQN)
	if err != nil || dev != filepath.Join(fs.dev, "nvme2n1") {
		t.Fatalf("Device = %q, %v; want nvme2n1", dev, err)
	}
}

func TestNVMeDeviceNonMultipath(t *testing.T) {
	fs := newFakeSys(t)
	// nvme_core.multipath=N: the namespace hangs off the controller.
	fs.subsystem("nvme-subsys3", testNQN, "nvme3")
	fs.controller("nvme3", testNQN, "live", "nvme3n1")
	fs.devNode("nvme3", "nvme3n1")
	c := newTestNVMe(t, fs, &fakeRunner{})
	dev, err := c.Device(context.Background(), testNQN)
	if err != nil || dev != filepath.Join(fs.dev, "nvme3n1") {
		t.Fatalf("Device = %q, %v; want nvme3n1", dev, err)
	}
}

func TestNVMeDeviceFollowsRenumbering(t *testing.T) {
	fs := newFakeSys(t)
	fs.subsystem("nvme-subsys0", testNQN, "nvme0", "nvme0n1")
	fs.controller("nvme0", testNQN, "live", "nvme0c0n1")
	fs.devNode("nvme0n1")
	c := newTestNVMe(t, fs, &fakeRunner{})
	if dev, err := c.Device(context.Background(), testNQN); err != nil || filepath.Base(dev) != "nvme0n1" {
		t.Fatalf("before: %q, %v", dev, err)
	}
	// The controller dropped and came back as nvme4 in subsystem 7.
	fs.reset()
	fs.subsystem("nvme-subsys7", testNQN, "nvme4", "nvme7n1")
	fs.controller("nvme4", testNQN, "live", "nvme7c4n1")
	fs.devNode("nvme7n1")
	if dev, err := c.Device(context.Background(), testNQN); err != nil || filepath.Base(dev) != "nvme7n1" {
		t.Fatalf("after renumbering: %q, %v; want nvme7n1", dev, err)
	}
}

func TestNVMeDeviceNotConnected(t *testing.T) {
	fs := newFakeSys(t)
	c := newTestNVMe(t, fs, &fakeRunner{})
	// No NVMe class directories at all (module not loaded).
	if _, err := c.Device(context.Background(), testNQN); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("empty sysfs: err = %v, want ErrNotConnected", err)
	}
	// An orphaned subsystem: NQN known, no controller left.
	fs.subsystem("nvme-subsys0", testNQN, "nvme0n1")
	fs.devNode("nvme0n1")
	if _, err := c.Device(context.Background(), testNQN); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("orphaned subsystem: err = %v, want ErrNotConnected", err)
	}
	// A controller being deleted does not count either.
	fs.controller("nvme0", testNQN, "deleting", "nvme0c0n1")
	if _, err := c.Device(context.Background(), testNQN); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("deleting controller: err = %v, want ErrNotConnected", err)
	}
}

func TestNVMeUnreadableSysfsIsAnErrorNotDisconnected(t *testing.T) {
	fs := newFakeSys(t)
	// class/nvme-subsystem is a file: listing it fails with ENOTDIR.
	fs.write(filepath.Join(fs.sys, "class", "nvme-subsystem"), "x")
	r := &fakeRunner{}
	c := newTestNVMe(t, fs, r)
	if _, err := c.Device(context.Background(), testNQN); err == nil || errors.Is(err, ErrNotConnected) {
		t.Fatalf("Device err = %v, want a read error (not ErrNotConnected)", err)
	}
	if err := c.Disconnect(context.Background(), testNQN); err == nil {
		t.Fatal("Disconnect succeeded on an unreadable sysfs")
	}
	if len(r.Calls()) != 0 {
		t.Fatalf("commands ran: %v", r.Calls())
	}
}

func TestNVMeConnectRunsNVMeCLIAndWaits(t *testing.T) {
	fs := newFakeSys(t)
	r := &fakeRunner{}
	r.answer = func(cmd Command) (Result, error) {
		if cmd.Args[0] == "connect" {
			if cmd.Timeout <= 0 {
				t.Errorf("nvme connect without a deadline")
			}
			// The kernel creates the controller at once and the namespace a
			// little later.
			fs.subsystem("nvme-subsys0", testNQN, "nvme0")
			fs.controller("nvme0", testNQN, "live")
			go func() {
				time.Sleep(50 * time.Millisecond)
				fs.subsystem("nvme-subsys0", testNQN, "nvme0n1")
				fs.devNode("nvme0n1")
			}()
			return Result{Stdout: []byte(recorded(t, "connect-ok-2.x.stdout"))}, nil
		}
		t.Errorf("unexpected command %v", cmd)
		return Result{}, nil
	}
	c := newTestNVMe(t, fs, r)
	dev, err := c.Connect(context.Background(), testTarget())
	if err != nil || filepath.Base(dev) != "nvme0n1" {
		t.Fatalf("Connect = %q, %v", dev, err)
	}
	calls := r.Calls()
	want := "nvme connect -t tcp -a 10.42.0.1 -s 4420 -n " + testNQN +
		" --hostnqn=nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555 -l -1 -c 5"
	if len(calls) != 1 || calls[0] != want {
		t.Fatalf("calls = %q\nwant      %q", calls, want)
	}

	// Idempotent: connected → the current device, no command.
	dev2, err := c.Connect(context.Background(), testTarget())
	if err != nil || dev2 != dev || len(r.Calls()) != 1 {
		t.Fatalf("second Connect = %q, %v, calls %v", dev2, err, r.Calls())
	}
}

func TestNVMeConnectArgsOmitKernelDefaults(t *testing.T) {
	fs := newFakeSys(t)
	c := newTestNVMe(t, fs, &fakeRunner{})
	c.o.HostNQNFile = filepath.Join(t.TempDir(), "absent")
	tg := testTarget()
	tg.CtrlLossTmo, tg.ReconnectDelay, tg.KeepAliveTmo = 0, 0, 0
	args, err := c.connectArgs(tg)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(args, " ")
	if got != "connect -t tcp -a 10.42.0.1 -s 4420 -n "+testNQN {
		t.Fatalf("args = %q", got)
	}
	tg.CtrlLossTmo, tg.ReconnectDelay, tg.KeepAliveTmo = 600, 10, 15
	args, _ = c.connectArgs(tg)
	if got := strings.Join(args, " "); !strings.HasSuffix(got, "-l 600 -c 10 -k 15") {
		t.Fatalf("args = %q", got)
	}
}

func TestNVMeConnectAlreadyConnectedIsSuccess(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		code       int
	}{
		{"nvme-cli 2.x", "connect-already-2.x.stderr", 114},
		{"nvme-cli 1.x", "connect-already-1.x.stderr", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeSys(t)
			// A controller exists but is still connecting: no namespace yet.
			fs.subsystem("nvme-subsys0", testNQN, "nvme0")
			fs.controller("nvme0", testNQN, "connecting")
			r := &fakeRunner{answer: func(cmd Command) (Result, error) {
				go func() {
					time.Sleep(50 * time.Millisecond)
					fs.subsystem("nvme-subsys0", testNQN, "nvme0n1")
					fs.devNode("nvme0n1")
				}()
				return fail(cmd, tc.code, "", recorded(t, tc.file))
			}}
			c := newTestNVMe(t, fs, r)
			dev, err := c.Connect(context.Background(), testTarget())
			if err != nil || filepath.Base(dev) != "nvme0n1" {
				t.Fatalf("Connect = %q, %v", dev, err)
			}
		})
	}
}

func TestNVMeConnectFailures(t *testing.T) {
	t.Run("nvme-cli error", func(t *testing.T) {
		fs := newFakeSys(t)
		r := &fakeRunner{answer: func(cmd Command) (Result, error) {
			return fail(cmd, 1, "", recorded(t, "connect-fail-2.x.stderr"))
		}}
		_, err := newTestNVMe(t, fs, r).Connect(context.Background(), testTarget())
		if err == nil || !strings.Contains(err.Error(), "could not add new controller") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("command timeout", func(t *testing.T) {
		fs := newFakeSys(t)
		r := &fakeRunner{answer: func(cmd Command) (Result, error) {
			return Result{ExitCode: -1}, ErrCommandTimeout
		}}
		_, err := newTestNVMe(t, fs, r).Connect(context.Background(), testTarget())
		if !errors.Is(err, ErrCommandTimeout) {
			t.Fatalf("err = %v, want ErrCommandTimeout", err)
		}
	})
	t.Run("namespace never appears", func(t *testing.T) {
		fs := newFakeSys(t)
		r := &fakeRunner{answer: func(cmd Command) (Result, error) {
			fs.subsystem("nvme-subsys0", testNQN, "nvme0")
			fs.controller("nvme0", testNQN, "live")
			return Result{}, nil
		}}
		start := time.Now()
		_, err := newTestNVMe(t, fs, r).Connect(context.Background(), testTarget())
		if !errors.Is(err, ErrAttachTimeout) {
			t.Fatalf("err = %v, want ErrAttachTimeout", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("wait took %s, bound is 500ms", d)
		}
	})
	t.Run("invalid targets run nothing", func(t *testing.T) {
		fs := newFakeSys(t)
		r := &fakeRunner{}
		c := newTestNVMe(t, fs, r)
		for _, tg := range []Target{
			{NQN: testNQN, Address: "-oProxyCommand=x", Port: 4420},
			{NQN: testNQN, Address: "10.0.0.1", Port: 0},
			{NQN: testNQN, Address: "10.0.0.1", Port: 4420, CtrlLossTmo: -2},
			{NQN: bootNQN, Address: "10.0.0.1", Port: 4420},
			{NQN: "nqn.2000-02.com.mikrotik:pvc-x;reboot", Address: "10.0.0.1", Port: 4420},
		} {
			if _, err := c.Connect(context.Background(), tg); err == nil {
				t.Errorf("Connect(%+v) succeeded", tg)
			}
		}
		if len(r.Calls()) != 0 {
			t.Fatalf("commands ran: %v", r.Calls())
		}
	})
}

func TestNVMeDisconnect(t *testing.T) {
	fs := newFakeSys(t)
	fs.subsystem("nvme-subsys0", testNQN, "nvme0", "nvme0n1")
	fs.controller("nvme0", testNQN, "live", "nvme0c0n1")
	fs.devNode("nvme0n1")
	r := &fakeRunner{answer: func(cmd Command) (Result, error) {
		if strings.Join(cmd.Args, " ") != "disconnect -n "+testNQN {
			t.Errorf("unexpected %v", cmd)
		}
		fs.removeController("nvme0")
		return Result{Stdout: []byte(recorded(t, "disconnect-ok.stdout"))}, nil
	}}
	c := newTestNVMe(t, fs, r)
	if err := c.Disconnect(context.Background(), testNQN); err != nil {
		t.Fatal(err)
	}
	// Idempotent: not connected any more → success without a command.
	if err := c.Disconnect(context.Background(), testNQN); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Calls()); n != 1 {
		t.Fatalf("%d commands, want 1: %v", n, r.Calls())
	}
}

func TestNVMeDisconnectVerifiesInSysfs(t *testing.T) {
	fs := newFakeSys(t)
	fs.subsystem("nvme-subsys0", testNQN, "nvme0", "nvme0n1")
	fs.controller("nvme0", testNQN, "live", "nvme0c0n1")
	r := &fakeRunner{answer: func(cmd Command) (Result, error) {
		// nvme-cli exits 0 having disconnected nothing.
		return Result{Stdout: []byte(recorded(t, "disconnect-none.stdout"))}, nil
	}}
	err := newTestNVMe(t, fs, r).Disconnect(context.Background(), testNQN)
	if err == nil || !strings.Contains(err.Error(), "still connected") {
		t.Fatalf("err = %v, want 'still connected'", err)
	}
}

// The boot volume rule: an NQN outside the managed prefix is never
// disconnected, whatever state it is in, and the refusal is an error.
func TestNVMeNeverDisconnectsOutsidePrefix(t *testing.T) {
	fs := newFakeSys(t)
	fs.subsystem("nvme-subsys0", bootNQN, "nvme0", "nvme0n1")
	fs.controller("nvme0", bootNQN, "live", "nvme0c0n1")
	fs.devNode("nvme0n1")
	r := &fakeRunner{answer: func(cmd Command) (Result, error) {
		t.Errorf("command ran: %v", cmd)
		return Result{}, nil
	}}
	c := newTestNVMe(t, fs, r)
	for _, nqn := range []string{
		bootNQN,
		"nqn.2014-08.org.nvmexpress:uuid:abc",
		"nqn.2000-02.com.mikrotik:pvc-",   // the bare prefix
		"nqn.2000-02.com.mikrotik:pvc",    // shorter than the prefix
		"nqn.2000-02.com.mikrotik:xpvc-a", // prefix elsewhere in the name
	} {
		err := c.Disconnect(context.Background(), nqn)
		if !errors.Is(err, ErrUnmanagedNQN) && !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("Disconnect(%s) err = %v, want refusal", nqn, err)
		}
		if err := c.Rescan(context.Background(), nqn); err == nil {
			t.Errorf("Rescan(%s) accepted", nqn)
		}
	}
	if hasCall(r.Calls(), "nvme disconnect") || len(r.Calls()) != 0 {
		t.Fatalf("commands ran: %v", r.Calls())
	}
	if _, err := os.Stat(filepath.Join(fs.sys, "class", "nvme", "nvme0")); err != nil {
		t.Fatal("boot controller vanished")
	}
}

func TestNVMeRescanLiveControllersOnly(t *testing.T) {
	fs := newFakeSys(t)
	fs.subsystem("nvme-subsys0", testNQN, "nvme0", "nvme1", "nvme0n1")
	fs.controller("nvme0", testNQN, "connecting", "nvme0c0n1")
	fs.controller("nvme1", testNQN, "live", "nvme0c1n1")
	fs.devNode("nvme0n1")
	r := &fakeRunner{}
	c := newTestNVMe(t, fs, r)
	if err := c.Rescan(context.Background(), testNQN); err != nil {
		t.Fatal(err)
	}
	calls := r.Calls()
	if len(calls) != 1 || calls[0] != "nvme ns-rescan "+filepath.Join(fs.dev, "nvme1") {
		t.Fatalf("calls = %v", calls)
	}
	fs.reset()
	if err := c.Rescan(context.Background(), testNQN); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("not connected: err = %v", err)
	}
}

func TestCheckManaged(t *testing.T) {
	if err := CheckManaged(DefaultManagedPrefix, testNQN); err != nil {
		t.Fatal(err)
	}
	if err := CheckManaged(DefaultManagedPrefix, bootNQN); !errors.Is(err, ErrUnmanagedNQN) {
		t.Fatalf("boot NQN: %v", err)
	}
	if err := CheckManaged("", testNQN); !errors.Is(err, ErrUnmanagedNQN) {
		t.Fatalf("empty prefix: %v", err)
	}
}
