package driver

import (
	"context"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/rdsfake"
)

func TestCreateVolumeReportsRealRoundedSize(t *testing.T) {
	cases := []struct {
		name     string
		required int64
	}{
		{"1B", 1},
		{"1.5GiB", gib + gib/2},
		{"1.5GiB+1B", gib + gib/2 + 1},
		{"10GiB+1B", 10*gib + 1},
		{"default", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			vol := h.mustCreate(t, "v-"+tc.name, tc.required)
			disk, ok := h.fake.Volume(vol.GetVolumeId())
			if !ok {
				t.Fatal("no disk on the RDS")
			}
			if vol.GetCapacityBytes() != disk.SizeBytes {
				t.Fatalf("capacity_bytes = %d, disk has %d", vol.GetCapacityBytes(), disk.SizeBytes)
			}
			want := rdsfake.RoundUp(tc.required)
			if tc.required == 0 {
				want = DefaultVolumeSize
			}
			if disk.SizeBytes != want || disk.SizeBytes < tc.required {
				t.Fatalf("disk size = %d, want %d (never truncated)", disk.SizeBytes, want)
			}
		})
	}
}

func TestCreateVolumeLayoutAndContext(t *testing.T) {
	h := newHarness(t)
	req := createReq("pvc-0f5e0c8a-1b2c-4d3e-8f90-a1b2c3d4e5f6", gib)
	req.Parameters = map[string]string{
		ParamVolumePath:   "/storage-pool/custom",
		ParamNVMePort:     "4421",
		ParamCtrlLossTmo:  "600",
		ParamKeepAliveTmo: "7",
		paramPVCName:      "data", paramPVCNamespace: "ns", paramPVName: "pvc-0f5e0c8a-1b2c-4d3e-8f90-a1b2c3d4e5f6",
	}
	req.VolumeCapabilities = []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, "xfs")}
	resp, err := h.cs.CreateVolume(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	v := resp.GetVolume()
	id := "pvc-0f5e0c8a-1b2c-4d3e-8f90-a1b2c3d4e5f6"
	if v.GetVolumeId() != id {
		t.Fatalf("provisioner name not used verbatim: %s", v.GetVolumeId())
	}
	disk, _ := h.fake.Volume(id)
	want := rds.Volume{ID: id, FilePath: "/storage-pool/custom/" + id + ".img", SizeBytes: gib, Exported: true,
		NVMeTCPPort: 4421, NQN: "nqn.2000-02.com.mikrotik:" + id}
	if disk != want {
		t.Fatalf("disk = %+v, want %+v", disk, want)
	}
	wantCtx := map[string]string{
		CtxNVMeAddress: testAddress, CtxNVMePort: "4421", CtxNQN: want.NQN, CtxFilePath: want.FilePath,
		CtxFSType: "xfs", CtxCtrlLossTmo: "600", CtxReconnectDelay: "5", CtxKeepAliveTmo: "7", CtxMigrationTimeout: "300",
	}
	for k, w := range wantCtx {
		if got := v.GetVolumeContext()[k]; got != w {
			t.Errorf("context[%s] = %q, want %q", k, got, w)
		}
	}
	if len(v.GetVolumeContext()) != len(wantCtx) {
		t.Errorf("context has extra keys: %v", v.GetVolumeContext())
	}
}

