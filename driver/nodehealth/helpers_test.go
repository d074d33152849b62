package nodehealth

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/driver/device/devicetest"
	"github.com/srvlab/rds-csi/queue"
)

// waitFor bounds every wait on another goroutine: generous for a loaded CI
// machine, yet no test sleeps for a backoff.
const waitFor = 10 * time.Second

const (
	testVol   = "pvc-0b1c2d3e-aaaa-bbbb-cccc-000000000001"
	testNQN   = "nqn.2000-02.com.mikrotik:" + testVol
	otherVol  = "pvc-0b1c2d3e-aaaa-bbbb-cccc-000000000002"
	otherNQN  = "nqn.2000-02.com.mikrotik:" + otherVol
	bootNQN   = "nqn.2000-02.com.mikrotik:boot-node-a" // a host booting from the same RDS
	testBoot  = "11111111-2222-3333-4444-555555555555"
	testMajor = 240 // no driver serves it: opening a node fails with ENXIO
)

// fakeRunner records every command and answers through a script.
type fakeRunner struct {
	mu     sync.Mutex
	calls  []string
	answer func(c device.Command) (device.Result, error)
}

func (f *fakeRunner) Run(_ context.Context, c device.Command) (device.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, c.String())
	answer := f.answer
	f.mu.Unlock()
	if answer == nil {
		return device.Result{}, nil
	}
	return answer(c)
}

func (f *fakeRunner) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// exitFailure is a command that exited 1 with an nvme-cli message.
func exitFailure(c device.Command, stderr string) (device.Result, error) {
	res := device.Result{Stderr: []byte(stderr), ExitCode: 1}
	return res, &device.ExitError{Command: c.String(), Code: 1, Output: res.Output()}
}

