package driver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/rdsfake"
)

// unitsEnv is a UnitsController over fakes, one per unit, with a switch
// per unit for its connection gate.
type unitsEnv struct {
	uc    *UnitsController
	fakes map[string]*rdsfake.Fake
	up    map[string]*atomic.Bool
	cfgs  []UnitConfig
}

type testUnit struct {
	name     string
	legacy   bool
	topology map[string]string
	pool     int64 // bytes; 0: the fake's default
}

func newUnitsEnv(t *testing.T, units ...testUnit) *unitsEnv {
	t.Helper()
	e := &unitsEnv{fakes: map[string]*rdsfake.Fake{}, up: map[string]*atomic.Bool{}}
	var cfgs []UnitConfig
	for _, u := range units {
		f := rdsfake.New()
		if u.pool > 0 {
			f.SetPool(rdsfake.DefaultPool, u.pool)
		}
		up := &atomic.Bool{}
		up.Store(true)
		e.fakes[u.name], e.up[u.name] = f, up
		cfgs = append(cfgs, UnitConfig{
			Name: u.name, Legacy: u.legacy, Topology: u.topology, Address: u.name + ":22",
			Controller: ControllerConfig{RDS: f, Connected: up.Load, DefaultNVMeAddress: "10.0.0.1"},
		})
	}
	e.cfgs = cfgs
	e.restart(t)
	return e
}

// restart replaces the controller by a new one over the same units: what
// the process remembered is gone, the RDS units keep their disks.
func (e *unitsEnv) restart(t *testing.T) {
	t.Helper()
	uc, err := NewUnitsController(UnitsConfig{Units: e.cfgs})
	if err != nil {
		t.Fatal(err)
	}
	e.uc = uc
}

func unitCreateReq(name string, size int64, params map[string]string) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{
		Name:               name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{unitMountCap()},
		Parameters:         params,
	}
}

func unitMountCap() *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

// unitOf returns the unit that holds the disk slot.
func (e *unitsEnv) unitOf(slot string) []string {
	var on []string
	for name, f := range e.fakes {
		if _, ok := f.Volume(slot); ok {
			on = append(on, name)
		}
	}
	return on
}

func TestUnitsHandles(t *testing.T) {
	e := newUnitsEnv(t, testUnit{name: "default", legacy: true}, testUnit{name: "b"})
	for _, tc := range []struct {
		id       string
		wantUnit string
		wantCode codes.Code
	}{
		{id: "pvc-0f5e2c1a-0000-4000-8000-000000000001", wantUnit: "default"},
		{id: "b:pvc-0f5e2c1a-0000-4000-8000-000000000001", wantUnit: "b"},
		{id: "b:snap-0123456789abcdef-pvc-x", wantUnit: "b"},
		{id: "default:pvc-x", wantCode: codes.NotFound},
		{id: "c:pvc-x", wantCode: codes.FailedPrecondition},
		{id: "B:pvc-x", wantCode: codes.InvalidArgument},
		{id: "b:pvc-x;/system reboot", wantCode: codes.InvalidArgument},
		{id: "b:c:pvc-x", wantCode: codes.InvalidArgument},
		{id: "", wantCode: codes.InvalidArgument},
	} {
		t.Run(tc.id, func(t *testing.T) {
			u, _, err := e.uc.resolve("volume_id", tc.id)
			if got := status.Code(err); got != tc.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err, tc.wantCode)
			}
			if err == nil && u.Name != tc.wantUnit {
				t.Errorf("unit %s, want %s", u.Name, tc.wantUnit)
			}
		})
	}
}