func TestCreateVolumeParameters(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]string
		key    string
		want   string
	}{
		{"legacyRDSAddress", map[string]string{ParamLegacyRDSAddress: "rds.example.com"}, CtxNVMeAddress, "rds.example.com"},
		{"nvmeAddressWinsOverLegacy", map[string]string{ParamLegacyRDSAddress: "10.0.0.9", ParamNVMeAddress: "10.0.0.8"}, CtxNVMeAddress, "10.0.0.8"},
		{"ipv6", map[string]string{ParamNVMeAddress: "fd00::5"}, CtxNVMeAddress, "fd00::5"},
		{"legacyFSType", map[string]string{ParamLegacyFSType: "xfs"}, CtxFSType, "xfs"},
		{"fstypeParam", map[string]string{ParamFSType: "xfs"}, CtxFSType, "xfs"},
		{"defaultFS", nil, CtxFSType, "ext4"},
		{"migrationClampLow", map[string]string{ParamMigrationTimeout: "5"}, CtxMigrationTimeout, "30"},
		{"migrationClampHigh", map[string]string{ParamMigrationTimeout: "99999"}, CtxMigrationTimeout, "3600"},
		{"migrationNegative", map[string]string{ParamMigrationTimeout: "-3"}, CtxMigrationTimeout, "30"},
		{"migrationInRange", map[string]string{ParamMigrationTimeout: "600"}, CtxMigrationTimeout, "600"},
		{"ctrlLossUnlimited", map[string]string{ParamCtrlLossTmo: "-1"}, CtxCtrlLossTmo, "-1"},
		{"sshPortIgnored", map[string]string{ParamLegacySSHPort: "22"}, CtxNVMePort, "4420"},
		{"nqnPrefix", map[string]string{ParamLegacyNQNPrefix: rds.NQNPrefix}, CtxNVMePort, "4420"},
		{"nqnPrefixNoColon", map[string]string{ParamLegacyNQNPrefix: "nqn.2000-02.com.mikrotik"}, CtxNVMePort, "4420"},
		{"sidecarMetadataIgnored", map[string]string{"csi.storage.k8s.io/pvc/name": "x", "csi.storage.k8s.io/whatever": "y"}, CtxNVMePort, "4420"},
		{"poolRootVolumePath", map[string]string{ParamVolumePath: "/storage-pool"}, CtxFilePath, "/storage-pool/" + volumeIDForName("v") + ".img"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			req := createReq("v", gib)
			req.Parameters = tc.params
			resp, err := h.cs.CreateVolume(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.GetVolume().GetVolumeContext()[tc.key]; got != tc.want {
				t.Fatalf("context[%s] = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

func TestCreateVolumeCapabilityFSWinsOverParameter(t *testing.T) {
	h := newHarness(t)
	req := createReq("v", gib)
	req.Parameters = map[string]string{ParamFSType: "ext4"}
	req.VolumeCapabilities = []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, "xfs")}
	resp, err := h.cs.CreateVolume(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if fs := resp.GetVolume().GetVolumeContext()[CtxFSType]; fs != "xfs" {
		t.Fatalf("fsType = %s", fs)
	}
}

func TestCreateVolumeAccessModes(t *testing.T) {
	ok := []*csi.VolumeCapability{
		mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, "ext4"),
		mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY, ""),
		mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER, "xfs"),
		mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER, ""),
		blockCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER),
		blockCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY),
		blockCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER),
		blockCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER),
		blockCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER),
	}
	for _, c := range ok {
		t.Run(c.String(), func(t *testing.T) {
			h := newHarness(t)
			req := createReq("v", gib)
			req.VolumeCapabilities = []*csi.VolumeCapability{c}
			if _, err := h.cs.CreateVolume(context.Background(), req); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("multiNodeMountMessage", func(t *testing.T) {
		h := newHarness(t)
		req := createReq("v", gib)
		req.VolumeCapabilities = []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER, "")}
		_, err := h.cs.CreateVolume(context.Background(), req)
		wantCode(t, err, codes.InvalidArgument)
		if !strings.Contains(err.Error(), "block volumes only") {
			t.Fatalf("unclear message: %v", err)
		}
	})
}

func TestCreateVolumeCapacityRange(t *testing.T) {
	cases := []struct {
		name     string
		cr       *csi.CapacityRange
		code     codes.Code
		wantSize int64
	}{
		{"nil", nil, codes.OK, DefaultVolumeSize},
		{"limitOnlyBelowDefault", &csi.CapacityRange{LimitBytes: 100 * mib}, codes.OK, 100 * mib},
		{"limitOnlyAboveDefault", &csi.CapacityRange{LimitBytes: 5 * gib}, codes.OK, DefaultVolumeSize},
		{"exact", &csi.CapacityRange{RequiredBytes: gib, LimitBytes: gib}, codes.OK, gib},
		{"aboveMax", &csi.CapacityRange{RequiredBytes: DefaultMaxVolumeSize + 1}, codes.OutOfRange, 0},
		{"roundingExceedsLimit", &csi.CapacityRange{RequiredBytes: gib + 1, LimitBytes: gib + 2}, codes.OutOfRange, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			req := createReq("v", 0)
			req.CapacityRange = tc.cr
			resp, err := h.cs.CreateVolume(context.Background(), req)
			wantCode(t, err, tc.code)
			if tc.code != codes.OK {
				if _, exists := h.fake.Volume(volumeIDForName("v")); exists {
					t.Fatal("a refused volume was left on the RDS")
				}
				return
			}
			if got := resp.GetVolume().GetCapacityBytes(); got != tc.wantSize {
				t.Fatalf("capacity = %d, want %d", got, tc.wantSize)
			}
		})
	}
}

