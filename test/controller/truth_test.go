package controller

import (
	"context"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/test/inproc"
)

// Issue 11, acceptance points 3, 4 and 6 against the emulator over real
// SSH (the unit tests in driver/ cover the same rules with the fake).

const customPath = "/storage-pool/custom-vols"

// emulatorFiles lists every regular file the emulator holds, by asking it
// over SSH as an operator would.
func emulatorFiles(t *testing.T, run func(string) string) []string {
	t.Helper()
	out := run("/file print detail where name~\"^storage-pool/\"")
	var files []string
	for _, rec := range strings.Split(strings.ReplaceAll(out, "\r\n               ", ""), "\r\n\r\n") {
		if !strings.Contains(rec, "name=") || strings.Contains(rec, "type=directory") {
			continue
		}
		name := rec[strings.Index(rec, "name=")+len("name="):]
		if i := strings.IndexAny(name, " \r\n"); i >= 0 {
			name = name[:i]
		}
		files = append(files, "/"+strings.Trim(name, `"`))
	}
	return files
}

// Point 3: a StorageClass volumePath, and the answer to "/disk remove" is
// lost (the emulator runs the command, then cuts every connection). The
// retry finds no disk, finds the backing file where this driver put it and
// removes it: no file is left.
func TestDeleteVolumeRetryAfterLostAnswerRemovesCustomPathFile(t *testing.T) {
	env, d := setup(t, inproc.WithConfig(fastReconnect))
	run := func(cmd string) string { out, _ := env.Run(t, cmd); return out }
	req := createReq("lost-answer", gib)
	req.Parameters = map[string]string{"volumePath": customPath}
	resp, err := d.Controller.CreateVolume(rpcCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetVolume().GetVolumeId()
	if got := path.Dir(resp.GetVolume().GetVolumeContext()["volumePath"]); got != customPath {
		t.Fatalf("backing file in %s, want %s", got, customPath)
	}

	if err := env.Server.DropAnswerOnce("/disk remove"); err != nil {
		t.Fatal(err)
	}
	_, err = d.Controller.DeleteVolume(rpcCtx(t), &csi.DeleteVolumeRequest{VolumeId: id})
	if code := status.Code(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
		t.Fatalf("DeleteVolume with its answer lost: %v (want a retryable code)", err)
	}
	t.Logf("first DeleteVolume: %v", err)
	if out := run("/disk print detail where slot=" + id); strings.Contains(out, id) {
		t.Fatalf("the emulator did not run the remove whose answer it dropped:\n%s", out)
	}
	left := emulatorFiles(t, run)
	t.Logf("after the lost answer: disk gone, files %v", left)
	if len(left) != 1 || path.Dir(left[0]) != customPath {
		t.Fatalf("files %v, want the volume's backing file in %s (the situation to recover from)", left, customPath)
	}

	// The sidecar retries until the driver is connected again.
	d.WaitReady(t, true, 10*time.Second)
	start := time.Now()
	if _, err := d.Controller.DeleteVolume(rpcCtx(t), &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
		t.Fatalf("retried DeleteVolume: %v", err)
	}
	if left := emulatorFiles(t, run); len(left) != 0 {
		t.Fatalf("files left after the retry: %v", left)
	}
	t.Logf("retry removed the leftover in %s; 0 files left", time.Since(start).Round(time.Millisecond))
}

// Point 4: the same name with another snapshot source is AlreadyExists;
// the same request is the same volume.
func TestCreateVolumeRetryWithAnotherSourceOverSSH(t *testing.T) {
	env, d := setup(t)
	src := mustCreate(t, d, createReq("origin", gib))
	var snaps []string
	for _, n := range []string{"snap-a", "snap-b"} {
		s, err := d.Controller.CreateSnapshot(rpcCtx(t), &csi.CreateSnapshotRequest{Name: n, SourceVolumeId: src.GetVolumeId()})
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, s.GetSnapshot().GetSnapshotId())
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
			defer cancel()
			_, _ = d.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: s.GetSnapshot().GetSnapshotId()})
		})
	}
	restore := func(snap string) *csi.CreateVolumeRequest {
		r := createReq("restored", gib)
		r.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap}}}
		return r
	}
	first := mustCreate(t, d, restore(snaps[0]))
	again, err := d.Controller.CreateVolume(rpcCtx(t), restore(snaps[0]))
	if err != nil {
		t.Fatalf("same request again: %v", err)
	}
	if again.GetVolume().GetVolumeId() != first.GetVolumeId() || again.GetVolume().GetContentSource().GetSnapshot().GetSnapshotId() != snaps[0] {
		t.Errorf("same request: %v, want volume %s from %s", again.GetVolume(), first.GetVolumeId(), snaps[0])
	}
	_, err = d.Controller.CreateVolume(rpcCtx(t), restore(snaps[1]))
	wantCode(t, err, codes.AlreadyExists, "same name from another snapshot")
	t.Logf("another snapshot: %v", err)
	_, err = d.Controller.CreateVolume(rpcCtx(t), createReq("restored", gib))
	wantCode(t, err, codes.AlreadyExists, "same name without a source")
	// The record is an unexported 1 MiB disk next to the volume.
	out, _ := env.Run(t, "/disk print detail where slot~\"vsrc-"+first.GetVolumeId()+"\"")
	if !strings.Contains(out, "nvme-tcp-export=no") {
		t.Errorf("content-source record:\n%s", out)
	}
}