func TestUnitsCreatePlacement(t *testing.T) {
	ctx := context.Background()
	t.Run("pinned", func(t *testing.T) {
		e := newUnitsEnv(t, testUnit{name: "a"}, testUnit{name: "b"})
		resp, err := e.uc.CreateVolume(ctx, unitCreateReq("pvc-11111111-1111-4111-8111-111111111111", 1<<30, map[string]string{ParamRDS: "b"}))
		if err != nil {
			t.Fatal(err)
		}
		if id := resp.GetVolume().GetVolumeId(); id != "b:pvc-11111111-1111-4111-8111-111111111111" {
			t.Errorf("id %s", id)
		}
		if on := e.unitOf("pvc-11111111-1111-4111-8111-111111111111"); len(on) != 1 || on[0] != "b" {
			t.Errorf("disk on %v, want b only", on)
		}
	})
	t.Run("unknown unit", func(t *testing.T) {
		e := newUnitsEnv(t, testUnit{name: "a"}, testUnit{name: "b"})
		_, err := e.uc.CreateVolume(ctx, unitCreateReq("x", 1<<30, map[string]string{ParamRDS: "c"}))
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("got %v, want InvalidArgument", err)
		}
	})
	t.Run("spread by free space, retries stay", func(t *testing.T) {
		e := newUnitsEnv(t, testUnit{name: "a", pool: 100 << 30}, testUnit{name: "b", pool: 60 << 30})
		count := map[string]int{}
		for i := range 20 {
			name := fmt.Sprintf("vol-%d", i)
			first, err := e.uc.CreateVolume(ctx, unitCreateReq(name, 4<<30, nil))
			if err != nil {
				t.Fatal(err)
			}
			again, err := e.uc.CreateVolume(ctx, unitCreateReq(name, 4<<30, nil))
			if err != nil || again.GetVolume().GetVolumeId() != first.GetVolume().GetVolumeId() {
				t.Fatalf("retry of %s: %v, %v; want %s", name, again.GetVolume().GetVolumeId(), err, first.GetVolume().GetVolumeId())
			}
			unit, _, _ := strings.Cut(first.GetVolume().GetVolumeId(), ":")
			count[unit]++
		}
		// a: 100 GiB, b: 60 GiB: the first 10 go to a (down to 60), then
		// they alternate: 15 on a, 5 on b.
		if count["a"] != 15 || count["b"] != 5 {
			t.Errorf("placement %v, want a:15 b:5", count)
		}
	})
	t.Run("retry finds the disk after a restart", func(t *testing.T) {
		e := newUnitsEnv(t, testUnit{name: "a", pool: 100 << 30}, testUnit{name: "b", pool: 60 << 30})
		slot := volumeIDForName("restarted")
		// Made by an earlier process on the unit with less room.
		e.fakes["b"].AddVolume(rds.Volume{ID: slot, FilePath: rds.FilePathFor(rds.DefaultVolumePath, slot), SizeBytes: 1 << 30, Exported: true})
		resp, err := e.uc.CreateVolume(ctx, unitCreateReq("restarted", 1<<30, nil))
		if err != nil || resp.GetVolume().GetVolumeId() != "b:"+slot {
			t.Fatalf("got %v, %v; want b:%s", resp.GetVolume().GetVolumeId(), err, slot)
		}
	})
	t.Run("retry after a restart finds an add still running", func(t *testing.T) {
		e := newUnitsEnv(t, testUnit{name: "a", pool: 100 << 30}, testUnit{name: "b", pool: 60 << 30})
		slot := volumeIDForName("running")
		// An earlier process's add on b: its file is there, its disk not yet.
		e.fakes["b"].AddFile(rds.FilePathFor(rds.DefaultVolumePath, slot), 1<<30)
		_, err := e.uc.CreateVolume(ctx, unitCreateReq("running", 1<<30, nil))
		if status.Code(err) != codes.Aborted {
			t.Fatalf("got %v, want Aborted while the add on b may still run", err)
		}
		if on := e.unitOf(slot); len(on) != 0 {
			t.Fatalf("disk created on %v while b's add may still run", on)
		}
		if files := e.fakes["a"].Files(); len(files) != 0 {
			t.Fatalf("files on a: %v", files)
		}
	})
	t.Run("topology", func(t *testing.T) {
		e := newUnitsEnv(t,
			testUnit{name: "a", pool: 100 << 30, topology: map[string]string{"topology.rds.csi.srvlab.io/rds": "rack-a"}},
			testUnit{name: "b", pool: 10 << 30, topology: map[string]string{"topology.rds.csi.srvlab.io/rds": "rack-b"}})
		req := unitCreateReq("topo", 1<<30, nil)
		req.AccessibilityRequirements = &csi.TopologyRequirement{
			Requisite: []*csi.Topology{{Segments: map[string]string{"topology.rds.csi.srvlab.io/rds": "rack-b"}}},
		}
		resp, err := e.uc.CreateVolume(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(resp.GetVolume().GetVolumeId(), "b:") {
			t.Errorf("id %s, want on b", resp.GetVolume().GetVolumeId())
		}
		if at := resp.GetVolume().GetAccessibleTopology(); len(at) != 1 || at[0].GetSegments()["topology.rds.csi.srvlab.io/rds"] != "rack-b" {
			t.Errorf("accessible_topology %v", at)
		}
	})
	t.Run("one unit away", func(t *testing.T) {
		e := newUnitsEnv(t, testUnit{name: "a", pool: 100 << 30}, testUnit{name: "b", pool: 60 << 30})
		e.up["a"].Store(false)
		resp, err := e.uc.CreateVolume(ctx, unitCreateReq("pinned-b", 1<<30, map[string]string{ParamRDS: "b"}))
		if err != nil || resp.GetVolume().GetVolumeId() != "b:"+volumeIDForName("pinned-b") {
			t.Fatalf("pinned to b while a is away: %v, %v; want on b", resp.GetVolume().GetVolumeId(), err)
		}
		_, err = e.uc.CreateVolume(ctx, unitCreateReq("pinned-a", 1<<30, map[string]string{ParamRDS: "a"}))
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "RDS unit a") {
			t.Errorf("pinned to a while away: %v, want Unavailable naming a", err)
		}
	})
}

