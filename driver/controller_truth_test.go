package driver

import (
	"context"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/rdsfake"
)

// Issue 11, points 3 and 4 at the unit level (the emulator tests in
// test/controller repeat them over SSH).

const customDir = "/storage-pool/custom"

// TestDeleteVolumeRetryFindsLeftoverFile: the disk is gone (an earlier
// DeleteVolume's "/disk remove" went through, its answer was lost), the
// backing file stays somewhere only the PV or the RDS's file list tells.
func TestDeleteVolumeRetryFindsLeftoverFile(t *testing.T) {
	const id = "pvc-3f2a9c1e-7b4d-4e8f-9a6b-1c2d3e4f5a6b"
	name := id + rds.BackingFileSuffix
	tests := []struct {
		name  string
		files []string // seeded files without a disk
		known []string // what the PV records (BackingFiles)
		gone  []string // removed by DeleteVolume
		kept  []string // never touched
	}{
		{name: "custom path, PV names it", files: []string{customDir + "/" + name}, known: []string{customDir + "/" + name},
			gone: []string{customDir + "/" + name}},
		{name: "custom path, no PV, found by name", files: []string{customDir + "/" + name},
			gone: []string{customDir + "/" + name}},
		{name: "default path", files: []string{rds.DefaultVolumePath + "/" + name}, gone: []string{rds.DefaultVolumePath + "/" + name}},
		{name: "custom pool known only from the PV", files: []string{"/fast-pool/vols/" + name}, known: []string{"/fast-pool/vols/" + name},
			gone: []string{"/fast-pool/vols/" + name}},
		{name: "PV names one, a second of that name stays", files: []string{customDir + "/" + name, "/storage-pool/copy/" + name},
			known: []string{customDir + "/" + name}, gone: []string{customDir + "/" + name}, kept: []string{"/storage-pool/copy/" + name}},
		{name: "two of that name and no PV: ambiguous, none removed", files: []string{customDir + "/" + name, "/storage-pool/copy/" + name},
			kept: []string{customDir + "/" + name, "/storage-pool/copy/" + name}},
		{name: "other names are never touched", files: []string{customDir + "/" + name, customDir + "/" + name + ".bak",
			customDir + "/pvc-00000000-0000-0000-0000-000000000001.img", customDir + "/" + id},
			gone: []string{customDir + "/" + name},
			kept: []string{customDir + "/" + name + ".bak", customDir + "/pvc-00000000-0000-0000-0000-000000000001.img", customDir + "/" + id}},
		{name: "a PV path not named after the volume is ignored", files: []string{customDir + "/data.img"}, known: []string{customDir + "/data.img"},
			kept: []string{customDir + "/data.img"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.SetPool("fast-pool", 1<<40)
			h.cs.cfg.BackingFiles = func(v string) []string {
				if v != id {
					t.Errorf("BackingFiles(%s), want %s", v, id)
				}
				return tc.known
			}
			for _, f := range tc.files {
				h.fake.AddFile(f, gib)
			}
			for range 2 { // and idempotent
				if _, err := h.cs.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
					t.Fatalf("DeleteVolume: %v", err)
				}
			}
			left := h.fake.Files()
			for _, f := range tc.gone {
				if slices.Contains(left, f) {
					t.Errorf("%s left behind", f)
				}
			}
			for _, f := range tc.kept {
				if !slices.Contains(left, f) {
					t.Errorf("%s removed, but it is not provably the volume's", f)
				}
			}
		})
	}
}

// TestDeleteSnapshotRetryFindsLeftoverFile: a snapshot of a volume under a
// custom volumePath lies next to it; without its disk it is found by name.
func TestDeleteSnapshotRetryFindsLeftoverFile(t *testing.T) {
	h := newHarness(t)
	req := createReq("src", gib)
	req.Parameters = map[string]string{ParamVolumePath: customDir}
	src, err := h.cs.CreateVolume(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	snap := h.mustSnapshot(t, "s", src.GetVolume().GetVolumeId())
	disk, _ := h.fake.Volume(snap.GetSnapshotId())
	if path.Dir(disk.FilePath) != customDir {
		t.Fatalf("snapshot file %s, want it in %s", disk.FilePath, customDir)
	}
	h.fake.RemoveDisk(snap.GetSnapshotId())
	if _, err := h.cs.DeleteSnapshot(context.Background(), &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshotId()}); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(h.fake.Files(), disk.FilePath) {
		t.Errorf("snapshot file %s left behind", disk.FilePath)
	}
}

