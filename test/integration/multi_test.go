//go:build linux

package integration

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/google/uuid"

	"github.com/srvlab/rds-csi/test/procs"
)

// Several RDS units (issue 13), with the binaries as processes: two rds-sim
// (A, 100 GiB, and B, 60 GiB) and rds-csi. A is first used alone through the
// single-RDS flags, then as unit "default" of a two-unit --rds-config next
// to unit "b". Acceptance points 1, 2, 4 and 5 of the issue; point 3 (the
// real provisioner with capacity) is in test/e2e.

const (
	gib        = int64(1) << 30
	volumeSize = 4 * gib
)

func mountCapability() *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

func pvName() string { return "pvc-" + uuid.NewString() }

func createVolume(ctx context.Context, d *driver, name string, size int64, params map[string]string, src *csi.VolumeContentSource) (*csi.Volume, error) {
	resp, err := d.controller.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{mountCapability()}, Parameters: params, VolumeContentSource: src,
	})
	return resp.GetVolume(), err
}

// backingFile is where an emulator keeps the disk slot's file.
func backingFile(e *emulator, slot string) string {
	return filepath.Join(e.dataDir(), "storage-pool", "metal-csi", slot+".img")
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

func slotOf(id string) string {
	if _, slot, ok := strings.Cut(id, ":"); ok {
		return slot
	}
	return id
}

// writeRDSConfig writes the two-unit configuration.
func writeRDSConfig(t *testing.T, path string, keys procs.SSHKeys, a, b *emulator) {
	t.Helper()
	unit := func(name string, e *emulator) string {
		return fmt.Sprintf("- name: %s\n  address: %s\n  privateKey: %s\n  hostKey: %s\n", name, e.addr, keys.ClientKey, e.hostKeyFile(t))
	}
	if err := os.WriteFile(path, []byte("units:\n"+unit("default", a)+unit("b", b)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestSeveralRDSUnits(t *testing.T) {
	dir := procs.ShortTempDir(t)
	keys := procs.NewSSHKeys(t, dir)
	var emus []*emulator
	for _, u := range []struct{ name, capacity string }{{"a", "100G"}, {"b", "60G"}} {
		d := filepath.Join(dir, u.name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		e := newEmulator(d, procs.FreeAddr(t), keys)
		e.args = []string{"--capacity=" + u.capacity}
		if l := os.Getenv("RDS_CSI_MULTI_LATENCY"); l != "" {
			e.args = append(e.args, "--latency="+l) // e.g. realistic: hardware-like create times
		}
		e.start(t)
		emus = append(emus, e)
	}
	a, b := emus[0], emus[1]
	outer := t // owns processes that outlive a subtest
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The single-RDS configuration makes a volume and a snapshot on A.
	single := filepath.Join(dir, "single")
	if err := os.MkdirAll(single, 0o755); err != nil {
		t.Fatal(err)
	}
	d1 := startDriver(t, single, a.addr, keys, a.hostKeyFile(t))
	d1.waitReady(t)
	legacy, err := createVolume(ctx, d1, pvName(), gib, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	legacySnap, err := d1.controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snapshot-" + uuid.NewString(), SourceVolumeId: legacy.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	d1.proc.Stop()
	t.Logf("single-RDS volume %s, snapshot %s", legacy.GetVolumeId(), legacySnap.GetSnapshot().GetSnapshotId())

	// The same A as unit "default" (legacy: bare ids), next to unit b.
	multi := filepath.Join(dir, "multi")
	if err := os.MkdirAll(multi, 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(multi, "rds.yaml")
	writeRDSConfig(t, config, keys, a, b)
	d := startDriverWith(t, multi, a.addr, "--rds-config="+config,
		"--reconnect-base=100ms", "--reconnect-max=1s", "--rds-health-interval=200ms", "--rds-health-timeout=1s")
	d.waitReady(t)
	waitUnits := func(want map[string]float64) {
		t.Helper()
		ok := func() bool {
			for unit, v := range want {
				e := a
				if unit == "b" {
					e = b
				}
				if got, _ := d.metrics(t).get(mConnectionState, "address", e.addr, "rds", unit); got != v {
					return false
				}
			}
			return true
		}
		if _, done := pollUntil(time.Now(), 20*time.Second, ok); !done {
			t.Fatalf("connection states never became %v", want)
		}
	}
	waitUnits(map[string]float64{"default": 1, "b": 1})

	t.Run("pinned to b", func(t *testing.T) {
		v, err := createVolume(ctx, d, pvName(), gib, map[string]string{"rds": "b"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		slot := slotOf(v.GetVolumeId())
		if !strings.HasPrefix(v.GetVolumeId(), "b:") || !exists(backingFile(b, slot)) || exists(backingFile(a, slot)) {
			t.Fatalf("volume %s: on b %v, on a %v; want on b only", v.GetVolumeId(), exists(backingFile(b, slot)), exists(backingFile(a, slot)))
		}
	})

	t.Run("20 volumes spread by free space", func(t *testing.T) {
		count := map[string]int{}
		for range 20 {
			name := pvName()
			v, err := createVolume(ctx, d, name, volumeSize, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			again, err := createVolume(ctx, d, name, volumeSize, nil, nil)
			if err != nil || again.GetVolumeId() != v.GetVolumeId() {
				t.Fatalf("retry of %s: %s, %v; first %s", name, again.GetVolumeId(), err, v.GetVolumeId())
			}
			unit, on := "default", a
			if strings.HasPrefix(v.GetVolumeId(), "b:") {
				unit, on = "b", b
			}
			if !exists(backingFile(on, slotOf(v.GetVolumeId()))) {
				t.Errorf("%s: no backing file on %s", v.GetVolumeId(), unit)
			}
			count[unit]++
		}
		free := map[string]int64{}
		for _, unit := range []string{"default", "b"} {
			c, err := d.controller.GetCapacity(ctx, &csi.GetCapacityRequest{Parameters: map[string]string{"rds": unit}})
			if err != nil {
				t.Fatal(err)
			}
			free[unit] = c.GetAvailableCapacity()
		}
		t.Logf("placement: %v; free after: default %d GiB, b %d GiB", count, free["default"]/gib, free["b"]/gib)
		if count["default"] <= count["b"] || count["b"] == 0 {
			t.Errorf("placement %v: want more on the larger unit, some on both", count)
		}
		if diff := free["default"] - free["b"]; diff > volumeSize+gib || diff < -(volumeSize+gib) {
			t.Errorf("free space differs by %d GiB after placement by free space", diff/gib)
		}
	})

	t.Run("restore across units refused", func(t *testing.T) {
		src := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: legacySnap.GetSnapshot().GetSnapshotId()}}}
		_, err := createVolume(ctx, d, pvName(), gib, map[string]string{"rds": "b"}, src)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "unit default") || !strings.Contains(err.Error(), "unit b") {
			t.Fatalf("got %v, want InvalidArgument naming units default and b", err)
		}
		t.Logf("refused: %v", status.Convert(err).Message())
	})

	t.Run("outage of A", func(t *testing.T) {
		pinnedB := map[string]string{"rds": "b"}
		measure := func(n int) []time.Duration {
			var took []time.Duration
			for range n {
				start := time.Now()
				if _, err := createVolume(ctx, d, pvName(), gib, pinnedB, nil); err != nil {
					t.Fatalf("create on b: %v", err)
				}
				took = append(took, time.Since(start))
			}
			return took
		}
		before := measure(10)
		a.kill9(t)
		waitUnits(map[string]float64{"default": 0})
		ready, err := procs.Probe(d.identity)
		if err != nil || !ready {
			t.Errorf("Probe with b connected: ready=%v err=%v, want ready", ready, err)
		}
		during := measure(10)
		t.Logf("create on b: median %v before, %v while A is down (all: %v / %v)", median(before), median(during), before, during)
		if median(during) > 3*median(before)+100*time.Millisecond {
			t.Errorf("creates on b slowed down by A's outage")
		}
		// Unpinned, a name this controller never placed: A might hold
		// its disk (an earlier attempt whose answer was lost before a
		// restart), so it is not placed on b while A is away.
		unpinned := pvName()
		v, err := createVolume(ctx, d, unpinned, gib, nil, nil)
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "cannot rule out that RDS unit default") {
			t.Errorf("unpinned create of a new name while A is down: %s, %v; want Unavailable naming default", v.GetVolumeId(), err)
		} else {
			t.Logf("unpinned create refused: %v", status.Convert(err).Message())
		}
		for _, e := range []*emulator{a, b} {
			if f := backingFile(e, unpinned); exists(f) {
				t.Errorf("the refused create left a backing file %s", f)
			}
		}
		_, err = d.controller.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: legacy.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib}})
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "default") {
			t.Errorf("expand of A's volume while A is down: %v, want Unavailable naming default", err)
		}
		resp, err := d.http.Get("http://" + d.metricsAddr + "/readyz?verbose")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "[-]rds default") || !strings.Contains(string(body), "[+]rds b") {
			t.Errorf("/readyz?verbose: %d %q", resp.StatusCode, body)
		}
		log, _ := os.ReadFile(d.proc.LogPath)
		if !strings.Contains(string(log), `reason="RDSDisconnected" action="RDSConnection/default" note="RDS default (`+a.addr) {
			t.Errorf("no RDSDisconnected event naming unit default in the log")
		}
		a.start(outer)
		waitUnits(map[string]float64{"default": 1})
		// A is back: the provisioner's retry of that name is placed, once.
		v, err = createVolume(ctx, d, unpinned, gib, nil, nil)
		if err != nil {
			t.Fatalf("unpinned create once A is back: %v", err)
		}
		n := 0
		for _, e := range []*emulator{a, b} {
			if exists(backingFile(e, unpinned)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s (%s) has a backing file on %d units, want 1", unpinned, v.GetVolumeId(), n)
		}
	})

	t.Run("single-RDS volume still usable", func(t *testing.T) {
		id := legacy.GetVolumeId()
		if _, err := d.controller.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib}}); err != nil {
			t.Fatalf("expand: %v", err)
		}
		pub, err := d.controller.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: "node-1", VolumeCapability: mountCapability(), VolumeContext: legacy.GetVolumeContext()})
		if err != nil || pub.GetPublishContext()["nqn"] != "nqn.2000-02.com.mikrotik:"+id {
			t.Fatalf("publish: %v %v", pub.GetPublishContext(), err)
		}
		if _, err := d.controller.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: "node-1"}); err != nil {
			t.Fatalf("unpublish: %v", err)
		}
		snap, err := d.controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snapshot-" + uuid.NewString(), SourceVolumeId: id})
		if err != nil || strings.Contains(snap.GetSnapshot().GetSnapshotId(), ":") {
			t.Fatalf("snapshot: %v %v (want a bare id on the legacy unit)", snap.GetSnapshot(), err)
		}
		src := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: legacySnap.GetSnapshot().GetSnapshotId()}}}
		restored, err := createVolume(ctx, d, pvName(), gib, nil, src)
		if err != nil || strings.Contains(restored.GetVolumeId(), ":") {
			t.Fatalf("restore of the single-RDS snapshot: %v %v", restored.GetVolumeId(), err)
		}
		for _, s := range []string{snap.GetSnapshot().GetSnapshotId(), legacySnap.GetSnapshot().GetSnapshotId()} {
			if _, err := d.controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: s}); err != nil {
				t.Fatalf("delete snapshot %s: %v", s, err)
			}
		}
		for _, v := range []string{restored.GetVolumeId(), id} {
			if _, err := d.controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v}); err != nil {
				t.Fatalf("delete %s: %v", v, err)
			}
			if exists(backingFile(a, v)) {
				t.Errorf("%s: backing file left on A", v)
			}
		}
	})
}