// TestUnitsCreateAwayCandidate: a name this process has not placed is
// never placed while a candidate unit is away, because that unit may hold
// the name's disk from an attempt whose answer was lost before a restart.
// Pinned creates, names this process placed, disks found on a connected
// unit and requests whose candidates are all connected go through.
func TestUnitsCreateAwayCandidate(t *testing.T) {
	ctx := context.Background()
	rackA := map[string]string{"topology.rds.csi.srvlab.io/rds": "rack-a"}
	rackB := map[string]string{"topology.rds.csi.srvlab.io/rds": "rack-b"}
	onlyB := &csi.TopologyRequirement{Requisite: []*csi.Topology{{Segments: rackB}}}
	for _, tc := range []struct {
		name  string
		units []testUnit
		// before runs with every unit connected (the first attempt).
		before  func(t *testing.T, e *unitsEnv, vol string)
		restart bool
		away    []string
		params  map[string]string
		topo    *csi.TopologyRequirement
		// wantOn: the unit of the answer; "" for Unavailable naming
		// wantNamed.
		wantOn    string
		wantNamed []string
		// wantDisks: the units that hold the name's disk afterwards.
		wantDisks []string
	}{
		{
			name:  "first answer lost, restart, that unit away",
			units: []testUnit{{name: "a", pool: 100 << 30}, {name: "b", pool: 60 << 30}},
			before: func(t *testing.T, e *unitsEnv, vol string) {
				// Placed on a (more room); the answer never reached the
				// provisioner.
				if _, err := e.uc.CreateVolume(ctx, unitCreateReq(vol, 1<<30, nil)); err != nil {
					t.Fatal(err)
				}
			},
			restart: true, away: []string{"a"},
			wantNamed: []string{"a"}, wantDisks: []string{"a"},
		},
		{
			name:  "new name, one candidate away",
			units: []testUnit{{name: "a", pool: 100 << 30}, {name: "b", pool: 60 << 30}},
			away:  []string{"a"}, wantNamed: []string{"a"},
		},
		{
			name:    "new name after a restart, two of three away",
			units:   []testUnit{{name: "a"}, {name: "b"}, {name: "c"}},
			restart: true, away: []string{"a", "c"},
			wantNamed: []string{"a", "c"},
		},
		{
			name:    "pinned to a connected unit",
			units:   []testUnit{{name: "a", pool: 100 << 30}, {name: "b", pool: 60 << 30}},
			restart: true, away: []string{"a"}, params: map[string]string{ParamRDS: "b"},
			wantOn: "b", wantDisks: []string{"b"},
		},
		{
			name:    "away unit outside the requisite topology",
			units:   []testUnit{{name: "a", pool: 100 << 30, topology: rackA}, {name: "b", pool: 60 << 30, topology: rackB}},
			restart: true, away: []string{"a"}, topo: onlyB,
			wantOn: "b", wantDisks: []string{"b"},
		},
		{
			name:    "away unit inside the requisite topology",
			units:   []testUnit{{name: "a", pool: 100 << 30, topology: rackB}, {name: "b", pool: 60 << 30, topology: rackB}},
			restart: true, away: []string{"a"}, topo: onlyB,
			wantNamed: []string{"a"},
		},
		{
			name:  "this process placed the name",
			units: []testUnit{{name: "a", pool: 60 << 30}, {name: "b", pool: 100 << 30}},
			before: func(t *testing.T, e *unitsEnv, vol string) {
				if _, err := e.uc.CreateVolume(ctx, unitCreateReq(vol, 1<<30, nil)); err != nil {
					t.Fatal(err)
				}
			},
			away:   []string{"a"},
			wantOn: "b", wantDisks: []string{"b"},
		},
		{
			name:  "disk found on a connected unit after a restart",
			units: []testUnit{{name: "a", pool: 60 << 30}, {name: "b", pool: 100 << 30}},
			before: func(t *testing.T, e *unitsEnv, vol string) {
				if _, err := e.uc.CreateVolume(ctx, unitCreateReq(vol, 1<<30, nil)); err != nil {
					t.Fatal(err)
				}
			},
			restart: true, away: []string{"a"},
			wantOn: "b", wantDisks: []string{"b"},
		},
		{
			name:    "every unit connected",
			units:   []testUnit{{name: "a", pool: 100 << 30}, {name: "b", pool: 60 << 30}},
			restart: true,
			wantOn:  "a", wantDisks: []string{"a"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newUnitsEnv(t, tc.units...)
			vol := "pvc-0f5e2c1a-0000-4000-8000-0000000000aa"
			slot := volumeIDForName(vol)
			if tc.before != nil {
				tc.before(t, e, vol)
			}
			if tc.restart {
				e.restart(t)
			}
			for _, u := range tc.away {
				e.up[u].Store(false)
			}
			req := unitCreateReq(vol, 1<<30, tc.params)
			req.AccessibilityRequirements = tc.topo
			resp, err := e.uc.CreateVolume(ctx, req)
			if tc.wantOn == "" {
				if status.Code(err) != codes.Unavailable {
					t.Fatalf("got %v, %v; want Unavailable", resp.GetVolume().GetVolumeId(), err)
				}
				for _, u := range tc.wantNamed {
					if !strings.Contains(err.Error(), "RDS unit") || !strings.Contains(err.Error(), u+" ("+u+":22)") {
						t.Errorf("%v does not name unit %s", err, u)
					}
				}
				if !strings.Contains(err.Error(), "cannot rule out") || !strings.Contains(err.Error(), "pin the StorageClass with rds:") {
					t.Errorf("%v does not say why or what to do", err)
				}
			} else {
				want := tc.wantOn + ":" + slot
				if err != nil || resp.GetVolume().GetVolumeId() != want {
					t.Fatalf("got %v, %v; want %s", resp.GetVolume().GetVolumeId(), err, want)
				}
			}
			on := e.unitOf(slot)
			slices.Sort(on)
			if !slices.Equal(on, tc.wantDisks) {
				t.Errorf("disks of %s on %v, want %v", vol, on, tc.wantDisks)
			}
			// Back: the retry goes where the disk is (or is placed).
			for _, u := range tc.away {
				e.up[u].Store(true)
			}
			resp, err = e.uc.CreateVolume(ctx, req)
			if err != nil {
				t.Fatalf("retry with every unit back: %v", err)
			}
			if len(tc.wantDisks) > 0 && resp.GetVolume().GetVolumeId() != tc.wantDisks[0]+":"+slot {
				t.Errorf("retry: %s, want on %s", resp.GetVolume().GetVolumeId(), tc.wantDisks[0])
			}
			if on := e.unitOf(slot); len(on) != 1 {
				t.Errorf("after the retry the name's disk is on %v, want exactly one unit", on)
			}
		})
	}
}

