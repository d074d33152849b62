package controller

import (
	"regexp"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/srvlab/rds-csi/driver"
)

var volumeIDShape = regexp.MustCompile(`^pvc-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestCreateVolumeSize proves that odd sizes are rounded up, never down (the
// earlier driver turned 1.5 GiB into 1 GiB), that capacity_bytes is what the
// RDS really allocated, read back from the emulator's disk record and its
// backing file, and that a retry by name answers with the same volume.
func TestCreateVolumeSize(t *testing.T) {
	env, d := setup(t)
	for _, tc := range []struct {
		name     string // also the volume name
		required int64
	}{
		{"one-byte", 1},
		{"one-and-a-half-gib", gib + gib/2},
		// A provisioner-style name is used as the id verbatim.
		{"pvc-0b9c1e7e-3d8f-4b43-9a50-1f2e3d4c5b6a", 10*gib + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := mustCreate(t, d, createReq(tc.name, tc.required))
			id, got := v.GetVolumeId(), v.GetCapacityBytes()
			if !volumeIDShape.MatchString(id) {
				t.Errorf("volume id %q is not pvc-<uuid>", id)
			}
			if volumeIDShape.MatchString(tc.name) && id != tc.name {
				t.Errorf("provisioner name %q became id %q, want it verbatim", tc.name, id)
			}

			disk, ok := diskSize(t, env, id)
			if !ok {
				t.Fatalf("the emulator has no disk %s", id)
			}
			filePath := v.GetVolumeContext()[driver.CtxFilePath]
			file := fileSize(t, env, filePath)
			t.Logf("requested %d B → capacity_bytes %d, disk size= %d, backing file %s %d B", tc.required, got, disk, filePath, file)
			if got != disk || file != disk {
				t.Errorf("capacity_bytes %d, disk size= %d, backing file %d: want all equal", got, disk, file)
			}
			if got < tc.required {
				t.Errorf("capacity_bytes %d is below the %d requested", got, tc.required)
			}
			// Rounding goes to the next whole MiB (the smallest unit the
			// driver writes), so never more than 1 MiB is added.
			if got >= tc.required+mib {
				t.Errorf("capacity_bytes %d is 1 MiB or more above the %d requested", got, tc.required)
			}

			again := mustCreate(t, d, createReq(tc.name, tc.required))
			if again.GetVolumeId() != id || again.GetCapacityBytes() != got {
				t.Errorf("retry answered %s/%d, first answer %s/%d", again.GetVolumeId(), again.GetCapacityBytes(), id, got)
			}
			if disk2, _ := diskSize(t, env, id); disk2 != disk {
				t.Errorf("retry changed the disk size from %d to %d", disk, disk2)
			}

			// Same name, a size the existing disk cannot satisfy: not the
			// same volume, so AlreadyExists (CSI), and nothing changes.
			_, err := d.Controller.CreateVolume(rpcCtx(t), createReq(tc.name, got+gib))
			wantCode(t, err, codes.AlreadyExists, "retry with a larger size")

			if _, err := d.Controller.DeleteVolume(rpcCtx(t), &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
				t.Fatalf("DeleteVolume: %v", err)
			}
			if _, ok := diskSize(t, env, id); ok {
				t.Errorf("disk %s still exists after DeleteVolume", id)
			}
			if n := fileSize(t, env, filePath); n != -1 {
				t.Errorf("backing file %s still exists after DeleteVolume (%d B)", filePath, n)
			}
		})
	}
}
