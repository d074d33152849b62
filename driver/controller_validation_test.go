package driver

import (
	"context"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// Hostile or malformed requests: InvalidArgument, and the RDS never hears
// of them.

var hostileIDs = []string{
	"", "pvc-a;b", "pvc-a]", "pvc-[find]", `pvc-a"b`, "pvc-a\nb", "pvc-a b", "pvc-$x", "pvc-../x",
	"pvc-a\\b", "PVC-UPPER", "pvc-a/b", "snap-" + strings.Repeat("a", 200),
}

var hostileNodeIDs = []string{"node;1", "node 1", "node\n", `node"`, "node]", "$node", "-node", "node/1"}

var hostileParams = []map[string]string{
	{ParamVolumePath: "/storage-pool/../etc"},
	{ParamVolumePath: "/storage-pool/a;b"},
	{ParamVolumePath: "/storage-pool/a b"},
	{ParamVolumePath: `/storage-pool/a"b`},
	{ParamVolumePath: "/storage-pool/a]"},
	{ParamVolumePath: "/storage-pool/$x"},
	{ParamVolumePath: "/storage-pool/x\n/disk remove"},
	{ParamVolumePath: "relative/path"},
	{ParamNVMeAddress: "10.0.0.1;/system reboot"},
	{ParamNVMeAddress: "host name"},
	{ParamNVMeAddress: "a$b"},
	{ParamNVMeAddress: "10.0.0"},
	{ParamNVMeAddress: "fe80::1%eth0"},
	{ParamLegacyRDSAddress: "x\"y"},
	{ParamNVMePort: "4420;x"},
	{ParamNVMePort: "0"},
	{ParamNVMePort: "65536"},
	{ParamCtrlLossTmo: "-2"},
	{ParamCtrlLossTmo: "x"},
	{ParamReconnectDelay: "0"},
	{ParamKeepAliveTmo: "-1"},
	{ParamMigrationTimeout: "abc"},
	{ParamFSType: "btrfs"},
	{ParamLegacyFSType: "ntfs"},
	{ParamFSType: "ext4", ParamLegacyFSType: "xfs"},
	{ParamLegacyNQNPrefix: "nqn.2014-08.org.evil:"},
	{ParamLegacySSHPort: "22;x"},
	{"foo": "bar"},
	{"volumepath": "/storage-pool/x"},
}

func TestCreateVolumeRejectsHostileInput(t *testing.T) {
	type tc struct {
		name string
		req  *csi.CreateVolumeRequest
	}
	var cases []tc
	for i, p := range hostileParams {
		req := createReq("v", gib)
		req.Parameters = p
		cases = append(cases, tc{name: "params/" + string(rune('a'+i)), req: req})
	}
	for _, id := range hostileIDs {
		req := createReq("v", gib)
		req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: id}}}
		cases = append(cases, tc{name: "cloneSource/" + id, req: req})
		req = createReq("v", gib)
		req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: id}}}
		cases = append(cases, tc{name: "snapshotSource/" + id, req: req})
	}
	mk := func(mut func(r *csi.CreateVolumeRequest)) *csi.CreateVolumeRequest {
		r := createReq("v", gib)
		mut(r)
		return r
	}
	cases = append(cases,
		tc{"noName", mk(func(r *csi.CreateVolumeRequest) { r.Name = "" })},
		tc{"noCaps", mk(func(r *csi.CreateVolumeRequest) { r.VolumeCapabilities = nil })},
		tc{"nilCap", mk(func(r *csi.CreateVolumeRequest) { r.VolumeCapabilities = []*csi.VolumeCapability{nil} })},
		tc{"noAccessType", mk(func(r *csi.CreateVolumeRequest) {
			r.VolumeCapabilities = []*csi.VolumeCapability{{AccessMode: snw.AccessMode}}
		})},
		tc{"noAccessMode", mk(func(r *csi.CreateVolumeRequest) {
			r.VolumeCapabilities = []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_UNKNOWN, "")}
		})},
		tc{"multiNodeReader", mk(func(r *csi.CreateVolumeRequest) {
			r.VolumeCapabilities = []*csi.VolumeCapability{blockCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)}
		})},
		tc{"multiNodeSingleWriter", mk(func(r *csi.CreateVolumeRequest) {
			r.VolumeCapabilities = []*csi.VolumeCapability{blockCap(csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER)}
		})},
		tc{"multiNodeMultiWriterMount", mk(func(r *csi.CreateVolumeRequest) {
			r.VolumeCapabilities = []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER, "")}
		})},
		tc{"fsBtrfs", mk(func(r *csi.CreateVolumeRequest) {
			r.VolumeCapabilities = []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, "btrfs")}
		})},
		tc{"twoFS", mk(func(r *csi.CreateVolumeRequest) {
			r.VolumeCapabilities = []*csi.VolumeCapability{
				mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, "ext4"),
				mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, "xfs")}
		})},
		tc{"negativeRequired", mk(func(r *csi.CreateVolumeRequest) { r.CapacityRange = &csi.CapacityRange{RequiredBytes: -1} })},
		tc{"negativeLimit", mk(func(r *csi.CreateVolumeRequest) { r.CapacityRange = &csi.CapacityRange{LimitBytes: -1} })},
		tc{"limitBelowRequired", mk(func(r *csi.CreateVolumeRequest) {
			r.CapacityRange = &csi.CapacityRange{RequiredBytes: 2 * gib, LimitBytes: gib}
		})},
		tc{"mutableParameters", mk(func(r *csi.CreateVolumeRequest) { r.MutableParameters = map[string]string{"iops": "1"} })},
		tc{"emptyContentSource", mk(func(r *csi.CreateVolumeRequest) { r.VolumeContentSource = &csi.VolumeContentSource{} })},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			_, err := h.cs.CreateVolume(context.Background(), c.req)
			wantCode(t, err, codes.InvalidArgument)
			if n := h.fake.CallCount(""); n != 0 {
				t.Fatalf("RDS calls for a rejected request: %v", h.fake.Calls())
			}
		})
	}
}