func TestUnitsCrossUnitRestore(t *testing.T) {
	ctx := context.Background()
	e := newUnitsEnv(t, testUnit{name: "a"}, testUnit{name: "b"})
	vol, err := e.uc.CreateVolume(ctx, unitCreateReq("src", 1<<30, map[string]string{ParamRDS: "a"}))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := e.uc.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s1", SourceVolumeId: vol.GetVolume().GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	if id := snap.GetSnapshot().GetSnapshotId(); !strings.HasPrefix(id, "a:snap-") || snap.GetSnapshot().GetSourceVolumeId() != vol.GetVolume().GetVolumeId() {
		t.Fatalf("snapshot %v", snap.GetSnapshot())
	}
	src := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshot().GetSnapshotId()}}}
	for _, tc := range []struct {
		name     string
		params   map[string]string
		wantCode codes.Code
	}{
		{name: "pinned to b", params: map[string]string{ParamRDS: "b"}, wantCode: codes.InvalidArgument},
		{name: "pinned to a", params: map[string]string{ParamRDS: "a"}, wantCode: codes.OK},
		{name: "not pinned", wantCode: codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := unitCreateReq("restore-"+strings.ReplaceAll(tc.name, " ", "-"), 1<<30, tc.params)
			req.VolumeContentSource = src
			resp, err := e.uc.CreateVolume(ctx, req)
			if status.Code(err) != tc.wantCode {
				t.Fatalf("got %v, want %v", err, tc.wantCode)
			}
			if err != nil {
				if msg := err.Error(); !strings.Contains(msg, "unit a") || !strings.Contains(msg, "unit b") {
					t.Errorf("message %q does not name both units", msg)
				}
				return
			}
			if !strings.HasPrefix(resp.GetVolume().GetVolumeId(), "a:") || resp.GetVolume().GetContentSource().GetSnapshot().GetSnapshotId() != snap.GetSnapshot().GetSnapshotId() {
				t.Errorf("restored %v", resp.GetVolume())
			}
		})
	}
}