func snapshotSource(id string) *csi.VolumeContentSource {
	return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: id}}}
}

func volumeSource(id string) *csi.VolumeContentSource {
	return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: id}}}
}

// TestCreateVolumeRetryMustMatchOrigin: a retry is answered with the
// existing volume only when it asks for what the volume was made from.
func TestCreateVolumeRetryMustMatchOrigin(t *testing.T) {
	h := newHarness(t)
	base := h.mustCreate(t, "base", gib).GetVolumeId()
	s1 := h.mustSnapshot(t, "s1", base).GetSnapshotId()
	s2 := h.mustSnapshot(t, "s2", base).GetSnapshotId()
	withSource := func(name string, src *csi.VolumeContentSource, params map[string]string) *csi.CreateVolumeRequest {
		r := createReq(name, gib)
		r.VolumeContentSource, r.Parameters = src, params
		return r
	}
	// Existing volumes for the retries below.
	for _, r := range []*csi.CreateVolumeRequest{
		withSource("plain", nil, nil),
		withSource("from-s1", snapshotSource(s1), nil),
		withSource("clone", volumeSource(base), nil),
		withSource("custom", nil, map[string]string{ParamVolumePath: customDir}),
	} {
		if _, err := h.cs.CreateVolume(context.Background(), r); err != nil {
			t.Fatalf("CreateVolume %s: %v", r.GetName(), err)
		}
	}
	tests := []struct {
		name string
		req  *csi.CreateVolumeRequest
		want codes.Code
	}{
		{"plain again", withSource("plain", nil, nil), codes.OK},
		{"plain retried from a snapshot", withSource("plain", snapshotSource(s1), nil), codes.AlreadyExists},
		{"plain retried as a clone", withSource("plain", volumeSource(base), nil), codes.AlreadyExists},
		{"from s1 again", withSource("from-s1", snapshotSource(s1), nil), codes.OK},
		{"from s1 retried from s2", withSource("from-s1", snapshotSource(s2), nil), codes.AlreadyExists},
		{"from s1 retried without a source", withSource("from-s1", nil, nil), codes.AlreadyExists},
		{"from s1 retried as a clone", withSource("from-s1", volumeSource(base), nil), codes.AlreadyExists},
		{"clone again", withSource("clone", volumeSource(base), nil), codes.OK},
		{"clone retried from a snapshot", withSource("clone", snapshotSource(s1), nil), codes.AlreadyExists},
		{"custom path again", withSource("custom", nil, map[string]string{ParamVolumePath: customDir}), codes.OK},
		{"custom path retried at the default path", withSource("custom", nil, nil), codes.AlreadyExists},
		{"default path retried at a custom path", withSource("plain", nil, map[string]string{ParamVolumePath: customDir}), codes.AlreadyExists},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.cs.CreateVolume(context.Background(), tc.req)
			wantCode(t, err, tc.want)
			if tc.want != codes.OK {
				return
			}
			// The answer echoes the source only when it was used.
			if got, want := sourceKey(resp.GetVolume().GetContentSource()), sourceKey(tc.req.GetVolumeContentSource()); got != want {
				t.Errorf("content source %q, want %q", got, want)
			}
		})
	}

	t.Run("volumes made before records count as created empty", func(t *testing.T) {
		legacy := h.seed(volumeIDForName("legacy"))
		if _, err := h.cs.CreateVolume(context.Background(), withSource("legacy", nil, nil)); err != nil {
			t.Fatalf("plain retry of a legacy volume: %v", err)
		}
		_, err := h.cs.CreateVolume(context.Background(), withSource("legacy", snapshotSource(s1), nil))
		wantCode(t, err, codes.AlreadyExists)
		if _, ok := h.fake.Volume(legacy.ID); !ok {
			t.Fatal("legacy volume gone")
		}
	})

	t.Run("an earlier attempt with another source blocks the name", func(t *testing.T) {
		id := volumeIDForName("pending")
		rec := sourceRecordID(id, sourceKey(snapshotSource(s2)))
		h.fake.AddVolume(rds.Volume{ID: rec, FilePath: rds.FilePathFor(rds.DefaultVolumePath, rec), SizeBytes: mib})
		_, err := h.cs.CreateVolume(context.Background(), withSource("pending", snapshotSource(s1), nil))
		wantCode(t, err, codes.AlreadyExists)
		if _, ok := h.fake.Volume(id); ok {
			t.Fatal("the volume was created over an earlier attempt's record")
		}
	})

	t.Run("DeleteVolume removes the records", func(t *testing.T) {
		id := volumeIDForName("from-s1")
		if _, err := h.cs.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
			t.Fatal(err)
		}
		for _, f := range h.fake.Files() {
			if strings.Contains(f, id) {
				t.Errorf("%s left after DeleteVolume", f)
			}
		}
		// The name can be used again, from another source.
		if _, err := h.cs.CreateVolume(context.Background(), withSource("from-s1", snapshotSource(s2), nil)); err != nil {
			t.Fatalf("re-create after delete: %v", err)
		}
	})

	t.Run("a dead record file left without its disk is replaced", func(t *testing.T) {
		id := volumeIDForName("stale-record")
		rec := sourceRecordID(id, sourceKey(snapshotSource(s1)))
		file := rds.FilePathFor(rds.DefaultVolumePath, rec)
		h.fake.AddFile(file, mib)
		// Older than any command may run (controller_leftover_test.go
		// covers the young and the restart cases).
		h.fake.SetFileCreated(file, time.Now().Add(-rds.DefaultCopyTimeout-time.Minute))
		_, err := h.cs.CreateVolume(context.Background(), withSource("stale-record", snapshotSource(s1), nil))
		wantCode(t, err, codes.Aborted) // removed; the retry creates it
		if _, err := h.cs.CreateVolume(context.Background(), withSource("stale-record", snapshotSource(s1), nil)); err != nil {
			t.Fatalf("CreateVolume over a stale record file: %v", err)
		}
		if _, ok := h.fake.Volume(rec); !ok {
			t.Fatal("no record disk")
		}
	})
}

