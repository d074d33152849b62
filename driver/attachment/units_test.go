package attachment

import (
	"slices"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/rdsfake"
)

// twoUnits replaces the env's single RDS with units "a" (legacy: bare ids)
// and "b" ("b:<slot>" ids).
type twoUnits struct {
	fake      map[string]*rdsfake.Fake
	up        map[string]*atomic.Bool
	reconnect map[string]chan struct{}
}

func newTwoUnits() *twoUnits {
	u := &twoUnits{fake: map[string]*rdsfake.Fake{}, up: map[string]*atomic.Bool{}, reconnect: map[string]chan struct{}{}}
	for _, n := range []string{"a", "b"} {
		u.fake[n], u.up[n], u.reconnect[n] = rdsfake.New(), &atomic.Bool{}, make(chan struct{}, 1)
		u.up[n].Store(true)
	}
	return u
}

func (u *twoUnits) option(c *Config) {
	c.RDS, c.Connected, c.Reconnected = nil, nil, nil
	for _, n := range []string{"a", "b"} {
		c.Units = append(c.Units, Unit{Name: n, RDS: u.fake[n], Connected: u.up[n].Load, Reconnected: u.reconnect[n]})
	}
	c.Resolve = func(id string) (string, string, bool) {
		unit, slot, err := rds.SplitHandle(id)
		if err != nil {
			return "", "", false
		}
		if unit == "" {
			unit = "a"
		}
		return unit, slot, true
	}
}

func TestReconnectedOfOneUnitReconcilesItsVolumesOnly(t *testing.T) {
	onA := []string{volumeID(1), volumeID(2)}
	onB := []string{"b:" + volumeID(3), "b:" + volumeID(4)}
	objs := []runtime.Object{readyNode("n")}
	for _, v := range append(slices.Clone(onA), onB...) {
		objs = append(objs, rwoPV(v), attachedVA(v, "n", t0))
	}
	units := newTwoUnits()
	for _, v := range onA {
		units.fake["a"].AddVolume(rdsVolume(v))
	}
	for _, v := range onB {
		_, slot, _ := rds.SplitHandle(v)
		vol := rdsVolume(slot)
		vol.Exported = v != onB[0] // the first one's export is off: repaired on b
		units.fake["b"].AddVolume(vol)
	}
	e := newEnvOn(t, fake.NewClientset(objs...), units.option)

	units.up["a"].Store(false) // a is away: its volumes wait, b's are checked
	e.startupPass()
	for _, v := range onB {
		// At least once: an informer event of the VolumeAttachment may
		// enqueue it again while the pass runs (seen under load).
		if e.syncCount(v, metrics.ReconcileSuccess) == 0 {
			t.Errorf("%s on b: not reconciled while a is away", v)
		}
	}
	_, slot, _ := rds.SplitHandle(onB[0])
	if v, _ := units.fake["b"].Volume(slot); !v.Exported {
		t.Errorf("export of %s on b not repaired", onB[0])
	}
	if n := units.fake["a"].CallCount(rdsfake.MethodSetExport); n != 0 {
		t.Errorf("%d SetExport calls on a, want none", n)
	}
	e.resetEnqueued()

	units.up["a"].Store(true)
	units.reconnect["a"] <- struct{}{}
	if got := e.reconnectPass(t, "a's reconnect pass", onA); !slices.Equal(got, onA) {
		t.Fatalf("Reconnected of a enqueued %v, want a's volumes %v only", got, onA)
	}
}