func TestUnitsRouting(t *testing.T) {
	ctx := context.Background()
	e := newUnitsEnv(t, testUnit{name: "default", legacy: true}, testUnit{name: "b"})
	// A volume of the single-RDS driver: bare id on the legacy unit.
	legacy := "pvc-0f5e2c1a-0000-4000-8000-0000000000aa"
	e.fakes["default"].AddVolume(rds.Volume{ID: legacy, FilePath: rds.FilePathFor(rds.DefaultVolumePath, legacy), SizeBytes: 1 << 30, Exported: true})
	onB, err := e.uc.CreateVolume(ctx, unitCreateReq("on-b", 1<<30, map[string]string{ParamRDS: "b"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{legacy, onB.GetVolume().GetVolumeId()} {
		t.Run(id, func(t *testing.T) {
			if _, err := e.uc.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30}}); err != nil {
				t.Fatalf("expand: %v", err)
			}
			pub, err := e.uc.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: "n1", VolumeCapability: unitMountCap()})
			if err != nil {
				t.Fatalf("publish: %v", err)
			}
			_, slot, _ := rds.SplitHandle(id)
			if pub.GetPublishContext()[PubNQN] != rds.NQNFor(slot) {
				t.Errorf("publish context %v", pub.GetPublishContext())
			}
			snap, err := e.uc.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-of-" + slot, SourceVolumeId: id})
			if err != nil {
				t.Fatalf("snapshot: %v", err)
			}
			if _, err := e.uc.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshot().GetSnapshotId()}); err != nil {
				t.Fatalf("delete snapshot: %v", err)
			}
			if _, err := e.uc.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: "n1"}); err != nil {
				t.Fatalf("unpublish: %v", err)
			}
			if _, err := e.uc.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if on := e.unitOf(slot); len(on) != 0 {
				t.Errorf("disk still on %v", on)
			}
		})
	}
	t.Run("unit away", func(t *testing.T) {
		e.up["b"].Store(false)
		defer e.up["b"].Store(true)
		_, err := e.uc.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: "b:pvc-0f5e2c1a-0000-4000-8000-0000000000bb"})
		if status.Code(err) != codes.Unavailable {
			t.Errorf("delete on b while away: %v", err)
		}
		if _, err := e.uc.ListVolumes(ctx, &csi.ListVolumesRequest{}); status.Code(err) != codes.Unavailable {
			t.Errorf("list while b away: %v", err)
		}
	})
}