func TestCreateVolumeIdempotency(t *testing.T) {
	h := newHarness(t)
	first := h.mustCreate(t, "sanity-volume", 10*gib)
	cases := []struct {
		name string
		cr   *csi.CapacityRange
		code codes.Code
	}{
		{"sameSize", &csi.CapacityRange{RequiredBytes: 10 * gib}, codes.OK},
		{"sameSizeWithLimit", &csi.CapacityRange{RequiredBytes: 10 * gib, LimitBytes: 10 * gib}, codes.OK},
		{"smallerRequired", &csi.CapacityRange{RequiredBytes: gib}, codes.OK},
		{"noRange", nil, codes.OK},
		{"largerRequired", &csi.CapacityRange{RequiredBytes: 20 * gib, LimitBytes: 20 * gib}, codes.AlreadyExists},
		{"limitBelowExisting", &csi.CapacityRange{RequiredBytes: gib, LimitBytes: 5 * gib}, codes.AlreadyExists},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.fake.ResetCalls()
			req := createReq("sanity-volume", 0)
			req.CapacityRange = tc.cr
			resp, err := h.cs.CreateVolume(context.Background(), req)
			wantCode(t, err, tc.code)
			if h.fake.CallCount(rdsfake.MethodCreateVolume) != 0 {
				t.Fatal("a retry created a disk")
			}
			if err == nil && (resp.GetVolume().GetVolumeId() != first.GetVolumeId() || resp.GetVolume().GetCapacityBytes() != first.GetCapacityBytes()) {
				t.Fatalf("retry answered %v, first %v", resp.GetVolume(), first)
			}
		})
	}
}

func TestCreateVolumeNameMapping(t *testing.T) {
	cases := []string{
		"sanity-controller-create-twice-12345",
		strings.Repeat("x", 128),
		"name with spaces; and $metachars\n",
		"PVC-0F5E0C8A-1B2C-4D3E-8F90-A1B2C3D4E5F6",
		"pvc-not-a-uuid",
	}
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			id := volumeIDForName(name)
			if !provisionerName.MatchString(id) || rds.ValidateID(id) != nil {
				t.Fatalf("derived id %q is not pvc-<uuid>", id)
			}
			if volumeIDForName(name) != id {
				t.Fatal("derived id not stable")
			}
			h := newHarness(t)
			if got := h.mustCreate(t, name, gib).GetVolumeId(); got != id {
				t.Fatalf("volume id %s, want %s", got, id)
			}
		})
	}
	if volumeIDForName("a") == volumeIDForName("b") {
		t.Fatal("different names share an id")
	}
}

func TestCreateVolumeErrors(t *testing.T) {
	t.Run("noSpace", func(t *testing.T) {
		h := newHarness(t)
		h.fake.SetPool(rdsfake.DefaultPool, 2*gib)
		_, err := h.cs.CreateVolume(context.Background(), createReq("big", 3*gib))
		wantCode(t, err, codes.ResourceExhausted)
	})
	t.Run("leftoverBackingFile", func(t *testing.T) {
		h := newHarness(t)
		id := volumeIDForName("v")
		h.fake.AddVolume(rds.Volume{ID: "other", FilePath: rds.FilePathFor(rds.DefaultVolumePath, id), SizeBytes: gib})
		// The disk "other" owns the file; the slot id is free.
		_, err := h.cs.CreateVolume(context.Background(), createReq("v", gib))
		wantCode(t, err, codes.FailedPrecondition)
	})
}

