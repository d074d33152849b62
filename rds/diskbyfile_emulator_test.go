package rds_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// TestDiskByFileOverSSH: the disk using a file is found by its file-path
// (a long path, which RouterOS wraps inside the value), another file's
// disk is not, and once the disk is gone the file has no user.
func TestDiskByFileOverSSH(t *testing.T) {
	env := simtest.Start(t)
	c := connectedClient(t, env, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	const id = "pvc-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	path := "/storage-pool/a-rather-long-directory-name/for-wrapping/" + id + rds.BackingFileSuffix
	if _, err := c.CreateVolume(ctx, rds.CreateVolumeRequest{ID: id, FilePath: path, SizeBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVolume(ctx, rds.CreateVolumeRequest{ID: "pvc-other", FilePath: "/storage-pool/other.img", SizeBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	v, err := c.DiskByFile(ctx, path)
	if err != nil || v.ID != id || v.FilePath != path {
		t.Fatalf("DiskByFile(%s) = %+v, %v; want disk %s", path, v, err, id)
	}
	if _, err := c.DiskByFile(ctx, "/storage-pool/nothing.img"); !errors.Is(err, rds.ErrNotFound) {
		t.Fatalf("DiskByFile of an unused file: %v, want ErrNotFound", err)
	}
	if out, code := env.Run(t, "/disk remove [find slot="+id+"]"); code != 0 {
		t.Fatalf("disk remove: %d %q", code, out)
	}
	if _, err := c.DiskByFile(ctx, path); !errors.Is(err, rds.ErrNotFound) {
		t.Fatalf("DiskByFile after the disk's removal: %v, want ErrNotFound", err)
	}
	if _, err := c.DiskByFile(ctx, "/storage-pool/x\".img"); !errors.Is(err, rds.ErrInvalidArgument) {
		t.Fatalf("DiskByFile of a hostile path: %v, want ErrInvalidArgument", err)
	}
}
