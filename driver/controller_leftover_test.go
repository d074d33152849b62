package driver

import (
	"context"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/rdsfake"
)

// TestLeftoverBackingFile: a create whose target file exists without its
// disk (an earlier attempt's command still running on the RDS, or its dead
// remains) answers Aborted and keeps the file while a command may still
// write it, by the RDS's own times; removes only that file once it is dead
// (created before the RDS's last start, or longer ago than the copy
// timeout); and the retry then creates it. The decision needs no memory of
// this process: a restarted controller decides alike.
func TestLeftoverBackingFile(t *testing.T) {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	kinds := []struct {
		name string
		// target names the request's disk and file; create sends it.
		target func(h *harness) (id, filePath string)
		create func(h *harness) error
	}{
		{
			name: "volume",
			target: func(h *harness) (string, string) {
				id := volumeIDForName("v")
				return id, rds.FilePathFor(rds.DefaultVolumePath, id)
			},
			create: func(h *harness) error {
				_, err := h.cs.CreateVolume(context.Background(), createReq("v", gib))
				return err
			},
		},
		{
			name: "snapshot",
			target: func(h *harness) (string, string) {
				id, _ := snapshotIDFor("s", volumeIDForName("src"))
				return id, rds.FilePathFor(rds.DefaultVolumePath, id)
			},
			create: func(h *harness) error {
				_, err := h.cs.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: volumeIDForName("src")})
				return err
			},
		},
		{
			name: "contentSourceRecord",
			target: func(h *harness) (string, string) {
				key := sourceKey(volumeSource(volumeIDForName("src")))
				id := sourceRecordID(volumeIDForName("clone"), key)
				return id, rds.FilePathFor(rds.DefaultVolumePath, id)
			},
			create: func(h *harness) error {
				req := createReq("clone", gib)
				req.VolumeContentSource = volumeSource(volumeIDForName("src"))
				_, err := h.cs.CreateVolume(context.Background(), req)
				return err
			},
		},
	}
	deaths := []struct {
		name string
		// kill makes the leftover dead: reboot, or time past the copy timeout.
		kill func(h *harness, now *time.Time)
	}{
		{name: "rdsRestarted", kill: func(h *harness, now *time.Time) {
			*now = now.Add(time.Minute)
			h.fake.Reboot()
		}},
		{name: "olderThanCopyTimeout", kill: func(h *harness, now *time.Time) {
			*now = start.Add(rds.DefaultCopyTimeout + time.Second)
		}},
	}
	for _, k := range kinds {
		for _, d := range deaths {
			t.Run(k.name+"/"+d.name, func(t *testing.T) {
				h := newHarness(t)
				now := start
				h.fake.Now = func() time.Time { return now }
				h.mustCreate(t, "src", gib)
				id, file := k.target(h)
				h.fake.AddFile(file, 0) // created at start
				unrelated := rds.FilePathFor(rds.DefaultVolumePath, "pvc-unrelated")
				h.fake.AddFile(unrelated, 0)

				for _, after := range []time.Duration{0, time.Minute, rds.DefaultCopyTimeout} {
					now = start.Add(after)
					wantCode(t, k.create(h), codes.Aborted)
					if !hasFile(h, file) {
						t.Fatalf("the file was removed %s after its creation, while a command may still write it", after)
					}
					// A restarted controller has no memory to lose.
					h.restartController(t)
				}
				d.kill(h, &now)
				wantCode(t, k.create(h), codes.Aborted)
				if hasFile(h, file) {
					t.Fatal("the dead command's file is still there")
				}
				if !hasFile(h, unrelated) {
					t.Fatal("an unrelated file was removed")
				}
				if err := k.create(h); err != nil {
					t.Fatalf("retry after the removal: %v", err)
				}
				if _, ok := h.fake.Volume(id); !ok {
					t.Fatalf("disk %s not created", id)
				}
			})
		}
	}
}

// TestLeftoverBackingFileNeverTaken: a file at the request's path that
// another disk uses, or whose age the RDS does not tell, is left to an
// operator (FailedPrecondition) however old it is and whether or not the
// RDS restarted.
func TestLeftoverBackingFileNeverTaken(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(h *harness, file string)
	}{
		{name: "usedByAnotherDisk", setup: func(h *harness, file string) {
			h.fake.AddVolume(rds.Volume{ID: "other", FilePath: file, SizeBytes: gib})
		}},
		{name: "noCreationTime", setup: func(h *harness, file string) {
			h.fake.AddFile(file, 0)
			h.fake.SetFileCreated(file, time.Time{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
			h.fake.Now = func() time.Time { return now }
			file := rds.FilePathFor(rds.DefaultVolumePath, volumeIDForName("v"))
			tc.setup(h, file)
			now = now.Add(rds.DefaultCopyTimeout + time.Hour)
			h.fake.Reboot()
			_, err := h.cs.CreateVolume(context.Background(), createReq("v", gib))
			wantCode(t, err, codes.FailedPrecondition)
			if !hasFile(h, file) {
				t.Fatal("the file was removed")
			}
		})
	}
}

// TestRecordRaceWithEarlierAdd: the content-source record's add answers
// "already exists" because an earlier attempt's add (its caller gave up)
// finished between our lookup and our add: the record is there, the create
// goes on and succeeds.
func TestRecordRaceWithEarlierAdd(t *testing.T) {
	h := newHarness(t)
	src := h.mustCreate(t, "src", gib).GetVolumeId()
	req := createReq("clone", gib)
	req.VolumeContentSource = volumeSource(src)
	record := sourceRecordID(volumeIDForName("clone"), sourceKey(req.VolumeContentSource))
	h.fake.SetHook(rdsfake.MethodCreateVolume, func(ctx context.Context) error {
		if rdsfake.CallID(ctx) == record {
			h.fake.SetHook(rdsfake.MethodCreateVolume, nil)
			h.fake.AddVolume(rds.Volume{ID: record, FilePath: rds.FilePathFor(rds.DefaultVolumePath, record), SizeBytes: sourceRecordBytes})
		}
		return nil
	})
	if _, err := h.cs.CreateVolume(context.Background(), req); err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
}

// restartController replaces the controller by a new one on the same RDS,
// as a driver restart does.
func (h *harness) restartController(t *testing.T) {
	t.Helper()
	h.cs.WaitCopies()
	cs, err := NewControllerServer(h.cs.cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.cs = cs
}