func TestCreateVolumeFromSources(t *testing.T) {
	h := newHarness(t)
	src := h.mustCreate(t, "source", 2*gib)
	snap := h.mustSnapshot(t, "snap", src.GetVolumeId())

	snapSource := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
		Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshotId()}}}
	volSource := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
		Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.GetVolumeId()}}}
	cases := []struct {
		name     string
		src      *csi.VolumeContentSource
		required int64
		wantSize int64
	}{
		{"restoreSmallerRequest", snapSource, gib, 2 * gib},
		{"restoreLargerRequest", snapSource, 3 * gib, 3 * gib},
		{"cloneSmallerRequest", volSource, gib, 2 * gib},
		{"cloneLargerRequest", volSource, 4*gib + 1, 4*gib + mib},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := createReq("from-"+tc.name, tc.required)
			req.VolumeContentSource = tc.src
			resp, err := h.cs.CreateVolume(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			v := resp.GetVolume()
			if v.GetCapacityBytes() != tc.wantSize {
				t.Fatalf("capacity %d, want %d", v.GetCapacityBytes(), tc.wantSize)
			}
			if v.GetContentSource().String() != tc.src.String() {
				t.Fatalf("content_source %v, want %v", v.GetContentSource(), tc.src)
			}
			disk, _ := h.fake.Volume(v.GetVolumeId())
			if !disk.Exported || disk.NQN != rds.NQNFor(v.GetVolumeId()) {
				t.Fatalf("restored disk not exported: %+v", disk)
			}
		})
	}
	notFound := []struct {
		name string
		src  *csi.VolumeContentSource
	}{
		{"snapshotMissing", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: "snap-0000000000000000-00000000-pvc-gone"}}}},
		{"snapshotNotOurs", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: "non-existing-snapshot-id"}}}},
		{"volumeMissing", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: "pvc-gone"}}}},
		{"volumeNotOurs", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: "fake-vol-id-1234"}}}},
		{"volumeIsASnapshot", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: snap.GetSnapshotId()}}}},
	}
	for _, tc := range notFound {
		t.Run(tc.name, func(t *testing.T) {
			req := createReq("nf-"+tc.name, gib)
			req.VolumeContentSource = tc.src
			_, err := h.cs.CreateVolume(context.Background(), req)
			wantCode(t, err, codes.NotFound)
		})
	}
	t.Run("sourceExceedsLimit", func(t *testing.T) {
		req := createReq("too-small", gib)
		req.CapacityRange.LimitBytes = gib
		req.VolumeContentSource = volSource
		_, err := h.cs.CreateVolume(context.Background(), req)
		wantCode(t, err, codes.OutOfRange)
	})
}

func TestDeleteVolume(t *testing.T) {
	t.Run("removesDiskAndFile", func(t *testing.T) {
		h := newHarness(t)
		req := createReq("v", gib)
		req.Parameters = map[string]string{ParamVolumePath: "/storage-pool/custom"}
		resp, err := h.cs.CreateVolume(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		id := resp.GetVolume().GetVolumeId()
		for range 3 { // idempotent
			if _, err := h.cs.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
				t.Fatal(err)
			}
		}
		if _, ok := h.fake.Volume(id); ok {
			t.Fatal("disk still there")
		}
		if files := h.fake.Files(); len(files) != 0 {
			t.Fatalf("files left: %v", files)
		}
	})
	t.Run("diskGoneFileLeftAtDefaultPath", func(t *testing.T) {
		h := newHarness(t)
		id := h.mustCreate(t, "v", gib).GetVolumeId()
		disk, _ := h.fake.Volume(id)
		// Simulate a partial delete: the disk went, the file stayed.
		if err := h.fake.DeleteVolume(context.Background(), id, rds.FilePathFor("/storage-pool/elsewhere", id)); err != nil {
			t.Fatal(err)
		}
		if _, err := h.cs.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
			t.Fatal(err)
		}
		for _, f := range h.fake.Files() {
			if f == disk.FilePath {
				t.Fatal("leftover file not removed")
			}
		}
	})
	t.Run("notOurIDIsSuccessWithoutRDS", func(t *testing.T) {
		h := newHarness(t)
		snapLike := h.seed("snap-0000000000000000-00000000-pvc-x")
		for _, id := range []string{"fake-vol-id", snapLike.ID} {
			if _, err := h.cs.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
				t.Fatal(err)
			}
		}
		if h.fake.CallCount("") != 0 {
			t.Fatalf("RDS calls: %v", h.fake.Calls())
		}
		if _, ok := h.fake.Volume(snapLike.ID); !ok {
			t.Fatal("DeleteVolume removed a snapshot")
		}
	})
	t.Run("stillPublished", func(t *testing.T) {
		h := newHarness(t)
		id := h.mustCreate(t, "v", gib).GetVolumeId()
		if _, err := h.cs.ControllerPublishVolume(context.Background(), &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: "node-a", VolumeCapability: snw}); err != nil {
			t.Fatal(err)
		}
		_, err := h.cs.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id})
		wantCode(t, err, codes.FailedPrecondition)
		if !strings.Contains(err.Error(), "node-a") {
			t.Fatalf("message does not name the node: %v", err)
		}
		if _, ok := h.fake.Volume(id); !ok {
			t.Fatal("published volume deleted")
		}
	})
}

