package nodehealth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/metrics"
)

// stagedVolume is testVol staged as a filesystem with finite ctrlLossTmo,
// published for one Pod.
func stagedVolume(staging, target string) Volume {
	return Volume{
		ID: testVol, NQN: testNQN, StagingPath: staging,
		Target:    &device.Target{NQN: testNQN, Address: "10.42.0.1", Port: 4420, CtrlLossTmo: 600, ReconnectDelay: 10, KeepAliveTmo: 15},
		Publishes: []Publish{{TargetPath: target, Pod: &PodRef{Namespace: "apps", Name: "db-0", UID: "uid-1"}}},
	}
}

// Acceptance 2: a managed controller disappears while its volume is staged
// → reconnect with the volume's ctrlLossTmo/reconnectDelay/keepAliveTmo,
// with backoff, events recorded; a foreign NQN in the same state is never
// touched.
func TestReconnectLostPathWithTheVolumesParameters(t *testing.T) {
	e := newEnv(t)
	// A foreign record on disk (edited by hand, or planted): the store
	// refuses it at load, so nothing ever acts on it.
	if err := os.MkdirAll(e.stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	foreign := `{"id":"boot-node-a","nqn":"` + bootNQN + `","stagingPath":"/x","target":{"nqn":"` + bootNQN + `","address":"10.42.0.1","port":4420}}`
	for name, content := range map[string]string{"boot-node-a.json": foreign, initializedMarker: ""} {
		if err := os.WriteFile(filepath.Join(e.stateDir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The volume is live on nvme0; the host's boot volume on nvme5.
	e.connected(0, testNQN, 1)
	e.connected(5, bootNQN, 5)
	staging := filepath.Join(t.TempDir(), "globalmount")
	e.mount(staging, 1)
	e.mount(filepath.Join(t.TempDir(), "boot-volume"), 5)

	attempts := 0
	e.runner.answer = func(c device.Command) (device.Result, error) {
		if c.Args[0] != "connect" {
			t.Errorf("unexpected command %s", c)
			return device.Result{}, nil
		}
		attempts++
		if attempts <= 2 {
			return exitFailure(c, recorded(t, "connect-fail-2.x.stderr"))
		}
		// The RDS is back: the kernel creates a new controller, renumbered.
		e.connected(1, testNQN, 3)
		return device.Result{Stdout: []byte(recorded(t, "connect-ok-2.x.stdout"))}, nil
	}

	// Staged before this (re)start: the record is on disk.
	if err := e.w.Staged(stagedVolume(staging, "/pods/uid-1/volumes/x/mount")); err != nil {
		t.Fatal(err)
	}
	if err := e.w.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.store.List(); len(got) != 1 || got[0].ID != testVol {
		t.Fatalf("store after loading = %+v, want only %s (the foreign record refused)", got, testVol)
	}
	e.run()
	if c, _ := e.w.Condition(e.ctx, testVol); c.Abnormal() {
		t.Fatalf("live volume abnormal: %s", c.Message())
	}

	// Both controllers go away: ctrl_loss_tmo ran out.
	e.gone(0)
	e.gone(5)
	e.pass()
	if c, _ := e.w.Condition(e.ctx, testVol); c.Reason() != ReasonPathLost {
		t.Fatalf("condition %s (%s), want %s", c.Reason(), c.Message(), ReasonPathLost)
	}
	// Attempt 1 runs at once and fails: backoff 1 s.
	if d := recv(t, e.clock.armed, "the first backoff"); d != time.Second {
		t.Fatalf("first backoff %v, want 1s", d)
	}
	waitUntil(t, "the failure event", func() bool { return len(e.rec.withReason(ReasonReconnectFailed)) == 1 })
	// Passes while the volume waits out its backoff never hand it over again.
	e.pass()
	e.pass()
	if n := len(e.runner.Calls()); n != 1 {
		t.Fatalf("%d connects while the first backoff runs, want 1: %v", n, e.runner.Calls())
	}
	e.clock.Step(time.Second)
	if d := recv(t, e.clock.armed, "the second backoff"); d != 2*time.Second {
		t.Fatalf("second backoff %v, want 2s", d)
	}
	e.clock.Step(2 * time.Second)
	waitUntil(t, "the reconnected event", func() bool { return len(e.rec.withReason(ReasonReconnected)) == 1 })

	want := "nvme connect -t tcp -a 10.42.0.1 -s 4420 -n " + testNQN + " -l 600 -c 10 -k 15"
	calls := e.runner.Calls()
	if len(calls) != 3 {
		t.Fatalf("connects = %v, want 3", calls)
	}
	for _, c := range calls {
		if c != want {
			t.Errorf("connect %q\nwant      %q", c, want)
		}
		if strings.Contains(c, bootNQN) {
			t.Errorf("the foreign NQN was touched: %s", c)
		}
	}
	waitUntil(t, "Forget", func() bool { return e.w.reconnect.NumRequeues(testVol) == 0 })

	// Events regard the Pod using the volume.
	for _, ev := range append(e.rec.withReason(ReasonPathLost), append(e.rec.withReason(ReasonReconnectFailed), e.rec.withReason(ReasonReconnected)...)...) {
		if ev.Kind != "Pod" || ev.Namespace != "apps" || ev.Name != "db-0" {
			t.Errorf("event %s regards %s %s/%s, want Pod apps/db-0", ev.Reason, ev.Kind, ev.Namespace, ev.Name)
		}
	}
	if n := len(e.rec.withReason(ReasonReconnectFailed)); n != 2 {
		t.Errorf("%d %s events, want 2", n, ReasonReconnectFailed)
	}
	if got := testutil.ToFloat64(e.w.cfg.Metrics.Reconnects.WithLabelValues(metrics.NodeReconnectSuccess)); got != 1 {
		t.Errorf("reconnects success = %v, want 1", got)
	}
	if got := testutil.ToFloat64(e.w.cfg.Metrics.Reconnects.WithLabelValues(metrics.NodeReconnectFailure)); got != 2 {
		t.Errorf("reconnects failure = %v, want 2", got)
	}

	// Reconnected as nvme1n1 (240:3) while the staging mount still sits on
	// the dead 240:1: reported, and the mount is left alone.
	e.pass()
	c, _ := e.w.Condition(e.ctx, testVol)
	if c.Reason() != ReasonStagingDeviceStale || !strings.Contains(c.Message(), "240:1") {
		t.Fatalf("after the reconnect: %s (%s), want %s", c.Reason(), c.Message(), ReasonStagingDeviceStale)
	}
	if len(e.rec.withReason(ReasonStagingDeviceStale)) != 1 {
		t.Errorf("no %s event", ReasonStagingDeviceStale)
	}
	if n := len(e.runner.Calls()); n != 3 {
		t.Errorf("commands after the report: %v (a stale mount is never touched)", e.runner.Calls())
	}
}

// Only a path the kernel gave up, with a mount depending on it, staged in
// this boot with known parameters, is reconnected.
func TestReconnectOnlyWhenSafeAndNeeded(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env, v *Volume)
	}{
		{"kernel still reconnecting", func(e *env, _ *Volume) {
			e.sys.SetState("nvme0", device.StateConnecting)
		}},
		{"controller resetting", func(e *env, _ *Volume) {
			e.sys.SetState("nvme0", device.StateResetting)
		}},
		{"nothing mounted from it any more", func(e *env, _ *Volume) {
			e.gone(0)
			e.mounts = nil
			e.writeMounts()
		}},
		{"adopted: parameters unknown", func(e *env, v *Volume) {
			e.gone(0)
			v.Target = nil
		}},
		{"live controller without a namespace", func(e *env, _ *Volume) {
			e.sys.RemoveDevNode("nvme0n1")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.connected(0, testNQN, 1)
			staging := filepath.Join(t.TempDir(), "globalmount")
			e.mount(staging, 1)
			v := stagedVolume(staging, "/t")
			tc.setup(e, &v)
			if err := e.w.Staged(v); err != nil {
				t.Fatal(err)
			}
			e.run()
			e.pass()
			c, _ := e.w.Condition(e.ctx, testVol)
			if !c.Abnormal() {
				t.Fatalf("condition normal; want a problem (path %s)", c.Path)
			}
			if calls := e.runner.Calls(); len(calls) != 0 {
				t.Fatalf("commands ran: %v", calls)
			}
		})
	}
}

// A record of another boot is dropped at start and never reconnected.
func TestStartDropsRecordsOfEarlierBoots(t *testing.T) {
	e := newEnv(t)
	staging := filepath.Join(t.TempDir(), "globalmount")
	v := stagedVolume(staging, "/t")
	v.BootID = "an-earlier-boot"
	early := NewStore(e.stateDir, device.DefaultManagedPrefix)
	if err := early.Put(v); err != nil {
		t.Fatal(err)
	}
	if err := early.MarkInitialized(); err != nil {
		t.Fatal(err)
	}
	if err := e.w.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.store.Get(testVol); ok {
		t.Fatal("record of an earlier boot kept")
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, testVol+".json")); !os.IsNotExist(err) {
		t.Fatalf("record file of an earlier boot still on disk: %v", err)
	}
}
