package nodehealth

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/metrics"
)

// disconnecting answers nvme disconnect like the kernel: the controllers of
// the NQN go away.
func disconnecting(e *env, byNQN map[string]int) func(c device.Command) (device.Result, error) {
	return func(c device.Command) (device.Result, error) {
		if len(c.Args) == 3 && c.Args[0] == "disconnect" && c.Args[1] == "-n" {
			if n, ok := byNQN[c.Args[2]]; ok {
				e.gone(n)
			}
			return device.Result{Stdout: []byte(recorded(e.t, "disconnect-ok.stdout"))}, nil
		}
		e.t.Errorf("unexpected command %s", c)
		return device.Result{}, nil
	}
}

// Acceptance 3: node start with two orphan managed connections (one
// mounted, one not) and one foreign: exactly the unmounted managed one is
// disconnected. The variants show that doubt keeps a connection.
func TestOrphanCleanupAtStart(t *testing.T) {
	tests := []struct {
		name    string
		claimed func(dev string) (bool, error)
		noMInfo bool // the mount table cannot be read
		staged  bool // otherVol has a record: not an orphan
		want    []string
		kept    float64
	}{
		{name: "only the unmounted managed orphan goes", want: []string{"nvme disconnect -n " + otherNQN}, kept: 1},
		{name: "held in another mount namespace", kept: 2,
			claimed: func(dev string) (bool, error) { return strings.HasSuffix(dev, "nvme1n1"), nil }},
		{name: "exclusive probe fails", kept: 2,
			claimed: func(string) (bool, error) { return false, errors.New("open: permission denied") }},
		{name: "mount table unreadable", noMInfo: true},
		{name: "staged volume is no orphan", staged: true, kept: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) {
				if tc.claimed != nil {
					c.Claimed = tc.claimed
				}
			})
			e.connected(0, testNQN, 10)  // managed, mounted
			e.connected(1, otherNQN, 11) // managed, unused
			e.connected(2, bootNQN, 12)  // foreign, unused
			e.mount(filepath.Join(t.TempDir(), "mnt"), 10)
			if tc.noMInfo {
				e.mountinfo = filepath.Join(t.TempDir(), "absent")
				e.w.cfg.MountInfoPath = e.mountinfo
			}
			if tc.staged {
				if err := e.store.Put(Volume{ID: otherVol, NQN: otherNQN, Block: true, BootID: testBoot}); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.store.MarkInitialized(); err != nil {
				t.Fatal(err)
			}
			e.runner.answer = disconnecting(e, map[string]int{testNQN: 0, otherNQN: 1, bootNQN: 2})

			if err := e.w.Start(e.ctx); err != nil {
				t.Fatal(err)
			}
			if got := e.runner.Calls(); !slices.Equal(got, tc.want) {
				t.Fatalf("commands %q, want %q", got, tc.want)
			}
			for _, c := range e.runner.Calls() {
				if strings.Contains(c, bootNQN) || strings.Contains(c, testNQN) {
					t.Fatalf("touched a foreign or mounted connection: %s", c)
				}
			}
			if got := testutil.ToFloat64(e.w.cfg.Metrics.Orphans.WithLabelValues(metrics.NodeOrphanDisconnected)); got != float64(len(tc.want)) {
				t.Errorf("orphans disconnected = %v, want %d", got, len(tc.want))
			}
			if got := testutil.ToFloat64(e.w.cfg.Metrics.Orphans.WithLabelValues(metrics.NodeOrphanKept)); got != tc.kept {
				t.Errorf("orphans kept = %v, want %v", got, tc.kept)
			}
			for _, ev := range e.rec.Events() {
				if ev.Kind != "Node" || ev.Name != "node-a" {
					t.Errorf("orphan event regards %s %s, want the Node", ev.Kind, ev.Name)
				}
				if strings.Contains(ev.Note, bootNQN) {
					t.Errorf("an event names the foreign NQN: %s", ev.Note)
				}
			}
			if len(tc.want) == 1 && len(e.rec.withReason(ReasonOrphanConnectionDisconnected)) != 1 {
				t.Errorf("events %+v, want one %s", e.rec.Events(), ReasonOrphanConnectionDisconnected)
			}
		})
	}
}

// A new state directory cannot tell orphans from volumes staged before it
// existed: everything managed is adopted, nothing is disconnected, and the
// next start cleans up.
func TestStartAdoptsWithANewStateDirectory(t *testing.T) {
	e := newEnv(t)
	e.connected(1, otherNQN, 11)
	e.connected(2, bootNQN, 12)
	e.runner.answer = disconnecting(e, map[string]int{otherNQN: 1})
	if err := e.w.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	if calls := e.runner.Calls(); len(calls) != 0 {
		t.Fatalf("commands at the first start: %v", calls)
	}
	v, ok := e.store.Get(otherVol)
	if !ok || !v.Adopted() || v.BootID != testBoot {
		t.Fatalf("adopted record = %+v, %v", v, ok)
	}
	if got := e.store.List(); len(got) != 1 {
		t.Fatalf("records %+v: the foreign NQN must not be adopted", got)
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, initializedMarker)); err != nil {
		t.Fatalf("marker: %v", err)
	}
	// An adopted volume is watched, never reconnected.
	e.gone(1)
	e.run()
	e.pass()
	c, _ := e.w.Condition(e.ctx, otherVol)
	if c.Reason() != ReasonPathLost || !strings.Contains(c.Message(), "not reconnected") {
		t.Fatalf("adopted volume without path: %s (%s)", c.Reason(), c.Message())
	}
	if calls := e.runner.Calls(); len(calls) != 0 {
		t.Fatalf("commands for an adopted volume: %v", calls)
	}
}

// Without a state directory nothing tells an orphan from a volume staged
// before the restart: no cleanup at all.
func TestStartWithoutStateDirectoryCleansNothing(t *testing.T) {
	e := newEnv(t)
	e.store = NewStore("", device.DefaultManagedPrefix)
	e.w.cfg.Store = e.store
	e.connected(1, otherNQN, 11)
	e.runner.answer = disconnecting(e, map[string]int{otherNQN: 1})
	if err := e.w.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	if calls := e.runner.Calls(); len(calls) != 0 {
		t.Fatalf("commands: %v", calls)
	}
}
