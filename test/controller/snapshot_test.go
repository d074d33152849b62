package controller

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/srvlab/rds-csi/driver"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// Where the test writes: the start of the disk and far into it, so a copy
// that only took the first extent, or truncated the file, is caught.
var patternOffsets = []int64{0, 700 * mib}

// pattern is 1 MiB of reproducible noise; seed tells two patterns apart.
func pattern(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, mib)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writePattern writes the pattern at every offset of a backing file, as a
// node would write through the NVMe/TCP device.
func writePattern(t *testing.T, env *simtest.Env, rosPath string, seed uint64) {
	t.Helper()
	f, err := os.OpenFile(hostPath(env, rosPath), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	for _, off := range patternOffsets {
		if _, err := f.WriteAt(pattern(seed+uint64(off)), off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// checkPattern reports whether a backing file holds the pattern of seed at
// every offset, and zeros in between (a copy must not invent data).
func checkPattern(t *testing.T, env *simtest.Env, what, rosPath string, seed uint64) {
	t.Helper()
	f, err := os.Open(hostPath(env, rosPath))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer func() { _ = f.Close() }()
	got := make([]byte, mib)
	for _, off := range patternOffsets {
		if _, err := f.ReadAt(got, off); err != nil {
			t.Fatalf("%s: read at %d: %v", what, off, err)
		}
		if !bytes.Equal(got, pattern(seed+uint64(off))) {
			t.Errorf("%s: the data at offset %d MiB is not the pattern written there", what, off/mib)
		}
	}
	if _, err := f.ReadAt(got, 300*mib); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !bytes.Equal(got, make([]byte, mib)) {
		t.Errorf("%s: data at 300 MiB where nothing was written", what)
	}
}

// TestSnapshotRestoreAndClone writes known data into a volume's backing
// file, snapshots it, overwrites the volume, then restores a volume from the
// snapshot and clones the volume. The restored volume must hold the data of
// the snapshot's moment, the clone the current data: proof that snapshots
// are point-in-time, independent copies and that both content sources copy
// the whole disk, not just its size.
func TestSnapshotRestoreAndClone(t *testing.T) {
	env, d := setup(t)
	const before, after = 1, 2 // pattern seeds

	src := mustCreate(t, d, createReq("snap-source", gib))
	srcPath := src.GetVolumeContext()[driver.CtxFilePath]
	writePattern(t, env, srcPath, before)

	snapResp, err := d.Controller.CreateSnapshot(rpcCtx(t), &csi.CreateSnapshotRequest{Name: "snap-1", SourceVolumeId: src.GetVolumeId()})
	if err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	snap := snapResp.GetSnapshot()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
		defer cancel()
		if _, err := d.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshotId()}); err != nil {
			t.Errorf("cleanup DeleteSnapshot: %v", err)
		}
	})
	if !snap.GetReadyToUse() || snap.GetSourceVolumeId() != src.GetVolumeId() || snap.GetSizeBytes() != src.GetCapacityBytes() {
		t.Errorf("snapshot %v: want ready, source %s, %d bytes", snap, src.GetVolumeId(), src.GetCapacityBytes())
	}
	if size, ok := diskSize(t, env, snap.GetSnapshotId()); !ok || size != snap.GetSizeBytes() {
		t.Errorf("snapshot disk on the emulator: size %d (exists %v), response says %d", size, ok, snap.GetSizeBytes())
	}

	// The source moves on after the snapshot.
	writePattern(t, env, srcPath, after)

	restored := mustCreate(t, d, withSource(createReq("restored", gib), &csi.VolumeContentSource{
		Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshotId()}},
	}))
	clone := mustCreate(t, d, withSource(createReq("clone", gib), &csi.VolumeContentSource{
		Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.GetVolumeId()}},
	}))
	for _, v := range []*csi.Volume{restored, clone} {
		if v.GetContentSource() == nil {
			t.Errorf("volume %s: the response lost its content source", v.GetVolumeId())
		}
		path := v.GetVolumeContext()[driver.CtxFilePath]
		if n := fileSize(t, env, path); n != v.GetCapacityBytes() || n < src.GetCapacityBytes() {
			t.Errorf("volume %s: backing file %d B, capacity_bytes %d, source %d", v.GetVolumeId(), n, v.GetCapacityBytes(), src.GetCapacityBytes())
		}
	}
	checkPattern(t, env, "volume restored from the snapshot", restored.GetVolumeContext()[driver.CtxFilePath], before)
	checkPattern(t, env, "clone of the volume", clone.GetVolumeContext()[driver.CtxFilePath], after)
	checkPattern(t, env, "source volume", srcPath, after)
}

func withSource(r *csi.CreateVolumeRequest, src *csi.VolumeContentSource) *csi.CreateVolumeRequest {
	r.VolumeContentSource = src
	return r
}