func recorded(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "device", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// event is one recorded event.
type event struct {
	Kind, Namespace, Name, Type, Reason, Action, Note string
}

// fakeRecorder keeps events in memory.
type fakeRecorder struct {
	mu     sync.Mutex
	events []event
}

func (r *fakeRecorder) Eventf(regarding, _ runtime.Object, eventType, reason, action, note string, args ...any) {
	ref, ok := regarding.(*corev1.ObjectReference)
	if !ok {
		panic(fmt.Sprintf("regarding %T", regarding))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{ref.Kind, ref.Namespace, ref.Name, eventType, reason, action, fmt.Sprintf(note, args...)})
}

func (r *fakeRecorder) Events() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

// withReason returns the events with that reason.
func (r *fakeRecorder) withReason(reason string) []event {
	var out []event
	for _, e := range r.Events() {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// testLocks is a per-id lock like driver.VolumeLocks.
type testLocks struct {
	mu   sync.Mutex
	held map[string]bool
}

func (l *testLocks) TryAcquire(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		l.held = map[string]bool{}
	}
	if l.held[id] {
		return false
	}
	l.held[id] = true
	return true
}

func (l *testLocks) Release(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.held, id)
}

// armingClock is a fake clock that reports every timer the delaying queue
// arms: the first duration after an AddRateLimited is the backoff chosen.
type armingClock struct {
	*clocktesting.FakeClock
	armed chan time.Duration
}

func newArmingClock() *armingClock {
	return &armingClock{
		FakeClock: clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		armed:     make(chan time.Duration, 100),
	}
}

func (c *armingClock) NewTimer(d time.Duration) clock.Timer {
	t := c.FakeClock.NewTimer(d)
	c.armed <- d
	return t
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// env is a node with a fake sysfs, scripted nvme-cli, a state directory, a
// mount table file and a watcher on a fake clock.
type env struct {
	t         *testing.T
	sys       *devicetest.Sysfs
	runner    *fakeRunner
	conn      *device.NVMeTCP
	stateDir  string
	store     *Store
	locks     *testLocks
	mountinfo string
	mounts    []string
	rec       *fakeRecorder
	clock     *armingClock
	reg       *prometheus.Registry
	w         *Watcher
	ctx       context.Context
}

type envOption func(*Config)

// newEnv builds the environment; every goroutine it starts has ended when
// the test's cleanups have run (goleak checks that last).
func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	e := &env{
		t:        t,
		sys:      devicetest.NewSysfs(t),
		runner:   &fakeRunner{},
		stateDir: filepath.Join(t.TempDir(), "state"),
		locks:    &testLocks{},
		rec:      &fakeRecorder{},
		clock:    newArmingClock(),
		reg:      prometheus.NewRegistry(),
	}
	dir := t.TempDir()
	e.mountinfo = filepath.Join(dir, "mountinfo")
	e.writeMounts()
	bootID := filepath.Join(dir, "boot_id")
	if err := os.WriteFile(bootID, []byte(testBoot+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	e.conn, err = device.NewNVMeTCP(device.NVMeTCPOptions{
		SysfsRoot: e.sys.Sys, DevRoot: e.sys.Dev, HostNQNFile: filepath.Join(dir, "no-hostnqn"), Runner: e.runner,
		AttachTimeout: 2 * time.Second, PollInterval: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.store = NewStore(e.stateDir, device.DefaultManagedPrefix)
	cfg := Config{
		NodeID: "node-a", ManagedPrefix: device.DefaultManagedPrefix,
		Paths: e.conn, Connector: e.conn, Store: e.store, Locks: e.locks, Recorder: e.rec,
		Metrics:       NewMetrics(e.reg),
		MountInfoPath: e.mountinfo, BootIDPath: bootID,
		// Ticks never come by themselves: tests drive passes with Scan.
		Interval: time.Hour,
		Backoff:  queue.LimiterConfig{Base: time.Second, Max: 16 * time.Second, Jitter: -1},
		Clock:    e.clock,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if e.w, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	// For tests that never Run: the queues' goroutines end here.
	t.Cleanup(e.w.Shutdown)
	e.ctx = klog.NewContext(context.Background(), ktesting.NewLogger(t, ktesting.NewConfig()))
	return e
}

// run runs the watcher until the test ends.
func (e *env) run() {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.w.Run(ctx)
	}()
	e.t.Cleanup(func() {
		cancel()
		recv(e.t, done, "the watcher to stop")
	})
	// Run starts with a pass of its own: let it finish first.
	waitUntil(e.t, "the first pass", func() bool { return e.w.Scans() >= 1 })
}

// pass runs one full pass and waits for it to finish.
func (e *env) pass() {
	e.t.Helper()
	n := e.w.Scans()
	e.w.Scan()
	waitUntil(e.t, "a pass", func() bool { return e.w.Scans() > n })
}

// mount adds a line to the mount table: path (created) mounted rw from
// testMajor:minor.
func (e *env) mount(path string, minor uint32) {
	e.t.Helper()
	if err := os.MkdirAll(path, 0o750); err != nil {
		e.t.Fatal(err)
	}
	e.mounts = append(e.mounts, fmt.Sprintf("%d 1 %d:%d / %s rw,relatime shared:%d - ext4 /dev/x rw",
		100+len(e.mounts), testMajor, minor, path, len(e.mounts)+1))
	e.writeMounts()
}

func (e *env) writeMounts() {
	e.t.Helper()
	lines := append([]string{"1 0 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw"}, e.mounts...)
	if err := os.WriteFile(e.mountinfo, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// connected adds a live NVMe/TCP connection of nqn with namespace
// nvme<n>n1 as a real block node testMajor:minor.
func (e *env) connected(n int, nqn string, minor uint32) {
	e.t.Helper()
	ctrl, ns := fmt.Sprintf("nvme%d", n), fmt.Sprintf("nvme%dn1", n)
	e.sys.Subsystem(fmt.Sprintf("nvme-subsys%d", n), nqn, ctrl, ns)
	e.sys.Controller(ctrl, nqn, device.StateLive, fmt.Sprintf("nvme%dc%dn1", n, n))
	e.sys.BlockNode(ns, testMajor, minor)
}

// gone removes connection n as the kernel does when it deletes a controller.
func (e *env) gone(n int) {
	e.t.Helper()
	e.sys.RemoveController(fmt.Sprintf("nvme%d", n))
	if err := os.RemoveAll(filepath.Join(e.sys.Sys, "class", "nvme-subsystem", fmt.Sprintf("nvme-subsys%d", n))); err != nil {
		e.t.Fatal(err)
	}
	e.sys.RemoveDevNode(fmt.Sprintf("nvme%dn1", n))
}