// Point 6: a volume's disk removed behind the driver's back (as an operator
// would on the RDS) makes the volume report abnormal with a message.
func TestVolumeHealthAfterDiskRemovedBehindTheDriversBack(t *testing.T) {
	env, d := setup(t)
	vol := mustCreate(t, d, createReq("victim", gib))
	id := vol.GetVolumeId()
	health := func() *csi.VolumeHealth {
		t.Helper()
		resp, err := d.Controller.ControllerGetVolumeHealth(rpcCtx(t), &csi.ControllerGetVolumeHealthRequest{VolumeId: id})
		if err != nil {
			t.Fatalf("ControllerGetVolumeHealth: %v", err)
		}
		return resp.GetVolumeHealth()
	}
	if h := health(); len(h.GetHealthStatuses()) != 0 {
		t.Fatalf("healthy volume reported %v", h.GetHealthStatuses())
	}
	if out, code := env.Run(t, "/disk set [find slot="+id+"] nvme-tcp-export=no"); code != 0 {
		t.Fatalf("export off: %d %q", code, out)
	}
	h := health()
	if len(h.GetHealthStatuses()) != 1 || h.GetHealthStatuses()[0].GetReason() != "ExportDisabled" {
		t.Fatalf("export off: %v", h.GetHealthStatuses())
	}
	if out, code := env.Run(t, "/disk remove [find slot="+id+"]"); code != 0 {
		t.Fatalf("disk remove: %d %q", code, out)
	}
	h = health()
	st := h.GetHealthStatuses()
	if len(st) != 1 || st[0].GetStatus() != csi.VolumeHealthErrorType_INACCESSIBLE || st[0].GetReason() != "DiskMissing" ||
		!strings.Contains(st[0].GetMessage(), id) {
		t.Fatalf("disk removed: %v, want INACCESSIBLE DiskMissing naming %s", st, id)
	}
	t.Logf("ControllerGetVolumeHealth: %s %s: %s", st[0].GetStatus(), st[0].GetReason(), st[0].GetMessage())
	// ControllerGetVolume (no condition field in CSI v1.13) says NotFound.
	_, err := d.Controller.ControllerGetVolume(rpcCtx(t), &csi.ControllerGetVolumeRequest{VolumeId: id})
	wantCode(t, err, codes.NotFound, "ControllerGetVolume of the removed disk")
	t.Logf("ControllerGetVolume: %v", err)
}