// Every RPC that takes ids refuses hostile ones before any RDS call.
func TestRPCsRejectHostileIDs(t *testing.T) {
	type call func(ctx context.Context, cs *ControllerServer, id string) error
	rpcs := map[string]call{
		"DeleteVolume": func(ctx context.Context, cs *ControllerServer, id string) error {
			_, err := cs.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id})
			return err
		},
		"ControllerExpandVolume": func(ctx context.Context, cs *ControllerServer, id string) error {
			_, err := cs.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: gib}})
			return err
		},
		"ControllerPublishVolume": func(ctx context.Context, cs *ControllerServer, id string) error {
			_, err := cs.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: "n", VolumeCapability: snw})
			return err
		},
		"ControllerUnpublishVolume": func(ctx context.Context, cs *ControllerServer, id string) error {
			_, err := cs.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: "n"})
			return err
		},
		"ValidateVolumeCapabilities": func(ctx context.Context, cs *ControllerServer, id string) error {
			_, err := cs.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: id, VolumeCapabilities: []*csi.VolumeCapability{snw}})
			return err
		},
		"ControllerGetVolume": func(ctx context.Context, cs *ControllerServer, id string) error {
			_, err := cs.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{VolumeId: id})
			return err
		},
		"CreateSnapshot": func(ctx context.Context, cs *ControllerServer, id string) error {
			_, err := cs.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: id})
			return err
		},
		"DeleteSnapshot": func(ctx context.Context, cs *ControllerServer, id string) error {
			_, err := cs.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: id})
			return err
		},
		"GetSnapshot": func(ctx context.Context, cs *ControllerServer, id string) error {
			_, err := cs.GetSnapshot(ctx, &csi.GetSnapshotRequest{SnapshotId: id})
			return err
		},
	}
	// ListSnapshots filters: "" means "no filter", so only non-empty ids.
	rpcs["ListSnapshots/snapshotID"] = func(ctx context.Context, cs *ControllerServer, id string) error {
		if id == "" {
			id = "x y"
		}
		_, err := cs.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: id})
		return err
	}
	rpcs["ListSnapshots/sourceVolumeID"] = func(ctx context.Context, cs *ControllerServer, id string) error {
		if id == "" {
			id = "x;y"
		}
		_, err := cs.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SourceVolumeId: id})
		return err
	}
	for name, rpc := range rpcs {
		for _, id := range hostileIDs {
			t.Run(name+"/"+id, func(t *testing.T) {
				h := newHarness(t)
				wantCode(t, rpc(context.Background(), h.cs, id), codes.InvalidArgument)
				if n := h.fake.CallCount(""); n != 0 {
					t.Fatalf("RDS calls for a rejected request: %v", h.fake.Calls())
				}
			})
		}
	}
}