// TestCreateVolumeSourceRecordFailureCreatesNothing: when the record cannot
// be written, no copy starts (a disk without its record would later read as
// "created empty").
func TestCreateVolumeSourceRecordFailureCreatesNothing(t *testing.T) {
	h := newHarness(t)
	base := h.mustCreate(t, "base", gib).GetVolumeId()
	h.fake.SetError(rdsfake.MethodListVolumes, &rds.CommandError{Output: "failure: busy", Kind: rds.ErrUnavailable})
	req := createReq("clone", gib)
	req.VolumeContentSource = volumeSource(base)
	_, err := h.cs.CreateVolume(context.Background(), req)
	wantCode(t, err, codes.Unavailable)
	if _, ok := h.fake.Volume(volumeIDForName("clone")); ok {
		t.Fatal("copied without a record")
	}
}

// TestControllerGetVolumeHealth: abnormal, with a message, for each way the
// RDS can lose a volume behind the driver's back; healthy otherwise.
func TestControllerGetVolumeHealth(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(h *harness, v rds.Volume)
		pv     bool
		want   codes.Code
		status csi.VolumeHealthErrorType
		reason string
	}{
		{name: "healthy", break_: func(*harness, rds.Volume) {}},
		{name: "export off", break_: func(h *harness, v rds.Volume) { _ = h.fake.SetExport(context.Background(), v.ID, false) },
			status: csi.VolumeHealthErrorType_DEGRADED, reason: HealthExportDisabled},
		{name: "disk removed, file left", break_: func(h *harness, v rds.Volume) { h.fake.RemoveDisk(v.ID) },
			status: csi.VolumeHealthErrorType_INACCESSIBLE, reason: HealthDiskMissing},
		{name: "backing file removed", break_: func(h *harness, v rds.Volume) { _ = h.fake.RemoveFile(context.Background(), v.FilePath) },
			status: csi.VolumeHealthErrorType_DATA_LOSS, reason: HealthBackingFileMissing},
		{name: "disk and file removed, PV left", pv: true, break_: func(h *harness, v rds.Volume) {
			_ = h.fake.DeleteVolume(context.Background(), v.ID, v.FilePath)
		}, status: csi.VolumeHealthErrorType_DATA_LOSS, reason: HealthDiskAndFileMissing},
		{name: "disk and file removed, nothing names it", break_: func(h *harness, v rds.Volume) {
			_ = h.fake.DeleteVolume(context.Background(), v.ID, v.FilePath)
		}, want: codes.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.mustCreate(t, "v", gib).GetVolumeId()
			v, _ := h.fake.Volume(id)
			if tc.pv {
				h.cs.cfg.BackingFiles = func(string) []string { return []string{v.FilePath} }
			}
			tc.break_(h, v)
			resp, err := h.cs.ControllerGetVolumeHealth(context.Background(), &csi.ControllerGetVolumeHealthRequest{VolumeId: id})
			wantCode(t, err, tc.want)
			if err != nil {
				return
			}
			got := resp.GetVolumeHealth().GetHealthStatuses()
			if resp.GetVolumeHealth().GetVolumeId() != id {
				t.Errorf("volume id %q", resp.GetVolumeHealth().GetVolumeId())
			}
			if tc.reason == "" {
				if len(got) != 0 {
					t.Fatalf("healthy volume reported %v", got)
				}
				return
			}
			if len(got) != 1 || got[0].GetStatus() != tc.status || got[0].GetReason() != tc.reason || !strings.Contains(got[0].GetMessage(), id) {
				t.Fatalf("health %v, want one %s/%s naming %s", got, tc.status, tc.reason, id)
			}
			t.Logf("%s: %s", got[0].GetReason(), got[0].GetMessage())
		})
	}
	t.Run("validation", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.cs.ControllerGetVolumeHealth(context.Background(), &csi.ControllerGetVolumeHealthRequest{})
		wantCode(t, err, codes.InvalidArgument)
		_, err = h.cs.ControllerGetVolumeHealth(context.Background(), &csi.ControllerGetVolumeHealthRequest{VolumeId: "snap-x"})
		wantCode(t, err, codes.NotFound)
		h.connected.Store(false)
		_, err = h.cs.ControllerGetVolumeHealth(context.Background(), &csi.ControllerGetVolumeHealthRequest{VolumeId: "pvc-x"})
		wantCode(t, err, codes.Unavailable)
	})
}

func TestControllerListVolumeHealth(t *testing.T) {
	h := newHarness(t)
	var ids []string
	for _, n := range []string{"a", "b", "c"} {
		ids = append(ids, h.mustCreate(t, n, gib).GetVolumeId())
	}
	slices.Sort(ids)
	_ = h.fake.SetExport(context.Background(), ids[1], false)
	var got []*csi.VolumeHealth
	token := ""
	for {
		resp, err := h.cs.ControllerListVolumeHealth(context.Background(), &csi.ControllerListVolumeHealthRequest{MaxEntries: 2, StartingToken: token})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, resp.GetEntries()...)
		if token = resp.GetNextToken(); token == "" {
			break
		}
	}
	if len(got) != 3 {
		t.Fatalf("%d entries, want 3", len(got))
	}
	for i, e := range got {
		abnormal := len(e.GetHealthStatuses()) > 0
		if e.GetVolumeId() != ids[i] || abnormal != (i == 1) {
			t.Errorf("entry %d: %s %v", i, e.GetVolumeId(), e.GetHealthStatuses())
		}
	}
}
