package driver

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/rdsfake"
)

// blockCopies makes every copy-from wait until the returned release is
// called; plain creates pass. The copy runs detached from its RPC, so the
// hook's context is never the caller's.
func blockCopies(t *testing.T, h *harness) (release func()) {
	t.Helper()
	gate := make(chan struct{})
	h.fake.SetHook(rdsfake.MethodCreateVolume, func(ctx context.Context) error {
		// A clone's content-source record is a plain create in the
		// copying RPC: it passes too.
		if ctx.Value(copyMarker{}) == nil || strings.HasPrefix(rdsfake.CallID(ctx), SourceRecordPrefix) {
			return nil
		}
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	var closed bool
	release = func() {
		if !closed {
			closed = true
			close(gate)
		}
	}
	t.Cleanup(func() {
		release()
		h.cs.WaitCopies()
	})
	return release
}

// copyCalls counts the CreateVolume calls that are not content-source records.
func copyCalls(f *rdsfake.Fake) int {
	n := 0
	for _, c := range f.Calls() {
		if c.Method == rdsfake.MethodCreateVolume && !strings.HasPrefix(c.ID, SourceRecordPrefix) {
			n++
		}
	}
	return n
}

// volumeFiles are the fake's files other than content-source records.
func volumeFiles(f *rdsfake.Fake) []string {
	var out []string
	for _, p := range f.Files() {
		if !strings.HasPrefix(path.Base(p), SourceRecordPrefix) {
			out = append(out, p)
		}
	}
	return out
}

// copyMarker tags the contexts of the test's copying RPCs, so the hook
// holds copies only (the fake's hook sees no request).
type copyMarker struct{}

func copyCtx(ctx context.Context) context.Context { return context.WithValue(ctx, copyMarker{}, true) }

func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(copyCtx(context.Background()), 50*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

func TestCopyOutlivesItsCaller(t *testing.T) {
	tests := []struct {
		name string
		// create issues the copying request and returns the id the
		// copy writes.
		create func(ctx context.Context, h *harness, src string) (id string, err error)
	}{
		{name: "snapshot", create: func(ctx context.Context, h *harness, src string) (string, error) {
			resp, err := h.cs.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-1", SourceVolumeId: src})
			return resp.GetSnapshot().GetSnapshotId(), err
		}},
		{name: "clone", create: func(ctx context.Context, h *harness, src string) (string, error) {
			req := createReq("clone-1", gib)
			req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
				Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src}}}
			resp, err := h.cs.CreateVolume(ctx, req)
			return resp.GetVolume().GetVolumeId(), err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			src := h.mustCreate(t, "src", gib).GetVolumeId()
			release := blockCopies(t, h)
			h.fake.ResetCalls()

			_, err := tc.create(shortCtx(t), h, src)
			wantCode(t, err, codes.DeadlineExceeded)
			// Retries while the copy runs: Aborted, no second copy, nothing
			// reported ready.
			for range 3 {
				_, err = tc.create(copyCtx(context.Background()), h, src)
				wantCode(t, err, codes.Aborted)
			}
			if n := copyCalls(h.fake); n != 1 {
				t.Fatalf("%d copies started, want 1", n)
			}
			release()
			h.cs.WaitCopies()
			id, err := tc.create(copyCtx(context.Background()), h, src)
			if err != nil {
				t.Fatal(err)
			}
			if n := copyCalls(h.fake); n != 1 {
				t.Fatalf("%d copies after collecting, want 1", n)
			}
			if _, ok := h.fake.Volume(id); !ok {
				t.Fatalf("answered %s, which is not on the RDS", id)
			}
			if got := len(volumeFiles(h.fake)); got != 2 {
				t.Fatalf("files %v, want the source's and the copy's (besides a clone's content-source record)", h.fake.Files())
			}
		})
	}
}

func TestDeleteWhileCopying(t *testing.T) {
	h := newHarness(t)
	src := h.mustCreate(t, "src", gib).GetVolumeId()
	blockCopies(t, h)
	_, err := h.cs.CreateSnapshot(shortCtx(t), &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: src})
	wantCode(t, err, codes.DeadlineExceeded)
	id, _ := snapshotIDFor("s", src)
	_, err = h.cs.DeleteSnapshot(context.Background(), &csi.DeleteSnapshotRequest{SnapshotId: id})
	wantCode(t, err, codes.Aborted)
}