func TestControllerExpandVolume(t *testing.T) {
	cases := []struct {
		name          string
		cr            *csi.CapacityRange
		capability    *csi.VolumeCapability
		wantSize      int64
		wantNodeGrows bool
		code          codes.Code
	}{
		{"grow", &csi.CapacityRange{RequiredBytes: 3 * gib}, snw, 3 * gib, true, codes.OK},
		{"growOdd", &csi.CapacityRange{RequiredBytes: 2*gib + 1}, snw, 2*gib + mib, true, codes.OK},
		{"shrinkIsNoop", &csi.CapacityRange{RequiredBytes: gib / 2}, snw, 2 * gib, true, codes.OK},
		{"same", &csi.CapacityRange{RequiredBytes: 2 * gib}, snw, 2 * gib, true, codes.OK},
		{"block", &csi.CapacityRange{RequiredBytes: 3 * gib}, blockCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER), 3 * gib, false, codes.OK},
		{"noCapability", &csi.CapacityRange{RequiredBytes: 3 * gib}, nil, 3 * gib, true, codes.OK},
		{"limitOnly", &csi.CapacityRange{LimitBytes: 4 * gib}, snw, 4 * gib, true, codes.OK},
		{"aboveMax", &csi.CapacityRange{RequiredBytes: DefaultMaxVolumeSize + 1}, snw, 0, false, codes.OutOfRange},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.mustCreate(t, "v", 2*gib).GetVolumeId()
			req := &csi.ControllerExpandVolumeRequest{VolumeId: id, CapacityRange: tc.cr, VolumeCapability: tc.capability}
			for range 2 { // idempotent
				resp, err := h.cs.ControllerExpandVolume(context.Background(), req)
				wantCode(t, err, tc.code)
				if err != nil {
					return
				}
				disk, _ := h.fake.Volume(id)
				if resp.GetCapacityBytes() != tc.wantSize || disk.SizeBytes != tc.wantSize {
					t.Fatalf("capacity %d, disk %d, want %d", resp.GetCapacityBytes(), disk.SizeBytes, tc.wantSize)
				}
				if resp.GetNodeExpansionRequired() != tc.wantNodeGrows {
					t.Fatalf("node_expansion_required = %v", resp.GetNodeExpansionRequired())
				}
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		h := newHarness(t)
		for _, id := range []string{"pvc-missing", "fake-vol-id"} {
			_, err := h.cs.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: gib}})
			wantCode(t, err, codes.NotFound)
		}
	})
	t.Run("noSpace", func(t *testing.T) {
		h := newHarness(t)
		h.fake.SetPool(rdsfake.DefaultPool, 3*gib)
		id := h.mustCreate(t, "v", 2*gib).GetVolumeId()
		_, err := h.cs.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: 4 * gib}})
		wantCode(t, err, codes.ResourceExhausted)
	})
}

func TestDeleteVolumeRefusesUnconventionalBackingFile(t *testing.T) {
	h := newHarness(t)
	h.fake.AddVolume(rds.Volume{ID: "pvc-test-123", FilePath: "/storage-pool/test.img", SizeBytes: gib})
	_, err := h.cs.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: "pvc-test-123"})
	wantCode(t, err, codes.FailedPrecondition)
	if _, ok := h.fake.Volume("pvc-test-123"); !ok || len(h.fake.Files()) != 1 {
		t.Fatal("disk or file removed")
	}
}

// notReadyAttachments is attachment state that cannot answer yet (the
// cluster-backed tracker before its caches are synced).
type notReadyAttachments struct{ *MemoryAttachments }

func (notReadyAttachments) Ready() error { return ErrAttachmentsNotReady }

// Regression: while the attachment state cannot say where a volume is
// published, "published nowhere" must not be taken from it: DeleteVolume
// would delete an attached volume, and ListVolumes / ControllerGetVolume
// would report it detached. They answer Unavailable (retried) instead.
func TestAttachmentsNotReadyIsUnavailable(t *testing.T) {
	h := newHarness(t)
	id := h.mustCreate(t, "v", gib).GetVolumeId()
	cs, err := NewControllerServer(ControllerConfig{
		RDS:                h.fake,
		Attachments:        notReadyAttachments{NewMemoryAttachments()},
		DefaultNVMeAddress: testAddress,
		Logger:             klogTestLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id})
	wantCode(t, err, codes.Unavailable)
	if _, ok := h.fake.Volume(id); !ok {
		t.Fatal("volume deleted while the attachment state was not ready")
	}
	_, err = cs.ListVolumes(context.Background(), &csi.ListVolumesRequest{})
	wantCode(t, err, codes.Unavailable)
	_, err = cs.ControllerGetVolume(context.Background(), &csi.ControllerGetVolumeRequest{VolumeId: id})
	wantCode(t, err, codes.Unavailable)
}