func TestPublishRejectsBadRequests(t *testing.T) {
	vol := "pvc-00000000-0000-0000-0000-000000000001"
	type tc struct {
		name string
		req  *csi.ControllerPublishVolumeRequest
	}
	var cases []tc
	for _, n := range append(hostileNodeIDs, "") {
		cases = append(cases, tc{"node/" + n, &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: n, VolumeCapability: snw}})
	}
	cases = append(cases,
		tc{"noCapability", &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: "n"}},
		tc{"multiNodeMount", &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: "n",
			VolumeCapability: mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER, "")}},
		tc{"hostileContextAddress", &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: "n", VolumeCapability: snw,
			VolumeContext: map[string]string{CtxNVMeAddress: "1.2.3.4 -o evil"}}},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.seed(vol)
			_, err := h.cs.ControllerPublishVolume(context.Background(), c.req)
			wantCode(t, err, codes.InvalidArgument)
			if n := h.fake.CallCount(""); n != 0 {
				t.Fatalf("RDS calls for a rejected request: %v", h.fake.Calls())
			}
		})
	}
	t.Run("unpublishHostileNode", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.cs.ControllerUnpublishVolume(context.Background(), &csi.ControllerUnpublishVolumeRequest{VolumeId: vol, NodeId: "a;b"})
		wantCode(t, err, codes.InvalidArgument)
	})
}

func TestOtherValidationErrors(t *testing.T) {
	vol := "pvc-00000000-0000-0000-0000-000000000001"
	cases := map[string]func(cs *ControllerServer) error{
		"ExpandNoRange": func(cs *ControllerServer) error {
			_, err := cs.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{VolumeId: vol})
			return err
		},
		"ExpandNegative": func(cs *ControllerServer) error {
			_, err := cs.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{VolumeId: vol,
				CapacityRange: &csi.CapacityRange{RequiredBytes: -5}})
			return err
		},
		"ExpandBadCapability": func(cs *ControllerServer) error {
			_, err := cs.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{VolumeId: vol,
				CapacityRange: &csi.CapacityRange{RequiredBytes: gib}, VolumeCapability: mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY, "")})
			return err
		},
		"ValidateNoCaps": func(cs *ControllerServer) error {
			_, err := cs.ValidateVolumeCapabilities(context.Background(), &csi.ValidateVolumeCapabilitiesRequest{VolumeId: vol})
			return err
		},
		"ListVolumesNegativeMax": func(cs *ControllerServer) error {
			_, err := cs.ListVolumes(context.Background(), &csi.ListVolumesRequest{MaxEntries: -1})
			return err
		},
		"ListSnapshotsNegativeMax": func(cs *ControllerServer) error {
			_, err := cs.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{MaxEntries: -1})
			return err
		},
		"CreateSnapshotNoName": func(cs *ControllerServer) error {
			_, err := cs.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{SourceVolumeId: vol})
			return err
		},
		"CreateSnapshotUnknownParameter": func(cs *ControllerServer) error {
			_, err := cs.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: vol,
				Parameters: map[string]string{"retention": "1d"}})
			return err
		},
	}
	for _, p := range hostileParams {
		cases["GetCapacity/"+firstKey(p)+"="+p[firstKey(p)]] = func(cs *ControllerServer) error {
			_, err := cs.GetCapacity(context.Background(), &csi.GetCapacityRequest{Parameters: p})
			return err
		}
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			wantCode(t, call(h.cs), codes.InvalidArgument)
			if n := h.fake.CallCount(""); n != 0 {
				t.Fatalf("RDS calls for a rejected request: %v", h.fake.Calls())
			}
		})
	}
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}