func hasFile(h *harness, p string) bool {
	for _, f := range h.fake.Files() {
		if f == p {
			return true
		}
	}
	return false
}

// TestSnapshotCreationTimeFromRDS: a snapshot's creation time is the RDS's
// creation-time of its file, the same in every answer; a file the RDS does
// not list is an error, never a made-up time.
func TestSnapshotCreationTimeFromRDS(t *testing.T) {
	h := newHarness(t)
	cut := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	h.fake.Now = func() time.Time { return cut }
	src := h.mustCreate(t, "src", gib).GetVolumeId()
	snap := h.mustSnapshot(t, "s", src)
	if got := snap.GetCreationTime().AsTime(); !got.Equal(cut) {
		t.Fatalf("creation time %s, want the RDS's %s", got, cut)
	}
	h.fake.Now = func() time.Time { return cut.Add(time.Hour) }
	list, err := h.cs.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{SourceVolumeId: src})
	if err != nil || len(list.GetEntries()) != 1 || !list.GetEntries()[0].GetSnapshot().GetCreationTime().AsTime().Equal(cut) {
		t.Fatalf("ListSnapshots %v, %v", list, err)
	}
	h.fake.SetError(rdsfake.MethodListFiles, errors.Join(rds.ErrUnavailable, errors.New("down")))
	_, err = h.cs.GetSnapshot(context.Background(), &csi.GetSnapshotRequest{SnapshotId: snap.GetSnapshotId()})
	wantCode(t, err, codes.Unavailable)
}

// TestDeleteVolumeRemovesOrphanedSourceRecordFile: an earlier delete was
// interrupted after the content-source record's disk went and before its
// file did (found by the chaos suite). The retry finds the record by its
// file and removes it; files of other volumes' records stay.
func TestDeleteVolumeRemovesOrphanedSourceRecordFile(t *testing.T) {
	h := newHarness(t)
	src := h.mustCreate(t, "src", gib).GetVolumeId()
	req := createReq("clone", gib)
	req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
		Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src}}}
	resp, err := h.cs.CreateVolume(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetVolume().GetVolumeId()
	record := sourceRecordID(id, sourceKey(req.GetVolumeContentSource()))
	recordFile := rds.FilePathFor(rds.DefaultVolumePath, record)
	if !hasFile(h, recordFile) {
		t.Fatalf("no record file %s among %v", recordFile, h.fake.Files())
	}
	other := rds.FilePathFor(rds.DefaultVolumePath, sourceRecordID("pvc-other", "volume:pvc-x"))
	h.fake.AddFile(other, mib)
	h.fake.RemoveDisk(record) // the interrupted delete took the disk only

	if _, err := h.cs.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
		t.Fatal(err)
	}
	if hasFile(h, recordFile) {
		t.Fatal("the record's file is left on the RDS")
	}
	if !hasFile(h, other) {
		t.Fatal("another volume's record file was removed")
	}
}

// TestCreateVolumeRaceWithEarlierAdd: the earlier attempt's add finishes
// between the retry's lookup and its own add (found by the chaos suite):
// the retry answers a retryable code, never FailedPrecondition, and the
// next retry gets the volume.
func TestCreateVolumeRaceWithEarlierAdd(t *testing.T) {
	h := newHarness(t)
	req := createReq("raced", gib)
	id := volumeIDForName("raced")
	h.fake.SetHook(rdsfake.MethodCreateVolume, func(context.Context) error {
		h.fake.SetHook(rdsfake.MethodCreateVolume, nil)
		h.fake.AddVolume(rds.Volume{ID: id, FilePath: rds.FilePathFor(rds.DefaultVolumePath, id), SizeBytes: gib, Exported: true})
		return nil
	})
	_, err := h.cs.CreateVolume(context.Background(), req)
	wantCode(t, err, codes.Aborted)
	resp, err := h.cs.CreateVolume(context.Background(), req)
	if err != nil || resp.GetVolume().GetVolumeId() != id {
		t.Fatalf("retry: %v, %v", resp, err)
	}
}
