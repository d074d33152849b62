package rds_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// TestNowAndRemoveFileOverSSH: the RDS clock reads back within a second of
// the emulator's (both are this machine's clock), a file's creation-time is
// never after the RDS's Clock read afterwards, and RemoveFile removes a file
// left without its disk, idempotently.
func TestNowAndRemoveFileOverSSH(t *testing.T) {
	env := simtest.Start(t)
	c := connectedClient(t, env, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	before := time.Now().Truncate(time.Second)
	now, err := c.Clock(ctx)
	if err != nil {
		t.Fatalf("Clock: %v", err)
	}
	if now.Location() != time.UTC || now.Before(before) || now.After(time.Now().Add(time.Second)) {
		t.Fatalf("Clock = %s, want UTC within [%s, now]", now, before)
	}

	const id = "pvc-clock-test"
	path := "/storage-pool/custom/" + id + rds.BackingFileSuffix
	if _, err := c.CreateVolume(ctx, rds.CreateVolumeRequest{ID: id, FilePath: path, SizeBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	// Remove the disk only, as an interrupted delete leaves it.
	if out, code := env.Run(t, "/disk remove [find slot="+id+"]"); code != 0 {
		t.Fatalf("disk remove: %d %q", code, out)
	}
	files, err := c.ListFiles(ctx, "/storage-pool")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(files, func(f rds.File) bool { return f.Path == path })
	if i < 0 {
		t.Fatalf("%s not listed: %v", path, files)
	}
	after, err := c.Clock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if files[i].Created.After(after) {
		t.Errorf("file created %s after the RDS's Clock %s", files[i].Created, after)
	}
	for range 2 { // the second call finds nothing: still success
		if err := c.RemoveFile(ctx, path); err != nil {
			t.Fatalf("RemoveFile: %v", err)
		}
	}
	files, err = c.ListFiles(ctx, "/storage-pool/custom")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 0 {
		t.Errorf("files left after RemoveFile: %v", files)
	}
	if err := c.RemoveFile(ctx, "/storage-pool/../etc/passwd"); err == nil {
		t.Error("RemoveFile accepted a path with ..")
	}
}