func TestUnitsListAndCapacity(t *testing.T) {
	ctx := context.Background()
	rack := "topology.rds.csi.srvlab.io/rds"
	e := newUnitsEnv(t,
		testUnit{name: "a", pool: 100 << 30, topology: map[string]string{rack: "a"}},
		testUnit{name: "b", pool: 50 << 30, topology: map[string]string{rack: "b"}})
	for i := range 3 {
		for _, u := range []string{"a", "b"} {
			if _, err := e.uc.CreateVolume(ctx, unitCreateReq(fmt.Sprintf("%s-%d", u, i), 1<<30, map[string]string{ParamRDS: u})); err != nil {
				t.Fatal(err)
			}
		}
	}
	var ids []string
	token := ""
	for {
		resp, err := e.uc.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: 4, StartingToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range resp.GetEntries() {
			ids = append(ids, en.GetVolume().GetVolumeId())
		}
		if token = resp.GetNextToken(); token == "" {
			break
		}
	}
	if len(ids) != 6 {
		t.Errorf("listed %d volumes, want 6: %v", len(ids), ids)
	}
	for _, tc := range []struct {
		name      string
		req       *csi.GetCapacityRequest
		available int64
		maximum   int64
	}{
		{name: "all", req: &csi.GetCapacityRequest{}, available: 144 << 30, maximum: 97 << 30},
		{name: "segment b", req: &csi.GetCapacityRequest{AccessibleTopology: &csi.Topology{Segments: map[string]string{rack: "b"}}}, available: 47 << 30, maximum: 47 << 30},
		{name: "pinned a", req: &csi.GetCapacityRequest{Parameters: map[string]string{ParamRDS: "a"}}, available: 97 << 30, maximum: 97 << 30},
		{name: "no unit there", req: &csi.GetCapacityRequest{AccessibleTopology: &csi.Topology{Segments: map[string]string{rack: "c"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.uc.GetCapacity(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetAvailableCapacity() != tc.available || resp.GetMaximumVolumeSize().GetValue() != tc.maximum {
				t.Errorf("available %d max %d, want %d %d", resp.GetAvailableCapacity(), resp.GetMaximumVolumeSize().GetValue(), tc.available, tc.maximum)
			}
		})
	}
}
